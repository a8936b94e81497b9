package importer

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"issuerconsole/services/apiclient"
)

// fakeClock is a clock the test moves (no sleeps).
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func quietThrottle(r rate.Limit, c *fakeClock) *Throttle {
	return NewThrottle(r, 20, c.Now, slog.New(slog.DiscardHandler))
}

// simulate runs an engine against a server with a token bucket of limit
// calls per second (burst: one second's worth, like the emulator's
// ratelimit fault), answering after latency, 429 with Retry-After 1 s above
// the limit; workers bound the calls in flight. It returns, for the time
// after warmup, the accepted calls per second and the share of 429s.
func simulate(t *testing.T, th *Throttle, c *fakeClock, limit float64, workers int, latency, total, warmup time.Duration) (float64, float64) {
	t.Helper()
	const dt = time.Millisecond
	type answer struct {
		at time.Time
		tk Ticket
		ok bool
	}
	var inflight []answer
	tokens, credit := limit, 0.0
	start := c.Now()
	var okAfter, refusedAfter int
	for c.Now().Sub(start) < total {
		now := c.Now()
		tokens = min(limit, tokens+limit*dt.Seconds())
		// Answers due now.
		keep := inflight[:0]
		for _, a := range inflight {
			if a.at.After(now) {
				keep = append(keep, a)
				continue
			}
			if a.ok {
				th.Done(a.tk)
			} else {
				th.SlowDown(time.Second)
			}
		}
		inflight = keep
		// Calls the throttle lets out now (the rate limiter's bucket is
		// modelled by credit, as the workers would wait on it).
		tk, pause := th.admit()
		cur, _ := th.State()
		if pause <= 0 {
			credit = min(credit+float64(cur)*dt.Seconds(), 20)
		}
		for pause <= 0 && credit >= 1 && len(inflight) < workers {
			credit--
			ok := tokens >= 1
			if ok {
				tokens--
			}
			if now.Sub(start) >= warmup {
				if ok {
					okAfter++
				} else {
					refusedAfter++
				}
			}
			inflight = append(inflight, answer{at: now.Add(latency), tk: tk, ok: ok})
		}
		c.Advance(dt)
	}
	secs := (total - warmup).Seconds()
	return float64(okAfter) / secs, float64(refusedAfter) / float64(okAfter+refusedAfter)
}

// The Throttle finds a server's limit from its 429s and stays just under
// it: from a ceiling four times too high, after the first ten seconds it
// sustains ≥ 90 % of the limit with ≤ 1 % of calls refused (the goal the
// import benchmark checks against the emulator, here on a fake clock).
func TestThrottleFindsTheLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		limit   float64
		latency time.Duration
	}{
		{"50/s at 100ms", 50, 100 * time.Millisecond},
		{"50/s at 10ms", 50, 10 * time.Millisecond},
		{"20/s at 100ms", 20, 100 * time.Millisecond},
		{"120/s at 50ms", 120, 50 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newFakeClock()
			th := quietThrottle(200, c)
			got, refused := simulate(t, th, c, tt.limit, DefaultWorkers, tt.latency, 130*time.Second, 10*time.Second)
			if got < 0.9*tt.limit || refused > 0.01 {
				t.Fatalf("after 10 s: %.1f accepted calls/s (%.0f %% of the limit), %.2f %% refused; want ≥ 90 %% and ≤ 1 %%; limit estimate %v",
					got, 100*got/tt.limit, 100*refused, th.Limit())
			}
			t.Logf("%.1f calls/s (%.0f %%), %.2f %% refused, estimate %.1f", got, 100*got/tt.limit, 100*refused, float64(th.Limit()))
		})
	}
}

// Without a limit the configured rate is the ceiling: never exceeded.
func TestThrottleStaysUnderTheCeiling(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	th := quietThrottle(40, c)
	got, refused := simulate(t, th, c, 1000, DefaultWorkers, 100*time.Millisecond, 30*time.Second, 5*time.Second)
	if got > 40.5 || got < 38 || refused != 0 {
		t.Fatalf("%.1f calls/s, %.2f %% refused; want just 40 and none", got, 100*refused)
	}
}

// One overshoot is one correction: the 429s of calls already in flight
// change nothing more, and the estimate is what the server accepted since
// the last episode (pause included), not a collapse.
func TestThrottleOneEpisodeOneCorrection(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	th := quietThrottle(200, c)
	th.admit() // the first call starts the measurement
	// First episode: no anchor, so at least halved.
	c.Advance(500 * time.Millisecond)
	for range 100 { // 200/s accepted: the start's full bucket hides the limit
		th.Done(Ticket{})
	}
	th.SlowDown(time.Second)
	if r, n := th.State(); r != 100*headroom || n != 1 {
		t.Fatalf("after the first 429: rate %v after %d, want %v", r, n, 100*headroom)
	}
	for range 10 {
		c.Advance(10 * time.Millisecond)
		th.SlowDown(time.Second) // in flight
	}
	if r, n := th.State(); r != 100*headroom || n != 11 {
		t.Fatalf("after in-flight 429s: rate %v after %d, want unchanged %v", r, n, 100*headroom)
	}
	// Second episode 4 s later with 160 answers accepted since the first:
	// the server allows 40/s.
	c.Advance(4*time.Second - 100*time.Millisecond)
	for range 160 {
		th.Done(Ticket{})
	}
	th.SlowDown(time.Second)
	if got := th.Limit(); got != 40 {
		t.Fatalf("estimate %v, want 40", got)
	}
	if r, _ := th.State(); r != 40*headroom {
		t.Fatalf("rate %v, want %v", r, 40*headroom)
	}
	// Quiet: back to the estimate at once, then after probeEvery a probe
	// above it; never above the ceiling.
	c.Advance(2 * time.Second)
	th.admit()
	if r, _ := th.State(); r != 40*headroom {
		t.Fatalf("rate %v after a quiet while, want %v", r, 40*headroom)
	}
	c.Advance(probeEvery)
	th.admit()
	if got := th.Limit(); got != 40*probeStep {
		t.Fatalf("estimate %v after %s quiet, want %v", got, probeEvery, 40*probeStep)
	}
	// A pause honours Retry-After: Wait gives up when ctx ends.
	th.SlowDown(time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := th.Wait(ctx); err == nil {
		t.Fatal("Wait returned during the Retry-After pause")
	}
}

// Latency rising well above the fastest seen (the server queueing) lowers
// the rate before any 429; back to normal, it climbs again.
func TestThrottleBacksOffOnLatency(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	th := quietThrottle(100, c)
	call := func(d time.Duration) {
		tk, _ := th.admit()
		c.Advance(d)
		th.Done(tk)
	}
	for range 40 {
		call(50 * time.Millisecond)
	}
	if r, _ := th.State(); r != 100 {
		t.Fatalf("rate %v at a steady latency, want the ceiling", r)
	}
	// The lowest rate while latency rises (the rate may climb back once
	// cuts stop lowering latency: TestThrottleMixedLatencyIsNotQueueing).
	slow := rate.Limit(100)
	for range 40 {
		call(400 * time.Millisecond)
		r, _ := th.State()
		slow = min(slow, r)
	}
	if slow >= 100 {
		t.Fatalf("rate %v while latency went from 50 ms to 400 ms, want lower", slow)
	}
	for range 200 {
		call(50 * time.Millisecond)
	}
	if r, _ := th.State(); r <= slow {
		t.Fatalf("rate %v after latency recovered, want above %v", r, slow)
	}
}

// simulateMix runs workers against a server without a limit and without
// queueing: each call's latency is the server's own, kind(i) for the i-th
// call (and whether the engine reports it as an upload: Accepted, not
// sampled). It returns the lowest rate the Throttle ran at after warmup
// and the rate at the end.
func simulateMix(th *Throttle, c *fakeClock, workers int, total, warmup time.Duration, kind func(i int) (time.Duration, bool)) (lowest, last rate.Limit) {
	const dt = time.Millisecond
	type answer struct {
		at     time.Time
		tk     Ticket
		upload bool
	}
	var inflight []answer
	credit, n := 0.0, 0
	start := c.Now()
	lowest, _ = th.State()
	for c.Now().Sub(start) < total {
		now := c.Now()
		keep := inflight[:0]
		for _, a := range inflight {
			switch {
			case a.at.After(now):
				keep = append(keep, a)
			case a.upload:
				th.Accepted(a.tk)
			default:
				th.Done(a.tk)
			}
		}
		inflight = keep
		tk, _ := th.admit()
		cur, _ := th.State()
		if now.Sub(start) >= warmup {
			lowest = min(lowest, cur)
		}
		credit = min(credit+float64(cur)*dt.Seconds(), 20)
		for credit >= 1 && len(inflight) < workers {
			credit--
			lat, upload := kind(n)
			n++
			inflight = append(inflight, answer{at: now.Add(lat), tk: tk, upload: upload})
		}
		c.Advance(dt)
	}
	last, _ = th.State()
	return lowest, last
}

// Rows with large documents: uploads take ~1 s, the other calls ~100 ms,
// at a constant server latency (nothing queues, the rate causes nothing).
// The latency back-off must not ratchet the rate down: it used to average
// uploads with the rest against the all-time fastest answer, and cut 10 %
// every second for good (to ceiling/64 within ~40 s). Whether the engine
// leaves uploads out of the samples or not (every call reported by Done:
// a mix of slower and faster calls), the rate stays ≥ 50 % of the ceiling
// and ends back at it.
func TestThrottleMixedLatencyIsNotQueueing(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		reports bool // uploads reported as uploads (Accepted)
	}{
		{"uploads left out", true},
		{"uploads sampled", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newFakeClock()
			th := quietThrottle(200, c)
			lowest, last := simulateMix(th, c, DefaultWorkers, 120*time.Second, 0, func(i int) (time.Duration, bool) {
				if i%3 == 0 {
					return time.Second, tt.reports
				}
				return 100 * time.Millisecond, false
			})
			if lowest < 100 || last != 200 {
				t.Fatalf("rate fell to %v (want ≥ 50 %% of the ceiling 200) and ended at %v (want 200); %d latency cuts", lowest, last, th.cuts)
			}
			t.Logf("lowest %v, last %v, %d latency cuts", float64(lowest), float64(last), th.cuts)
		})
	}
}

// The fastest answer is that of the last half minute or so: one lucky
// answer long ago does not set the bar for good.
func TestThrottleFastestDecays(t *testing.T) {
	t.Parallel()
	c := newFakeClock()
	th := quietThrottle(100, c)
	call := func(d time.Duration) {
		tk, _ := th.admit()
		c.Advance(d)
		th.Done(tk)
	}
	call(5 * time.Millisecond)
	for range 700 { // 70 s at 100 ms
		call(100 * time.Millisecond)
	}
	if got := th.fastest(); got != 100*time.Millisecond {
		t.Fatalf("fastest %v after 70 s of 100 ms answers, want 100ms (the 5 ms one has aged out)", got)
	}
	if r, _ := th.State(); r != 100 {
		t.Fatalf("rate %v at a steady latency, want the ceiling", r)
	}
}

// The engine reports each answer so that only a small call's success is a
// latency sample: an upload (its body's time) and an error answer count
// toward the limit estimate only, and a 429/503 (SlowDown's) not at all.
func TestEngineAnswersSampleOnlySmallSuccesses(t *testing.T) {
	t.Parallel()
	refused := &apiclient.Error{API: "cashlink", Status: http.StatusBadRequest}
	for _, tt := range []struct {
		name              string
		err               error
		upload            bool
		accepted, samples int
	}{
		{"small call answered", nil, false, 1, 1},
		{"upload answered", nil, true, 1, 0},
		{"error answer", refused, false, 1, 0},
		{"upload refused", refused, true, 1, 0},
		{"throttled", &apiclient.Error{API: "cashlink", Status: http.StatusTooManyRequests}, false, 0, 0},
		{"transport error", errors.New("connection reset"), false, 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newFakeClock()
			e := &Engine{limiter: quietThrottle(100, c)}
			tk, _ := e.limiter.admit()
			c.Advance(time.Second)
			e.answered(tk, tt.err, tt.upload)
			if th := e.limiter; th.accepted != tt.accepted || th.samples != tt.samples {
				t.Fatalf("accepted %d, samples %d; want %d, %d", th.accepted, th.samples, tt.accepted, tt.samples)
			}
		})
	}
}
