package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"issuerconsole/services/cashlink"
)

// TestImportIdentificationKeyFollowsTheForm: the identification's
// idempotency key names its body. The same form twice is one identification
// (Cashlink's replay); another form for the same investor afterwards (a
// corrected typo, a new document after the first expired) is a second
// identification with its own key, not a key reused with another body,
// which the ledger would refuse for good ("needs manual investigation").
func TestImportIdentificationKeyFollowsTheForm(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	set := s.app.Sandbox.Cashlink.Settings()
	set.IdentifyOnCreate = false
	if err := s.app.Sandbox.Cashlink.SetSettings(set); err != nil {
		t.Fatal(err)
	}
	z, err := s.app.Cashlink.CreateInvestor(ctx, "test-ident-key-investor", cashlink.NewInvestor{
		NaturalPerson: cashlink.NaturalPerson{Forename: "Zoe", Surname: "Typo"}, IsBeneficiary: true})
	if err != nil {
		t.Fatal(err)
	}
	j := newImportJob(t, s, c, "identification keys")
	j.fromCSV(investmentsFor(t, s, 0, 1), func(int) string { return z.ID })
	before := counts(t, s).Identifications

	ident := url.Values{"investor": {z.ID}, "document_type": {"IDCARD"}, "document_id": {"T22000129"}, "document_issuer": {"Stadt Köln"},
		"valid_to": {"2031-12-31"}, "provider": {"POSTIDENT"}, "verified_at": {"2026-03-01T10:00Z"}}
	for range 2 { // the same form again: deduplicated
		wantStatus(t, c.post(j.path("confirm/identification"), ident), http.StatusOK)
	}
	if n := counts(t, s).Identifications - before; n != 1 {
		t.Fatalf("%d identifications after the same form twice, want 1", n)
	}
	first := s.lastCallTo(t, "/identifications/").IdempotencyKey

	// The document id corrected: a second identification, with its own key.
	ident.Set("document_id", "T22000130")
	r := c.post(j.path("confirm/identification"), ident)
	wantStatus(t, r, http.StatusOK)
	if msg := text(r.doc.Find(`[data-testid="confirm-error"]`)); msg != "" {
		t.Fatalf("the corrected identification was refused: %s", msg)
	}
	if n := counts(t, s).Identifications - before; n != 2 {
		t.Fatalf("%d identifications after a corrected form, want 2", n)
	}
	second := s.lastCallTo(t, "/identifications/").IdempotencyKey
	if second == first || !strings.Contains(first, "-identification-"+z.ID+"-") || !strings.Contains(second, "-identification-"+z.ID+"-") {
		t.Fatalf("keys %q then %q: want two keys naming the investor and the body's hash", first, second)
	}
	// And the corrected form repeated is still one call's answer replayed.
	wantStatus(t, c.post(j.path("confirm/identification"), ident), http.StatusOK)
	if n := counts(t, s).Identifications - before; n != 2 {
		t.Fatalf("%d identifications after the corrected form twice, want 2", n)
	}
}
