// The mapping step of the import wizard.

package handlers

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"issuerconsole/routes"
	"issuerconsole/services/cashlink"
	"issuerconsole/services/importer"
	"issuerconsole/views"
)

func investorKey(id int64) string { return strconv.FormatInt(id, 10) }

// mappingPageSize is how many Issuance investors one mapping page shows.
const mappingPageSize = 50

// maxUnlinkedShown bounds the investments without an Issuance investor
// listed at once (each has an input).
const maxUnlinkedShown = 200

func mappingPlace(c echo.Context) views.MappingPlace {
	show := c.FormValue("show")
	if show != importer.InvestorsUnmapped && show != importer.InvestorsMapped {
		show = ""
	}
	page, _ := strconv.Atoi(c.FormValue("page"))
	return views.MappingPlace{Show: show, Page: max(page, 1)}
}

func mappingURL(id int64, at views.MappingPlace) string {
	q := url.Values{}
	if at.Show != "" {
		q.Set("show", at.Show)
	}
	if at.Page > 1 {
		q.Set("page", strconv.Itoa(at.Page))
	}
	if len(q) == 0 {
		return routes.ImportMapping.Path(id)
	}
	return routes.ImportMapping.Path(id) + "?" + q.Encode()
}

func (s *Server) mappingView(c echo.Context, j importer.Job) (views.MappingView, error) {
	ctx := c.Request().Context()
	h, err := s.jobHeader(c, j, "mapping")
	if err != nil {
		return views.MappingView{}, err
	}
	at := mappingPlace(c)
	v := views.MappingView{H: h, CampaignID: j.CampaignID, ProductID: j.ProductID,
		Live: s.Mode == "live", TimestampRule: importer.TimestampRule, Place: at}
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
	n, err := s.Imports.Store.InvestorCounts(ctx, j.ID)
	if err != nil {
		return v, err
	}
	v.Unmapped, v.UnlinkedRows = n.Unmapped, n.UnlinkedRows
	v.CountsURL = routes.ImportMappingCounts.Path(j.ID)
	if at.Show != "" {
		v.CountsURL += "?" + url.Values{"show": {at.Show}}.Encode()
	}
	for _, f := range []struct{ code, label string }{{"", "All"}, {importer.InvestorsUnmapped, "Without a Cashlink investor"}, {importer.InvestorsMapped, "Mapped"}} {
		code := f.code
		if code == "" {
			code = importer.InvestorsAll
		}
		v.Filters = append(v.Filters, views.MappingFilter{Code: code, Label: f.label, Count: n.Of(f.code),
			Href: mappingURL(j.ID, views.MappingPlace{Show: f.code}), Current: at.Show == f.code})
	}
	shown := n.Of(at.Show)
	pages := max((shown+mappingPageSize-1)/mappingPageSize, 1)
	v.Place.Page = min(at.Page, pages)
	groups, err := s.Imports.Store.InvestorGroups(ctx, j.ID, at.Show, (v.Place.Page-1)*mappingPageSize, mappingPageSize)
	if err != nil {
		return v, err
	}
	for _, g := range groups {
		v.Investors = append(v.Investors, mapInvestorView(c, g))
	}
	q := url.Values{}
	if at.Show != "" {
		q.Set("show", at.Show)
	}
	v.Pager = pager(routes.ImportMapping.Path(j.ID), q, v.Place.Page, shown, mappingPageSize, "#mapping-investors")
	v.Pager.Swap = "outerHTML"
	unlinked, err := s.Imports.Store.UnlinkedRows(ctx, j.ID, maxUnlinkedShown)
	if err != nil {
		return v, err
	}
	for _, r := range unlinked {
		v.Unlinked = append(v.Unlinked, views.ReviewRow{ID: r.ID, Ref: r.Reference, Investor: pv.Value(r.InvestorName), Cashlink: r.CashlinkInvestor})
	}
	return v, nil
}

func mapInvestorView(c echo.Context, g importer.InvestorGroup) views.MapInvestor {
	pv := viewer(c)
	return views.MapInvestor{IssuanceInvestor: g.IssuanceInvestor, Key: investorKey(g.IssuanceInvestor), Name: pv.Value(g.Name),
		Email: pv.Value(g.Email), Cashlink: g.Cashlink, Source: g.Source, Rows: g.Rows, NaturalPerson: true}
}

// mappingRowAnswer answers a row action of the mapping page with htmx: the
// investor's row alone (the refusal in it, the typed fields kept).
func (s *Server) mappingRowAnswer(c echo.Context, j importer.Job, inv int64, status int, edit func(*views.MapInvestor)) error {
	g, err := s.Imports.Store.InvestorGroup(c.Request().Context(), j.ID, inv)
	if err != nil {
		return err
	}
	h, err := s.jobHeader(c, j, "mapping")
	if err != nil {
		return err
	}
	m := mapInvestorView(c, g)
	if edit != nil {
		edit(&m)
	}
	if status < 300 {
		c.Response().Header().Set("HX-Trigger", "mappingChanged")
	}
	return s.render(c, status, view{Content: views.MappingTableRow(h, mappingPlace(c), m)})
}

// mappingCounts is the mapping's summary and create-all button, and its
// filters' counts, alone: a row action signals mappingChanged and the page
// asks for them again (the create-all count is the one the POST expects).
func (s *Server) mappingCounts(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	v, err := s.mappingView(c, j)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.MappingCounts(v)})
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
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v), Fragment: views.MappingInvestors(v)})
}

func (s *Server) setImportMapping(c echo.Context) error {
	j, err := s.loadDraft(c)
	if err != nil {
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
	j, err := s.loadDraft(c)
	if err != nil {
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
	j, err := s.loadDraft(c)
	if err != nil {
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
	id, err := s.wizard().CreateInvestor(ctx, s.Cashlink, j.ID, inv, in, c.FormValue("not_us_tax") == "yes", actor(c))
	var up *importer.UpstreamError
	var bad *importer.InvalidError
	status, msg := http.StatusOK, ""
	switch {
	case errors.As(err, &bad):
		status, msg = http.StatusUnprocessableEntity, bad.Error() // the form keeps what was typed
	case errors.As(err, &up):
		// The form keeps what was typed; a refusal is the input's (422), a
		// lost answer Cashlink's (502).
		status, msg = http.StatusBadGateway, up.Message
		if up.Refused {
			status = http.StatusUnprocessableEntity
		}
	case err != nil && id != "":
		s.Logger.Error("saving the mapping of a created investor", "job", j.ID, "investor", inv, "err", err)
		status = http.StatusInternalServerError
		msg = "Cashlink created the investor " + id + ", but the console could not save the mapping (the cause is in the log). " +
			"Submit the form again: the same idempotency key returns the same investor, no second one is created."
	case err != nil:
		return err
	}
	if isFragment(c) {
		typed := map[string]string{}
		for _, k := range []string{"salutation", "forename", "surname", "birth_date", "birth_place", "citizenship", "street", "city", "zip", "country", "phone", "email", "not_us_tax"} {
			typed[k] = c.FormValue(k)
		}
		return s.mappingRowAnswer(c, j, inv, status, func(m *views.MapInvestor) {
			if msg != "" {
				m.Error, m.Typed, m.Open = msg, typed, true
				if id != "" {
					m.Cashlink = "" // not saved: the form stays to send again
				}
				return
			}
			m.Created = "Created " + id + " in Cashlink and mapped."
		})
	}
	v, err := s.mappingView(c, j)
	if err != nil {
		return err
	}
	if msg != "" {
		v.Error = msg
		return s.render(c, status, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
	}
	v.Msg = "Created the Cashlink investor " + id + " and mapped it. New investors may need identification and a wallet before the import can credit them."
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
}

// mapInvestor saves one Issuance investor's Cashlink id: htmx gets the
// row, a plain post the page it came from.
func (s *Server) mapInvestor(c echo.Context) error {
	j, err := s.loadDraft(c)
	if err != nil {
		return err
	}
	inv, err := strconv.ParseInt(c.Param("inv"), 10, 64)
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	typed := c.FormValue("map-" + investorKey(inv))
	err = s.wizard().MapInvestor(c.Request().Context(), j.ID, inv, typed, actor(c))
	var invalid *importer.InvalidError
	refused := errors.As(err, &invalid)
	if err != nil && !refused {
		return err
	}
	if isFragment(c) {
		if refused {
			return s.mappingRowAnswer(c, j, inv, http.StatusUnprocessableEntity, func(m *views.MapInvestor) { m.Error, m.Cashlink = invalid.Error(), typed })
		}
		return s.mappingRowAnswer(c, j, inv, http.StatusOK, nil)
	}
	if refused {
		v, err := s.mappingView(c, j)
		if err != nil {
			return err
		}
		v.Error = invalid.Error()
		return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
	}
	if err := s.flash(c, "success", "Mapping saved."); err != nil {
		return err
	}
	return redirect(c, mappingURL(j.ID, mappingPlace(c))+"#map-row-"+investorKey(inv))
}

// matchByEmail maps every unmapped investor by e-mail.
func (s *Server) matchByEmail(c echo.Context) error {
	j, err := s.loadDraft(c)
	if err != nil {
		return err
	}
	n, err := s.wizard().MatchByEmail(c.Request().Context(), j.ID, actor(c))
	if err != nil {
		return err
	}
	if err := s.flash(c, "success", fmt.Sprintf("Matched %s by e-mail.", views.Plural(int64(n), "investor"))); err != nil {
		return err
	}
	return redirect(c, mappingURL(j.ID, mappingPlace(c)))
}

// createAllInvestors creates every unmapped natural person in Cashlink and
// shows each one's outcome.
func (s *Server) createAllInvestors(c echo.Context) error {
	j, err := s.loadDraft(c)
	if err != nil {
		return err
	}
	expect, err := strconv.Atoi(c.FormValue("expect"))
	if err != nil || expect < 0 {
		return echo.NewHTTPError(http.StatusBadRequest, "The number of investors shown is missing.")
	}
	res, err := s.wizard().CreateUnmapped(c.Request().Context(), s.Cashlink, s.Issuance, j.ID, expect, c.FormValue("not_us_tax") == "yes", actor(c))
	var stale *importer.StaleCountError
	var bad *importer.InvalidError
	if err != nil && !errors.As(err, &stale) && !errors.As(err, &bad) {
		return err
	}
	v, verr := s.mappingView(c, j)
	if verr != nil {
		return verr
	}
	if bad != nil {
		v.Error = bad.Error()
		return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
	}
	if stale != nil {
		v.Error = stale.Error()
		return s.render(c, http.StatusConflict, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
	}
	created, failed := 0, 0
	pv := viewer(c)
	for _, r := range res {
		if r.Error == "" {
			created++
		} else {
			failed++
		}
		v.Created = append(v.Created, views.CreatedInvestor{IssuanceInvestor: r.IssuanceInvestor, Name: pv.Value(r.Name), CashlinkID: r.CashlinkID, Error: r.Error})
	}
	v.Msg = fmt.Sprintf("Created and mapped %s in Cashlink.", views.Plural(int64(created), "investor"))
	if failed > 0 {
		v.Error = fmt.Sprintf("%s not created or not mapped: see each one's reason below.", views.Plural(int64(failed), "investor"))
	}
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.MappingStep(v)})
}
