package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestCatalogCampaignTerms: an admin records a campaign's state and units
// per investment from Cashlink Studio (what the pre-flight checks); a
// minimum above the maximum is refused with the form kept.
func TestCatalogCampaignTerms(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	c.get("/settings/catalog")
	const id = "0f4c2b1a-1111-4222-8333-944455556666"
	form := url.Values{"kind": {"campaign"}, "id": {id}, "label": {"Studio campaign"}, "currency": {"EUR"}, "price_per_unit": {"10"},
		"state": {"closed"}, "min_units": {"50"}, "max_units": {"10"}, "action": {"save"}}
	r := c.post("/settings/catalog", form)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if r.doc.Find(`#c-min`).AttrOr("value", "") != "50" || r.doc.Find(`#c-state option[selected]`).AttrOr("value", "") != "closed" {
		t.Fatal("refused form not kept")
	}
	form.Set("max_units", "5000")
	r = c.post("/settings/catalog", form)
	wantStatus(t, r, http.StatusOK)
	var got string
	r.doc.Find(`[data-testid="catalog-row"]`).Each(func(_ int, tr *goqSel) {
		if text(tr.Find(".mono").First()) == id {
			got = tr.Find(`[data-testid="catalog-state"]`).AttrOr("data-code", "") + " " + text(tr.Find("td.num").Last())
		}
	})
	if got != "closed 50–5000" {
		t.Fatalf("saved campaign shows %q", got)
	}
}
