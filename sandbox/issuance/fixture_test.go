package issuance

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestReadFixtureErrors: a fixture that breaks the format's rules is
// rejected with a message naming the record.
func TestReadFixtureErrors(t *testing.T) {
	t.Parallel()
	base, err := os.ReadFile(probeFixture)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadFixture(bytes.NewReader(base))
	if err != nil {
		t.Fatalf("probe fixture: %v", err)
	}
	mutate := func(edit func(f *Fixture)) string {
		c := *f
		c.Issuers = append([]Issuer{}, f.Issuers...)
		c.Offerings = append([]Offering{}, f.Offerings...)
		c.Users = append([]User{}, f.Users...)
		c.Investors = append([]Investor{}, f.Investors...)
		c.Investments = append([]Investment{}, f.Investments...)
		edit(&c)
		var b bytes.Buffer
		if err := c.Write(&b); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	tests := []struct {
		name, input, want string
	}{
		{"unknown offering", mutate(func(f *Fixture) { f.Investments[16%7].Offering = 99 }), "investments[2] (id 3): offering 99 does not exist"},
		{"unknown investor", mutate(func(f *Fixture) { f.Investments[0].Investor = 42 }), "investments[0] (id 1): investor 42 does not exist"},
		{"unknown issuer", mutate(func(f *Fixture) { f.Offerings[1].Issuer = 7 }), "offerings[1] (id 2): issuer 7 does not exist"},
		{"unknown user", mutate(func(f *Fixture) { u := 9; f.Investors[2].User = &u }), "investors[2] (id 3): user 9 does not exist"},
		{"duplicate id", mutate(func(f *Fixture) { f.Users[1].ID = 1 }), "users[1] (id 1): duplicate user id 1"},
		{"entity conflict", mutate(func(f *Fixture) { f.Investors[1].Entity = &Entity{ID: 1, Email: "x@y.z", KYCStatus: "failed"} }),
			"investors[1] (id 2): entity 1 differs"},
		{"enum", strings.Replace(string(base), `"status": "started"`, `"status": "begun"`, 1), `investments[2] (id 3): field "status": "begun" is not one of started, not_received`},
		{"decimal pattern", strings.Replace(string(base), `"price": "100.000000"`, `"price": "100.0000001"`, 1), `investments[0] (id 1): field "price": "100.0000001" does not match`},
		{"decimal as a number", strings.Replace(string(base), `"amount": "100.50"`, `"amount": 100.5`, 1), `investments[0] (id 1): field "amount": must be a string`},
		{"date-time without offset", strings.Replace(string(base), `"created_at": "2024-01-01T23:30:00+00:00"`, `"created_at": "2024-01-01T23:30:00"`, 1), `investments[0] (id 1): field "created_at": "2024-01-01T23:30:00" is not an RFC 3339 date-time with offset`},
		{"null where not nullable", strings.Replace(string(base), `"reference_id": "REF-001"`, `"reference_id": null`, 1), `investments[0] (id 1): field "reference_id": must not be null`},
		{"missing field", strings.Replace(string(base), `"reference_id": "REF-001",`, ``, 1), `investments[0] (id 1): field "reference_id" is required`},
		{"unknown field", strings.Replace(string(base), `"reference_id": "REF-001",`, `"reference": "REF-001",`, 1), `investments[0] (id 1): unknown field "reference"`},
		{"computed field is not data", strings.Replace(string(base), `"reference_id": "REF-001",`, `"reference_id": "REF-001", "investor_individual_name": "x",`, 1), `unknown field "investor_individual_name"`},
		{"slug", strings.Replace(string(base), `"slug": "acme-fund"`, `"slug": "acme fund"`, 1), `offerings[0] (id 1): field "slug": "acme fund" does not match`},
		{"NUL", strings.Replace(string(base), `"name": "Acme Fund"`, `"name": "Acme\u0000Fund"`, 1), `offerings[0] (id 1): field "name": contains a NUL character`},
		{"id zero", strings.Replace(string(base), `"id": 1,
   "email"`, `"id": 0,
   "email"`, 1), `users[0] (id 0): field "id": id 0 is not positive`},
		{"top-level key", `{"investments": [], "extra": []}`, `unknown top-level key "extra"`},
		{"not an object", `[]`, "not a JSON object"},
		{"truncated", string(base[:len(base)/2]), "investments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadFixture(strings.NewReader(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v\nwant %q", err, tt.want)
			}
		})
	}

	// Relations the API documents nowhere: real data can break them, so
	// the fixture loads and the record is reported.
	warnings := []struct {
		name, input, want string
	}{
		{"amount", mutate(func(f *Fixture) { f.Investments[3].Amount = "400.51" }),
			"investments[3] (id 4): amount 400.51 is not quantity × price + price_fees + price_payment_processing_fees = 400.50"},
		{"shares", mutate(func(f *Fixture) { f.Investments[1].SharesAmount = "1.00" }), "investments[1] (id 2): shares_amount 1.00 is not quantity × price"},
		{"negative fee", mutate(func(f *Fixture) { f.Investments[0].PriceFees = "-1.00" }), "investments[0] (id 1): price and fees must not be negative"},
		{"timeline", mutate(func(f *Fixture) { f.Investments[4].UpdatedAt = "2020-01-01T00:00:00+00:00" }), "investments[4] (id 5): updated_at 2020-01-01T00:00:00+00:00 is before created_at"},
		{"before its offering", mutate(func(f *Fixture) {
			f.Investments[0].CreatedAt = "2023-01-01T00:00:00+00:00"
			f.Investments[0].UpdatedAt = f.Investments[0].CreatedAt
			f.Investments[0].ProcessedAt = nil
		}), "investments[0] (id 1): created_at 2023-01-01T00:00:00+00:00 is before the created_at of offering 1"},
	}
	for _, tt := range warnings {
		t.Run("warning "+tt.name, func(t *testing.T) {
			got, err := ReadFixture(strings.NewReader(tt.input))
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], tt.want) {
				t.Fatalf("warnings %q\nwant %q", got.Warnings, tt.want)
			}
		})
	}
	if len(f.Warnings) != 0 {
		t.Fatalf("the probe fixture has warnings: %q", f.Warnings)
	}
}

func TestReadFixtureNormalises(t *testing.T) {
	t.Parallel()
	in := `{"issuers":[{"id":1,"name":"I"}],
"offerings":[{"id":1,"issuer":1,"name":"O","slug":"o","type":"reg_a","status":"opened","unit_price":"2.5","created_at":"2024-01-01T10:00:00+02:00","reg_cf_fee_percentage":"1.5"}],
"users":[{"id":1,"email":"a@b.co"}],
"investors":[{"id":1,"type":"person","user":1,"entity":null}],
"investments":[{"id":1,"offering":1,"investor":1,"reference_id":"R","status":"started","quantity":3,"price":"2.5",
"price_fees":"0","price_payment_processing_fees":".5","amount":"8","shares_amount":"7.5","payment_method":"card",
"requested_payment_method":"card","processing_issue_statuses":"","has_investor_signed":false,
"created_at":"2024-01-02T00:00:00.5Z","updated_at":"2024-01-02T00:00:00.5Z","net_worth":"10"}]}`
	f, err := ReadFixture(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"unit_price":"2.500000"`, `"created_at":"2024-01-01T08:00:00+00:00"`, `"min_investment_amount":"0.00"`,
		`"reg_cf_fee_percentage":"1.5000"`, `"price_payment_processing_fees":"0.50"`, `"amount":"8.00"`,
		`"created_at":"2024-01-02T00:00:00.500000+00:00"`, `"net_worth":"10.00"`, `"is_approved":null`, `"first_name":""`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("written fixture lacks %s\n%s", want, b.String())
		}
	}
}
