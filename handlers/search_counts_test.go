package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"issuerconsole/services/issuance"
	"issuerconsole/views"
)

// checkStatusCounts follows the page r's lazy status counts as htmx would
// (the loader's URL with HX-Request) and checks that status's count.
func checkStatusCounts(t *testing.T, s *testServer, c *client, r *response, page, status, want string) {
	t.Helper()
	if got := text(r.doc.Find(`#c-status__in-` + status)); got != "" {
		t.Fatalf("%s: count %q shown before any search counted it", page, got)
	}
	loader := r.doc.Find(`#investment-results span[hx-get^="/investments/status-counts?"]`)
	if loader.Length() != 1 || loader.AttrOr("hx-trigger", "") != "load" || loader.AttrOr("hx-swap", "") != "none" {
		t.Fatalf("%s: no loader of the status counts after the results", page)
	}
	u := loader.AttrOr("hx-get", "")
	if !strings.Contains(r.body, `<noscript><a href="`+strings.ReplaceAll(u, "&", "&amp;")+`"`) {
		t.Fatalf("%s: no link to count without JavaScript", page)
	}
	before := s.callCount(t, "issuance")
	f := c.get(u, "HX-Request", "true")
	wantStatus(t, f, http.StatusOK)
	if n := f.doc.Find(`span.count[hx-swap-oob="true"]`).Length(); n != len(issuance.Statuses) {
		t.Fatalf("counts fragment has %d out-of-band counts, want %d", n, len(issuance.Statuses))
	}
	if got := text(f.doc.Find(`#c-status__in-` + status)); got != want {
		t.Fatalf("%s count %q, want %q", status, got, want)
	}
	if n := s.callCount(t, "issuance") - before; n != len(issuance.Statuses) {
		t.Fatalf("counting made %d calls, want one per status (%d)", n, len(issuance.Statuses))
	}
}

// The search's results come without waiting for the 11 status counts:
// htmx loads them after; a search with the same filters but other
// statuses, order or page shows them at once without counting again;
// without JavaScript a link counts and comes back to the search.
func TestStatusCountsLoadAfterResultsAndAreKept(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()
	count := func(status, search string) string {
		q := url.Values{"status": {status}, "page_size": {"1"}}
		if search != "" {
			q.Set("search", search)
		}
		p, err := s.app.Issuance.ListInvestmentsQuery(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return views.Count(p.Count)
	}

	const page = "/investments?amount__gte=100&page_size=25&status__in=invested"
	r := c.get(page)
	wantStatus(t, r, http.StatusOK)
	if r.doc.Find(`tr[data-testid="investment-row"]`).Length() == 0 {
		t.Fatal("no results")
	}
	var want string
	q := url.Values{"amount__gte": {"100"}, "status": {"accepted"}, "page_size": {"1"}}
	if p, err := s.app.Issuance.ListInvestmentsQuery(ctx, q); err != nil {
		t.Fatal(err)
	} else {
		want = views.Count(p.Count)
	}
	checkStatusCounts(t, s, c, r, page, "accepted", want)

	// Other statuses, another order, another page: the same counts, shown
	// at once, no count call.
	before := s.callCount(t, "issuance")
	r = c.get("/investments?amount__gte=100&ordering=-amount&page=2&page_size=25&status__in=accepted%2Cinvested", "HX-Request", "true")
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`#c-status__in-accepted`)); got != want {
		t.Fatalf("kept count %q, want %q", got, want)
	}
	if r.doc.Find(`span[hx-get^="/investments/status-counts"]`).Length() != 0 {
		t.Fatal("counts loaded again though they are known")
	}
	if n := s.callCount(t, "issuance") - before; n != 1 {
		t.Fatalf("%d calls for a search whose counts are known, want 1 (the list)", n)
	}

	// Another filter: the counts shown are cleared (not the last search's)
	// and loaded again.
	r = c.get("/investments?amount__gte=5000&page_size=25", "HX-Request", "true")
	if got := r.doc.Find(`span#c-status__in-accepted[hx-swap-oob="true"]`); got.Length() != 1 || text(got) != "" {
		t.Fatalf("the earlier search's count is not cleared: %d %q", got.Length(), text(got))
	}
	if r.doc.Find(`span[hx-get^="/investments/status-counts?"]`).Length() != 1 {
		t.Fatal("no loader for the new search's counts")
	}

	// Without JavaScript: the link counts, then shows the search again,
	// now with the counts.
	nojs := "/investments/status-counts?page_size=25&search=a"
	r = c.get(nojs)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/investments?page_size=25&search=a" {
		t.Fatalf("no-JS count link: %d to %q, want 303 back to the search", r.StatusCode, r.Header.Get("Location"))
	}
	r = c.get(r.Header.Get("Location"))
	if got, want := text(r.doc.Find(`#c-status__in-accepted`)), count("accepted", "a"); got != want {
		t.Fatalf("after the no-JS link the page shows %q, want %q", got, want)
	}
}

// The advanced filters look the same whether a group is rendered for the
// request (it has a value) or kept from an earlier one (nobody filled it
// in): every field, its label, its control and its error text.
func TestAdvancedFiltersSameWhenKept(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	fields := func(r *response) []string {
		var out []string
		r.doc.Find(`details[data-testid="advanced"] details.filter-group`).Each(func(_ int, g *goqSel) {
			g.Find(`.field`).Each(func(_ int, f *goqSel) {
				ctl := f.Find(`[name]`).First()
				name, _ := ctl.Attr("name")
				id, _ := ctl.Attr("id")
				out = append(out, text(g.Find("summary").First())+"|"+name+"|"+id+"|"+text(f.Find(`label[for="`+id+`"]`))+"|"+
					f.Find(`#e-`+name).AttrOr("data-testid", ""))
			})
		})
		return out
	}
	cold := fields(c.get("/investments?page_size=25"))
	kept := fields(c.get("/investments?page_size=25"))
	live := fields(c.get("/investments?page_size=25&reference_id=INV-1&quantity=3&processed_at__isnull=true&investor=1&updated_at=x"))
	if len(cold) < 60 {
		t.Fatalf("only %d advanced fields", len(cold))
	}
	if strings.Join(cold, "\n") != strings.Join(kept, "\n") || strings.Join(cold, "\n") != strings.Join(live, "\n") {
		t.Fatalf("advanced fields differ:\ncold %v\nkept %v\nlive %v", cold, kept, live)
	}
	r := c.get("/investments?page_size=25&reference_id=INV-1")
	if v := r.doc.Find(`#p-reference_id`).AttrOr("value", ""); v != "INV-1" {
		t.Fatalf("a filled-in advanced field shows %q", v)
	}
	if r.doc.Find(`details.filter-group[open] #p-reference_id`).Length() != 1 {
		t.Fatal("the group of a filled-in field is not open")
	}
}
