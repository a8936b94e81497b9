package handlers_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"issuerconsole/config"
	sbcashlink "issuerconsole/sandbox/cashlink"
	"issuerconsole/sandbox/faults"
	"issuerconsole/services/cashlink"
	"issuerconsole/services/importer"
)

// BenchmarkImport measures the import engine at the SHIPPED defaults
// (-import-workers, -import-rate: what a user gets) against the emulator,
// in two settings, each with its baseline measured in the same run:
//
//   - latency: IMPORT_BENCH_LATENCY (default 100ms) per Cashlink request,
//     no limit. Baseline: the guide script's flow done one investment
//     after another (upload a document, create the investment, list
//     wallets, set the wallet, credit, read the status). The guide is
//     strictly sequential, so its time per row is the same for any number
//     of rows: IMPORT_BENCH_GUIDE_ROWS (default: all) runs it on fewer
//     and scales, said so in the metric's name (guide-s is then an
//     extrapolation from guide-rows rows). Goal: speedup ≥ 10.
//   - ratelimit: the emulator answers 429 with Retry-After above
//     IMPORT_BENCH_LIMIT (default 50) calls per second (the same latency).
//     Baseline: that limit. Goal: the accepted Cashlink calls per second
//     from the tenth second to two seconds before the end ≥ 90 % of the
//     limit, and 429s in that time ≤ 1 % of calls.
//
// Both count the emulator's objects: one investment, one credit and one
// document per row (dup = 0), and the console's commits: the engine's
// group-committed transactions and the audit log's rows (one fsynced
// commit each) per row. Rows: IMPORT_BENCH_ROWS (default 1000). The engine
// waits for DELIVERED (the emulator delivers a credit 1 s after it).
func BenchmarkImport(b *testing.B) {
	rows := envInt("IMPORT_BENCH_ROWS", 1000)
	guideRows := min(rows, envInt("IMPORT_BENCH_GUIDE_ROWS", rows))
	limit := envInt("IMPORT_BENCH_LIMIT", 50)
	latency := "100ms"
	if v := os.Getenv("IMPORT_BENCH_LATENCY"); v != "" {
		latency = v
	}
	b.Run("latency", func(b *testing.B) {
		s, ids, inf := benchServer(b, 2*rows)
		benchFaults(b, s, "cashlink latency="+latency)
		cl := s.app.Cashlink
		ctx := context.Background()
		investor := func(i int) string { return inf.Investors[i%len(inf.Investors)].ID }
		signed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		for b.Loop() {
			start := time.Now()
			for i := range guideRows {
				key := func(step string) cashlink.Key {
					r := make([]byte, 8)
					for j := range r {
						r[j] = byte(rand.IntN(256))
					}
					return cashlink.Key(step + "-" + hex.EncodeToString(r)) // the guide's make_key()
				}
				doc, err := cl.UploadDocument(ctx, key("doc"), "signed.pdf", []byte(fmt.Sprintf("%%PDF-1.4 guide %d", i)), "application/pdf")
				if err != nil {
					b.Fatal(err)
				}
				inv, err := cl.CreateInvestment(ctx, key("inv"), cashlink.NewInvestment{CampaignID: inf.Campaigns[0].ID, InvestorID: investor(i), Units: 10,
					SignedAt: signed, AcceptedAt: &signed, PaidAt: &signed, SignedDocuments: []cashlink.SignedDocument{{DocumentID: doc.ID, Category: "c", Subject: "s"}}})
				if err != nil {
					b.Fatal(err)
				}
				ws, err := cl.ListWallets(ctx, investor(i))
				if err != nil || len(ws) == 0 {
					b.Fatal(err)
				}
				if _, err := cl.UpdateInvestment(ctx, inv.ID, cashlink.InvestmentUpdate{Wallet: &ws[0].ID}); err != nil {
					b.Fatal(err)
				}
				if _, err := cl.Credit(ctx, key("credit"), inv.ID); err != nil {
					b.Fatal(err)
				}
				if _, err := cl.GetInvestment(ctx, inv.ID); err != nil {
					b.Fatal(err)
				}
			}
			guide := time.Since(start).Seconds() * float64(rows) / float64(guideRows)
			run := runEngine(b, s, s.app.Importer, ids[rows:2*rows], investor, inf.Campaigns[0].ID, signed)
			b.ReportMetric(float64(guideRows), "guide-rows")
			b.ReportMetric(guide, "guide-s")
			b.ReportMetric(run.took.Seconds(), "engine-s")
			b.ReportMetric(guide/run.took.Seconds(), "speedup")
			run.report(b, rows)
		}
	})
	b.Run("ratelimit", func(b *testing.B) {
		s, ids, inf := benchServer(b, rows)
		benchFaults(b, s, fmt.Sprintf("cashlink latency=%s ratelimit=%d/s retry-after=1s", latency, limit))
		investor := func(i int) string { return inf.Investors[i%len(inf.Investors)].ID }
		signed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		for b.Loop() {
			run := runEngine(b, s, s.app.Importer, ids[:rows], investor, inf.Campaigns[0].ID, signed)
			// Steady state: from the tenth second to two seconds before the
			// end (the last rows' status reads trail off).
			from, to := run.start.Add(10*time.Second), run.start.Add(run.took-2*time.Second)
			var calls, refused int
			if err := s.app.DB.QueryRow(`SELECT count(*), coalesce(sum(status = 429), 0) FROM audit_log WHERE api = 'cashlink' AND at >= ? AND at < ?`,
				from.UnixMilli(), to.UnixMilli()).Scan(&calls, &refused); err != nil {
				b.Fatal(err)
			}
			sustained := float64(calls-refused) / to.Sub(from).Seconds()
			b.ReportMetric(float64(limit), "limit/s")
			b.ReportMetric(sustained, "sustained/s")
			b.ReportMetric(sustained/float64(limit), "of-limit")
			b.ReportMetric(100*float64(refused)/float64(max(calls, 1)), "429-%-after-10s")
			b.ReportMetric(float64(s.app.Sandbox.Faults.Stats()["429"]), "429s-total")
			b.ReportMetric(run.took.Seconds(), "engine-s")
			run.report(b, rows)
		}
	})
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// benchServer is a console at the shipped import defaults with n accepted
// or invested Issuance investments to import.
func benchServer(b *testing.B, n int) (*testServer, []int64, sbcashlink.Info) {
	b.Helper()
	var c configT
	s := newTestServer(b, func(cfg *configT, o *appOptions) {
		cfg.SandboxInvestments = n * 10
		o.Import = importer.Options{PassBackoff: 250 * time.Millisecond} // workers and rate: the shipped defaults
		c = *cfg
	})
	if c.ImportWorkers != config.DefaultImportWorkers || c.ImportRate != config.DefaultImportRate {
		b.Fatalf("the benchmark must run at the shipped defaults: %d workers, %g calls/s", c.ImportWorkers, c.ImportRate)
	}
	ctx := context.Background()
	inf, _ := s.app.Sandbox.Cashlink.Info(ctx, "")
	var ids []int64
	for inv, err := range s.app.Issuance.AllInvestments(ctx, url.Values{"status__in": {"accepted,invested"}, "ordering": {"id"}}, 100) {
		if err != nil {
			b.Fatal(err)
		}
		if ids = append(ids, inv.ID); len(ids) == n {
			break
		}
	}
	if len(ids) < n {
		b.Fatalf("only %d investments", len(ids))
	}
	return s, ids, inf
}

func benchFaults(b *testing.B, s *testServer, spec string) {
	b.Helper()
	rules, err := faults.ParseRules(spec)
	if err != nil {
		b.Fatal(err)
	}
	s.app.Sandbox.Faults.Set(rules)
}

// engineRun is one engine run's figures.
type engineRun struct {
	start             time.Time
	took              time.Duration
	commits, writes   int64 // the engine's group-committed transactions, and the writes in them
	audit             int   // audit rows (each its own fsynced commit)
	investments, dups int
}

func (r engineRun) report(b *testing.B, rows int) {
	b.ReportMetric(float64(r.commits)/float64(rows), "engine-commits/row")
	b.ReportMetric(float64(r.writes)/float64(rows), "engine-writes/row")
	b.ReportMetric(float64(r.audit)/float64(rows), "audit-rows/row")
	b.ReportMetric(float64(r.dups), "dup")
}

// runEngine imports the investments ids with engine and measures the run.
func runEngine(b *testing.B, s *testServer, engine *importer.Engine, ids []int64, investor func(int) string, camp string, signed time.Time) engineRun {
	b.Helper()
	ctx := context.Background()
	st := engine.Store()
	admin, _ := s.app.Accounts.Authenticate(ctx, adminEmail, adminPass)
	job, _ := st.CreateJob(ctx, "bench", admin.ID)
	st.UpdateJob(ctx, job.ID, importer.JobUpdate{CampaignID: &camp})
	var rs []importer.Row
	for i, id := range ids {
		rs = append(rs, importer.Row{IssuanceID: id, CashlinkInvestor: investor(i), Units: 10, SignedAt: signed, AcceptedAt: signed, PaidAt: signed})
	}
	if err := st.ReplaceRows(ctx, job.ID, rs); err != nil {
		b.Fatal(err)
	}
	stored, _ := st.Rows(ctx, job.ID)
	for _, r := range stored {
		st.AddDocument(ctx, importer.Document{JobID: job.ID, RowID: r.ID, Filename: "signed.pdf", SHA256: strconv.FormatInt(r.ID, 10), Category: "c", Subject: "s"},
			[]byte(fmt.Sprintf("%%PDF-1.4 engine %d", r.ID)))
	}
	st.Confirm(ctx, job.ID, admin.ID)
	before, _ := s.app.Sandbox.Cashlink.Counts(ctx)
	c0, w0 := engine.Commits()
	var a0 int
	s.app.DB.QueryRow(`SELECT count(*) FROM audit_log`).Scan(&a0)
	run := engineRun{start: time.Now()}
	if err := engine.Run(ctx, job.ID); err != nil {
		b.Fatal(err)
	}
	run.took = time.Since(run.start)
	if p, _ := st.JobProgress(ctx, job.ID); p.Done != len(ids) {
		b.Fatalf("engine finished %d of %d rows", p.Done, len(ids))
	}
	c1, w1 := engine.Commits()
	run.commits, run.writes = c1-c0, w1-w0
	var a1 int
	s.app.DB.QueryRow(`SELECT count(*) FROM audit_log`).Scan(&a1)
	run.audit = a1 - a0
	after, _ := s.app.Sandbox.Cashlink.Counts(ctx)
	inv, cr, docs := after.Investments-before.Investments, after.Credits-before.Credits, after.Documents-before.Documents
	run.investments = inv
	run.dups = max(inv-len(ids), 0) + max(cr-len(ids), 0) + max(docs-len(ids), 0)
	if inv != len(ids) || cr != len(ids) || docs != len(ids) {
		b.Fatalf("the emulator got %d investments, %d credits, %d documents for %d rows: duplicates or gaps", inv, cr, docs, len(ids))
	}
	return run
}
