package audit

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"sync"
	"time"
)

// SignIns records failed and throttled sign-ins without letting anyone who
// reaches the port grow the log: those come from visitors who are not signed
// in, so one chained, fsynced row per attempt would be an unbounded write
// for them (the finding: 430 MB in 14 s). They are folded per actor (an
// existing user's e-mail, or a marker with a keyed hash of what was typed)
// and client address over a fixed window:
//
//   - the first failure of each (actor, address) in a window is appended to
//     the chain at once, so an attack shows up immediately;
//   - further failures in that window only increment a counter in the table
//     login_failures, which is not part of the chain;
//   - throttled attempts, refused before any password check, write nothing
//     each: the first per (account or address, window) is chained, the rest
//     are counted in memory;
//   - once the window has closed (checked at every sign-in event, every
//     minute while serving, and at shutdown, which also closes open windows)
//     one summary row per key with the counts is appended, and the counter
//     is deleted in the same transaction.
//
// So the chain stays append-only and hash-linked: no chained row is ever
// updated, the counters are mutable scratch data outside it, and a summary is
// an ordinary new row written when its counts are final. A crash loses only
// the in-memory throttled counts of open windows; the table's counts survive
// and are summarised after the restart.
type SignIns struct {
	store  *Store
	window time.Duration

	mu        sync.Mutex // guarded by store.mu too: taken after it
	throttled map[foldKey]*tally
	oldest    time.Time // earliest open window with a count (zero if none)
}

type foldKey struct {
	actor, addr string
	start       int64 // window start, ms
}

type tally struct {
	n           int
	first, last time.Time
}

// maxThrottledKeys bounds the in-memory throttled counters; beyond it the
// attempts of new keys are counted under one shared key.
const maxThrottledKeys = 10000

// UnknownActor is the actor of a throttled sign-in whose e-mail names no
// user; failed ones add a keyed hash of what was typed.
const UnknownActor = "unknown e-mail"

// NewSignIns folds sign-in failures over windows of the given length
// (default 15 minutes).
func NewSignIns(s *Store, window time.Duration) *SignIns {
	if window <= 0 {
		window = 15 * time.Minute
	}
	// oldest starts non-zero so the first write looks for counters left by
	// an earlier run (a crash) and summarises them.
	return &SignIns{store: s, window: window, throttled: map[foldKey]*tally{}, oldest: time.UnixMilli(1)}
}

// Failed records a sign-in refused for a wrong e-mail or password.
func (l *SignIns) Failed(ctx context.Context, actor, addr string) error {
	return l.write(ctx, func(tx *sql.Tx, now time.Time, start int64) error {
		var n int
		err := tx.QueryRowContext(ctx, `INSERT INTO login_failures (actor, addr, window_start, failed, first_at, last_at)
			VALUES (?, ?, ?, 1, ?, ?)
			ON CONFLICT (actor, addr, window_start) DO UPDATE SET failed = failed + 1, last_at = excluded.last_at
			RETURNING failed`, capString(actor, capShort), capString(addr, capShort), start, now.UnixMilli(), now.UnixMilli()).Scan(&n)
		if err != nil {
			return fmt.Errorf("count failed sign-in: %w", err)
		}
		l.noteOpen(time.UnixMilli(start))
		if n > 1 {
			return nil
		}
		_, err = l.store.appendTx(ctx, tx, Entry{Kind: KindEvent, Event: EventLoginFailed, Actor: actor, Detail: "from " + addr, At: now})
		return err
	})
}

// Throttled records a sign-in refused by the throttle, before any password
// check. Only the first per key and window writes to the database.
func (l *SignIns) Throttled(ctx context.Context, actor, addr string) error {
	return l.write(ctx, func(tx *sql.Tx, now time.Time, start int64) error {
		l.mu.Lock()
		k := foldKey{capString(actor, capShort), capString(addr, capShort), start}
		t, ok := l.throttled[k]
		if !ok && len(l.throttled) >= maxThrottledKeys {
			k = foldKey{UnknownActor, "(many addresses)", start}
			t, ok = l.throttled[k]
		}
		if !ok {
			t = &tally{first: now}
			l.throttled[k] = t
		}
		t.n++
		t.last = now
		l.mu.Unlock()
		l.noteOpen(time.UnixMilli(start))
		if ok {
			return nil
		}
		_, err := l.store.appendTx(ctx, tx, Entry{Kind: KindEvent, Event: EventLoginThrottled, Actor: k.actor, Detail: "from " + k.addr, At: now})
		return err
	})
}

// Flush writes the summaries of closed windows; all also closes the open
// ones (at shutdown, so no count is lost).
func (l *SignIns) Flush(ctx context.Context, all bool) error {
	return l.write(ctx, func(tx *sql.Tx, now time.Time, _ int64) error {
		if all {
			now = now.Add(l.window)
		}
		return l.flushTx(ctx, tx, now)
	})
}

func (l *SignIns) noteOpen(start time.Time) {
	l.mu.Lock()
	if l.oldest.IsZero() || start.Before(l.oldest) {
		l.oldest = start
	}
	l.mu.Unlock()
}

// write runs fn in one transaction with the store's writer lock held, then
// summarises windows that have closed.
func (l *SignIns) write(ctx context.Context, fn func(tx *sql.Tx, now time.Time, start int64) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s := l.store
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now().UTC().Truncate(time.Millisecond)
	start := now.Truncate(l.window).UnixMilli()
	// The queued rows of read calls first (writer.go), in the same commit.
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := fn(tx, now, start); err != nil {
			return err
		}
		return l.flushTx(ctx, tx, now)
	})
	if err != nil {
		return fmt.Errorf("sign-in log: %w", err)
	}
	return nil
}

type summary struct {
	foldKey
	failed, throttled int
	first, last       time.Time
}

// flushTx appends one summary row per key whose window ended by now and
// drops its counters. Rows whose only attempt was already chained as the
// window's first add nothing.
func (l *SignIns) flushTx(ctx context.Context, tx *sql.Tx, now time.Time) error {
	closedBefore := now.Add(-l.window).UnixMilli() // windows starting at or before this have ended
	l.mu.Lock()
	due := !l.oldest.IsZero() && l.oldest.UnixMilli() <= closedBefore
	l.mu.Unlock()
	if !due {
		return nil
	}
	sums := map[foldKey]*summary{}
	rows, err := tx.QueryContext(ctx, `SELECT actor, addr, window_start, failed, first_at, last_at
		FROM login_failures WHERE window_start <= ?`, closedBefore)
	if err != nil {
		return fmt.Errorf("sign-in log: read counters: %w", err)
	}
	for rows.Next() {
		var k foldKey
		var n int
		var first, last int64
		if err := rows.Scan(&k.actor, &k.addr, &k.start, &n, &first, &last); err != nil {
			rows.Close()
			return fmt.Errorf("sign-in log: read counters: %w", err)
		}
		sums[k] = &summary{foldKey: k, failed: n, first: time.UnixMilli(first), last: time.UnixMilli(last)}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sign-in log: read counters: %w", err)
	}
	l.mu.Lock()
	for k, t := range l.throttled {
		if k.start > closedBefore {
			continue
		}
		sm := sums[k]
		if sm == nil {
			sm = &summary{foldKey: k, first: t.first, last: t.last}
			sums[k] = sm
		}
		sm.throttled = t.n
		sm.first, sm.last = minTime(sm.first, t.first), maxTime(sm.last, t.last)
		delete(l.throttled, k)
	}
	l.oldest = time.Time{}
	for k := range l.throttled {
		if s := time.UnixMilli(k.start); l.oldest.IsZero() || s.Before(l.oldest) {
			l.oldest = s
		}
	}
	l.mu.Unlock()
	var open int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(min(window_start), 0) FROM login_failures WHERE window_start > ?`, closedBefore).Scan(&open); err != nil {
		return fmt.Errorf("sign-in log: %w", err)
	}
	if open > 0 {
		l.noteOpen(time.UnixMilli(open))
	}

	list := make([]*summary, 0, len(sums))
	for _, sm := range sums {
		list = append(list, sm)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].first.Before(list[j].first) })
	for _, sm := range list {
		if sm.failed <= 1 && sm.throttled <= 1 {
			continue // nothing beyond the first rows already chained
		}
		detail := fmt.Sprintf("from %s, %s to %s UTC: %d failed and %d throttled sign-ins (the first of each recorded on its own)",
			sm.addr, sm.first.UTC().Format("2006-01-02 15:04:05"), sm.last.UTC().Format("15:04:05"), sm.failed, sm.throttled)
		if _, err := l.store.appendTx(ctx, tx, Entry{Kind: KindEvent, Event: EventLoginSummary, Actor: sm.actor, Detail: detail}); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE window_start <= ?`, closedBefore); err != nil {
		return fmt.Errorf("sign-in log: drop counters: %w", err)
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
