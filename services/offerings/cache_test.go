package offerings

import (
	"context"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"issuerconsole/db"
	emu "issuerconsole/sandbox/issuance"
	"issuerconsole/services/audit"
	"issuerconsole/services/issuance"
)

// upstream is the Issuance emulator behind a handler that counts the
// requests it answers and can hold them until released.
type upstream struct {
	e     *emu.Emulator
	srv   *httptest.Server
	audit *audit.Store

	mu    sync.Mutex
	paths []string
	gate  chan struct{} // nil: answer at once
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	ctx := context.Background()
	sd, err := db.OpenRaw(ctx, filepath.Join(t.TempDir(), "sandbox.db"), db.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	e, err := emu.Open(ctx, sd, emu.Options{Seed: 3, Investments: 1500})
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{e: e}
	h := e.Handler()
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.paths = append(u.paths, r.URL.Path+"?"+r.URL.RawQuery)
		gate := u.gate
		u.mu.Unlock()
		if gate != nil {
			<-gate
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	u.audit = audit.NewStore(d, nil)
	return u
}

func (u *upstream) client(t *testing.T, keys ...string) *issuance.Client {
	t.Helper()
	if len(keys) == 0 {
		keys = []string{emu.DefaultAPIKey}
	}
	c, err := issuance.New(issuance.Options{BaseURL: u.srv.URL + "/", APIKeys: keys, FirebaseToken: emu.DefaultFirebaseToken, AllowHTTP: true, Audit: u.audit})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (u *upstream) calls() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.paths)
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// biggest is the offering with the most investments (the most pages).
func biggest(t *testing.T, c *issuance.Client) int64 {
	t.Helper()
	ctx := context.Background()
	offs, err := c.ListOfferings(ctx, issuance.OfferingFilter{}, issuance.PageOpts{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	var best int64
	most := -1
	for _, o := range offs.Results {
		p, err := c.ListInvestmentsQuery(ctx, map[string][]string{"offering": {strconv.FormatInt(o.ID, 10)}, "page_size": {"1"}})
		if err != nil {
			t.Fatal(err)
		}
		if p.Count > most {
			best, most = o.ID, p.Count
		}
	}
	if most <= pageSize {
		t.Fatalf("the biggest offering has %d investments: one page, nothing to fan out", most)
	}
	return best
}

// Twenty concurrent views of one offering make one upstream round: the
// calls of a single load, not twenty times them.
func TestConcurrentViewsShareOneLoad(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	c := u.client(t)
	id := biggest(t, c)

	// One load alone, to know what a round costs.
	alone, err := NewWithOptions(c, nil, Options{TTL: time.Minute, MaxOfferings: 8}).Overview(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if alone.Calls < 4 {
		t.Fatalf("a load took %d calls; the test needs an offering with several pages", alone.Calls)
	}

	s := NewWithOptions(c, nil, Options{TTL: time.Minute, MaxOfferings: 8})
	gate := make(chan struct{})
	u.mu.Lock()
	u.gate = gate
	u.mu.Unlock()
	before := u.calls()
	const n = 20
	var wg sync.WaitGroup
	var failed atomic.Int32
	results := make([]Overview, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ov, err := s.Overview(context.Background(), id)
			if err != nil {
				t.Error(err)
				failed.Add(1)
			}
			results[i] = ov
		}()
	}
	// Every caller is waiting on the shared load before the upstream
	// answers anything (the deadline only bounds a failure).
	for deadline := time.Now().Add(60 * time.Second); s.overviews.waiting.Load() < n; {
		if time.Now().After(deadline) {
			close(gate)
			wg.Wait()
			t.Fatalf("%d of %d callers joined the load", s.overviews.waiting.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
	u.mu.Lock()
	u.gate = nil
	u.mu.Unlock()
	close(gate)
	wg.Wait()
	if failed.Load() > 0 {
		t.FailNow()
	}
	if got := u.calls() - before; got != alone.Calls {
		t.Fatalf("%d concurrent views made %d upstream calls; one load makes %d", n, got, alone.Calls)
	}
	for i, r := range results {
		if r.Funnel.Committed.Amount.Cmp(alone.Funnel.Committed.Amount) != 0 || r.Calls != alone.Calls {
			t.Fatalf("view %d: committed %s in %d calls, alone %s in %d", i, r.Funnel.Committed.Amount.FloatString(2), r.Calls,
				alone.Funnel.Committed.Amount.FloatString(2), alone.Calls)
		}
	}
}

// A kept overview is served without calls until it expires; its "as of"
// is when it was read; a refresh reads again unless the answer is only
// seconds old; the cache holds at most MaxOfferings offerings.
func TestCacheExpiresRefreshesAndIsBounded(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	c := u.client(t)
	clk := &clock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	s := NewWithOptions(c, clk.now, Options{TTL: 30 * time.Second, MaxOfferings: 2})
	ctx := context.Background()

	view := func(id int64) (Overview, int) {
		t.Helper()
		before := u.calls()
		ov, err := s.Overview(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return ov, u.calls() - before
	}
	first, calls := view(1)
	if calls == 0 || calls != first.Calls || !first.AsOf.Equal(clk.now()) {
		t.Fatalf("first view: %d calls (reported %d), as of %s", calls, first.Calls, first.AsOf)
	}
	clk.add(29 * time.Second)
	if again, calls := view(1); calls != 0 || !again.AsOf.Equal(first.AsOf) {
		t.Fatalf("within the TTL: %d calls, as of %s (first %s)", calls, again.AsOf, first.AsOf)
	}
	clk.add(time.Second)
	expired, calls := view(1)
	if calls == 0 || !expired.AsOf.Equal(clk.now()) {
		t.Fatalf("after the TTL: %d calls, as of %s, want %s", calls, expired.AsOf, clk.now())
	}
	// The offering itself was kept with it: the frame and the money share it.
	before := u.calls()
	if _, _, err := s.Offering(ctx, 1); err != nil || u.calls() != before {
		t.Fatalf("the offering was read again (%v)", err)
	}

	clk.add(time.Second) // younger than MinRefreshAge: a refresh keeps it
	s.Refresh(1)
	if _, calls := view(1); calls != 0 {
		t.Fatalf("a refresh of a 1-second-old answer cost %d calls", calls)
	}
	clk.add(MinRefreshAge)
	s.Refresh(1)
	refreshed, calls := view(1)
	if calls != refreshed.Calls || calls == 0 || !refreshed.AsOf.Equal(clk.now()) {
		t.Fatalf("after a refresh: %d calls (reported %d), as of %s", calls, refreshed.Calls, refreshed.AsOf)
	}

	for _, id := range []int64{2, 3, 4} {
		view(id)
	}
	if n := s.overviews.len(); n != 2 {
		t.Fatalf("%d overviews kept, bound 2", n)
	}
	if n := s.offers.len(); n != 2 {
		t.Fatalf("%d offerings kept, bound 2", n)
	}
	if _, calls := view(1); calls == 0 {
		t.Fatal("the least recently used offering was not the one dropped")
	}
}

// With TTL 0 nothing is kept: every view reads the API.
func TestNoTTLKeepsNothing(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	s := NewWithOptions(u.client(t), nil, Options{TTL: 0, MaxOfferings: 2})
	for range 2 {
		before := u.calls()
		if _, err := s.Overview(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		if u.calls() == before {
			t.Fatal("a view with TTL 0 was served from the cache")
		}
	}
}

// A load that a refresh overtook does not store its older answer.
func TestRefreshDuringALoadDropsItsAnswer(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	c := newCache[int](time.Minute, 4, clk.now)
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan int)
	go func() {
		v, _, _ := c.get(context.Background(), "k", func(context.Context) (int, error) {
			close(started)
			<-release
			return 1, nil
		})
		done <- v
	}()
	<-started
	if !c.forget("k", 0) {
		t.Fatal("forget refused")
	}
	close(release)
	if v := <-done; v != 1 {
		t.Fatalf("the waiting caller got %d", v)
	}
	v, _, err := c.get(context.Background(), "k", func(context.Context) (int, error) { return 2, nil })
	if err != nil || v != 2 {
		t.Fatalf("after the refresh: %d (%v), want the new load's 2", v, err)
	}
}

// The summary counts committed money with the same statuses as the
// funnel's Committed step, so the list, the dashboard and the page agree;
// the totals add up the offerings' figures.
func TestSummaryMatchesTheFunnel(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	c := u.client(t)
	s := New(c, nil)
	ctx := context.Background()
	offs, _, err := s.All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	each := s.CommittedEach(ctx, offs)
	sum := new(big.Rat)
	for i, o := range offs {
		if each[i].Err != nil {
			t.Fatal(each[i].Err)
		}
		ov, err := s.Overview(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		if each[i].Amount == nil || each[i].Amount.Cmp(ov.Funnel.Committed.Amount) != 0 {
			t.Errorf("offering %d: summary %v, funnel %s", o.ID, each[i].Amount, ov.Funnel.Committed.Amount.FloatString(2))
			continue
		}
		if got, want := each[i].Percent, ov.Funnel.Targets[0].Percent; got != want {
			t.Errorf("offering %d: %% of minimum %v in the list, %v on the page", o.ID, got, want)
		}
		sum.Add(sum, each[i].Amount)
	}
	totals, err := s.CommittedTotals(ctx, offs)
	if err != nil {
		t.Fatal(err)
	}
	if len(totals) != 1 || totals[0].Currency != "USD" || totals[0].Amount.Cmp(sum) != 0 || totals[0].Offerings != len(offs) {
		t.Fatalf("totals %+v, want USD %s over %d offerings", totals, sum.FloatString(2), len(offs))
	}
	if sum.Sign() <= 0 {
		t.Fatal("nothing committed: the comparison proves nothing")
	}
}

// Clients with other credentials see other data: their visibility differs.
func TestVisibilityFollowsTheCredentials(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	all, again := u.client(t), u.client(t)
	keys := u.e.APIKeys()
	one := u.client(t, keys[0].Key)
	if all.Visibility() != again.Visibility() {
		t.Fatal("the same credentials give two visibilities")
	}
	if all.Visibility() == one.Visibility() || strings.Contains(one.Visibility(), keys[0].Key) {
		t.Fatalf("visibility %q for an offering's key", one.Visibility())
	}
}

// Without a Firebase credential the summary withholds the amount: the
// list then shows none, unless the offering's page counted it; the totals
// say it is missing rather than adding up part of it.
func TestWithheldAmount(t *testing.T) {
	t.Parallel()
	u := newUpstream(t)
	c, err := issuance.New(issuance.Options{BaseURL: u.srv.URL + "/", APIKey: emu.DefaultAPIKey, AllowHTTP: true, Audit: u.audit})
	if err != nil {
		t.Fatal(err)
	}
	s := New(c, nil)
	ctx := context.Background()
	o, _, err := s.Offering(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Committed(ctx, o)
	if err != nil || got.Amount != nil || got.Investors <= 0 {
		t.Fatalf("anonymous summary: amount %v, %d investors (%v)", got.Amount, got.Investors, err)
	}
	totals, err := s.CommittedTotals(ctx, []issuance.Offering{o})
	if err != nil || len(totals) != 1 || totals[0].Amount != nil {
		t.Fatalf("totals with a withheld amount: %+v (%v)", totals, err)
	}
	ov, err := s.Overview(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.Committed(ctx, o)
	if err != nil || got.Amount == nil || got.Amount.Cmp(ov.Funnel.Committed.Amount) != 0 || !got.AsOf.Equal(ov.AsOf) {
		t.Fatalf("after the page counted it: %v as of %s (%v), the page %s as of %s", got.Amount, got.AsOf, err, ov.Funnel.Committed.Amount.FloatString(2), ov.AsOf)
	}
}
