package importer

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// ActRemap is allowed for a stopped job only and keeps its state; a
// row changes only while failed and without an investment in Cashlink
// (a refused creating call may be followed by another body, an unknown or
// done one may not).
func TestRemapTransitions(t *testing.T) {
	t.Parallel()
	e := setup(t, 3)
	ctx := context.Background()
	allowed := map[JobState]bool{JobPaused: true, JobDone: true, JobCancelled: true}
	for _, from := range JobStates {
		t.Run(fmt.Sprintf("job %s", from), func(t *testing.T) {
			if _, err := e.st.db.Exec(`UPDATE import_jobs SET state = ? WHERE id = ?`, string(from), e.job.ID); err != nil {
				t.Fatal(err)
			}
			if got, ok := from.Next(ActRemap); ok != allowed[from] || ok && got != from {
				t.Fatalf("Next: %s, %v", got, ok)
			}
			refused, err := e.st.RemapFailed(ctx, e.job.ID, "", nil, nil, e.admin.ID)
			var conflict *ConflictError
			switch {
			case allowed[from] && (err != nil || refused != nil):
				t.Fatalf("allowed: %v %v", refused, err)
			case !allowed[from] && (!errors.As(err, &conflict) || conflict.State != from):
				t.Fatalf("refused: %v", err)
			}
			if j, _ := e.st.Job(ctx, e.job.ID); j.State != from {
				t.Fatalf("state %s after a remap, want %s", j.State, from)
			}
		})
	}

	// Rows: 0 refused at creation, 1 unknown outcome, 2 never failed.
	if _, err := e.st.db.Exec(`UPDATE import_jobs SET state = 'done' WHERE id = ?`, e.job.ID); err != nil {
		t.Fatal(err)
	}
	for i, callState := range []string{"rejected", "unknown"} {
		r := e.rows[i]
		if _, err := e.st.db.Exec(`UPDATE import_rows SET state = 'failed', step = 'investment' WHERE id = ?`, r.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.db.Exec(`INSERT INTO import_calls (key, job_id, row_id, step, fingerprint, state, created_at, updated_at)
			VALUES (?, ?, ?, 'investment', 'fp', ?, 0, 0)`, fmt.Sprint("k", r.ID), e.job.ID, r.ID, callState); err != nil {
			t.Fatal(err)
		}
	}
	rows, created, err := e.st.FailedRows(ctx, e.job.ID)
	if err != nil || len(rows) != 2 || !rows[0].Fixable || rows[1].Fixable || !created {
		t.Fatalf("failed rows %+v, created %v, err %v", rows, created, err)
	}
	if refused, err := e.st.RemapFailed(ctx, e.job.ID, "", map[int64]string{e.rows[1].ID: "cl-inv-2"}, nil, e.admin.ID); err != nil || len(refused) != 1 {
		t.Fatalf("remap of a row that may have an investment: refused %v, err %v", refused, err)
	}
	if refused, err := e.st.RemapFailed(ctx, e.job.ID, "", map[int64]string{e.rows[2].ID: "cl-inv-2"}, nil, e.admin.ID); err != nil || len(refused) != 1 {
		t.Fatalf("remap of a row that did not fail: refused %v, err %v", refused, err)
	}
	var conflict *ConflictError
	if _, err := e.st.RemapFailed(ctx, e.job.ID, "camp-2", nil, nil, e.admin.ID); !errors.As(err, &conflict) {
		t.Fatalf("campaign change with an investment that may exist: %v", err)
	}
	if refused, err := e.st.RemapFailed(ctx, e.job.ID, "", map[int64]string{e.rows[0].ID: "cl-inv-2"}, nil, e.admin.ID); err != nil || refused != nil {
		t.Fatalf("remap of a refused row: %v %v", refused, err)
	}
	if r, _ := e.st.Row(ctx, e.job.ID, e.rows[0].ID); r.CashlinkInvestor != "cl-inv-2" || r.State != RowFailed {
		t.Fatalf("row after the remap: %s %s", r.CashlinkInvestor, r.State)
	}
}
