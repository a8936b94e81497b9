package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// storeForm is the "Store N matched documents" form as the page shows it:
// the number of files and the token naming them.
func storeForm(r *response) url.Values {
	f := r.doc.Find(`form:has([data-testid="batch-store"])`)
	return url.Values{"expect": {f.Find(`input[name="expect"]`).AttrOr("value", "")},
		"preview": {f.Find(`input[name="preview"]`).AttrOr("value", "")}}
}

// TestImportDocumentsPreviewReplacedSameCount: the preview an admin looks
// at is replaced (a second tab, another admin) by another upload with as
// many matched files. "Store 3 matched documents" from the first page
// stores nothing (the files were not the ones shown) and shows the page
// again with the preview as it is now, saying it changed; storing from
// that page stores the files it shows.
func TestImportDocumentsPreviewReplacedSameCount(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	inf := sandboxInfo(t, s)
	j := newImportJob(t, s, c, "replaced preview")
	j.fromCSV(investmentsFor(t, s, 0, 6), func(int) string { return inf.Investors[0].ID })
	rows := j.rows()
	stored := func() map[int64]bool {
		docs, err := s.app.Importer.Store().Documents(context.Background(), j.num)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int64]bool{}
		for _, d := range docs {
			out[d.RowID] = true
		}
		return out
	}
	upload := func(from, to int) *response {
		files := map[string][]byte{}
		var order []string
		for _, r := range rows[from:to] {
			name := r.Reference + ".pdf"
			files[name], order = pdf("signed "+r.Reference), append(order, name)
		}
		return c.follow(c.uploadFiles(j.path("documents/batch"), "files", files, order))
	}
	c.get(j.path("documents"))
	shown := upload(0, 3)
	if got := text(shown.doc.Find(`[data-testid="preview-matched"]`)); got != "3" {
		t.Fatalf("matched %q", got)
	}
	form := storeForm(shown)
	if form.Get("expect") != "3" || form.Get("preview") == "" {
		t.Fatalf("store form %v: want the count and the preview's token", form)
	}

	// Another tab: three other files, matched to three other rows.
	upload(3, 6)
	r := c.post(j.path("documents/batch/store"), form)
	wantStatus(t, r, http.StatusConflict)
	if got := stored(); len(got) != 0 {
		t.Fatalf("a replaced preview stored %d documents nobody reviewed", len(got))
	}
	if msg := text(r.doc.Find(`[data-testid="documents-error"]`)); !strings.Contains(msg, "Nothing stored") || !strings.Contains(msg, "changed") {
		t.Fatalf("refusal %q", msg)
	}
	// The page shows the preview as it is now; its form stores those.
	if got := text(r.doc.Find(`tr[data-testid="matched-file"]`)); !strings.Contains(got, rows[3].Reference) || strings.Contains(got, rows[0].Reference) {
		t.Fatalf("preview shown after the refusal: %q", got)
	}
	r = c.follow(c.post(j.path("documents/batch/store"), storeForm(r)))
	if got := text(r.doc.Find(`[data-testid="flash"]`)); !strings.Contains(got, "Stored 3 documents.") {
		t.Fatalf("flash %q", got)
	}
	got := stored()
	if len(got) != 3 || !got[rows[3].ID] || !got[rows[4].ID] || !got[rows[5].ID] {
		t.Fatalf("stored on rows %v, want rows 4 to 6", got)
	}
}
