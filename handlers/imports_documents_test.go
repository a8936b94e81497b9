package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"issuerconsole/handlers"
	"issuerconsole/services/accounts"
	"issuerconsole/services/importer"
)

// Signed documents: the size cap (exactly 10 MB accepted, a byte more
// refused with the sizes named, nothing stored), and the category and
// subject: required, shown, used for later uploads and sent to Cashlink.
func TestImportDocumentsSizeAndMeta(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	instantCredits(t, s)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	inf := sandboxInfo(t, s)
	j := newImportJob(t, s, c, "documents")
	j.fromCSV(investmentsFor(t, s, 0, 2), func(int) string { return inf.Investors[0].ID })
	j.campaign(inf)
	rows := j.rows()
	docs := func() []importer.Document {
		d, err := s.app.Importer.Store().Documents(ctx, j.num)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	c.get(j.path("documents"))

	// The cap.
	big := append(pdf("big"), bytes.Repeat([]byte{' '}, handlers.MaxDocumentSize-len(pdf("big"))+1)...)
	r := c.upload(j.path("documents"), map[string]string{"row": "0"}, "big.pdf", big)
	wantStatus(t, r, http.StatusRequestEntityTooLarge)
	want := fmt.Sprintf("big.pdf is %d bytes, over the limit of 10.0 MB (%d bytes).", handlers.MaxDocumentSize+1, handlers.MaxDocumentSize)
	if got := text(r.doc.Find(`[data-testid="documents-error"]`)); got != want {
		t.Fatalf("error %q, want %q", got, want)
	}
	if len(docs()) != 0 {
		t.Fatal("an oversized document was stored")
	}
	r = c.upload(j.path("documents"), map[string]string{"row": strconv.FormatInt(rows[0].ID, 10)}, "max.pdf", big[:handlers.MaxDocumentSize])
	wantStatus(t, r, http.StatusOK)
	if d := docs(); len(d) != 1 || d[0].Size != handlers.MaxDocumentSize || d[0].Category != "Subscription" || d[0].Subject != "Signed subscription agreement" {
		t.Fatalf("documents %+v", d)
	}

	// Category and subject: both required; then shown and used for the
	// next upload, while an earlier document keeps its own.
	for _, form := range []url.Values{{"category": {""}, "subject": {"x"}}, {"category": {"x"}, "subject": {"  "}}} {
		r = c.post(j.path("documents/meta"), form)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if !strings.Contains(r.body, "Category and subject are both required.") {
			t.Fatalf("%v: %.300s", form, r.body)
		}
	}
	if job := j.job(); job.DocCategory != "Subscription" {
		t.Fatalf("a refused change was saved: %q", job.DocCategory)
	}
	wantStatus(t, c.post(j.path("documents/meta"), url.Values{"category": {"Zeichnungsschein"}, "subject": {"Unterschriebene Zeichnung"}}), http.StatusSeeOther)
	r = c.get(j.path("documents"))
	if cat, _ := r.doc.Find(`#d-cat`).Attr("value"); cat != "Zeichnungsschein" {
		t.Fatalf("category shown %q", cat)
	}
	if subj, _ := r.doc.Find(`#d-subj`).Attr("value"); subj != "Unterschriebene Zeichnung" {
		t.Fatalf("subject shown %q", subj)
	}
	wantStatus(t, c.upload(j.path("documents"), map[string]string{"row": strconv.FormatInt(rows[1].ID, 10)}, "second.pdf", pdf("second")), http.StatusOK)
	d := docs()
	if len(d) != 2 || d[0].Category != "Subscription" || d[1].Category != "Zeichnungsschein" || d[1].Subject != "Unterschriebene Zeichnung" {
		t.Fatalf("documents %+v", d)
	}

	// Each investment carries its document with that category and subject.
	j.start()
	waitJob(t, c, j.id, 3*time.Minute)
	for i, row := range j.rows() {
		inv, err := s.app.Cashlink.GetInvestment(ctx, row.CashlinkInvestment)
		if err != nil {
			t.Fatal(err)
		}
		sd := fmt.Sprint(inv.Fields["signed_documents"])
		if !strings.Contains(sd, d[i].Category) || !strings.Contains(sd, d[i].Subject) || !strings.Contains(sd, d[i].CashlinkID) {
			t.Errorf("row %d: signed_documents %s, want %s / %s", row.ID, sd, d[i].Category, d[i].Subject)
		}
	}
}

// An upload route refuses a body over its cap from the Content-Length,
// before anything reads the body (the CSRF check would parse it whole):
// the body here never arrives, and the answer must come anyway.
func TestImportUploadBodyLimit(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	j := newImportJob(t, s, c, "limits")
	hc := &http.Client{Jar: c.http.Jar, Timeout: time.Minute, CheckRedirect: c.http.CheckRedirect}
	for path, limit := range map[string]int64{"source": importer.MaxCSVSize, "mapping/csv": 5 << 20, "documents": handlers.MaxDocumentSize} {
		pr, pw := io.Pipe()
		w := multipart.NewWriter(pw)
		// The writer stops at its first error: once the transport is done
		// with the body the pipe is closed, and every write fails from then on
		// (CreateFormFile returns a nil writer). The test waits for it below,
		// so it never outlives its reader.
		wrote := make(chan error, 1)
		go func() {
			wrote <- func() error {
				if err := w.WriteField("_csrf", c.csrf); err != nil {
					return err
				}
				fw, err := w.CreateFormFile("file", "big")
				if err != nil {
					return err
				}
				_, err = fw.Write(bytes.Repeat([]byte("x"), 64<<10)) // then nothing more
				return err
			}()
		}()
		req, _ := http.NewRequest(http.MethodPost, s.URL+j.path(path), pr)
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.ContentLength = limit + 2<<20
		// A transport gives up only once its body ends: end it if no answer
		// came. This bounds a hang; it does not order anything.
		giveUp := time.AfterFunc(45*time.Second, func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
		res, err := hc.Do(req)
		giveUp.Stop()
		pw.CloseWithError(io.ErrUnexpectedEOF)
		<-wrote // finished, or failed on the closed pipe: either is fine here
		if err != nil {
			t.Fatalf("%s: no answer to an oversized body: %v", path, err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "larger than the console accepts") || !strings.Contains(string(body), "a signed PDF 10.0 MB") {
			t.Fatalf("%s: status %d\n%.500s", path, res.StatusCode, body)
		}
	}
	// A whole body over the cap, sent: refused the same way, nothing stored.
	c.get(j.path("documents"))
	r := c.upload(j.path("documents"), map[string]string{"row": "0"}, "huge.pdf", append(pdf("huge"), make([]byte, handlers.MaxDocumentSize+2<<20)...))
	wantStatus(t, r, http.StatusRequestEntityTooLarge)
	if d, _ := s.app.Importer.Store().Documents(context.Background(), j.num); len(d) != 0 {
		t.Fatal("stored")
	}
	// Within the cap, the routes work as before.
	wantStatus(t, c.upload(j.path("documents"), map[string]string{"row": "0"}, "ok.pdf", pdf("ok")), http.StatusOK)
}

// The CSV template downloads as a file the source step accepts: its header
// is ParseCSV's columns, and its example line, with real ids, imports with
// the template's units and timestamps.
func TestImportCSVTemplate(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/imports/template.csv")
	wantStatus(t, r, http.StatusOK)
	if ct, cd := r.Header.Get("Content-Type"), r.Header.Get("Content-Disposition"); !strings.HasPrefix(ct, "text/csv") || !strings.Contains(cd, "attachment") {
		t.Fatalf("content type %q, disposition %q", ct, cd)
	}
	lines, errs := importer.ParseCSV(strings.NewReader(r.body))
	if len(errs) != 0 || len(lines) != 1 {
		t.Fatalf("the template does not parse: %v (%d lines)", errs, len(lines))
	}
	header := strings.Split(strings.TrimSpace(strings.SplitN(r.body, "\n", 2)[0]), ",")
	if !slices.Equal(header, importer.CSVColumns) {
		t.Fatalf("template columns %v, ParseCSV's %v", header, importer.CSVColumns)
	}
	ex := lines[0]
	if ex.Units <= 0 || ex.CashlinkInvestor == "" || ex.SignedAt.IsZero() || ex.AcceptedAt.IsZero() || ex.PaidAt.IsZero() {
		t.Fatalf("the example line leaves a column empty: %+v", ex)
	}

	inf := sandboxInfo(t, s)
	id := investmentsFor(t, s, 0, 1)[0]
	filled := strings.Replace(strings.Replace(r.body, "\n"+strconv.FormatInt(ex.IssuanceID, 10)+",", "\n"+strconv.FormatInt(id, 10)+",", 1), ex.CashlinkInvestor, inf.Investors[0].ID, 1)
	j := newImportJob(t, s, c, "template")
	wantStatus(t, c.upload(j.path("source"), map[string]string{"kind": "csv"}, "template.csv", []byte(filled)), http.StatusOK)
	rows := j.rows()
	if len(rows) != 1 {
		t.Fatalf("%d rows", len(rows))
	}
	got := rows[0]
	if got.IssuanceID != id || got.CashlinkInvestor != inf.Investors[0].ID || got.Units != ex.Units || !got.SignedAt.Equal(ex.SignedAt) ||
		!got.AcceptedAt.Equal(ex.AcceptedAt) || !got.PaidAt.Equal(ex.PaidAt) {
		t.Fatalf("row %+v from the example %+v", got, ex)
	}
}

// The "search" source: a pasted investment search (a whole URL, with a page
// and repeated values) imports every investment the search matches, not
// one page; a bad or empty search is refused and leaves the rows alone.
func TestImportSearchSource(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	matching := func(q url.Values) []int64 {
		var ids []int64
		for inv, err := range s.app.Issuance.AllInvestments(ctx, q, 100) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, inv.ID)
		}
		slices.Sort(ids)
		return ids
	}
	rowIDs := func(j *importJob) []int64 {
		var ids []int64
		for _, r := range j.rows() {
			ids = append(ids, r.IssuanceID)
		}
		slices.Sort(ids)
		return ids
	}
	j := newImportJob(t, s, c, "search")
	want := matching(url.Values{"offering": {"1"}, "status__in": {"accepted,invested"}})
	if len(want) <= 5 {
		t.Fatalf("%d investments match: too few to tell a page from all", len(want))
	}
	r := c.post(j.path("source"), url.Values{"kind": {"search"}, "query": {s.URL + "/investments?offering=1&status__in=accepted&status__in=invested&page=2&page_size=5"}})
	wantStatus(t, r, http.StatusOK)
	if got := rowIDs(j); !slices.Equal(got, want) {
		t.Fatalf("rows %v, the search matches %v", got, want)
	}
	if got := text(r.doc.Find(`[data-testid="source-count"]`)); !strings.HasPrefix(got, strconv.Itoa(len(want))+" investments") {
		t.Fatalf("count %q", got)
	}
	if job := j.job(); job.SourceKind != "a search" || job.SourceQuery != "offering=1&status__in=accepted%2Cinvested" {
		t.Fatalf("source %q %q", job.SourceKind, job.SourceQuery)
	}

	for _, tc := range []struct{ query, want string }{
		{"offering=abc", "The search has errors: offering"},
		{"offering=1&id__in=1,x", "The search has errors: id__in"},
		{"offering=1&id__in=99999999", "the search matches no investment"},
	} {
		r = c.post(j.path("source"), url.Values{"kind": {"search"}, "query": {tc.query}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if got := text(r.doc.Find(`[data-testid="source-error"]`)); !strings.Contains(got, tc.want) {
			t.Fatalf("%s: error %q, want %q", tc.query, got, tc.want)
		}
		if got := rowIDs(j); !slices.Equal(got, want) {
			t.Fatalf("%s changed the rows", tc.query)
		}
	}

	// Another search replaces the rows.
	want = matching(url.Values{"offering": {"1"}, "status__in": {"invested"}})
	wantStatus(t, c.post(j.path("source"), url.Values{"kind": {"search"}, "query": {"?status__in=invested&offering=1"}}), http.StatusOK)
	if got := rowIDs(j); !slices.Equal(got, want) {
		t.Fatalf("rows %v after the second search, want %v", got, want)
	}
}

// A NUL byte in an upload's file name (the multipart part header cannot be
// read) is a clear 400 naming the problem, not "Form expired".
func TestUploadUnreadableFileName(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	j := newImportJob(t, s, c, "nul")
	for _, path := range []string{"source", "mapping/csv", "documents"} {
		r := c.upload(j.path(path), nil, "signed\x00.pdf", pdf("x"))
		wantStatus(t, r, http.StatusBadRequest)
		if !strings.Contains(r.body, "could not be read") || strings.Contains(r.body, "expired") {
			t.Fatalf("%s: %.400s", path, text(r.doc.Find("main")))
		}
	}
}

// An upload route checks who is asking before it reads the body: a
// signed-out visitor or an auditor posting a large batch of PDFs is turned
// away at once, while the body has barely begun (it never ends here).
func TestUploadRefusedBeforeTheBodyIsRead(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.client(t)
	admin.login(adminEmail, adminPass)
	j := newImportJob(t, s, admin, "uploads need the role first")
	s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	auditor := s.client(t)
	auditor.login("auditor@example.com", testPass)
	for _, tc := range []struct {
		name string
		c    *client
		want int
	}{{"signed out", s.client(t), http.StatusSeeOther}, {"auditor", auditor, http.StatusForbidden}} {
		hc := &http.Client{Jar: tc.c.http.Jar, Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		pr, pw := io.Pipe()
		w := multipart.NewWriter(pw)
		wrote := make(chan error, 1)
		go func() {
			wrote <- func() error {
				fw, err := w.CreateFormFile("files", "HLF-1.pdf")
				if err != nil {
					return err
				}
				// More than the 256 kB Go's server reads of a body its
				// handler left (to keep the connection), then nothing more.
				_, err = fw.Write(bytes.Repeat([]byte("x"), 512<<10))
				return err
			}()
		}()
		req, _ := http.NewRequest(http.MethodPost, s.URL+j.path("documents/batch"), pr)
		req.Header.Set("Content-Type", w.FormDataContentType())
		req.ContentLength = 100 << 20 // under the batch cap: only the role can stop it
		giveUp := time.AfterFunc(45*time.Second, func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
		res, err := hc.Do(req)
		stopped := giveUp.Stop()
		pw.CloseWithError(io.ErrUnexpectedEOF)
		<-wrote
		if err != nil {
			t.Fatalf("%s: no answer: %v", tc.name, err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want || !stopped {
			t.Fatalf("%s: status %d (want %d), answered before the body ended: %v", tc.name, res.StatusCode, tc.want, stopped)
		}
	}
}
