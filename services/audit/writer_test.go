package audit

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// manualTimer stands in for time.After: the test sees each delay the writer
// asks for and decides when it has passed.
type manualTimer struct {
	asked chan time.Duration
	fire  chan time.Time
}

func newManualTimer() *manualTimer {
	return &manualTimer{asked: make(chan time.Duration, 16), fire: make(chan time.Time)}
}

func (m *manualTimer) After(d time.Duration) <-chan time.Time {
	m.asked <- d
	return m.fire
}

// rowsOnDisk counts the rows written, bypassing the store (whose reads
// write the queue first).
func rowsOnDisk(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM audit_log`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func readRow(i int) Entry {
	return Entry{API: "issuance", Method: "GET", Path: fmt.Sprintf("/api/investments/?page=%d", i), Status: 200}
}

func TestWriterCommitsWithinTheFlushDelay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	tm := newManualTimer()
	s.StartWriter(WriterOptions{FlushDelay: 40 * time.Millisecond, After: tm.After})
	t.Cleanup(func() { s.Close() })

	for i := range 3 {
		if err := s.Enqueue(ctx, readRow(i)); err != nil {
			t.Fatal(err)
		}
	}
	if d := <-tm.asked; d != 40*time.Millisecond {
		t.Fatalf("the writer waits %v, want the flush delay 40ms", d)
	}
	if n := rowsOnDisk(t, s); n != 0 {
		t.Fatalf("%d rows written before the delay passed, want 0 (one group commit after it)", n)
	}
	tm.fire <- time.Now() // the delay has passed
	deadline := time.Now().Add(60 * time.Second)
	for rowsOnDisk(t, s) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of 3 rows written a minute after the flush delay passed", rowsOnDisk(t, s))
		}
		time.Sleep(time.Millisecond) // polling an observable condition; the deadline only bounds a failure
	}
	// The next row starts a new delay.
	if err := s.Enqueue(ctx, readRow(3)); err != nil {
		t.Fatal(err)
	}
	<-tm.asked
	if n := rowsOnDisk(t, s); n != 3 {
		t.Fatalf("%d rows on disk, want 3 until the second delay passes", n)
	}
}

func TestWriterFlushesOnClose(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	tm := newManualTimer() // never fires: only Close writes
	s.StartWriter(WriterOptions{After: tm.After})
	for i := range 5 {
		if err := s.Enqueue(ctx, readRow(i)); err != nil {
			t.Fatal(err)
		}
	}
	<-tm.asked
	if n := rowsOnDisk(t, s); n != 0 {
		t.Fatalf("%d rows written, want 0 before Close", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := rowsOnDisk(t, s); n != 5 {
		t.Fatalf("%d rows written at Close, want 5", n)
	}
	if res, err := s.Verify(ctx); err != nil || !res.Intact || res.Rows != 5 {
		t.Fatalf("verify after Close: %+v %v", res, err)
	}
	// After Close a read call's row is written at once.
	if err := s.Enqueue(ctx, readRow(5)); err != nil {
		t.Fatal(err)
	}
	if n := rowsOnDisk(t, s); n != 6 {
		t.Fatalf("%d rows after Close and one more read, want 6", n)
	}
}

func TestWriterFlushesAFullBatchAtOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	tm := newManualTimer() // never fires
	s.StartWriter(WriterOptions{After: tm.After, MaxBatch: 4})
	t.Cleanup(func() { s.Close() })
	for i := range 4 {
		if err := s.Enqueue(ctx, readRow(i)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for rowsOnDisk(t, s) != 4 {
		if time.Now().After(deadline) {
			t.Fatal("a full batch was not written without waiting for the delay")
		}
		time.Sleep(time.Millisecond)
	}
}

// Rows handed over in an order (queued reads, then an Append, by the same
// goroutine) keep that order in the chain, whatever other goroutines do at
// the same time; the chain verifies.
func TestWriterKeepsChainOrderUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	s.StartWriter(WriterOptions{FlushDelay: time.Millisecond, MaxBatch: 7})
	const goroutines, perG = 8, 60
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				e := Entry{API: "issuance", Method: "GET", Path: fmt.Sprintf("/g%d/%03d", g, i), Status: 200}
				var err error
				if i%5 == 4 { // every fifth row is a creating call, synchronous
					e.Method = "POST"
					_, err = s.Append(ctx, e)
				} else {
					err = s.Enqueue(ctx, e)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := s.Verify(ctx)
	if err != nil || !res.Intact || res.Rows != goroutines*perG {
		t.Fatalf("verify: %+v %v", res, err)
	}
	last := map[string]string{}
	rows, err := s.db.Query(`SELECT path FROM audit_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		g, seq, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		if seq <= last[g] {
			t.Fatalf("goroutine %s: row %s after row %s in the chain", g, seq, last[g])
		}
		last[g] = seq
	}
}

// Creating calls stay synchronous: their row is on disk when the client
// gets the answer. A read's row is queued, yet every read of the log sees
// it at once.
func TestTransportQueuesReadsOnlyAndReadsSeeThem(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	tm := newManualTimer() // never fires
	s.StartWriter(WriterOptions{After: tm.After})
	t.Cleanup(func() { s.Close() })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id": 7, "status": "ok"}`)
	}))
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: &Transport{Store: s, API: "cashlink", Policy: WritesInFull}}

	get := func() {
		res, err := hc.Get(srv.URL + "/v2/investments/7")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	get()
	if n := rowsOnDisk(t, s); n != 0 {
		t.Fatalf("a read's row was committed on the request path (%d rows)", n)
	}
	res, err := hc.Post(srv.URL+"/v2/investments/", "application/json", strings.NewReader(`{"units": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// The POST's row is on disk before the client saw the answer, after
	// the GET queued before it.
	if n := rowsOnDisk(t, s); n != 2 {
		t.Fatalf("%d rows on disk after the POST, want 2 (the queued GET, then the POST)", n)
	}
	var methods []string
	rows, err := s.db.Query(`SELECT method FROM audit_log ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var m string
		rows.Scan(&m)
		methods = append(methods, m)
	}
	rows.Close()
	if strings.Join(methods, ",") != "GET,POST" {
		t.Fatalf("chain order %v, want GET,POST", methods)
	}

	get()
	p, err := s.List(ctx, Filter{}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 3 || p.Entries[0].Method != "GET" {
		t.Fatalf("the log page shows %d rows (newest %+v), want 3 with the queued GET first", len(p.Entries), p.Entries)
	}
}

// A read of the log right after a call sees its row, also while the
// background writer is committing the batch that holds it.
func TestReadsSeeRowsTheWriterIsCommitting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	tm := newManualTimer()
	s.StartWriter(WriterOptions{After: tm.After})
	t.Cleanup(func() { s.Close() })
	for i := range 100 {
		if err := s.Enqueue(ctx, readRow(i)); err != nil {
			t.Fatal(err)
		}
		<-tm.asked
		tm.fire <- time.Now() // the writer takes the batch and commits it, while we read
		p, err := s.List(ctx, Filter{}, 0, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Entries) != 1 || p.Entries[0].Path != readRow(i).Path {
			t.Fatalf("after row %d the newest row is %+v", i, p.Entries)
		}
	}
}

// A read's answer is summarised by the writer, not on the request's path,
// and the row holds the same summary; a large answer is summarised at once.
func TestReadSummaryTakenByTheWriter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	tm := newManualTimer()
	s.StartWriter(WriterOptions{After: tm.After})
	t.Cleanup(func() { s.Close() })
	small := `{"count":2,"next":null,"previous":null,"results":[{"id":11},{"id":12}]}`
	large := `{"count":1,"results":[{"id":7,"name":"` + strings.Repeat("x", maxDeferredBody) + `"}]}`
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("large") {
			w.Write([]byte(large))
			return
		}
		w.Write([]byte(small))
	}))
	t.Cleanup(api.Close)
	var mu sync.Mutex
	summarised := 0
	policy := func(r *http.Request, status int, body []byte) string {
		mu.Lock()
		summarised++
		mu.Unlock()
		return SummaryOnly(r, status, body)
	}
	calls := func() int { mu.Lock(); defer mu.Unlock(); return summarised }
	cl := &http.Client{Transport: &Transport{Store: s, API: "issuance", Policy: policy}}
	for _, q := range []string{"", "?large=1"} {
		res, err := cl.Get(api.URL + "/api/investments/" + q)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	<-tm.asked // both rows are queued
	if n := calls(); n != 1 {
		t.Fatalf("%d answers summarised on the requests' path, want 1 (the large one)", n)
	}
	page, err := s.List(ctx, Filter{}, 0, 10) // writes the queue first
	if err != nil || len(page.Entries) != 2 {
		t.Fatalf("%d rows, err %v", len(page.Entries), err)
	}
	if n := calls(); n != 2 {
		t.Fatalf("%d answers summarised once written, want 2", n)
	}
	for _, want := range []struct {
		id   int64
		body string
	}{{1, `{"count":2,"ids":[11,12]}`}, {2, `{"count":1,"ids":[7]}`}} {
		if e, _ := s.Get(ctx, want.id); e.ResponseBody != want.body {
			t.Errorf("row %d keeps %q, want %q", want.id, e.ResponseBody, want.body)
		}
	}
	if v, err := s.Verify(ctx); err != nil || !v.Intact {
		t.Fatalf("chain %+v, err %v", v, err)
	}
}

// The answers queued rows keep for their summaries are bounded: past
// maxDeferredBytes an answer is summarised at once. A HEAD answer (a
// length, no body) reads as empty, and a policy that panics costs the row
// its summary, not the writer.
func TestDeferredSummariesBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	tm := newManualTimer()
	s.StartWriter(WriterOptions{After: tm.After, MaxBatch: 100_000})
	t.Cleanup(func() { s.Close() })
	body := `{"count":1,"results":[{"id":5,"pad":"` + strings.Repeat("x", 60<<10) + `"}]}`
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		if r.Method == http.MethodHead {
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(api.Close)
	var mu sync.Mutex
	now := 0
	policy := func(r *http.Request, status int, b []byte) string {
		if r.URL.Query().Has("panic") {
			panic("policy bug")
		}
		mu.Lock()
		now++
		mu.Unlock()
		return SummaryOnly(r, status, b)
	}
	cl := &http.Client{Transport: &Transport{Store: s, API: "issuance", Policy: policy}}
	const calls = 200 // 200 × 60 KB: well past the 8 MB the queue may hold
	for range calls {
		res, err := cl.Get(api.URL + "/api/investments/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	<-tm.asked
	mu.Lock()
	early := now
	mu.Unlock()
	if held := s.q.deferred.Load(); held > maxDeferredBytes || held == 0 {
		t.Fatalf("queued rows hold %d bytes of answers, want some and at most %d", held, maxDeferredBytes)
	}
	if early == 0 || early == calls {
		t.Fatalf("%d of %d answers summarised before the flush, want those past the budget only", early, calls)
	}
	res, err := cl.Head(api.URL + "/api/investments/")
	if err != nil {
		t.Fatalf("HEAD with a length and no body: %v", err)
	}
	res.Body.Close()
	if res, err = cl.Get(api.URL + "/api/investments/?panic=1"); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	page, err := s.List(ctx, Filter{}, 0, 1) // writes the queue
	if err != nil || len(page.Entries) != 1 || page.Entries[0].ID != calls+2 {
		t.Fatalf("newest row %+v, err %v; want row %d", page.Entries, err, calls+2)
	}
	if held := s.q.deferred.Load(); held != 0 {
		t.Fatalf("%d bytes still counted once every row is written", held)
	}
	if e, _ := s.Get(ctx, calls); e.ResponseBody != `{"count":1,"ids":[5]}` {
		t.Fatalf("row %d keeps %q", calls, e.ResponseBody)
	}
	if e, _ := s.Get(ctx, calls+2); e.ResponseBody != `{"summary":"failed"}` {
		t.Fatalf("the panicking policy's row keeps %q", e.ResponseBody)
	}
}

// A batch that cannot be written stays queued, in order: the writer
// reports it, read calls fail (as an unaudited call would) and so do reads
// of the log, until a write succeeds; then every row is there, in the
// order handed over, and the chain is intact.
func TestWriterFailureKeepsTheQueue(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := newStore(t)
	tm := newManualTimer()
	failed := make(chan error, 8)
	s.StartWriter(WriterOptions{After: tm.After, OnError: func(err error) { failed <- err }})
	t.Cleanup(func() { s.Close() })
	for i := range 3 {
		if err := s.Enqueue(ctx, readRow(i)); err != nil {
			t.Fatal(err)
		}
	}
	<-tm.asked
	if _, err := s.db.Exec(`CREATE TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(FAIL, 'disk full'); END`); err != nil {
		t.Fatal(err)
	}
	tm.fire <- time.Now()
	if err := <-failed; !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("the writer reported %v", err)
	}
	if err := s.Enqueue(ctx, readRow(3)); err == nil {
		t.Fatal("a read call was recorded as queued while the queue cannot be written")
	}
	if _, err := s.List(ctx, Filter{}, 0, 10); err == nil {
		t.Fatal("the log was read without the calls already answered")
	}
	if n := rowsOnDisk(t, s); n != 0 {
		t.Fatalf("%d rows written while every insert fails", n)
	}
	if _, err := s.db.Exec(`DROP TRIGGER refuse`); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue(ctx, readRow(4)); err != nil {
		t.Fatalf("after the database recovered: %v", err)
	}
	page, err := s.List(ctx, Filter{}, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range page.Entries {
		paths = append([]string{e.Path}, paths...) // newest first
	}
	want := []string{"/api/investments/?page=0", "/api/investments/?page=1", "/api/investments/?page=2", "/api/investments/?page=4"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("rows in the log: %v, want %v (the failed read call not recorded, the rest in order)", paths, want)
	}
	if v, err := s.Verify(ctx); err != nil || !v.Intact {
		t.Fatalf("chain %+v, err %v", v, err)
	}
}
