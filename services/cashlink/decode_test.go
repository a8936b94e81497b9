package cashlink

import (
	"testing"

	"issuerconsole/services/apiclient/decodecheck"
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
	f.Fuzz(func(t *testing.T, b []byte) {
		decodecheck.Same[Investor](t, b)
		decodecheck.Same[Investment](t, b)
		decodecheck.Same[InvestmentPage](t, b)
		decodecheck.Same[Credit](t, b)
		decodecheck.Same[Redemption](t, b)
		decodecheck.Same[Wallet](t, b)
		decodecheck.Same[Identification](t, b)
		decodecheck.Same[Document](t, b)
	})
}
