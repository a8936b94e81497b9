package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"issuerconsole/services/importer"
)

// reviewRow finds a row of the review table by its edit form.
func reviewRow(r *response, job *importJob, row int64) *goqSel {
	return r.doc.Find(`form[action="` + job.path("rows/"+strconv.FormatInt(row, 10)) + `"]`).Closest("tr")
}

// The review step through the page: a row fixed (units, timestamps) shows
// its new values; a bad value is named and changes nothing; a skipped row
// leaves the count and the phrase, and can be included again.
func TestImportReviewFixAndSkip(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	inf := sandboxInfo(t, s)
	j := newImportJob(t, s, c, "review")
	j.fromCSV(investmentsFor(t, s, 0, 3), func(int) string { return inf.Investors[0].ID })
	j.campaign(inf)
	j.sharedDocument()
	rows := j.rows()
	target := rows[1]
	rowID := strconv.FormatInt(target.ID, 10)
	edit := j.path("rows/" + rowID)

	r := c.get(j.path("review"))
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="review-summary"] strong`)); got != "3" {
		t.Fatalf("phrase %q", got)
	}
	tr := reviewRow(r, j, target.ID)
	if v, _ := tr.Find(`input[name="units"]`).Attr("value"); v != strconv.FormatInt(target.Units, 10) {
		t.Fatalf("units shown %q, row has %d", v, target.Units)
	}

	// Bad values: every one named, the row unchanged.
	for _, tc := range []struct {
		form url.Values
		want []string
	}{
		{url.Values{"units": {"0"}, "signed_at": {"2026-01-02T03:04Z"}}, []string{"units must be a positive whole number"}},
		{url.Values{"units": {"-5"}}, []string{"units must be a positive whole number"}},
		{url.Values{"units": {"12.5"}}, []string{"units must be a positive whole number"}},
		{url.Values{"units": {"7"}, "signed_at": {"yesterday"}}, []string{`signed_at: "yesterday" is not a date-time`}},
		{url.Values{"units": {"7"}, "signed_at": {"2026-01-02T03:04Z"}, "paid_at": {"2026-13-40 10:00"}}, []string{`paid_at: "2026-13-40 10:00" is not a date-time`}},
		{url.Values{"units": {"abc"}, "accepted_at": {"soon"}}, []string{"units must be a positive whole number", `accepted_at: "soon" is not a date-time`}},
	} {
		r = c.post(edit, tc.form)
		wantStatus(t, r, http.StatusUnprocessableEntity)
		got := text(r.doc.Find(`[data-testid="review-error"]`))
		if !strings.HasPrefix(got, "Row not changed:") {
			t.Fatalf("%v: error %q", tc.form, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Fatalf("%v: error %q, want %q", tc.form, got, w)
			}
		}
		if now := j.rows()[1]; now.Units != target.Units || !now.SignedAt.Equal(target.SignedAt) || !now.AcceptedAt.Equal(target.AcceptedAt) || !now.PaidAt.Equal(target.PaidAt) {
			t.Fatalf("%v changed the row: %+v", tc.form, now)
		}
	}

	// A fix: units and the three timestamps (an empty optional one clears it).
	r = c.post(edit, url.Values{"units": {"7"}, "signed_at": {"2026-01-02T03:04Z"}, "accepted_at": {""}, "paid_at": {"2026-01-03 10:00"}})
	wantStatus(t, r, http.StatusSeeOther)
	r = c.get(r.Header.Get("Location"))
	tr = reviewRow(r, j, target.ID)
	for name, want := range map[string]string{"units": "7", "signed_at": "2026-01-02T03:04Z", "accepted_at": "", "paid_at": "2026-01-03T10:00Z"} {
		if v, _ := tr.Find(`input[name="` + name + `"]`).Attr("value"); v != want {
			t.Errorf("%s shown %q, want %q", name, v, want)
		}
	}
	now := j.rows()[1]
	if now.Units != 7 || !now.SignedAt.Equal(time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC)) || !now.AcceptedAt.IsZero() || !now.PaidAt.Equal(time.Date(2026, 1, 3, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("row after the fix: %+v", now)
	}
	if tr.Find(`[data-testid="row-problem"]`).Length() != 0 {
		t.Fatalf("problems after a valid fix: %s", text(tr.Find(`[data-testid="row-problem"]`)))
	}

	// Skip: the row is out of the count and the phrase, marked, and can
	// be included again.
	wantStatus(t, c.post(j.path("rows/"+rowID+"/skip"), url.Values{"skip": {"true"}}), http.StatusSeeOther)
	r = c.get(j.path("review"))
	if got := text(r.doc.Find(`[data-testid="review-summary"] strong`)); got != "2" {
		t.Fatalf("phrase after a skip %q", got)
	}
	if got := text(r.doc.Find(`[data-testid="review-summary"]`)); !strings.Contains(got, "Will create 2 investments") || !strings.Contains(got, "1 skipped") {
		t.Fatalf("summary %q", got)
	}
	tr = reviewRow(r, j, target.ID)
	if tr.Find(`[data-testid="skip-button"]`).Length() != 0 || !strings.Contains(text(tr), "Include") {
		t.Fatalf("skipped row shows %q", text(tr))
	}
	if r.doc.Find(`[data-testid="skip-button"]`).Length() != 2 {
		t.Fatal("the other rows lost their skip button")
	}
	if got := j.rows()[1]; !got.Skip || got.State != importer.RowSkipped || got.SkipReason != "skipped at review" {
		t.Fatalf("skipped row %+v", got)
	}
	wantStatus(t, c.post(j.path("rows/"+rowID+"/skip"), url.Values{"skip": {"false"}}), http.StatusSeeOther)
	r = c.get(j.path("review"))
	if got := text(r.doc.Find(`[data-testid="review-summary"] strong`)); got != "3" {
		t.Fatalf("phrase after including again %q", got)
	}

	// A row with a problem (here, from its source) blocks the start until
	// it is skipped.
	if _, err := s.app.DB.Exec(`UPDATE import_rows SET signed_at = NULL WHERE id = ?`, target.ID); err != nil {
		t.Fatal(err)
	}
	r = c.get(j.path("review"))
	if got := text(reviewRow(r, j, target.ID).Find(`[data-testid="row-problem"]`)); got != "No signing time (signed_at)." {
		t.Fatalf("problem %q", got)
	}
	if r.doc.Find(`[data-testid="confirm-form"]`).Length() != 0 || r.doc.Find(`[data-testid="not-ready"]`).Length() != 1 {
		t.Fatal("a job with an invalid row can be started")
	}
	wantStatus(t, c.post(j.path("rows/"+rowID+"/skip"), url.Values{"skip": {"true"}}), http.StatusSeeOther)
	j.start()
	j.stopped()
	if got := j.rows()[1]; got.State != importer.RowSkipped || got.CashlinkInvestment != "" {
		t.Fatalf("the skipped row ran: %+v", got)
	}
	// Once started, rows cannot change.
	wantStatus(t, c.post(edit, url.Values{"units": {"9"}}), http.StatusConflict)
	wantStatus(t, c.post(j.path("rows/"+rowID+"/skip"), url.Values{"skip": {"false"}}), http.StatusConflict)
}
