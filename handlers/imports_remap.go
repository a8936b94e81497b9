// Fixing the mapping of a stopped import's failed rows before a re-run.

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

func (s *Server) remapView(c echo.Context, j importer.Job, kept map[string]string, problems map[string]string) (views.RemapView, error) {
	ctx := c.Request().Context()
	h, err := s.jobHeader(c, j, "result")
	if err != nil {
		return views.RemapView{}, err
	}
	rows, locked, err := s.Imports.Store.FailedRows(ctx, j.ID)
	if err != nil {
		return views.RemapView{}, err
	}
	cat, err := s.Imports.Store.Catalog(ctx)
	if err != nil {
		return views.RemapView{}, err
	}
	v := views.RemapView{H: h, Campaign: j.CampaignID, CampaignLocked: locked}
	if c, ok := kept["campaign_id"]; ok {
		v.Campaign = c
	}
	known := false
	for _, it := range cat.Campaigns {
		v.Campaigns = append(v.Campaigns, views.Option{Value: it.ID, Label: catalogLabel(it)})
		known = known || it.ID == j.CampaignID
	}
	if !known {
		v.Campaigns = append([]views.Option{{Value: j.CampaignID, Label: j.CampaignID}}, v.Campaigns...)
	}
	pv := viewer(c)
	for _, r := range rows {
		name := "row-" + strconv.FormatInt(r.ID, 10)
		val, ok := kept[name]
		if !ok {
			val = r.CashlinkInvestor
		}
		v.Rows = append(v.Rows, views.RemapRow{ID: r.ID, Ref: r.Reference, Investor: pv.Value(r.InvestorName), Cashlink: r.CashlinkInvestor,
			Error: r.Error, Fixable: r.Fixable, Value: val, Problem: problems[name],
			NoWallet: importer.NeedsWallet(r.Row)})
	}
	return v, nil
}

func (s *Server) importRemap(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	v, err := s.remapView(c, j, nil, nil)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.RemapStep(v)})
}

func (s *Server) remapImport(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	ch := importer.RemapChange{Campaign: form.Get("campaign_id"), Rows: map[int64]string{}}
	kept := map[string]string{}
	for k, vals := range form {
		if id, ok := strings.CutPrefix(k, "row-"); ok {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil {
				continue
			}
			ch.Rows[n] = vals[0]
			kept[k] = vals[0]
		}
	}
	if form.Has("campaign_id") {
		kept["campaign_id"] = form.Get("campaign_id")
	}
	msg, err := s.wizard().Remap(c.Request().Context(), j.ID, actor(c), ch)
	var invalid *importer.InvalidError
	if errors.As(err, &invalid) {
		v, verr := s.remapView(c, j, kept, invalid.Fields)
		if verr != nil {
			return verr
		}
		v.Error = "Nothing was saved: " + invalid.Error()
		return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.RemapStep(v)})
	}
	if err != nil {
		return err
	}
	if j, err = s.Imports.Store.Job(c.Request().Context(), j.ID); err != nil {
		return err
	}
	v, err := s.remapView(c, j, nil, nil)
	if err != nil {
		return err
	}
	v.Msg = msg
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.RemapStep(v)})
}
