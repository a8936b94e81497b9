// The documents step of the import wizard.

package handlers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"issuerconsole/routes"
	"issuerconsole/services/importer"
	"issuerconsole/views"
)

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// MaxDocumentBatch caps one multi-file upload of signed PDFs (its body):
// a few hundred signed agreements of a few hundred kB each. The files wait
// in console.db until stored or discarded (importer.PendingTTL).
const MaxDocumentBatch = 256 << 20

// maxBatchFiles caps the files of one upload (Go's multipart reader refuses
// more than 1,000 parts).
const maxBatchFiles = 500

// documentsPageSize is how many investments one documents page shows.
const documentsPageSize = 50

// maxLeftShown bounds the reference ids named as still without a document.
const maxLeftShown = 20

func (s *Server) documentsView(c echo.Context, j importer.Job) (views.DocumentsView, error) {
	ctx := c.Request().Context()
	h, err := s.jobHeader(c, j, "documents")
	if err != nil {
		return views.DocumentsView{}, err
	}
	without := c.QueryParam("show") == "without"
	v := views.DocumentsView{H: h, Category: j.DocCategory, Subject: j.DocSubject, MaxSize: humanSize(MaxDocumentSize),
		MaxBatch: humanSize(MaxDocumentBatch), MaxFiles: maxBatchFiles, Without: without,
		AllHref: routes.ImportDocuments.Path(j.ID), EmptyHref: routes.ImportDocuments.Path(j.ID) + "?show=without"}
	if v.Missing, err = s.Imports.Store.RowsWithoutDocument(ctx, j.ID); err != nil {
		return v, err
	}
	page := pageOf(c.QueryParams(), 0, documentsPageSize)
	rows, total, err := s.Imports.Store.DocumentRows(ctx, j.ID, without, (page-1)*documentsPageSize, documentsPageSize)
	if err != nil {
		return v, err
	}
	if pages := max((total+documentsPageSize-1)/documentsPageSize, 1); page > pages {
		page = pages
		if rows, total, err = s.Imports.Store.DocumentRows(ctx, j.ID, without, (page-1)*documentsPageSize, documentsPageSize); err != nil {
			return v, err
		}
	}
	v.Total = total
	q := url.Values{}
	if without {
		q.Set("show", "without")
	}
	v.Pager = pager(routes.ImportDocuments.Path(j.ID), q, page, total, documentsPageSize, "#document-rows")
	v.Pager.Swap = "outerHTML"
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	docs, err := s.Imports.Store.RowDocuments(ctx, j.ID, ids)
	if err != nil {
		return v, err
	}
	byRow := map[int64][]views.DocRow{}
	for _, d := range docs {
		dr := views.DocRow{ID: d.ID, Filename: d.Filename, Size: humanSize(d.Size), SHA: d.SHA256, Uploaded: d.CashlinkID != ""}
		if d.RowID == 0 {
			v.Shared = append(v.Shared, dr)
		} else {
			byRow[d.RowID] = append(byRow[d.RowID], dr)
		}
	}
	for _, r := range rows {
		v.Rows = append(v.Rows, views.RowDocs{RowID: r.ID, Ref: r.Reference, Investor: viewer(c).Value(r.InvestorName), Docs: byRow[r.ID]})
	}
	if j.State == importer.JobDraft {
		pv, err := s.Imports.Store.Pending(ctx, j.ID)
		if err != nil {
			return v, err
		}
		if len(pv.Files) > 0 {
			dp := &views.DocPreview{Prepared: views.DateTime(pv.Created), Token: pv.Token}
			for _, f := range pv.Files {
				pf := views.PreviewFile{Filename: f.Filename, Size: humanSize(f.Size), Ref: f.Ref, Investor: viewer(c).Value(f.Investor), Problem: f.Problem}
				if f.Problem == "" {
					dp.Matched = append(dp.Matched, pf)
				} else {
					dp.Refused = append(dp.Refused, pf)
				}
			}
			if dp.Left, dp.LeftRefs, err = s.Imports.Store.RowsLeftWithoutDocument(ctx, j.ID, maxLeftShown); err != nil {
				return v, err
			}
			v.Preview = dp
		}
	}
	return v, nil
}

func (s *Server) importDocuments(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	v, err := s.documentsView(c, j)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.DocumentsStep(v), Fragment: views.DocumentRowsArea(v)})
}

func (s *Server) uploadDocument(c echo.Context) error {
	j, err := s.loadDraft(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	respond := func(status int, msg, errMsg string) error {
		v, err := s.documentsView(c, j)
		if err != nil {
			return err
		}
		v.Msg, v.Error = msg, errMsg
		return s.render(c, status, view{Title: j.Name, Nav: "imports", Content: views.DocumentsStep(v)})
	}
	row, _ := strconv.ParseInt(c.FormValue("row"), 10, 64) // none or not a number: the shared document
	if row != 0 {
		if _, err := s.Imports.Store.Row(ctx, j.ID, row); err != nil {
			return err
		}
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return respond(http.StatusUnprocessableEntity, "", "Choose a PDF file.")
	}
	if fh.Size > MaxDocumentSize {
		// Bytes too: just over the limit, both round to "10.0 MB".
		return respond(http.StatusRequestEntityTooLarge, "", fmt.Sprintf("%s is %d bytes, over the limit of %s (%d bytes).", fh.Filename, fh.Size, humanSize(MaxDocumentSize), MaxDocumentSize))
	}
	f, err := fh.Open()
	if err != nil {
		return respond(http.StatusUnprocessableEntity, "", "The file could not be read.")
	}
	content, err := io.ReadAll(io.LimitReader(f, MaxDocumentSize+1))
	f.Close()
	if err != nil || len(content) > MaxDocumentSize {
		return respond(http.StatusRequestEntityTooLarge, "", "The file is larger than the limit.")
	}
	if !importer.IsPDF(content) {
		return respond(http.StatusUnprocessableEntity, "", fmt.Sprintf("%s is not a PDF (it does not start with %%PDF-). Upload the signed PDF itself.", fh.Filename))
	}
	sum := sha256.Sum256(content)
	name := importer.CleanFilename(fh.Filename)
	_, err = s.Imports.Store.AddDocument(ctx, importer.Document{JobID: j.ID, RowID: row, Filename: name, SHA256: hex.EncodeToString(sum[:]),
		Category: j.DocCategory, Subject: j.DocSubject}, content)
	var dup *importer.DuplicateError
	if errors.As(err, &dup) {
		return respond(http.StatusConflict, "", name+": "+dup.Error()+".")
	}
	if err != nil {
		return err
	}
	if err := s.Imports.Store.Advance(ctx, j.ID, "review"); err != nil {
		return err
	}
	return respond(http.StatusOK, "Stored "+name+" ("+humanSize(int64(len(content)))+").", "")
}

func (s *Server) deleteDocument(c echo.Context) error {
	j, err := s.loadDraft(c)
	if err != nil {
		return err
	}
	doc, err := strconv.ParseInt(c.Param("doc"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err := s.Imports.Store.RemoveDocument(c.Request().Context(), j.ID, doc); err != nil {
		return err
	}
	return redirect(c, routes.ImportDocuments.Path(j.ID))
}

func (s *Server) setDocumentMeta(c echo.Context) error {
	j, err := s.loadDraft(c)
	if err != nil {
		return err
	}
	cat, subj := c.FormValue("category"), c.FormValue("subject")
	if strings.TrimSpace(cat) == "" || strings.TrimSpace(subj) == "" {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "Category and subject are both required.")
	}
	if err := s.Imports.Store.UpdateJob(c.Request().Context(), j.ID, importer.JobUpdate{DocCategory: &cat, DocSubject: &subj}); err != nil {
		return err
	}
	return redirect(c, routes.ImportDocuments.Path(j.ID))
}

func fmtTS(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04Z")
}

// previewDocuments matches the files of one upload to the job's rows and
// keeps them for the preview; nothing joins the job yet.
func (s *Server) previewDocuments(c echo.Context) error {
	j, err := s.loadDraft(c)
	if err != nil {
		return err
	}
	fail := func(status int, msg string) error {
		v, err := s.documentsView(c, j)
		if err != nil {
			return err
		}
		v.Error = msg
		return s.render(c, status, view{Title: j.Name, Nav: "imports", Content: views.DocumentsStep(v)})
	}
	form, err := c.MultipartForm()
	if err != nil || len(form.File["files"]) == 0 {
		return fail(http.StatusUnprocessableEntity, "Choose one or more PDF files.")
	}
	fhs := form.File["files"]
	if len(fhs) > maxBatchFiles {
		return fail(http.StatusRequestEntityTooLarge, fmt.Sprintf("%d files in one upload; at most %d. Upload them in parts: each part is matched and stored on its own.", len(fhs), maxBatchFiles))
	}
	files := make([]importer.UploadedFile, 0, len(fhs))
	for _, fh := range fhs {
		uf := importer.UploadedFile{Name: fh.Filename, Size: fh.Size}
		if fh.Size > MaxDocumentSize {
			uf.Problem = fmt.Sprintf("%s, over the limit of %s", humanSize(fh.Size), humanSize(MaxDocumentSize))
			files = append(files, uf)
			continue
		}
		f, err := fh.Open()
		if err != nil {
			uf.Problem = "could not be read"
			files = append(files, uf)
			continue
		}
		uf.Content, err = io.ReadAll(io.LimitReader(f, MaxDocumentSize+1))
		f.Close()
		if err != nil || len(uf.Content) > MaxDocumentSize {
			uf.Content, uf.Problem = nil, "could not be read whole, or is over the limit"
		}
		files = append(files, uf)
	}
	if _, err := s.wizard().PreviewDocuments(c.Request().Context(), j.ID, files); err != nil {
		return err
	}
	return redirect(c, routes.ImportDocuments.Path(j.ID)+"#preview-h")
}

// storeDocuments stores the previewed matches (when they are still the
// files shown: the form's preview token).
func (s *Server) storeDocuments(c echo.Context) error {
	j, err := s.loadDraft(c)
	if err != nil {
		return err
	}
	expect, err := strconv.Atoi(c.FormValue("expect"))
	if err != nil || expect < 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "The number of documents shown is missing.")
	}
	ctx := c.Request().Context()
	n, err := s.Imports.Store.StorePending(ctx, j.ID, expect, c.FormValue("preview"))
	var stale *importer.StaleCountError
	if errors.As(err, &stale) {
		v, verr := s.documentsView(c, j)
		if verr != nil {
			return verr
		}
		v.Error = "Nothing stored: the matched files changed (another upload replaced them). Look at the preview again."
		return s.render(c, http.StatusConflict, view{Title: j.Name, Nav: "imports", Content: views.DocumentsStep(v)})
	}
	if err != nil {
		return err
	}
	if err := s.Imports.Store.Advance(ctx, j.ID, "review"); err != nil {
		return err
	}
	msg := fmt.Sprintf("Stored %s.", views.Plural(int64(n), "document"))
	if n < expect {
		msg += fmt.Sprintf(" %s were already part of this import.", views.Count(expect-n))
	}
	if err := s.flash(c, "success", msg); err != nil {
		return err
	}
	return redirect(c, routes.ImportDocuments.Path(j.ID))
}

// discardDocuments drops the previewed files.
func (s *Server) discardDocuments(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if err := s.Imports.Store.DiscardPending(c.Request().Context(), j.ID); err != nil {
		return err
	}
	if err := s.flash(c, "info", "The matched files were discarded; nothing was stored."); err != nil {
		return err
	}
	return redirect(c, routes.ImportDocuments.Path(j.ID))
}
