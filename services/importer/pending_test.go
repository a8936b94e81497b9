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

// StorePending stores the files of the preview shown, not as many other
// ones: a preview replaced by an upload with the same number of matched
// files (other rows, or the same rows with other files) is refused with
// the stale error and nothing stored; the current preview's token stores.
func TestStorePendingRefusesAReplacedPreview(t *testing.T) {
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
	st := NewStore(d, nil)
	w := &Wizard{Store: st}
	j, err := st.CreateJob(ctx, "replaced", admin.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.ReplaceRows(ctx, j.ID, []Row{{IssuanceID: 1, Reference: "INV-1"}, {IssuanceID: 2, Reference: "INV-2"}, {IssuanceID: 3, Reference: "INV-3"}}); err != nil {
		t.Fatal(err)
	}
	stored := func() int {
		docs, err := st.Documents(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		return len(docs)
	}
	shown, err := w.PreviewDocuments(ctx, j.ID, []UploadedFile{{Name: "INV-1.pdf", Content: []byte("%PDF-1 one")}})
	if err != nil {
		t.Fatal(err)
	}
	for name, other := range map[string]UploadedFile{
		"another row":         {Name: "INV-2.pdf", Content: []byte("%PDF-1 two")},
		"another file, row 1": {Name: "INV-1.pdf", Content: []byte("%PDF-1 one, another version")},
	} {
		now, err := w.PreviewDocuments(ctx, j.ID, []UploadedFile{other})
		if err != nil {
			t.Fatal(err)
		}
		if now.Matched != shown.Matched || now.Token == shown.Token {
			t.Fatalf("%s: %d matched (token %q), shown %d (token %q)", name, now.Matched, now.Token, shown.Matched, shown.Token)
		}
		var stale *StaleCountError
		if _, err := st.StorePending(ctx, j.ID, shown.Matched, shown.Token); !errors.As(err, &stale) {
			t.Fatalf("%s: storing the replaced preview: %v, want the stale error", name, err)
		}
		if n := stored(); n != 0 {
			t.Fatalf("%s: %d documents stored from a preview nobody saw", name, n)
		}
		shown = now
	}
	// The preview as shown now stores.
	n, err := st.StorePending(ctx, j.ID, shown.Matched, shown.Token)
	if err != nil || n != 1 || stored() != 1 {
		t.Fatalf("storing the current preview: %d stored (%d in the job), %v", n, stored(), err)
	}
}
