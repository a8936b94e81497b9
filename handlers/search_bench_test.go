package handlers_test

import (
	"io"
	"net/http"
	"sort"
	"testing"
	"time"
)

// BenchmarkSearchOverhead compares, in one run against the same emulator and
// data, the emulator's answer to a query with the search page built on the
// same query (full page and htmx fragment). The page adds: the offering list
// for the select, two audited calls (synchronous, fsynced SQLite writes),
// local validation and rendering. Reported: median ms per request and the
// ratio page/emulator.
func BenchmarkSearchOverhead(b *testing.B) {
	s := newTestServer(b, func(c *configT, _ *appOptions) { c.SandboxInvestments = 5000 })
	c := s.client(b)
	c.login(adminEmail, adminPass)
	const q = "amount__gte=1000&ordering=-amount&page_size=25&status__in=accepted%2Cinvested"
	raw := &http.Client{}
	emulator := func() {
		req, _ := http.NewRequest("GET", s.URL+"/sandbox/issuance/api/investments/?"+q, nil)
		req.Header.Set("Authorization", "Api-Key sandbox-issuance-key")
		res, err := raw.Do(req)
		if err != nil || res.StatusCode != 200 {
			b.Fatalf("emulator: %v %v", res, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	// The browser-like client's cookies, without its HTML parsing (which
	// would be measured too).
	page := func(hdr ...string) func() {
		return func() {
			req, _ := http.NewRequest("GET", s.URL+"/investments?"+q, nil)
			for i := 0; i+1 < len(hdr); i += 2 {
				req.Header.Set(hdr[i], hdr[i+1])
			}
			res, err := c.http.Do(req)
			if err != nil || res.StatusCode != 200 {
				b.Fatalf("page: %v %v", res, err)
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}
	cases := []struct {
		name string
		fn   func()
	}{{"emulator", emulator}, {"page", page()}, {"fragment", page("HX-Request", "true")}}
	medians := map[string]float64{}
	for _, cs := range cases {
		b.Run(cs.name, func(b *testing.B) {
			var ds []time.Duration
			for b.Loop() {
				t0 := time.Now()
				cs.fn()
				ds = append(ds, time.Since(t0))
			}
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			m := float64(ds[len(ds)/2].Microseconds()) / 1000
			medians[cs.name] = m
			b.ReportMetric(m, "median-ms")
			if e := medians["emulator"]; e > 0 && cs.name != "emulator" {
				b.ReportMetric(m/e, "x-emulator")
			}
		})
	}
}
