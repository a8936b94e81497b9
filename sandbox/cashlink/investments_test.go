package cashlink

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCreateInvestmentValidation(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	doc := v.upload("", []byte("%PDF-1.4"))
	other := v.info.Investors[1]
	closed := v.info.Campaigns[1]  // inactive
	minCamp := v.info.Campaigns[2] // 20..2000 units
	unknown := "6f1d2a33-0000-4000-8000-000000000000"
	edit := func(f func(b map[string]any)) map[string]any {
		b := v.investmentBody(300, doc)
		f(b)
		return b
	}
	tests := []struct {
		name      string
		body      any
		status    int
		fragments []string
	}{
		{"the guide's body", v.investmentBody(300, doc), 201, []string{`"status":"PAID"`, `"units":300`, `"wallet":null`,
			`"signed_at":"2021-03-12T07:14:13.630308Z"`, `"investment_amount":{"amount":"3000000","decimals":2,"currency":"EUR"}`}},
		{"units as a string", edit(func(b map[string]any) { b["units"] = "25" }), 201, []string{`"units":25`}},
		{"units as an integral float", edit(func(b map[string]any) { b["units"] = 25.0 }), 201, []string{`"units":25`}},
		{"empty body", map[string]any{}, 400, []string{`"campaign_id":["This field is required."]`, `"investor_id":["This field is required."]`,
			`"units":["This field is required."]`, `"signed_at":["This field is required: web-based subscription is not enabled`, `"signed_documents":["This field is required."]`}},
		{"unknown campaign", edit(func(b map[string]any) { b["campaign_id"] = unknown }), 400, []string{`"campaign_id":["Invalid pk \"` + unknown + `\" - object does not exist."]`}},
		{"campaign not a uuid", edit(func(b map[string]any) { b["campaign_id"] = "abc" }), 400, []string{`Invalid pk \"abc\"`}},
		{"campaign a number", edit(func(b map[string]any) { b["campaign_id"] = 7 }), 400, []string{"Incorrect type. Expected pk value, received int."}},
		{"inactive campaign", edit(func(b map[string]any) { b["campaign_id"] = closed.ID }), 400, []string{"not active"}},
		{"unknown investor", edit(func(b map[string]any) { b["investor_id"] = unknown }), 400, []string{`"investor_id":["Invalid pk`}},
		{"zero units", edit(func(b map[string]any) { b["units"] = 0 }), 400, []string{`"units":["Ensure this value is greater than or equal to 1."]`}},
		{"fractional units", edit(func(b map[string]any) { b["units"] = 1.5 }), 400, []string{`"units":["A valid integer is required."]`}},
		{"units text", edit(func(b map[string]any) { b["units"] = "many" }), 400, []string{`"units":["A valid integer is required."]`}},
		{"units below the campaign minimum", edit(func(b map[string]any) { b["campaign_id"] = minCamp.ID; b["units"] = 19 }), 400,
			[]string{"greater than or equal to 20"}},
		{"units above the campaign maximum", edit(func(b map[string]any) { b["campaign_id"] = minCamp.ID; b["units"] = 2001 }), 400,
			[]string{"less than or equal to 2000"}},
		{"signed_at null", edit(func(b map[string]any) { b["signed_at"] = nil }), 400, []string{`"signed_at":["This field may not be null."]`}},
		{"signed_at not a date", edit(func(b map[string]any) { b["signed_at"] = "12.03.2021" }), 400, []string{`"signed_at":["Datetime has wrong format.`}},
		{"paid_at impossible date", edit(func(b map[string]any) { b["paid_at"] = "2021-02-30T10:00:00Z" }), 400, []string{`"paid_at":["Datetime has wrong format.`}},
		{"no accepted_at or paid_at", edit(func(b map[string]any) { delete(b, "accepted_at"); delete(b, "paid_at") }), 201, []string{`"status":"WAITING_FOR_ACCEPTANCE"`}},
		{"null accepted_at", edit(func(b map[string]any) { b["accepted_at"] = nil }), 201, []string{`"accepted_at":null`, `"status":"WAITING_FOR_ACCEPTANCE"`}},
		{"accepted, not paid", edit(func(b map[string]any) { delete(b, "paid_at") }), 201, []string{`"status":"ACCEPTED"`}},
		{"signed documents empty", edit(func(b map[string]any) { b["signed_documents"] = []any{} }), 400, []string{`"signed_documents":["This list may not be empty."]`}},
		{"signed documents not a list", edit(func(b map[string]any) { b["signed_documents"] = "doc" }), 400, []string{`Expected a list of items but got type \"str\".`}},
		{"signed document unknown and incomplete", edit(func(b map[string]any) {
			b["signed_documents"] = []any{map[string]any{"document_id": doc, "category": "c", "subject": "s"}, map[string]any{"document_id": unknown}, 5}
		}), 400, []string{`"signed_documents":[{},{"document_id":["Invalid pk`, `"category":["This field is required."]`, `{"non_field_errors":["Invalid data. Expected a dictionary, but got int."]}`}},
		{"wallet of another investor", edit(func(b map[string]any) { b["wallet"] = other.Wallets[0].ID }), 400, []string{`"wallet":["The wallet does not belong to the investor."]`}},
		{"unknown wallet", edit(func(b map[string]any) { b["wallet"] = unknown }), 400, []string{`"wallet":["Invalid pk`}},
		{"own wallet", edit(func(b map[string]any) { b["wallet"] = v.investor().Wallets[0].ID }), 201, []string{`"wallet":"` + v.investor().Wallets[0].ID + `"`}},
		{"unknown fields are ignored", edit(func(b map[string]any) { b["disagio_percent"] = "2" }), 201, nil},
		{"not an object", json.RawMessage(`"investment"`), 400, []string{`"non_field_errors":["Invalid data. Expected a dictionary, but got str."]`}},
	}
	created := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := v.post("/v2/investments/", "", tt.body)
			wantErrBody(t, r, tt.status, tt.fragments...)
			if r.status == 201 {
				created++
			}
		})
	}
	t.Run("malformed JSON", func(t *testing.T) {
		r := v.do("POST", "/v2/investments/", v.tok, []byte(`{"units": 3,}`), map[string]string{"Content-Type": "application/json"})
		wantErrBody(t, r, 400, `"detail":"JSON parse error - `)
	})
	t.Run("trailing data", func(t *testing.T) {
		r := v.do("POST", "/v2/investments/", v.tok, []byte(`{} {}`), map[string]string{"Content-Type": "application/json"})
		wantErrBody(t, r, 400, "JSON parse error")
	})
	t.Run("form body", func(t *testing.T) {
		r := v.do("POST", "/v2/investments/", v.tok, []byte(`units=3`), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		wantErrBody(t, r, 415, "Unsupported media type")
	})
	t.Run("a document of another client is unknown", func(t *testing.T) {
		if _, err := v.d.Exec(`UPDATE cl_documents SET client_id = 'someone-else' WHERE id = ?`, doc); err != nil {
			t.Fatal(err)
		}
		wantErrBody(t, v.post("/v2/investments/", "", v.investmentBody(300, doc)), 400, `"document_id":["Invalid pk`)
	})
	if c := v.counts(); c.Investments != created {
		t.Fatalf("investments = %d, want %d (only valid bodies create)", c.Investments, created)
	}
}

func TestInvestmentLifecycle(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{CreditDelay: 2 * time.Second})
	ctx := context.Background()
	wallet := v.investor().Wallets[0].ID
	// A KYC-pending investor of our own, with a wallet added after KYC.
	pending := v.post("/v2/investors/", "", validInvestor()).obj(t)["id"].(string)
	pendingBody := v.investmentBody(10, v.upload("", []byte("x")))
	pendingBody["investor_id"] = pending
	pendingInv := v.post("/v2/investments/", "", pendingBody).obj(t)

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"KYC pending investor → KYC_PENDING until KYC succeeds", func(t *testing.T) {
			id := pendingInv["id"].(string)
			if pendingInv["status"] != StatusKYCPending {
				t.Fatalf("status %v, want KYC_PENDING", pendingInv["status"])
			}
			if err := v.e.SetInvestorKYC(ctx, pending, KYCSuccess); err != nil {
				t.Fatal(err)
			}
			wantErrBody(t, v.get("/v2/investments/"+id+"/"), 200, `"status":"PAID"`)
			if err := v.e.SetInvestorKYC(ctx, pending, KYCInsufficient); err != nil {
				t.Fatal(err)
			}
			wantErrBody(t, v.get("/v2/investments/"+id+"/"), 200, `"status":"KYC_INSUFFICIENT"`)
		}},
		{"ACCEPTED → PAID by PATCH paid_at", func(t *testing.T) {
			inv := v.createInvestment(5, map[string]any{"paid_at": nil})
			id := inv["id"].(string)
			if inv["status"] != StatusAccepted {
				t.Fatalf("status %v", inv["status"])
			}
			r := v.do("PATCH", "/v2/investments/"+id+"/", v.tok, map[string]any{"paid_at": "2026-03-01T12:00:00+02:00"}, nil)
			wantErrBody(t, r, 200, `"status":"PAID"`, `"paid_at":"2026-03-01T10:00:00Z"`)
		}},
		{"WAITING_FOR_ACCEPTANCE → ACCEPTED by PATCH accepted_at", func(t *testing.T) {
			inv := v.createInvestment(5, map[string]any{"paid_at": nil, "accepted_at": nil})
			r := v.do("PATCH", "/v2/investments/"+inv["id"].(string)+"/", v.tok, map[string]any{"accepted_at": "2026-03-01T12:00:00Z"}, nil)
			wantErrBody(t, r, 200, `"status":"ACCEPTED"`)
		}},
		{"forced REJECTION is final", func(t *testing.T) {
			inv := v.createInvestment(5, nil)
			id := inv["id"].(string)
			if err := v.e.SetInvestmentStatus(ctx, id, StatusRejection); err != nil {
				t.Fatal(err)
			}
			wantErrBody(t, v.get("/v2/investments/"+id+"/"), 200, `"status":"REJECTION"`)
			wantErrBody(t, v.do("PATCH", "/v2/investments/"+id+"/", v.tok, map[string]any{"wallet": wallet}, nil), 400, "final status REJECTION")
			wantErrBody(t, v.post("/v2/investments/"+id+"/credits/", "", nil), 400, "this investment is REJECTION")
			if err := v.e.SetInvestmentStatus(ctx, id, ""); err != nil {
				t.Fatal(err)
			}
			wantErrBody(t, v.get("/v2/investments/"+id+"/"), 200, `"status":"PAID"`)
			if err := v.e.SetInvestmentStatus(ctx, id, StatusDelivered); err == nil {
				t.Fatal("forcing DELIVERED: want an error")
			}
		}},
		{"PATCH refuses other fields and bad wallets", func(t *testing.T) {
			id := v.createInvestment(5, nil)["id"].(string)
			p := func(body any) resp { return v.do("PATCH", "/v2/investments/"+id+"/", v.tok, body, nil) }
			wantErrBody(t, p(map[string]any{"units": 6}), 400, `"units":["This field cannot be changed`)
			wantErrBody(t, p(map[string]any{"wallet": v.info.Investors[1].Wallets[0].ID}), 400, "does not belong")
			wantErrBody(t, p(map[string]any{"wallet": nil}), 400, msgNull)
			wantErrBody(t, p(map[string]any{"paid_at": "yesterday"}), 400, "Datetime has wrong format")
			wantErrBody(t, p(map[string]any{"whatever": 1}), 200, `"wallet":null`)
			wantErrBody(t, v.do("PATCH", "/v2/investments/6f1d2a33-0000-4000-8000-000000000000/", v.tok, map[string]any{}, nil), 404, "Not found.")
		}},
		{"credit: wallet, PAID, 202, PAID while processing, DELIVERED after the delay, no second credit", func(t *testing.T) {
			id := v.createInvestment(40, nil)["id"].(string)
			credit := func() resp { return v.post("/v2/investments/"+id+"/credits/", "", nil) }
			wantErrBody(t, credit(), 400, "has no wallet")
			wantErrBody(t, v.do("PATCH", "/v2/investments/"+id+"/", v.tok, map[string]any{"wallet": wallet}, nil), 200, `"wallet":"`+wallet+`"`)
			r := credit()
			wantErrBody(t, r, 202, `"status":"processing"`, `"units":40`, `"delivered_at":null`)
			wantErrBody(t, v.get("/v2/investments/"+id+"/"), 200, `"status":"PAID"`, `"delivered_at":null`)
			wantErrBody(t, credit(), 400, "already being processed")
			wantErrBody(t, v.do("PATCH", "/v2/investments/"+id+"/", v.tok, map[string]any{"paid_at": "2026-01-01T00:00:00Z"}, nil), 400, "after the credit")
			v.clk.Advance(2*time.Second - time.Microsecond)
			wantErrBody(t, v.get("/v2/investments/"+id+"/"), 200, `"status":"PAID"`)
			v.clk.Advance(time.Microsecond)
			want := formatTime(v.clk.Now())
			wantErrBody(t, v.get("/v2/investments/"+id+"/"), 200, `"status":"DELIVERED"`, `"delivered_at":"`+want+`"`)
			wantErrBody(t, credit(), 400, "already been credited")
			if err := v.e.SetInvestmentStatus(ctx, id, StatusRejection); err == nil {
				t.Fatal("forcing a status after the credit: want an error")
			}
		}},
		{"credit needs accepted and paid", func(t *testing.T) {
			id := v.createInvestment(5, map[string]any{"paid_at": nil, "wallet": wallet})["id"].(string)
			wantErrBody(t, v.post("/v2/investments/"+id+"/credits/", "", nil), 400, "this investment is ACCEPTED")
		}},
		{"credit needs a receiving wallet", func(t *testing.T) {
			if err := v.e.SetInvestorKYC(ctx, pending, KYCSuccess); err != nil {
				t.Fatal(err)
			}
			w := v.post("/v2/investors/"+pending+"/wallets/eth-generic/", "", map[string]any{"address": "0x" + strings.Repeat("1f", 20), "receiving_enabled": false}).obj(t)["id"].(string)
			b := v.investmentBody(5, v.upload("", []byte("x")))
			b["investor_id"], b["wallet"] = pending, w
			id := v.post("/v2/investments/", "", b).obj(t)["id"].(string)
			wantErrBody(t, v.post("/v2/investments/"+id+"/credits/", "", nil), 400, "receiving_enabled is false")
		}},
		{"credit of an unknown investment", func(t *testing.T) {
			wantErrBody(t, v.post("/v2/investments/6f1d2a33-0000-4000-8000-000000000000/credits/", "", nil), 404, "Not found.")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.run)
	}
}

func TestZeroCreditDelaySetting(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	s := v.e.Settings()
	if time.Duration(s.CreditDelay) != time.Second {
		t.Fatalf("default credit delay %v, want 1s", time.Duration(s.CreditDelay))
	}
	s.CreditDelay = 0
	if err := v.e.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	id := v.createInvestment(5, map[string]any{"wallet": v.investor().Wallets[0].ID})["id"].(string)
	wantErrBody(t, v.post("/v2/investments/"+id+"/credits/", "", nil), 202, `"status":"success"`)
	wantErrBody(t, v.get("/v2/investments/"+id+"/"), 200, `"status":"DELIVERED"`)
}

func TestListInvestments(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	var ids []string
	for i := range 5 {
		ids = append(ids, v.createInvestment(i+1, nil)["id"].(string))
	}
	seeded := len(v.info.Investors) // one holding each, created first
	total := seeded + 5
	type page struct {
		Count    int               `json:"count"`
		Next     *string           `json:"next"`
		Previous *string           `json:"previous"`
		Results  []json.RawMessage `json:"results"`
	}
	read := func(t *testing.T, r resp) page {
		t.Helper()
		var p page
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	prefix := v.root + "/v2/investments/"
	tests := []struct {
		name      string
		query     string
		status    int
		count     int
		results   int
		next      string
		previous  string
		firstUnit string
	}{
		{"defaults", "", 200, total, total, "", "", ""},
		{"page size 2", "?page_size=2", 200, total, 2, prefix + "?page=2&page_size=2", "", ""},
		{"page 2 keeps other parameters sorted", "?zeta=1&page_size=2&page=2", 200, total, 2, prefix + "?page=3&page_size=2&zeta=1", prefix + "?page_size=2&zeta=1", ""},
		{"last", "?page_size=3&page=last", 200, total, total - 3*((total-1)/3), "", prefix + fmt.Sprintf("?page=%d&page_size=3", (total-1)/3), ""},
		{"page 0", "?page=0", 404, 0, 0, "", "", ""},
		{"page past the end", "?page=9", 404, 0, 0, "", "", ""},
		{"bad page size falls back", "?page_size=abc", 200, total, total, "", "", ""},
		{"filter by investor", "?investor_id=" + v.investor().ID, 200, 6, 6, "", "", ""},
		{"filter by campaign", "?campaign_id=" + v.info.Campaigns[2].ID, 200, 0, 0, "", "", ""},
		{"bad filter", "?product_id=nope", 400, 0, 0, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := v.get("/v2/investments/" + tt.query)
			if r.status != tt.status {
				t.Fatalf("status %s, want %d", r, tt.status)
			}
			if r.status == 404 {
				wantErrBody(t, r, 404, `{"detail":"Invalid page."}`)
				return
			}
			if r.status != 200 {
				wantErrBody(t, r, tt.status, msgUUID)
				return
			}
			p := read(t, r)
			if p.Count != tt.count || len(p.Results) != tt.results {
				t.Fatalf("count %d, %d results; want %d, %d", p.Count, len(p.Results), tt.count, tt.results)
			}
			str := func(s *string) string {
				if s == nil {
					return ""
				}
				return *s
			}
			if str(p.Next) != tt.next || str(p.Previous) != tt.previous {
				t.Fatalf("next %q previous %q; want %q %q", str(p.Next), str(p.Previous), tt.next, tt.previous)
			}
		})
	}
	t.Run("oldest first", func(t *testing.T) {
		p := read(t, v.get("/v2/investments/"))
		var got []string
		for _, raw := range p.Results[seeded:] {
			var x struct{ ID string }
			json.Unmarshal(raw, &x)
			got = append(got, x.ID)
		}
		if strings.Join(got, ",") != strings.Join(ids, ",") {
			t.Fatalf("order %v, want %v", got, ids)
		}
	})
}

func TestRouting(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	tests := []struct {
		name, method, path string
		status             int
		fragments          []string
	}{
		{"unknown path", "GET", "/v2/nothing/", 404, []string{`{"detail":"Not found."}`}},
		{"outside the API", "GET", v.srv.URL + "/sandbox/cashlink/admin/", 404, nil},
		{"wrong method", "DELETE", "/v2/investments/", 405, []string{`{"detail":"Method \"DELETE\" not allowed."}`}},
		{"PUT on a detail", "PUT", "/v2/investments/6f1d2a33-0000-4000-8000-000000000000/", 405, nil},
		{"unknown id", "GET", "/v2/investments/6f1d2a33-0000-4000-8000-000000000000/", 404, []string{`{"detail":"Not found."}`}},
		{"upper-case id is the same id", "GET", "/v2/investors/" + strings.ToUpper(v.investor().ID) + "/", 200, []string{v.investor().ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := v.do(tt.method, tt.path, v.tok, nil, nil)
			if r.status != tt.status {
				t.Fatalf("%s", r)
			}
			if tt.status == 405 && r.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			wantErrBody(t, r, tt.status, tt.fragments...)
		})
	}
	t.Run("GET without the slash redirects", func(t *testing.T) {
		r := v.do("GET", "/v2/investments?page=1", v.tok, nil, nil)
		if r.status != 301 || r.header.Get("Location") != "/sandbox/cashlink/api/external/v2/investments/?page=1" {
			t.Fatalf("%d Location %q", r.status, r.header.Get("Location"))
		}
	})
	t.Run("every answer has a request id", func(t *testing.T) {
		if r := v.get("/v2/investments/"); len(r.header.Get("X-Request-Id")) != 36 {
			t.Fatalf("X-Request-Id = %q", r.header.Get("X-Request-Id"))
		}
	})
}
