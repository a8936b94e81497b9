package importer

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"issuerconsole/db"
	"issuerconsole/services/accounts"
)

// BenchmarkReviewPage is what one review page costs the store: the counts
// per filter and kind (one query over every row) and one page of 50 rows,
// for jobs of 50, 500 and 5,000 rows with mixed problems; against the
// baseline of what the page did before, Validate over every row (all rows
// read, one ImportedBy query per row; the rendering of every row not
// counted), in the same run.
func BenchmarkReviewPage(b *testing.B) {
	for _, n := range []int{50, 500, 5000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			ctx := context.Background()
			d, err := db.Open(ctx, filepath.Join(b.TempDir(), "console.db"), db.SyncNormal, db.Schema)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { d.Close() })
			acc, _ := accounts.New(d, accounts.Options{BcryptCost: bcrypt.MinCost})
			admin, _ := acc.Create(ctx, accounts.NewUser{Email: "a@example.com", Role: accounts.RoleAdmin, Password: "a long password"})
			st := NewStore(d, nil)
			job, _ := st.CreateJob(ctx, "bench", admin.ID)
			signed := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			rows := make([]Row, n)
			for i := range rows {
				rows[i] = Row{IssuanceID: int64(i + 1), Reference: fmt.Sprintf("INV-%06d", i), IssuanceInvestor: int64(i%300 + 1),
					CashlinkInvestor: fmt.Sprintf("cl-%d", i%300), Units: 10, SignedAt: signed}
				if i%5 == 0 {
					rows[i].CashlinkInvestor = ""
				}
				if i%11 == 0 {
					rows[i].SignedAt = time.Time{}
				}
			}
			if err := st.ReplaceRows(ctx, job.ID, rows); err != nil {
				b.Fatal(err)
			}
			stored, _ := st.Rows(ctx, job.ID)
			for i, r := range stored {
				if i%4 != 0 {
					st.AddDocument(ctx, Document{JobID: job.ID, RowID: r.ID, Filename: "s.pdf", SHA256: fmt.Sprint(r.ID), Category: "c", Subject: "s"}, []byte("%PDF-1 x"))
				}
			}
			chk := CashlinkCheck{Unknown: []string{"cl-7"}, NoWallet: []string{"cl-8", "cl-9"}}
			camp := "camp"
			st.UpdateJob(ctx, job.ID, JobUpdate{CampaignID: &camp})
			job, _ = st.Job(ctx, job.ID)
			b.Run("validate-all", func(b *testing.B) {
				for b.Loop() {
					if _, err := Validate(ctx, st, nil, job); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("sql-page", func(b *testing.B) {
				for b.Loop() {
					c, err := st.ReviewCounts(ctx, job.ID, chk)
					if err != nil || c.Total != n {
						b.Fatal(c.Total, err)
					}
					page, err := st.ReviewRows(ctx, job.ID, ShowProblems, chk, 0, 50)
					if err != nil || len(page) == 0 {
						b.Fatal(len(page), err)
					}
				}
			})
		})
	}
}
