package importer

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/cashlink"
)

// reviewRegistry is the fake registry, knowing no investor "cl-unknown".
type reviewRegistry struct{ *fakeRegistry }

func (r reviewRegistry) ListWallets(ctx context.Context, inv string) ([]cashlink.Wallet, error) {
	if inv == "cl-unknown" {
		return nil, fmt.Errorf("list wallets: %w", apiclient.ErrNotFound)
	}
	return r.fakeRegistry.ListWallets(ctx, inv)
}

// Validate gives each row the one problem it has, with the step that fixes
// it; a valid row has none and is the only one counted ready.
func TestValidate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		sql  string // breaks row ? (the row's id is the argument)
		what string // "" = no problem
		fix  string
	}{
		{"valid", ``, "", ""},
		{"no investor mapped", `UPDATE import_rows SET cashlink_investor = '' WHERE id = ?`, "No Cashlink investor mapped.", "mapping"},
		{"investor without wallet", `UPDATE import_rows SET cashlink_investor = 'cl-no-wallet' WHERE id = ?`, "The Cashlink investor cl-no-wallet has no wallet yet.", "cashlink"},
		{"investor unknown to Cashlink", `UPDATE import_rows SET cashlink_investor = 'cl-unknown' WHERE id = ?`, "Cashlink does not know the investor cl-unknown.", "mapping"},
		{"zero units", `UPDATE import_rows SET units = 0 WHERE id = ?`, "Units must be a positive whole number.", "review"},
		{"negative units", `UPDATE import_rows SET units = -3 WHERE id = ?`, "Units must be a positive whole number.", "review"},
		{"no signing time", `UPDATE import_rows SET signed_at = NULL WHERE id = ?`, "No signing time (signed_at).", "review"},
		{"no document", `DELETE FROM import_documents WHERE row_id = ?`, "No signed document.", "documents"},
		{"imported by an earlier job", `INSERT INTO imported_investments (issuance_id, job_id, row_id, cashlink_investment, imported_at)
			SELECT issuance_id, (SELECT min(id) FROM import_jobs WHERE name = 'earlier'), 1, 'cl-investment-x', 0 FROM import_rows WHERE id = ?`,
			"Already imported by job ", "skip"},
		{"skipped (with a problem)", `UPDATE import_rows SET skip = 1, state = 'skipped', units = 0 WHERE id = ?`, "", ""},
	}
	e := setup(t, len(tests))
	earlier, err := e.st.CreateJob(ctx, "earlier", e.admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		if tt.sql != "" {
			if _, err := e.st.db.Exec(tt.sql, e.rows[i].ID); err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
		}
	}
	job, _ := e.st.Job(ctx, e.job.ID)
	rv, err := Validate(ctx, e.st, reviewRegistry{e.reg}, job)
	if err != nil {
		t.Fatal(err)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rv.Problems[e.rows[i].ID]
			if tt.what == "" {
				if len(got) != 0 {
					t.Fatalf("problems %+v, want none", got)
				}
				return
			}
			if len(got) != 1 || !strings.HasPrefix(got[0].What, tt.what) || got[0].Fix != tt.fix {
				t.Fatalf("problems %+v, want one: %q (fix at %s)", got, tt.what, tt.fix)
			}
			if tt.name == "imported by an earlier job" && got[0].What != fmt.Sprintf("Already imported by job %d.", earlier.ID) {
				t.Fatalf("problem %q does not name job %d", got[0].What, earlier.ID)
			}
		})
	}
	// One valid row; the skipped row's document is not counted as an upload
	// (it is never sent); three Cashlink investors are read.
	if rv.Ready != 1 || rv.Skipped != 1 || rv.Documents != len(tests)-2 || rv.Investors != 3 || len(rv.JobProblems) != 0 || rv.OK() {
		t.Fatalf("review ready=%d skipped=%d documents=%d investors=%d job problems=%v ok=%v", rv.Ready, rv.Skipped, rv.Documents, rv.Investors, rv.JobProblems, rv.OK())
	}

	// Without a campaign the job itself has a problem; only the valid row
	// left, the review passes.
	// (setup confirmed the job, so its settings change behind the store's guard)
	e.st.db.Exec(`UPDATE import_jobs SET campaign_id = '' WHERE id = ?`, e.job.ID)
	job, _ = e.st.Job(ctx, e.job.ID)
	if rv, _ := Validate(ctx, e.st, reviewRegistry{e.reg}, job); len(rv.JobProblems) != 1 || !strings.Contains(rv.JobProblems[0], "No Cashlink campaign") {
		t.Fatalf("job problems %v", rv.JobProblems)
	}
	e.st.db.Exec(`UPDATE import_jobs SET campaign_id = 'camp-1' WHERE id = ?`, e.job.ID)
	job, _ = e.st.Job(ctx, e.job.ID)
	e.st.db.Exec(`DELETE FROM import_rows WHERE job_id = ? AND id <> ?`, e.job.ID, e.rows[0].ID)
	if rv, _ := Validate(ctx, e.st, reviewRegistry{e.reg}, job); !rv.OK() || rv.Ready != 1 {
		t.Fatalf("a job with one valid row: %+v", rv)
	}
}

// A call Cashlink refused for good is never sent again with its key (its
// 4xx answer is stored against the key and would be replayed): a later
// attempt takes the next key, which then behaves as any key (same key and
// body on retry, another body refused).
func TestRefusedKeyIsNotReused(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	ctx := context.Background()
	k := Key("inst", e.job.ID, e.rows[0].ID, "credit", 0)
	c, err := e.st.begin(ctx, k, e.job.ID, e.rows[0].ID, StepCredit, []byte("body"))
	if err != nil || c.Key != string(k) {
		t.Fatalf("first call %+v %v", c, err)
	}
	e.st.finish(ctx, k, "", &apiclient.Error{Status: 400, Detail: "not paid"})
	c, err = e.st.begin(ctx, k, e.job.ID, e.rows[0].ID, StepCredit, []byte("body"))
	if err != nil || c.Key != string(k)+"-try2" {
		t.Fatalf("after a refusal: %+v %v, want the key %s-try2", c, err, k)
	}
	e.st.finish(ctx, cashlink.Key(c.Key), "", &apiclient.Error{Status: 503})
	c, err = e.st.begin(ctx, k, e.job.ID, e.rows[0].ID, StepCredit, []byte("body"))
	if err != nil || c.Key != string(k)+"-try2" {
		t.Fatalf("after an unknown outcome: %+v %v, want the same key %s-try2", c, err, k)
	}
	if _, err := e.st.begin(ctx, k, e.job.ID, e.rows[0].ID, StepCredit, []byte("other")); err != ErrBodyChanged {
		t.Fatalf("another body with the key in flight: %v", err)
	}
	calls, _ := e.st.Calls(ctx, e.job.ID, e.rows[0].ID)
	if len(calls) != 2 || calls[0].State != "rejected" || calls[1].Attempts != 2 {
		t.Fatalf("ledger %+v", calls)
	}
}

// Re-running a cancelled job's failed rows leaves the rows the
// cancellation stopped alone.
func TestRerunOfCancelledJobKeepsUnstartedRowsOut(t *testing.T) {
	t.Parallel()
	e := setup(t, 3)
	ctx := context.Background()
	e.reg.failNext["investment"] = &apiclient.Error{Status: 400, Detail: "refused"}
	e.eng.opt.Workers = 1
	// Cancel once the first row has failed: the pass stops before the others.
	e.st.db.Exec(`CREATE TRIGGER cancel_after_failure AFTER UPDATE OF state ON import_rows WHEN NEW.state = 'failed'
		BEGIN UPDATE import_jobs SET state = 'cancelled' WHERE id = NEW.job_id; END`)
	rows := e.run(t)
	e.st.db.Exec(`DROP TRIGGER cancel_after_failure`)
	if rows[0].State != RowFailed || rows[1].State != RowPending || rows[2].State != RowPending {
		t.Fatalf("before the re-run: %s %s %s", rows[0].State, rows[1].State, rows[2].State)
	}
	if n, err := e.st.Rerun(ctx, e.job.ID); err != nil || n != 1 {
		t.Fatalf("rerun: %d %v", n, err)
	}
	rows = e.run(t)
	if rows[0].State != RowDone {
		t.Fatalf("re-run row %+v", rows[0])
	}
	for _, r := range rows[1:] {
		if r.State != RowSkipped || !strings.Contains(r.Error, "cancelled") {
			t.Fatalf("a row stopped by the cancellation: %s %q", r.State, r.Error)
		}
	}
	if e.reg.created["investment"] != 1 {
		t.Fatalf("%d investments created, want 1", e.reg.created["investment"])
	}
}

// A refused investment frees its Issuance investment for other jobs (the
// review would otherwise call it "already imported"); a re-run of the row
// claims it again.
func TestRefusedInvestmentReleasesReservation(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	ctx := context.Background()
	e.reg.failNext["investment"] = &apiclient.Error{Status: 400, Detail: "campaign closed"}
	rows := e.run(t)
	if rows[0].State != RowFailed {
		t.Fatalf("row %+v", rows[0])
	}
	if by, err := e.st.ImportedBy(ctx, rows[0].IssuanceID); err != nil || by != 0 {
		t.Fatalf("after a refusal the investment is held by job %d (%v)", by, err)
	}
	if n, err := e.st.Rerun(ctx, e.job.ID); err != nil || n != 1 {
		t.Fatalf("rerun: %d %v", n, err)
	}
	rows = e.run(t)
	if by, _ := e.st.ImportedBy(ctx, rows[0].IssuanceID); rows[0].State != RowDone || by != e.job.ID {
		t.Fatalf("re-run: %s, held by job %d", rows[0].State, by)
	}
}
