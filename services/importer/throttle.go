package importer

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the engine's throughput (config.DefaultImportWorkers and
// DefaultImportRate are the same numbers), chosen by BenchmarkImport (README):
// at 10 ms per Cashlink request they import about as fast as the settings a
// tuned run uses, and a server that answers 429 or 503 with Retry-After
// slows the whole engine down (Throttle).
const (
	DefaultWorkers = 8
	DefaultRate    = 200 // Cashlink calls per second across workers
)

// recoverEvery is how long the engine keeps a lowered rate before doubling
// it again, up to the configured one.
const recoverEvery = 2 * time.Second

// Throttle is the engine's shared rate limit. A 429 or 503 with Retry-After
// from Cashlink (reported by the client, whichever caller met it) pauses
// every worker until the Retry-After has passed and halves the rate (down
// to a sixteenth of the configured one); each recoverEvery without another
// one doubles it again.
type Throttle struct {
	full rate.Limit
	now  func() time.Time
	log  *slog.Logger
	lim  *rate.Limiter

	mu          sync.Mutex
	pausedUntil time.Time
	changed     time.Time
	slowdowns   int
}

// NewThrottle limits to r calls per second with bursts of burst.
func NewThrottle(r rate.Limit, burst int, now func() time.Time, log *slog.Logger) *Throttle {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Throttle{full: r, now: now, log: log, lim: rate.NewLimiter(r, burst)}
}

// Wait blocks until a call may be made.
func (t *Throttle) Wait(ctx context.Context) error {
	t.mu.Lock()
	now := t.now()
	if cur := t.lim.Limit(); cur < t.full && now.Sub(t.changed) >= recoverEvery {
		t.lim.SetLimitAt(now, min(t.full, cur*2))
		t.changed = now
		if t.lim.Limit() == t.full {
			t.log.Info("import back at full rate", "calls_per_s", float64(t.full))
		}
	}
	pause := t.pausedUntil.Sub(now)
	t.mu.Unlock()
	if pause > 0 {
		tm := time.NewTimer(pause)
		defer tm.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tm.C:
		}
	}
	return t.lim.Wait(ctx)
}

// SlowDown is told of a 429 or 503 with Retry-After (0: none given).
func (t *Throttle) SlowDown(retryAfter time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	if until := now.Add(retryAfter); until.After(t.pausedUntil) {
		t.pausedUntil = until
	}
	next := max(t.full/16, t.lim.Limit()/2)
	t.lim.SetLimitAt(now, next)
	t.changed = now
	t.slowdowns++
	t.log.Warn("Cashlink asked to slow down: import rate lowered", "calls_per_s", float64(next), "retry_after", retryAfter)
}

// State is the current rate and how often the engine was slowed down.
func (t *Throttle) State() (rate.Limit, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lim.Limit(), t.slowdowns
}
