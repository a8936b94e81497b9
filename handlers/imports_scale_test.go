package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"issuerconsole/services/importer"

	"issuerconsole/views"
)

// uploadFiles posts many files under one field name in one multipart body.
func (c *client) uploadFiles(path, field string, files map[string][]byte, order []string) *response {
	c.t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	w.WriteField("_csrf", c.csrf)
	for _, name := range order {
		fw, _ := w.CreateFormFile(field, name)
		fw.Write(files[name])
	}
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, c.srv.URL+path, &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.do(req)
}

// follow reads the page a 303 points to.
func (c *client) follow(r *response) *response {
	c.t.Helper()
	wantStatus(c.t.(*testing.T), r, http.StatusSeeOther)
	return c.get(r.Header.Get("Location"))
}

// scaleJob is a 500-row import with mixed problems: every fifth row
// without a Cashlink investor, every seventh mapped to an investor
// Cashlink does not know, every eleventh without a signing time, every thirteenth with
// zero units, every fourth without a document (the others get theirs from
// one multi-file upload).
type scaleJob struct {
	*importJob
	sorted []importer.Row
}

const scaleRows = 500

// unknownInvestor is a Cashlink investor id Cashlink does not know.
const unknownInvestor = "00000000-0000-4000-8000-000000000007"

func newScaleJob(t *testing.T) (*testServer, *client, *scaleJob) {
	t.Helper()
	s := newTestServer(t, func(c *configT, _ *appOptions) { c.SandboxInvestments = 1600 })
	c := s.client(t)
	c.login(adminEmail, adminPass)
	inf := sandboxInfo(t, s)
	var with []string
	for _, iv := range inf.Investors {
		if len(iv.Wallets) > 0 {
			with = append(with, iv.ID)
		}
	}
	j := newImportJob(t, s, c, "five hundred")
	j.fromCSV(investmentsFor(t, s, 0, scaleRows), func(i int) string {
		switch {
		case i%5 == 0:
			return ""
		case i%7 == 0:
			return unknownInvestor
		}
		return with[i%len(with)]
	})
	j.campaign(inf)
	rows := j.rows()
	if len(rows) != scaleRows {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		if i%11 == 0 {
			if _, err := s.app.DB.Exec(`UPDATE import_rows SET signed_at = NULL WHERE id = ?`, r.ID); err != nil {
				t.Fatal(err)
			}
		}
		if i%13 == 0 {
			if _, err := s.app.DB.Exec(`UPDATE import_rows SET units = 0 WHERE id = ?`, r.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The documents: one upload, matched by reference id, previewed, stored.
	files := map[string][]byte{}
	var order []string
	for i, r := range rows {
		if i%4 == 0 {
			continue
		}
		name := r.Reference + " signed.pdf"
		files[name], order = pdf("signed "+r.Reference), append(order, name)
	}
	c.get(j.path("documents"))
	want := len(order)
	r := c.follow(c.uploadFiles(j.path("documents/batch"), "files", files, order))
	r = c.follow(c.post(j.path("documents/batch/store"), storeForm(r)))
	if got := text(r.doc.Find(`[data-testid="flash"]`)); !strings.Contains(got, fmt.Sprintf("Stored %d documents.", want)) {
		t.Fatalf("after storing: %q", got)
	}
	return s, c, &scaleJob{importJob: j, sorted: j.rows()}
}

// kindCounts reads the review's filters: code → count.
func kindCounts(t *testing.T, r *response) map[string]int {
	t.Helper()
	out := map[string]int{}
	r.doc.Find(`[data-testid="review-filters"] [data-testid="filter"]`).Each(func(_ int, a *goqSel) {
		n, err := strconv.Atoi(strings.ReplaceAll(text(a.Find(`[data-testid="count"]`)), ",", ""))
		if err != nil {
			t.Fatalf("filter %q: %v", text(a), err)
		}
		out[a.AttrOr("data-code", "")] = n
	})
	return out
}

// expected computes what the review must count, from the rows and the
// rules of Validate (which the typed confirmation uses).
func (j *scaleJob) validate(t *testing.T, s *testServer) importer.Review {
	t.Helper()
	rv, err := importer.Validate(context.Background(), s.app.Importer.Store(), s.app.Cashlink, j.job())
	if err != nil {
		t.Fatal(err)
	}
	return rv
}

// The review of a 500-row job: the counts per kind are Validate's, one
// page of rows is rendered, each filter shows its rows; every bulk action
// acts on the whole filtered set (not the page) and says how many rows it
// changed; a stale count changes nothing.
func TestImportReviewBulkActions(t *testing.T) {
	t.Parallel()
	s, c, j := newScaleJob(t)

	r := c.get(j.path("review"))
	wantStatus(t, r, http.StatusOK)
	got := kindCounts(t, r)
	rv := j.validate(t, s)
	kinds := map[string]int{}
	for _, ps := range rv.Problems {
		for _, p := range ps {
			switch {
			case p.What == "No Cashlink investor mapped.":
				kinds["unmapped"]++
			case p.What == "No signing time (signed_at).":
				kinds["unsigned"]++
			case p.What == "Units must be a positive whole number.":
				kinds["units"]++
			case p.What == "No signed document.":
				kinds["document"]++
			case p.What == "Cashlink does not know the investor "+unknownInvestor+".":
				kinds["unknown_investor"]++
			default:
				t.Fatalf("unexpected problem %q", p.What)
			}
		}
	}
	for code, want := range map[string]int{"all": scaleRows, "problems": len(rv.Problems), "ready": rv.Ready, "skipped": 0,
		"unmapped": kinds["unmapped"], "unsigned": kinds["unsigned"], "units": kinds["units"], "document": kinds["document"], "unknown_investor": kinds["unknown_investor"]} {
		if got[code] != want {
			t.Errorf("count of %s: shown %d, want %d (all shown: %v)", code, got[code], want, got)
		}
	}
	t.Logf("counts shown: %v", got)
	if kinds["unmapped"] < 100 || kinds["document"] != 125 || kinds["unsigned"] < 46 || kinds["units"] < 39 || kinds["unknown_investor"] == 0 {
		t.Fatalf("the fixture's problems: %v", kinds)
	}
	if n := r.doc.Find(`tr[data-testid="review-row"]`).Length(); n != 50 {
		t.Fatalf("%d rows rendered of %d, want one page of 50", n, scaleRows)
	}
	if got := text(r.doc.Find(`[data-testid="review-summary"]`)); !strings.Contains(got, fmt.Sprintf("Will create %d investments", rv.Ready)) {
		t.Fatalf("summary %q, Validate: %d ready", got, rv.Ready)
	}

	// A filter shows its rows (every page) and only those.
	r = c.get(j.path("review?show=unsigned&page=1"))
	rows := r.doc.Find(`tr[data-testid="review-row"]`)
	if rows.Length() != kinds["unsigned"] {
		t.Fatalf("unsigned filter: %d rows, want %d", rows.Length(), kinds["unsigned"])
	}
	rows.Each(func(_ int, tr *goqSel) {
		if tr.Find(`[data-testid="row-problem"][data-code="unsigned"]`).Length() != 1 {
			t.Fatalf("row without the filter's problem: %s", text(tr))
		}
	})
	if btn := text(r.doc.Find(`[data-testid="bulk-dates"] button`)); btn != fmt.Sprintf("Set on these %d rows", kinds["unsigned"]) {
		t.Fatalf("dates button %q", btn)
	}

	// Set dates on the filtered set: the signing time of all 46 rows.
	r = c.follow(c.post(j.path("review/bulk"), url.Values{"show": {"unsigned"}, "expect": {strconv.Itoa(kinds["unsigned"])}, "action": {"dates"},
		"signed_at": {"2026-03-01T10:00Z"}}))
	if got := text(r.doc.Find(`[data-testid="flash"]`)); !strings.Contains(got, fmt.Sprintf("Set the dates of %d rows.", kinds["unsigned"])) {
		t.Fatalf("flash %q", got)
	}
	if got := kindCounts(t, r); got["unsigned"] != 0 || got["problems"] >= len(rv.Problems) {
		t.Fatalf("after setting dates: %v", got)
	}
	for _, row := range j.rows() {
		if row.SignedAt.IsZero() {
			t.Fatalf("row %d still unsigned", row.ID)
		}
	}

	// A bad date-time and a stale count change nothing, and say so.
	before := j.rows()
	r = c.post(j.path("review/bulk"), url.Values{"show": {"units"}, "expect": {strconv.Itoa(kinds["units"])}, "action": {"dates"}, "paid_at": {"soon"}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := text(r.doc.Find(`[data-testid="review-error"]`)); !strings.Contains(got, `paid_at: "soon" is not a date-time`) {
		t.Fatalf("error %q", got)
	}
	r = c.post(j.path("review/bulk"), url.Values{"show": {"problems"}, "expect": {"7"}, "action": {"skip"}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := text(r.doc.Find(`[data-testid="review-error"]`)); !strings.Contains(got, "not the 7 shown, so nothing was changed") {
		t.Fatalf("stale count: %q", got)
	}
	for i, row := range j.rows() {
		if row.Skip != before[i].Skip || !row.PaidAt.Equal(before[i].PaidAt) {
			t.Fatalf("a refused bulk action changed row %d", row.ID)
		}
	}

	// Skip every row with a problem (all pages), then include them again.
	r = c.get(j.path("review?show=problems"))
	problems := kindCounts(t, r)["problems"]
	if btn := text(r.doc.Find(`[data-testid="bulk-skip"] button`)); btn != fmt.Sprintf("Skip these %d rows", problems) {
		t.Fatalf("skip button %q", btn)
	}
	ready := kindCounts(t, r)["ready"]
	r = c.follow(c.post(j.path("review/bulk"), url.Values{"show": {"problems"}, "expect": {strconv.Itoa(problems)}, "action": {"skip"}}))
	if got := text(r.doc.Find(`[data-testid="flash"]`)); !strings.Contains(got, fmt.Sprintf("Skipped %d rows.", problems)) {
		t.Fatalf("flash %q", got)
	}
	got = kindCounts(t, r)
	if got["problems"] != 0 || got["skipped"] != problems || got["ready"] != ready {
		t.Fatalf("after skipping the problems: %v (had %d problems, %d ready)", got, problems, ready)
	}
	// Nothing left to fix: the review leads on to the pre-flight.
	if r.doc.Find(`[data-testid="preflight-link"]`).Length() != 1 || r.doc.Find(`[data-testid="not-ready"]`).Length() != 0 {
		t.Fatalf("no way on to the pre-flight once every problem row is skipped")
	}
	if rv := j.validate(t, s); rv.Ready != ready || !rv.OK() {
		t.Fatalf("Validate after the bulk skip: %d ready, ok %v", rv.Ready, rv.OK())
	}
	r = c.follow(c.post(j.path("review/bulk"), url.Values{"show": {"skipped"}, "expect": {strconv.Itoa(problems)}, "action": {"unskip"}}))
	if got := kindCounts(t, r); got["skipped"] != 0 || got["problems"] != problems {
		t.Fatalf("after including again: %v", got)
	}
}

// A row action with htmx answers with that row alone (and a signal for the
// counts); a refused edit keeps what was typed and says why, in the row.
// Without htmx the same forms post the page and come back to the filter
// and page they were sent from.
func TestImportReviewRowSwap(t *testing.T) {
	t.Parallel()
	_, c, j := newScaleJob(t)
	r := c.get(j.path("review?show=ready&page=2"))
	tr := r.doc.Find(`tr[data-testid="review-row"]`).First()
	id := tr.AttrOr("data-row", "")
	if id == "" {
		t.Fatal("no row on page 2 of the ready rows")
	}
	hx := []string{"HX-Request", "true"}

	r = c.post(j.path("rows/"+id+"/skip"), url.Values{"skip": {"true"}, "show": {"ready"}, "page": {"2"}}, hx...)
	wantStatus(t, r, http.StatusOK)
	if !strings.HasPrefix(strings.TrimSpace(r.body), "<tr") || strings.Count(r.body, "<tr") != 1 || strings.Contains(r.body, "<html") {
		t.Fatalf("swap answer is not the row alone: %.300s", r.body)
	}
	if r.Header.Get("HX-Trigger") != "reviewChanged" {
		t.Fatalf("HX-Trigger %q", r.Header.Get("HX-Trigger"))
	}
	if r.doc.Find(`#review-row-`+id+` [data-testid="include-button"]`).Length() != 1 {
		t.Fatalf("swapped row: %s", text(r.doc.Find("tr")))
	}
	if hidden := r.doc.Find(`input[name="page"]`).AttrOr("value", ""); hidden != "2" {
		t.Fatalf("the row's forms lost the page: %q", hidden)
	}

	// A refused edit: the row comes back with the typed values and the reason.
	r = c.post(j.path("rows/"+id), url.Values{"units": {"abc"}, "signed_at": {"2026-01-02T03:04Z"}, "accepted_at": {"tomorrow"}, "paid_at": {""}}, hx...)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if strings.Count(r.body, "<tr") != 1 {
		t.Fatalf("refusal is not the row alone: %.300s", r.body)
	}
	for name, want := range map[string]string{"units": "abc", "signed_at": "2026-01-02T03:04Z", "accepted_at": "tomorrow", "paid_at": ""} {
		if v := r.doc.Find(`input[name="`+name+`"]`).AttrOr("value", "?"); v != want {
			t.Errorf("%s kept as %q, want %q", name, v, want)
		}
	}
	if got := text(r.doc.Find(`[data-testid="row-error"]`)); !strings.Contains(got, "units must be a positive whole number") || !strings.Contains(got, `accepted_at: "tomorrow"`) {
		t.Fatalf("row error %q", got)
	}
	// The counts fragment the page asks for after a swap.
	r = c.get(j.path("review/counts?show=ready"), hx...)
	if r.doc.Find(`#review-counts`).Length() != 1 || r.doc.Find(`tr`).Length() != 0 {
		t.Fatalf("counts fragment: %.300s", r.body)
	}

	// Without htmx: back to the same filter and page.
	r = c.post(j.path("rows/"+id+"/skip"), url.Values{"skip": {"false"}, "show": {"ready"}, "page": {"2"}})
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != j.path("review")+"?page=2&show=ready#review-row-"+id {
		t.Fatalf("redirect to %q", loc)
	}
}

// unmappedShown reads the mapping page's count of unmapped investors.
func unmappedShown(t *testing.T, r *response) int {
	t.Helper()
	n, err := strconv.Atoi(strings.ReplaceAll(text(r.doc.Find(`[data-testid="unmapped-count"]`)), ",", ""))
	if err != nil {
		t.Fatalf("unmapped count %q", text(r.doc.Find(`[data-testid="unmapped-count"]`)))
	}
	return n
}

// Mapping a 500-row job: the page is paged; "Match by e-mail" and "Create
// the N unmapped investors" sit on top and act on every investor; each
// created investor's outcome is listed; a repeat creates nobody twice.
func TestImportMappingBulk(t *testing.T) {
	t.Parallel()
	s, c, j := newScaleJob(t)
	r := c.get(j.path("mapping?show=unmapped"))
	wantStatus(t, r, http.StatusOK)
	unmapped := unmappedShown(t, r)
	if unmapped == 0 || r.doc.Find(`tr[data-testid="mapping-row"]`).Length() > 50 {
		t.Fatalf("%d unmapped, %d rows rendered", unmapped, r.doc.Find(`tr[data-testid="mapping-row"]`).Length())
	}
	// On top of the page, before the investors' table.
	if html, _ := r.doc.Html(); strings.Index(html, `data-testid="match-email"`) > strings.Index(html, `data-testid="mapping-table"`) {
		t.Fatal("Match by e-mail is below the investors")
	}

	r = c.follow(c.post(j.path("mapping/match"), nil))
	msg := text(r.doc.Find(`[data-testid="flash"]`))
	var matched int
	if _, err := fmt.Sscanf(msg, "Matched %d", &matched); err != nil {
		t.Fatalf("flash %q", msg)
	}
	left := unmappedShown(t, r)
	if left != unmapped-matched {
		t.Fatalf("matched %d of %d, %d left", matched, unmapped, left)
	}
	if btn := text(r.doc.Find(`[data-testid="create-all"] button`)); btn != fmt.Sprintf("Create the %s in Cashlink", views.Plural(int64(left), "unmapped investor")) {
		t.Fatalf("create-all button %q", btn)
	}

	// A stale count creates nobody.
	before := counts(t, s).Investors
	r = c.post(j.path("mapping/create-all"), url.Values{"expect": {strconv.Itoa(left + 1)}, "not_us_tax": {"yes"}})
	wantStatus(t, r, http.StatusConflict)
	if counts(t, s).Investors != before {
		t.Fatal("a stale create-all created investors")
	}

	// Nobody declared them free of US tax: nothing is created.
	r = c.post(j.path("mapping/create-all"), url.Values{"expect": {strconv.Itoa(left)}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := text(r.doc.Find(`[data-testid="mapping-error"]`)); !strings.Contains(got, "US tax") {
		t.Fatalf("create-all without the US-tax statement: %q", got)
	}
	if counts(t, s).Investors != before {
		t.Fatal("create-all without the US-tax statement created investors")
	}
	r = c.post(j.path("mapping/create-all"), url.Values{"expect": {strconv.Itoa(left)}, "not_us_tax": {"yes"}})
	wantStatus(t, r, http.StatusOK)
	outcomes := r.doc.Find(`tr[data-testid="created-row"]`)
	created := r.doc.Find(`tr[data-testid="created-row"][data-code="created"]`).Length()
	t.Logf("%d unmapped investors, %d matched by e-mail, %d created, %d refused", unmapped, matched, created, left-created)
	if outcomes.Length() != left || created == 0 {
		t.Fatalf("%d outcomes (%d created) for %d unmapped investors: %s", outcomes.Length(), created, left, text(r.doc.Find(`[data-testid="created-table"]`)))
	}
	if n := counts(t, s).Investors - before; n != created {
		t.Fatalf("Cashlink has %d new investors, the page says %d", n, created)
	}
	if got := unmappedShown(t, r); got != left-created {
		t.Fatalf("%d unmapped after creating %d of %d", got, created, left)
	}
	// Each created investor is mapped, remembered and known by its e-mail.
	maps, err := s.app.Importer.Store().Mappings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	outcomes.Each(func(_ int, tr *goqSel) {
		if tr.AttrOr("data-code", "") != "created" {
			if why := text(tr.Find("td").Eq(2)); !strings.Contains(why, "Not a natural person in Issuance") {
				t.Errorf("refused for %q", why)
			}
			return
		}
		id := text(tr.Find("td").Eq(1))
		inv, _ := strconv.ParseInt(strings.TrimPrefix(text(tr.Find(".muted")), "#"), 10, 64)
		if maps[inv].CashlinkInvestor != id || maps[inv].Source != "created" || j.mappedTo(inv) != id {
			t.Errorf("investor %d: created %s, remembered %+v, rows mapped to %q", inv, id, maps[inv], j.mappedTo(inv))
		}
	})
	// Again with nothing to create (or only the refused ones): no second person.
	left = unmappedShown(t, r)
	r = c.post(j.path("mapping/create-all"), url.Values{"expect": {strconv.Itoa(left)}, "not_us_tax": {"yes"}})
	wantStatus(t, r, http.StatusOK)
	if n := counts(t, s).Investors - before; n != created {
		t.Fatalf("a repeat created %d more", n-created)
	}
}

// A mapping row's actions with htmx answer with the row alone; a refused
// "Create in Cashlink" keeps the ten fields typed and says why in the row.
func TestImportMappingRowSwap(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	inf := sandboxInfo(t, s)
	j := newImportJob(t, s, c, "row swap")
	j.fromOffering("1", "accepted", "invested")
	inv := j.investors()[0]
	key := strconv.FormatInt(inv, 10)
	page := c.get(j.path("mapping"))
	summary := page.doc.Find(`#mapping-summary`)
	countsURL := summary.AttrOr("hx-get", "")
	unmappedBefore, _ := strconv.Atoi(text(summary.Find(`[data-testid="unmapped-count"]`)))
	if summary.AttrOr("hx-trigger", "") != "mappingChanged from:body" || countsURL == "" || unmappedBefore == 0 {
		t.Fatalf("the mapping summary does not ask again after a row action: trigger %q, url %q, %d unmapped",
			summary.AttrOr("hx-trigger", ""), countsURL, unmappedBefore)
	}
	hx := []string{"HX-Request", "true"}
	typed := url.Values{"investor": {key}, "salutation": {"MS"}, "forename": {"Ada"}, "surname": {"Lovelace"}, "birth_date": {"10.12.1815"},
		"birth_place": {"London"}, "citizenship": {"GBR"}, "street": {"St James's Square 12"}, "zip": {"SW1Y"}, "city": {"London"},
		"country": {"GBR"}, "phone": {"+44 20 0000"}, "email": {"ada@example.com"}, "not_us_tax": {"yes"}}
	before := counts(t, s).Investors
	r := c.post(j.path("mapping/create"), typed, hx...)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if strings.Count(r.body, "<tr") != 1 || !strings.HasPrefix(strings.TrimSpace(r.body), "<tr") {
		t.Fatalf("not the row alone: %.300s", r.body)
	}
	for name := range typed {
		if name == "investor" || name == "_csrf" {
			continue
		}
		if v := r.doc.Find(`[data-testid="create-investor"] input[name="`+name+`"]`).AttrOr("value", "?"); v != typed.Get(name) {
			t.Errorf("%s kept as %q, want %q", name, v, typed.Get(name))
		}
	}
	if _, open := r.doc.Find(`[data-testid="create-investor"]`).Attr("open"); !open {
		t.Error("the refused form is folded away")
	}
	if got := text(r.doc.Find(`[data-testid="row-error"]`)); !strings.Contains(got, "birth_date") {
		t.Fatalf("row error %q", got)
	}
	if counts(t, s).Investors != before {
		t.Fatal("a refused form created an investor")
	}
	// Corrected: created, mapped, the row says so and offers no form.
	typed.Set("birth_date", "1815-12-10")
	r = c.post(j.path("mapping/create"), typed, hx...)
	wantStatus(t, r, http.StatusOK)
	id := r.doc.Find(`#map-`+key).AttrOr("value", "")
	if id == "" || j.mappedTo(inv) != id || r.doc.Find(`[data-testid="create-investor"]`).Length() != 0 || r.Header.Get("HX-Trigger") != "mappingChanged" {
		t.Fatalf("after creating: input %q, rows %q, %s", id, j.mappedTo(inv), text(r.doc.Find("tr")))
	}
	// The signal's answer: the count, the count create-all expects and the
	// filters' counts, one fewer.
	r = c.get(countsURL, hx...)
	wantStatus(t, r, http.StatusOK)
	want := strconv.Itoa(unmappedBefore - 1)
	if got := text(r.doc.Find(`#mapping-summary [data-testid="unmapped-count"]`)); got != want {
		t.Fatalf("after creating, the summary counts %q without a Cashlink investor, want %s", got, want)
	}
	if got := r.doc.Find(`[data-testid="create-all"] input[name="expect"]`).AttrOr("value", ""); got != want {
		t.Fatalf("create-all expects %q, want %s", got, want)
	}
	nav := r.doc.Find(`nav#mapping-filters`)
	if nav.AttrOr("hx-swap-oob", "") != "true" || text(nav.Find(`[data-code="unmapped"] [data-testid="count"]`)) != want {
		t.Fatalf("the filters are not swapped with their new counts: oob %q, %q", nav.AttrOr("hx-swap-oob", ""), text(nav))
	}
	// One investor's id saved alone.
	other := inf.Investors[0].ID
	r = c.post(j.path("mapping/investors/"+key), url.Values{"map-" + key: {other}}, hx...)
	wantStatus(t, r, http.StatusOK)
	if got := r.doc.Find(`#map-`+key).AttrOr("value", ""); got != other || j.mappedTo(inv) != other || text(r.doc.Find("td").Eq(4)) != "manual" {
		t.Fatalf("saved alone: shown %q, rows %q, from %q", got, j.mappedTo(inv), text(r.doc.Find("td").Eq(4)))
	}
	// A bad id is refused in the row, kept as typed.
	bad := strings.Repeat("x", 120)
	r = c.post(j.path("mapping/investors/"+key), url.Values{"map-" + key: {bad}}, hx...)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := r.doc.Find(`#map-`+key).AttrOr("value", ""); got != bad || j.mappedTo(inv) != other || r.doc.Find(`[data-testid="row-error"]`).Length() != 1 {
		t.Fatalf("refused id: shown %q, rows %q", got, j.mappedTo(inv))
	}
	// Without htmx: back to the page it came from.
	r = c.post(j.path("mapping/investors/"+key)+"?show=mapped&page=1", url.Values{"map-" + key: {other}})
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != j.path("mapping")+"?show=mapped#map-row-"+key {
		t.Fatalf("redirect %q", loc)
	}
}

// Many PDFs in one upload: each matched to its row by the reference id in
// its name and shown, with the files that match nothing or are refused and
// the rows still without a document, before anything is stored; "Store N"
// stores exactly those; a newer upload replaces the pending one; discard
// stores nothing; the pending files are gone after either.
func TestImportDocumentsBatch(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	inf := sandboxInfo(t, s)
	j := newImportJob(t, s, c, "batch")
	j.fromCSV(investmentsFor(t, s, 0, 40), func(int) string { return inf.Investors[0].ID })
	rows := j.rows()
	pending := func() int {
		var n int
		if err := s.app.DB.QueryRow(`SELECT count(*) FROM import_pending_documents`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	stored := func() int {
		docs, err := s.app.Importer.Store().Documents(context.Background(), j.num)
		if err != nil {
			t.Fatal(err)
		}
		return len(docs)
	}
	files := map[string][]byte{}
	var order []string
	add := func(name string, content []byte) { files[name], order = content, append(order, name) }
	for _, r := range rows[:30] {
		add(strings.ToLower(r.Reference)+"_signed.pdf", pdf("signed "+r.Reference))
	}
	add("scan-0001.pdf", pdf("no reference"))
	add(rows[31].Reference+".docx", []byte("PK\x03\x04 not a pdf"))
	add("copy of "+rows[0].Reference+".pdf", pdf("signed "+rows[0].Reference)) // the same bytes twice
	c.get(j.path("documents"))
	r := c.follow(c.uploadFiles(j.path("documents/batch"), "files", files, order))
	if got := text(r.doc.Find(`[data-testid="preview-matched"]`)); got != "30" {
		t.Fatalf("matched %q", got)
	}
	if got := text(r.doc.Find(`[data-testid="preview-refused"]`)); got != "3" {
		t.Fatalf("refused %q", got)
	}
	why := text(r.doc.Find(`table[data-testid="preview-refused-table"]`))
	for _, want := range []string{"scan-0001.pdf", "no investment of this import has a reference id", "not a PDF", "the same file as"} {
		if !strings.Contains(why, want) {
			t.Errorf("refused files %q lack %q", why, want)
		}
	}
	if got := text(r.doc.Find(`[data-testid="preview-summary"]`)); !strings.Contains(got, "10 investments will still have no document") {
		t.Fatalf("summary %q", got)
	}
	if got := text(r.doc.Find(`[data-testid="preview-left"]`)); !strings.Contains(got, rows[30].Reference) || strings.Contains(got, rows[29].Reference) {
		t.Fatalf("left %q", got)
	}
	m := r.doc.Find(`tr[data-testid="matched-file"]`).First()
	if text(m.Find("td").Eq(2)) != rows[0].Reference {
		t.Fatalf("first match %q", text(m))
	}
	if stored() != 0 || pending() != 33 {
		t.Fatalf("before confirming: %d stored, %d pending", stored(), pending())
	}
	if btn := text(r.doc.Find(`[data-testid="batch-store"]`)); btn != "Store 30 matched documents" {
		t.Fatalf("store button %q", btn)
	}

	// A newer upload replaces the pending one (never more than one per job).
	c.follow(c.uploadFiles(j.path("documents/batch"), "files", map[string][]byte{rows[35].Reference + ".pdf": pdf("x35")}, []string{rows[35].Reference + ".pdf"}))
	if pending() != 1 {
		t.Fatalf("%d pending after a second upload", pending())
	}
	r = c.post(j.path("documents/batch/store"), storeForm(r))
	wantStatus(t, r, http.StatusConflict)
	if stored() != 0 {
		t.Fatal("a stale store stored documents")
	}
	// Discard: nothing stored, nothing pending.
	c.follow(c.post(j.path("documents/batch/discard"), nil))
	if stored() != 0 || pending() != 0 {
		t.Fatalf("after discarding: %d stored, %d pending", stored(), pending())
	}

	// Store: exactly the matches, each on its row.
	r = c.follow(c.uploadFiles(j.path("documents/batch"), "files", files, order))
	r = c.follow(c.post(j.path("documents/batch/store"), storeForm(r)))
	if got := text(r.doc.Find(`[data-testid="flash"]`)); !strings.Contains(got, "Stored 30 documents.") {
		t.Fatalf("flash %q", got)
	}
	if stored() != 30 || pending() != 0 {
		t.Fatalf("after storing: %d stored, %d pending", stored(), pending())
	}
	docs, _ := s.app.Importer.Store().Documents(context.Background(), j.num)
	for i, d := range docs {
		if d.RowID != rows[i].ID {
			t.Fatalf("document %d on row %d, want %d", i, d.RowID, rows[i].ID)
		}
	}
	if got := text(r.doc.Find(`[data-testid="missing-count"]`)); got != "10" {
		t.Fatalf("missing %q", got)
	}
	// One upload larger than a single document's cap (the batch route has its own).
	big := map[string][]byte{}
	var bigOrder []string
	for _, r := range rows[36:38] {
		name := r.Reference + ".pdf"
		big[name], bigOrder = append(pdf(r.Reference), bytes.Repeat([]byte("x"), 6<<20)...), append(bigOrder, name)
	}
	r = c.follow(c.uploadFiles(j.path("documents/batch"), "files", big, bigOrder))
	if got := text(r.doc.Find(`[data-testid="preview-matched"]`)); got != "2" {
		t.Fatalf("a 12 MB upload: matched %q", got)
	}
	c.follow(c.post(j.path("documents/batch/discard"), nil))

	// The same files again: all already stored, none matched.
	r = c.follow(c.uploadFiles(j.path("documents/batch"), "files", files, order))
	if got := text(r.doc.Find(`[data-testid="preview-matched"]`)); got != "0" {
		t.Fatalf("matched again %q", got)
	}
}

// The importer matches a file to the reference id that is a word of its name.
func TestMatchFile(t *testing.T) {
	t.Parallel()
	refs := map[string]int64{"INV-000001": 1, "INV-000010": 10, "ABC": 3}
	for name, want := range map[string]int64{
		"INV-000001.pdf": 1, "inv-000010.PDF": 10, "signed INV-000010 (1).pdf": 10, "INV-000001_signed.pdf": 1,
		"INV-0000010.pdf": 0, "XINV-000001.pdf": 0, "abc.pdf": 3, "scan.pdf": 0, "dir/INV-000001.pdf": 1,
	} {
		if got, _ := importer.MatchFile(name, refs); got != want {
			t.Errorf("%q matched row %d, want %d", name, got, want)
		}
	}
}

// The pagers of the three steps ask htmx for their own area only, and the
// answer is that area (not a page without its layout swapped into body).
func TestImportPagersSwapTheirArea(t *testing.T) {
	t.Parallel()
	_, c, j := newScaleJob(t)
	for _, tc := range []struct{ page, area string }{
		{"review", "#review-area"}, {"mapping", "#mapping-investors"}, {"documents", "#document-rows"},
	} {
		r := c.get(j.path(tc.page))
		next := r.doc.Find(`[data-testid="pager"] a[rel="next"]`).First()
		href, target := next.AttrOr("hx-get", ""), next.AttrOr("hx-target", "")
		if href == "" || target != tc.area || r.doc.Find(tc.area).Length() != 1 {
			t.Fatalf("%s: pager link %q targets %q (area on the page: %d)", tc.page, href, target, r.doc.Find(tc.area).Length())
		}
		r = c.get(href, "HX-Request", "true")
		wantStatus(t, r, http.StatusOK)
		if r.doc.Find(tc.area).Length() != 1 || r.doc.Find("header, .stepper, h1").Length() != 0 {
			t.Fatalf("%s: page 2 by htmx is not the area alone: %.300s", tc.page, r.body)
		}
		if cur := text(r.doc.Find(`[data-testid="pager"] [aria-current="page"]`).First()); cur != "2" {
			t.Fatalf("%s: page 2 by htmx shows page %q", tc.page, cur)
		}
	}
}
