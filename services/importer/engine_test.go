package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"issuerconsole/db"
	"issuerconsole/services/accounts"
	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
	"issuerconsole/services/cashlink"
)

// fakeRegistry behaves like Cashlink's idempotency: the first successful
// answer for a key is replayed. Hooks inject failures.
type fakeRegistry struct {
	mu        sync.Mutex
	byKey     map[cashlink.Key]string // key → id created
	bodies    map[cashlink.Key]string
	created   map[string]int // kind → objects created
	status    map[string][]string
	wallets   map[string][]cashlink.Wallet
	failNext  map[string]error // "investment" etc. → error for the next call (after doing the work when afterWork)
	afterWork bool
	patched   map[string]string
	// deliverAfter: a credited investment reads PAID until this long after
	// its credit (status sequences aside); log: the calls, in order.
	deliverAfter time.Duration
	credited     map[string]time.Time
	log          []string
	// onCreate, if set, is called with each creating call's key as it
	// arrives (before the work).
	onCreate func(cashlink.Key)
}

func newFake() *fakeRegistry {
	return &fakeRegistry{byKey: map[cashlink.Key]string{}, bodies: map[cashlink.Key]string{}, created: map[string]int{},
		status: map[string][]string{}, wallets: map[string][]cashlink.Wallet{"cl-inv-1": {{ID: "w-1"}}},
		failNext: map[string]error{}, patched: map[string]string{}}
}

func (f *fakeRegistry) create(kind string, key cashlink.Key, body string) (string, error) {
	if f.onCreate != nil {
		f.onCreate(key)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err, ok := f.failNext[kind]; ok && !f.afterWork {
		delete(f.failNext, kind)
		return "", err
	}
	if id, ok := f.byKey[key]; ok {
		if f.bodies[key] != body {
			return "", &apiclient.Error{Status: 422, Detail: "key reused with another body"}
		}
		return id, nil
	}
	f.created[kind]++
	id := fmt.Sprintf("%s-%d", kind, f.created[kind])
	f.byKey[key], f.bodies[key] = id, body
	if err, ok := f.failNext[kind]; ok { // the work happened, the answer is lost
		delete(f.failNext, kind)
		return "", err
	}
	return id, nil
}

func (f *fakeRegistry) UploadDocument(_ context.Context, key cashlink.Key, name string, content []byte, _ string) (cashlink.Document, error) {
	id, err := f.create("document", key, name+string(content))
	return cashlink.Document{ID: id}, err
}

func (f *fakeRegistry) CreateInvestment(_ context.Context, key cashlink.Key, in cashlink.NewInvestment) (cashlink.Investment, error) {
	b, _ := cashlink.Body(in)
	id, err := f.create("investment", key, string(b))
	return cashlink.Investment{ID: id, Status: cashlink.StatusPaid}, err
}

func (f *fakeRegistry) ListWallets(_ context.Context, inv string) ([]cashlink.Wallet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.wallets[inv], nil
}

func (f *fakeRegistry) UpdateInvestment(_ context.Context, id string, up cashlink.InvestmentUpdate) (cashlink.Investment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.patched[id] = *up.Wallet
	return cashlink.Investment{ID: id}, nil
}

func (f *fakeRegistry) Credit(_ context.Context, key cashlink.Key, id string) (cashlink.Credit, error) {
	cid, err := f.create("credit", key, id)
	f.mu.Lock()
	if f.credited == nil {
		f.credited = map[string]time.Time{}
	}
	if _, ok := f.credited[id]; !ok && err == nil {
		f.credited[id] = time.Now()
	}
	f.log = append(f.log, "credit "+id)
	f.mu.Unlock()
	return cashlink.Credit{ID: cid}, err
}

func (f *fakeRegistry) GetInvestment(_ context.Context, id string) (cashlink.Investment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	seq := f.status[id]
	st := cashlink.StatusDelivered
	if len(seq) > 0 {
		st, f.status[id] = seq[0], seq[1:]
	} else if at, ok := f.credited[id]; ok && time.Since(at) < f.deliverAfter {
		st = cashlink.StatusPaid
	}
	f.log = append(f.log, "status "+id+" "+st)
	return cashlink.Investment{ID: id, Status: st}, nil
}

type env struct {
	st    *Store
	eng   *Engine
	reg   *fakeRegistry
	job   Job
	rows  []Row
	admin accounts.User
}

func setup(t *testing.T, n int) *env {
	t.Helper()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return setupDB(t, d, n)
}

// setupDB is setup over an opened console database.
func setupDB(t *testing.T, d *sql.DB, n int) *env {
	t.Helper()
	ctx := context.Background()
	acc, _ := accounts.New(d, accounts.Options{BcryptCost: bcrypt.MinCost})
	admin, err := acc.Create(ctx, accounts.NewUser{Email: "a@example.com", Role: accounts.RoleAdmin, Password: "a long password"})
	if err != nil {
		t.Fatal(err)
	}
	st := NewStore(d, nil)
	job, err := st.CreateJob(ctx, "test", admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	camp := "camp-1"
	st.UpdateJob(ctx, job.ID, JobUpdate{CampaignID: &camp})
	var rows []Row
	signed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		rows = append(rows, Row{IssuanceID: int64(100 + i), Reference: fmt.Sprintf("INV-%d", i), IssuanceInvestor: 7,
			InvestorName: "Jane Doe", InvestorEmail: "jane@example.com", CashlinkInvestor: "cl-inv-1", Units: 10, SignedAt: signed})
	}
	if err := st.ReplaceRows(ctx, job.ID, rows); err != nil {
		t.Fatal(err)
	}
	rows, _ = st.Rows(ctx, job.ID)
	for _, r := range rows {
		if _, err := st.AddDocument(ctx, Document{JobID: job.ID, RowID: r.ID, Filename: "signed.pdf", SHA256: fmt.Sprint("sha", r.ID), Category: "c", Subject: "s"},
			[]byte(fmt.Sprintf("%%PDF-1.4 row %d", r.ID))); err != nil {
			t.Fatal(err)
		}
	}
	reg := newFake()
	eng := NewEngine(ctx, st, reg, audit.NewStore(d, nil), Options{PassBackoff: time.Millisecond, MaxPasses: 4})
	if err := st.Confirm(ctx, job.ID, admin.ID); err != nil {
		t.Fatal(err)
	}
	return &env{st: st, eng: eng, reg: reg, job: job, rows: rows, admin: admin}
}

func (e *env) run(t *testing.T) []Row {
	t.Helper()
	if err := e.eng.Run(context.Background(), e.job.ID); err != nil {
		t.Fatal(err)
	}
	rows, _ := e.st.Rows(context.Background(), e.job.ID)
	return rows
}

func TestHappyPath(t *testing.T) {
	t.Parallel()
	e := setup(t, 5)
	rows := e.run(t)
	for _, r := range rows {
		if r.State != RowDone || r.Step != StepDone || r.CashlinkInvestment == "" || r.Wallet != "w-1" || r.FinalStatus != cashlink.StatusDelivered {
			t.Fatalf("row %+v", r)
		}
	}
	if e.reg.created["investment"] != 5 || e.reg.created["document"] != 5 || e.reg.created["credit"] != 5 {
		t.Fatalf("created %v", e.reg.created)
	}
	job, _ := e.st.Job(context.Background(), e.job.ID)
	if job.State != JobDone {
		t.Fatalf("job state %s", job.State)
	}
	// Nothing failed: a re-run is refused and changes nothing.
	var conflict *ConflictError
	if _, err := e.st.Rerun(context.Background(), e.job.ID); !errors.As(err, &conflict) || conflict.Reason != NothingToRerun {
		t.Fatalf("re-run of a job with nothing failed: %v, want the nothing-to-re-run conflict", err)
	}
	if job, _ = e.st.Job(context.Background(), e.job.ID); job.State != JobDone {
		t.Fatalf("job state after a refused re-run: %s", job.State)
	}
	// The engine run again (bypassing the store's guard) creates nothing.
	if _, err := e.st.db.Exec(`UPDATE import_jobs SET state = 'running' WHERE id = ?`, e.job.ID); err != nil {
		t.Fatal(err)
	}
	e.run(t)
	if e.reg.created["investment"] != 5 {
		t.Fatalf("a second run created more: %v", e.reg.created)
	}
}

// An answer lost after Cashlink did the work (5xx, timeout) leaves the row
// unknown; the next pass sends the same key with the same body and gets
// the stored answer: one investment, not two.
func TestUnknownOutcomeIsRetriedWithTheSameKey(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"document", "investment", "credit"} {
		t.Run(kind, func(t *testing.T) {
			e := setup(t, 1)
			e.reg.failNext[kind] = &apiclient.Error{Status: 503, Detail: "try later"}
			rows := e.run(t)
			if rows[0].State != RowDone {
				t.Fatalf("row %+v", rows[0])
			}
			if e.reg.created[kind] != 1 {
				t.Fatalf("%d %s objects created, want 1", e.reg.created[kind], kind)
			}
			calls, _ := e.st.Calls(context.Background(), e.job.ID, rows[0].ID)
			for _, c := range calls {
				if c.Step == map[string]string{"document": StepDocuments, "investment": StepInvestment, "credit": StepCredit}[kind] && c.Attempts != 2 {
					t.Fatalf("ledger %+v: want 2 attempts with one key", c)
				}
			}
		})
	}
}

func TestRejectionFailsTheRowInWords(t *testing.T) {
	t.Parallel()
	e := setup(t, 2)
	e.reg.afterWork = true
	e.reg.failNext["investment"] = &apiclient.Error{Status: 400, Fields: map[string][]string{"units": {"Ensure this value is at most 100."}}}
	rows := e.run(t)
	failed := 0
	for _, r := range rows {
		if r.State == RowFailed {
			failed++
			if !strings.Contains(r.Error, "Cashlink refused the investment") || !strings.Contains(r.Error, "units: Ensure this value is at most 100") {
				t.Fatalf("error %q", r.Error)
			}
		}
	}
	if failed != 1 {
		t.Fatalf("%d failed rows, want 1", failed)
	}
}

func TestChangedBodyIsNeverSent(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	ctx := context.Background()
	e.reg.failNext["investment"] = &apiclient.Error{Status: 503}
	e.eng.opt.MaxPasses = 1
	e.run(t) // one pass: unknown outcome recorded, row unknown→failed after max passes
	// Someone changes what the row would send (bypassing the store's guard).
	e.st.db.Exec(`UPDATE import_rows SET units = 99, state = 'failed'`)
	if _, err := e.st.Rerun(ctx, e.job.ID); err != nil {
		t.Fatal(err)
	}
	rows := e.run(t)
	if rows[0].State != RowFailed || !strings.Contains(rows[0].Error, "differs from the one first sent") {
		t.Fatalf("row %+v", rows[0])
	}
	if strings.Contains(strings.Join(mapValues(e.reg.bodies), ""), `"units":99`) {
		t.Fatal("a key was sent with another body")
	}
}

func mapValues(m map[cashlink.Key]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestEditRowRefusedOnceStarted(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	ctx := context.Background()
	units := int64(11)
	var conflict *ConflictError
	// setup confirmed the job: its rows are fixed, even the ones not started yet.
	if err := e.st.EditRow(ctx, e.job.ID, e.rows[0].ID, RowEdit{Units: &units}); !errors.As(err, &conflict) {
		t.Fatalf("edit of a confirmed job's row: %v, want a conflict", err)
	}
	e.st.db.Exec(`UPDATE import_jobs SET state = 'draft' WHERE id = ?`, e.job.ID)
	if err := e.st.EditRow(ctx, e.job.ID, e.rows[0].ID, RowEdit{Units: &units}); err != nil {
		t.Fatalf("edit of a draft's row: %v", err)
	}
	if err := e.st.Confirm(ctx, e.job.ID, e.admin.ID); err != nil {
		t.Fatal(err)
	}
	e.run(t)
	e.st.db.Exec(`UPDATE import_jobs SET state = 'draft' WHERE id = ?`, e.job.ID)
	if err := e.st.EditRow(ctx, e.job.ID, e.rows[0].ID, RowEdit{Units: &units}); !errors.As(err, &conflict) {
		t.Fatalf("edit of a row that ran: %v, want a conflict", err)
	}
	if err := e.st.EditRow(ctx, e.job.ID, 9999, RowEdit{Units: &units}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("edit of no row: %v, want not found", err)
	}
}

func TestAlreadyImportedIsSkipped(t *testing.T) {
	t.Parallel()
	e := setup(t, 2)
	e.run(t)
	ctx := context.Background()
	job2, _ := e.st.CreateJob(ctx, "again", e.admin.ID)
	e.st.ReplaceRows(ctx, job2.ID, []Row{{IssuanceID: 100, CashlinkInvestor: "cl-inv-1", Units: 10, SignedAt: time.Now()}})
	shared := []byte("%PDF shared")
	e.st.AddDocument(ctx, Document{JobID: job2.ID, Filename: "s.pdf", SHA256: "shared", Category: "c", Subject: "s"}, shared)
	e.st.Confirm(ctx, job2.ID, e.admin.ID)
	e.eng.Run(ctx, job2.ID)
	rows, _ := e.st.Rows(ctx, job2.ID)
	if rows[0].State != RowSkipped || !strings.Contains(rows[0].Error, fmt.Sprintf("Already imported by job %d", e.job.ID)) {
		t.Fatalf("row %+v", rows[0])
	}
	if e.reg.created["investment"] != 2 {
		t.Fatalf("investments created %d", e.reg.created["investment"])
	}
}

func TestNoWalletAndWaitingForDelivery(t *testing.T) {
	t.Parallel()
	e := setup(t, 2)
	ctx := context.Background()
	e.st.db.Exec(`UPDATE import_rows SET cashlink_investor = 'cl-no-wallet' WHERE id = ?`, e.rows[1].ID)
	e.reg.status["investment-1"] = []string{cashlink.StatusPaid, cashlink.StatusPaid}
	rows := e.run(t)
	if rows[0].State != RowDone {
		t.Fatalf("waiting row did not finish in a later pass: %+v", rows[0])
	}
	if rows[1].State != RowFailed || !strings.Contains(rows[1].Error, "has no wallet") {
		t.Fatalf("no-wallet row %+v", rows[1])
	}
	_ = ctx
}

func TestPauseStopsBeforeTheNextRow(t *testing.T) {
	t.Parallel()
	e := setup(t, 3)
	ctx := context.Background()
	if err := e.st.Transition(ctx, e.job.ID, ActPause); err != nil {
		t.Fatal(err)
	}
	rows := e.run(t)
	for _, r := range rows {
		if r.State != RowPending {
			t.Fatalf("a paused job ran row %+v", r)
		}
	}
	if len(e.reg.created) != 0 {
		t.Fatal("a paused job called Cashlink")
	}
}

func TestKeys(t *testing.T) {
	t.Parallel()
	a := Key("3f9a1c2b7e", 12, 345, "investment", 0)
	if a != "ic-3f9a1c2b7e-j12-r345-investment" {
		t.Fatalf("key %q", a)
	}
	seen := map[cashlink.Key]bool{}
	for _, k := range []cashlink.Key{
		Key("i", 1, 1, "doc", 1), Key("i", 1, 1, "doc", 2), Key("i", 1, 2, "doc", 1), Key("i", 1, 0, "doc", 1),
		Key("i", 1, 1, "investment", 0), Key("i", 1, 1, "credit", 0), Key("i", 2, 1, "credit", 0), Key("j", 1, 1, "credit", 0),
	} {
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
		if len(k) > 255 || strings.ContainsAny(string(k), "@ ") {
			t.Fatalf("key %q", k)
		}
	}
	// A key is sent again after a crash or an upgrade, so its spelling is fixed.
	if got, want := Key("i", 1, 2, "doc", 1), cashlink.Key("ic-i-j1-r2-doc1"); got != want {
		t.Fatalf("key %q, want %q", got, want)
	}
}

func TestDuplicateDocumentRefused(t *testing.T) {
	t.Parallel()
	e := setup(t, 2)
	_, err := e.st.AddDocument(context.Background(), Document{JobID: e.job.ID, RowID: e.rows[1].ID, Filename: "x.pdf", SHA256: fmt.Sprint("sha", e.rows[0].ID), Category: "c", Subject: "s"}, []byte("%PDF"))
	var dup *DuplicateError
	if !errors.As(err, &dup) || dup.RowID != e.rows[0].ID {
		t.Fatalf("err %v", err)
	}
}

// A pause ends the wait between passes at once: the engine lets go of the
// job (and the truth read-back can start) without sitting out the wait,
// which is an hour here.
func TestPauseEndsTheWaitBetweenPasses(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	e.reg.mu.Lock()
	e.reg.deliverAfter = time.Hour // the credited row keeps waiting for delivery
	e.reg.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	eng := NewEngine(ctx, e.st, e.reg, e.eng.audit, Options{PassBackoff: time.Hour, DeliveryDelay: time.Millisecond, MaxPasses: 4})
	waiting := make(chan struct{}, 1)
	eng.betweenPasses = func(int64) {
		select {
		case waiting <- struct{}{}:
		default:
		}
	}
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx, e.job.ID) }()
	t.Cleanup(func() { cancel(); <-done })
	select { // the first pass found the row not delivered; the run waits
	case <-waiting:
	case <-time.After(time.Minute): // bounds a failure
		t.Fatal("the run never waited between passes")
	}
	if err := (&Wizard{Store: e.st, Engine: eng}).Pause(context.Background(), e.job.ID, Actor{Email: "a@example.com"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute): // bounds a failure: without the wake-up the run waits an hour
		t.Fatal("the run still waits between passes after the pause")
	}
}
