package importer

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// A 429/503 with Retry-After halves the shared rate (down to a sixteenth)
// and pauses every caller until it has passed; each quiet recoverEvery
// doubles the rate again, up to the configured one.
func TestThrottleSlowsDownAndRecovers(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	th := NewThrottle(1000, 100, clock, slog.New(slog.DiscardHandler))
	ctx := context.Background()
	want := func(step string, r rate.Limit, n int) {
		t.Helper()
		got, slow := th.State()
		if got != r || slow != n {
			t.Fatalf("%s: rate %v after %d slow-downs, want %v after %d", step, got, slow, r, n)
		}
	}
	want("start", 1000, 0)
	th.SlowDown(time.Second)
	want("one 429", 500, 1)
	th.pausedUntil = time.Time{} // (the pause itself: below)
	for range 5 {
		th.SlowDown(0)
	}
	want("six 429s", 1000.0/16, 6)
	advance(recoverEvery - time.Millisecond)
	if err := th.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	want("too early to recover", 1000.0/16, 6)
	for _, r := range []rate.Limit{125, 250, 500, 1000, 1000} {
		advance(recoverEvery)
		if err := th.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		want("recovering", r, 6)
	}
	// While paused, Wait blocks: a cancelled context gives up at once.
	th.SlowDown(time.Hour)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := th.Wait(cctx); err == nil {
		t.Fatal("Wait returned during the Retry-After pause")
	}
}
