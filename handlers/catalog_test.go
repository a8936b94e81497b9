package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// The console keeps Cashlink campaigns and products itself (the API lists
// none): entered once on the settings screen, checked for format, offered
// by every import's mapping step; no screen reads /sandbox/.
func TestCatalogKeptByTheConsole(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/settings/catalog")
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(text(r.doc.Find(`[data-testid="catalog-why"]`)), "no endpoint that lists") {
		t.Fatal("the page does not say why the console keeps the list")
	}
	// Pre-filled once from the sandbox's seed.
	seeded := r.doc.Find(`[data-testid="catalog-row"]`).Length()
	if seeded == 0 {
		t.Fatal("the sandbox console starts without the emulator's campaigns")
	}

	for _, tt := range []struct {
		form url.Values
		want string
	}{
		{url.Values{"kind": {"campaign"}, "id": {"not-a-uuid"}, "label": {"X"}}, "id: must be a Cashlink id"},
		{url.Values{"kind": {"campaign"}, "id": {"5b1f7c1e-2a44-4c1e-9d0b-0c6b8b0e4d11"}, "label": {""}}, "label: is required"},
		{url.Values{"kind": {"campaign"}, "id": {"5b1f7c1e-2a44-4c1e-9d0b-0c6b8b0e4d11"}, "label": {"X"}, "currency": {"euro"}}, "currency"},
		{url.Values{"kind": {"campaign"}, "id": {"5b1f7c1e-2a44-4c1e-9d0b-0c6b8b0e4d11"}, "label": {"X"}, "price_per_unit": {"1,50"}}, "price_per_unit"},
	} {
		tt.form.Set("action", "save")
		r := c.post("/settings/catalog", tt.form)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if got := text(r.doc.Find(`[data-testid="catalog-error"]`)); !strings.Contains(got, tt.want) {
			t.Fatalf("%v: error %q, want %q", tt.form, got, tt.want)
		}
		if v, _ := r.doc.Find(`#c-label`).Attr("value"); v != tt.form.Get("label") {
			t.Fatal("the typed values are lost on an error")
		}
	}
	id := "5b1f7c1e-2a44-4c1e-9d0b-0c6b8b0e4d11"
	r = c.post("/settings/catalog", url.Values{"action": {"save"}, "kind": {"campaign"}, "id": {strings.ToUpper(id)}, "label": {"Bond 2031"},
		"currency": {"eur"}, "price_per_unit": {"1.00"}})
	wantStatus(t, r, http.StatusOK)
	if r.doc.Find(`[data-testid="catalog-row"]`).Length() != seeded+1 || !strings.Contains(text(r.doc.Find(`[data-testid="catalog-Campaigns"]`)), "Bond 2031"+id+"EUR1.00") {
		t.Fatalf("after saving: %s", text(r.doc.Find(`[data-testid="catalog-Campaigns"]`)))
	}

	// Every job's mapping step offers it.
	job := newImportJob(t, s, c, "catalog")
	r = c.get(job.path("mapping"))
	found := false
	r.doc.Find(`#m-campaign option`).Each(func(_ int, o *goquery.Selection) {
		if v, _ := o.Attr("value"); v == id && strings.Contains(o.Text(), "Bond 2031 · 1.00 EUR per unit") {
			found = true
		}
	})
	if !found {
		t.Fatal("the mapping step does not offer the kept campaign")
	}
	if r.doc.Find(`[data-testid="match-email"]`).Length() != 1 {
		t.Fatal("no match by e-mail")
	}
	body := r.body
	if strings.Contains(body, "/sandbox/") {
		t.Fatal("the mapping screen refers to /sandbox/")
	}

	r = c.post("/settings/catalog", url.Values{"action": {"delete"}, "kind": {"campaign"}, "id": {id}})
	wantStatus(t, r, http.StatusOK)
	r = c.post("/settings/catalog", url.Values{"action": {"delete"}, "kind": {"campaign"}, "id": {id}})
	wantStatus(t, r, http.StatusNotFound)

}
