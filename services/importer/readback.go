package importer

import (
	"container/heap"
	"context"
	"database/sql"
	"sync"
	"time"

	"issuerconsole/services/cashlink"
)

// rowRun is a row on its way through a pass: the row as the engine has it
// (ahead of its record), the writes not yet made durable, its documents,
// and when its status is to be read.
//
// Only some writes must be durable before the engine goes on: an
// idempotency key and its body's fingerprint before the call that sends
// it. Everything else (a call's outcome, an uploaded document's id, the
// reservation's Cashlink id, the row's step) is queued here and written
// with the row's next durable write, in the same transaction. A crash
// loses at most those, and each is found again: a call whose outcome was
// not recorded is sent again with its key and the same body, and Cashlink
// replays its first answer.
type rowRun struct {
	row     Row
	pending []ledgerStep
	docs    []Document // the row's own and the shared ones (nil: not read yet)

	creditedAt time.Time       // this pass's credit answered; zero: none
	checks     int             // status reads that found it not yet delivered
	due        time.Time       // when the status is to be read
	ready      bool            // the status may be read now
	credit     cashlink.Credit // the credit's answer (its created_at)
}

// later queues a write for the row's next durable write.
func (rr *rowRun) later(st ledgerStep) { rr.pending = append(rr.pending, st) }

// save writes the row as it is now, with everything queued before it,
// durably (group-committed with other workers' writes).
func (e *Engine) save(rr *rowRun, more ...ledgerStep) error {
	r := rr.row
	return e.flush(rr, append([]ledgerStep{func(ctx context.Context, tx *sql.Tx) error { return e.st.saveRowIn(ctx, tx, r) }}, more...)...)
}

// flush writes what is queued for the row and then steps, durably, in one
// group-committed write.
func (e *Engine) flush(rr *rowRun, steps ...ledgerStep) error {
	queued := rr.pending
	rr.pending = nil
	if err := e.writer.write(append(queued[:len(queued):len(queued)], steps...)...); err != nil {
		// The batch or a step failed: what was queued may not be
		// written, so it stays queued for the row's next write (each
		// queued step is an idempotent update, harmless if it landed).
		rr.pending = queued
		return err
	}
	return nil
}

// Status reads are scheduled for when delivery can have happened: Cashlink
// mints asynchronously after a credit (api-contracts A.8; the emulator
// answers the credit "processing" and reads DELIVERED CreditDelay later,
// 1 s by default). Reading at once only costs a call that finds PAID, and
// waiting inside a worker would hold its slot: so the credited row leaves
// its worker and a dispatcher hands it to a free one when it is due.
//
// deliveryClock is the engine's estimate of the time from a credit to
// DELIVERED: Options.DeliveryDelay at first, then learnt from Cashlink's
// own times (the credit's created_at and the investment's delivered_at,
// both Cashlink's clock) and from reads that came too early.
type deliveryClock struct {
	mu  sync.Mutex
	est time.Duration
}

// maxDeliveryWait caps the estimate and the wait between reads.
const maxDeliveryWait = 30 * time.Second

// statusChecks is how many reads a pass makes of a row not yet delivered
// before leaving it waiting for the next pass.
const statusChecks = 4

func (d *deliveryClock) get() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.est
}

// early: a read found the credit not yet delivered.
func (d *deliveryClock) early() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.est = min(maxDeliveryWait, d.est*3/2)
}

// observed: Cashlink delivered a credit took after it was requested.
func (d *deliveryClock) observed(took time.Duration) {
	if took < 0 || took > maxDeliveryWait {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// Smoothed, with a margin: a read a little late costs a little time,
	// one too early costs a call.
	d.est = (3*d.est + took*11/10) / 4
}

// schedule sets when a row's status is next read.
func (e *Engine) schedule(rr *rowRun, now time.Time) {
	rr.ready = false
	if rr.checks == 0 {
		rr.due = rr.creditedAt.Add(e.delivery.get())
		return
	}
	// Not delivered yet: again after a growing share of the estimate.
	wait := max(e.delivery.get()/4, 50*time.Millisecond) << (rr.checks - 1)
	rr.due = now.Add(min(wait, maxDeliveryWait))
}

// learn takes the delivery time of a credit from Cashlink's answers.
func (e *Engine) learn(cr cashlink.Credit, inv cashlink.Investment) {
	at, ok := cr.Fields["created_at"].(string)
	if !ok || inv.DeliveredAt == nil {
		return
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return
	}
	e.delivery.observed(inv.DeliveredAt.Sub(t))
}

// readQueue orders rows waiting for their status read by due time.
type readQueue []*rowRun

func (q readQueue) Len() int           { return len(q) }
func (q readQueue) Less(i, j int) bool { return q[i].due.Before(q[j].due) }
func (q readQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *readQueue) Push(x any)        { *q = append(*q, x.(*rowRun)) }
func (q *readQueue) Pop() any {
	old := *q
	rr := old[len(old)-1]
	*q = old[:len(old)-1]
	return rr
}

var _ heap.Interface = (*readQueue)(nil)
