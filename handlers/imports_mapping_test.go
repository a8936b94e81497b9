package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"issuerconsole/services/importer"
)

// jobInvestors lists a job's distinct Issuance investors, in row order.
func (j *importJob) investors() []int64 {
	var out []int64
	seen := map[int64]bool{}
	for _, r := range j.rows() {
		if r.IssuanceInvestor != 0 && !seen[r.IssuanceInvestor] {
			seen[r.IssuanceInvestor] = true
			out = append(out, r.IssuanceInvestor)
		}
	}
	if len(out) < 2 {
		j.t.Fatalf("the job has %d Issuance investors, want at least 2", len(out))
	}
	return out
}

// mappedTo returns the Cashlink investor of an Issuance investor's rows
// ("mixed" if they differ).
func (j *importJob) mappedTo(inv int64) string {
	got := "?"
	for _, r := range j.rows() {
		if r.IssuanceInvestor != inv {
			continue
		}
		if got != "?" && got != r.CashlinkInvestor {
			return "mixed"
		}
		got = r.CashlinkInvestor
	}
	return got
}

// mappingRow is what the mapping page shows for an Issuance investor:
// the Cashlink id in its input and where the mapping came from.
func mappingRow(r *response, inv int64) (cashlinkID, from string) {
	in := r.doc.Find(`#map-` + strconv.FormatInt(inv, 10))
	cashlinkID, _ = in.Attr("value")
	return cashlinkID, text(in.Closest("tr").Find("td").Eq(4))
}

// Mappings uploaded as CSV: a malformed or contradictory file is refused
// naming its line, with nothing applied or remembered; a good one is
// applied and remembered; a failure while saving changes nothing.
func TestImportMappingCSV(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	inf := sandboxInfo(t, s)
	j := newImportJob(t, s, c, "mapping csv")
	j.fromOffering("1", "accepted", "invested")
	invs := j.investors()
	a, b := invs[0], invs[1]
	clA, clB := inf.Investors[0].ID, inf.Investors[1].ID
	c.get(j.path("mapping"))
	unchanged := func(wantA, wantB string) {
		t.Helper()
		if got := j.mappedTo(a); got != wantA {
			t.Fatalf("investor %d mapped to %q, want %q", a, got, wantA)
		}
		if got := j.mappedTo(b); got != wantB {
			t.Fatalf("investor %d mapped to %q, want %q", b, got, wantB)
		}
	}

	header := "issuance_investor_id,cashlink_investor_id\n"
	for _, tc := range []struct{ name, file, want string }{
		{"malformed line", header + fmt.Sprintf("%d,%s\n%d,%s\nnot-a-number,%s\n", a, clA, b, clB, clA),
			"line 4: an Issuance investor id and a Cashlink investor id are needed"},
		{"one column", fmt.Sprintf("%d,%s\n%d\n", a, clA, b), "line 2: two columns needed"},
		{"contradictory lines", fmt.Sprintf("%d,%s\n%d,%s\n%d,%s\n", a, clA, b, clB, a, clB),
			fmt.Sprintf("line 3: investor %d is mapped to %s on line 1 already", a, clA)},
		{"broken quoting", fmt.Sprintf("%d,%s\n\"%d,%s\n", a, clA, b, clB), "line 2: not valid CSV"},
		{"no mapping", header, "no mapping in the file"},
	} {
		r := c.upload(j.path("mapping/csv"), nil, "map.csv", []byte(tc.file))
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if got := text(r.doc.Find(`[data-testid="mapping-error"]`)); !strings.HasPrefix(got, "The mapping file was not applied:") || !strings.Contains(got, tc.want) {
			t.Fatalf("%s: error %q, want %q", tc.name, got, tc.want)
		}
		unchanged("", "")
		if maps, _ := s.app.Importer.Store().Mappings(ctx); len(maps) != 0 {
			t.Fatalf("%s: remembered %v", tc.name, maps)
		}
	}

	// A good file (a repeated identical line is fine).
	r := c.upload(j.path("mapping/csv"), nil, "map.csv", []byte(header+fmt.Sprintf("%d,%s\n%d,%s\n%d,%s\n", a, clA, b, clB, a, clA)))
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="mapping-msg"]`)); got != "Applied 2 mappings from map.csv." {
		t.Fatalf("message %q", got)
	}
	unchanged(clA, clB)
	if id, from := mappingRow(r, a); id != clA || from != "csv" {
		t.Fatalf("page shows investor %d as %q from %q", a, id, from)
	}
	maps, _ := s.app.Importer.Store().Mappings(ctx)
	if maps[a].CashlinkInvestor != clA || maps[a].Source != "csv" || maps[b].CashlinkInvestor != clB {
		t.Fatalf("remembered %v", maps)
	}

	// The database refuses to remember: the request fails clearly and the
	// rows keep their mapping (not applied without being remembered).
	for _, trig := range []string{"INSERT", "UPDATE"} {
		if _, err := s.app.DB.Exec(`CREATE TRIGGER no_mapping_` + trig + ` BEFORE ` + trig + ` ON investor_mappings BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
			t.Fatal(err)
		}
	}
	r = c.upload(j.path("mapping/csv"), nil, "swapped.csv", []byte(fmt.Sprintf("%d,%s\n%d,%s\n", a, clB, b, clA)))
	wantStatus(t, r, http.StatusInternalServerError)
	if got := text(r.doc.Find(`[data-testid="mapping-error"]`)); !strings.Contains(got, "could not save the mappings, so none was changed") {
		t.Fatalf("error %q", got)
	}
	unchanged(clA, clB)
	// The same for the mapping form and matching by e-mail.
	form := url.Values{"campaign_id": {inf.Campaigns[0].ID}, "product_id": {inf.Products[0].ID}, "action": {"save"},
		"map-" + strconv.FormatInt(a, 10): {clB}}
	r = c.post(j.path("mapping"), form)
	wantStatus(t, r, http.StatusInternalServerError)
	unchanged(clA, clB)
	s.app.DB.Exec(`DROP TRIGGER no_mapping_INSERT`)
	s.app.DB.Exec(`DROP TRIGGER no_mapping_UPDATE`)
	wantStatus(t, c.post(j.path("mapping"), form), http.StatusOK)
	unchanged(clB, clB)
	if maps, _ := s.app.Importer.Store().Mappings(ctx); maps[a].Source != "manual" || maps[a].CashlinkInvestor != clB {
		t.Fatalf("a changed mapping is remembered as the admin's: %+v", maps[a])
	}
}

// Creating a Cashlink investor: a refused form can be corrected and sent
// again; the person is created once, however often the form is sent.
func TestImportCreateInvestor(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	j := newImportJob(t, s, c, "create investor")
	j.fromOffering("1", "accepted", "invested")
	r := c.get(j.path("mapping"))
	forms := r.doc.Find(`[data-testid="create-investor"] form`)
	if forms.Length() != len(j.investors()) {
		t.Fatalf("%d create forms for %d unmapped investors", forms.Length(), len(j.investors()))
	}
	fields := url.Values{}
	forms.First().Find("input").Each(func(_ int, in *goqSel) {
		name, _ := in.Attr("name")
		v, _ := in.Attr("value")
		fields.Set(name, v)
	})
	inv, _ := strconv.ParseInt(fields.Get("investor"), 10, 64)
	if inv == 0 || fields.Get("forename") == "" || fields.Get("email") == "" {
		t.Fatalf("form not prefilled: %v", fields)
	}
	for k, v := range map[string]string{"salutation": "MS", "birth_date": "02.01.1980", "birth_place": "Berlin", "citizenship": "DEU",
		"street": "Hauptstr. 1", "zip": "10115", "city": "Berlin", "country": "DEU"} {
		fields.Set(k, v)
	}
	// An e-mail of its own in Cashlink: only the created investor's record carries it.
	fields.Set("email", "cashlink-"+fields.Get("email"))
	before := counts(t, s).Investors

	// Without the admin's statement that the investor is not subject to US
	// tax nothing is sent (Cashlink requires false; the console cannot tell).
	if fields.Get("not_us_tax") != "yes" {
		t.Fatalf("the form has no US-tax statement: %v", fields)
	}
	fields.Del("not_us_tax")
	r = c.post(j.path("mapping/create"), fields)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := text(r.doc.Find(`[data-testid="mapping-error"]`)); !strings.Contains(got, "not subject to US tax") {
		t.Fatalf("error without the US-tax statement %q", got)
	}
	if n := counts(t, s).Investors; n != before {
		t.Fatalf("%d investors created without the US-tax statement", n-before)
	}
	fields.Set("not_us_tax", "yes")

	// Cashlink refuses the birth date: shown, nothing created or mapped.
	r = c.post(j.path("mapping/create"), fields)
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := text(r.doc.Find(`[data-testid="mapping-error"]`)); !strings.Contains(got, "Cashlink refused") || !strings.Contains(got, "birth_date") {
		t.Fatalf("error %q", got)
	}
	if n := counts(t, s).Investors; n != before || j.mappedTo(inv) != "" {
		t.Fatalf("after a refusal: %d investors created, mapped to %q", n-before, j.mappedTo(inv))
	}

	// Corrected, it goes through (a refused request's key is not replayed).
	fields.Set("birth_date", "1980-01-02")
	created := ""
	for attempt := 1; attempt <= 2; attempt++ { // the second: a double click or another tab
		r = c.post(j.path("mapping/create"), fields)
		wantStatus(t, r, http.StatusOK)
		msg := text(r.doc.Find(`[data-testid="mapping-msg"]`))
		id, _, ok := strings.Cut(strings.TrimPrefix(msg, "Created the Cashlink investor "), " and mapped it.")
		if !ok || id == "" || created != "" && id != created {
			t.Fatalf("attempt %d: message %q (first id %q)", attempt, msg, created)
		}
		created = id
		if n := counts(t, s).Investors; n != before+1 {
			t.Fatalf("attempt %d: %d investors created, want 1", attempt, n-before)
		}
	}
	if got := j.mappedTo(inv); got != created {
		t.Fatalf("rows mapped to %q, want %q", got, created)
	}
	if id, from := mappingRow(r, inv); id != created || from != "created" {
		t.Fatalf("page shows %q from %q", id, from)
	}
	if maps, _ := s.app.Importer.Store().Mappings(ctx); maps[inv].CashlinkInvestor != created || maps[inv].Source != "created" {
		t.Fatalf("remembered %+v", maps[inv])
	}
	// Known from now on by its e-mail ("Match by e-mail" in later jobs).
	cat, err := s.app.Importer.Store().Catalog(ctx)
	if err != nil || !slices.ContainsFunc(cat.Investors, func(ci importer.CatalogInvestor) bool {
		return ci.ID == created && strings.EqualFold(ci.Email, fields.Get("email"))
	}) {
		t.Fatalf("created investor %s <%s> not among the %d investors the console keeps (%v)", created, fields.Get("email"), len(cat.Investors), err)
	}
	got, err := s.app.Cashlink.GetInvestor(ctx, created)
	if err != nil || !strings.Contains(fmt.Sprint(got.Fields), "1980-01-02") {
		t.Fatalf("investor in Cashlink: %+v %v", got, err)
	}
}

// Mappings are remembered: a second job for the same investments comes back
// mapped, each investor to the same Cashlink investor, saying from where.
func TestImportMappingsRemembered(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	inf := sandboxInfo(t, s)
	j1 := newImportJob(t, s, c, "first")
	j1.fromOffering("1", "accepted", "invested")
	invs := j1.investors()
	wantStatus(t, c.get(j1.path("mapping")), http.StatusOK) // the page and its CSRF token
	// By e-mail first, then the rest by hand.
	r := c.post(j1.path("mapping"), url.Values{"campaign_id": {inf.Campaigns[0].ID}, "product_id": {inf.Products[0].ID}, "action": {"match"}})
	wantStatus(t, r, http.StatusOK)
	form := url.Values{"campaign_id": {inf.Campaigns[0].ID}, "product_id": {inf.Products[0].ID}, "action": {"save"}}
	for i, inv := range invs {
		if id, _ := mappingRow(r, inv); id == "" {
			form.Set("map-"+strconv.FormatInt(inv, 10), inf.Investors[i%len(inf.Investors)].ID)
		}
	}
	r = c.post(j1.path("mapping"), form)
	wantStatus(t, r, http.StatusOK)
	want := map[int64][2]string{}
	for _, inv := range invs {
		id, from := mappingRow(r, inv)
		if id == "" || from == "" {
			t.Fatalf("investor %d not mapped in the first job: %q %q", inv, id, from)
		}
		want[inv] = [2]string{id, from}
	}

	j2 := newImportJob(t, s, c, "second")
	j2.fromOffering("1", "accepted", "invested")
	r = c.get(j2.path("mapping"))
	for _, inv := range invs {
		if id, from := mappingRow(r, inv); [2]string{id, from} != want[inv] {
			t.Errorf("investor %d: second job shows %q from %q, want %v", inv, id, from, want[inv])
		}
		if got := j2.mappedTo(inv); got != want[inv][0] {
			t.Errorf("investor %d: rows mapped to %q", inv, got)
		}
	}
	if r.doc.Find(`[data-testid="create-investor"]`).Length() != 0 {
		t.Error("the second job offers to create investors that are mapped")
	}
	r = c.get(j2.path("review"))
	if got := text(r.doc.Find(`[data-testid="row-problem"]`)); strings.Contains(got, "No Cashlink investor mapped") {
		t.Fatalf("second job review: %q", got)
	}
}
