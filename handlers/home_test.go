package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"issuerconsole/views"
)

// Home is a dashboard: numbers, each linking to its list, that match the
// lists they link to; the audit chain's last verification; the latest
// security events.
func TestHomeDashboard(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/")
	wantStatus(t, r, http.StatusOK)
	for _, id := range []string{"dash-offerings", "dash-attention", "dash-imports", "dash-audit"} {
		if r.doc.Find(`[data-testid="`+id+`"]`).Length() != 1 {
			t.Errorf("no %s section", id)
		}
	}
	checked := 0
	r.doc.Find(`[data-testid="dash-attention"] [data-testid="dash-stat"] a`).Each(func(_ int, a *goqSel) {
		href := a.AttrOr("href", "")
		u, _ := url.Parse(href)
		q := u.Query()
		q.Set("page_size", "25")
		list := c.get("/investments?" + q.Encode())
		if got, want := text(a.Find(".stat-value")), text(list.doc.Find(`[data-testid="result-count"]`)); got != want || got == "" {
			t.Errorf("%s: dashboard says %q, the list %q", text(a.Find(".stat-label")), got, want)
		}
		checked++
	})
	if checked < 4 {
		t.Fatalf("%d attention numbers", checked)
	}
	if got := text(r.doc.Find(`[data-testid="dash-audit"] .badge`)); got != "not verified since the console started" {
		t.Errorf("verification %q", got)
	}
	if !strings.Contains(text(r.doc.Find(`[data-testid="dash-events"]`)), "Login") {
		t.Errorf("latest events %q lack the sign-in", text(r.doc.Find(`[data-testid="dash-events"]`)))
	}
	wantStatus(t, c.post("/audit/verify", nil), http.StatusSeeOther)
	r = c.get("/")
	if got := text(r.doc.Find(`[data-testid="dash-audit"] .badge`)); !strings.HasPrefix(got, "intact: ") || !strings.HasSuffix(got, "just now") {
		t.Errorf("after verifying: %q", got)
	}
	if b := r.doc.Find(`[data-testid="dash-audit"] .badge`); !b.HasClass("badge-" + string(views.MeaningOK)) {
		t.Errorf("verified chain badge %q", b.AttrOr("class", ""))
	}
}
