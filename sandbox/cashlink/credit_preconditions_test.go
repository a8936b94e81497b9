package cashlink

import (
	"testing"
)

// TestCreditNeedsIdentificationAndWallet: the credit is refused for an
// investor without an identification or without a wallet (A.6, A.8), in
// words, and nothing is minted; once both exist the same investment is
// credited.
func TestCreditNeedsIdentificationAndWallet(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{}) // investors created through the API stay KYC pending
	r := v.post("/v2/investors/", "", validInvestor())
	wantErrBody(t, r, 201, `"kyc_status":"PENDING"`)
	id := r.obj(t)["id"].(string)
	b := v.investmentBody(5, v.upload("", []byte("%PDF-1.4 credit")))
	b["investor_id"] = id
	r = v.post("/v2/investments/", "", b)
	wantErrBody(t, r, 201)
	inv := r.obj(t)["id"].(string)
	credit := func() resp { return v.post("/v2/investments/"+inv+"/credits/", "", nil) }

	wantErrBody(t, credit(), 400, `"non_field_errors"`, "no successful identification (KYC PENDING)")
	ident := map[string]any{"document_type": "IDCARD", "document_id": "T22000129", "document_valid_to": "2031-01-01",
		"identity_provider": "POSTIDENT", "verified_at": "2026-03-01T10:00:00Z"}
	wantErrBody(t, v.post("/v2/investors/"+id+"/identifications/", "", ident), 201, `"investor_id":"`+id+`"`)
	wantErrBody(t, credit(), 400, "The investor has no wallet")
	if c := v.counts(); c.Credits != 0 || c.Identifications != 1 {
		t.Fatalf("counts after refused credits: %+v", c)
	}

	r = v.post("/v2/investors/"+id+"/wallets/eth-managed/", "", nil)
	wantErrBody(t, r, 201, `"type":"eth-managed"`)
	wallet := r.obj(t)["id"].(string)
	wantErrBody(t, v.do("PATCH", "/v2/investments/"+inv+"/", v.tok, map[string]any{"wallet": wallet}, nil), 200)
	wantErrBody(t, credit(), 202, `"status":`)
	if c := v.counts(); c.Credits != 1 {
		t.Fatalf("counts after the credit: %+v", c)
	}
}
