package importer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every state × every action, through the guarded UPDATE: allowed ones move
// the job to the table's state, the others leave it and return a conflict
// naming the state it is in.
func TestTransitionTable(t *testing.T) {
	t.Parallel()
	want := map[Action]map[JobState]JobState{ // allowed: from → to
		ActStart:  {JobDraft: JobRunning},
		ActPause:  {JobRunning: JobPaused},
		ActResume: {JobPaused: JobRunning},
		ActCancel: {JobRunning: JobCancelled, JobPaused: JobCancelled},
		ActFinish: {JobRunning: JobDone},
		ActRerun:  {JobDone: JobRunning, JobCancelled: JobRunning},
	}
	e := setup(t, 1)
	ctx := context.Background()
	for _, a := range Actions {
		for _, from := range JobStates {
			t.Run(fmt.Sprintf("%s from %s", a, from), func(t *testing.T) {
				if _, err := e.st.db.Exec(`UPDATE import_jobs SET state = ?, finished_at = NULL WHERE id = ?`, string(from), e.job.ID); err != nil {
					t.Fatal(err)
				}
				to, allowed := want[a][from]
				if got, ok := from.Next(a); ok != allowed || ok && got != to {
					t.Fatalf("Next: %s, %v; want %s, %v", got, ok, to, allowed)
				}
				if slices.Contains(from.Actions(), a) != (allowed && a != ActStart && a != ActFinish) {
					t.Fatalf("Actions() of %s: %v", from, from.Actions())
				}
				err := e.st.Transition(ctx, e.job.ID, a)
				j, jerr := e.st.Job(ctx, e.job.ID)
				if jerr != nil {
					t.Fatal(jerr)
				}
				if allowed {
					if err != nil || j.State != to {
						t.Fatalf("allowed: err %v, state %s, want %s", err, j.State, to)
					}
					if to.Final() != !j.FinishedAt.IsZero() {
						t.Fatalf("finished_at %v in state %s", j.FinishedAt, to)
					}
					return
				}
				var conflict *ConflictError
				if !errors.As(err, &conflict) || conflict.State != from || j.State != from {
					t.Fatalf("refused: err %v, state %s, want a conflict in %s", err, j.State, from)
				}
				if msg := conflict.Error(); msg != fmt.Sprintf("This import is %s: it cannot be %s.", from, a.verb()) {
					t.Fatalf("message %q", msg)
				}
			})
		}
	}
	if err := e.st.Transition(ctx, 9999, ActPause); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown job: %v", err)
	}
}

// The rows' table: which states each row action may start from.
func TestRowTransitionTable(t *testing.T) {
	t.Parallel()
	want := map[RowAction][]RowState{
		RowActSkip:     {RowPending, RowSkipped},
		RowActUnskip:   {RowPending, RowSkipped},
		RowActEdit:     {RowPending, RowSkipped},
		RowActWork:     {RowPending, RowRunning, RowUnknown, RowWaiting},
		RowActRequeue:  {RowFailed, RowUnknown},
		RowActStopped:  {RowPending},
		RowActReadBack: {RowWaiting, RowUnknown, RowFailed},
	}
	for a, from := range want {
		for _, s := range RowStates {
			if got := a.Allows(s); got != slices.Contains(from, s) {
				t.Errorf("%s from %s: %v", a, s, got)
			}
		}
	}
	// The engine saves only rows it works on: a finished row is left alone.
	e := setup(t, 1)
	ctx := context.Background()
	rows := e.run(t)
	r := rows[0]
	r.State, r.Error = RowFailed, "late write"
	var conflict *ConflictError
	if err := e.st.saveRow(ctx, r); !errors.As(err, &conflict) {
		t.Fatalf("saving over a done row: %v", err)
	}
	if got, _ := e.st.Row(ctx, e.job.ID, r.ID); got.State != RowDone {
		t.Fatalf("row %s after a refused save", got.State)
	}
}

// Pause and cancel fired at the same time as the engine finishes the job,
// many times: whoever wins, a job that reached done never leaves it (a
// trigger records every state change), and each loser gets a conflict.
func TestPauseAndCancelRacingCompletion(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	ctx := context.Background()
	if _, err := e.st.db.Exec(`CREATE TABLE state_log (job INTEGER, old TEXT, new TEXT);
		CREATE TRIGGER log_state AFTER UPDATE OF state ON import_jobs WHEN OLD.state <> NEW.state
		BEGIN INSERT INTO state_log VALUES (NEW.id, OLD.state, NEW.state); END`); err != nil {
		t.Fatal(err)
	}
	w := &Wizard{Store: e.st, Engine: e.eng}
	const iterations = 200
	outcomes := map[string]int{}
	for i := range iterations {
		job, err := e.st.CreateJob(ctx, fmt.Sprint("race ", i), e.admin.ID)
		if err != nil {
			t.Fatal(err)
		}
		// One row already final: the engine's pass finds nothing to do and
		// finishes at once, so the finish lands among the pause and cancel.
		if err := e.st.ReplaceRows(ctx, job.ID, []Row{{IssuanceID: int64(10000 + i), CashlinkInvestor: "cl-inv-1", Units: 1, SignedAt: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.st.db.Exec(`UPDATE import_rows SET state = 'skipped' WHERE job_id = ?`, job.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.st.Confirm(ctx, job.ID, e.admin.ID); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var runErr, pauseErr, cancelErr error
		start := make(chan struct{})
		wg.Add(3)
		go func() { defer wg.Done(); <-start; runErr = e.eng.Run(ctx, job.ID) }()
		go func() { defer wg.Done(); <-start; pauseErr = w.Pause(ctx, job.ID, Actor{Email: "a@example.com"}) }()
		go func() {
			defer wg.Done()
			<-start
			cancelErr = w.Cancel(ctx, job.ID, Actor{Email: "a@example.com"}, true)
		}()
		close(start)
		wg.Wait()
		if runErr != nil {
			t.Fatalf("iteration %d: run: %v", i, runErr)
		}
		for name, err := range map[string]error{"pause": pauseErr, "cancel": cancelErr} {
			var conflict *ConflictError
			if err != nil && !errors.As(err, &conflict) {
				t.Fatalf("iteration %d: %s: %v, want nil or a conflict", i, name, err)
			}
		}
		j, err := e.st.Job(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == JobDone && (pauseErr == nil || cancelErr == nil) {
			t.Fatalf("iteration %d: done, yet pause (%v) or cancel (%v) succeeded", i, pauseErr, cancelErr)
		}
		outcomes[string(j.State)]++
	}
	var left int
	if err := e.st.db.QueryRow(`SELECT count(*) FROM state_log WHERE old IN ('done', 'cancelled')`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d times a done or cancelled job changed state", left)
	}
	t.Logf("final states over %d races: %v", iterations, outcomes)
}

// A write the store cannot make is an error, never dropped: a trigger
// refuses updates of the job, or of the rows.
func TestFailingWritesSurface(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	ctx := context.Background()
	w := &Wizard{Store: e.st, Engine: e.eng}
	if _, err := e.st.db.Exec(`CREATE TRIGGER no_job_writes BEFORE UPDATE ON import_jobs BEGIN SELECT RAISE(ABORT, 'disk says no'); END`); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"pause":  w.Pause(ctx, e.job.ID, Actor{}),
		"cancel": w.Cancel(ctx, e.job.ID, Actor{}, true),
		"finish": e.st.Transition(ctx, e.job.ID, ActFinish),
	} {
		var conflict *ConflictError
		if err == nil || errors.As(err, &conflict) || !strings.Contains(err.Error(), "disk says no") {
			t.Errorf("%s: %v, want the database's error", name, err)
		}
	}
	if _, err := e.st.db.Exec(`DROP TRIGGER no_job_writes;
		CREATE TRIGGER no_row_writes BEFORE UPDATE ON import_rows BEGIN SELECT RAISE(ABORT, 'disk says no'); END`); err != nil {
		t.Fatal(err)
	}
	// The engine stops the run with the error instead of calling on
	// without a record of its progress.
	if err := e.eng.Run(ctx, e.job.ID); err == nil || !strings.Contains(err.Error(), "disk says no") {
		t.Fatalf("run: %v, want the database's error", err)
	}
	if e.reg.created["investment"] != 0 {
		t.Fatalf("the engine went on to Cashlink without recording its progress: %v", e.reg.created)
	}
	// A closed database: every read and write says so.
	e.st.db.Close()
	if err := w.Pause(ctx, e.job.ID, Actor{}); err == nil {
		t.Fatal("pause on a closed database succeeded")
	}
	if _, err := w.Progress(ctx, e.job.ID, 1, 50); err == nil {
		t.Fatal("progress on a closed database succeeded")
	}
}
