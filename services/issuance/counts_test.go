package issuance

import (
	"context"
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
	sc := NewStatusCounts(c, 20*time.Second, clock.Now)

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
