// The review step of the import wizard.

package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"issuerconsole/routes"
	"issuerconsole/services/importer"
	"issuerconsole/views"
)

func (s *Server) reviewView(c echo.Context, j importer.Job) (views.ReviewView, importer.Review, error) {
	ctx := c.Request().Context()
	h, err := s.jobHeader(c, j, "review")
	if err != nil {
		return views.ReviewView{}, importer.Review{}, err
	}
	v := views.ReviewView{H: h}
	rv, err := importer.Validate(ctx, s.Imports.Store, s.Cashlink, j)
	if err != nil {
		return v, rv, err
	}
	rows, err := s.Imports.Store.Rows(ctx, j.ID)
	if err != nil {
		return v, rv, err
	}
	for _, r := range rows {
		rr := views.ReviewRow{ID: r.ID, Ref: r.Reference, Investor: viewer(c).Value(r.InvestorName), Cashlink: r.CashlinkInvestor, Units: r.Units,
			Signed: fmtTS(r.SignedAt), Accepted: fmtTS(r.AcceptedAt), Paid: fmtTS(r.PaidAt), Skip: r.Skip, SkipReason: r.SkipReason,
			Editable: j.State == importer.JobDraft, Amount: r.Amount}
		for _, p := range rv.Problems[r.ID] {
			rr.Problems = append(rr.Problems, p.What)
		}
		v.Rows = append(v.Rows, rr)
	}
	v.JobProblems, v.Ready, v.Skipped, v.Docs, v.Investors, v.OK = rv.JobProblems, rv.Ready, rv.Skipped, rv.Documents, rv.Investors, rv.OK()
	v.Phrase = importer.ConfirmPhrase(rv.Ready)
	return v, rv, nil
}

func (s *Server) importReview(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	v, _, err := s.reviewView(c, j)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.ReviewStep(v)})
}

func parseTS(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, l := range []string{time.RFC3339, "2006-01-02T15:04Z", "2006-01-02T15:04", "2006-01-02 15:04"} {
		if t, err := time.Parse(l, v); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a date-time (2026-03-12T07:14Z)", v)
}

func (s *Server) editImportRow(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if err := editable(j); err != nil {
		return err
	}
	row, err := strconv.ParseInt(c.Param("row"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	var e importer.RowEdit
	var problems []string
	if u := strings.TrimSpace(c.FormValue("units")); u != "" {
		n, err := strconv.ParseInt(u, 10, 64)
		if err != nil || n <= 0 {
			problems = append(problems, "units must be a positive whole number")
		}
		e.Units = &n
	}
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"signed_at", &e.SignedAt}, {"accepted_at", &e.AcceptedAt}, {"paid_at", &e.PaidAt}} {
		v := strings.TrimSpace(c.FormValue(f.name))
		if v == "" {
			if f.name != "signed_at" {
				zero := time.Time{}
				*f.dst = &zero
			}
			continue
		}
		t, err := parseTS(v)
		if err != nil {
			problems = append(problems, f.name+": "+err.Error())
		}
		*f.dst = &t
	}
	ctx := c.Request().Context()
	if len(problems) == 0 {
		var conflict *importer.ConflictError
		if err := s.Imports.Store.EditRow(ctx, j.ID, row, e); errors.As(err, &conflict) {
			problems = append(problems, err.Error())
		} else if err != nil {
			return err
		}
	}
	if len(problems) > 0 {
		v, _, err := s.reviewView(c, j)
		if err != nil {
			return err
		}
		v.Error = "Row not changed: " + strings.Join(problems, "; ") + "."
		return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.ReviewStep(v)})
	}
	return redirect(c, routes.ImportReview.Path(j.ID))
}

func (s *Server) skipImportRow(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if err := editable(j); err != nil {
		return err
	}
	row, err := strconv.ParseInt(c.Param("row"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	skip := c.FormValue("skip") == "true"
	reason := "skipped at review"
	if err := s.Imports.Store.EditRow(c.Request().Context(), j.ID, row, importer.RowEdit{Skip: &skip, SkipReason: &reason}); err != nil {
		return err
	}
	return redirect(c, routes.ImportReview.Path(j.ID))
}
