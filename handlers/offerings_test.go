package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"issuerconsole/services/issuance"
	"issuerconsole/views"
)

func TestOfferingsList(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	all, err := s.app.Issuance.ListOfferings(ctx, issuance.OfferingFilter{}, issuance.PageOpts{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}

	r := c.get("/offerings")
	wantStatus(t, r, http.StatusSeeOther) // canonical URL carries the page size
	r = c.get(r.Header.Get("Location"))
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="result-count"]`)); got != views.Count(all.Count) {
		t.Fatalf("count shown %s, API says %d", got, all.Count)
	}
	if n := r.doc.Find(`tr[data-testid="offering-row"]`).Length(); n != min(all.Count, 25) {
		t.Fatalf("%d rows", n)
	}

	tests := []struct {
		query string
		check func(t *testing.T, r *response)
	}{
		{"status=opened&page_size=25", func(t *testing.T, r *response) {
			r.doc.Find(`[data-testid="offering-status"]`).Each(func(_ int, sel *goqSel) {
				if text(sel) != "Open" {
					t.Errorf("status %q in an opened-only list", text(sel))
				}
			})
		}},
		{"type__in=reg_cf%2Creg_a&ordering=-name&page_size=25", func(t *testing.T, r *response) {
			var names []string
			r.doc.Find(`[data-testid="offering-name"]`).Each(func(_ int, sel *goqSel) { names = append(names, text(sel)) })
			for i := 1; i < len(names); i++ {
				if names[i-1] < names[i] {
					t.Errorf("not sorted by name descending: %q before %q", names[i-1], names[i])
				}
			}
			if h, _ := r.doc.Find(`th[aria-sort="descending"] a`).Attr("href"); !strings.Contains(h, "ordering=name") {
				t.Errorf("the sorted column's header does not toggle to ascending: %q", h)
			}
		}},
		{"name__contains=Fund&page_size=5", func(t *testing.T, r *response) {
			r.doc.Find(`[data-testid="offering-name"]`).Each(func(_ int, sel *goqSel) {
				if !strings.Contains(text(sel), "Fund") {
					t.Errorf("%q does not contain Fund", text(sel))
				}
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := c.get("/offerings?" + tt.query)
			wantStatus(t, r, http.StatusOK)
			sent := s.lastCall(t, "issuance").Path
			q, _ := url.ParseQuery(tt.query)
			for k := range q {
				if !strings.Contains(sent, k+"=") {
					t.Errorf("parameter %s did not reach the API: %s", k, sent)
				}
			}
			tt.check(t, r)
		})
	}

	before := s.callCount(t, "issuance")
	r = c.get("/offerings?status=bogus&page_size=25")
	if got := text(r.doc.Find(`[data-testid="error-status"]`)); !strings.Contains(got, "Select a valid choice. bogus") {
		t.Fatalf("status error %q", got)
	}
	if after := s.callCount(t, "issuance"); after != before {
		t.Fatalf("%d API calls for a locally invalid filter, want none", after-before)
	}
}

func TestOfferingDetail(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()

	o, err := s.app.Issuance.GetOffering(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	// The frame comes at once with one call; the money is filled in by
	// htmx on load (a no-JS link opens it as a page).
	before := s.callCount(t, "issuance")
	r := c.get("/offerings/1")
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="offering-title"]`)); got != o.Name {
		t.Fatalf("title %q, want %q", got, o.Name)
	}
	if n := s.callCount(t, "issuance") - before; n != 1 {
		t.Fatalf("the frame took %d calls, want 1", n)
	}
	slot := r.doc.Find(`[data-testid="money-slot"]`)
	if slot.AttrOr("hx-get", "") != "/offerings/1/money" || slot.AttrOr("hx-trigger", "") != "load" || r.doc.Find(`noscript`).Length() == 0 {
		t.Fatalf("money slot %q", slot.AttrOr("hx-get", ""))
	}
	if r.doc.Find(`[data-testid="terms"]`).Length() != 1 {
		t.Fatal("terms missing from the frame")
	}
	frag := c.get("/offerings/1/money", "HX-Request", "true")
	wantStatus(t, frag, http.StatusOK)
	if frag.doc.Find("html > head > title").Length() != 0 || frag.doc.Find(`section#offering-money [data-testid="headline"]`).Length() != 1 {
		t.Fatal("the money fragment is not the money section with its headline")
	}
	r = c.get("/offerings/1/money") // without JavaScript: the whole page
	wantStatus(t, r, http.StatusOK)
	if r.doc.Find(`[data-testid="terms"]`).Length() != 1 || r.doc.Find(`[data-testid="money-slot"]`).Length() != 0 {
		t.Fatal("the no-JS money page lacks the frame or still waits")
	}
	// The committed count equals what the API counts for those statuses.
	committed, err := s.app.Issuance.ListInvestmentsQuery(ctx, url.Values{"offering": {"1"}, "page_size": {"1"},
		"status__in": {"not_received,received,approved,accepted,invested,accepted_escrow_closed"}})
	if err != nil {
		t.Fatal(err)
	}
	row := r.doc.Find(`tr[data-testid="funnel-row"]`).First()
	if got := text(row.Find("td.num").First()); got != itoa(committed.Count) {
		t.Fatalf("committed count %s, API %d", got, committed.Count)
	}
	if href, _ := row.Find("a").Attr("href"); !strings.HasPrefix(href, "/investments?") || !strings.Contains(href, "offering=1") {
		t.Fatalf("committed count links to %q", href)
	}
	if r.doc.Find(`svg[data-testid="chart-status"] rect`).Length() != 11 || r.doc.Find(`table[data-testid="chart-status-table"] tbody tr`).Length() != 11 {
		t.Fatal("status chart and its table must show all 11 statuses")
	}
	if r.doc.Find(`[data-testid="progress"]`).Length() < 2 || !strings.Contains(text(r.doc.Find(`[data-testid="target-note"]`)), "look swapped") {
		t.Fatal("targets or their ambiguity note missing")
	}
	if text(r.doc.Find(`[data-testid="as-of"]`)) == "" {
		t.Fatal("no as-of time")
	}
	if href, _ := r.doc.Find(`[data-testid="search-link"]`).Attr("href"); href != "/investments?offering=1" {
		t.Fatalf("search link %q", href)
	}
	// Hostile names are shown as text, never as markup.
	if strings.Contains(r.body, "<script>") {
		t.Fatal("unescaped <script> in the page")
	}
	wantStatus(t, c.get("/offerings/99999"), http.StatusNotFound)
}

// The attention list of an offering shows exactly the investments with
// processing issues, a failed payment, watchlist hits or failed KYC (per
// the API), each with the reasons a user reads.
func TestOfferingAttention(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	collect := func(q url.Values) []issuance.Investment {
		t.Helper()
		var out []issuance.Investment
		for inv, err := range s.app.Issuance.AllInvestments(ctx, q, 100) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, inv)
		}
		return out
	}
	// Reasons per offering and investment, in the order the page gives them.
	type key struct{ offering, id int64 }
	reasons := map[key][]string{}
	kinds := map[int64]map[string]bool{} // offering -> kinds of reason present
	add := func(inv issuance.Investment, kind, reason string) {
		k := key{inv.Offering, inv.ID}
		reasons[k] = append(reasons[k], reason)
		if kinds[inv.Offering] == nil {
			kinds[inv.Offering] = map[string]bool{}
		}
		kinds[inv.Offering][kind] = true
	}
	for _, inv := range collect(url.Values{}) {
		if inv.ProcessingIssueStatuses != "" {
			add(inv, "issues", "processing issues: "+strings.ReplaceAll(inv.ProcessingIssueStatuses, ",", ", "))
		}
		if inv.Status == issuance.StatusPaymentFailed {
			add(inv, "payment", "payment failed")
		}
	}
	for _, inv := range collect(url.Values{"watchlistentity__has_hits": {"true"}}) {
		add(inv, "watchlist", "watchlist hits")
	}
	for _, inv := range collect(url.Values{"investor__entity__kyc_status": {"failed"}}) {
		add(inv, "kyc", "KYC failed")
	}
	// An offering with every kind of reason, so each is checked.
	var offering int64
	for id, k := range kinds {
		if len(k) == 4 && (offering == 0 || id < offering) {
			offering = id
		}
	}
	if offering == 0 {
		t.Fatalf("no offering of the sandbox data has all four kinds of attention: %v", kinds)
	}
	want := map[string]string{} // investment id -> reasons, in words, each once
	for k, rs := range reasons {
		if k.offering == offering {
			var words []string
			for _, r := range rs {
				for _, w := range strings.Split(strings.TrimPrefix(r, "processing issues: "), ", ") {
					w = views.Humanize(w)
					if !slices.ContainsFunc(words, func(x string) bool { return strings.EqualFold(x, w) }) {
						words = append(words, w)
					}
				}
			}
			want[strconv.FormatInt(k.id, 10)] = strings.Join(words, "; ")
		}
	}

	got := map[string]string{}
	next := "/offerings/" + strconv.FormatInt(offering, 10) + "/money"
	for pages := 0; next != ""; pages++ {
		r := c.get(next)
		wantStatus(t, r, http.StatusOK)
		if n := r.doc.Find(`tr[data-testid="attention-row"]`).Length(); n > 25 {
			t.Fatalf("%d rows on one page of the attention list", n)
		}
		r.doc.Find(`tr[data-testid="attention-row"]`).Each(func(_ int, row *goqSel) {
			href, _ := row.Find("td a").Attr("href")
			got[strings.TrimPrefix(href, "/investments/")] = text(row.Find("td").Last())
		})
		next = r.doc.Find(`[data-testid="pager"] a[rel="next"]`).AttrOr("href", "")
		if pages > 50 {
			t.Fatal("the attention pager does not end")
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d investments listed as needing attention, want %d", len(got), len(want))
	}
	for id, w := range want {
		if g, ok := got[id]; !ok {
			t.Errorf("investment %s (%s) is not listed", id, w)
		} else if g != w {
			t.Errorf("investment %s: reasons %q, want %q", id, g, w)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Errorf("investment %s is listed but needs no attention", id)
		}
	}
	// Filtered by one reason: only the investments with it, as many as
	// its link says.
	r := c.get("/offerings/" + strconv.FormatInt(offering, 10) + "/money")
	link := r.doc.Find(`[data-testid="reasons"] a`).FilterFunction(func(_ int, a *goqSel) bool { return strings.HasPrefix(text(a), "KYC failed ") })
	if link.Length() != 1 {
		t.Fatalf("no KYC failed reason link in %q", text(r.doc.Find(`[data-testid="reasons"]`)))
	}
	n := 0
	for _, w := range want {
		if strings.Contains(w, "KYC failed") {
			n++
		}
	}
	if got := text(link.Find(".muted")); got != views.Count(n) {
		t.Errorf("KYC failed link counts %s, want %d", got, n)
	}
	r = c.get(link.AttrOr("href", ""))
	rows := r.doc.Find(`tr[data-testid="attention-row"]`)
	if rows.Length() != min(n, 25) {
		t.Errorf("%d rows for KYC failed, want %d", rows.Length(), min(n, 25))
	}
	rows.Each(func(_ int, row *goqSel) {
		if !strings.Contains(text(row.Find("td").Last()), "KYC failed") {
			t.Errorf("row without the reason: %s", text(row))
		}
	})
}

// Each filter of the offering list reaches the API under its reference
// name, and the rows shown are the API's answer, which holds exactly the
// offerings the filter describes.
func TestOfferingsListFilters(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	all, err := s.app.Issuance.ListOfferings(ctx, issuance.OfferingFilter{}, issuance.PageOpts{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	// Opened dates of two offerings, as the API writes them.
	var opened []issuance.Offering
	for _, o := range all.Results {
		if o.OpenedAt != nil {
			opened = append(opened, o)
		}
	}
	if len(opened) < 3 {
		t.Fatalf("%d opened offerings in the sandbox data, want at least 3", len(opened))
	}
	at := func(o issuance.Offering) string { return o.OpenedAt.UTC().Format(time.RFC3339) }
	containsWords := func(o issuance.Offering, words ...string) bool {
		for _, w := range words {
			w = strings.ToLower(w)
			if !strings.Contains(strings.ToLower(o.Name), w) && !strings.Contains(strings.ToLower(o.Slug), w) {
				return false
			}
		}
		return true
	}
	tests := []struct {
		name  string
		query string   // as the form submits it (multi-selects repeat)
		sent  []string // in the API call's query
		match func(issuance.Offering) bool
	}{
		{"archived", "archived=true", []string{"archived=true"}, func(o issuance.Offering) bool { return o.Archived }},
		{"not archived", "archived=false", []string{"archived=false"}, func(o issuance.Offering) bool { return !o.Archived }},
		{"issuer", "issuer=2", []string{"issuer=2"}, func(o issuance.Offering) bool { return o.Issuer == 2 }},
		{"issuers", "issuer__in=1&issuer__in=3", []string{"issuer__in=1%2C3"}, func(o issuance.Offering) bool { return o.Issuer == 1 || o.Issuer == 3 }},
		{"slug contains", "slug__contains=silver-creek", []string{"slug__contains=silver-creek"},
			func(o issuance.Offering) bool { return strings.Contains(o.Slug, "silver-creek") }},
		{"name contains", "name__contains=Summit", []string{"name__contains=Summit"},
			func(o issuance.Offering) bool { return strings.Contains(o.Name, "Summit") }},
		{"opened at", "opened_at=" + url.QueryEscape(at(opened[0])), []string{"opened_at=" + url.QueryEscape(at(opened[0]))},
			func(o issuance.Offering) bool { return o.ID == opened[0].ID }},
		{"opened at, any of", "opened_at__in=" + url.QueryEscape(at(opened[1])) + "&opened_at__in=" + url.QueryEscape(at(opened[2])),
			[]string{"opened_at__in=" + url.QueryEscape(at(opened[1])+","+at(opened[2]))},
			func(o issuance.Offering) bool { return o.ID == opened[1].ID || o.ID == opened[2].ID }},
		{"search", "search=SILVER+holdings", []string{"search=SILVER+holdings"},
			func(o issuance.Offering) bool { return containsWords(o, "silver", "holdings") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.get("/offerings?" + tt.query + "&page_size=25")
			if r.StatusCode == http.StatusSeeOther {
				r = c.get(r.Header.Get("Location"))
			}
			wantStatus(t, r, http.StatusOK)
			if p := r.doc.Find(`[data-testid="list-problem"]`); p.Length() != 0 {
				t.Fatalf("problem: %s", text(p))
			}
			sent := s.lastCallTo(t, "/api/offerings/").Path
			for _, w := range tt.sent {
				if !strings.Contains(sent, w) {
					t.Errorf("the API got %s; want it to contain %s", sent, w)
				}
			}
			// The rows are the API's answer to the query sent...
			u, _ := url.Parse(sent)
			page, err := s.app.Issuance.ListOfferingsQuery(ctx, u.Query())
			if err != nil {
				t.Fatal(err)
			}
			var apiIDs []string
			for _, o := range page.Results {
				apiIDs = append(apiIDs, itoa(int(o.ID)))
			}
			shown := offeringIDs(r)
			if !slices.Equal(shown, apiIDs) {
				t.Fatalf("rows %v, API %v", shown, apiIDs)
			}
			// ...which are the offerings the filter describes, a proper
			// subset of all (so the filter did filter).
			var want []string
			for _, o := range all.Results {
				if tt.match(o) {
					want = append(want, itoa(int(o.ID)))
				}
			}
			slices.Sort(want)
			slices.Sort(shown)
			if len(want) == 0 || len(want) == all.Count || !slices.Equal(shown, want) {
				t.Fatalf("rows %v, want %v of %d offerings", shown, want, all.Count)
			}
			if got := text(r.doc.Find(`[data-testid="result-count"]`)); got != views.Count(len(want)) {
				t.Fatalf("count %s, want %d", got, len(want))
			}
		})
	}

	// The API has no range of opened dates: a hand-made one is named as
	// ignored rather than silently shown as filtered.
	r := c.get("/offerings?opened_at__gte=2024-01-01&page_size=25")
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="ignored-params"]`)); !strings.Contains(got, "opened_at__gte") {
		t.Fatalf("ignored parameters %q, want opened_at__gte named", got)
	}
	if got := text(r.doc.Find(`[data-testid="result-count"]`)); got != views.Count(all.Count) {
		t.Fatalf("count %s with an ignored parameter, want all %d", got, all.Count)
	}
}

// htmx requests get the results fragment (the filter form stays on the
// page); plain and boosted requests get the whole page.
func TestOfferingsFragment(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	const q = "/offerings?page_size=25&status=opened"

	full := c.get(q)
	wantStatus(t, full, http.StatusOK)
	frag := c.get(q, "HX-Request", "true")
	wantStatus(t, frag, http.StatusOK)
	boosted := c.get(q, "HX-Request", "true", "HX-Boosted", "true")
	wantStatus(t, boosted, http.StatusOK)

	for name, r := range map[string]*response{"plain": full, "boosted": boosted} {
		if !strings.Contains(r.body, "<html") || r.doc.Find(`form#offering-filters`).Length() != 1 || r.doc.Find(`#offering-results`).Length() != 1 {
			t.Errorf("%s request: want the whole page with the form and the results", name)
		}
	}
	if strings.Contains(frag.body, "<html") || strings.Contains(frag.body, "<nav") || frag.doc.Find(`form`).Length() != 0 {
		t.Errorf("fragment has page chrome or the form:\n%.500s", frag.body)
	}
	if frag.doc.Find(`section#offering-results`).Length() != 1 {
		t.Fatalf("fragment without the results section:\n%.500s", frag.body)
	}
	if a, b := offeringIDs(frag), offeringIDs(full); len(a) == 0 || !slices.Equal(a, b) {
		t.Fatalf("fragment rows %v, page rows %v", a, b)
	}
	if vary := strings.Join(frag.Header.Values("Vary"), ","); !strings.Contains(vary, "HX-Request") {
		t.Fatalf("Vary %q: caches would mix the fragment and the page", vary)
	}
	// A non-canonical query: the page redirects, htmx gets the fragment and
	// the canonical URL to push.
	wantStatus(t, c.get("/offerings?status=opened"), http.StatusSeeOther)
	r := c.get("/offerings?status=opened", "HX-Request", "true")
	wantStatus(t, r, http.StatusOK)
	if push := r.Header.Get("HX-Push-Url"); push != "/offerings?page_size=25&status=opened" {
		t.Fatalf("HX-Push-Url %q", push)
	}
	if r.doc.Find(`section#offering-results`).Length() != 1 {
		t.Fatal("no results fragment for the non-canonical htmx request")
	}
}

// offeringIDs are the ids of the offering rows shown, in order.
func offeringIDs(r *response) []string {
	var ids []string
	r.doc.Find(`tr[data-testid="offering-row"]`).Each(func(_ int, row *goqSel) {
		ids = append(ids, text(row.Find("td").First()))
	})
	return ids
}

func itoa(n int) string { return strconvItoa(n) }
