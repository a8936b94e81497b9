package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// The rows of read calls (GET and HEAD) need not cost each request a
// commit of its own: an fsynced commit per search page was a large part of
// its time. They are queued instead and written by one background writer
// that commits everything queued in one transaction (a group commit), at
// most FlushDelay after the first row of the batch was queued, at once when
// MaxBatch rows wait, and at Close. Creating and changing calls, and
// security events, still go through Append: their row is durable before
// the call is made or the event returns.
//
// The chain order is the order rows were handed over: Append, the sign-in
// folding and the writer all take the store's writer lock and write the
// queued rows first, then their own, in the same transaction. So a row
// queued before an Append (in the same goroutine, or anything ordered
// before it) always has the smaller id. Every read of the log (list, get,
// head, export, verify, checkpoints) writes the queue first, so nothing
// reads a log that lacks a call already answered.

// DefaultFlushDelay bounds how long a queued row waits to be durable.
const DefaultFlushDelay = 50 * time.Millisecond

// WriterOptions configure the background writer.
type WriterOptions struct {
	FlushDelay time.Duration // 0 = DefaultFlushDelay
	MaxBatch   int           // rows that trigger a flush at once; 0 = 256
	// After starts the flush delay (tests pass a channel they control);
	// nil = time.After.
	After   func(time.Duration) <-chan time.Time
	OnError func(error) // a batch could not be written (it stays queued)
}

// maxQueued is where queuing stops being cheaper than waiting: beyond it
// (the database has been failing for a while) Enqueue writes synchronously,
// so memory stays bounded and the caller learns of the failure.
const maxQueued = 10_000

type writer struct {
	opts WriterOptions
	kick chan struct{} // the queue went from empty to non-empty
	full chan struct{} // MaxBatch rows are queued
	stop chan struct{}
	done chan struct{}
}

// queue is the store's list of rows handed over but not yet written
// (guarded by Store.qmu, not Store.mu, so queuing never waits for a commit).
type queue struct {
	rows     []Entry
	deferred atomic.Int64 // bytes of answers queued rows hold for their summaries
	err      error        // the last batch failed: new read calls fail too, as with Append
	w        *writer
}

// StartWriter starts the background writer; from then on Enqueue queues.
// Close stops it after writing what is queued.
func (s *Store) StartWriter(o WriterOptions) {
	if o.FlushDelay <= 0 {
		o.FlushDelay = DefaultFlushDelay
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.After == nil {
		o.After = time.After
	}
	w := &writer{opts: o, kick: make(chan struct{}, 1), full: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	s.qmu.Lock()
	s.q.w = w
	s.qmu.Unlock()
	go s.runWriter(w)
}

// Close writes every queued row and stops the background writer. Rows
// handed over afterwards are written synchronously.
func (s *Store) Close() error {
	s.qmu.Lock()
	w := s.q.w
	s.q.w = nil
	s.qmu.Unlock()
	if w != nil {
		close(w.stop)
		<-w.done
	}
	return s.Flush(context.Background())
}

func (s *Store) runWriter(w *writer) {
	defer close(w.done)
	for {
		select {
		case <-w.kick:
		case <-w.stop:
			return // Close writes the rest
		}
		// Wait for more rows to share the commit, but never longer than
		// the delay the first of them was promised.
		select {
		case <-w.opts.After(w.opts.FlushDelay):
		case <-w.full:
		case <-w.stop:
			return
		}
		if err := s.Flush(context.Background()); err != nil && w.opts.OnError != nil {
			w.opts.OnError(err)
		}
	}
}

// Enqueue hands over a read call's row: queued for the background writer,
// or written at once when none runs (tests, tools, after Close). An error
// means the log cannot be written (the last batch failed): the caller fails
// the call, as with Append.
func (s *Store) Enqueue(ctx context.Context, e Entry) error {
	if e.At.IsZero() {
		e.At = s.now()
	}
	if e.describeResponse != nil && s.q.deferred.Load()+int64(e.deferredBytes) > maxDeferredBytes {
		e.describe() // enough answers wait already: summarised here (outside the lock)
	}
	s.qmu.Lock()
	w, err := s.q.w, s.q.err
	if w == nil || err != nil || len(s.q.rows) >= maxQueued {
		s.qmu.Unlock()
		e.describe()
		_, err := s.Append(ctx, e) // writes the queue first, then e
		return err
	}
	if e.describeResponse != nil {
		s.q.deferred.Add(int64(e.deferredBytes))
	}
	s.q.rows = append(s.q.rows, e)
	n := len(s.q.rows)
	s.qmu.Unlock()
	// A signal already pending says the same: never block.
	if n == 1 {
		select {
		case w.kick <- struct{}{}:
		default:
		}
	}
	if n >= w.opts.MaxBatch {
		select {
		case w.full <- struct{}{}:
		default:
		}
	}
	return nil
}

// Flush writes every queued row now (one transaction). It returns once
// every row handed over before it is committed, including a batch the
// background writer is committing at that moment (hence s.mu first).
func (s *Store) Flush(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.qmu.Lock()
	empty := len(s.q.rows) == 0
	s.qmu.Unlock()
	if empty {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return s.writeTx(ctx, nil)
}

// writeTx writes the queued rows and then fn's rows in one transaction
// (the caller holds s.mu). The queue is taken only once the transaction
// has begun and given back, in front, if it does not commit, so no row is
// lost or reordered.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		s.noteWriteErr(err)
		return fmt.Errorf("audit append: %w", err)
	}
	defer tx.Rollback()
	s.qmu.Lock()
	batch := s.q.rows
	s.q.rows = nil
	s.qmu.Unlock()
	defer func() {
		if err != nil && len(batch) > 0 {
			s.qmu.Lock()
			s.q.rows = append(batch, s.q.rows...)
			s.qmu.Unlock()
		}
		s.noteWriteErr(err)
	}()
	if len(batch) > 0 {
		if _, err := s.appendRows(ctx, tx, batch); err != nil {
			return err
		}
	}
	if fn != nil {
		if err := fn(tx); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit append: commit: %w", err)
	}
	return nil
}

func (s *Store) noteWriteErr(err error) {
	s.qmu.Lock()
	if err != nil && len(s.q.rows) > 0 {
		s.q.err = err
	} else if err == nil {
		s.q.err = nil
	}
	s.qmu.Unlock()
}

// errQueued reports a queue that could not be written, for readers.
var errQueued = errors.New("audit: queued rows could not be written")

// flushForRead writes the queue before a read of the log; a failure is the
// read's failure (it would show a log without calls already made).
func (s *Store) flushForRead(ctx context.Context) error {
	if err := s.Flush(ctx); err != nil {
		return fmt.Errorf("%w: %w", errQueued, err)
	}
	return nil
}
