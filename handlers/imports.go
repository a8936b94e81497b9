package handlers

import (
	"net/http"
	"slices"

	"github.com/labstack/echo/v4"

	"issuerconsole/routes"
	"issuerconsole/services/csvsafe"
	"issuerconsole/services/importer"
	"issuerconsole/views"
)

// ImportDeps are the wizard's services (nil when Issuance or Cashlink is
// not configured).
type ImportDeps struct {
	Store   *importer.Store
	Engine  *importer.Engine
	Sourcer *importer.Sourcer
}

// MaxDocumentSize caps one signed document.
const MaxDocumentSize = 10 << 20

// maxMappingCSVSize caps a mapping CSV.
const maxMappingCSVSize = 5 << 20

var stepLabels = map[string]string{"source": "Source", "mapping": "Mapping", "documents": "Documents", "review": "Review", "confirm": "Confirm", "run": "Run", "result": "Result"}

func (s *Server) requireImports() error {
	if s.Imports.Store == nil || s.Cashlink == nil || s.Issuance == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "Imports need both APIs: configure Issuance and Cashlink (see Settings).")
	}
	return nil
}

// wizard is the import use cases over this server's services.
func (s *Server) wizard() *importer.Wizard {
	return &importer.Wizard{Store: s.Imports.Store, Engine: s.Imports.Engine, Audit: s.Audit, Registry: s.Cashlink}
}

func actor(c echo.Context) importer.Actor {
	u, _ := currentUser(c)
	return importer.Actor{ID: u.ID, Email: u.Email}
}

func (s *Server) loadJob(c echo.Context) (importer.Job, error) {
	if err := s.requireImports(); err != nil {
		return importer.Job{}, err
	}
	id, err := pathID(c)
	if err != nil {
		return importer.Job{}, err
	}
	return s.Imports.Store.Job(c.Request().Context(), id)
}

// loadDraft is loadJob for a change of the job: refused at once when the
// job has started (editable).
func (s *Server) loadDraft(c echo.Context) (importer.Job, error) {
	j, err := s.loadJob(c)
	if err != nil {
		return j, err
	}
	return j, editable(j)
}

// editable refuses at once a change of a job that has started (the
// store's guarded writes refuse it too, whatever happens in between).
func editable(j importer.Job) error {
	if j.State != importer.JobDraft {
		return &importer.ConflictError{Job: j.ID, State: j.State, Reason: "This import has started; its source, mapping and documents can no longer change."}
	}
	return nil
}

func (s *Server) jobHeader(c echo.Context, j importer.Job, current string) (views.JobHeader, error) {
	u, _ := currentUser(c)
	p := s.page(c, "", "")
	n, err := s.Imports.Store.JobProgress(c.Request().Context(), j.ID)
	if err != nil {
		return views.JobHeader{}, err
	}
	rows := n.Total
	h := views.JobHeader{ID: j.ID, Name: j.Name, State: string(j.State), Draft: j.State == importer.JobDraft, CSRF: p.CSRFToken, Rows: rows,
		ReadOnly: !u.IsAdmin() || j.State != importer.JobDraft && current != "run" && current != "result"}
	reached := slices.Index(importer.Steps, j.Step)
	for i, st := range importer.Steps {
		link := views.StepLink{Key: st, Label: stepLabels[st], Href: routes.ImportStep(j.ID, st), Current: st == current, Done: i < reached}
		if rows == 0 && i > 0 || (st == "run" || st == "result") && j.State == importer.JobDraft {
			link.Disabled = true
		}
		h.Steps = append(h.Steps, link)
	}
	return h, nil
}

func (s *Server) importsList(c echo.Context) error {
	if err := s.requireImports(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	jobs, err := s.Imports.Store.Jobs(ctx, "")
	if err != nil {
		return err
	}
	u, _ := currentUser(c)
	l := views.ImportsList{CanEdit: u.IsAdmin(), CSRF: s.page(c, "", "").CSRFToken}
	for _, j := range jobs {
		p, err := s.Imports.Store.JobProgress(ctx, j.ID)
		if err != nil {
			return err
		}
		by, _ := s.Accounts.Get(ctx, j.CreatedBy) // a deleted user shows no e-mail
		l.Jobs = append(l.Jobs, views.ImportJobRow{ID: j.ID, Name: j.Name, State: string(j.State), Step: stepLabels[j.Step],
			Created: views.FormatTime(j.CreatedAt), CreatedBy: by.Email, Rows: p.Total, Done: p.Done, Failed: p.Failed})
	}
	return s.render(c, http.StatusOK, view{Title: "Imports", Nav: "imports", Content: views.ImportsPage(l)})
}

func (s *Server) createImport(c echo.Context) error {
	if err := s.requireImports(); err != nil {
		return err
	}
	u, _ := currentUser(c)
	j, err := s.Imports.Store.CreateJob(c.Request().Context(), c.FormValue("name"), u.ID)
	if err != nil {
		return err
	}
	return redirect(c, routes.ImportSource.Path(j.ID))
}

func (s *Server) importJob(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	step := j.Step
	if j.State != importer.JobDraft {
		step = "run"
		if j.State == importer.JobDone || j.State == importer.JobCancelled {
			step = "result"
		}
	}
	return c.Redirect(http.StatusSeeOther, routes.ImportStep(j.ID, step))
}

func (s *Server) importTemplate(c echo.Context) error {
	c.Response().Header().Set("Content-Disposition", `attachment; filename="import-template.csv"`)
	c.Response().Header().Set("Content-Type", "text/csv; charset=utf-8")
	c.Response().WriteHeader(http.StatusOK)
	cols := csvsafe.Names(importer.CSVColumns...)
	cols[0].Numeric, cols[2].Numeric = true, true
	w := csvsafe.NewWriter(c.Response(), cols)
	w.WriteHeader()
	w.Write(importer.TemplateExample)
	w.Flush()
	return w.Error()
}
