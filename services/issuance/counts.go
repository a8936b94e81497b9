package issuance

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// StatusCounts counts a search's investments per status (the search without
// its status filters, so each status checkbox says what choosing it would
// add). The API has no grouped count, so it is one small call per status
// (page_size=1, the count only): 11 calls. They are made concurrently,
// shared by concurrent requests for the same search, and kept for a short
// while, so choosing statuses, sorting and paging, which leave the counted
// search as it is, cost no call at all.
//
// Counts are background work: at most maxCountLoads searches are counted
// at once (more distinct searches at once get ErrCountsUnavailable at
// once, not a queue), a load lives no longer than the context the cache
// was made with, and Close cancels the loads and waits for them (their
// calls write audit rows: they must end before the audit store closes).
type StatusCounts struct {
	client *Client
	ttl    time.Duration
	now    func() time.Time
	life   context.Context // cancelled: loads stop
	stop   context.CancelFunc
	slots  chan struct{} // one per load running
	loads  sync.WaitGroup

	mu      sync.Mutex
	entries map[string]*countsEntry
	closed  bool
}

// ErrCountsUnavailable: the counts are not counted now (too many searches
// being counted at once, or the console is stopping). The search page
// shows its status checkboxes without counts, as for a failed count.
var ErrCountsUnavailable = errors.New("status counts unavailable right now")

// maxCountLoads bounds the searches counted at once: each is 11 calls, at
// most 6 at a time, so at most 24 count calls are in flight together; a
// burst of distinct searches (many users typing filters) asks the API no
// more than that.
const maxCountLoads = 4

type countsEntry struct {
	done   chan struct{} // closed when counts or err is set
	at     time.Time
	counts map[string]int
	err    error
}

// maxCountEntries bounds the cache; expired entries go first.
const maxCountEntries = 256

// NewStatusCounts returns a cache of counts kept ttl. Its loads end when
// ctx is cancelled or Close is called.
func NewStatusCounts(ctx context.Context, c *Client, ttl time.Duration, now func() time.Time) *StatusCounts {
	if now == nil {
		now = time.Now
	}
	life, stop := context.WithCancel(ctx)
	return &StatusCounts{client: c, ttl: ttl, now: now, life: life, stop: stop,
		slots: make(chan struct{}, maxCountLoads), entries: map[string]*countsEntry{}}
}

// Close cancels the loads in progress and waits for them to end; Get
// answers ErrCountsUnavailable afterwards.
func (s *StatusCounts) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.loads.Wait()
}

// countsBase is what is counted: q without its status filters, page,
// ordering and page size.
func countsBase(q url.Values) url.Values {
	base := url.Values{}
	for k, v := range q {
		switch k {
		case "status", "status__in", "page", "ordering", "page_size":
			continue
		}
		base[k] = v
	}
	return base
}

// Cached returns the counts of q's search if they are known and fresh,
// without any call.
func (s *StatusCounts) Cached(q url.Values) (map[string]int, bool) {
	key := countsBase(q).Encode()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[key]
	if e == nil || !s.fresh(e) {
		return nil, false
	}
	select {
	case <-e.done:
		return e.counts, e.err == nil
	default:
		return nil, false
	}
}

func (s *StatusCounts) fresh(e *countsEntry) bool { return s.now().Sub(e.at) < s.ttl }

func (e *countsEntry) loading() bool {
	select {
	case <-e.done:
		return false
	default:
		return true
	}
}

// Get returns the counts of q's search: cached, or joined to a count in
// progress, or counted now. A failure is not kept. The calls are made
// with ctx's values (the audit actor) but not its cancellation, since
// other requests may be waiting for them: they end with the cache's
// context (shutdown) or after a minute.
func (s *StatusCounts) Get(ctx context.Context, q url.Values) (map[string]int, error) {
	base := countsBase(q)
	key := base.Encode()
	s.mu.Lock()
	e := s.entries[key]
	if e == nil || (!s.fresh(e) && !e.loading()) {
		if s.closed {
			s.mu.Unlock()
			return nil, ErrCountsUnavailable
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.mu.Unlock()
			return nil, ErrCountsUnavailable
		}
		e = &countsEntry{done: make(chan struct{}), at: s.now()}
		s.evictLocked()
		s.entries[key] = e
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		stop := context.AfterFunc(s.life, cancel)
		s.loads.Add(1)
		go func() {
			defer s.loads.Done()
			defer func() { <-s.slots }()
			defer cancel()
			defer stop()
			s.count(lctx, key, base, e)
		}()
	}
	s.mu.Unlock()
	select {
	case <-e.done:
		return e.counts, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *StatusCounts) count(ctx context.Context, key string, base url.Values, e *countsEntry) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	counts := make([]int, len(Statuses))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(6) // polite to the API; enough to take about two calls' time
	for i, st := range Statuses {
		g.Go(func() error {
			sq := url.Values{}
			for k, v := range base {
				sq[k] = v
			}
			sq.Set("status", st.Value)
			sq.Set("page_size", "1")
			page, err := s.client.ListInvestmentsQuery(gctx, sq)
			counts[i] = page.Count
			return err
		})
	}
	err := g.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		e.err = err
		if s.entries[key] == e {
			delete(s.entries, key)
		}
	} else {
		e.counts = make(map[string]int, len(Statuses))
		for i, st := range Statuses {
			e.counts[st.Value] = counts[i]
		}
	}
	close(e.done)
}

// evictLocked keeps the cache bounded: expired entries go, then, if still
// full, the oldest finished one. A loading entry stays (requests wait on
// it; its load holds a slot): there are at most maxCountLoads of them.
func (s *StatusCounts) evictLocked() {
	if len(s.entries) < maxCountEntries {
		return
	}
	var oldest string
	var oldestAt time.Time
	for k, e := range s.entries {
		if e.loading() {
			continue
		}
		if !s.fresh(e) {
			delete(s.entries, k)
			continue
		}
		if oldest == "" || e.at.Before(oldestAt) {
			oldest, oldestAt = k, e.at
		}
	}
	if len(s.entries) >= maxCountEntries && oldest != "" {
		delete(s.entries, oldest)
	}
}
