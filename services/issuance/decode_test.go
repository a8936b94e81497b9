package issuance

import (
	"os"
	"testing"

	"issuerconsole/services/apiclient/decodecheck"
)

// FuzzDecodeMatchesEncodingJSON: the API client decodes answers with the
// encoding/json v2 prototype set to v1's semantics. Whatever an answer
// holds, read as any of the answers' types, the client
// reads what encoding/json read and refuses what it refused.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	f.Add([]byte(`{"count":1,"next":null,"previous":null,"results":[{"id":4749,"quantity":21777,"price":"25.000000","price_fees":"25.00","amount":"560238.63","status":"invested","offering":8,"reference_id":"INV-0004749","investor_individual_name":"Jos\u00e9 Okafor","updated_at":"2026-09-08T06:00:18.564112Z","has_investor_signed":true,"accredited_investor":true,"net_worth":null,"us_person":true,"processed_at":"2026-08-26T19:32:34.749237Z","bonus_shares":null,"shares_amount":"544425.00","invested_at":null}]}`))
	f.Add([]byte(`{"ID":1,"Count":2,"results":[{"Id":3,"ID":4,"quantity":1e0}]}`))
	f.Add([]byte("{\"results\":[{\"reference_id\":\"a\xffb\",\"reference_id\":\"c\"}]}"))
	f.Add([]byte(`{"results":[{"updated_at":"2026-09-08T06:00:18+01:00","processed_at":"not a time"}]}`))
	f.Add([]byte(`{"id":7,"issuer":2,"name":"Fund","start_date":"2026-01-02","end_date":null,"type":"reg_cf"}`))
	f.Add([]byte(`{"id":3,"type":"person","user":null,"entity":{"kyc_status":"passed"}}`))
	if b, err := os.ReadFile("testdata/investments-page.json"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		decodecheck.Same[rawPage[Investment]](t, b)
		decodecheck.Same[Offering](t, b)
		decodecheck.Same[Investor](t, b)
		decodecheck.Same[rawPage[User]](t, b)
		decodecheck.Same[Summary](t, b)
	})
}
