// The documents step of the import wizard.

package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
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

func (s *Server) documentsView(c echo.Context, j importer.Job) (views.DocumentsView, error) {
	ctx := c.Request().Context()
	h, err := s.jobHeader(c, j, "documents")
	if err != nil {
		return views.DocumentsView{}, err
	}
	v := views.DocumentsView{H: h, Category: j.DocCategory, Subject: j.DocSubject, MaxSize: humanSize(MaxDocumentSize)}
	docs, err := s.Imports.Store.Documents(ctx, j.ID)
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
	rows, err := s.Imports.Store.Rows(ctx, j.ID)
	if err != nil {
		return v, err
	}
	for _, r := range rows {
		v.Rows = append(v.Rows, views.RowDocs{RowID: r.ID, Ref: r.Reference, Investor: viewer(c).Value(r.InvestorName), Docs: byRow[r.ID]})
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
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.DocumentsStep(v)})
}

func (s *Server) uploadDocument(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if err := editable(j); err != nil {
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
	if !bytes.HasPrefix(content, []byte("%PDF-")) {
		return respond(http.StatusUnprocessableEntity, "", fmt.Sprintf("%s is not a PDF (it does not start with %%PDF-). Upload the signed PDF itself.", fh.Filename))
	}
	sum := sha256.Sum256(content)
	name := strings.Map(func(r rune) rune {
		if r < 32 || r == '/' || r == '\\' || r == '"' {
			return '_'
		}
		return r
	}, fh.Filename)
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
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if err := editable(j); err != nil {
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
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if err := editable(j); err != nil {
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
