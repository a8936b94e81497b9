package audit

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"issuerconsole/db"
)

// benchRows is the size of the log the page benchmarks read
// (AUDIT_BENCH_ROWS, default 1,000,000).
func benchRows() int {
	if n, err := strconv.Atoi(os.Getenv("AUDIT_BENCH_ROWS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

var (
	bigOnce  sync.Once
	bigStore *Store
	bigErr   error
	bigT0    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// bigLog builds, once per process, a log of benchRows() rows with a valid
// chain: 10,000 rows per transaction (bulk load; the production path
// appends one row per transaction).
func bigLog(b *testing.B) *Store {
	bigOnce.Do(func() {
		dir, err := os.MkdirTemp("", "audit-bench")
		if err != nil {
			bigErr = err
			return
		}
		d, err := db.Open(context.Background(), filepath.Join(dir, "console.db"), db.SyncNormal, db.Schema)
		if err != nil {
			bigErr = err
			return
		}
		n := benchRows()
		start := time.Now()
		bigErr = bulkLoad(d, n)
		if bigErr == nil {
			_, bigErr = d.Exec("ANALYZE")
		}
		fmt.Fprintf(os.Stderr, "audit bench: loaded %d rows in %s\n", n, time.Since(start).Round(time.Millisecond))
		bigStore = NewStore(d, nil)
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigStore
}

func syntheticEntry(i int, r *rand.Rand) Entry {
	e := Entry{At: bigT0.Add(time.Duration(i) * 30 * time.Second), Kind: KindCall, Attempt: 1, Duration: time.Duration(5+r.IntN(200)) * time.Millisecond}
	switch {
	case i%50 == 0:
		e.Kind, e.Event, e.Actor = KindEvent, EventLogin, fmt.Sprintf("user%d@example.com", r.IntN(20))
	case i%3 == 0:
		e.API, e.Method, e.Path = "cashlink", "POST", "/api/external/v2/investments/"
		e.IdempotencyKey = fmt.Sprintf("job%d-row%d-invest", i/5000, i%5000)
		e.Job, e.Row, e.Actor = fmt.Sprintf("job%d", i/5000), strconv.Itoa(i%5000), ActorSystem
		e.RequestBody = `{"campaign_id":"c-1","investor_id":"i-1","units":300,"signed_at":"2026-01-01T00:00:00Z"}`
		e.Status = 201
		if r.IntN(20) == 0 {
			e.Status = 503
		}
	default:
		e.API, e.Method, e.Path = "issuance", "GET", fmt.Sprintf("/api/investments/?offering=%d&page=%d", r.IntN(40)+1, r.IntN(50)+1)
		e.Actor, e.Status = fmt.Sprintf("user%d@example.com", r.IntN(20)), 200
		e.ResponseBody = `{"count":1234,"ids":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]}`
		if r.IntN(100) == 0 {
			e.Status, e.Error = 0, "timeout"
		}
	}
	return e
}

func bulkLoad(d *sql.DB, n int) error {
	r := rand.New(rand.NewPCG(1, 2))
	prev := genesis
	for from := 0; from < n; from += 10_000 {
		tx, err := d.Begin()
		if err != nil {
			return err
		}
		st, err := tx.Prepare(`INSERT INTO audit_log (id, at, kind, api, method, path, status, duration_ms, attempt,
			idem_key, replayed, upstream_request_id, error, actor, job, row_ref, event, detail, request_body, response_body, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		for i := from; i < min(from+10_000, n); i++ {
			e := syntheticEntry(i, r)
			e.ID, e.PrevHash = int64(i+1), prev
			e.Hash = chainHash(prev, &e)
			prev = e.Hash
			if _, err := st.Exec(e.ID, e.At.UnixMilli(), e.Kind, e.API, e.Method, e.Path, e.Status, e.Duration.Milliseconds(), e.Attempt,
				e.IdempotencyKey, e.Replayed, e.UpstreamRequestID, e.Error, e.Actor, e.Job, e.Row, e.Event, e.Detail,
				e.RequestBody, e.ResponseBody, e.PrevHash, e.Hash); err != nil {
				return err
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkFilteredPage: the log page's query (50 rows, newest first, keyset)
// over benchRows() rows, per typical filter, first page and a deep page.
// The unfiltered first page is the baseline of the same run.
func BenchmarkFilteredPage(b *testing.B) {
	s := bigLog(b)
	n := int64(benchRows())
	ctx := context.Background()
	mid := int(n/2) / 3 * 3 // a cashlink row in the middle of the log
	midAt := bigT0.Add(time.Duration(mid) * 30 * time.Second)
	cases := []struct {
		name string
		f    Filter
	}{
		{"baseline_unfiltered", Filter{}},
		{"api_cashlink", Filter{API: "cashlink"}},
		{"status_5xx", Filter{StatusClass: "5xx"}},
		{"errors_only", Filter{ErrorsOnly: true}},
		{"api_and_errors", Filter{API: "issuance", ErrorsOnly: true}},
		{"idempotency_key", Filter{IdemKey: fmt.Sprintf("job%d-row%d-invest", mid/5000, mid%5000)}},
		{"actor", Filter{Actor: "user3@example.com"}},
		{"job", Filter{Job: fmt.Sprintf("job%d", mid/5000)}},
		{"events", Filter{Kind: KindEvent}},
		{"time_range_1h", Filter{From: midAt.Add(-time.Hour), To: midAt}},
		{"path_contains", Filter{PathContains: "offering=17&"}},
		{"api_method_actor", Filter{API: "issuance", Method: "GET", Actor: "user5@example.com"}},
	}
	for _, c := range cases {
		for _, deep := range []bool{false, true} {
			name := c.name
			before := int64(0)
			if deep {
				name += "/middle"
				before = n / 2
			} else {
				name += "/newest"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					p, err := s.List(ctx, c.f, before, 50)
					if err != nil {
						b.Fatal(err)
					}
					if len(p.Entries) == 0 && !deep {
						b.Fatal("empty page")
					}
				}
			})
		}
	}
}

// BenchmarkWriteRate measures, in the same run on the same machine and disk,
// the raw SQLite insert ceiling (one autocommit INSERT per row, same table,
// same synchronous=FULL as console.db) and the audit Append rate (read the
// chain head, hash, insert, commit). Reported as rows/s and their ratio.
func BenchmarkWriteRate(b *testing.B) {
	const rows = 2000
	r := rand.New(rand.NewPCG(3, 4))
	entries := make([]Entry, rows)
	for i := range entries {
		entries[i] = syntheticEntry(i+1, r)
	}
	var rawRates, auditRates, queuedRates []float64
	for b.Loop() {
		dir := b.TempDir()
		d, err := db.Open(context.Background(), filepath.Join(dir, "console.db"), db.SyncFull, db.Schema)
		if err != nil {
			b.Fatal(err)
		}
		// Raw ceiling: prepared autocommit inserts, no chain.
		st, _ := d.Prepare(`INSERT INTO audit_log (at, kind, api, method, path, status, duration_ms, attempt, idem_key, actor, job, row_ref, request_body, response_body, prev_hash, hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, x'00', x'00')`)
		t0 := time.Now()
		for _, e := range entries {
			if _, err := st.Exec(e.At.UnixMilli(), e.Kind, e.API, e.Method, e.Path, e.Status, e.Duration.Milliseconds(), e.Attempt,
				e.IdempotencyKey, e.Actor, e.Job, e.Row, e.RequestBody, e.ResponseBody); err != nil {
				b.Fatal(err)
			}
		}
		rawRates = append(rawRates, rows/time.Since(t0).Seconds())
		st.Close()
		d.Exec(`DELETE FROM audit_log`)

		s := NewStore(d, nil)
		t0 = time.Now()
		for _, e := range entries {
			if _, err := s.Append(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
		auditRates = append(auditRates, rows/time.Since(t0).Seconds())

		// Read calls' rows: queued by 8 concurrent callers, group-committed
		// by the background writer, until all are durable (Close).
		d.Exec(`DELETE FROM audit_log`)
		s = NewStore(d, nil)
		s.StartWriter(WriterOptions{})
		var wg sync.WaitGroup
		t0 = time.Now()
		for w := range 8 {
			wg.Go(func() {
				for i := w; i < rows; i += 8 {
					if err := s.Enqueue(context.Background(), entries[i]); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		queuedRates = append(queuedRates, rows/time.Since(t0).Seconds())
		d.Close()
	}
	raw, aud, queued := median(rawRates), median(auditRates), median(queuedRates)
	b.ReportMetric(raw, "raw-rows/s")
	b.ReportMetric(aud, "audit-rows/s")
	b.ReportMetric(aud/raw, "audit/raw")
	b.ReportMetric(queued, "queued-rows/s")
	b.ReportMetric(queued/aud, "queued/audit")
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
