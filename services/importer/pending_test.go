package importer

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"issuerconsole/db"
	"issuerconsole/services/accounts"
)

// The pending files of a preview are bounded: one set per job (the next
// preview replaces it), none for a job that started, refused files without
// their bytes, and a set left alone longer than PendingTTL removed by the
// next preview of any job.
func TestPendingBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	acc, _ := accounts.New(d, accounts.Options{BcryptCost: bcrypt.MinCost})
	admin, err := acc.Create(ctx, accounts.NewUser{Email: "a@example.com", Role: accounts.RoleAdmin, Password: "a long password"})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	st := NewStore(d, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	w := &Wizard{Store: st}
	job := func(name string) int64 {
		j, err := st.CreateJob(ctx, name, admin.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.ReplaceRows(ctx, j.ID, []Row{{IssuanceID: j.ID*100 + 1, Reference: "INV-1"}, {IssuanceID: j.ID*100 + 2, Reference: "INV-2"}}); err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	count := func(q string, args ...any) int {
		var n int
		if err := d.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	files := []UploadedFile{{Name: "INV-1.pdf", Content: []byte("%PDF-1 one")}, {Name: "INV-2 signed.pdf", Content: []byte("%PDF-1 two")},
		{Name: "notes.txt", Content: []byte("hello")}, {Name: "other.pdf", Content: []byte("%PDF-1 other")}}
	a, b := job("a"), job("b")
	pv, err := w.PreviewDocuments(ctx, a, files)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Matched != 2 || pv.Unmatched != 2 {
		t.Fatalf("preview: %d matched, %d not", pv.Matched, pv.Unmatched)
	}
	if n := count(`SELECT count(*) FROM import_pending_documents WHERE content IS NOT NULL`); n != 2 {
		t.Fatalf("%d files kept with their bytes, want the 2 matched", n)
	}
	if _, err := w.PreviewDocuments(ctx, a, files[:1]); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM import_pending_documents WHERE job_id = ?`, a); n != 1 {
		t.Fatalf("%d pending after a second preview, want it replaced by 1", n)
	}
	mu.Lock()
	now = now.Add(PendingTTL + time.Minute)
	mu.Unlock()
	if _, err := w.PreviewDocuments(ctx, b, files[1:2]); err != nil {
		t.Fatal(err)
	}
	if n := count(`SELECT count(*) FROM import_pending_documents WHERE job_id = ?`, a); n != 0 {
		t.Fatalf("an abandoned preview (%d files) outlived PendingTTL", n)
	}
	// A job that started takes no preview.
	if err := st.Confirm(ctx, b, admin.ID); err != nil {
		t.Fatal(err)
	}
	var conflict *ConflictError
	if _, err := w.PreviewDocuments(ctx, b, files); !errors.As(err, &conflict) {
		t.Fatalf("preview of a started job: %v", err)
	}
}
