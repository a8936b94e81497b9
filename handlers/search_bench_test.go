package handlers_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// searchBench is a console with 5,000 investments, a signed-in admin, and
// the requests the search benchmarks compare: the emulator's own answer to
// a query and the search page built on the same query.
type searchBench struct {
	s   *testServer
	c   *client
	raw *http.Client
	// forward is the least any page built on the emulator's answer costs:
	// a bare handler (no session, decoding or rendering) that makes the
	// same call and sends a 25 KB body, the size of the results fragment.
	forward *httptest.Server
}

const benchQuery = "amount__gte=1000&ordering=-amount&page_size=25&status__in=accepted%2Cinvested"

func newSearchBench(b testing.TB) *searchBench {
	s := newTestServer(b, func(c *configT, _ *appOptions) { c.SandboxInvestments = 5000 })
	c := s.client(b)
	c.login(adminEmail, adminPass)
	// Enough idle connections for 8 concurrent clients (the default keeps 2
	// per host, and new connections would be measured too).
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 16
	c.http.Transport = tr
	sb := &searchBench{s: s, c: c, raw: &http.Client{Transport: tr}}
	out := bytes.Repeat([]byte("x"), 25<<10)
	sb.forward = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), "GET", s.URL+"/sandbox/issuance/api/investments/?"+r.URL.RawQuery, nil)
		req.Header.Set("Authorization", "Api-Key sandbox-issuance-key")
		res, err := sb.raw.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		w.Write(out)
	}))
	b.Cleanup(sb.forward.Close)
	return sb
}

func (sb *searchBench) forwarded(b testing.TB, q string) {
	res, err := sb.raw.Get(sb.forward.URL + "/?" + q)
	if err != nil {
		b.Errorf("forward: %v", err)
		return
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
}

func (sb *searchBench) get(b testing.TB, hc *http.Client, path string, hdr ...string) {
	req, _ := http.NewRequest("GET", sb.s.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := hc.Do(req)
	if err != nil {
		b.Errorf("%s: %v", path, err) // Errorf: the throughput clients are other goroutines
		return
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Errorf("%s: status %d", path, res.StatusCode)
	}
}

func (sb *searchBench) emulator(b testing.TB, q string) {
	sb.get(b, sb.raw, "/sandbox/issuance/api/investments/?"+q, "Authorization", "Api-Key sandbox-issuance-key")
}

// The browser-like client's cookies, without its HTML parsing (which would
// be measured too).
func (sb *searchBench) page(b testing.TB, q string, hdr ...string) {
	sb.get(b, sb.c.http, "/investments?"+q, hdr...)
}

// BenchmarkSearchOverhead compares, in one run against the same emulator and
// data, the emulator's answer to a query with the search page built on the
// same query (full page and htmx fragment). The page adds: the offering list
// for the select (cached), one audited call (its row queued for the
// background writer), local validation and rendering. The status counts
// (11 calls) come after the page from their own address: "counts-cold" is
// that request for a search not counted yet (a new amount each time; its
// ratio is to one emulator answer too). "forward" is the floor under all
// of them: the same call made by a bare handler that sends 25 KB back, so
// the second HTTP hop and nothing else. Reported per case: the medians of
// the case and of the emulator answers interleaved with it, and their ratio.
func BenchmarkSearchOverhead(b *testing.B) {
	sb := newSearchBench(b)
	n := 0
	cases := []struct {
		name string
		fn   func()
	}{
		{"forward", func() { sb.forwarded(b, benchQuery) }},
		{"page", func() { sb.page(b, benchQuery) }},
		{"fragment", func() { sb.page(b, benchQuery, "HX-Request", "true") }},
		{"counts-cold", func() {
			n++
			sb.get(b, sb.c.http, "/investments/status-counts?amount__gte="+strconv.Itoa(1000+n)+"&page_size=25", "HX-Request", "true")
		}},
	}
	median := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Microseconds()) / 1000
	}
	timed := func(fn func()) time.Duration {
		t0 := time.Now()
		fn()
		return time.Since(t0)
	}
	sb.emulator(b, benchQuery) // warm: connections, caches
	for _, cs := range cases {
		cs.fn()
		// Each request of the case follows one emulator answer, so the
		// baseline sees the same machine: this VM's speed drifts by a third
		// within minutes.
		b.Run(cs.name, func(b *testing.B) {
			var es, ds []time.Duration
			for b.Loop() {
				es = append(es, timed(func() { sb.emulator(b, benchQuery) }))
				ds = append(ds, timed(cs.fn))
			}
			e, m := median(es), median(ds)
			b.ReportMetric(e, "emulator-ms")
			b.ReportMetric(m, "median-ms")
			b.ReportMetric(m/e, "x-emulator")
		})
	}
}

// BenchmarkSearchThroughput: 8 concurrent clients on the same search, the
// emulator's own answer against the search page (full page, fragment). The
// machine is shared and its load drifts, so each sub-benchmark alternates
// bursts (emulator, console, emulator, …: 5 of each, SEARCH_BENCH_BURST
// requests a burst, default 400) and reports the median rates and the
// median of the rounds' ratios console/emulator. The rounds run once,
// whatever -benchtime says (b.N is not known before b.Loop).
func BenchmarkSearchThroughput(b *testing.B) {
	sb := newSearchBench(b)
	const clients, rounds = 8, 5
	burst := func(n int, fn func()) float64 {
		var left atomic.Int64
		left.Store(int64(n))
		var wg sync.WaitGroup
		t0 := time.Now()
		for range clients {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					fn()
				}
			})
		}
		wg.Wait()
		return float64(n) / time.Since(t0).Seconds()
	}
	median := func(xs []float64) float64 {
		slices.Sort(xs)
		return xs[len(xs)/2]
	}
	emulator := func() { sb.emulator(b, benchQuery) }
	for _, cs := range []struct {
		name string
		fn   func()
	}{
		{"page", func() { sb.page(b, benchQuery) }},
		{"fragment", func() { sb.page(b, benchQuery, "HX-Request", "true") }},
	} {
		b.Run(cs.name, func(b *testing.B) {
			emulator() // warm: connections, caches
			cs.fn()
			n := 400
			if v, err := strconv.Atoi(os.Getenv("SEARCH_BENCH_BURST")); err == nil && v >= clients {
				n = v
			}
			var er, cr, ratios []float64
			for range rounds {
				e, c := burst(n, emulator), burst(n, cs.fn)
				er, cr, ratios = append(er, e), append(cr, c), append(ratios, c/e)
			}
			b.ReportMetric(median(er), "emulator-req/s")
			b.ReportMetric(median(cr), "req/s")
			b.ReportMetric(median(ratios), "x-emulator")
		})
	}
}
