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
// credit, read the status. Rows: IMPORT_BENCH_ROWS (default 1000); latency
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
		o.Import = importer.Options{Workers: 8, Rate: 500, Burst: 50, PassBackoff: 250 * time.Millisecond}
	})
	ctx := context.Background()
	inf, _ := s.app.Sandbox.Cashlink.Info(ctx, "")
	var ids []int64
	for inv, err := range s.app.Issuance.AllInvestments(ctx, url.Values{"status__in": {"accepted,invested"}, "ordering": {"id"}}, 100) {
		if err != nil {
			b.Fatal(err)
		}
		if ids = append(ids, inv.ID); len(ids) == 2*rows {
			break
		}
	}
	if len(ids) < 2*rows {
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

		// The engine on the second half, one document per row as above.
		st := s.app.Importer.Store()
		admin, _ := s.app.Accounts.Authenticate(ctx, adminEmail, adminPass)
		job, _ := st.CreateJob(ctx, "bench", admin.ID)
		camp := inf.Campaigns[0].ID
		st.UpdateJob(ctx, job.ID, importer.JobUpdate{CampaignID: &camp})
		var rs []importer.Row
		for i, id := range ids[rows : 2*rows] {
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
		start = time.Now()
		if err := s.app.Importer.Run(ctx, job.ID); err != nil {
			b.Fatal(err)
		}
		engine := time.Since(start)
		p, _ := st.JobProgress(ctx, job.ID)
		if p.Done != rows {
			b.Fatalf("engine finished %d of %d rows", p.Done, rows)
		}
		b.ReportMetric(guide.Seconds(), "guide-s")
		b.ReportMetric(engine.Seconds(), "engine-s")
		b.ReportMetric(guide.Seconds()/engine.Seconds(), "speedup")
	}
}
