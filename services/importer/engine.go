package importer

import (
	"container/heap"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
	"issuerconsole/services/cashlink"
)

// Registry is what the engine needs of Cashlink (*cashlink.Client).
type Registry interface {
	UploadDocument(ctx context.Context, key cashlink.Key, filename string, content []byte, contentType string) (cashlink.Document, error)
	CreateInvestment(ctx context.Context, key cashlink.Key, in cashlink.NewInvestment) (cashlink.Investment, error)
	ListWallets(ctx context.Context, investorID string) ([]cashlink.Wallet, error)
	UpdateInvestment(ctx context.Context, id string, up cashlink.InvestmentUpdate) (cashlink.Investment, error)
	Credit(ctx context.Context, key cashlink.Key, investmentID string) (cashlink.Credit, error)
	GetInvestment(ctx context.Context, id string) (cashlink.Investment, error)
}

// Options tune the engine.
type Options struct {
	Workers     int           // rows processed at once (default DefaultWorkers)
	Rate        rate.Limit    // calls per second across workers (default DefaultRate)
	Burst       int           // default Rate/10, at least 5
	MaxPasses   int           // passes over rows with unknown outcomes before giving up on them (default 8)
	PassBackoff time.Duration // first wait between passes (default 1s, doubling, at most 30s)
	// DeliveryDelay is the first guess of the time from a credit to
	// DELIVERED (default 1s, the emulator's; then learnt: readback.go).
	DeliveryDelay time.Duration
	Now           func() time.Time
	Logger        *slog.Logger
}

// Engine runs import jobs in the background and resumes them after a restart.
type Engine struct {
	st      *Store
	reg     Registry
	audit   *audit.Store
	opt     Options
	limiter *Throttle
	log     *slog.Logger
	writer  *ledgerWriter

	delivery deliveryClock

	mu      sync.Mutex
	running map[int64]bool
	wake    map[int64]chan struct{} // a running job's wait between passes ends early (Wake)
	// betweenPasses, if set (tests), is called as a run starts its wait
	// between passes.
	betweenPasses func(jobID int64)
	again         map[int64]string // Start called during a run: the actor to run once more for
	wg            sync.WaitGroup
	base          context.Context
}

// NewEngine returns an engine; base ends every run (the console's lifetime).
func NewEngine(base context.Context, st *Store, reg Registry, au *audit.Store, opt Options) *Engine {
	if opt.Workers <= 0 {
		opt.Workers = DefaultWorkers
	}
	if opt.Rate == 0 {
		opt.Rate = DefaultRate
	}
	if opt.Burst == 0 {
		opt.Burst = max(5, int(opt.Rate/10))
	}
	if opt.MaxPasses == 0 {
		opt.MaxPasses = 8
	}
	if opt.PassBackoff == 0 {
		opt.PassBackoff = time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.DeliveryDelay == 0 {
		opt.DeliveryDelay = time.Second
	}
	return &Engine{st: st, reg: reg, audit: au, opt: opt, limiter: NewThrottle(opt.Rate, opt.Burst, nil, opt.Logger), log: opt.Logger,
		writer: newLedgerWriter(st.db), delivery: deliveryClock{est: opt.DeliveryDelay},
		running: map[int64]bool{}, again: map[int64]string{}, wake: map[int64]chan struct{}{}, base: base}
}

// Resume restarts every job that was running when the console stopped. The
// calls it makes are the system's (no user is signed in to them).
func (e *Engine) Resume(ctx context.Context) error {
	jobs, err := e.st.Jobs(ctx, JobRunning)
	if err != nil {
		return err
	}
	for _, j := range jobs {
		e.log.Info("resuming import job", "job", j.ID)
		e.Start(j.ID, audit.ActorSystem)
	}
	return nil
}

// Start runs a job in the background. If it runs already, the run looks
// at the job once more before it ends: it may have read the job as paused
// just before a resume set it running again.
func (e *Engine) Start(jobID int64, actor string) {
	e.mu.Lock()
	if e.running[jobID] {
		e.again[jobID] = actor
		e.mu.Unlock()
		return
	}
	e.running[jobID] = true
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			ctx := audit.WithActor(e.base, actor)
			if err := e.Run(ctx, jobID); err != nil && e.base.Err() == nil {
				e.log.Error("import job stopped", "job", jobID, "err", err)
			}
			e.mu.Lock()
			next, ok := e.again[jobID]
			delete(e.again, jobID)
			if !ok || e.base.Err() != nil {
				delete(e.running, jobID)
				delete(e.wake, jobID)
				e.mu.Unlock()
				return
			}
			e.mu.Unlock()
			actor = next
		}
	}()
}

// Wake ends a running job's wait between passes (up to 30 s while outcomes
// are unknown), so a pause or cancel lets go of the job at once instead of
// after the wait: the truth read-back waits for that.
func (e *Engine) Wake(jobID int64) {
	e.mu.Lock()
	ch := e.wake[jobID]
	e.mu.Unlock()
	if ch == nil {
		return // not running in this process
	}
	select {
	case ch <- struct{}{}:
	default: // a wake-up is pending already
	}
}

func (e *Engine) wakeup(jobID int64) chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch, ok := e.wake[jobID]
	if !ok {
		ch = make(chan struct{}, 1)
		e.wake[jobID] = ch
	}
	return ch
}

// Running reports whether a job runs in this process now.
func (e *Engine) Running(jobID int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running[jobID]
}

// Wait blocks until background runs have ended (after base is cancelled).
func (e *Engine) Wait() { e.wg.Wait() }

// Run processes a job until every row is final, the job is paused or
// cancelled, or ctx ends. Rows whose last call had an unknown outcome are
// retried in later passes, with their keys.
func (e *Engine) Run(ctx context.Context, jobID int64) error {
	job, err := e.st.Job(ctx, jobID)
	if err != nil {
		return err
	}
	if job.State != JobRunning {
		return nil
	}
	if err := e.uploadShared(ctx, job); err != nil {
		return err
	}
	backoff := e.opt.PassBackoff
	wake := e.wakeup(jobID) // made before the job is read, so no Wake is lost
	for pass := 1; ; pass++ {
		job, err = e.st.Job(ctx, jobID)
		if err != nil {
			return err
		}
		if job.State != JobRunning {
			return nil // paused or cancelled
		}
		rows, err := e.st.Rows(ctx, jobID)
		if err != nil {
			return err
		}
		var todo []Row
		for _, r := range rows {
			switch r.State {
			case RowPending, RowRunning, RowUnknown, RowWaiting:
				if !r.Skip {
					todo = append(todo, r)
				}
			}
		}
		if len(todo) == 0 {
			// Guarded: a pause or cancel that won the race keeps the job.
			var conflict *ConflictError
			if err := e.st.Transition(ctx, jobID, ActFinish); errors.As(err, &conflict) {
				return nil
			} else if err != nil {
				return err
			}
			p, err := e.st.JobProgress(ctx, jobID)
			if err != nil {
				return err
			}
			e.log.Info("import job finished", "job", jobID, "done", p.Done, "failed", p.Failed, "skipped", p.Skipped)
			return nil
		}
		if pass > 1 {
			// Unknown outcomes back off exponentially; rows only waiting for
			// delivery are re-checked at the base interval.
			unknown := 0
			for _, r := range todo {
				if r.State == RowUnknown {
					unknown++
				}
			}
			wait := e.opt.PassBackoff
			if unknown > 0 {
				wait = backoff
				backoff = min(backoff*2, 30*time.Second)
			} else {
				backoff = e.opt.PassBackoff
			}
			tm := time.NewTimer(wait)
			if e.betweenPasses != nil {
				e.betweenPasses(jobID)
			}
			select {
			case <-ctx.Done():
				tm.Stop()
				return ctx.Err()
			case <-wake:
				tm.Stop()
				continue // the loop reads the job again: paused or cancelled ends the run
			case <-tm.C:
			}
		}
		if err := e.pass(ctx, job, todo, pass); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// pass runs the rows through a bounded pool of workers. A row whose
// progress could not be saved stops the run (the first such error is
// returned): going on would make calls the console cannot account for.
// A credited row leaves its worker until its status can be read (see
// readback.go): the dispatcher hands due status reads out before new rows.
func (e *Engine) pass(ctx context.Context, job Job, rows []Row, pass int) error {
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	work := make(chan *rowRun)
	back := make(chan *rowRun, e.opt.Workers) // nil: the row is through this pass
	var wg sync.WaitGroup
	for range min(e.opt.Workers, len(rows)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for rr := range work {
				again, err := e.work(ctx, job, rr, pass)
				if err != nil {
					stop(err)
				}
				if !again {
					rr = nil
				}
				back <- rr
			}
		}()
	}
	var (
		reads    readQueue
		next     int     // rows[next] is the next new row
		offer    *rowRun // the new row checked against the job's state
		inflight int     // rows with a worker
		stopped  bool    // no new row, no more reads
		timer    *time.Timer
		done     = ctx.Done()
	)
	for {
		var send chan<- *rowRun
		var t *rowRun
		var wake <-chan time.Time
		if !stopped && len(reads) > 0 {
			if d := time.Until(reads[0].due); d <= 0 {
				if !reads[0].ready {
					// A pause or cancel stops the reads too: the rows stay
					// waiting, and are read back from there.
					if cur, err := e.st.Job(ctx, job.ID); err != nil || cur.State != JobRunning {
						stopped = true
					}
				}
				if !stopped {
					send, t = work, reads[0]
					t.ready = true // (the worker reads it once sent)
				}
			} else {
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				wake = timer.C
			}
		}
		if send == nil && !stopped && offer == nil && next < len(rows) {
			// A pause or cancel takes effect before the next row.
			if cur, err := e.st.Job(ctx, job.ID); err != nil || cur.State != JobRunning {
				stopped = true
			} else {
				offer = &rowRun{row: rows[next]}
			}
		}
		if send == nil && !stopped && offer != nil {
			send, t = work, offer
		}
		if send == nil && inflight == 0 && (stopped || (next >= len(rows) && len(reads) == 0)) {
			break
		}
		select {
		case send <- t:
			inflight++
			if t == offer {
				offer, next = nil, next+1
			} else {
				heap.Pop(&reads)
			}
		case rr := <-back:
			inflight--
			if rr != nil {
				e.schedule(rr, time.Now())
				heap.Push(&reads, rr)
			}
		case <-wake:
		case <-done:
			stopped, done = true, nil
		}
	}
	if timer != nil {
		timer.Stop()
	}
	close(work)
	wg.Wait()
	// Rows still waiting for their status read: on record as waiting (the
	// next pass or a read-back after a pause reads them).
	for _, rr := range reads {
		rr.row.State = RowWaiting
		if err := e.save(rr); err != nil {
			var conflict *ConflictError
			if !errors.As(err, &conflict) {
				stop(err)
			}
		}
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// work runs a row in a worker; true: its status is to be read later.
func (e *Engine) work(ctx context.Context, job Job, rr *rowRun, pass int) (bool, error) {
	if !rr.ready {
		// The dispatcher hands a row over before the previous one ends:
		// a pause or cancel in between must still keep it from starting.
		cur, err := e.st.Job(ctx, job.ID)
		if err != nil {
			return false, err
		}
		if cur.State != JobRunning {
			return false, nil
		}
	}
	return e.processRow(ctx, job, rr, pass)
}

// processRow moves one row through its remaining steps until it is final,
// an outcome is unknown (then a later pass tries again with the same keys),
// or it is credited and its status is to be read later (true). The error
// is a failure to record the row's progress, not the row's own.
func (e *Engine) processRow(ctx context.Context, job Job, rr *rowRun, pass int) (bool, error) {
	ctx = audit.WithJob(ctx, "job-"+strconv.FormatInt(job.ID, 10), "row-"+strconv.FormatInt(rr.row.ID, 10))
	r := &rr.row
	// Written with the row's first durable write (the first key, or the end).
	r.State = RowRunning
	for r.Step != StepDone {
		if r.Step == StepStatus && !rr.creditedAt.IsZero() && !rr.ready {
			// Read when delivery can have happened; meanwhile the row is on
			// record as credited and waiting (the run page shows it, and a
			// pause or cancel reads it back from there).
			r.State = RowWaiting
			return true, e.save(rr)
		}
		rr.ready = false
		err := e.step(ctx, job, rr)
		if err == nil {
			continue
		}
		var conflict *ConflictError
		if errors.As(err, &conflict) || isStoreError(err) {
			return false, err
		}
		if ctx.Err() != nil {
			r.State = RowUnknown // interrupted: resumed at this step
			return false, e.save(rr)
		}
		if errors.Is(err, errWaiting) && !rr.creditedAt.IsZero() && rr.checks < statusChecks {
			rr.checks++
			e.delivery.early()
			r.State = RowWaiting // as on record
			return true, nil
		}
		r.Tries++
		r.Error = FriendlyError(r.Step, err)
		var skip *skipError
		switch {
		case errors.As(err, &skip):
			r.State, r.Error = RowSkipped, skip.reason
		case errors.Is(err, errWaiting):
			r.State, r.Error = RowWaiting, ""
			if pass >= e.opt.MaxPasses+2 {
				r.State, r.Error = RowFailed, "Cashlink has not delivered the securities yet (status "+r.FinalStatus+"); re-run later to check again."
			}
		case errors.Is(err, errFinal):
			r.State, r.Error = RowFailed, err.Error()
		case apiclient.Classify(err) == apiclient.Rejected || errors.Is(err, ErrBodyChanged):
			r.State = RowFailed
		case pass >= e.opt.MaxPasses:
			r.State = RowFailed
			r.Error = "Outcome still unknown after " + strconv.Itoa(pass) + " attempts: " + r.Error + " Re-run to try again with the same key."
		default:
			r.State = RowUnknown
		}
		return false, e.save(rr)
	}
	r.State, r.Error = RowDone, ""
	return false, e.save(rr)
}

// storeError marks a failed write of the console's own records (not a call).
type storeError struct{ err error }

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

func isStoreError(err error) bool {
	var se *storeError
	return errors.As(err, &se)
}

var (
	errWaiting = errors.New("waiting for delivery")
	errFinal   = errors.New("final status")
)

type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

// step performs the row's current step and advances it. Advancing is
// not written at once: the row's next durable write carries it (rowRun).
func (e *Engine) step(ctx context.Context, job Job, rr *rowRun) error {
	r := &rr.row
	install, err := e.st.InstallationID(ctx)
	if err != nil {
		return err
	}
	if rr.docs == nil && (r.Step == StepDocuments || r.Step == StepInvestment) {
		// This row's documents and the shared ones: not the whole job's.
		if rr.docs, err = e.st.rowDocuments(ctx, job.ID, r.ID); err != nil {
			return err
		}
		for _, d := range rr.docs {
			if d.RowID == r.ID && d.CashlinkID == "" {
				// An upload's id not on record (its write was lost): the
				// upload again, under its key, gets Cashlink's first answer.
				r.Step = StepDocuments
			}
		}
	}
	switch r.Step {
	case StepDocuments:
		n := 0
		for i := range rr.docs {
			d := &rr.docs[i]
			if d.RowID != r.ID {
				continue
			}
			n++
			if d.CashlinkID != "" {
				continue
			}
			id, err := e.upload(ctx, rr, install, job, r.ID, *d, n)
			if err != nil {
				return err
			}
			d.CashlinkID = id
		}
		if n == 0 && !hasShared(rr.docs) {
			return fmt.Errorf("%w: no signed document for this investment", errFinal)
		}
		r.Step = StepInvestment
		return nil

	case StepInvestment:
		in, err := e.newInvestment(job, *r, rr.docs)
		if err != nil {
			return err
		}
		body, err := cashlink.Body(in)
		if err != nil {
			return err
		}
		// The reservation is written with the key, before the call.
		var other int64
		reserve := func(ctx context.Context, tx *sql.Tx) error {
			var err error
			if other, err = e.st.reserve(ctx, tx, *r); err == nil && other != 0 {
				return &skipError{fmt.Sprintf("Already imported by job %d; not imported twice.", other)}
			}
			return err
		}
		id, err := e.ledgeredRow(ctx, rr, reserve, Key(install, job.ID, r.ID, "investment", 0), job.ID, r.ID, StepInvestment, body, func(k cashlink.Key) (string, error) {
			inv, err := e.reg.CreateInvestment(ctx, k, in)
			return inv.ID, err
		})
		if err != nil {
			if apiclient.Classify(err) == apiclient.Rejected {
				// Nothing was created: other jobs may import it (this row
				// reserves it again if it is re-run). Written with the
				// row's failure, next.
				row := *r
				rr.later(func(ctx context.Context, tx *sql.Tx) error { return e.st.release(ctx, tx, row) })
			}
			return err
		}
		r.CashlinkInvestment = id
		row := *r
		rr.later(func(ctx context.Context, tx *sql.Tx) error { return e.st.setImported(ctx, tx, row) })
		r.Step = StepWallet
		return nil

	case StepWallet:
		if r.Wallet == "" {
			var ws []cashlink.Wallet
			err := e.call(ctx, func() (err error) {
				ws, err = e.reg.ListWallets(ctx, r.CashlinkInvestor)
				return err
			})
			if err != nil {
				return err
			}
			if len(ws) == 0 {
				return fmt.Errorf("%w: the Cashlink investor %s has no wallet; create one (Cashlink Studio or the API) and re-run", errFinal, r.CashlinkInvestor)
			}
			r.Wallet = ws[0].ID // the guide takes the first wallet
		}
		w := r.Wallet
		if err := e.call(ctx, func() error {
			_, err := e.reg.UpdateInvestment(ctx, r.CashlinkInvestment, cashlink.InvestmentUpdate{Wallet: &w})
			return err
		}); err != nil {
			return err
		}
		r.Step = StepCredit
		return nil

	case StepCredit:
		var cr cashlink.Credit
		_, err := e.ledgeredRow(ctx, rr, nil, Key(install, job.ID, r.ID, "credit", 0), job.ID, r.ID, StepCredit, nil, func(k cashlink.Key) (string, error) {
			var err error
			cr, err = e.reg.Credit(ctx, k, r.CashlinkInvestment)
			return cr.ID, err
		})
		if err != nil {
			return err
		}
		rr.creditedAt, rr.checks = time.Now(), 0 // real time: the read is a real timer away
		if cr.Status == "success" {
			rr.creditedAt = time.Time{} // delivered at once: read now
		}
		rr.credit = cr
		r.Step = StepStatus
		return nil

	case StepStatus:
		var inv cashlink.Investment
		if err := e.call(ctx, func() (err error) {
			inv, err = e.reg.GetInvestment(ctx, r.CashlinkInvestment)
			return err
		}); err != nil {
			return err
		}
		r.FinalStatus = inv.Status
		switch {
		case inv.Status == cashlink.StatusDelivered:
			e.learn(rr.credit, inv)
			r.Step = StepDone
			return nil
		case cashlink.Final(inv.Status):
			return fmt.Errorf("%w: Cashlink ended the investment with status %s", errFinal, inv.Status)
		}
		return errWaiting
	}
	return fmt.Errorf("unknown step %q", r.Step)
}

// call makes a call under the shared Throttle and tells it how it went.
func (e *Engine) call(ctx context.Context, fn func() error) error {
	tk, err := e.limiter.Wait(ctx)
	if err != nil {
		return err
	}
	err = fn()
	e.answered(tk, err, false)
	return err
}

// answered tells the Throttle of an answer Cashlink accepted (a 429 or
// 503 reached it through SlowDown already; a transport error is none).
// Only a small call's success is a latency sample: an upload takes its
// body's time and an error answer often none, and mixed into the average
// either reads as queueing that a lower rate cannot cure.
func (e *Engine) answered(tk Ticket, err error, upload bool) {
	var ae *apiclient.Error
	switch {
	case err == nil && !upload:
		e.limiter.Done(tk)
	case err == nil || (errors.As(err, &ae) && ae.Status != http.StatusTooManyRequests && ae.Status != http.StatusServiceUnavailable):
		e.limiter.Accepted(tk)
	}
}

func hasShared(docs []Document) bool {
	for _, d := range docs {
		if d.RowID == 0 {
			return true
		}
	}
	return false
}

// uploadShared uploads the job's shared documents once, before any row.
func (e *Engine) uploadShared(ctx context.Context, job Job) error {
	install, err := e.st.InstallationID(ctx)
	if err != nil {
		return err
	}
	docs, err := e.st.rowDocuments(ctx, job.ID, 0)
	if err != nil {
		return err
	}
	n := 0
	for _, d := range docs {
		if d.RowID != 0 {
			continue
		}
		n++
		if d.CashlinkID != "" {
			continue
		}
		jctx := audit.WithJob(ctx, "job-"+strconv.FormatInt(job.ID, 10), "")
		for attempt := 1; ; attempt++ {
			rr := &rowRun{}
			_, err := e.upload(jctx, rr, install, job, 0, d, n)
			if werr := e.flush(rr); werr != nil {
				return &storeError{errors.Join(werr, err)}
			}
			if err == nil {
				break
			}
			if apiclient.Classify(err) == apiclient.Rejected || errors.Is(err, ErrBodyChanged) || attempt >= e.opt.MaxPasses || ctx.Err() != nil {
				serr := fmt.Errorf("shared document %s: %s", d.Filename, FriendlyError(StepDocuments, err))
				// Paused unless an admin paused or cancelled it first.
				var conflict *ConflictError
				if perr := e.st.Transition(context.WithoutCancel(ctx), job.ID, ActPause); perr != nil && !errors.As(perr, &conflict) {
					return errors.Join(serr, perr)
				}
				return serr
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(e.opt.PassBackoff):
			}
		}
	}
	return nil
}

// upload sends one document under the ledger; its Cashlink id is written
// with the row's next durable write.
func (e *Engine) upload(ctx context.Context, rr *rowRun, install string, job Job, rowID int64, d Document, n int) (string, error) {
	content, err := e.st.documentContent(ctx, d.ID)
	if err != nil {
		return "", err
	}
	key := Key(install, job.ID, rowID, "doc", n)
	body, _, err := cashlink.DocumentBody(key, d.Filename, content, "application/pdf")
	if err != nil {
		return "", err
	}
	id, err := e.ledgeredRow(ctx, rr, nil, key, job.ID, rowID, StepDocuments, body, func(k cashlink.Key) (string, error) {
		doc, err := e.reg.UploadDocument(ctx, k, d.Filename, content, "application/pdf")
		return doc.ID, err
	})
	if err != nil {
		return "", err
	}
	rr.later(func(ctx context.Context, tx *sql.Tx) error { return e.st.setDocumentUploaded(ctx, tx, d.ID, id) })
	return id, nil
}

// newInvestment builds the body of a row's investment: the guide's fields,
// with the row's documents and the shared ones (docs: rowDocuments, with
// the ids of this pass's uploads).
func (e *Engine) newInvestment(job Job, r Row, docs []Document) (cashlink.NewInvestment, error) {
	in := cashlink.NewInvestment{CampaignID: job.CampaignID, InvestorID: r.CashlinkInvestor, Units: r.Units, SignedAt: r.SignedAt.UTC()}
	if !r.AcceptedAt.IsZero() {
		t := r.AcceptedAt.UTC()
		in.AcceptedAt = &t
	}
	if !r.PaidAt.IsZero() {
		t := r.PaidAt.UTC()
		in.PaidAt = &t
	}
	for _, d := range docs {
		if d.RowID == 0 || d.RowID == r.ID {
			if d.CashlinkID == "" {
				return in, fmt.Errorf("document %s is not uploaded yet", d.Filename)
			}
			in.SignedDocuments = append(in.SignedDocuments, cashlink.SignedDocument{DocumentID: d.CashlinkID, Category: d.Category, Subject: d.Subject})
		}
	}
	return in, nil
}

// ledgered makes a creating call under the ledger: record the key and the
// body's fingerprint first; a call already done is not repeated; a repeat
// with another body is refused before anything is sent. The outcome is on
// record when it returns (a single call: a redemption, an investor).
func (e *Engine) ledgered(ctx context.Context, key cashlink.Key, job, row int64, step string, body []byte, send func(cashlink.Key) (string, error)) (string, error) {
	rr := &rowRun{}
	id, err := e.ledgeredRow(ctx, rr, nil, key, job, row, step, body, send)
	if werr := e.flush(rr); werr != nil {
		// Without the outcome on record the call must not count as done or
		// refused: the key is sent again (same body); Cashlink replays.
		return "", &storeError{errors.Join(werr, err)}
	}
	return id, err
}

// ledgeredRow is ledgered for a row's call: the key and the body's
// fingerprint are written durably in one group-committed write with the
// row's queued writes and pre (the investment's reservation), and the
// outcome is queued (rowRun): written with the row's next durable write.
func (e *Engine) ledgeredRow(ctx context.Context, rr *rowRun, pre ledgerStep, key cashlink.Key, job, row int64, step string, body []byte, send func(cashlink.Key) (string, error)) (string, error) {
	var c call
	steps := []ledgerStep{}
	if pre != nil {
		steps = append(steps, pre)
	}
	steps = append(steps, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		c, err = e.st.beginIn(ctx, tx, key, job, row, step, body)
		return err
	})
	var err error
	if rr.row.ID != 0 {
		err = e.save(rr, steps...)
	} else {
		err = e.flush(rr, steps...) // a job's call (shared documents): no row to save
	}
	var skip *skipError
	if errors.Is(err, ErrBodyChanged) || errors.As(err, &skip) {
		return "", err // the row's own outcome: refused or skipped, never sent
	}
	if err != nil {
		// The key is not durable, so the call is not sent; the run stops
		// on its own records' failure rather than go on without them.
		return "", &storeError{err}
	}
	if c.State == "done" && c.ResultID != "" {
		return c.ResultID, nil
	}
	key = cashlink.Key(c.Key) // the next key after a refused one
	tk, err := e.limiter.Wait(ctx)
	if err != nil {
		return "", err // not sent: the key stays pending, sent later
	}
	id, err := send(key)
	e.answered(tk, err, step == StepDocuments)
	// Without the outcome on record the call does not count as done or
	// refused: if the write is lost, the key is sent again (same body)
	// and Cashlink replays its answer.
	rr.later(func(ctx context.Context, tx *sql.Tx) error { return e.st.finishIn(ctx, tx, key, id, err) })
	return id, err
}

// SlowDown lowers the engine's rate: Cashlink answered 429 or 503 with
// Retry-After (see Throttle). The Cashlink client calls it for every caller.
func (e *Engine) SlowDown(retryAfter time.Duration) { e.limiter.SlowDown(retryAfter) }

// Throttle is the engine's shared rate limit.
func (e *Engine) Throttle() *Throttle { return e.limiter }

// Store is the engine's store.
func (e *Engine) Store() *Store { return e.st }
