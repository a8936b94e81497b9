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
