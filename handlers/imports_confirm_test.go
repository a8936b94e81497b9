package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"issuerconsole/services/cashlink"
	"issuerconsole/services/importer"

	"issuerconsole/views"
)

// TestImportPreflightClosedCampaign: a job mapped to a closed campaign is
// stopped at the pre-flight, before the typed confirmation: the page says
// so, offers no confirmation, and a POST of the phrase is refused with
// nothing sent to Cashlink.
func TestImportPreflightClosedCampaign(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	inf := sandboxInfo(t, s)
	var closed string
	for _, cp := range inf.Campaigns {
		if !cp.IsCampaignActive {
			closed = cp.ID
		}
	}
	if closed == "" {
		t.Fatal("the sandbox has no closed campaign")
	}
	j := newImportJob(t, s, c, "closed campaign")
	j.fromCSV(investmentsFor(t, s, 0, 2), func(i int) string { return inf.Investors[i].ID })
	wantStatus(t, c.post(j.path("mapping"), url.Values{"campaign_id": {closed}, "product_id": {inf.Products[0].ID}, "action": {"save"}}), http.StatusOK)
	j.sharedDocument()
	r := c.get(j.path("review"))
	if r.doc.Find(`[data-testid="preflight-link"]`).Length() != 1 || r.doc.Find(`[data-testid="confirm-form"]`).Length() != 0 {
		t.Fatal("review: want a link to the pre-flight and no confirmation form")
	}

	r, phrase, _ := preflight(t, c, j.id)
	blocker := r.doc.Find(`[data-testid="preflight-blocker"][data-code="campaign"]`)
	if !strings.Contains(text(blocker), "is closed") {
		t.Fatalf("campaign blocker %q", text(blocker))
	}
	if phrase != "" || r.doc.Find(`[data-testid="confirm-form"]`).Length() != 0 || r.doc.Find(`[data-testid="not-ready"]`).Length() != 1 {
		t.Fatal("the pre-flight offers the confirmation for a closed campaign")
	}
	if !strings.Contains(text(r.doc.Find(`[data-testid="not-checked"]`)), "no campaign endpoint") {
		t.Fatalf("not-checked: %q", text(r.doc.Find(`[data-testid="not-checked"]`)))
	}
	r = c.post(j.path("start"), url.Values{"confirm": {"CREDIT 2"}, "preflight": {"x"}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := text(r.doc.Find(`[data-testid="confirm-error"]`)); !strings.Contains(got, "pre-flight found problems") {
		t.Fatalf("refusal %q", got)
	}
	if got := text(r.doc.Find(`[data-testid="confirm-error"]`)); got == "" {
		t.Fatal("no refusal shown")
	}
	if n := counts(t, s); n.Investments != 0 || n.Documents != 0 {
		t.Fatalf("Cashlink got calls: %+v", n)
	}
	if j.job().State != importer.JobDraft {
		t.Fatalf("job %s", j.job().State)
	}
}

// TestImportPreflightReadiesInvestors: an investor without identification
// and wallet is caught before the confirmation; the admin records the
// identification (a bad form is kept) and creates the wallet from the
// pre-flight, each once whatever the retries; the summary shows the totals
// with currency; a confirmation whose pre-flight changed is refused with
// the typed phrase kept; the import then credits both investors.
func TestImportPreflightReadiesInvestors(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	instantCredits(t, s)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	inf := sandboxInfo(t, s)
	set := s.app.Sandbox.Cashlink.Settings()
	set.IdentifyOnCreate = false
	if err := s.app.Sandbox.Cashlink.SetSettings(set); err != nil {
		t.Fatal(err)
	}
	z, err := s.app.Cashlink.CreateInvestor(ctx, "test-preflight-investor", cashlink.NewInvestor{
		NaturalPerson: cashlink.NaturalPerson{Forename: "Zoe", Surname: "New"}, IsBeneficiary: true})
	if err != nil {
		t.Fatal(err)
	}
	x := inf.Investors[0].ID
	j := newImportJob(t, s, c, "ready investors")
	j.fromCSV(investmentsFor(t, s, 0, 2), func(i int) string { return []string{z.ID, x}[i] })
	j.campaign(inf)
	j.sharedDocument()

	r, phrase, stale := preflight(t, c, j.id)
	check := func(r *response, id, want string) {
		t.Helper()
		got := r.doc.Find(`tr[data-testid="investor-check"][data-investor="`+id+`"] [data-testid="investor-status"] .badge`).AttrOr("data-code", "")
		if got != want {
			t.Fatalf("investor %s: check %q, want %q", id, got, want)
		}
	}
	check(r, z.ID, importer.InvestorNotKYC)
	check(r, x, importer.InvestorReady)
	// Cashlink's identification status in words, its code kept.
	kyc := r.doc.Find(`tr[data-testid="investor-check"][data-investor="` + x + `"] [data-testid="investor-kyc"] .badge`)
	if kyc.AttrOr("data-code", "") != "SUCCESS" || text(kyc) != "Identified" {
		t.Fatalf("identification of a ready investor shown as %q (%q)", text(kyc), kyc.AttrOr("data-code", ""))
	}
	if phrase != "" {
		t.Fatal("confirmation offered for an investor who is not identified")
	}
	// The summary: two investments, their units, the amount in the
	// campaign's currency and what was paid in USD.
	var units int64
	for _, row := range j.rows() {
		units += row.Units
	}
	total := r.doc.Find(`[data-testid="total-row"]`)
	if text(total.Find(`[data-testid="total-investments"]`)) != "2" || text(total.Find(`[data-testid="total-units"]`)) != views.Count(units) {
		t.Fatalf("totals %q", text(total))
	}
	if got, want := text(total.Find(`[data-testid="total-amount"]`)), "€"+views.Count(units*100)+".00"; got != want {
		t.Fatalf("amount %q, want %q (EUR 100 per unit)", got, want)
	}
	if got := text(total.Find(`[data-testid="total-paid"]`)); !strings.HasPrefix(got, "$") {
		t.Fatalf("paid %q: want US dollars", got)
	}
	if r.doc.Find(`[data-testid="currency-decision"]`).Length() != 1 {
		t.Fatal("no currency decision shown for EUR units against USD payments")
	}

	// A bad identification is refused by the console, the form kept.
	ident := url.Values{"investor": {z.ID}, "document_type": {"IDCARD"}, "document_id": {"T22000129"}, "document_issuer": {"Stadt Köln"},
		"valid_to": {"31.12.2031"}, "provider": {"POSTIDENT"}, "verified_at": {"2026-03-01T10:00Z"}}
	r = c.post(j.path("confirm/identification"), ident)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if r.doc.Find(`[data-testid="ident-error"]`).Length() != 1 || r.doc.Find(`#document_id-`+z.ID).AttrOr("value", "") != "T22000129" {
		t.Fatalf("the identification form lost its inputs or its message: %d %q %s", r.doc.Find(`[data-testid="ident-error"]`).Length(), r.doc.Find(`#document_id-`+z.ID).AttrOr("value", ""), text(r.doc.Find(`[data-testid="confirm-error"]`)))
	}
	ident.Set("valid_to", "2031-12-31")
	for range 2 { // a retry creates nothing twice
		wantStatus(t, c.post(j.path("confirm/identification"), ident), http.StatusOK)
	}
	if n := counts(t, s); n.Identifications != 1 {
		t.Fatalf("%d identifications, want 1", n.Identifications)
	}
	r, _, _ = preflight(t, c, j.id)
	check(r, z.ID, importer.InvestorNoWallet)

	// The pre-flight shown first is stale now: refused, the phrase kept.
	stale.Set("confirm", "CREDIT 2")
	r = c.post(j.path("start"), stale)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if r.doc.Find(`#confirm`).Length() != 0 && r.doc.Find(`#confirm`).AttrOr("value", "") != "CREDIT 2" {
		t.Fatal("the typed phrase was not kept")
	}

	// The managed wallet, twice: one wallet, one key.
	for range 2 {
		r = c.post(j.path("confirm/wallets"), url.Values{"investor": {z.ID}})
		wantStatus(t, r, http.StatusOK)
	}
	if n := counts(t, s).PerInvestor[z.ID]; n.Wallets != 1 {
		t.Fatalf("investor z has %d wallets, want 1", n.Wallets)
	}
	call := s.lastCallTo(t, "/wallets/eth-managed/")
	if !strings.HasSuffix(call.IdempotencyKey, "-wallet-managed-"+z.ID) || call.Status != http.StatusCreated {
		t.Fatalf("wallet call: key %q status %d", call.IdempotencyKey, call.Status)
	}
	r, phrase, form := preflight(t, c, j.id)
	check(r, z.ID, importer.InvestorReady)
	if phrase != "CREDIT 2" {
		t.Fatalf("phrase %q: %s", phrase, text(r.doc.Find(`[data-testid="preflight-problems"]`)))
	}
	if !strings.Contains(text(r.doc.Find(`[data-testid="confirm-total"]`)), "2 investments") {
		t.Fatalf("confirm total %q", text(r.doc.Find(`[data-testid="confirm-total"]`)))
	}

	// Something changes between the page and the POST: x loses its KYC.
	if err := s.app.Sandbox.Cashlink.SetInvestorKYC(ctx, x, "PENDING"); err != nil {
		t.Fatal(err)
	}
	r = c.post(j.path("start"), form)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if r.doc.Find(`#confirm`).Length() != 0 {
		t.Fatal("confirmation offered while an investor is not identified")
	}
	if got := text(r.doc.Find(`[data-testid="confirm-error"]`)); got == "" {
		t.Fatal("no refusal shown")
	}
	if n := counts(t, s); n.Investments != 0 {
		t.Fatalf("%d investments created by a refused confirmation", n.Investments)
	}
	if err := s.app.Sandbox.Cashlink.SetInvestorKYC(ctx, x, "SUCCESS"); err != nil {
		t.Fatal(err)
	}
	// Without the currency decision: refused, nothing sent.
	_, _, form = preflight(t, c, j.id)
	noDecision := url.Values{"confirm": form["confirm"], "preflight": form["preflight"]}
	r = c.post(j.path("start"), noDecision)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := r.doc.Find(`#confirm`).AttrOr("value", ""); got != "CREDIT 2" || !strings.Contains(text(r.doc.Find(`[data-testid="confirm-error"]`)), "Decide on the currency") {
		t.Fatalf("refusal without the currency decision: phrase kept %q, error %q", got, text(r.doc.Find(`[data-testid="confirm-error"]`)))
	}
	wantStatus(t, c.post(j.path("start"), form), http.StatusSeeOther)
	waitJob(t, c, j.id, 3*time.Minute)
	for _, row := range j.rows() {
		if row.State != importer.RowDone {
			t.Fatalf("row %d: %s %s", row.ID, row.State, row.Error)
		}
	}
}
