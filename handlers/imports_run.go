// The run and result steps of the import wizard.

package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"github.com/labstack/echo/v4"

	"issuerconsole/routes"
	"issuerconsole/services/csvsafe"
	"issuerconsole/services/importer"
	"issuerconsole/views"
)

// actionRoutes are the pages that take a job action (cancel asks first).
var actionRoutes = map[importer.Action]routes.Route{
	importer.ActPause: routes.ImportPause, importer.ActResume: routes.ImportResume,
	importer.ActCancel: routes.ImportCancel, importer.ActRerun: routes.ImportRerun,
}

// runPageSize is how many rows the run page shows (and a poll reads).
const runPageSize = 50

func (s *Server) runView(c echo.Context, j importer.Job, result bool) (views.RunView, error) {
	ctx := c.Request().Context()
	page := pageOf(c.QueryParams(), 0, runPageSize)
	pp, err := s.wizard().Progress(ctx, j.ID, page, runPageSize)
	if err != nil {
		return views.RunView{}, err
	}
	j = pp.Job
	u, _ := currentUser(c)
	step := "run"
	if result {
		step = "result"
	}
	h := views.JobHeader{ID: j.ID, Name: j.Name, State: string(j.State), CSRF: s.page(c, "", "").CSRFToken, Rows: pp.Counts.Total, ReadOnly: !u.IsAdmin()}
	reached := slices.Index(importer.Steps, j.Step)
	for i, st := range importer.Steps {
		h.Steps = append(h.Steps, views.StepLink{Key: st, Label: stepLabels[st], Href: routes.ImportStep(j.ID, st), Current: st == step, Done: i < reached,
			Disabled: pp.Counts.Total == 0 && i > 0})
	}
	p := pp.Counts
	v := views.RunView{H: h, Result: result, Running: j.State == importer.JobRunning,
		AuditURL: string(routes.Audit) + "?" + url.Values{"job": {"job-" + strconv.FormatInt(j.ID, 10)}}.Encode(),
		Pager:    pager(routes.ImportStep(j.ID, step), c.QueryParams(), pp.Page, p.Total, runPageSize, "#run-area")}
	v.Total, v.Finished, v.Done, v.Failed, v.Skipped, v.Unknown, v.Waiting = p.Total, p.Finished(), p.Done, p.Failed, p.Skipped, p.Unknown, p.Waiting
	if p.Total > 0 {
		v.Percent = p.Finished() * 100 / p.Total
	}
	v.Poll = routes.ImportProgress.Path(j.ID)
	if pp.Page > 1 {
		v.Poll += "?page=" + strconv.Itoa(pp.Page)
	}
	for _, a := range pp.Actions {
		v.Actions = append(v.Actions, views.JobAction{Name: string(a), Label: a.Label(), Href: actionRoutes[a].Path(j.ID),
			Danger: a == importer.ActCancel, Secondary: a == importer.ActPause, Confirm: a == importer.ActCancel})
	}
	if _, ok := j.State.Next(importer.ActRemap); ok && p.Failed > 0 {
		v.Remap = routes.ImportRemap.Path(j.ID)
	}
	pv := viewer(c)
	for _, r := range pp.Rows {
		v.Rows = append(v.Rows, views.RunRow{ID: r.ID, Ref: r.Reference, Investor: pv.Value(r.InvestorName), State: string(r.State), Step: r.Step,
			Error: r.Error, Investment: r.CashlinkInvestment, Wallet: r.Wallet, Final: r.FinalStatus,
			AuditHref: string(routes.Audit) + "?" + url.Values{"job": {"job-" + strconv.FormatInt(j.ID, 10)}, "row": {"row-" + strconv.FormatInt(r.ID, 10)}}.Encode()})
	}
	return v, nil
}

func (s *Server) importRun(result bool) echo.HandlerFunc {
	return func(c echo.Context) error {
		j, err := s.loadJob(c)
		if err != nil {
			return err
		}
		if j.State == importer.JobDraft {
			return c.Redirect(http.StatusSeeOther, routes.ImportReview.Path(j.ID))
		}
		v, err := s.runView(c, j, result)
		if err != nil {
			return err
		}
		return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.RunStep(v), Fragment: views.RunProgress(v)})
	}
}

func (s *Server) importProgress(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	v, err := s.runView(c, j, j.State.Final())
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, view{Content: views.RunProgress(v)})
}

// importAction runs one of the run page's actions through the wizard; a
// refused one (the job is no longer in a state that allows it) is a 409
// in words, from handlers/errors.go.
func (s *Server) importAction(action importer.Action) echo.HandlerFunc {
	return func(c echo.Context) error {
		j, err := s.loadJob(c)
		if err != nil {
			return err
		}
		ctx, w, by := c.Request().Context(), s.wizard(), actor(c)
		switch action {
		case importer.ActPause:
			err = w.Pause(ctx, j.ID, by)
		case importer.ActResume:
			err = w.Resume(ctx, j.ID, by)
		case importer.ActRerun:
			err = w.Rerun(ctx, j.ID, by)
		case importer.ActCancel:
			var invalid *importer.InvalidError
			if err = w.Cancel(ctx, j.ID, by, c.FormValue("confirm") == "yes"); errors.As(err, &invalid) {
				return s.cancelPage(c, j, http.StatusUnprocessableEntity, invalid.Error())
			}
		default:
			return echo.NewHTTPError(http.StatusNotFound)
		}
		if err != nil {
			return err
		}
		return redirect(c, routes.ImportRun.Path(j.ID))
	}
}

// confirmCancel asks before a cancel: the rows not started yet will never
// be imported, not even by a re-run.
func (s *Server) confirmCancel(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if _, ok := j.State.Next(importer.ActCancel); !ok {
		return &importer.ConflictError{Job: j.ID, Action: importer.ActCancel, State: j.State}
	}
	return s.cancelPage(c, j, http.StatusOK, "")
}

func (s *Server) cancelPage(c echo.Context, j importer.Job, status int, errMsg string) error {
	p, err := s.Imports.Store.JobProgress(c.Request().Context(), j.ID)
	if err != nil {
		return err
	}
	v := views.CancelView{ID: j.ID, Name: j.Name, State: string(j.State), CSRF: s.page(c, "", "").CSRFToken,
		NotStarted: p.Pending, Finished: p.Finished(), Total: p.Total, Error: errMsg}
	return s.render(c, status, view{Title: "Cancel " + j.Name, Nav: "imports", Content: views.CancelConfirm(v)})
}

func (s *Server) importReport(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	rows, err := s.Imports.Store.Rows(c.Request().Context(), j.ID)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="import-%d-report.csv"`, j.ID))
	c.Response().Header().Set("Content-Type", "text/csv; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	cols := csvsafe.Names("row", "issuance_investment_id", "reference", "investor", "cashlink_investor", "units", "state", "step",
		"cashlink_investment", "wallet", "cashlink_status", "message")
	cols[0].Numeric, cols[1].Numeric, cols[5].Numeric = true, true, true
	w := csvsafe.NewWriter(c.Response(), cols)
	if err := w.WriteHeader(); err != nil {
		return err
	}
	pv := viewer(c)
	for _, r := range rows {
		if err := w.Write([]string{strconv.FormatInt(r.ID, 10), strconv.FormatInt(r.IssuanceID, 10), r.Reference, pv.Value(r.InvestorName),
			r.CashlinkInvestor, strconv.FormatInt(r.Units, 10), string(r.State), r.Step, r.CashlinkInvestment, r.Wallet, r.FinalStatus, r.Error}); err != nil {
			return err
		}
	}
	w.Flush()
	return w.Error()
}
