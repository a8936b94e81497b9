// The source step of the import wizard.

package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/importer"
	"issuerconsole/services/issuance"
	"issuerconsole/services/personal"
	"issuerconsole/views"
)

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
		v.Offerings = append([]views.Option(nil), opts[1:]...) // the cached list is shared
	}
	// The offering and statuses loaded are the ones the form shows.
	v.Statuses = []string{"accepted", "invested"}
	if q, err := url.ParseQuery(j.SourceQuery); err == nil && j.SourceKind == importer.SourceOffering {
		for i := range v.Offerings {
			v.Offerings[i].Selected = v.Offerings[i].Value == q.Get("offering")
		}
		v.Statuses = strings.Split(q.Get("status__in"), ",")
	}
	if h.Rows > 0 {
		sum, err := s.Imports.Store.SourcePreview(ctx, j.ID, sourcePreviewRows)
		if err != nil {
			return v, err
		}
		v.Preview = sourcePreview(pv, sum)
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
	j, err := s.loadDraft(c)
	if err != nil {
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

// sourcePreviewRows is how many loaded rows the Source step shows (and
// how many already-imported ones it names).
const sourcePreviewRows = 10

func sourcePreview(pv personal.Viewer, sum importer.SourceSummary) *views.SourcePreview {
	p := &views.SourcePreview{Total: sum.Total, Quantity: sum.Quantity, Amount: views.MoneyRat(sum.Amount, importer.IssuanceCurrency),
		Mapped: sum.Mapped, Imported: sum.Imported}
	for _, sc := range sum.ByStatus {
		p.ByStatus = append(p.ByStatus, views.SourceStatus{Code: sc.Status, Count: sc.Count})
	}
	imported := map[int64]int64{}
	for _, e := range sum.Earlier {
		imported[e.RowID] = e.JobID
		p.Earlier = append(p.Earlier, views.SourceEarlier{Ref: e.Reference, IssuanceID: e.IssuanceID, JobID: e.JobID})
	}
	for _, r := range sum.First {
		p.Rows = append(p.Rows, views.SourceRow{Ref: r.Reference, IssuanceID: r.IssuanceID, Investor: pv.Value(r.InvestorName), Status: r.IssuanceStatus,
			Quantity: r.Quantity, Amount: views.Money(r.Amount, importer.IssuanceCurrency), Cashlink: r.CashlinkInvestor, ImportedBy: imported[r.ID]})
	}
	return p
}

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
