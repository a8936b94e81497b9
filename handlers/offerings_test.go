package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"issuerconsole/services/issuance"
)

func TestOfferingsList(t *testing.T) {
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
	if got := text(r.doc.Find(`[data-testid="result-count"]`)); got != itoa(all.Count) {
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
				if text(sel) != "Opened" {
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
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()

	o, err := s.app.Issuance.GetOffering(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	r := c.get("/offerings/1")
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="offering-title"]`)); got != o.Name {
		t.Fatalf("title %q, want %q", got, o.Name)
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
	if r.doc.Find(`[data-testid="attention-row"]`).Length()+r.doc.Find(`[data-testid="attention-empty"]`).Length() == 0 {
		t.Fatal("no attention section")
	}
	// Hostile names are shown as text, never as markup.
	if strings.Contains(r.body, "<script>") {
		t.Fatal("unescaped <script> in the page")
	}
	wantStatus(t, c.get("/offerings/99999"), http.StatusNotFound)
}

func itoa(n int) string { return strconvItoa(n) }
