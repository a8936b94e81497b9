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

	"issuerconsole/sandbox/faults"
	"issuerconsole/services/apiclient"
	clclient "issuerconsole/services/cashlink"
	"issuerconsole/services/importer"
)

func setFaults(t *testing.T, s *testServer, rules string) {
	t.Helper()
	rs, err := faults.ParseRules(rules)
	if err != nil {
		t.Fatal(err)
	}
	s.app.Sandbox.Faults.Set(rs)
}

// instantCredits makes the emulator deliver credits at once (default: 1 s
// later), so a row is done in one go.
func instantCredits(t *testing.T, s *testServer) {
	t.Helper()
	st := s.app.Sandbox.Cashlink.Settings()
	st.CreditDelay = 0
	if err := s.app.Sandbox.Cashlink.SetSettings(st); err != nil {
		t.Fatal(err)
	}
}

// runState reads the run page: the job's state and its action buttons.
func runState(c *client, j *importJob) (state string, buttons []string) {
	r := c.get(j.path("run"))
	r.doc.Find(`[data-testid$="-button"]`).Each(func(_ int, b *goqSel) {
		id, _ := b.Attr("data-testid")
		buttons = append(buttons, strings.TrimSuffix(id, "-button"))
	})
	return r.doc.Find(`[data-testid="run-state"]`).AttrOr("data-code", ""), buttons
}

func (j *importJob) investments() (n int) {
	for _, r := range j.rows() {
		if r.CashlinkInvestment != "" {
			n++
		}
	}
	return n
}

// Pause, resume and cancel through the run page's buttons, against an
// emulator slowed down so the run can be caught in the middle.
func TestImportRunControls(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(_ *configT, o *appOptions) {
		o.Import = importer.Options{Workers: 1, PassBackoff: 20 * time.Millisecond}
	})
	instantCredits(t, s)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	inf := sandboxInfo(t, s)
	setup := func(name string, skip int) *importJob {
		j := newImportJob(t, s, c, name)
		j.fromCSV(investmentsFor(t, s, skip, 5), func(i int) string { return inf.Investors[i%3].ID })
		j.campaign(inf)
		j.sharedDocument()
		return j
	}
	a, b := setup("paused", 0), setup("cancelled", 5)
	setFaults(t, s, "cashlink latency=100ms")
	t.Cleanup(func() { s.app.Sandbox.Faults.Set(nil) })

	// Pause after the first row: the rest wait, nothing more is created.
	base := counts(t, s).Investments
	a.start()
	a.until("a first row done", func(rows []importer.Row) bool { return countState(rows, importer.RowDone) >= 1 })
	wantStatus(t, c.post(a.path("pause"), nil), http.StatusSeeOther)
	a.stopped()
	if st, buttons := runState(c, a); st != "paused" || strings.Join(buttons, ",") != "resume,cancel" {
		t.Fatalf("paused job: state %q, buttons %v", st, buttons)
	}
	rows := a.rows()
	pending, made := countState(rows, importer.RowPending), a.investments()
	if pending < 2 || countState(rows, importer.RowDone)+pending != 5 {
		t.Fatalf("after the pause: %d done, %d pending", countState(rows, importer.RowDone), pending)
	}
	// a.stopped() saw the engine let go of the job, its calls in flight
	// finished: the emulator holds exactly what the console recorded.
	if n := counts(t, s).Investments - base; n != made {
		t.Fatalf("after the pause the emulator holds %d new investments, the console recorded %d", n, made)
	}
	wantStatus(t, c.post(a.path("pause"), nil), http.StatusConflict)

	wantStatus(t, c.post(a.path("resume"), nil), http.StatusSeeOther)
	waitJob(t, c, a.id, 3*time.Minute)
	if rows := a.rows(); countState(rows, importer.RowDone) != 5 {
		t.Fatalf("after resuming: %d of 5 rows done", countState(rows, importer.RowDone))
	}
	if n := counts(t, s).Investments; n != 5 {
		t.Fatalf("emulator holds %d investments for 5 rows", n)
	}
	wantStatus(t, c.post(a.path("resume"), nil), http.StatusConflict)

	// Cancel after the first row: the rest are never imported, not even by
	// a later re-run of failed rows.
	b.start()
	b.until("a first row done", func(rows []importer.Row) bool { return countState(rows, importer.RowDone) >= 1 })
	// Cancel asks first: the run page's button leads to a confirmation,
	// and a post without the box ticked cancels nothing.
	if href, _ := c.get(b.path("run")).doc.Find(`a[data-testid="cancel-button"]`).Attr("href"); href != b.path("cancel") {
		t.Fatalf("the run page's cancel leads to %q, want the confirmation", href)
	}
	confirm := c.get(b.path("cancel"))
	wantStatus(t, confirm, http.StatusOK)
	if confirm.doc.Find(`[data-testid="cancel-confirm"] input[type="checkbox"][name="confirm"][required]`).Length() != 1 {
		t.Fatalf("cancel confirmation: %s", confirm.body)
	}
	unconfirmed := c.post(b.path("cancel"), nil)
	wantStatus(t, unconfirmed, http.StatusUnprocessableEntity)
	if msg := text(unconfirmed.doc.Find(`[data-testid="cancel-error"]`)); !strings.Contains(msg, "Tick the box") {
		t.Fatalf("unconfirmed cancel: %q", msg)
	}
	if b.job().State != importer.JobRunning {
		t.Fatalf("an unconfirmed cancel changed the job: %s", b.job().State)
	}
	wantStatus(t, c.post(b.path("cancel"), url.Values{"confirm": {"yes"}}), http.StatusSeeOther)
	b.stopped()
	if st, buttons := runState(c, b); st != "cancelled" || len(buttons) != 0 {
		t.Fatalf("cancelled job: state %q, buttons %v", st, buttons)
	}
	made = b.investments()
	if made >= 5 || countState(b.rows(), importer.RowPending) == 0 {
		t.Fatalf("cancel stopped nothing: %d investments", made)
	}
	wantStatus(t, c.post(b.path("resume"), nil), http.StatusConflict)
	// No row failed: a re-run is refused (the stopped rows are not failed
	// ones); TestImportRerunFailedRows covers re-runs with failures.
	wantStatus(t, c.post(b.path("rerun"), nil), http.StatusConflict)
	for _, r := range b.rows() {
		if r.State != importer.RowDone && r.State != importer.RowPending {
			t.Errorf("row %d after the refused re-run of a cancelled job: %s %q", r.ID, r.State, r.Error)
		}
	}
	if b.investments() != made || counts(t, s).Investments != 5+made {
		t.Fatalf("the re-run imported rows the cancellation stopped: %d investments, %d before", b.investments(), made)
	}
}

// Failed rows re-run after their cause is fixed complete, with exactly one
// investment each in Cashlink: an unknown outcome is retried with its key;
// a call Cashlink refused (and would refuse again from its stored answer)
// goes out once more under the next key.
func TestImportRerunFailedRows(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(cfg *configT, o *appOptions) {
		cfg.SandboxControl = true
		o.ClientRetry = apiclient.RetryPolicy{MaxAttempts: 1}
		o.Import = importer.Options{MaxPasses: 2, PassBackoff: 20 * time.Millisecond}
	})
	instantCredits(t, s)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	inf := sandboxInfo(t, s)
	x, y := inf.Investors[0].ID, inf.Investors[1].ID

	// 1. The first row has no payment date (what the pre-flight cannot
	// see in Cashlink): Cashlink creates the investment but refuses its
	// credit (400, not paid), for good.
	j := newImportJob(t, s, c, "unpaid")
	j.fromCSV(investmentsFor(t, s, 0, 2), func(i int) string { return []string{x, y}[i] })
	j.campaign(inf)
	j.sharedDocument()
	first := j.rows()[0]
	accepted := first.AcceptedAt
	if accepted.IsZero() {
		accepted = first.SignedAt
	}
	wantStatus(t, c.post(j.path("rows/"+strconv.FormatInt(first.ID, 10)), url.Values{"units": {strconv.FormatInt(first.Units, 10)},
		"signed_at": {first.SignedAt.Format(time.RFC3339)}, "accepted_at": {accepted.Format(time.RFC3339)}, "paid_at": {""}}), http.StatusSeeOther)
	j.start()
	r := waitJob(t, c, j.id, 3*time.Minute)
	failed := r.doc.Find(`tr[data-testid="run-row"][data-state="failed"]`)
	if failed.Length() != 1 || !strings.Contains(text(failed), "Cashlink refused the credit (HTTP 400)") || !strings.Contains(text(failed), "ACCEPTED") {
		t.Fatalf("failed rows: %s", text(failed))
	}
	if _, buttons := runState(c, j); strings.Join(buttons, ",") != "rerun" {
		t.Fatalf("buttons %v", buttons)
	}
	// Re-run before the fix: refused again, nothing more created.
	wantStatus(t, c.post(j.path("rerun"), nil), http.StatusSeeOther)
	waitJob(t, c, j.id, 3*time.Minute)
	if got := j.rows()[0]; got.State != importer.RowFailed || got.Step != importer.StepCredit {
		t.Fatalf("row before the fix: %s at %s", got.State, got.Step)
	}
	// The fix: the payment is recorded in Cashlink. The re-run credits the
	// same investment.
	paid := time.Now().UTC()
	if _, err := s.app.Cashlink.UpdateInvestment(ctx, j.rows()[0].CashlinkInvestment, clclient.InvestmentUpdate{PaidAt: &paid}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, c.post(j.path("rerun"), nil), http.StatusSeeOther)
	waitJob(t, c, j.id, 3*time.Minute)
	row := j.rows()[0]
	if row.State != importer.RowDone || row.FinalStatus != "DELIVERED" {
		t.Fatalf("row after the fix: %s at %s: %s", row.State, row.Step, row.Error)
	}
	if n := counts(t, s).PerInvestor[x]; n.Investments != 1 || n.Credits != 1 {
		t.Fatalf("emulator holds %+v for the re-run row: want one investment, one credit", n)
	}
	calls, _ := s.app.Importer.Store().Calls(ctx, j.num, row.ID)
	got := map[string]string{}
	for _, cl := range calls {
		_, short, _ := strings.Cut(cl.Key, "-r"+strconv.FormatInt(row.ID, 10)+"-")
		got[short] = cl.State
		if cl.Attempts != 1 {
			t.Errorf("a key was sent twice: %+v", cl)
		}
	}
	want := map[string]string{"investment": "done", "credit": "rejected", "credit-try2": "rejected", "credit-try3": "done"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ledger of the row: %v, want %v", got, want)
	}

	// 2. No answer for the investment (every attempt 503): the row fails
	// after its passes with the outcome unknown. Once Cashlink answers, the
	// re-run sends the same key.
	setFaults(t, s, "cashlink POST /api/external/v2/investments/ 5xx=1")
	j2 := newImportJob(t, s, c, "unknown")
	j2.fromCSV(investmentsFor(t, s, 2, 1), func(int) string { return y })
	j2.campaign(inf)
	j2.sharedDocument()
	j2.start()
	waitJob(t, c, j2.id, 3*time.Minute)
	row = j2.rows()[0]
	if row.State != importer.RowFailed || !strings.Contains(row.Error, "Outcome still unknown") || row.CashlinkInvestment != "" {
		t.Fatalf("row under faults: %+v", row)
	}
	beforeY := counts(t, s).PerInvestor[y].Investments
	s.app.Sandbox.Faults.Set(nil)
	wantStatus(t, c.post(j2.path("rerun"), nil), http.StatusSeeOther)
	waitJob(t, c, j2.id, 3*time.Minute)
	if row = j2.rows()[0]; row.State != importer.RowDone {
		t.Fatalf("row after the faults: %s: %s", row.State, row.Error)
	}
	if n := counts(t, s).PerInvestor[y].Investments; n != beforeY+1 {
		t.Fatalf("%d investments created for the row, want 1", n-beforeY)
	}
	calls, _ = s.app.Importer.Store().Calls(ctx, j2.num, row.ID)
	var inv []importer.Call
	for _, cl := range calls {
		if cl.Step == importer.StepInvestment {
			inv = append(inv, cl)
		}
	}
	if len(inv) != 1 || inv[0].State != "done" || inv[0].Attempts != 3 {
		t.Fatalf("ledger: %+v: want one investment key, sent in 2 passes and the re-run", calls)
	}

	// 3. Nothing failed any more: a re-run is refused with the reason, and
	// nothing is recorded.
	head := s.newestEvent(t).ID
	r = c.post(j2.path("rerun"), nil)
	wantStatus(t, r, http.StatusConflict)
	if !strings.Contains(r.body, "Nothing to re-run") {
		t.Fatalf("refusal does not say why: %.300s", r.body)
	}
	if e := s.newestEvent(t); e.ID != head {
		t.Fatalf("a refused re-run recorded %q", e.Event)
	}
}
