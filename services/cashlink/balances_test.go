package cashlink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"issuerconsole/db"
	"issuerconsole/services/audit"
)

func TestRemainingUnits(t *testing.T) {
	t.Parallel()
	eur := func(a string) *Money { return &Money{Amount: a, Decimals: 2, Currency: "EUR"} }
	for _, tc := range []struct {
		name      string
		inv       Investment
		want      int64
		wantKnown bool
	}{
		{"nothing redeemed", Investment{Units: 300, InvestmentAmount: eur("3000000"), RemainingAmount: eur("3000000")}, 300, true},
		{"part redeemed", Investment{Units: 300, InvestmentAmount: eur("3000000"), RemainingAmount: eur("2000000")}, 200, true},
		{"all redeemed", Investment{Units: 300, InvestmentAmount: eur("3000000"), RemainingAmount: eur("0")}, 0, true},
		{"a fraction of a unit left rounds down", Investment{Units: 3, InvestmentAmount: eur("1000"), RemainingAmount: eur("500")}, 1, true},
		{"no remaining amount", Investment{Units: 300, InvestmentAmount: eur("3000000")}, 0, false},
		{"other currency", Investment{Units: 300, InvestmentAmount: eur("3000000"), RemainingAmount: &Money{Amount: "3000000", Decimals: 2, Currency: "USD"}}, 0, false},
		{"other decimals", Investment{Units: 300, InvestmentAmount: eur("3000000"), RemainingAmount: &Money{Amount: "30000000", Decimals: 3, Currency: "EUR"}}, 0, false},
		{"free investment", Investment{Units: 300, InvestmentAmount: eur("0"), RemainingAmount: eur("0")}, 0, false},
		{"more left than invested", Investment{Units: 300, InvestmentAmount: eur("100"), RemainingAmount: eur("200")}, 0, false},
		{"not a number", Investment{Units: 300, InvestmentAmount: eur("1e5"), RemainingAmount: eur("100")}, 0, false},
	} {
		got, ok := RemainingUnits(tc.inv)
		if got != tc.want || ok != tc.wantKnown {
			t.Errorf("%s: %d %v, want %d %v", tc.name, got, ok, tc.want, tc.wantKnown)
		}
	}
}

// listServer answers GET /v2/investments/ with the given pages (JSON
// arrays of investments), linking each to the next, and records the
// queries it was asked.
func listServer(t *testing.T, pages ...string) (*Client, *[]string) {
	t.Helper()
	var queries []string
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/external/oauth/token", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"access_token":"tok","expires_in":600,"token_type":"Bearer"}`)
	})
	var srv *httptest.Server
	mux.HandleFunc("GET /api/external/v2/investments/", func(w http.ResponseWriter, r *http.Request) {
		queries = append(queries, r.URL.RawQuery)
		page := 1
		fmt.Sscan(r.URL.Query().Get("page"), &page)
		next := "null"
		if page < len(pages) {
			next = fmt.Sprintf("%q", fmt.Sprintf("%s/api/external/v2/investments/?page=%d", srv.URL, page+1))
		}
		fmt.Fprintf(w, `{"count":0,"next":%s,"previous":null,"results":%s}`, next, pages[page-1])
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c, err := New(Options{BaseURL: srv.URL + "/api/external", ClientID: "cid", ClientSecret: "secret", AllowHTTP: true, Audit: audit.NewStore(d, nil),
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return c, &queries
}

func inv(id, investor, status, wallet, campaign string, units, invested, left int) string {
	w := "null"
	if wallet != "" {
		w = fmt.Sprintf("%q", wallet)
	}
	return fmt.Sprintf(`{"id":%q,"investor_id":%q,"status":%q,"wallet":%s,"campaign_id":%q,"units":%d,
		"investment_amount":{"amount":"%d","decimals":2,"currency":"EUR"},"remaining_amount":{"amount":"%d","decimals":2,"currency":"EUR"}}`,
		id, investor, status, w, campaign, units, invested, left)
}

// Holdings sums the remaining parts of the investor's delivered
// investments per wallet and campaign, across pages; investments not
// delivered, or of another investor (a list that ignored the filter), do
// not count; one it cannot work out makes the whole answer unknown.
func TestHoldings(t *testing.T) {
	t.Parallel()
	c, queries := listServer(t,
		"["+strings.Join([]string{
			inv("i1", "me", StatusDelivered, "w1", "c1", 100, 10000, 10000),
			inv("i2", "me", StatusPaid, "w1", "c1", 50, 5000, 5000), // credit still processing
			inv("i3", "other", StatusDelivered, "w1", "c1", 70, 7000, 7000),
		}, ",")+"]",
		"["+strings.Join([]string{
			inv("i4", "me", StatusDelivered, "w1", "c1", 40, 4000, 1000), // 30 redeemed
			inv("i5", "me", StatusDelivered, "w2", "c2", 5, 500, 500),
		}, ",")+"]")
	got, err := c.Holdings(context.Background(), "me")
	if err != nil {
		t.Fatal(err)
	}
	want := []Holding{{WalletID: "w1", CampaignID: "c1", Units: 110, Investments: 2}, {WalletID: "w2", CampaignID: "c2", Units: 5, Investments: 1}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("holdings %+v, want %+v", got, want)
	}
	if len(*queries) != 2 || !strings.Contains((*queries)[0], "investor_id=me") || !strings.Contains((*queries)[1], "page=2") {
		t.Fatalf("queries %v", *queries)
	}

	c, _ = listServer(t, "["+inv("i1", "me", StatusDelivered, "", "c1", 100, 10000, 10000)+"]")
	if _, err := c.Holdings(context.Background(), "me"); !errors.Is(err, ErrHoldingsIncomplete) {
		t.Fatalf("a delivered investment without a wallet: %v", err)
	}
	c, _ = listServer(t, `[{"id":"i1","investor_id":"me","status":"DELIVERED","wallet":"w1","campaign_id":"c1","units":100}]`)
	if _, err := c.Holdings(context.Background(), "me"); !errors.Is(err, ErrHoldingsIncomplete) {
		t.Fatalf("a delivered investment without amounts: %v", err)
	}
}
