package handlers_test

import (
	"net/http"
	"net/url"
	"testing"
)

// preflight opens a job's Confirm step and returns the phrase shown (""
// when the credit cannot start) and the form that confirms it as shown:
// the phrase, the pre-flight's fingerprint, and the currency decision when
// the page asks for one.
func preflight(t *testing.T, c *client, job string) (*response, string, url.Values) {
	t.Helper()
	r := c.get("/imports/" + job + "/confirm")
	wantStatus(t, r, http.StatusOK)
	phrase := text(r.doc.Find(`[data-testid="phrase"]`))
	form := url.Values{"confirm": {phrase}, "preflight": {r.doc.Find(`input[name="preflight"]`).AttrOr("value", "")}}
	if cur, ok := r.doc.Find(`[data-testid="currency-accept"]`).Attr("value"); ok {
		form.Set("currency", cur)
	}
	return r, phrase, form
}
