package handlers_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"issuerconsole/handlers"
	"issuerconsole/services/accounts"
	"issuerconsole/views"
)

func rowIDs(r *response) []string {
	var ids []string
	r.doc.Find(`tr[data-testid="investment-row"]`).Each(func(_ int, row *goqSel) {
		id, _ := row.Attr("data-id")
		ids = append(ids, id)
	})
	return ids
}

// Each filter group reaches the API with the parameter names and values the
// reference documents, and the rows shown are the API's.
func TestInvestmentSearchFilterGroups(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	tests := []struct {
		group string
		query string // as the form submits it (multi-selects repeat)
		sent  []string
	}{
		{"status and payment", "status__in=accepted&status__in=invested&requested_payment_method__in=wire&requested_payment_method__in=card",
			[]string{"status__in=accepted%2Cinvested", "requested_payment_method__in=wire%2Ccard"}},
		{"amounts", "amount__gte=100.50&amount__lte=5000&shares_amount__gt=10&quantity__in=10,20,30",
			[]string{"amount__gte=100.50", "amount__lte=5000", "shares_amount__gt=10", "quantity__in=10%2C20%2C30"}},
		{"dates", "created_at__date__gte=2025-01-01&processed_at__gte=2025-01-01T00%3A00%3A00%2B01%3A00&updated_at__date__lte=2027-12-31&processed_at__isnull=false",
			[]string{"created_at__date__gte=2025-01-01", "processed_at__gte=2025-01-01T00%3A00%3A00%2B01%3A00", "updated_at__date__lte=2027-12-31", "processed_at__isnull=false"}},
		{"investor", "investor__type__in=person&investor__type__in=trust&investor__entity__kyc_status=passed&investor__user__email__in=a%40example.com",
			[]string{"investor__type__in=person%2Ctrust", "investor__entity__kyc_status=passed", "investor__user__email__in=a%40example.com"}},
		{"offering", "offering=1", []string{"offering=1"}},
		{"references", "id__in=1,2,3&reference_id__in=X", []string{"id__in=1%2C2%2C3", "reference_id__in=X"}},
		{"approval and watchlist", "investmentapproval__is_approved=true&watchlistentity__has_hits=false",
			[]string{"investmentapproval__is_approved=true", "watchlistentity__has_hits=false"}},
		{"processing issues", "processing_issue_statuses__contains=kyc", []string{"processing_issue_statuses__contains=kyc"}},
		{"search and ordering", "search=Fund&ordering=-amount", []string{"search=Fund", "ordering=-amount"}},
	}
	for _, tt := range tests {
		t.Run(tt.group, func(t *testing.T) {
			r := c.get("/investments?" + tt.query + "&page_size=25")
			if r.StatusCode == http.StatusSeeOther {
				r = c.get(r.Header.Get("Location"))
			}
			wantStatus(t, r, http.StatusOK)
			if r.doc.Find(`[data-testid="list-problem"]`).Length() != 0 {
				t.Fatalf("problem: %s", text(r.doc.Find(`[data-testid="list-problem"]`)))
			}
			sent := s.lastCallTo(t, "/api/investments/").Path
			for _, want := range tt.sent {
				if !strings.Contains(sent, want) {
					t.Errorf("the API got %s; want it to contain %s", sent, want)
				}
			}
			// The rows are exactly the API's answer to that query.
			u, _ := url.Parse(sent)
			page, err := s.app.Issuance.ListInvestmentsQuery(ctx, u.Query())
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, inv := range page.Results {
				want = append(want, itoa(int(inv.ID)))
			}
			if got := rowIDs(r); !slices.Equal(got, want) {
				t.Fatalf("rows %v, API %v", got, want)
			}
			if got := text(r.doc.Find(`[data-testid="result-count"]`)); got != views.Count(page.Count) {
				t.Fatalf("count %s, API %d", got, page.Count)
			}
		})
	}
}

// Every choice parameter offers its documented values, with labels, and
// every documented parameter has a field in the form.
func TestSearchFormOffersEveryParameter(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/investments?page_size=25&status__in=accepted%2Cinvested")
	wantStatus(t, r, http.StatusOK)
	// Status: checkboxes in words, each with its count (the other filters
	// applied), the chosen ones checked.
	opts := r.doc.Find(`#p-status__in input[type="checkbox"][name="status__in"]`)
	if opts.Length() != 11 {
		t.Fatalf("status facet has %d checkboxes, want 11", opts.Length())
	}
	label := r.doc.Find(`#p-status__in input[value="not_received"]`).Parent()
	if got := text(label); !strings.HasPrefix(got, "Payment not received") {
		t.Fatalf("checkbox label %q", got)
	}
	want, err := s.app.Issuance.ListInvestmentsQuery(context.Background(), url.Values{"status": {"not_received"}, "page_size": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	checkStatusCounts(t, s, c, r, "/investments?page_size=25&status__in=accepted%2Cinvested", "not_received", views.Count(want.Count))
	r = c.get("/investments?page_size=25&status__in=accepted%2Cinvested")
	label = r.doc.Find(`#p-status__in input[value="not_received"]`).Parent()
	if got := text(label.Find(".count")); got != views.Count(want.Count) {
		t.Fatalf("not_received count %q, API %d", got, want.Count)
	}
	var sel []string
	r.doc.Find(`#p-status__in input[checked]`).Each(func(_ int, o *goqSel) { v, _ := o.Attr("value"); sel = append(sel, v) })
	if strings.Join(sel, ",") != "invested,accepted" {
		t.Fatalf("checked %v", sel)
	}
	// The active filters as chips, each removing only itself.
	chips := r.doc.Find(`[data-testid="chip"]`)
	if chips.Length() != 2 || !strings.Contains(text(chips.First()), "Status: Accepted") {
		t.Fatalf("chips %q", text(chips))
	}
	if href := chips.First().Find("a").AttrOr("href", ""); href != "/investments?page_size=25&status__in=invested" {
		t.Fatalf("removing the first chip leads to %q", href)
	}
	// Everything but the everyday filters is under Advanced.
	if r.doc.Find(`details[data-testid="advanced"] [name="status"]`).Length() != 1 || r.doc.Find(`details[data-testid="advanced"] [name="amount__gte"]`).Length() != 0 {
		t.Fatal("advanced holds the wrong filters")
	}
	if typ := r.doc.Find(`#p-created_at__date__gte`).AttrOr("type", ""); typ != "date" {
		t.Fatalf("created-from is an input of type %q", typ)
	}
	for _, p := range []struct {
		sel string
		n   int
	}{{`#p-requested_payment_method__in input[type="checkbox"]`, 5}, {`#p-investor__type__in input[type="checkbox"]`, 4}, {`#p-investor__entity__kyc_status__in input[type="checkbox"]`, 4}, {"#p-status option", 12}} {
		if n := r.doc.Find(p.sel).Length(); n != p.n {
			t.Errorf("%s: %d, want %d", p.sel, n, p.n)
		}
	}
	if n := r.doc.Find(`#p-offering option`).Length(); n < 2 {
		t.Errorf("offering select has %d options", n)
	}
	missing := 0
	for _, name := range issuanceParamNames() {
		if r.doc.Find(`form#investment-filters [name="`+name+`"]`).Length() == 0 {
			t.Errorf("no form field for %s", name)
			missing++
		}
	}
}

func TestInvestmentSearchErrors(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)

	// Local checks: shown next to the fields, nothing sent, the form as typed.
	before := s.callCount(t, "issuance")
	r := c.get("/investments?amount__gte=abc&created_at__date__gte=2024-13-01&status=Started&page_size=25")
	wantStatus(t, r, http.StatusOK)
	for param, msg := range map[string]string{"amount__gte": "Enter a number.", "created_at__date__gte": "Enter a valid date.", "status": "Select a valid choice. Started"} {
		if got := text(r.doc.Find(`[data-testid="error-` + param + `"]`)); !strings.Contains(got, msg) {
			t.Errorf("%s: error %q, want %q", param, got, msg)
		}
		if inv, _ := r.doc.Find(`#p-` + param).Attr("aria-invalid"); inv != "true" {
			t.Errorf("%s not marked invalid", param)
		}
	}
	if v, _ := r.doc.Find(`#p-amount__gte`).Attr("value"); v != "abc" {
		t.Errorf("typed value lost: %q", v)
	}
	// Only the offering list for the select may have been fetched.
	for _, e := range recentCalls(t, s, before) {
		if strings.Contains(e, "/api/investments/") {
			t.Fatalf("a locally invalid search reached the API: %s", e)
		}
	}

	// The API's 400 is mapped to the field it names.
	r = c.get("/investments?offering=99999&page_size=25")
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="error-offering"]`)); !strings.Contains(got, "Select a valid choice") {
		t.Fatalf("offering error %q", got)
	}
	// Through htmx, the errors come out of band with the results.
	r = c.get("/investments?offering=99999&page_size=25", "HX-Request", "true")
	if oob := r.doc.Find(`#e-offering[hx-swap-oob]`); !strings.Contains(text(oob), "Select a valid choice") {
		t.Fatalf("no out-of-band error for htmx: %s", r.body[:min(len(r.body), 400)])
	}

	// Upstream failure: a clear message, the filters kept.
	s.app.Sandbox.DB.Close()
	r = c.get("/investments?status=accepted&page_size=25")
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="list-problem"]`)); !strings.Contains(got, "could not answer") || !strings.Contains(got, "filters are kept") {
		t.Fatalf("problem %q", got)
	}
	if v, _ := r.doc.Find(`#p-status option[selected]`).Attr("value"); v != "accepted" {
		t.Fatalf("status filter lost: %q", v)
	}
}

func recentCalls(t *testing.T, s *testServer, after int) []string {
	var paths []string
	n := 0
	s.app.Audit.Each(context.Background(), auditFilter("issuance"), func(e auditEntry) error {
		n++
		paths = append(paths, e.Path)
		return nil
	})
	return paths[:max(n-after, 0)]
}

// Sorting by a column header changes "ordering" outside the form: the
// form's ordering field is marked for app.js to follow the pushed address
// (the browser test shows a later filter change keeping the sort); and the
// form's requests and the header and pager links share one htmx queue, so
// the last one asked for is the one shown.
func TestSortLinksAndFormStayInStep(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/investments?ordering=-amount&page_size=25")
	wantStatus(t, r, http.StatusOK)
	form, _ := r.doc.Find(`form#investment-filters`).Attr("hx-sync")
	sortSync, _ := r.doc.Find(`thead a.sort`).First().Attr("hx-sync")
	pageSync, _ := r.doc.Find(`nav.pager a`).First().Attr("hx-sync")
	if form != "#investment-results:replace" || sortSync != form || pageSync != form {
		t.Fatalf("hx-sync: form %q, sort %q, pager %q", form, sortSync, pageSync)
	}
	linked := r.doc.Find(`form#investment-filters [data-linked]`)
	if v, _ := linked.Attr("value"); linked.Length() != 1 || linked.AttrOr("name", "") != "ordering" || v != "-amount" {
		t.Fatalf("linked fields: %d, %s=%q", linked.Length(), linked.AttrOr("name", ""), v)
	}
}

func TestSharedURLRendersTheSameRows(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	a := s.client(t)
	a.login(adminEmail, adminPass)
	s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	b := s.client(t)
	b.login("auditor@example.com", testPass)

	u := "/investments?ordering=-amount&page=2&page_size=10&status__in=accepted%2Cinvested%2Creceived"
	frag := a.get(u, "HX-Request", "true") // what the live search showed
	full := b.get(u)                       // the URL pasted by someone else
	if strings.Contains(frag.body, "<html") || !strings.Contains(full.body, "<html") {
		t.Fatal("fragment/full page mix-up")
	}
	if len(rowIDs(frag)) == 0 || !slices.Equal(rowIDs(frag), rowIDs(full)) {
		t.Fatalf("htmx rows %v, pasted URL rows %v", rowIDs(frag), rowIDs(full))
	}
	if vary := strings.Join(full.Header.Values("Vary"), ","); !strings.Contains(vary, "HX-Request") {
		t.Fatalf("Vary %q", vary)
	}
	if cur := text(full.doc.Find(`[data-testid="pager"] [aria-current="page"]`)); cur != "2" {
		t.Fatalf("current page %q", cur)
	}
}

func TestBrokenAndUnknownParametersAreShown(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/investments?investmentapproval__is_approved__in=true&zzz=1&page_size=25")
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="note-investmentapproval__is_approved__in"]`)); !strings.Contains(got, "sent as investmentapproval__is_approved=true") {
		t.Fatalf("note %q", got)
	}
	if v, _ := r.doc.Find(`#p-investmentapproval__is_approved__in`).Attr("value"); v != "true" {
		t.Fatalf("the broken parameter is not shown in the form: %q", v)
	}
	if got := text(r.doc.Find(`[data-testid="ignored-params"]`)); !strings.Contains(got, "zzz=1") {
		t.Fatalf("unknown parameter not shown: %q", got)
	}
	sent := s.lastCallTo(t, "/api/investments/").Path
	if strings.Contains(sent, "__is_approved__in") || !strings.Contains(sent, "investmentapproval__is_approved=true") || !strings.Contains(sent, "zzz=1") {
		t.Fatalf("sent %s", sent)
	}
}

func TestColumnsSavedSearchesAndDetail(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	wantStatus(t, c.get("/investments?page_size=10"), http.StatusOK) // the page and its CSRF token
	r := c.post("/investments/columns", url.Values{"col": {"id", "amount", "investor_verify_process_status"}, "return": {"page_size=10&status=accepted"}})
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/investments?page_size=10&status=accepted" {
		t.Fatalf("back to %q", loc)
	}
	r = c.get("/investments?page_size=10")
	var heads []string
	r.doc.Find(`table[data-testid="investments-table"] thead th`).Each(func(_ int, th *goqSel) { heads = append(heads, text(th)) })
	if strings.Join(heads, "|") != "#|Amount ▲|Verify process status" && strings.Join(heads, "|") != "#|Amount|Verify process status" {
		t.Fatalf("columns %v", heads)
	}
	// Another user keeps the defaults.
	s.createUser(t, "other@example.com", accounts.RoleAdmin)
	o := s.client(t)
	o.login("other@example.com", testPass)
	if n := o.get("/investments?page_size=10").doc.Find(`table[data-testid="investments-table"] thead th`).Length(); n < 8 {
		t.Fatalf("the other user sees %d columns", n)
	}

	r = c.post("/investments/saved", url.Values{"name": {"Accepted, big"}, "query": {"amount__gte=1000&status=accepted&page_size=10"}})
	wantStatus(t, r, http.StatusSeeOther)
	r = o.get("/investments?page_size=10") // shared with everyone
	link := r.doc.Find(`[data-testid="saved-search"] a`)
	if text(link) != "Accepted, big" {
		t.Fatalf("saved search %q", text(link))
	}
	if href, _ := link.Attr("href"); href != "/investments?amount__gte=1000&page_size=10&status=accepted" {
		t.Fatalf("saved search URL %q", href)
	}
	if r.doc.Find(`[data-testid="saved-search"] button`).Length() != 1 {
		t.Fatal("an admin may delete any saved search")
	}

	r = c.get("/investments/1")
	wantStatus(t, r, http.StatusOK)
	if n := r.doc.Find(`tr[data-testid="investment-field"]`).Length(); n != 35 {
		t.Fatalf("%d fields shown, want every field (35)", n)
	}
	if r.doc.Find(`[data-testid="deprecated"]`).Length() != 1 {
		t.Fatal("the deprecated field is not marked")
	}
	inv, _ := s.app.Issuance.GetInvestment(context.Background(), 1)
	if href, _ := r.doc.Find(`[data-testid="offering-link"]`).Attr("href"); href != "/offerings/"+itoa(int(inv.Offering)) {
		t.Fatalf("offering link %q", href)
	}
	wantStatus(t, c.get("/investments/999999"), http.StatusNotFound)
}

func TestExportAllPages(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	s.createUser(t, "auditor2@example.com", accounts.RoleAuditor)
	var personalCols, plainCols []string
	for _, col := range handlers.ExportColumns(func(int64) string { return "" }) {
		if col.Personal {
			personalCols = append(personalCols, col.Name)
		} else {
			plainCols = append(plainCols, col.Name)
		}
	}
	query := "page_size=10&status__in=accepted%2Cinvested"
	q, _ := url.ParseQuery(query)
	want, err := s.app.Issuance.ListInvestmentsQuery(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	var names []string // the investors' names: personal data
	for inv, err := range s.app.Issuance.AllInvestments(context.Background(), q, 100) {
		if err != nil {
			t.Fatal(err)
		}
		if inv.InvestorIndividualName != "" {
			names = append(names, inv.InvestorIndividualName)
		}
	}
	if len(personalCols) == 0 || len(names) == 0 {
		t.Fatalf("%d personal columns, %d investor names: nothing to hide", len(personalCols), len(names))
	}
	exports := map[string]string{} // email -> status page of their export
	for _, who := range []struct {
		email, pass string
		personal    bool
	}{{adminEmail, adminPass, true}, {"auditor@example.com", testPass, false}} {
		t.Run(who.email, func(t *testing.T) {
			c := s.client(t)
			c.login(who.email, who.pass)
			c.get("/investments?page_size=10")
			r := c.post("/investments/export", url.Values{"query": {query}})
			wantStatus(t, r, http.StatusSeeOther)
			status := r.Header.Get("Location")
			exports[who.email] = status
			var done bool
			for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
				r = c.get(status, "HX-Request", "true")
				if r.doc.Find(`[data-testid="export-done"]`).Length() == 1 {
					done = true
					break
				}
				if r.doc.Find(`[data-testid="export-failed"]`).Length() == 1 {
					t.Fatalf("export failed: %s", text(r.doc.Find(`[data-testid="export-failed"]`)))
				}
			}
			if !done {
				t.Fatal("export did not finish")
			}
			href, _ := r.doc.Find(`[data-testid="export-download"]`).Attr("href")
			if href != status+"/download" {
				t.Fatalf("download link %q for the export at %q", href, status)
			}
			r = c.get(href)
			wantStatus(t, r, http.StatusOK)
			recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(recs)-1 != want.Count {
				t.Fatalf("%d rows exported, the search has %d (all pages)", len(recs)-1, want.Count)
			}
			if who.personal {
				for _, col := range personalCols {
					if !slices.Contains(recs[0], col) {
						t.Errorf("admin export lacks the personal column %s", col)
					}
				}
			} else {
				// Only the columns without personal data, and no investor
				// name anywhere in the file.
				if !slices.Equal(recs[0], plainCols) {
					t.Errorf("auditor export columns %v, want %v", recs[0], plainCols)
				}
				for _, n := range names {
					if strings.Contains(r.body, n) {
						t.Errorf("auditor export contains the investor name %q", n)
					}
				}
			}
			// The human columns read as the screens do.
			col := slices.Index(recs[0], "status_label")
			amt := slices.Index(recs[0], "amount_display")
			if col < 0 || amt < 0 {
				t.Fatalf("no human columns in %v", recs[0])
			}
			for _, rec := range recs[1:] {
				if rec[col] != "Accepted" && rec[col] != "Invested" || !strings.HasPrefix(rec[amt], "$") {
					t.Fatalf("human columns %q, %q", rec[col], rec[amt])
				}
			}
			// Names, not ids: each row's offering by its name.
			off, name := slices.Index(recs[0], "offering"), slices.Index(recs[0], "offering_name")
			if off < 0 || name < 0 {
				t.Fatalf("no offering name column in %v", recs[0])
			}
			for _, rec := range recs[1:] {
				id, _ := strconv.ParseInt(rec[off], 10, 64)
				o, err := s.app.Issuance.GetOffering(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				if rec[name] != o.Name || o.Name == "" {
					t.Fatalf("offering %d exported as %q, its name is %q", id, rec[name], o.Name)
				}
			}
			// Hostile names cannot become spreadsheet formulas.
			for _, rec := range recs[1:] {
				for _, v := range rec {
					if strings.HasPrefix(v, "=") || strings.HasPrefix(v, "@") {
						t.Fatalf("unguarded formula %q", v)
					}
				}
			}
		})
	}
	// Only the owner and admins can see an export: to anyone else it does
	// not exist (404 for the status page and the file alike).
	admin, auditor, other := s.client(t), s.client(t), s.client(t)
	admin.login(adminEmail, adminPass)
	auditor.login("auditor@example.com", testPass)
	other.login("auditor2@example.com", testPass)
	for _, tt := range []struct {
		who    *client
		export string
		want   int
	}{
		{auditor, exports[adminEmail], http.StatusNotFound},
		{other, exports["auditor@example.com"], http.StatusNotFound},
		{admin, exports["auditor@example.com"], http.StatusOK},
		{auditor, exports["auditor@example.com"], http.StatusOK},
	} {
		for _, path := range []string{tt.export, tt.export + "/download"} {
			r := tt.who.get(path)
			if r.StatusCode != tt.want {
				t.Errorf("GET %s: %d, want %d", path, r.StatusCode, tt.want)
			}
			if tt.want == http.StatusNotFound && strings.Contains(r.body, "investor_individual_name") {
				t.Errorf("GET %s: the refusal carries export data", path)
			}
		}
	}
}
