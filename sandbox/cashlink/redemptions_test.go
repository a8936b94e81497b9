package cashlink

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

type redemptionOut struct {
	ID          string           `json:"id"`
	Status      string           `json:"status"`
	Units       int64            `json:"units"`
	Allocations []allocationJSON `json:"allocations"`
}

func TestRedemptions(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{CreditDelay: time.Second})
	iv := v.investor()
	wallet := iv.Wallets[0].ID
	holding := derivedID("holding:" + iv.Email)
	body := func(units any) map[string]any {
		return map[string]any{"investor_id": iv.ID, "product_id": v.product(), "wallet_id": wallet, "units": units}
	}
	redeem := func(t *testing.T, units any) (resp, redemptionOut) {
		t.Helper()
		r := v.post("/v2/redemptions/", "", body(units))
		var out redemptionOut
		if r.status == 201 {
			if err := json.Unmarshal(r.body, &out); err != nil {
				t.Fatal(err)
			}
		}
		return r, out
	}
	remaining := func(t *testing.T, id string) float64 {
		t.Helper()
		return v.get("/v2/investments/" + id + "/").obj(t)["remaining_units"].(float64)
	}
	inv := v.deliveredInvestment(300)["id"].(string) // the wallet now holds 1000 (seeded) + 300
	undelivered := v.createInvestment(50, map[string]any{"wallet": wallet})["id"].(string)
	if r := v.post("/v2/investments/"+undelivered+"/credits/", "", nil); r.status != 202 {
		t.Fatal(r)
	}

	t.Run("validation", func(t *testing.T) {
		unknown := "6f1d2a33-0000-4000-8000-000000000000"
		tests := []struct {
			name      string
			body      map[string]any
			fragments []string
		}{
			{"empty", map[string]any{}, []string{`"investor_id":["This field is required."]`, `"product_id":["This field is required."]`, `"wallet_id":["This field is required."]`, `"units":["This field is required."]`}},
			{"unknown ids", map[string]any{"investor_id": unknown, "product_id": unknown, "wallet_id": unknown, "units": 1},
				[]string{`"investor_id":["Invalid pk`, `"product_id":["Invalid pk`, `"wallet_id":["Invalid pk`}},
			{"someone else's wallet", map[string]any{"investor_id": iv.ID, "product_id": v.product(), "wallet_id": v.info.Investors[1].Wallets[0].ID, "units": 1},
				[]string{`"wallet_id":["The wallet does not belong to the investor."]`}},
			{"zero units", body(0), []string{`"units":["Ensure this value is greater than or equal to 1."]`}},
			{"insufficient balance (the undelivered credit does not count)", body(1301), []string{`"units":["Insufficient balance: the wallet holds 1300 units of this product."]`}},
			{"nothing held in the other product", map[string]any{"investor_id": iv.ID, "product_id": v.info.Products[1].ID, "wallet_id": wallet, "units": 1},
				[]string{"the wallet holds 0 units"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantErrBody(t, v.post("/v2/redemptions/", "", tt.body), 400, tt.fragments...)
			})
		}
	})
	t.Run("FIFO over the delivered investments, processing then success", func(t *testing.T) {
		r, out := redeem(t, 1100)
		wantErrBody(t, r, 201, `"status":"processing"`)
		want := []allocationJSON{{holding, 1000}, {inv, 100}}
		if fmt.Sprint(out.Allocations) != fmt.Sprint(want) {
			t.Fatalf("allocations %v, want %v", out.Allocations, want)
		}
		if got := remaining(t, holding); got != 0 {
			t.Errorf("holding remaining %v, want 0", got)
		}
		if got := remaining(t, inv); got != 200 {
			t.Errorf("investment remaining %v, want 200", got)
		}
		wantErrBody(t, v.get("/v2/investments/"+inv+"/"), 200, `"remaining_amount":{"amount":"2000000","decimals":2,"currency":"EUR"}`)
		v.clk.Advance(time.Second)
		wantErrBody(t, v.get("/v2/redemptions/"+out.ID+"/"), 200, `"status":"success"`, `"allocations":[{"investment_id":"`+holding+`","units":1000}`)
	})
	t.Run("the undelivered credit counts once delivered", func(t *testing.T) {
		// 200 left in inv, 50 in the now delivered investment.
		wantErrBody(t, v.post("/v2/redemptions/", "", body(251)), 400, "holds 250 units")
		_, out := redeem(t, 210)
		want := []allocationJSON{{inv, 200}, {undelivered, 10}}
		if fmt.Sprint(out.Allocations) != fmt.Sprint(want) {
			t.Fatalf("allocations %v, want %v", out.Allocations, want)
		}
		v.clk.Advance(time.Second)
	})
	t.Run("failed gives the units back once resolved", func(t *testing.T) {
		if err := v.e.SetRedemptionOutcome(OutcomeFailed); err != nil {
			t.Fatal(err)
		}
		_, out := redeem(t, 40)
		wantErrBody(t, v.post("/v2/redemptions/", "", body(1)), 400, "holds 0 units") // taken while processing
		v.clk.Advance(time.Second)
		wantErrBody(t, v.get("/v2/redemptions/"+out.ID+"/"), 200, `"status":"failed"`)
		if got := remaining(t, undelivered); got != 40 {
			t.Errorf("remaining after a failed redemption %v, want 40", got)
		}
	})
	t.Run("unknown keeps the units taken", func(t *testing.T) {
		if err := v.e.SetRedemptionOutcome(OutcomeUnknown); err != nil {
			t.Fatal(err)
		}
		_, out := redeem(t, 15)
		v.clk.Advance(time.Second)
		wantErrBody(t, v.get("/v2/redemptions/"+out.ID+"/"), 200, `"status":"unknown"`)
		if got := remaining(t, undelivered); got != 25 {
			t.Errorf("remaining after an unknown redemption %v, want 25", got)
		}
		if err := v.e.SetRedemptionOutcome("maybe"); err == nil {
			t.Fatal("outcome maybe: want an error")
		}
	})
	t.Run("list and get", func(t *testing.T) {
		r := v.get("/v2/redemptions/?investor_id=" + iv.ID)
		wantErrBody(t, r, 200, `"count":4`)
		wantErrBody(t, v.get("/v2/redemptions/6f1d2a33-0000-4000-8000-000000000000/"), 404, "Not found.")
		wantErrBody(t, v.get("/v2/redemptions/?page=2"), 404, "Invalid page.")
	})
	if c := v.counts(); c.Redemptions != 4 || c.PerInvestor[iv.ID].Redemptions != 4 {
		t.Fatalf("counts %+v", c)
	}
}
