package cashlink

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// NewIdentification is the body of POST /v2/investors/{id}/identifications/
// (A.5, from the natural-person guide): the investor's identity document and
// the identification procedure that checked it.
type NewIdentification struct {
	DocumentType           string    `json:"document_type"` // IDCARD, PASSPORT
	DocumentID             string    `json:"document_id"`
	DocumentIssuer         string    `json:"document_issuer,omitempty"`
	DocumentValidFrom      string    `json:"document_valid_from,omitempty"` // YYYY-MM-DD
	DocumentValidTo        string    `json:"document_valid_to"`             // YYYY-MM-DD
	IdentityProvider       string    `json:"identity_provider"`             // e.g. POSTIDENT
	LegitimationProcessID  string    `json:"legitimation_process_id,omitempty"`
	LegitimationProtocolID string    `json:"legitimation_protocol_id,omitempty"` // a document id from /v2/documents/
	VerifiedAt             time.Time `json:"verified_at"`
}

// Identification is Cashlink's answer to an identification: its id (A.4).
type Identification struct {
	ID         string `json:"id"`
	InvestorID string `json:"investor_id,omitempty"`
}

// CreateIdentification is POST /v2/investors/{id}/identifications/.
func (c *Client) CreateIdentification(ctx context.Context, key Key, investorID string, in NewIdentification) (Identification, error) {
	if err := key.check("create identification"); err != nil {
		return Identification{}, err
	}
	var out Identification
	err := c.do(ctx, http.MethodPost, "v2/investors/"+url.PathEscape(investorID)+"/identifications/", key, in, &out)
	return out, err
}

// KYCStatus is the investor's identification status as Cashlink reports
// it ("kyc_status": SUCCESS, PENDING, INSUFFICIENT), or "" when the answer
// has no such field: the public documentation names none, so a live
// answer without it means "not said", never "not identified".
func (i Investor) KYCStatus() string {
	s, _ := i.Fields["kyc_status"].(string)
	return s
}
