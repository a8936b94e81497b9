package issuance

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"math/big"
	"net/url"
	"strconv"
)

// InvestmentSummary is GET /api/investments/summary/ with the list's
// filters (and "slug"), e.g. offering=8. It takes the Firebase ID token,
// a user's credential, so the API keys do not route it.
func (c *Client) InvestmentSummary(ctx context.Context, q url.Values) (Summary, error) {
	var s Summary
	err := c.get(ctx, "api/investments/summary/", RewriteBroken(InvestmentParams, q), &s)
	return s, err
}

// CommittedAmount is the summary's committed money as an exact decimal of
// cents (the API sends a JSON number), and false when the API withheld it
// (its "sanitized" answer to callers it does not trust).
func (s Summary) CommittedAmount() (*big.Rat, bool) {
	a := s.TotalAmountCommitted.Amount
	if a == nil || math.IsNaN(*a) || math.IsInf(*a, 0) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(strconv.FormatFloat(*a, 'f', 2, 64))
	return r, ok
}

// Investors is the summary's count of investors (investor_count, or count
// in older answers); -1 when absent.
func (s Summary) Investors() int64 {
	switch t := s.TotalAmountCommitted; {
	case t.InvestorCount != nil:
		return *t.InvestorCount
	case t.Count != nil:
		return *t.Count
	}
	return -1
}

// Visibility names what this client can see: a digest of its API keys and
// its Firebase credential, never the secrets themselves. Two clients with
// the same credentials see the same data, so caches of API answers key
// their entries with it.
func (c *Client) Visibility() string {
	h := sha256.New()
	for _, k := range c.ring.keys {
		h.Write([]byte("key\x00" + k + "\x00"))
	}
	h.Write([]byte("firebase\x00" + c.firebase + "\x00"))
	if c.tokens != nil { // the Firebase project's web API key; the refresh token may rotate
		h.Write([]byte("firebase-url\x00" + c.tokens.url.String() + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}
