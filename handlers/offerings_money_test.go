package handlers_test

import (
	"context"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"issuerconsole/services/accounts"
	"issuerconsole/services/issuance"
	"issuerconsole/services/offerings"
	"issuerconsole/views"
)

// committedOf asks the API's summary directly for an offering's committed
// money.
func committedOf(t *testing.T, s *testServer, ids ...int64) *big.Rat {
	t.Helper()
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.FormatInt(id, 10)
	}
	sum, err := s.app.Issuance.InvestmentSummary(context.Background(), url.Values{"offering__in": {strings.Join(parts, ",")}})
	if err != nil {
		t.Fatal(err)
	}
	a, ok := sum.CommittedAmount()
	if !ok {
		t.Fatal("the sandbox withheld the committed amount")
	}
	return a
}

// The offerings list shows each offering's committed money with its
// currency and the share of its minimum target as a meter (past 100 %
// written as it is, the bar capped), as the API's summary counts it.
func TestOfferingsListMoneyColumns(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	all, err := s.app.Issuance.ListOfferings(context.Background(), issuance.OfferingFilter{}, issuance.PageOpts{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]issuance.Offering{}
	for _, o := range all.Results {
		byID[strconv.FormatInt(o.ID, 10)] = o
	}
	r := c.get("/offerings?page_size=100")
	wantStatus(t, r, http.StatusOK)
	if got, want := text(r.doc.Find(`[data-testid="money-as-of"]`)), s.clock.Now().UTC().Format("15:04:05 UTC"); !strings.Contains(got, want) {
		t.Errorf("money as of %q, want %s", got, want)
	}
	heads := text(r.doc.Find(`table[data-testid="offerings-table"] thead`))
	if !strings.Contains(heads, "Committed") || !strings.Contains(heads, "% of minimum") {
		t.Fatalf("headers %q", heads)
	}
	rows, over := 0, 0
	r.doc.Find(`tr[data-testid="offering-row"]`).Each(func(_ int, row *goqSel) {
		rows++
		id := text(row.Find("td").First())
		o := byID[id]
		amount := committedOf(t, s, o.ID)
		if got, want := text(row.Find(`[data-testid="offering-committed"]`)), views.MoneyRat(amount, "USD"); got != want {
			t.Errorf("offering %s: committed %q, want %q", id, got, want)
		}
		cell := row.Find(`[data-testid="offering-minimum"]`)
		if o.MinimumAmountRaised == nil || o.MinimumAmountRaised.Rat().Sign() == 0 {
			if text(cell) != views.Dash {
				t.Errorf("offering %s without a minimum: %q", id, text(cell))
			}
			return
		}
		p := offerings.PercentOf(amount, o.MinimumAmountRaised.Rat())
		meter := text(cell.Find(`[data-testid="meter-text"]`))
		if !strings.Contains(meter, views.Percent(p)) {
			t.Errorf("offering %s: meter %q, want %s", id, meter, views.Percent(p))
		}
		w, _ := strconv.ParseFloat(cell.Find("rect.meter-fill").AttrOr("width", ""), 64)
		if math.Abs(w-views.BarPercent(p)) > 0.05 || w > 100 {
			t.Errorf("offering %s: bar width %v for %v %%", id, w, p)
		}
		if p > 100 {
			over++
			if !strings.Contains(meter, "(over)") {
				t.Errorf("offering %s: %q past 100 %% not said", id, meter)
			}
		}
	})
	if rows != all.Count {
		t.Fatalf("%d rows, API %d offerings", rows, all.Count)
	}
	if over == 0 {
		t.Log("no offering past its minimum in this data set: the capped bar is checked by the view tests")
	}
}

// The dashboard shows the committed money across offerings, all and open,
// per currency, each linking to the list; the figures are the API's.
func TestHomeMoneyTotals(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	all, err := s.app.Issuance.ListOfferings(context.Background(), issuance.OfferingFilter{}, issuance.PageOpts{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	var ids, open []int64
	for _, o := range all.Results {
		ids = append(ids, o.ID)
		if o.Status == "opened" {
			open = append(open, o.ID)
		}
	}
	r := c.get("/")
	wantStatus(t, r, http.StatusOK)
	stats := r.doc.Find(`[data-testid="dash-money"] [data-testid="dash-stat"]`)
	if stats.Length() != 2 {
		t.Fatalf("%d money figures: %q", stats.Length(), text(r.doc.Find(`[data-testid="dash-money"]`)))
	}
	for i, want := range []struct {
		label, href string
		ids         []int64
	}{
		{"Committed, all offerings", "/offerings", ids},
		{"Committed, open offerings", "/offerings?status__in=opened", open},
	} {
		st := stats.Eq(i)
		if got := text(st.Find(".stat-label")); got != want.label {
			t.Errorf("figure %d is %q, want %q", i, got, want.label)
		}
		if got, w := text(st.Find(".stat-value")), views.MoneyRat(committedOf(t, s, want.ids...), "USD"); got != w {
			t.Errorf("%s: %q, want %q", want.label, got, w)
		}
		if got := st.Find("a").AttrOr("href", ""); got != want.href {
			t.Errorf("%s links to %q", want.label, got)
		}
		if got := text(st.Find(".stat-note")); got != views.Plural(int64(len(want.ids)), "offering") {
			t.Errorf("%s: note %q", want.label, got)
		}
	}
	// The list it links to shows the offerings' figures, which add up to it.
	list := c.get("/offerings?page_size=100")
	sum := new(big.Rat)
	list.doc.Find(`[data-testid="offering-committed"]`).Each(func(_ int, td *goqSel) {
		v, ok := new(big.Rat).SetString(strings.NewReplacer("$", "", ",", "").Replace(text(td)))
		if !ok {
			t.Fatalf("committed cell %q", text(td))
		}
		sum.Add(sum, v)
	})
	if got, want := views.MoneyRat(sum, "USD"), text(stats.Eq(0).Find(".stat-value")); got != want {
		t.Errorf("the list adds up to %s, the dashboard says %s", got, want)
	}
}

// The offering's money is kept briefly and shared: the page says as of
// when, a second view within the TTL reads nothing, a view after it reads
// again, and Refresh reads again at once (htmx: the fragment; without
// JavaScript: a redirect to the money page). Anyone signed in may refresh,
// with the CSRF token.
func TestOfferingMoneyAsOfAndRefresh(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.client(t)
	admin.login(adminEmail, adminPass)
	s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	aud := s.client(t)
	aud.login("auditor@example.com", testPass)

	asOf := func(r *response) string {
		t.Helper()
		wantStatus(t, r, http.StatusOK)
		tm := r.doc.Find(`[data-testid="as-of"] time`)
		if tm.Length() != 1 {
			t.Fatalf("no as-of time in %q", text(r.doc.Find("main")))
		}
		return tm.AttrOr("datetime", "")
	}
	at := func() string { return s.clock.Now().UTC().Format(time.RFC3339) }

	first := asOf(admin.get("/offerings/1/money", "HX-Request", "true"))
	if first != at() {
		t.Fatalf("as of %s, the clock says %s", first, at())
	}
	if got := text(admin.get("/offerings/1/money").doc.Find(`[data-testid="as-of"]`)); !strings.Contains(got, "Kept for 30 seconds") {
		t.Fatalf("as-of line %q", got)
	}
	s.clock.Add(20 * time.Second)
	if got := asOf(aud.get("/offerings/1/money", "HX-Request", "true")); got != first {
		t.Fatalf("within the TTL another user got money as of %s, want the kept %s", got, first)
	}
	s.clock.Add(15 * time.Second)
	expired := asOf(admin.get("/offerings/1/money", "HX-Request", "true"))
	if expired != at() || expired == first {
		t.Fatalf("after the TTL: as of %s, want %s", expired, at())
	}

	// Refresh (htmx): the fragment, read again.
	s.clock.Add(5 * time.Second)
	page := admin.get("/offerings/1/money")
	form := page.doc.Find(`form[data-testid="refresh-form"]`)
	if form.AttrOr("action", "") != "/offerings/1/refresh" || form.AttrOr("method", "") != "post" || form.Find(`input[name="_csrf"]`).Length() != 1 {
		t.Fatalf("refresh form %q", form.AttrOr("action", ""))
	}
	r := admin.post("/offerings/1/refresh", nil, "HX-Request", "true", "X-CSRF-Token", admin.csrf)
	if got := asOf(r); got != at() {
		t.Fatalf("refreshed: as of %s, want %s", got, at())
	}
	if r.doc.Find("html > head > title").Length() != 0 || r.doc.Find(`section#offering-money`).Length() != 1 {
		t.Fatal("the htmx refresh did not answer the money fragment")
	}
	// Pressed again at once (or by someone else): the answer just read.
	refreshed := at()
	s.clock.Add(time.Second)
	if got := asOf(aud.post("/offerings/1/refresh", nil, "HX-Request", "true", "X-CSRF-Token", aud.csrf)); got != refreshed {
		t.Fatalf("a second refresh a second later read again (as of %s)", got)
	}
	// Without JavaScript: a redirect to the money page, which is fresh.
	s.clock.Add(10 * time.Second)
	aud.get("/offerings/1/money")
	r = aud.post("/offerings/1/refresh?reason=KYC+failed", nil)
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/offerings/1/money?reason=KYC+failed" {
		t.Fatalf("redirect to %q", loc)
	}
	if got := asOf(aud.get(r.Header.Get("Location"))); got != at() {
		t.Fatalf("after the no-JS refresh: as of %s, want %s", got, at())
	}
	// Without the CSRF token: refused, nothing read.
	s.clock.Add(10 * time.Second)
	bad := aud.post("/offerings/1/refresh", url.Values{"_csrf": {"forged"}})
	if bad.StatusCode != http.StatusForbidden {
		t.Fatalf("refresh without a valid token: %d", bad.StatusCode)
	}
}

// The money page shows statuses as the console's badges, in words with
// the API's code as data-code, in the chart's table and in the funnel.
func TestOfferingStatusChartInWords(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/offerings/1/money")
	wantStatus(t, r, http.StatusOK)
	rows := r.doc.Find(`table[data-testid="chart-status-table"] tbody tr`)
	if rows.Length() != 11 {
		t.Fatalf("%d status rows", rows.Length())
	}
	rows.Each(func(_ int, row *goqSel) {
		b := row.Find(".badge")
		code := b.AttrOr("data-code", "")
		if b.Length() != 1 || code == "" {
			t.Fatalf("row %q has no status badge", text(row))
		}
		want := views.StatusBadge(views.InvestmentStatus, code)
		if text(b) != want.Label || !b.HasClass("badge-"+string(want.Meaning)) {
			t.Errorf("%s shown as %q (%s), want %q", code, text(b), b.AttrOr("class", ""), want.Label)
		}
		if href := row.Find("a").AttrOr("href", ""); !strings.Contains(href, "status="+code) {
			t.Errorf("%s links to %q", code, href)
		}
	})
	labels := text(r.doc.Find(`svg[data-testid="chart-status"]`))
	for _, raw := range []string{"Not Received", "Accepted Escrow Closed", "not_received"} {
		if strings.Contains(labels, raw) {
			t.Errorf("the chart still says %q: %s", raw, labels)
		}
	}
	if !strings.Contains(labels, "Payment not received") {
		t.Errorf("chart labels %q", labels)
	}
	if got, want := text(r.doc.Find(`tr[data-testid="funnel-row"]`).First().Find("td").First()),
		"Payment not received; Payment received; Approved; Accepted; Invested; Accepted, escrow closed"; got != want {
		t.Errorf("the committed step counts %q, want %q", got, want)
	}
}

// Personal data stays masked for auditors when the money an admin loaded
// is served from the shared cache.
func TestSharedMoneyMasksPersonalData(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	admin := s.client(t)
	admin.login(adminEmail, adminPass)
	s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	aud := s.client(t)
	aud.login("auditor@example.com", testPass)
	var href string
	for id := 1; id <= 12 && href == ""; id++ {
		r := admin.get("/offerings/" + strconv.Itoa(id) + "/money")
		r.doc.Find(`tr[data-testid="attention-row"]`).EachWithBreak(func(_ int, row *goqSel) bool {
			if name := text(row.Find("td").Eq(1)); name != views.Dash && name != "" {
				href = "/offerings/" + strconv.Itoa(id) + "/money"
				return false
			}
			return true
		})
	}
	if href == "" {
		t.Fatal("no attention row with an investor name")
	}
	r := aud.get(href)
	wantStatus(t, r, http.StatusOK)
	r.doc.Find(`tr[data-testid="attention-row"]`).Each(func(_ int, row *goqSel) {
		if name := text(row.Find("td").Eq(1)); name != "[personal data]" && name != views.Dash {
			t.Errorf("the auditor sees %q", name)
		}
	})
}
