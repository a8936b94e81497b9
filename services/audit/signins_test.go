package audit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Every string field of every row is capped in Append, on a UTF-8 boundary,
// and the capped row still verifies.
func TestAppendCapsEveryField(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	big := strings.Repeat("é", 3<<20) // 6 MB of two-byte runes
	e, err := s.Append(ctx, Entry{Kind: KindEvent, API: big, Method: big, Path: big, IdempotencyKey: big,
		UpstreamRequestID: big, Error: big, Actor: big, Job: big, Row: big, Event: big, Detail: big,
		RequestBody: big, ResponseBody: big})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{"api": got.API, "method": got.Method, "path": got.Path, "idem_key": got.IdempotencyKey,
		"upstream_request_id": got.UpstreamRequestID, "error": got.Error, "actor": got.Actor, "job": got.Job, "row": got.Row,
		"event": got.Event, "detail": got.Detail, "request_body": got.RequestBody, "response_body": got.ResponseBody}
	total := 0
	for name, v := range fields {
		total += len(v)
		if len(v) > capBody+64 || !utf8.ValidString(v) || !strings.HasSuffix(v, "bytes]") {
			t.Errorf("%s: %d bytes, valid UTF-8 %v, ends %q", name, len(v), utf8.ValidString(v), v[max(0, len(v)-20):])
		}
	}
	if total > 64<<10 {
		t.Fatalf("row holds %d bytes of text", total)
	}
	if res, err := s.Verify(ctx); err != nil || !res.Intact {
		t.Fatalf("verify: %+v %v", res, err)
	}
	if capString("short", 10) != "short" {
		t.Fatal("short strings must be kept whole")
	}
}

// Failed sign-ins: the first per (actor, address, window) is chained at
// once, the rest counted outside the chain and chained as one summary when
// the window closes; throttled ones likewise, counted in memory.
func TestSignInsFolded(t *testing.T) {
	s, _ := newStore(t)
	clock := &testClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	s.now = clock.Now
	l := NewSignIns(s, 10*time.Minute)
	ctx := context.Background()

	for range 50 {
		if err := l.Failed(ctx, "jane@example.com", "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		if err := l.Throttled(ctx, "jane@example.com", "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
		clock.Add(time.Second)
	}
	if err := l.Failed(ctx, "unknown e-mail #00", "10.0.0.2"); err != nil {
		t.Fatal(err)
	}
	events := func() []Entry {
		var out []Entry
		if err := s.Each(ctx, Filter{Kind: KindEvent}, func(e Entry) error { out = append(out, e); return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := events(); len(got) != 3 {
		t.Fatalf("%d rows during the window, want 3 (first failure, first throttled, other actor): %+v", len(got), got)
	}
	clock.Add(10 * time.Minute) // the window has closed: the next event summarises it
	if err := l.Failed(ctx, "jane@example.com", "10.0.0.1"); err != nil {
		t.Fatal(err)
	}
	got := events()
	var summaries []string
	for _, e := range got {
		if e.Event == EventLoginSummary {
			summaries = append(summaries, e.Actor+": "+e.Detail)
		}
	}
	if len(summaries) != 1 || !strings.Contains(summaries[0], "jane@example.com: from 10.0.0.1") || !strings.Contains(summaries[0], "50 failed and 50 throttled") {
		t.Fatalf("summaries = %q", summaries)
	}
	if got[len(got)-1].Event != EventLoginFailed {
		t.Fatalf("newest row %q, want the new window's first failure", got[len(got)-1].Event)
	}
	var counters int
	s.db.QueryRow(`SELECT count(*) FROM login_failures`).Scan(&counters)
	if counters != 1 {
		t.Fatalf("%d counters left, want only the open window's", counters)
	}
	// Shutdown closes open windows too; a restart then finds nothing.
	if err := l.Flush(ctx, true); err != nil {
		t.Fatal(err)
	}
	s.db.QueryRow(`SELECT count(*) FROM login_failures`).Scan(&counters)
	if counters != 0 {
		t.Fatalf("%d counters left after the final flush", counters)
	}
	if res, err := s.Verify(ctx); err != nil || !res.Intact {
		t.Fatalf("verify: %+v %v", res, err)
	}
}

// Counters left by a crash are summarised by the next run.
func TestSignInsAfterCrash(t *testing.T) {
	s, _ := newStore(t)
	clock := &testClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	s.now = clock.Now
	ctx := context.Background()
	crashed := NewSignIns(s, time.Minute)
	for range 3 {
		if err := crashed.Failed(ctx, "jane@example.com", "10.0.0.1"); err != nil {
			t.Fatal(err)
		}
	}
	clock.Add(time.Hour)
	if err := NewSignIns(s, time.Minute).Flush(ctx, false); err != nil {
		t.Fatal(err)
	}
	p, err := s.List(ctx, Filter{Kind: KindEvent}, 0, 1)
	if err != nil || len(p.Entries) != 1 || p.Entries[0].Event != EventLoginSummary || !strings.Contains(p.Entries[0].Detail, "3 failed") {
		t.Fatalf("newest row after restart: %+v %v", p.Entries, err)
	}
}
