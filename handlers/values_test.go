package handlers_test

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"issuerconsole/services/issuance"
	"issuerconsole/views"
)

var (
	moneyShown = regexp.MustCompile(`^-?\$\d{1,3}(,\d{3})*\.\d{2,6}$`)
	countShown = regexp.MustCompile(`^\d{1,3}(,\d{3})*$`)
	badPlural  = regexp.MustCompile(`\b1 (days|hours|minutes|months|years)\b|\b([02-9]|\d\d+) (day|hour|minute|month|year)\b`)
)

// The investment search shows money with its currency and separators,
// statuses as words in badges coloured by meaning, and offerings by name.
func TestSearchShowsValuesForPeople(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	offs, err := s.app.Issuance.ListOfferings(context.Background(), issuance.OfferingFilter{}, issuance.PageOpts{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, o := range offs.Results {
		names[strconv.FormatInt(o.ID, 10)] = o.Name
	}
	r := c.get("/investments?page_size=25&ordering=-amount")
	wantStatus(t, r, http.StatusOK)
	rows := r.doc.Find(`tr[data-testid="investment-row"]`)
	if rows.Length() != 25 {
		t.Fatalf("%d rows", rows.Length())
	}
	col := map[string]int{}
	r.doc.Find(`table[data-testid="investments-table"] thead th`).Each(func(i int, th *goqSel) { col[text(th)] = i })
	rows.Each(func(_ int, row *goqSel) {
		td := row.Find("td")
		if amount := text(td.Eq(col["Amount ▼"])); !moneyShown.MatchString(amount) {
			t.Errorf("amount shown as %q", amount)
		}
		if q := text(td.Eq(col["Quantity"])); !countShown.MatchString(q) {
			t.Errorf("quantity shown as %q", q)
		}
		badge := td.Eq(col["Status"]).Find(".badge")
		code := badge.AttrOr("data-code", "")
		if want := views.StatusLabel(views.InvestmentStatus, code); text(badge) != want || strings.Contains(text(badge), "_") {
			t.Errorf("status %q shown as %q", code, text(badge))
		}
		if !regexp.MustCompile(`badge-(ok|warn|bad|neutral)`).MatchString(badge.AttrOr("class", "")) {
			t.Errorf("badge without a meaning: %q", badge.AttrOr("class", ""))
		}
		off := td.Eq(col["Offering"])
		id := strings.TrimPrefix(text(off.Find(".id")), "#")
		if got := text(off.Find("a")); got != names[id] || got == "" {
			t.Errorf("offering %s shown as %q, want its name %q", id, got, names[id])
		}
	})
	// The investment's own page: the offering by name, the status in words.
	id := rows.First().AttrOr("data-id", "")
	r = c.get("/investments/" + id)
	wantStatus(t, r, http.StatusOK)
	if name := text(r.doc.Find(`[data-testid="offering-link"]`)); name == "" || strings.HasPrefix(name, "#") {
		t.Errorf("investment page names the offering %q", name)
	}
	if r.doc.Find(`.summary-line .badge`).Length() != 1 {
		t.Error("investment page has no status badge")
	}
}

// The offering pages: counts with separators, money with a currency,
// contacts without stray punctuation, correct plurals, bars capped at
// 100 % with the figure written as it is.
func TestOfferingPagesShowValuesForPeople(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/offerings?page_size=100")
	wantStatus(t, r, http.StatusOK)
	r.doc.Find(`tr[data-testid="offering-row"]`).Each(func(_ int, row *goqSel) {
		if b := row.Find(`[data-testid="offering-status"] .badge`); b.Length() != 1 || strings.Contains(text(b), "_") {
			t.Errorf("offering status shown as %q", text(row.Find(`[data-testid="offering-status"]`)))
		}
	})
	ids := r.doc.Find(`a[data-testid="offering-name"]`).Map(func(_ int, a *goqSel) string { return a.AttrOr("href", "") })
	if len(ids) > 6 {
		ids = ids[:6]
	}
	for _, href := range ids {
		r := c.get(href + "/money") // the whole page with its money, as without JavaScript
		wantStatus(t, r, http.StatusOK)
		page := text(r.doc.Find("main"))
		if m := badPlural.FindString(page); m != "" {
			t.Errorf("%s: wrong plural %q", href, m)
		}
		r.doc.Find(`[data-testid="terms"] dt`).Each(func(_ int, dt *goqSel) {
			v := text(dt.Next())
			switch text(dt) {
			case "Number of shares":
				if v != "not set" && !countShown.MatchString(v) {
					t.Errorf("%s: number of shares %q", href, v)
				}
			case "Unit price", "Minimum investment":
				if !moneyShown.MatchString(v) {
					t.Errorf("%s: %s %q", href, text(dt), v)
				}
			}
		})
		r.doc.Find(`[data-testid="contacts"] dd`).Each(func(_ int, dd *goqSel) {
			v := text(dd)
			if strings.HasPrefix(v, ",") || strings.Contains(v, " ,") || strings.HasSuffix(v, ",") || v == "" {
				t.Errorf("%s: contact shown as %q", href, v)
			}
		})
		r.doc.Find(`[data-testid="meter"]`).Each(func(_ int, m *goqSel) {
			w, _ := strconv.ParseFloat(m.Find("rect.meter-fill").AttrOr("width", ""), 64)
			figure := strings.TrimSuffix(strings.ReplaceAll(text(m.Find(".meter-text")), ",", ""), " (over)")
			if w < 0 || w > 100 {
				t.Errorf("%s: bar width %v", href, w)
			}
			if p, _ := strconv.ParseFloat(strings.TrimSpace(figure[strings.LastIndex(figure, ":")+1:strings.LastIndex(figure, "%")]), 64); p > 100 && !strings.Contains(text(m), "(over)") {
				t.Errorf("%s: %q past 100 %% not said", href, text(m))
			}
		})
	}
}

// Blank contact names are left out; the Investors list has names.
func TestInvestorNamesAndFavicon(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/investors?page_size=25")
	wantStatus(t, r, http.StatusOK)
	named := 0
	r.doc.Find(`[data-testid="investor-name"]`).Each(func(_ int, td *goqSel) {
		if v := text(td); v != "" && v != views.Dash {
			named++
		}
	})
	if named == 0 {
		t.Fatal("the Name column is empty on every row")
	}
	fav := c.get("/favicon.ico")
	wantStatus(t, fav, http.StatusOK)
	if ct := fav.Header.Get("Content-Type"); ct != "image/x-icon" && ct != "image/vnd.microsoft.icon" {
		t.Errorf("favicon content type %q", ct)
	}
}
