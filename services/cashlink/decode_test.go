package cashlink

import (
	"encoding/json"
	"reflect"
	"testing"

	"issuerconsole/services/apiclient"
)

// FuzzDecodeMatchesEncodingJSON: whatever a Cashlink answer holds, the API
// client (the encoding/json v2 prototype set to v1's semantics) reads it
// into each answer type as encoding/json did, and refuses what it refused.
// Investor, Investment, Credit and Redemption keep every field through
// their own UnmarshalJSON.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	f.Add([]byte(`{"id":"9b2c","natural_person":{"forename":"Ana","surname":"Lopez"},"communication":{"email":"a@example.com"},"extra":[1,2]}`))
	f.Add([]byte(`{"id":"inv-1","status":"delivered","units":300,"remaining_amount":"300","wallet":"w-1","product":"p-1","extra":{"a":null}}`))
	f.Add([]byte(`{"count":2,"next":null,"results":[{"id":"inv-1","units":1},{"ID":"inv-2","Units":2}]}`))
	f.Add([]byte(`{"id":"r-1","units":5,"status":"processing","Status":"done"}`))
	f.Add([]byte(`{"id":"w-1","address":"0xabc","type":"managed"}`))
	check := func(t *testing.T, b []byte, v1, v2 any) {
		e1 := json.Unmarshal(b, v1)
		e2 := apiclient.Decode(b, v2)
		switch {
		case e2 == nil && e1 != nil:
			t.Fatalf("the client reads %q, encoding/json refused it: %v", b, e1)
		case e1 == nil && e2 != nil:
			t.Fatalf("encoding/json read %q, the client refuses it: %v", b, e2)
		case e1 == nil && e2 == nil && !reflect.DeepEqual(v1, v2):
			t.Fatalf("%q read differently:\nencoding/json %+v\nclient        %+v", b, v1, v2)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check(t, b, new(Investor), new(Investor))
		check(t, b, new(Investment), new(Investment))
		check(t, b, new(InvestmentPage), new(InvestmentPage))
		check(t, b, new(Credit), new(Credit))
		check(t, b, new(Redemption), new(Redemption))
		check(t, b, new(Wallet), new(Wallet))
		check(t, b, new(Identification), new(Identification))
		check(t, b, new(Document), new(Document))
	})
}
