package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/importer"
	"issuerconsole/views"
)

// catalog shows the Cashlink campaigns and products the console keeps
// (the API lists none), in both modes alike.
func (s *Server) catalog(c echo.Context) error {
	return s.renderCatalog(c, http.StatusOK, views.CatalogView{})
}

func (s *Server) renderCatalog(c echo.Context, status int, v views.CatalogView) error {
	if s.Imports.Store == nil {
		return echo.NewHTTPError(http.StatusNotFound, "Imports need both the Issuance and the Cashlink API configured.")
	}
	cat, err := s.Imports.Store.Catalog(c.Request().Context())
	if err != nil {
		return err
	}
	entry := func(kind string, it importer.CatalogItem) views.CatalogEntry {
		e := views.CatalogEntry{Kind: kind, ID: it.ID, Label: it.Name, Currency: it.Currency, Price: it.PricePerUnit, Product: it.Parent}
		if it.Active != nil {
			e.State = map[bool]string{true: "open", false: "closed"}[*it.Active]
		}
		if it.MinUnits > 0 {
			e.MinUnits = strconv.FormatInt(it.MinUnits, 10)
		}
		if it.MaxUnits > 0 {
			e.MaxUnits = strconv.FormatInt(it.MaxUnits, 10)
		}
		return e
	}
	for _, it := range cat.Campaigns {
		v.Campaigns = append(v.Campaigns, entry("campaign", it))
	}
	for _, it := range cat.Products {
		v.Products = append(v.Products, entry("product", it))
	}
	v.CanEdit = true // the route is for admins
	p := s.page(c, "Cashlink campaigns and products", "settings")
	return s.render(c, status, view{Title: p.Title, Nav: p.Nav, Content: views.CatalogPage(p, v)})
}

func (s *Server) saveCatalog(c echo.Context) error {
	if s.Imports.Store == nil {
		return echo.NewHTTPError(http.StatusNotFound, "Imports need both the Issuance and the Cashlink API configured.")
	}
	ctx := c.Request().Context()
	f := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	kind := f("kind")
	if f("action") == "delete" {
		err := s.Imports.Store.DeleteCatalogItem(ctx, kind, f("id"))
		if errors.Is(err, importer.ErrNoCatalogItem) {
			return s.renderCatalog(c, http.StatusNotFound, views.CatalogView{Error: "That " + kind + " is not in the list (removed already?)."})
		}
		if err != nil {
			return err
		}
		return s.renderCatalog(c, http.StatusOK, views.CatalogView{Msg: "Removed " + f("id") + ". Jobs that use it keep its id."})
	}
	it := importer.CatalogItem{ID: f("id"), Name: f("label"), Currency: f("currency"), PricePerUnit: f("price_per_unit"), Parent: f("product_id")}
	form := views.CatalogEntry{Kind: kind, ID: it.ID, Label: it.Name, Currency: it.Currency, Price: it.PricePerUnit, Product: it.Parent,
		State: f("state"), MinUnits: f("min_units"), MaxUnits: f("max_units")}
	err := importer.ParseCampaignTerms(&it, form.State, form.MinUnits, form.MaxUnits)
	if err == nil {
		err = s.Imports.Store.SaveCatalogItem(ctx, kind, it)
	}
	var ce *importer.CatalogError
	if errors.As(err, &ce) {
		return s.renderCatalog(c, http.StatusUnprocessableEntity, views.CatalogView{Error: "Not saved: " + ce.Error(), Form: form})
	}
	if err != nil {
		return err
	}
	return s.renderCatalog(c, http.StatusOK, views.CatalogView{Msg: "Saved the " + kind + " " + it.Name + "."})
}
