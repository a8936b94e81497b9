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

	"issuerconsole/sandbox/faults"
	"issuerconsole/services/cashlink"
	"issuerconsole/services/importer"
)

// BenchmarkImport compares, in one run against the same emulator with the
// same injected latency, the import engine (bounded workers, rate limit,
// ledger) with the guide script's flow done one investment after another:
// upload a document, create the investment, list wallets, set the wallet,
// credit, read the status. The engine runs twice: first with the shipped
// defaults (-import-workers, -import-rate: what a user gets), then tuned
// (8 workers, 500 calls/s, as this benchmark ran before the defaults were settable). Rows: IMPORT_BENCH_ROWS (default 1000); latency
// per Cashlink request: IMPORT_BENCH_LATENCY (default 10ms). The engine
// also waits for DELIVERED (about a second after each credit), which the
// guide's single status read does not.
func BenchmarkImport(b *testing.B) {
	rows := 1000
	if n, err := strconv.Atoi(os.Getenv("IMPORT_BENCH_ROWS")); err == nil && n > 0 {
		rows = n
	}
	latency := "10ms"
	if v := os.Getenv("IMPORT_BENCH_LATENCY"); v != "" {
		latency = v
	}
	s := newTestServer(b, func(c *configT, o *appOptions) {
		c.SandboxInvestments = rows * 10
		o.Import = importer.Options{PassBackoff: 250 * time.Millisecond} // workers and rate: the shipped defaults
	})
	ctx := context.Background()
	inf, _ := s.app.Sandbox.Cashlink.Info(ctx, "")
	var ids []int64
	for inv, err := range s.app.Issuance.AllInvestments(ctx, url.Values{"status__in": {"accepted,invested"}, "ordering": {"id"}}, 100) {
		if err != nil {
			b.Fatal(err)
		}
		if ids = append(ids, inv.ID); len(ids) == 3*rows {
			break
		}
	}
	if len(ids) < 3*rows {
		b.Fatalf("only %d investments", len(ids))
	}
	rules, err := faults.ParseRules("cashlink latency=" + latency)
	if err != nil {
		b.Fatal(err)
	}
	s.app.Sandbox.Faults.Set(rules)
	cl := s.app.Cashlink
	investor := func(i int) string { return inf.Investors[i%len(inf.Investors)].ID }
	signed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	for b.Loop() {
		// The guide, sequentially, on the first half of the investments.
		start := time.Now()
		for i := range rows {
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
		guide := time.Since(start)

		// The engine on the second third with the shipped defaults, then on
		// the last third tuned; one document per row as above.
		tuned := importer.NewEngine(ctx, s.app.Importer.Store(), cl, s.app.Audit,
			importer.Options{Workers: 8, Rate: 500, Burst: 50, PassBackoff: 250 * time.Millisecond})
		defaults := runEngine(b, s, s.app.Importer, ids[rows:2*rows], investor, inf.Campaigns[0].ID, signed)
		fast := runEngine(b, s, tuned, ids[2*rows:3*rows], investor, inf.Campaigns[0].ID, signed)
		b.ReportMetric(guide.Seconds(), "guide-s")
		b.ReportMetric(defaults.Seconds(), "engine-defaults-s")
		b.ReportMetric(guide.Seconds()/defaults.Seconds(), "speedup-defaults")
		b.ReportMetric(fast.Seconds(), "engine-tuned-s")
		b.ReportMetric(guide.Seconds()/fast.Seconds(), "speedup-tuned")
	}
}

// runEngine imports the investments ids with engine and returns how long
// the run took.
func runEngine(b *testing.B, s *testServer, engine *importer.Engine, ids []int64, investor func(int) string, camp string, signed time.Time) time.Duration {
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
	start := time.Now()
	if err := engine.Run(ctx, job.ID); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	if p, _ := st.JobProgress(ctx, job.ID); p.Done != len(ids) {
		b.Fatalf("engine finished %d of %d rows", p.Done, len(ids))
	}
	return took
}
