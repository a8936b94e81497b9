// The review step of the import wizard.

package handlers

import (
	"errors"
	"fmt"
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

// reviewPageSize is how many rows one review page shows.
const reviewPageSize = 50

// reviewPlace reads the filter and page a review request was made from
// (query or form); an unknown filter shows everything.
func reviewPlace(c echo.Context) views.ReviewPlace {
	show := c.FormValue("show")
	if !importer.ValidShow(show) || show == importer.ShowAll {
		show = ""
	}
	page, _ := strconv.Atoi(c.FormValue("page"))
	return views.ReviewPlace{Show: show, Page: max(page, 1)}
}

// reviewURL is the review page at a filter and page.
func reviewURL(id int64, at views.ReviewPlace, extra ...string) string {
	q := url.Values{}
	if at.Show != "" {
		q.Set("show", at.Show)
	}
	if at.Page > 1 {
		q.Set("page", strconv.Itoa(at.Page))
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	if len(q) == 0 {
		return routes.ImportReview.Path(id)
	}
	return routes.ImportReview.Path(id) + "?" + q.Encode()
}

var showLabels = map[string]string{"": "All rows", importer.ShowProblems: "Rows with problems", importer.ShowReady: "Ready", importer.ShowSkipped: "Skipped"}

// reviewView builds the review at a filter and page: the counts in SQL
// (one query), one page of rows, Cashlink's answers about the job's
// investors (kept a minute; fresh reads them again).
func (s *Server) reviewView(c echo.Context, j importer.Job, at views.ReviewPlace, fresh bool) (views.ReviewView, error) {
	ctx := c.Request().Context()
	h, err := s.jobHeader(c, j, "review")
	if err != nil {
		return views.ReviewView{}, err
	}
	w := s.wizard()
	chk, problem, checked, err := w.CheckJobCached(ctx, j.ID, fresh)
	if err != nil {
		return views.ReviewView{}, err
	}
	n, err := s.Imports.Store.ReviewCounts(ctx, j.ID, chk)
	if err != nil {
		return views.ReviewView{}, err
	}
	v := views.ReviewView{H: h, Place: at, Editable: j.State == importer.JobDraft,
		CountsURL:  routes.ImportReviewCounts.Path(j.ID) + "?" + url.Values{"show": {at.Show}}.Encode(),
		RecheckURL: reviewURL(j.ID, at, "check", "fresh")}
	if problem != "" {
		v.JobProblems = append(v.JobProblems, problem)
	}
	if strings.TrimSpace(j.CampaignID) == "" {
		v.JobProblems = append([]string{"No Cashlink campaign chosen (step Mapping)."}, v.JobProblems...)
	}
	if !checked.IsZero() {
		v.CheckedAt = views.DateTime(checked)
	}
	v.Ready, v.Skipped, v.Docs, v.Investors = n.Ready, n.Skipped, n.Documents, n.Investors
	v.OK = len(v.JobProblems) == 0 && n.Problems == 0 && n.Ready > 0
	for _, f := range []string{"", importer.ShowProblems, importer.ShowReady, importer.ShowSkipped} {
		code := f
		if code == "" {
			code = importer.ShowAll
		}
		v.Filters = append(v.Filters, views.ReviewFilter{Code: code, Label: showLabels[f], Count: n.Of(f),
			Href: reviewURL(j.ID, views.ReviewPlace{Show: f}), Current: at.Show == f})
	}
	v.ShowLabel = showLabels[at.Show]
	for _, k := range importer.ProblemKinds {
		if k.Code == at.Show {
			v.ShowLabel = k.Label
		}
		if n.Kinds[k.Code] == 0 && k.Code != at.Show {
			continue
		}
		v.Kinds = append(v.Kinds, views.ReviewFilter{Code: k.Code, Label: k.Label, Count: n.Kinds[k.Code],
			Href: reviewURL(j.ID, views.ReviewPlace{Show: k.Code}), Current: at.Show == k.Code})
	}
	v.Shown = n.Of(at.Show)
	pages := max((v.Shown+reviewPageSize-1)/reviewPageSize, 1)
	v.Place.Page = min(at.Page, pages)
	rows, err := s.Imports.Store.ReviewRows(ctx, j.ID, at.Show, chk, (v.Place.Page-1)*reviewPageSize, reviewPageSize)
	if err != nil {
		return v, err
	}
	for _, r := range rows {
		v.Rows = append(v.Rows, reviewRowView(c, j, r))
	}
	q := url.Values{}
	if at.Show != "" {
		q.Set("show", at.Show)
	}
	v.Pager = pager(routes.ImportReview.Path(j.ID), q, v.Place.Page, v.Shown, reviewPageSize, "#review-area")
	v.Pager.Swap = "outerHTML"
	return v, nil
}

func reviewRowView(c echo.Context, j importer.Job, r importer.ReviewedRow) views.ReviewRow {
	rr := views.ReviewRow{ID: r.ID, Ref: r.Reference, Investor: viewer(c).Value(r.InvestorName), Cashlink: r.CashlinkInvestor, Units: r.Units,
		Signed: fmtTS(r.SignedAt), Accepted: fmtTS(r.AcceptedAt), Paid: fmtTS(r.PaidAt), Skip: r.Skip || r.State == importer.RowSkipped,
		SkipReason: r.SkipReason, Editable: j.State == importer.JobDraft, Amount: views.USD(r.Amount), Kinds: r.Kinds}
	for _, p := range r.Problems {
		rr.Problems = append(rr.Problems, p.What)
	}
	return rr
}

func (s *Server) importReview(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	v, err := s.reviewView(c, j, reviewPlace(c), c.QueryParam("check") == "fresh")
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.ReviewStep(v), Fragment: views.ReviewArea(v)})
}

// reviewCounts is the review's counts and bulk panel alone (asked for
// again by the page after a row swapped in place).
func (s *Server) reviewCounts(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	v, err := s.reviewView(c, j, reviewPlace(c), false)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.ReviewCounts(v)})
}

// reviewRow answers a row action: htmx gets the row alone (with the typed
// values and the refusal when there is one) and a signal for the counts;
// a plain post goes back to the page it came from.
func (s *Server) reviewRow(c echo.Context, j importer.Job, rowID int64, typed *views.ReviewRow, refusal string) error {
	at := reviewPlace(c)
	if !isFragment(c) {
		if refusal != "" {
			v, err := s.reviewView(c, j, at, false)
			if err != nil {
				return err
			}
			v.Error = refusal
			return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.ReviewStep(v)})
		}
		return redirect(c, reviewURL(j.ID, at)+"#review-row-"+strconv.FormatInt(rowID, 10))
	}
	ctx := c.Request().Context()
	chk, _, _, err := s.wizard().CheckJobCached(ctx, j.ID, false)
	if err != nil {
		return err
	}
	r, err := s.Imports.Store.ReviewRow(ctx, j.ID, rowID, chk)
	if err != nil {
		return err
	}
	h, err := s.jobHeader(c, j, "review")
	if err != nil {
		return err
	}
	rv := reviewRowView(c, j, r)
	status := http.StatusOK
	if refusal != "" {
		status = http.StatusUnprocessableEntity
		rv.Error = refusal
		if typed != nil { // what was typed stays in the fields
			rv.UnitsText, rv.Typed, rv.Signed, rv.Accepted, rv.Paid = typed.UnitsText, true, typed.Signed, typed.Accepted, typed.Paid
		}
	} else {
		c.Response().Header().Set("HX-Trigger", "reviewChanged")
	}
	return s.render(c, status, view{Content: views.ReviewTableRow(h, at, rv)})
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

// formDates reads a form's signed_at, accepted_at and paid_at into e and
// says what could not be read. A blank field leaves its date as it is,
// except with clearBlank (one row's edit), where a blank accepted_at or
// paid_at clears it (signed_at is required).
func formDates(c echo.Context, e *importer.RowEdit, clearBlank bool) (problems []string) {
	for _, f := range []struct {
		name string
		dst  **time.Time
	}{{"signed_at", &e.SignedAt}, {"accepted_at", &e.AcceptedAt}, {"paid_at", &e.PaidAt}} {
		v := strings.TrimSpace(c.FormValue(f.name))
		if v == "" {
			if clearBlank && f.name != "signed_at" {
				*f.dst = &time.Time{}
			}
			continue
		}
		t, err := parseTS(v)
		if err != nil {
			problems = append(problems, f.name+": "+err.Error())
		}
		*f.dst = &t
	}
	return problems
}

func (s *Server) editImportRow(c echo.Context) error {
	j, err := s.loadDraft(c)
	if err != nil {
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
	problems = append(problems, formDates(c, &e, true)...)
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
		typed := views.ReviewRow{UnitsText: c.FormValue("units"), Typed: true, Signed: c.FormValue("signed_at"), Accepted: c.FormValue("accepted_at"), Paid: c.FormValue("paid_at")}
		return s.reviewRow(c, j, row, &typed, "Row not changed: "+strings.Join(problems, "; ")+".")
	}
	return s.reviewRow(c, j, row, nil, "")
}

func (s *Server) skipImportRow(c echo.Context) error {
	j, err := s.loadDraft(c)
	if err != nil {
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
	return s.reviewRow(c, j, row, nil, "")
}

// reviewBulk applies a bulk action to every row the filter shows (all
// pages), when the filter still shows the number of rows the page said,
// and goes back to the same filter with the result.
func (s *Server) reviewBulk(c echo.Context) error {
	j, err := s.loadDraft(c)
	if err != nil {
		return err
	}
	at := reviewPlace(c)
	at.Page = 1
	expect, err := strconv.Atoi(c.FormValue("expect"))
	if err != nil || expect < 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "The number of rows shown is missing.")
	}
	act := importer.BulkAction(c.FormValue("action"))
	var dates importer.RowEdit
	var problems []string
	if act == importer.BulkDates {
		problems = formDates(c, &dates, false)
	}
	var n int
	if len(problems) == 0 {
		n, err = s.wizard().BulkEdit(c.Request().Context(), j.ID, at.Show, expect, act, dates)
	}
	var invalid *importer.InvalidError
	var stale *importer.StaleCountError
	switch {
	case len(problems) > 0, errors.As(err, &invalid), errors.As(err, &stale):
		msg := "Nothing changed: " + strings.Join(problems, "; ") + "."
		if err != nil {
			msg = err.Error()
		}
		v, verr := s.reviewView(c, j, at, false)
		if verr != nil {
			return verr
		}
		v.Error = msg
		return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.ReviewStep(v)})
	case err != nil:
		return err
	}
	what := map[importer.BulkAction]string{importer.BulkSkip: "Skipped", importer.BulkUnskip: "Included again", importer.BulkDates: "Set the dates of"}[act]
	msg := fmt.Sprintf("%s %s.", what, views.Plural(int64(n), "row"))
	if n < expect {
		msg += fmt.Sprintf(" %s of the %s shown could not change (they have started).", views.Count(expect-n), views.Count(expect))
	}
	if act != importer.BulkDates {
		at = views.ReviewPlace{} // the rows left the filter: show the whole list
	}
	if err := s.flash(c, "success", msg); err != nil {
		return err
	}
	return redirect(c, reviewURL(j.ID, at))
}
