package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"issuerconsole/services/cashlink"
	"issuerconsole/services/importer"
)

// TestImportRerunWithNewMapping: investments Cashlink refused (a closed
// campaign the catalog did not know, so the pre-flight could not check it)
// fail at the run; the admin fixes the campaign and one row's investor on
// the remap page of the finished job, and the re-run sends the new mapping
// under the next key instead of repeating the refused request.
func TestImportRerunWithNewMapping(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	instantCredits(t, s)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	inf := sandboxInfo(t, s)
	var closed, open string
	for _, cp := range inf.Campaigns {
		switch {
		case !cp.IsCampaignActive && closed == "":
			closed = cp.ID
		case cp.IsCampaignActive && cp.ProductID == inf.Products[0].ID && open == "":
			open = cp.ID
		}
	}
	// The catalog does not know the closed campaign: nothing to check it by.
	if err := s.app.Importer.Store().DeleteCatalogItem(ctx, "campaign", closed); err != nil {
		t.Fatal(err)
	}
	x, y, z := inf.Investors[0].ID, inf.Investors[1].ID, inf.Investors[2].ID
	j := newImportJob(t, s, c, "remap")
	j.fromCSV(investmentsFor(t, s, 0, 2), func(i int) string { return []string{x, y}[i] })
	wantStatus(t, c.post(j.path("mapping"), url.Values{"campaign_id": {closed}, "product_id": {inf.Products[0].ID}, "action": {"save"}}), http.StatusOK)
	j.sharedDocument()
	r, _, _ := preflight(t, c, j.id)
	if !strings.Contains(text(r.doc.Find(`[data-testid="not-checked"]`)), "not in the console's catalog") {
		t.Fatalf("the pre-flight does not say the campaign was not checked: %s", text(r.doc.Find(`[data-testid="not-checked"]`)))
	}
	j.start()
	waitJob(t, c, j.id, 3*time.Minute)
	if n := countState(j.rows(), importer.RowFailed); n != 2 {
		t.Fatalf("%d failed rows, want 2", n)
	}
	// Before the fix the mapping was locked; now the result offers the fix.
	r = c.get(j.path("result"))
	if r.doc.Find(`[data-testid="remap-link"]`).Length() != 1 {
		t.Fatal("no remap link on the result of a job with failed rows")
	}
	rows := j.rows()
	r = c.get(j.path("remap"))
	wantStatus(t, r, http.StatusOK)
	if n := r.doc.Find(`[data-testid="remap-input"]`).Length(); n != 2 {
		t.Fatalf("%d editable rows, want 2", n)
	}
	// A bad id is refused with the inputs kept; nothing changes.
	row0 := "row-" + strconv.FormatInt(rows[0].ID, 10)
	r = c.post(j.path("remap"), url.Values{"campaign_id": {open}, row0: {"not-an-id"}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if r.doc.Find(`input[name="`+row0+`"]`).AttrOr("value", "") != "not-an-id" || j.job().CampaignID != closed {
		t.Fatal("refused remap: inputs lost or something changed")
	}
	r = c.post(j.path("remap"), url.Values{"campaign_id": {open}, row0: {z}})
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="remap-msg"]`)); !strings.Contains(got, "1 failed rows re-mapped, campaign changed") {
		t.Fatalf("remap message %q", got)
	}
	if job := j.job(); job.CampaignID != open || job.State != importer.JobDone {
		t.Fatalf("job after the remap: campaign %s, state %s", job.CampaignID, job.State)
	}
	wantStatus(t, c.post(j.path("rerun"), nil), http.StatusSeeOther)
	waitJob(t, c, j.id, 3*time.Minute)
	for _, row := range j.rows() {
		if row.State != importer.RowDone {
			t.Fatalf("row %d after the re-run: %s %s", row.ID, row.State, row.Error)
		}
	}
	n := counts(t, s)
	if n.PerInvestor[z].Investments != 1 || n.PerInvestor[x].Investments != 0 || n.PerInvestor[y].Investments != 1 {
		t.Fatalf("investments per investor: x %+v y %+v z %+v", n.PerInvestor[x], n.PerInvestor[y], n.PerInvestor[z])
	}
	calls, err := s.app.Importer.Store().Calls(ctx, j.num, rows[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, cl := range calls {
		_, short, _ := strings.Cut(cl.Key, "-r"+strconv.FormatInt(rows[0].ID, 10)+"-")
		got[short] = cl.State
	}
	want := map[string]string{"investment": "rejected", "investment-try2": "done", "credit": "done"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ledger of the re-mapped row: %v, want %v", got, want)
	}

}

// TestImportWalletForFailedRow: a row that failed for want of a wallet is
// fixed from the console: the remap page offers the managed wallet, and
// creating it (once, whatever the retries) leads back to that page.
func TestImportWalletForFailedRow(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	instantCredits(t, s)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	inf := sandboxInfo(t, s)
	z, err := s.app.Cashlink.CreateInvestor(ctx, "test-walletless", cashlink.NewInvestor{
		NaturalPerson: cashlink.NaturalPerson{Forename: "Wally", Surname: "Less"}, IsBeneficiary: true})
	if err != nil {
		t.Fatal(err)
	}
	j := newImportJob(t, s, c, "no wallet")
	j.fromCSV(investmentsFor(t, s, 0, 1), func(int) string { return inf.Investors[0].ID })
	j.campaign(inf)
	j.sharedDocument()
	j.start()
	waitJob(t, c, j.id, 3*time.Minute)
	// The row as the engine leaves one whose investor has no wallet (the
	// pre-flight stops that case before the start; a wallet removed in
	// Studio meanwhile would lead here).
	row := j.rows()[0]
	if _, err := s.app.DB.Exec(`UPDATE import_rows SET state = 'failed', step = 'wallet', wallet = '', cashlink_investor = ?, error = ? WHERE id = ?`,
		z.ID, "final status: the Cashlink investor "+z.ID+" has no wallet; create one and re-run", row.ID); err != nil {
		t.Fatal(err)
	}
	r := c.get(j.path("remap"))
	if r.doc.Find(`[data-testid="remap-wallet"]`).Length() != 1 {
		t.Fatal("no wallet button for a row that failed for want of a wallet")
	}
	for range 2 {
		r = c.post(j.path("confirm/wallets"), url.Values{"investor": {z.ID}})
		wantStatus(t, r, http.StatusOK)
		if !strings.Contains(text(r.doc.Find(`[data-testid="remap-msg"]`)), "1 wallet created in Cashlink") {
			t.Fatalf("message %q", text(r.doc.Find(`[data-testid="remap-msg"]`)))
		}
	}
	if n := counts(t, s).PerInvestor[z.ID]; n.Wallets != 1 {
		t.Fatalf("%d wallets for the investor, want 1", n.Wallets)
	}
}
