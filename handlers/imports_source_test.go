package handlers_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"issuerconsole/views"
)

// TestImportSourcePreview: after loading an offering the Source step shows
// that offering selected (not another one), the statuses loaded, a
// preview of the rows with their counts and total in dollars, and flags at
// once the investments an earlier job imported, naming the job.
func TestImportSourcePreview(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	instantCredits(t, s)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	inf := sandboxInfo(t, s)

	// An earlier job imports one investment.
	first := newImportJob(t, s, c, "earlier")
	first.fromCSV(investmentsFor(t, s, 0, 1), func(int) string { return inf.Investors[0].ID })
	first.campaign(inf)
	first.sharedDocument()
	first.start()
	waitJob(t, c, first.id, 3*time.Minute)
	done := first.rows()[0]
	offering := strconv.FormatInt(done.OfferingID, 10)

	j := newImportJob(t, s, c, "later")
	r := j.fromOffering(offering, "accepted", "invested")
	if got := r.doc.Find(`#src-offering option[selected]`).AttrOr("value", ""); got != offering {
		t.Fatalf("selected offering %q, want %q (the one loaded)", got, offering)
	}
	if r.doc.Find(`input[name="status"][value="accepted_escrow_closed"][checked]`).Length() != 0 ||
		r.doc.Find(`input[name="status"][value="invested"][checked]`).Length() != 1 {
		t.Fatal("the statuses ticked are not the ones loaded")
	}
	total := len(j.rows())
	if total == 0 {
		t.Fatal("nothing loaded")
	}
	p := r.doc.Find(`[data-testid="source-preview"]`)
	if got := p.Find(`[data-testid="source-row"]`).Length(); got != min(total, 10) {
		t.Fatalf("%d preview rows, want %d", got, min(total, 10))
	}
	if got := text(p.Find("h3")); !strings.Contains(got, views.Count(int64(total))+" investment") {
		t.Fatalf("preview heading %q, want the %d rows", got, total)
	}
	if got := text(p.Find(`[data-testid="source-amount"]`)); !strings.HasPrefix(got, "$") {
		t.Fatalf("amount %q: want dollars", got)
	}
	sum := 0
	p.Find(`[data-testid="source-status"]`).Each(func(_ int, st *goqSel) {
		n, _ := strconv.Atoi(strings.ReplaceAll(strings.Fields(text(st))[0], ",", ""))
		sum += n
	})
	if sum != total {
		t.Fatalf("status counts add up to %d, want %d", sum, total)
	}
	flag := p.Find(`[data-testid="source-imported"]`)
	if !strings.Contains(text(flag), "1 investment was imported by an earlier job") || flag.Find(`a[href="/imports/`+first.id+`"]`).Length() != 1 {
		t.Fatalf("already imported flag %q", text(flag))
	}
	// Reloading the page keeps the offering shown.
	r = c.get(j.path("source"))
	if got := r.doc.Find(`#src-offering option[selected]`).AttrOr("value", ""); got != offering {
		t.Fatalf("after a reload: selected offering %q, want %q", got, offering)
	}
}
