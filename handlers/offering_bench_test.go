package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"issuerconsole/services/offerings"
)

// BenchmarkOfferingPageUnderLoad measures one view of an offering's page as
// a browser makes it (the frame, then the money fragment htmx fetches) on
// the offering with the most investments of the default 5,000: p50 and p95
// of views one at a time (idle), then of 20 clients viewing it at once,
// and the ratio loaded/idle, for three set-ups in the same run:
//
//   - before: nothing kept, nothing shared (the console before the cache):
//     every view makes the frame's call and the money's ~11;
//   - coalesced: nothing kept (TTL 0), concurrent views share one load;
//   - after: the shipped cache (offerings.DefaultTTL) and sharing;
//   - expiring: the same with a 250 ms TTL, so the money is read again
//     several times while the 20 clients wait (the p95 includes reloads).
//
// OFFERING_BENCH_VIEWS sets the views per client under load (default 10).
func BenchmarkOfferingPageUnderLoad(b *testing.B) {
	perClient := 10
	if v, err := strconv.Atoi(os.Getenv("OFFERING_BENCH_VIEWS")); err == nil && v > 0 {
		perClient = v
	}
	const clients, idleViews = 20, 30
	type figures struct{ idle50, idle95, load50, load95, callsPerView float64 }
	got := map[string]figures{}
	setups := []struct {
		name string
		opts offerings.Options
	}{
		{"before", offerings.Options{TTL: 0, MaxOfferings: 256, Unshared: true}},
		{"coalesced", offerings.Options{TTL: 0, MaxOfferings: 256}},
		{"after", offerings.Options{TTL: offerings.DefaultTTL, MaxOfferings: 256}},
		{"expiring", offerings.Options{TTL: 250 * time.Millisecond, MaxOfferings: 256}},
	}
	for _, su := range setups {
		b.Run(su.name, func(b *testing.B) {
			opts := su.opts
			s := newTestServer(b, func(c *configT, o *appOptions) {
				c.SandboxInvestments = 5000
				o.OfferingCache = &opts
				o.Now = nil // the wall clock: the cache's TTL must run out during the run
			})
			c := s.client(b)
			c.login(adminEmail, adminPass)
			id := biggestOffering(b, s)
			view := func() time.Duration {
				t0 := time.Now()
				for _, r := range []struct{ path, hx string }{{"/offerings/" + id, ""}, {"/offerings/" + id + "/money", "true"}} {
					req, _ := http.NewRequest(http.MethodGet, s.URL+r.path, nil)
					if r.hx != "" {
						req.Header.Set("HX-Request", r.hx)
					}
					res, err := c.http.Do(req)
					if err != nil || res.StatusCode != http.StatusOK {
						b.Errorf("%s: %v %v", r.path, res, err)
						return 0
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				return time.Since(t0)
			}
			for b.Loop() {
				view() // warm: the first view of "after" fills the cache, as any first visitor does
				calls0 := issuanceCalls(s)
				var idle []time.Duration
				for range idleViews {
					idle = append(idle, view())
				}
				var mu sync.Mutex
				var loaded []time.Duration
				var wg sync.WaitGroup
				for range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for range perClient {
							d := view()
							mu.Lock()
							loaded = append(loaded, d)
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				calls := issuanceCalls(s) - calls0
				f := figures{callsPerView: float64(calls) / float64(idleViews+clients*perClient)}
				f.idle50, f.idle95 = pct(idle, 50), pct(idle, 95)
				f.load50, f.load95 = pct(loaded, 50), pct(loaded, 95)
				got[su.name] = f
				b.ReportMetric(f.idle50, "idle-p50-ms")
				b.ReportMetric(f.idle95, "idle-p95-ms")
				b.ReportMetric(f.load50, "load-p50-ms")
				b.ReportMetric(f.load95, "load-p95-ms")
				b.ReportMetric(f.load50/f.idle50, "x-p50-load/idle")
				b.ReportMetric(f.load95/f.idle95, "x-p95-load/idle")
				b.ReportMetric(f.callsPerView, "calls/view")
			}
		})
	}
	if before, after := got["before"], got["after"]; before.load50 > 0 && after.load50 > 0 {
		fmt.Printf("offering page, %d clients vs idle (p50 / p95 ms, ratio loaded/idle, upstream calls per view):\n", clients)
		for _, su := range setups {
			f := got[su.name]
			fmt.Printf("  %-9s idle %7.1f / %7.1f  loaded %7.1f / %7.1f  x%.1f / x%.1f  %.2f calls/view\n",
				su.name, f.idle50, f.idle95, f.load50, f.load95, f.load50/f.idle50, f.load95/f.idle95, f.callsPerView)
		}
		fmt.Printf("  after vs before under load: p50 x%.3f, p95 x%.3f; after under load vs before idle: p50 x%.2f, p95 x%.2f\n",
			after.load50/before.load50, after.load95/before.load95, after.load50/before.idle50, after.load95/before.idle95)
	}
}

// issuanceCalls counts the audited Issuance calls so far.
func issuanceCalls(s *testServer) int {
	n := 0
	s.app.Audit.Each(context.Background(), auditFilter("issuance"), func(auditEntry) error { n++; return nil })
	return n
}

// biggestOffering is the offering with the most investments.
func biggestOffering(tb testing.TB, s *testServer) string {
	tb.Helper()
	ctx := context.Background()
	best, most := "", -1
	for id := 1; id <= 12; id++ {
		p, err := s.app.Issuance.ListInvestmentsQuery(ctx, url.Values{"offering": {strconv.Itoa(id)}, "page_size": {"1"}})
		if err != nil {
			tb.Fatal(err)
		}
		if p.Count > most {
			best, most = strconv.Itoa(id), p.Count
		}
	}
	return best
}

// pct is a percentile of durations, in milliseconds.
func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := min(len(s)-1, (len(s)*p+99)/100-1)
	return float64(s[max(i, 0)].Microseconds()) / 1000
}
