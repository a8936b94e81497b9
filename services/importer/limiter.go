package importer

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the engine's throughput (config.DefaultImportWorkers and
// DefaultImportRate are the same numbers), chosen by BenchmarkImport
// (README, "Benchmarks"):
//
//   - Workers bound the calls in flight, so the rate one import reaches is
//     about Workers / Cashlink's latency. At a realistic 100 ms per request
//     16 workers reach ~150 calls/s, which with the status read off the
//     worker slots imports 1,000 rows more than 10× faster than the guide's
//     sequential flow; 8 workers gave about half that. More than 16 buys
//     little on the 2-core box (the console's own CPU and fsyncs become the
//     bound) and only makes the first probe of an unknown limit harsher.
//   - Rate is a ceiling, not a target: Cashlink publishes no limit, so the
//     Throttle finds it (429 / Retry-After, latency) and stays just under
//     it. 200 calls/s leaves the workers, not the ceiling, as the bound at
//     100 ms and is still a polite first guess against an unknown server.
const (
	DefaultWorkers = 16
	DefaultRate    = 200 // Cashlink calls per second across workers, at most
)

// The Throttle's tuning. Each is a trade-off measured with the emulator's
// ratelimit fault (BenchmarkImport) and simulated in TestThrottleFindsTheLimit.
const (
	// adjustEvery: the rate changes at most this often (about ten round
	// trips at 100 ms: enough answers to measure).
	adjustEvery = time.Second
	// headroom: the share of the found limit the engine runs at. Below 1 so
	// the server's bucket refills between bursts; 0.95 keeps ≥ 90 % of the
	// limit even after a conservative estimate.
	headroom = 0.95
	// probeEvery: each this long without a 429 at the found limit, the
	// estimate is raised by probeStep: the estimate may be low (a server
	// that was sent less than it allows accepts less than it allows), or
	// the server may allow more now. Small steps: an overshoot then
	// drains the server's bucket slowly, so episodes come about every
	// half minute at a steady limit, each a few 429s (the calls in
	// flight) and one Retry-After pause: well under 1 % of calls refused,
	// and the rate between 95 % and 100 % of the limit.
	probeEvery = 5 * time.Second
	probeStep  = 1.02
	// A smoothed latency above slowFactor × the fastest seen lately (and
	// at least slowMargin more) means the server queues: the engine backs
	// off by slowBackoff per adjustEvery before any 429. Only small calls
	// with a success answer are sampled (Done; uploads and error answers
	// go to Accepted): an upload's time is its body's, not the queue's.
	slowFactor  = 2.0
	slowMargin  = 25 * time.Millisecond
	slowBackoff = 0.9
	minSamples  = 20
	// fastestWindow: "the fastest seen" is the minimum over the last one
	// to two windows, so one lucky answer long ago does not set the bar
	// for good (a server whose normal latency grew is not queueing).
	fastestWindow = 30 * time.Second
	// A back-off that does not lower latency is not curing queueing the
	// rate causes (latency that is the server's own, or a mix of slower
	// calls): after futileCuts cuts in a row, each leaving the smoothed
	// latency above improved × the one at the cut before, the Throttle
	// holds: no further cut, the rate climbs back as if latency were
	// normal, until latency clearly grows again (above holdWorse × where
	// it held) or falls back to normal (the hold ends).
	futileCuts = 2
	improved   = 0.95
	holdWorse  = 1.5
)

// Throttle is the engine's shared, adaptive rate limit: it finds the API's
// limit and stays just under it.
//
//   - A 429 (or 503 with Retry-After), reported by the Cashlink client for
//     whichever caller met it, pauses every worker until the Retry-After
//     has passed. The first one of an episode also estimates the limit:
//     the answers the server accepted since the previous episode began,
//     per second of that time (pause included). A server's bucket is
//     empty when it starts refusing, both then and now, and refilled
//     during the pause what it allowed: so this is its rate, whatever its
//     burst. The first episode has no such anchor (the run began with a
//     full bucket): it also at least halves the rate. The engine then
//     runs at headroom × the estimate. Further 429s of the same episode
//     (calls already in flight) change nothing more: one overshoot is one
//     correction, not a collapse.
//   - Without 429s the rate climbs back (×1.25 per adjustEvery) to
//     headroom × the estimate, or to the configured ceiling while no limit
//     is known, and every probeEvery at the estimate it raises the estimate
//     by probeStep.
//   - Rising latency (the server queueing) lowers the rate before 429s do:
//     the smoothed latency of small, successful calls against the fastest
//     of the last half minute or so. Bounded: when cuts do not lower the
//     latency, the rate is not what causes it, and the Throttle holds and
//     climbs back (futileCuts).
//
// The configured rate (-import-rate) is a ceiling the engine never exceeds.
type Throttle struct {
	full  rate.Limit
	floor rate.Limit
	now   func() time.Time
	log   *slog.Logger
	lim   *rate.Limiter

	mu           sync.Mutex
	cur          rate.Limit // what the limiter runs at
	limit        rate.Limit // estimate of the API's limit; 0: none seen
	pausedUntil  time.Time
	episodeUntil time.Time // 429s before this belong to the episode acted on
	changed      time.Time // last adjustment
	quietSince   time.Time // at the estimate without a 429 since
	measureFrom  time.Time // first call, then the last episode's start
	accepted     int       // answers accepted since measureFrom
	slowdowns    int       // 429/503 answers reported
	episodes     int       // limit estimates made
	events       uint64
	smooth       time.Duration
	samples      int
	// Windowed minimum latency: fastest of the current and previous window.
	minCur, minPrev time.Duration // 0: no sample in that window
	minFrom         time.Time     // the current window's start
	// Latency back-off's bound (see futileCuts).
	cutAt  time.Duration // smoothed latency at the last latency cut; 0: none
	futile int           // cuts in a row that did not lower latency
	holdAt time.Duration // holding at this latency; 0: not holding
	cuts   int           // latency cuts made (for tests and logs)
}

// NewThrottle limits to at most r calls per second with bursts of burst.
func NewThrottle(r rate.Limit, burst int, now func() time.Time, log *slog.Logger) *Throttle {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Throttle{full: r, floor: max(r/64, 0.1), now: now, log: log, cur: r, lim: rate.NewLimiter(r, burst), changed: now()}
}

// Wait blocks until a call may be made. The result is handed to Done when
// the call has been answered.
func (t *Throttle) Wait(ctx context.Context) (Ticket, error) {
	tk, pause := t.admit()
	if pause > 0 {
		tm := time.NewTimer(pause)
		defer tm.Stop()
		select {
		case <-ctx.Done():
			return tk, ctx.Err()
		case <-tm.C:
		}
	}
	if err := t.lim.Wait(ctx); err != nil {
		return tk, err
	}
	tk.start = t.now()
	return tk, nil
}

// admit adjusts the rate and says how long the Retry-After pause lasts.
func (t *Throttle) admit() (Ticket, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.adjust(now)
	if t.measureFrom.IsZero() {
		t.measureFrom = now
	}
	return Ticket{events: t.events, start: now}, t.pausedUntil.Sub(now)
}

// Ticket is one call's pass through the Throttle.
type Ticket struct {
	start  time.Time
	events uint64 // slow-downs reported when the call started
}

// Done records that the call of tk, a small one, got a success answer.
// Its latency feeds the queueing signal unless a slow-down happened
// meanwhile (the client then waited out a Retry-After inside the call).
func (t *Throttle) Done(tk Ticket) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.accepted++
	if tk.start.IsZero() || tk.events != t.events {
		return
	}
	t.sample(now, now.Sub(tk.start))
}

// Accepted records an answer the server accepted (any but a throttling
// one: those are reported by SlowDown) whose latency says nothing about
// queueing: an upload (its time is its body's) or an error answer (often
// answered before any work). It counts toward the limit estimate only.
func (t *Throttle) Accepted(Ticket) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.accepted++
}

func (t *Throttle) sample(now time.Time, d time.Duration) {
	if now.Sub(t.minFrom) >= fastestWindow {
		t.minPrev, t.minCur, t.minFrom = t.minCur, 0, now
	}
	if t.minCur == 0 || d < t.minCur {
		t.minCur = max(d, 1) // 0 means none
	}
	if t.samples == 0 {
		t.smooth = d
	} else {
		t.smooth = (9*t.smooth + d) / 10
	}
	t.samples++
}

// fastest is the fastest answer of the last one to two fastestWindows.
func (t *Throttle) fastest() time.Duration {
	if t.minPrev == 0 || (t.minCur != 0 && t.minCur < t.minPrev) {
		return t.minCur
	}
	return t.minPrev
}

// queueing says whether the smoothed latency is well above the fastest.
func (t *Throttle) queueing() bool {
	f := t.fastest()
	return t.samples >= minSamples && t.smooth > time.Duration(slowFactor*float64(f)) && t.smooth-f > slowMargin
}

// latencyCut says whether to cut the rate for latency now, and keeps the
// back-off bounded: cuts that do not lower latency lead to a hold.
func (t *Throttle) latencyCut() bool {
	if !t.queueing() {
		t.cutAt, t.futile, t.holdAt = 0, 0, 0 // latency normal: a fresh start
		return false
	}
	if t.holdAt > 0 {
		if t.smooth <= time.Duration(holdWorse*float64(t.holdAt)) {
			return false
		}
		t.holdAt = 0 // clearly worse since the hold: cut again
		t.cutAt, t.futile = 0, 0
	}
	if t.cutAt > 0 && t.smooth > time.Duration(improved*float64(t.cutAt)) {
		t.futile++
	} else {
		t.futile = 0
	}
	if t.futile >= futileCuts {
		t.holdAt, t.futile = t.smooth, 0
		t.log.Info("import latency did not fall with the rate: latency back-off paused",
			"latency", t.smooth, "fastest", t.fastest(), "calls_per_s", float64(t.cur))
		return false
	}
	t.cutAt = t.smooth
	t.cuts++
	return true
}

// SlowDown is told of a 429 or 503 with Retry-After (0: none given).
func (t *Throttle) SlowDown(retryAfter time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	t.slowdowns++
	t.events++
	until := now.Add(retryAfter)
	if until.After(t.pausedUntil) {
		t.pausedUntil = until
	}
	grace := max(2*t.smooth, 100*time.Millisecond) // answers to calls already sent
	if now.Before(t.episodeUntil) {
		// In flight when the episode began: already acted on.
		t.episodeUntil = later(t.episodeUntil, t.pausedUntil.Add(grace))
		return
	}
	// What the server accepted since the last episode began: its limit,
	// seen from here (never above what was sent).
	est := t.cur
	if el := now.Sub(t.measureFrom); !t.measureFrom.IsZero() && el > 0 {
		est = min(est, rate.Limit(float64(t.accepted)/el.Seconds()))
	}
	if t.episodes == 0 {
		est = min(est, t.cur/2)
	}
	t.limit = max(est, t.floor)
	t.episodes++
	t.measureFrom, t.accepted = now, 0
	t.set(now, t.limit*headroom)
	t.quietSince = now
	t.episodeUntil = t.pausedUntil.Add(grace)
	t.log.Warn("Cashlink asked to slow down: import rate lowered to just under the limit it allowed",
		"limit_per_s", float64(t.limit), "calls_per_s", float64(t.cur), "retry_after", retryAfter)
}

// adjust moves the rate between episodes (at most every adjustEvery).
func (t *Throttle) adjust(now time.Time) {
	if now.Sub(t.changed) < adjustEvery || now.Before(t.pausedUntil) {
		return
	}
	if t.latencyCut() {
		// Queueing upstream: back off now, and probe no higher meanwhile.
		t.set(now, t.cur*slowBackoff)
		t.quietSince = now
		return
	}
	target := t.full
	if t.limit > 0 {
		target = min(t.full, t.limit*headroom)
		if t.cur >= target && now.Sub(t.quietSince) >= probeEvery {
			t.limit *= probeStep
			target = min(t.full, t.limit*headroom)
			t.quietSince = now
		}
	}
	if t.cur < target {
		t.set(now, min(target, max(t.cur*1.25, t.cur+1)))
		if t.cur == t.full {
			t.log.Info("import back at full rate", "calls_per_s", float64(t.full))
		}
		return
	}
	t.changed = now
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (t *Throttle) set(now time.Time, r rate.Limit) {
	t.cur = min(t.full, max(r, t.floor))
	t.lim.SetLimitAt(now, t.cur)
	t.changed = now
}

// State is the current rate and how often Cashlink asked to slow down.
func (t *Throttle) State() (rate.Limit, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.cur, t.slowdowns
}

// Limit is the estimate of the API's limit (0: none seen yet).
func (t *Throttle) Limit() rate.Limit {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limit
}
