package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"issuerconsole/db"
	"issuerconsole/services/cashlink"
)

var driverSeq atomic.Int64

// countingDB opens a console database (synchronous=FULL, as shipped) whose
// every committed write transaction, on any pooled connection, adds one to
// the returned counter (SQLite's commit hook).
func countingDB(t *testing.T) (*sql.DB, string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	name := fmt.Sprintf("sqlite3-commits-%d", driverSeq.Add(1))
	sql.Register(name, &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		c.RegisterCommitHook(func() int { n.Add(1); return 0 })
		return nil
	}})
	path := filepath.Join(t.TempDir(), "console.db")
	d, err := sql.Open(name, db.DSN(path, db.SyncFull))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	migs, err := db.ParseMigrations(db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(context.Background(), d, "console", migs); err != nil {
		t.Fatal(err)
	}
	return d, path, &n
}

// A row's import commits a handful of transactions, not one per write:
// the three keys (document, investment, credit) each durable before their
// call, the row credited and waiting for delivery (shown as such), and the
// row's end; outcomes, steps, the reservation and the document's id ride
// along. Before the ledger writer: about 15 per row
// (26 with the audit rows of a real run). One worker: no two rows share a
// commit, so this is the bound without group commit's help.
func TestCommitsPerRow(t *testing.T) {
	t.Parallel()
	for _, workers := range []int{1, 8} {
		t.Run(fmt.Sprintf("%d workers", workers), func(t *testing.T) {
			t.Parallel()
			d, _, commits := countingDB(t)
			const rows = 24
			e := setupDB(t, d, rows)
			e.eng.opt.Workers = workers
			e.eng.delivery.est = time.Millisecond
			before := commits.Load()
			got := e.run(t)
			for _, r := range got {
				if r.State != RowDone {
					t.Fatalf("row %+v", r)
				}
			}
			per := float64(commits.Load()-before) / rows
			c, w := e.eng.Commits()
			t.Logf("%d workers: %.2f commits per row (%d writer transactions carrying %d writes)", workers, per, c, w)
			if per > 5.5 { // 5 writes a row, and the job's own few
				t.Fatalf("%.2f commits per row, want at most 5.5", per)
			}
		})
	}
}

// Every creating call's key and fingerprint are committed before the call
// goes out, with eight workers sharing group commits: a fake Cashlink
// reads the ledger through a connection of its own as each call arrives.
func TestKeyDurableBeforeCall(t *testing.T) {
	t.Parallel()
	d, path, _ := countingDB(t)
	e := setupDB(t, d, 40)
	e.eng.opt.Workers = 8
	e.eng.delivery.est = time.Millisecond
	other, err := sql.Open("sqlite3", db.DSN(path, db.SyncFull))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	var mu sync.Mutex
	var missing []string
	checked := 0
	e.reg.onCreate = func(k cashlink.Key) {
		var fp string
		err := other.QueryRow(`SELECT fingerprint FROM import_calls WHERE key = ?`, string(k)).Scan(&fp)
		mu.Lock()
		defer mu.Unlock()
		checked++
		if err != nil || fp == "" {
			missing = append(missing, fmt.Sprintf("%s (%v)", k, err))
		}
	}
	e.run(t)
	if len(missing) > 0 {
		t.Fatalf("%d of %d calls arrived before their key was committed: %s", len(missing), checked, strings.Join(missing, ", "))
	}
	if checked != 3*40 {
		t.Fatalf("%d creating calls checked, want %d", checked, 3*40)
	}
	if e.reg.created["investment"] != 40 || e.reg.created["credit"] != 40 || e.reg.created["document"] != 40 {
		t.Fatalf("created %v", e.reg.created)
	}
}

// Writes queued while a batch commits go out together in the next one,
// and each caller returns only once its own write is visible to others.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	d, path, commits := countingDB(t)
	w := newLedgerWriter(d)
	other, err := sql.Open("sqlite3", db.DSN(path, db.SyncFull))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	if _, err := d.Exec(`CREATE TABLE gc (n INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	insert := func(n int) ledgerStep {
		return func(ctx context.Context, tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO gc (n) VALUES (?)`, n)
			return err
		}
	}
	release, entered := make(chan struct{}), make(chan struct{})
	first := make(chan error, 1)
	go func() {
		// The first write leads, and holds its batch open until released.
		first <- w.write(func(ctx context.Context, tx *sql.Tx) error {
			close(entered)
			<-release
			return insert(0)(ctx, tx)
		})
	}()
	<-entered
	const n = 15
	errs := make(chan error, n)
	for i := 1; i <= n; i++ {
		go func() {
			err := w.write(insert(i))
			if err == nil {
				var one int
				err = other.QueryRow(`SELECT 1 FROM gc WHERE n = ?`, i).Scan(&one)
			}
			errs <- err
		}()
	}
	// Bounds a failure only: the writes are queued behind the held batch.
	deadline := time.Now().Add(60 * time.Second)
	for {
		w.mu.Lock()
		queued := len(w.queue)
		w.mu.Unlock()
		if queued == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued, want %d", queued, n)
		}
		time.Sleep(time.Millisecond)
	}
	before := commits.Load()
	close(release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := commits.Load() - before; got != 2 {
		t.Fatalf("%d commits for 1 + %d queued writes, want 2 (the held batch and one for the rest)", got, n)
	}
	// A failing step rolls back only its own op; the batch commits.
	err = w.write(insert(100))
	bad := w.write(insert(101), func(ctx context.Context, tx *sql.Tx) error { return fmt.Errorf("refused") }, insert(102))
	if err != nil || bad == nil || !strings.Contains(bad.Error(), "refused") {
		t.Fatalf("writes: %v, %v", err, bad)
	}
	var count int
	other.QueryRow(`SELECT count(*) FROM gc WHERE n >= 100`).Scan(&count)
	if count != 2 {
		t.Fatalf("%d rows of the ops with a failing step, want 2 (the step before the failure stays, the one after never runs)", count)
	}
}

// The status is read once delivery can have happened, and the worker goes
// on meanwhile: with one worker, the next row's credit comes before the
// first row's status read, and no read finds the credit not delivered.
func TestStatusReadWhenDelivered(t *testing.T) {
	t.Parallel()
	e := setup(t, 4)
	e.eng.opt.Workers = 1
	e.reg.deliverAfter = 200 * time.Millisecond
	e.eng.delivery.est = 600 * time.Millisecond
	rows := e.run(t)
	for _, r := range rows {
		if r.State != RowDone {
			t.Fatalf("row %+v", r)
		}
	}
	e.reg.mu.Lock()
	log := append([]string(nil), e.reg.log...)
	e.reg.mu.Unlock()
	reads, credits, firstRead := 0, 0, -1
	for i, l := range log {
		switch {
		case strings.HasPrefix(l, "status "):
			reads++
			if firstRead < 0 {
				firstRead = i
			}
			if !strings.HasSuffix(l, cashlink.StatusDelivered) {
				t.Errorf("a status read found %q", l)
			}
		case strings.HasPrefix(l, "credit "):
			if firstRead < 0 {
				credits++
			}
		}
	}
	if reads != len(rows) {
		t.Fatalf("%d status reads for %d rows, want one each: %v", reads, len(rows), log)
	}
	if credits < 2 {
		t.Fatalf("the worker waited for the first row's delivery: calls %v", log)
	}
}

// A row's queued writes survive a failed durable write: they are written
// with the row's next one instead of being dropped (a busy database must
// not lose a call's outcome or the Cashlink id of an imported investment).
func TestFailedSaveKeepsQueuedWrites(t *testing.T) {
	t.Parallel()
	e := setup(t, 1)
	ctx := context.Background()
	if _, err := e.st.db.Exec(`CREATE TABLE queued (n INTEGER)`); err != nil {
		t.Fatal(err)
	}
	rows, err := e.st.Rows(ctx, e.job.ID)
	if err != nil {
		t.Fatal(err)
	}
	rr := &rowRun{row: rows[0]}
	rr.later(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO queued (n) VALUES (1)`)
		return err
	})
	failing := func(context.Context, *sql.Tx) error { return errors.New("database is locked") }
	if err := e.eng.save(rr, failing); err == nil {
		t.Fatal("a failing write reported no error")
	}
	if len(rr.pending) != 1 {
		t.Fatalf("%d queued writes after a failed save, want the 1 queued before it", len(rr.pending))
	}
	if err := e.eng.save(rr); err != nil {
		t.Fatal(err)
	}
	if len(rr.pending) != 0 {
		t.Fatalf("%d queued writes after a successful save", len(rr.pending))
	}
	var n int
	if err := e.st.db.QueryRow(`SELECT count(*) FROM queued`).Scan(&n); err != nil || n < 1 {
		t.Fatalf("the queued write never landed: %d rows, %v", n, err)
	}
}
