package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/cashlink"
	"issuerconsole/services/csvsafe"
	"issuerconsole/services/importer"
	"issuerconsole/services/issuance"
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

var stepLabels = map[string]string{"source": "Source", "mapping": "Mapping", "documents": "Documents", "review": "Review", "run": "Run", "result": "Result"}

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
		link := views.StepLink{Key: st, Label: stepLabels[st], Href: fmt.Sprintf("/imports/%d/%s", j.ID, st), Current: st == current, Done: i < reached}
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
	return redirect(c, fmt.Sprintf("/imports/%d/source", j.ID))
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
	return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/imports/%d/%s", j.ID, step))
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

// --- 1. Source

func (s *Server) sourceView(c echo.Context, j importer.Job) (views.SourceView, error) {
	ctx := c.Request().Context()
	h, err := s.jobHeader(c, j, "source")
	if err != nil {
		return views.SourceView{}, err
	}
	pv := viewer(c)
	v := views.SourceView{H: h, Query: pv.Query(j.SourceQuery), Kind: j.SourceKind, Count: h.Rows}
	opts := s.offeringOptions(c)
	if len(opts) > 1 {
		v.Offerings = opts[1:]
	}
	saved, err := s.Searches.List(ctx)
	if err != nil {
		return v, err
	}
	for _, ss := range saved {
		v.Saved = append(v.Saved, views.SavedSearch{Name: ss.Name, URL: pv.Query(ss.Query)})
	}
	return v, nil
}

func (s *Server) importSource(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	v, err := s.sourceView(c, j)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.SourceStep(v)})
}

func (s *Server) setImportSource(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if err := editable(j); err != nil {
		return err
	}
	ctx := c.Request().Context()
	var rows []importer.Row
	var warns []string
	kind, query := c.FormValue("kind"), ""
	fail := func(msg string, csvErrs []string) error {
		v, err := s.sourceView(c, j)
		if err != nil {
			return err
		}
		v.Error, v.CSVErrors = msg, csvErrs
		return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.SourceStep(v)})
	}
	switch kind {
	case "offering", "search":
		q := url.Values{}
		if kind == "offering" {
			form, _ := c.FormParams()
			if _, err := strconv.ParseInt(form.Get("offering"), 10, 64); err != nil {
				return fail("Choose an offering.", nil)
			}
			q.Set("offering", form.Get("offering"))
			if len(form["status"]) > 0 {
				q.Set("status__in", strings.Join(form["status"], ","))
			}
		} else {
			raw := strings.TrimSpace(c.FormValue("query"))
			if i := strings.Index(raw, "?"); i >= 0 {
				raw = raw[i+1:] // a whole URL was pasted
			}
			parsed, perr := url.ParseQuery(raw)
			if perr != nil {
				return fail("That is not a search query (example: offering=1&status__in=accepted,invested).", nil)
			}
			q = canonicalQuery(issuance.InvestmentParams, parsed)
			if check := issuance.CheckQuery(issuance.InvestmentParams, q); !check.OK() {
				var msgs []string
				for k, m := range check.Errors {
					msgs = append(msgs, k+": "+strings.Join(m, " "))
				}
				sort.Strings(msgs)
				return fail("The search has errors: "+strings.Join(msgs, "; "), nil)
			}
		}
		q.Del("page")
		q.Del("page_size")
		query = q.Encode()
		rows, warns, err = s.Imports.Sourcer.FromQuery(ctx, q)
	case "csv":
		fh, ferr := c.FormFile("file")
		if ferr != nil {
			return fail("Choose a CSV file.", nil)
		}
		f, ferr := fh.Open()
		if ferr != nil {
			return fail("The file could not be read.", nil)
		}
		lines, errs := importer.ParseCSV(f)
		f.Close()
		if len(errs) > 0 {
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			return fail("", msgs)
		}
		query = fh.Filename
		rows, warns, err = s.Imports.Sourcer.FromCSV(ctx, lines)
	default:
		return echo.NewHTTPError(http.StatusBadRequest, "Unknown source.")
	}
	if err != nil {
		return fail(err.Error(), nil)
	}
	var invalid *importer.InvalidError
	if err := s.wizard().SetSource(ctx, j.ID, kind, query, rows); errors.As(err, &invalid) {
		return fail(invalid.Error(), nil)
	} else if err != nil {
		return err
	}
	if j, err = s.Imports.Store.Job(ctx, j.ID); err != nil {
		return err
	}
	v, err := s.sourceView(c, j)
	if err != nil {
		return err
	}
	v.Warnings = warns
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.SourceStep(v)})
}

// --- 2. Mapping

// catalogLabel shows a kept campaign or product with its terms.
func catalogLabel(it importer.CatalogItem) string {
	l := it.Name
	if it.PricePerUnit != "" {
		l += " · " + it.PricePerUnit + " " + it.Currency + " per unit"
	} else if it.Currency != "" {
		l += " · " + it.Currency
	}
	return l + " (" + it.ID + ")"
}

func investorKey(id int64) string { return strconv.FormatInt(id, 10) }

func (s *Server) mappingView(c echo.Context, j importer.Job) (views.MappingView, error) {
	ctx := c.Request().Context()
	h, err := s.jobHeader(c, j, "mapping")
	if err != nil {
		return views.MappingView{}, err
	}
	v := views.MappingView{H: h, CampaignID: j.CampaignID, ProductID: j.ProductID,
		Live: s.Mode == "live", TimestampRule: importer.TimestampRule}
	pv := viewer(c)
	// The same in both modes: what the console keeps (Settings → Cashlink
	// campaigns), never the emulator's /sandbox/ listing.
	cat, err := s.Imports.Store.Catalog(ctx)
	if err != nil {
		return v, err
	}
	if len(cat.Campaigns) > 0 || len(cat.Products) > 0 {
		v.Campaigns = []views.Option{{Value: "", Label: "choose…"}}
		for _, cp := range cat.Campaigns {
			v.Campaigns = append(v.Campaigns, views.Option{Value: cp.ID, Label: catalogLabel(cp)})
		}
		v.Products = []views.Option{{Value: "", Label: "choose…"}}
		for _, pr := range cat.Products {
			v.Products = append(v.Products, views.Option{Value: pr.ID, Label: catalogLabel(pr)})
		}
		// An id the job holds that is no longer kept stays selectable.
		for _, x := range []struct {
			id   string
			opts *[]views.Option
		}{{j.CampaignID, &v.Campaigns}, {j.ProductID, &v.Products}} {
			if x.id != "" && !slices.ContainsFunc(*x.opts, func(o views.Option) bool { return o.Value == x.id }) {
				*x.opts = append(*x.opts, views.Option{Value: x.id, Label: x.id + " (not in the kept list)"})
			}
		}
	}
	for _, inv := range cat.Investors {
		v.CatalogIDs = append(v.CatalogIDs, views.Option{Value: inv.ID, Label: pv.Value(inv.Name) + " <" + pv.Value(inv.Email) + ">"})
	}
	rows, err := s.Imports.Store.Rows(ctx, j.ID)
	if err != nil {
		return v, err
	}
	maps, err := s.Imports.Store.Mappings(ctx)
	if err != nil {
		return v, err
	}
	byInv := map[int64]*views.MapInvestor{}
	var order []int64
	for _, r := range rows {
		if r.IssuanceInvestor == 0 {
			v.Unlinked = append(v.Unlinked, views.ReviewRow{ID: r.ID, Ref: r.Reference, Investor: pv.Value(r.InvestorName), Cashlink: r.CashlinkInvestor})
			continue
		}
		m, ok := byInv[r.IssuanceInvestor]
		if !ok {
			m = &views.MapInvestor{IssuanceInvestor: r.IssuanceInvestor, Key: investorKey(r.IssuanceInvestor), Name: pv.Value(r.InvestorName),
				Email: pv.Value(r.InvestorEmail), Cashlink: r.CashlinkInvestor, NaturalPerson: true}
			if mp, ok := maps[r.IssuanceInvestor]; ok && mp.CashlinkInvestor == r.CashlinkInvestor {
				m.Source = mp.Source
			}
			byInv[r.IssuanceInvestor] = m
			order = append(order, r.IssuanceInvestor)
		}
		m.Rows++
	}
	for _, id := range order {
		v.Investors = append(v.Investors, *byInv[id])
	}
	return v, nil
}

func (s *Server) importMapping(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	v, err := s.mappingView(c, j)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
}

func (s *Server) setImportMapping(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if err := editable(j); err != nil {
		return err
	}
	ctx := c.Request().Context()
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	ch := importer.MappingChange{CampaignID: form.Get("campaign_id"), ProductID: form.Get("product_id"),
		Match: form.Get("action") == "match", Investors: map[int64]string{}, Rows: map[int64]string{}}
	for k, vals := range form {
		val := strings.TrimSpace(vals[len(vals)-1])
		if id, err := strconv.ParseInt(strings.TrimPrefix(k, "map-"), 10, 64); strings.HasPrefix(k, "map-") && err == nil {
			ch.Investors[id] = val
		}
		if id, err := strconv.ParseInt(strings.TrimPrefix(k, "row-"), 10, 64); strings.HasPrefix(k, "row-") && err == nil {
			ch.Rows[id] = val
		}
	}
	msg, err := s.wizard().SaveMapping(ctx, j.ID, actor(c), ch)
	var invalid *importer.InvalidError
	var conflict *importer.ConflictError
	switch {
	case errors.As(err, &invalid):
		v, verr := s.mappingView(c, j)
		if verr != nil {
			return verr
		}
		v.Error = "Some rows were not changed: " + invalid.Error()
		return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
	case errors.As(err, &conflict), errors.Is(err, importer.ErrNotFound):
		return err
	case err != nil:
		return s.mappingNotSaved(c, j, err)
	}
	if j, err = s.Imports.Store.Job(ctx, j.ID); err != nil {
		return err
	}
	v, err := s.mappingView(c, j)
	if err != nil {
		return err
	}
	v.Msg = msg
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
}

func (s *Server) uploadMappings(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if err := editable(j); err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, _ := currentUser(c)
	fail := func(msg string) error {
		v, err := s.mappingView(c, j)
		if err != nil {
			return err
		}
		v.Error = msg
		return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
	}
	fh, err := c.FormFile("file")
	if err != nil {
		return fail("Choose a CSV file.")
	}
	f, err := fh.Open()
	if err != nil {
		return fail("The file could not be read.")
	}
	defer f.Close()
	maps, errs := parseMappingCSV(f)
	if len(errs) > 0 {
		return fail("The mapping file was not applied: " + strings.Join(errs, "; "))
	}
	if err := s.Imports.Store.MapInvestors(ctx, j.ID, maps, remembered(maps, "csv"), u.ID); err != nil {
		return s.mappingNotSaved(c, j, err)
	}
	v, err := s.mappingView(c, j)
	if err != nil {
		return err
	}
	v.Msg = fmt.Sprintf("Applied %d mappings from %s.", len(maps), fh.Filename)
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
}

// remembered lists mappings to remember for later jobs.
func remembered(maps map[int64]string, source string) []importer.Mapping {
	out := make([]importer.Mapping, 0, len(maps))
	for inv, cl := range maps {
		out = append(out, importer.Mapping{IssuanceInvestor: inv, CashlinkInvestor: cl, Source: source})
	}
	return out
}

// mappingNotSaved answers a failed MapInvestors (one transaction: nothing
// was saved); the cause is logged, not shown.
func (s *Server) mappingNotSaved(c echo.Context, j importer.Job, err error) error {
	s.Logger.Error("saving investor mappings", "job", j.ID, "err", err)
	v, verr := s.mappingView(c, j)
	if verr != nil {
		return verr
	}
	v.Error = "The console could not save the mappings, so none was changed (the cause is in the log). Try again."
	return s.render(c, http.StatusInternalServerError, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
}

// parseMappingCSV reads issuance_investor_id,cashlink_investor_id lines.
func parseMappingCSV(r io.Reader) (map[int64]string, []string) {
	cr := csv.NewReader(importer.CapReader(r, maxMappingCSVSize))
	cr.FieldsPerRecord = -1
	out := map[int64]string{}
	lineOf := map[int64]int{}
	var errs []string
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, importer.ErrTooLarge) {
			return nil, []string{fmt.Sprintf("the file is larger than %d MB", maxMappingCSVSize>>20)}
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("line %d: not valid CSV", line))
			break
		}
		if line == 1 && len(rec) > 0 && strings.Contains(strings.ToLower(rec[0]), "issuance") {
			continue
		}
		if len(rec) < 2 {
			errs = append(errs, fmt.Sprintf("line %d: two columns needed", line))
			continue
		}
		id, err := strconv.ParseInt(strings.TrimSpace(rec[0]), 10, 64)
		cl := strings.TrimSpace(rec[1])
		if err != nil || id <= 0 || cl == "" {
			errs = append(errs, fmt.Sprintf("line %d: an Issuance investor id and a Cashlink investor id are needed", line))
			continue
		}
		if prev, dup := out[id]; dup && prev != cl {
			errs = append(errs, fmt.Sprintf("line %d: investor %d is mapped to %s on line %d already", line, id, prev, lineOf[id]))
			continue
		}
		out[id], lineOf[id] = cl, line
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, "no mapping in the file")
	}
	return out, errs
}

// createCashlinkInvestor creates a natural person in Cashlink for an
// Issuance investor and maps it.
func (s *Server) createCashlinkInvestor(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if err := editable(j); err != nil {
		return err
	}
	ctx := c.Request().Context()
	inv, err := strconv.ParseInt(c.FormValue("investor"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	f := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	in := cashlink.NewInvestor{NaturalPerson: cashlink.NaturalPerson{Salutation: f("salutation"), Forename: f("forename"), Surname: f("surname"),
		BirthDate: f("birth_date"), BirthPlace: f("birth_place"), Citizenship: f("citizenship"), Street: f("street"), City: f("city"),
		Zip: f("zip"), Country: f("country"), Phone: f("phone")}, IsBeneficiary: true}
	if e := f("email"); e != "" {
		in.Communication = &cashlink.Communication{Email: e}
	}
	v, verr := s.mappingView(c, j)
	if verr != nil {
		return verr
	}
	id, err := s.wizard().CreateInvestor(ctx, s.Cashlink, j.ID, inv, in, actor(c))
	var up *importer.UpstreamError
	switch {
	case errors.As(err, &up):
		// The form keeps what was typed; a refusal is the input's (422), a
		// lost answer Cashlink's (502).
		status := http.StatusBadGateway
		if up.Refused {
			status = http.StatusUnprocessableEntity
		}
		v.Error = up.Message
		return s.render(c, status, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
	case err != nil && id != "":
		s.Logger.Error("saving the mapping of a created investor", "job", j.ID, "investor", inv, "err", err)
		v.Error = "Cashlink created the investor " + id + ", but the console could not save the mapping (the cause is in the log). " +
			"Submit the form again: the same idempotency key returns the same investor, no second one is created."
		return s.render(c, http.StatusInternalServerError, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
	case err != nil:
		return err
	}
	if v, err = s.mappingView(c, j); err != nil {
		return err
	}
	v.Msg = "Created the Cashlink investor " + id + " and mapped it. New investors may need identification and a wallet before the import can credit them."
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
}

// --- 3. Documents

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
	return redirect(c, fmt.Sprintf("/imports/%d/documents", j.ID))
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
	return redirect(c, fmt.Sprintf("/imports/%d/documents", j.ID))
}

// --- 4. Review

func fmtTS(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04Z")
}

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
	return redirect(c, fmt.Sprintf("/imports/%d/review", j.ID))
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
	return redirect(c, fmt.Sprintf("/imports/%d/review", j.ID))
}

// startImport hands the typed confirmation to the wizard, which checks
// everything again and starts the run.
func (s *Server) startImport(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	var invalid *importer.InvalidError
	err = s.wizard().Confirm(c.Request().Context(), j.ID, actor(c), c.FormValue("confirm"))
	if errors.As(err, &invalid) {
		v, _, verr := s.reviewView(c, j)
		if verr != nil {
			return verr
		}
		v.Error = invalid.Error()
		return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.ReviewStep(v)})
	}
	if err != nil {
		return err
	}
	return redirect(c, fmt.Sprintf("/imports/%d/run", j.ID))
}

// --- 5. Run and 6. Result

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
		h.Steps = append(h.Steps, views.StepLink{Key: st, Label: stepLabels[st], Href: fmt.Sprintf("/imports/%d/%s", j.ID, st), Current: st == step, Done: i < reached,
			Disabled: pp.Counts.Total == 0 && i > 0})
	}
	p := pp.Counts
	v := views.RunView{H: h, Result: result, Running: j.State == importer.JobRunning,
		AuditURL: "/audit?" + url.Values{"job": {"job-" + strconv.FormatInt(j.ID, 10)}}.Encode(),
		Pager:    pager(fmt.Sprintf("/imports/%d/%s", j.ID, step), c.QueryParams(), pp.Page, p.Total, runPageSize, "#run-area")}
	v.Total, v.Finished, v.Done, v.Failed, v.Skipped, v.Unknown, v.Waiting = p.Total, p.Finished(), p.Done, p.Failed, p.Skipped, p.Unknown, p.Waiting
	if p.Total > 0 {
		v.Percent = p.Finished() * 100 / p.Total
	}
	v.Poll = fmt.Sprintf("/imports/%d/progress", j.ID)
	if pp.Page > 1 {
		v.Poll += "?page=" + strconv.Itoa(pp.Page)
	}
	for _, a := range pp.Actions {
		v.Actions = append(v.Actions, views.JobAction{Name: string(a), Label: a.Label(), Href: fmt.Sprintf("/imports/%d/%s", j.ID, a),
			Danger: a == importer.ActCancel, Secondary: a == importer.ActPause, Confirm: a == importer.ActCancel})
	}
	pv := viewer(c)
	for _, r := range pp.Rows {
		v.Rows = append(v.Rows, views.RunRow{ID: r.ID, Ref: r.Reference, Investor: pv.Value(r.InvestorName), State: string(r.State), Step: r.Step,
			Error: r.Error, Investment: r.CashlinkInvestment, Wallet: r.Wallet, Final: r.FinalStatus,
			AuditHref: "/audit?" + url.Values{"job": {"job-" + strconv.FormatInt(j.ID, 10)}, "row": {"row-" + strconv.FormatInt(r.ID, 10)}}.Encode()})
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
			return c.Redirect(http.StatusSeeOther, fmt.Sprintf("/imports/%d/review", j.ID))
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
		return redirect(c, fmt.Sprintf("/imports/%d/run", j.ID))
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
