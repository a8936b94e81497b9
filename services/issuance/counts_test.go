package issuance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"issuerconsole/db"
	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
)

// countingIssuance answers every list with count = the length of its status
// parameter's value times 10 (+1 with search=more), and counts the calls;
// failing makes it answer 500.
func countingIssuance(t *testing.T) (*Client, *atomic.Int64, *atomic.Bool) {
	t.Helper()
	var calls atomic.Int64
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if failing.Load() {
			w.WriteHeader(500)
			return
		}
		n := len(r.URL.Query().Get("status")) * 10
		if r.URL.Query().Get("search") == "more" {
			n++
		}
		fmt.Fprintf(w, `{"count":%d,"next":null,"previous":null,"results":[]}`, n)
	}))
	t.Cleanup(srv.Close)
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c, err := New(Options{BaseURL: srv.URL + "/", APIKey: "k", AllowHTTP: true, Audit: audit.NewStore(d, nil),
		Retry: apiclient.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return c, &calls, &failing
}

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
func q(s string) url.Values              { v, _ := url.ParseQuery(s); return v }
func wantCalls(t *testing.T, n *atomic.Int64, want int64) {
	t.Helper()
	if got := n.Load(); got != want {
		t.Fatalf("%d calls, want %d", got, want)
	}
}

func TestStatusCountsSharedCachedAndNotKeptWhenFailed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, calls, failing := countingIssuance(t)
	clock := &testClock{t: time.Now()}
	sc := NewStatusCounts(context.Background(), c, 20*time.Second, clock.Now)
	t.Cleanup(sc.Close)

	if _, ok := sc.Cached(q("amount__gte=5")); ok {
		t.Fatal("counts known before any count")
	}
	// Eight requests at once for the same search: one count, 11 calls.
	var wg sync.WaitGroup
	results := make([]map[string]int, 8)
	for i := range results {
		wg.Go(func() {
			m, err := sc.Get(ctx, q("amount__gte=5&page=2&status__in=accepted"))
			if err != nil {
				t.Error(err)
			}
			results[i] = m
		})
	}
	wg.Wait()
	wantCalls(t, calls, int64(len(Statuses)))
	for _, m := range results {
		if m["accepted"] != 80 || m["invested"] != 80 || m["not_received"] != 120 || len(m) != len(Statuses) {
			t.Fatalf("counts %v", m)
		}
	}
	// Statuses, page, order and page size do not change what is counted.
	if m, ok := sc.Cached(q("amount__gte=5&ordering=-amount&page_size=50&status=invested")); !ok || m["accepted"] != 80 {
		t.Fatalf("cached %v %v", m, ok)
	}
	// Other filters do.
	if _, ok := sc.Cached(q("amount__gte=5&search=more")); ok {
		t.Fatal("counts of another search shown")
	}
	if m, err := sc.Get(ctx, q("amount__gte=5&search=more")); err != nil || m["accepted"] != 81 {
		t.Fatalf("other search: %v %v", m, err)
	}
	wantCalls(t, calls, 2*int64(len(Statuses)))
	// After the TTL: counted again.
	clock.Add(21 * time.Second)
	if _, ok := sc.Cached(q("amount__gte=5")); ok {
		t.Fatal("stale counts shown")
	}
	// A failure is not kept: the next request tries again.
	failing.Store(true)
	if _, err := sc.Get(ctx, q("amount__gte=5")); err == nil {
		t.Fatal("no error from a failing API")
	}
	failing.Store(false)
	if _, ok := sc.Cached(q("amount__gte=5")); ok {
		t.Fatal("a failed count is shown")
	}
	before := calls.Load()
	if m, err := sc.Get(ctx, q("amount__gte=5")); err != nil || m["accepted"] != 80 {
		t.Fatalf("after a failure: %v %v", m, err)
	}
	wantCalls(t, calls, before+int64(len(Statuses)))
}

// blockingIssuance answers no list until release is closed or the call's
// context ends; it tracks how many distinct searches (the query without
// status and page size) are being counted at once, at most, and tells
// started of each call.
type blockingIssuance struct {
	release chan struct{}
	started chan string

	mu       sync.Mutex
	inFlight map[string]int
	most     int
}

func newBlockingIssuance(t *testing.T) (*Client, *blockingIssuance) {
	t.Helper()
	b := &blockingIssuance{release: make(chan struct{}), started: make(chan string, 1000), inFlight: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		search := countsBase(r.URL.Query()).Encode()
		b.mu.Lock()
		b.inFlight[search]++
		b.most = max(b.most, len(b.inFlight))
		b.mu.Unlock()
		defer func() {
			b.mu.Lock()
			if b.inFlight[search]--; b.inFlight[search] == 0 {
				delete(b.inFlight, search)
			}
			b.mu.Unlock()
		}()
		b.started <- search
		select {
		case <-b.release:
			fmt.Fprint(w, `{"count":1,"next":null,"previous":null,"results":[]}`)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c, err := New(Options{BaseURL: srv.URL + "/", APIKey: "k", AllowHTTP: true, Audit: audit.NewStore(d, nil),
		Retry: apiclient.RetryPolicy{MaxAttempts: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return c, b
}

// Many distinct searches at once: at most maxCountLoads are counted, the
// others answer ErrCountsUnavailable at once (no queue), and a search
// being counted is joined, not refused.
func TestStatusCountsLoadsCapped(t *testing.T) {
	t.Parallel()
	c, up := newBlockingIssuance(t)
	sc := NewStatusCounts(context.Background(), c, 20*time.Second, nil)
	t.Cleanup(sc.Close)
	const searches = 20
	type result struct {
		m   map[string]int
		err error
	}
	results := make(chan result, searches+1)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range searches {
		wg.Go(func() {
			m, err := sc.Get(context.Background(), q(fmt.Sprintf("amount__gte=%d", i)))
			results <- result{m, err}
		})
	}
	// The refused ones answer while the others are still blocked upstream.
	bound := time.NewTimer(time.Minute) // only bounds a failure: refusals are immediate
	defer bound.Stop()
	for i := range searches - maxCountLoads {
		select {
		case r := <-results:
			if !errors.Is(r.err, ErrCountsUnavailable) {
				t.Fatalf("got %v %v, want ErrCountsUnavailable while %d searches are counted", r.m, r.err, maxCountLoads)
			}
		case <-bound.C:
			close(up.release)
			t.Fatalf("%d searches refused, want %d: the others were all counted at once", i, searches-maxCountLoads)
		}
	}
	// A request for a search being counted joins it.
	first := <-up.started
	wg.Go(func() {
		m, err := sc.Get(context.Background(), q(first))
		results <- result{m, err}
	})
	close(up.release)
	for range maxCountLoads + 1 {
		if r := <-results; r.err != nil || len(r.m) != len(Statuses) {
			t.Fatalf("counted search: %v %v", r.m, r.err)
		}
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.most > maxCountLoads {
		t.Fatalf("%d searches counted at once, want at most %d", up.most, maxCountLoads)
	}
}

// Close cancels the loads in progress (the upstream answers only when the
// call's context ends) and returns once they have ended; no load starts
// afterwards.
func TestStatusCountsCloseCancelsAndWaits(t *testing.T) {
	t.Parallel()
	c, up := newBlockingIssuance(t)
	sc := NewStatusCounts(context.Background(), c, 20*time.Second, nil)
	got := make(chan error, 1)
	go func() {
		_, err := sc.Get(context.Background(), q("amount__gte=5"))
		got <- err
	}()
	<-up.started // the load is upstream, blocked
	sc.Close()
	sc.mu.Lock()
	var loading []string
	for k, e := range sc.entries {
		if e.loading() {
			loading = append(loading, k)
		}
	}
	sc.mu.Unlock()
	if len(loading) != 0 || len(sc.slots) != 0 {
		t.Fatalf("after Close: %d loads still running (%v)", len(sc.slots), loading)
	}
	if err := <-got; err == nil {
		t.Fatal("a cancelled count answered no error")
	}
	if _, err := sc.Get(context.Background(), q("amount__gte=6")); !errors.Is(err, ErrCountsUnavailable) {
		t.Fatalf("Get after Close: %v, want ErrCountsUnavailable", err)
	}
}

// The cache's context ending (the App's shutdown) cancels loads too.
func TestStatusCountsEndWithTheirContext(t *testing.T) {
	t.Parallel()
	c, up := newBlockingIssuance(t)
	ctx, cancel := context.WithCancel(context.Background())
	sc := NewStatusCounts(ctx, c, 20*time.Second, nil)
	t.Cleanup(sc.Close)
	got := make(chan error, 1)
	go func() {
		_, err := sc.Get(context.Background(), q("amount__gte=5"))
		got <- err
	}()
	<-up.started
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("load after its context ended: %v, want context.Canceled", err)
	}
}

// A full cache evicts a finished entry, never one still loading (requests
// wait on it and its load holds a slot).
func TestStatusCountsKeepsLoadingEntries(t *testing.T) {
	t.Parallel()
	c, up := newBlockingIssuance(t)
	clock := &testClock{t: time.Now()}
	sc := NewStatusCounts(context.Background(), c, 20*time.Second, clock.Now)
	t.Cleanup(sc.Close)
	got := make(chan error, 2)
	go func() {
		_, err := sc.Get(context.Background(), q("amount__gte=1"))
		got <- err
	}()
	<-up.started
	loadingKey := q("amount__gte=1").Encode()
	// The cache fills with finished, fresh entries, all newer than the load.
	clock.Add(time.Second)
	sc.mu.Lock()
	for i := len(sc.entries); i < maxCountEntries; i++ {
		done := make(chan struct{})
		close(done)
		sc.entries[fmt.Sprintf("amount__gte=%d", 1000+i)] = &countsEntry{done: done, at: clock.Now(), counts: map[string]int{}}
	}
	sc.mu.Unlock()
	go func() {
		_, err := sc.Get(context.Background(), q("amount__gte=2"))
		got <- err
	}()
	for s := range up.started { // the new search upstream: its Get has evicted
		if s == "amount__gte=2" {
			break
		}
	}
	sc.mu.Lock()
	_, kept := sc.entries[loadingKey]
	n := len(sc.entries)
	sc.mu.Unlock()
	close(up.release)
	for range 2 {
		if err := <-got; err != nil {
			t.Fatal(err)
		}
	}
	if !kept || n > maxCountEntries {
		t.Fatalf("loading entry kept: %v; %d entries (at most %d)", kept, n, maxCountEntries)
	}
}
