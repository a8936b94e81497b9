package issuance

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"issuerconsole/db"
)

// Benchmarks of the list endpoint over a large generated data set:
//
//	go test -bench . ./sandbox/issuance/ -run '^$' -timeout 60m
//
// ISSUANCE_BENCH_INVESTMENTS sets the size (default 1,000,000; loading it
// takes about 40 s); ISSUANCE_BENCH_DIR keeps the database between runs
// (the emulator keeps a data set from the same source). Each benchmark
// reports the median latency of one request through the handler
// (query parsing, count, page, JSON) as med-µs and, as x-pk, its ratio to
// the median primary-key lookup (SELECT … WHERE id = ?) measured in the
// same run: the machine is shared, so compare ratios across runs.

var bench struct {
	once     sync.Once
	e        *Emulator
	d        *sql.DB
	dir      string
	tmp      bool
	n        int
	values   sampleValues
	pkMedian time.Duration
	err      error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.tmp {
		bench.d.Close()
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

func benchSetup(b *testing.B) {
	bench.once.Do(func() {
		bench.n = envInt("ISSUANCE_BENCH_INVESTMENTS", MaxInvestments)
		bench.dir = os.Getenv("ISSUANCE_BENCH_DIR")
		if bench.dir == "" {
			bench.dir, bench.err = os.MkdirTemp("", "issuance-bench-")
			bench.tmp = true
		}
		if bench.err != nil {
			return
		}
		ctx := context.Background()
		if bench.d, bench.err = db.OpenRaw(ctx, filepath.Join(bench.dir, "sandbox.db"), db.SyncNormal); bench.err != nil {
			return
		}
		start := time.Now()
		if bench.e, bench.err = Open(ctx, bench.d, Options{Investments: bench.n, BrokenBoolIn: true}); bench.err != nil {
			return
		}
		// Printed, not logged: a parent benchmark's log is not shown.
		fmt.Printf("data set: %d investments ready in %s (%s)\n", bench.n, time.Since(start).Round(time.Millisecond), bench.dir)
		bench.values = samples(b, bench.d)
		bench.pkMedian = medianOf(3001, func(i int) { pkLookup(b, bench.d, 1+(i*7919)%bench.n) })
		fmt.Printf("baseline: primary-key lookup median %s\n", bench.pkMedian)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
}

func pkLookup(b testing.TB, d *sql.DB, id int) {
	rows, err := d.Query("SELECT "+investmentAPIColumns+" FROM iss_investments i WHERE i.id = ?", id)
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	for rows.Next() {
		n++
	}
	rows.Close()
	if n != 1 {
		b.Fatalf("id %d: %d rows", id, n)
	}
}

func medianOf(n int, f func(i int)) time.Duration {
	ds := make([]time.Duration, n)
	for i := range ds {
		start := time.Now()
		f(i)
		ds[i] = time.Since(start)
	}
	return median(ds)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	return s[len(s)/2]
}

// runTimed runs f b.N times and reports the median and its ratio to the
// primary-key baseline.
func runTimed(b *testing.B, f func()) {
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		f()
		ds = append(ds, time.Since(start))
	}
	b.StopTimer()
	m := median(ds)
	b.ReportMetric(float64(m.Nanoseconds())/1000, "med-µs")
	b.ReportMetric(float64(m)/float64(bench.pkMedian), "x-pk")
}

func serve(b *testing.B, h http.Handler, target string) {
	req := httptest.NewRequest("GET", target, nil)
	req.Header.Set("Authorization", keyAuth)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("%s: %d %.200s", target, rec.Code, rec.Body.String())
	}
}

func BenchmarkBaseline(b *testing.B) {
	benchSetup(b)
	h := bench.e.Handler()
	b.Run("pk-lookup-sql", func(b *testing.B) {
		i := 0
		runTimed(b, func() { i++; pkLookup(b, bench.d, 1+(i*104729)%bench.n) })
	})
	b.Run("detail-endpoint", func(b *testing.B) {
		i := 0
		runTimed(b, func() { i++; serve(b, h, fmt.Sprintf("/api/investments/%d/", 1+(i*104729)%bench.n)) })
	})
}

// BenchmarkTypicalQueries runs every typical query without the count cache
// (each request counts in SQL), and logs its plans.
func BenchmarkTypicalQueries(b *testing.B) {
	benchSetup(b)
	bench.e.noCache = true
	defer func() { bench.e.noCache = false }()
	h := bench.e.Handler()
	for _, q := range typicalQueries(bench.values) {
		b.Run(strings.ReplaceAll(q.name, " ", "_"), func(b *testing.B) {
			if b.N == 1 {
				countPlan, pagePlan := queryPlans(b, bench.e, q.query)
				b.Logf("%s\n  count: %s\n  page:  %s", q.query, strings.Join(countPlan, " | "), strings.Join(pagePlan, " | "))
			}
			runTimed(b, func() { serve(b, h, "/api/investments/?"+q.query) })
		})
	}
}

// BenchmarkTypicalQueriesCached is the same with the count cache on, as
// the emulator runs (a repeated query pays only for its page).
func BenchmarkTypicalQueriesCached(b *testing.B) {
	benchSetup(b)
	h := bench.e.Handler()
	for _, q := range typicalQueries(bench.values) {
		b.Run(strings.ReplaceAll(q.name, " ", "_"), func(b *testing.B) {
			serve(b, h, "/api/investments/?"+q.query) // warm the cache
			runTimed(b, func() { serve(b, h, "/api/investments/?"+q.query) })
		})
	}
}

// BenchmarkHeavyQueries are legal but untypical queries, measured to show
// where the emulator is slow (not asserted anywhere).
func BenchmarkHeavyQueries(b *testing.B) {
	benchSetup(b)
	bench.e.noCache = true
	defer func() { bench.e.noCache = false }()
	h := bench.e.Handler()
	for _, q := range []struct{ name, query string }{
		{"search_everything", "search=" + bench.values.lastName},
		{"investor_type+status", "investor__type=trust&status=accepted"},
		{"status_in_3_values", "status__in=accepted,invested,accepted_escrow_closed"},
		{"deep_offset_page", "page=25000"},
		{"values_status", ""},
	} {
		b.Run(q.name, func(b *testing.B) {
			target := "/api/investments/?" + q.query
			if q.name == "values_status" {
				target = "/api/investments/values/?field=status,payment_method"
			}
			runTimed(b, func() { serve(b, h, target) })
		})
	}
}
