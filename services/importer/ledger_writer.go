package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ledgerWriter group-commits the engine's writes to console.db (the call
// ledger, rows' progress, reservations). console.db runs with
// synchronous=FULL, so every commit is an fsync and SQLite has one writer:
// workers committing one by one queue behind each other's fsyncs. Here a
// write is queued; one caller at a time (the leader) takes everything
// queued, runs it in ONE transaction and commits, and every caller returns
// only once the transaction holding its write has committed. So a write a
// caller waited for is durable (an idempotency key is on disk before its
// call goes out), and N workers writing at once cost one fsync, not N.
//
// There is no background goroutine (nothing to stop, nothing outliving an
// engine): the first caller to find no leader leads, and hands the lead to
// the oldest waiting caller when it is done with its own batch.
type ledgerWriter struct {
	db *sql.DB

	mu      sync.Mutex
	queue   []*ledgerOp
	leading bool

	commits atomic.Int64 // transactions committed
	writes  atomic.Int64 // ops committed in them
}

// ledgerOp is one caller's write: steps run in order inside the batch's
// transaction, each in its own savepoint. The first step that fails stops
// the op (later steps do not run) and rolls back only that step: steps
// before it stay (a call's outcome is kept even when the row's guarded
// update that follows it is refused), and other callers' ops are not
// affected.
type ledgerOp struct {
	steps []ledgerStep
	done  chan opResult
}

type opResult struct {
	err  error
	lead bool // not a result: the caller leads the next batch
}

// ledgerStep is one write inside a batch's transaction.
type ledgerStep func(ctx context.Context, tx *sql.Tx) error

func newLedgerWriter(db *sql.DB) *ledgerWriter { return &ledgerWriter{db: db} }

// write runs steps in the next batch and returns once it has committed
// (or failed). The write is not abandoned when ctx ends: once queued, it is
// committed or fails with its batch.
func (w *ledgerWriter) write(steps ...ledgerStep) error {
	if len(steps) == 0 {
		return nil
	}
	op := &ledgerOp{steps: steps, done: make(chan opResult, 1)}
	w.mu.Lock()
	w.queue = append(w.queue, op)
	lead := !w.leading
	w.leading = true
	w.mu.Unlock()
	if !lead {
		r := <-op.done
		if !r.lead {
			return r.err
		}
	}
	// Leading: everything queued so far (this op included) is one batch.
	w.mu.Lock()
	batch := w.queue
	w.queue = nil
	w.mu.Unlock()
	w.commit(batch)
	w.mu.Lock()
	if len(w.queue) > 0 {
		w.queue[0].done <- opResult{lead: true}
	} else {
		w.leading = false
	}
	w.mu.Unlock()
	return (<-op.done).err
}

// commit runs a batch in one transaction and tells each op its outcome.
func (w *ledgerWriter) commit(batch []*ledgerOp) {
	// Writes must land even if the caller that leads has been cancelled
	// (a call's outcome is exactly what must be recorded), but not hang.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	errs := make([]error, len(batch))
	err := func() error {
		tx, err := w.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		for i, op := range batch {
			errs[i] = runOp(ctx, tx, op.steps)
		}
		return tx.Commit()
	}()
	if err != nil {
		err = fmt.Errorf("ledger commit: %w", err)
	} else {
		w.commits.Add(1)
		w.writes.Add(int64(len(batch)))
	}
	for i, op := range batch {
		op.done <- opResult{err: errors.Join(err, errs[i])}
	}
}

func runOp(ctx context.Context, tx *sql.Tx, steps []ledgerStep) error {
	for _, st := range steps {
		if _, err := tx.ExecContext(ctx, `SAVEPOINT op`); err != nil {
			return err
		}
		if err := st(ctx, tx); err != nil {
			if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO op`); rerr != nil {
				return errors.Join(err, rerr)
			}
			_, rerr := tx.ExecContext(ctx, `RELEASE op`)
			return errors.Join(err, rerr)
		}
		if _, err := tx.ExecContext(ctx, `RELEASE op`); err != nil {
			return err
		}
	}
	return nil
}

// Commits reports how many transactions the engine's writer committed and
// how many writes they carried (the benchmark's commits per row).
func (e *Engine) Commits() (commits, writes int64) {
	return e.writer.commits.Load(), e.writer.writes.Load()
}
