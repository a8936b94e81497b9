package offerings

import (
	"container/list"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// cache keeps API answers for a short time, shared by every user (the
// answers depend on the console's credentials, which are part of each key,
// not on who asks: personal data is masked when a page is rendered). It
// holds at most max entries, dropping the least recently used, and
// concurrent requests for a missing or expired entry share one load.
type cache[V any] struct {
	ttl time.Duration // 0: every request loads (still shared while in flight)
	max int
	// unshared: every request loads on its own, nothing shared (the
	// benchmarks' baseline: the console before this cache).
	unshared bool
	now      func() time.Time

	mu    sync.Mutex
	items map[string]*list.Element // of *cached[V]
	lru   *list.List               // front = most recently used
	loads map[string]*flight       // loads in progress, by key
	group singleflight.Group

	waiting atomic.Int64 // callers waiting for a shared load right now

	// Loads end with the cache: close cancels those in progress (their
	// calls write audit rows, and the audit log closes after it) and waits
	// for them; none starts afterwards.
	life   context.Context
	end    context.CancelFunc
	closed bool // guarded by mu
	inLoad sync.WaitGroup
}

// ErrClosed: the console is stopping, nothing is loaded any more.
var ErrClosed = errors.New("offerings: the console is stopping")

// flight is one load in progress; forget marks it stale so that its
// answer, older than the refresh, is not kept.
type flight struct{ stale bool }

type cached[V any] struct {
	key string
	val V
	at  time.Time // when the load started: the data is at least this fresh
}

func newCache[V any](ttl time.Duration, max int, now func() time.Time) *cache[V] {
	life, end := context.WithCancel(context.Background())
	return &cache[V]{ttl: ttl, max: max, now: now, items: map[string]*list.Element{}, lru: list.New(), loads: map[string]*flight{},
		life: life, end: end}
}

// close cancels the loads in progress, waits for them, and refuses new ones.
func (c *cache[V]) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.end()
	c.inLoad.Wait()
}

func (c *cache[V]) setUnshared(u bool) { c.unshared = u }

// peek returns a fresh entry without loading.
func (c *cache[V]) peek(key string) (V, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		e := el.Value.(*cached[V])
		if c.now().Sub(e.at) < c.ttl {
			c.lru.MoveToFront(el)
			return e.val, e.at, true
		}
	}
	var zero V
	return zero, time.Time{}, false
}

// get returns the entry, loading it when missing or expired. The load runs
// detached from the caller's cancellation (one browser closing its tab
// must not fail the others waiting for the same answer); the API client's
// timeout bounds it. A caller whose context ends stops waiting.
func (c *cache[V]) get(ctx context.Context, key string, load func(context.Context) (V, error)) (V, time.Time, error) {
	if v, at, ok := c.peek(key); ok {
		return v, at, nil
	}
	if c.unshared {
		at := c.now()
		v, err := load(ctx)
		return v, at, err
	}
	ch := c.group.DoChan(key, func() (any, error) {
		f := &flight{}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		c.loads[key] = f
		c.inLoad.Add(1)
		c.mu.Unlock()
		defer c.inLoad.Done()
		// Detached from the caller, not from the cache's life; the
		// caller's values (the audit actor) are kept.
		lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		defer cancel()
		defer context.AfterFunc(c.life, cancel)()
		at := c.now()
		v, err := load(lctx)
		e := &cached[V]{key: key, val: v, at: at}
		c.store(e, f, err == nil) // errors are not kept: the next request asks again
		if err != nil {
			return nil, err
		}
		return e, nil
	})
	c.waiting.Add(1)
	defer c.waiting.Add(-1)
	select {
	case r := <-ch:
		if r.Err != nil {
			var zero V
			return zero, time.Time{}, r.Err
		}
		e := r.Val.(*cached[V])
		return e.val, e.at, nil
	case <-ctx.Done():
		var zero V
		return zero, time.Time{}, ctx.Err()
	}
}

func (c *cache[V]) store(e *cached[V], f *flight, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loads[e.key] == f {
		delete(c.loads, e.key)
	}
	if !ok || f.stale || c.ttl <= 0 {
		return
	}
	if el, ok := c.items[e.key]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
	} else {
		c.items[e.key] = c.lru.PushFront(e)
	}
	for c.lru.Len() > max(c.max, 1) {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.items, old.Value.(*cached[V]).key)
	}
}

// forget drops an entry older than minAge, so the next request loads it
// again; a load already running for it will not store its answer. A
// younger entry is kept: a refresh pressed twice, or by several people at
// once, costs one load. It reports whether the entry was dropped.
func (c *cache[V]) forget(key string, minAge time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		if c.now().Sub(el.Value.(*cached[V]).at) < minAge {
			return false
		}
		c.lru.Remove(el)
		delete(c.items, key)
	}
	if f, ok := c.loads[key]; ok {
		f.stale = true
		delete(c.loads, key)
	}
	c.group.Forget(key)
	return true
}

// len is the number of entries kept.
func (c *cache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}
