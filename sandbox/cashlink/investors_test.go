package cashlink

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func validInvestor() map[string]any {
	return map[string]any{
		"natural_person": map[string]any{
			"salutation": "MR", "forename": "Hans", "surname": "Meier", "birth_date": "1980-05-17", "birth_place": "Köln",
			"citizenship": "DEU", "street": "Hauptstr. 1", "city": "Köln", "zip": "50667", "country": "DEU",
			"phone": "+49 221 123456", "is_pep": false, "is_subject_to_us_tax": false,
		},
		"communication":   map[string]any{"email": "hans.meier@example.com", "email_confirmed": true},
		"bank_account":    map[string]any{"account_holder": "Hans Meier", "iban": "DE89 3704 0044 0532 0130 00", "bic": "COBADEFFXXX", "currency": "EUR"},
		"tax_information": map[string]any{"tax_identification_number": "12345678901", "non_assessment_certificate": false},
		"is_beneficiary":  true,
	}
}

// edit returns a copy of the valid investor body changed by f.
func editInvestor(f func(b, np map[string]any)) map[string]any {
	b := validInvestor()
	f(b, b["natural_person"].(map[string]any))
	return b
}

func TestCreateInvestorValidation(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	tests := []struct {
		name      string
		body      any
		status    int
		fragments []string
	}{
		{"valid", validInvestor(), 201, []string{`"kyc_status":"PENDING"`, `"iban":"DE89370400440532013000"`}},
		{"minimal", map[string]any{"natural_person": map[string]any{"forename": "A", "surname": "B", "is_subject_to_us_tax": false}, "is_beneficiary": true}, 201, []string{`"communication":null`}},
		{"empty body", map[string]any{}, 400, []string{`"natural_person":["This field is required."]`, `"is_beneficiary":["This field is required."]`}},
		{"natural_person not an object", editInvestor(func(b, _ map[string]any) { b["natural_person"] = "Hans" }), 400,
			[]string{`"natural_person":{"non_field_errors":["Invalid data. Expected a dictionary, but got str."]}`}},
		{"missing names", editInvestor(func(_, np map[string]any) { delete(np, "forename"); np["surname"] = " " }), 400,
			[]string{`"forename":["This field is required."]`, `"surname":["This field may not be blank."]`}},
		{"subject to US tax", editInvestor(func(_, np map[string]any) { np["is_subject_to_us_tax"] = true }), 400, []string{"subject to US tax"}},
		{"US tax flag missing", editInvestor(func(_, np map[string]any) { delete(np, "is_subject_to_us_tax") }), 400, []string{`"is_subject_to_us_tax":["This field is required."]`}},
		{"bad birth date", editInvestor(func(_, np map[string]any) { np["birth_date"] = "1980-02-30" }), 400, []string{msgDate}},
		{"bad citizenship", editInvestor(func(_, np map[string]any) { np["citizenship"] = "de" }), 400, []string{`"citizenship":["\"de\" is not a valid choice."]`}},
		{"bad salutation", editInvestor(func(_, np map[string]any) { np["salutation"] = "SIR" }), 400, []string{`"salutation"`}},
		{"bad email", editInvestor(func(b, _ map[string]any) { b["communication"] = map[string]any{"email": "hans"} }), 400, []string{"Enter a valid email address."}},
		{"bad IBAN checksum", editInvestor(func(b, _ map[string]any) {
			b["bank_account"] = map[string]any{"iban": "DE89370400440532013001", "bic": "COBADEFFXXX", "currency": "EUR"}
		}), 400, []string{`"iban":["Enter a valid IBAN."]`}},
		{"is_beneficiary not a bool", editInvestor(func(b, _ map[string]any) { b["is_beneficiary"] = "perhaps" }), 400, []string{msgBoolean}},
		{"legal person", editInvestor(func(b, _ map[string]any) { b["legal_person"] = map[string]any{} }), 400, []string{"Legal persons"}},
		{"a list", []any{1}, 400, []string{"Expected a dictionary, but got list."}},
		{"malformed JSON", []byte(`{"natural_person":`), 400, []string{"JSON parse error - "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r resp
			if b, ok := tt.body.([]byte); ok {
				r = v.do("POST", "/v2/investors/", v.tok, b, map[string]string{"Content-Type": "application/json"})
			} else {
				r = v.post("/v2/investors/", "", tt.body)
			}
			wantErrBody(t, r, tt.status, tt.fragments...)
			if r.status == 201 {
				id := r.obj(t)["id"].(string)
				got := v.get("/v2/investors/" + id + "/")
				if got.status != 200 || !bytes.Equal(got.body, r.body) {
					t.Fatalf("GET after create = %s, want the created body %s", got, r.body)
				}
				if strings.Contains(string(r.body), "is_beneficiary") {
					t.Error("is_beneficiary is write-only but was returned")
				}
			}
		})
	}
	t.Run("wrong content type", func(t *testing.T) {
		r := v.do("POST", "/v2/investors/", v.tok, []byte(`{"a":1}`), map[string]string{"Content-Type": "text/plain"})
		wantErrBody(t, r, 415, `Unsupported media type \"text/plain\" in request.`)
	})
	if c := v.counts(); c.Investors != 2 {
		t.Fatalf("investors created = %d, want 2 (only the valid bodies)", c.Investors)
	}
}

func TestInvestorKYCAndWallets(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	r := v.post("/v2/investors/", "", validInvestor())
	if r.status != 201 {
		t.Fatal(r)
	}
	id := r.obj(t)["id"].(string)
	generic := func(addr string) resp {
		return v.post("/v2/investors/"+id+"/wallets/eth-generic/", "", map[string]any{"address": addr, "receiving_enabled": true})
	}
	addr := "0x" + strings.Repeat("ab", 20)

	t.Run("no wallet before KYC", func(t *testing.T) {
		wantErrBody(t, generic(addr), 400, "no successful KYC")
		wantErrBody(t, v.post("/v2/investors/"+id+"/wallets/eth-managed/", "", nil), 400, "no successful KYC")
	})
	t.Run("identification validation", func(t *testing.T) {
		r := v.post("/v2/investors/"+id+"/identifications/", "", map[string]any{"document_type": "DRIVERS_LICENSE", "document_valid_to": "2000-01-01"})
		wantErrBody(t, r, 400, `"document_type":["\"DRIVERS_LICENSE\" is not a valid choice."]`, `"document_id":["This field is required."]`,
			"has expired", `"verified_at":["This field is required."]`)
		r = v.post("/v2/investors/"+id+"/identifications/", "", map[string]any{"document_type": "IDCARD", "document_id": "L01X00T47",
			"document_valid_to": "2031-01-01", "identity_provider": "POSTIDENT", "verified_at": "2026-03-01T10:00:00Z",
			"legitimation_protocol_id": "6f1d2a33-0000-4000-8000-000000000000"})
		wantErrBody(t, r, 400, `"legitimation_protocol_id":["Invalid pk`)
	})
	t.Run("identification completes KYC", func(t *testing.T) {
		doc := v.upload("", []byte("protocol"))
		r := v.post("/v2/investors/"+id+"/identifications/", "", map[string]any{"document_type": "IDCARD", "document_id": "L01X00T47",
			"document_issuer": "Stadt Köln", "document_valid_from": "2021-01-01", "document_valid_to": "2031-01-01",
			"identity_provider": "POSTIDENT", "legitimation_process_id": "p-1", "legitimation_protocol_id": doc,
			"verified_at": "2026-03-01T10:00:00+01:00"})
		wantErrBody(t, r, 201, `"verified_at":"2026-03-01T09:00:00Z"`)
		wantErrBody(t, v.get("/v2/investors/"+id+"/"), 200, `"kyc_status":"SUCCESS"`)
	})
	tests := []struct {
		name      string
		resp      func() resp
		status    int
		fragments []string
	}{
		{"generic wallet", func() resp { return generic(addr) }, 201, []string{`"type":"eth-generic"`, `"address":"` + addr + `"`, `"receiving_enabled":true`}},
		{"address taken (case-insensitive)", func() resp { return generic("0x" + strings.ToUpper(addr[2:])) }, 400, []string{"already exists"}},
		{"another investor's address", func() resp { return generic(v.investor().Wallets[0].Address) }, 400, []string{"already exists"}},
		{"bad address", func() resp { return generic("0x1234") }, 400, []string{"Ethereum address"}},
		{"address missing", func() resp { return v.post("/v2/investors/"+id+"/wallets/eth-generic/", "", map[string]any{}) }, 400, []string{msgRequired}},
		{"receiving disabled", func() resp {
			return v.post("/v2/investors/"+id+"/wallets/eth-generic/", "", map[string]any{"address": "0x" + strings.Repeat("cd", 20), "receiving_enabled": false})
		}, 201, []string{`"receiving_enabled":false`}},
		{"managed wallet", func() resp { return v.post("/v2/investors/"+id+"/wallets/eth-managed/", "", nil) }, 201, []string{`"type":"eth-managed"`}},
		{"a second managed wallet", func() resp { return v.post("/v2/investors/"+id+"/wallets/eth-managed/", "", nil) }, 400, []string{"at most one"}},
		{"unknown investor", func() resp {
			return v.post("/v2/investors/6f1d2a33-0000-4000-8000-000000000000/wallets/eth-managed/", "", nil)
		}, 404, []string{`{"detail":"Not found."}`}},
		{"not a uuid", func() resp { return v.get("/v2/investors/42/wallets/") }, 404, []string{"Not found."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantErrBody(t, tt.resp(), tt.status, tt.fragments...) })
	}
	t.Run("wallets list is a bare array, oldest first", func(t *testing.T) {
		r := v.get("/v2/investors/" + id + "/wallets/")
		wantErrBody(t, r, 200)
		if !bytes.HasPrefix(r.body, []byte("[")) {
			t.Fatalf("want a JSON array, got %s", r.body)
		}
		for i, typ := range []string{`"eth-generic"`, `"eth-generic"`, `"eth-managed"`} {
			parts := strings.Split(string(r.body), `"type":`)
			if len(parts) != 4 || !strings.HasPrefix(parts[i+1], typ) {
				t.Fatalf("wallet %d: want type %s in %s", i, typ, r.body)
			}
		}
	})
	t.Run("seeded investors are KYC-complete with a wallet", func(t *testing.T) {
		for _, iv := range v.info.Investors {
			if iv.KYCStatus != KYCSuccess || len(iv.Wallets) != 1 {
				t.Errorf("%s: kyc %s, %d wallets", iv.Email, iv.KYCStatus, len(iv.Wallets))
			}
		}
	})
	if c := v.counts(); c.Wallets != 3 || c.Identifications != 1 || c.PerInvestor[id].Wallets != 3 {
		t.Fatalf("counts = %+v", c)
	}
}

func TestIdentifyOnCreate(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{IdentifyOnCreate: true})
	r := v.post("/v2/investors/", "", validInvestor())
	wantErrBody(t, r, 201, `"kyc_status":"SUCCESS"`)
	s := v.e.Settings()
	s.IdentifyOnCreate = false
	if err := v.e.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	wantErrBody(t, v.post("/v2/investors/", "", validInvestor()), 201, `"kyc_status":"PENDING"`)
	if err := v.e.SetInvestorKYC(context.Background(), "6f1d2a33-0000-4000-8000-000000000000", KYCSuccess); err == nil {
		t.Fatal("SetInvestorKYC of an unknown investor: want an error")
	}
}
