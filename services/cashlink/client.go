// Package cashlink is the typed client of Cashlink's Registry-as-a-Service
// API (the import guide, seed 000, plus investor creation): OAuth client
// credentials, documents, investors, wallets, investments, credits and
// redemptions. Every creating method takes an idempotency key and refuses
// to call without one; retries resend the same key and the same bytes.
package cashlink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
)

// Key is an X-Idempotency-Key. Derive it from your own object (job, row,
// step), store it before the call, and reuse it for every retry.
type Key string

func (k Key) check(op string) error {
	s := string(k)
	if strings.TrimSpace(s) == "" {
		return &apiclient.KeyError{Op: op}
	}
	if len(s) > 255 || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Errorf("%s: idempotency key %q must be at most 255 printable characters without spaces", op, s)
	}
	return nil
}

// Options configure a Client.
type Options struct {
	BaseURL      string // API root, e.g. https://demo.cashlink.de/api/external
	TokenURL     string // "" = BaseURL + "/oauth/token"
	ClientID     string
	ClientSecret string
	Scopes       []string // nil = DefaultScopes
	AllowHTTP    bool     // the embedded sandbox only
	Audit        *audit.Store
	Transport    http.RoundTripper
	Timeout      time.Duration
	Retry        apiclient.RetryPolicy
	Sleep        func(context.Context, time.Duration) error
	// OnThrottle is told of 429s, and 503s with Retry-After (apiclient.Config).
	OnThrottle func(retryAfter time.Duration)
	Now        func() time.Time
}

// Client calls the Cashlink API.
type Client struct {
	api    *apiclient.Client
	Tokens *TokenSource
}

// DefaultRetry retries network errors, 409, 429 and 502-504 up to five
// attempts, with backoff from 250 ms to 15 s.
var DefaultRetry = apiclient.RetryPolicy{MaxAttempts: 5, BaseDelay: 250 * time.Millisecond, MaxDelay: 15 * time.Second, RetryConflict: true}

// New returns a client. Live base URLs must be HTTPS.
func New(o Options) (*Client, error) {
	if o.Retry.MaxAttempts == 0 {
		o.Retry = DefaultRetry
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Scopes == nil {
		o.Scopes = DefaultScopes
	}
	if o.ClientID == "" || o.ClientSecret == "" {
		return nil, fmt.Errorf("cashlink client: client id and secret are required")
	}
	tokenURL := o.TokenURL
	if tokenURL == "" {
		tokenURL = strings.TrimSuffix(o.BaseURL, "/") + "/oauth/token"
	}
	tu, err := url.Parse(tokenURL)
	if err != nil {
		return nil, fmt.Errorf("cashlink client: token URL: %w", err)
	}
	tokenAPI, err := apiclient.New(apiclient.Config{
		API: "cashlink", BaseURL: tokenURL, AllowHTTP: o.AllowHTTP, Audit: o.Audit, Policy: audit.WritesInFull,
		Transport: o.Transport, Timeout: o.Timeout, Retry: o.Retry, Sleep: o.Sleep,
	})
	if err != nil {
		return nil, err
	}
	ts := &TokenSource{client: tokenAPI, tokenURL: tu, clientID: o.ClientID, clientSecret: o.ClientSecret, scopes: o.Scopes, now: o.Now}
	c := &Client{Tokens: ts}
	c.api, err = apiclient.New(apiclient.Config{
		API: "cashlink", BaseURL: o.BaseURL, AllowHTTP: o.AllowHTTP, LinkMarker: "v2/",
		Audit: o.Audit, Policy: audit.WritesInFull, Transport: o.Transport, Timeout: o.Timeout,
		Retry: o.Retry, Sleep: o.Sleep, OnThrottle: o.OnThrottle,
		Authorize: func(ctx context.Context, req *http.Request) error {
			tok, err := ts.Token(ctx)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			return nil
		},
		Reauthorize: func(_ context.Context, refused *http.Request) bool {
			ts.Invalidate(strings.TrimPrefix(refused.Header.Get("Authorization"), "Bearer "))
			return true
		},
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// BaseURL is the configured API root.
func (c *Client) BaseURL() *url.URL { return c.api.BaseURL() }

// Body is the exact JSON a creating method sends for v (nil for none), so
// callers can fingerprint it before the call.
func Body(v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	return apiclient.JSONBody(v)
}

func (c *Client) do(ctx context.Context, method, path string, key Key, body any, out any) error {
	req := apiclient.Request{Method: method, URL: c.api.Resolve(path, nil), IdempotencyKey: string(key)}
	// Reads are safe to retry; writes only with a key (the API then
	// replays instead of repeating).
	req.Idempotent = method == http.MethodGet || key != ""
	if body != nil {
		b, err := Body(body)
		if err != nil {
			return err
		}
		req.Body, req.ContentType = b, "application/json"
	}
	_, err := c.api.Do(ctx, req, out)
	return err
}

// Money is an amount in minor units at the given decimals, e.g.
// {"amount": "40000000", "decimals": 3, "currency": "EUR"} is EUR 40,000.000.
type Money struct {
	Amount   string `json:"amount"`
	Decimals int    `json:"decimals"`
	Currency string `json:"currency"`
}

// String formats the amount with its decimals and currency.
func (m Money) String() string {
	a := strings.TrimLeft(m.Amount, "-")
	neg := strings.HasPrefix(m.Amount, "-")
	for len(a) <= m.Decimals {
		a = "0" + a
	}
	s := a
	if m.Decimals > 0 {
		s = a[:len(a)-m.Decimals] + "." + a[len(a)-m.Decimals:]
	}
	if neg {
		s = "-" + s
	}
	return strings.TrimSpace(s + " " + m.Currency)
}

// Document is an uploaded file.
type Document struct {
	ID       string `json:"id"`
	Filename string `json:"filename,omitempty"`
}

// DocumentBody builds the multipart body of a document upload. The
// boundary is derived from the key, so the same key and file always give the
// same bytes: a retry after a restart is byte-identical, and callers can
// fingerprint exactly what will be sent.
func DocumentBody(key Key, filename string, content []byte, contentType string) ([]byte, string, error) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	sum := sha256.Sum256([]byte(key))
	if err := mw.SetBoundary("icb" + hex.EncodeToString(sum[:20])); err != nil {
		return nil, "", err
	}
	h := textproto.MIMEHeader{}
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="file"; filename=%q`, filename))
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	h.Set("Content-Type", contentType)
	w, err := mw.CreatePart(h)
	if err != nil {
		return nil, "", err
	}
	w.Write(content)
	if err := mw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), mw.FormDataContentType(), nil
}

// UploadDocument is POST /v2/documents/ (multipart field "file").
func (c *Client) UploadDocument(ctx context.Context, key Key, filename string, content []byte, contentType string) (Document, error) {
	if err := key.check("upload document"); err != nil {
		return Document{}, err
	}
	body, ctype, err := DocumentBody(key, filename, content, contentType)
	if err != nil {
		return Document{}, err
	}
	var doc Document
	_, err = c.api.Do(ctx, apiclient.Request{
		Method: http.MethodPost, URL: c.api.Resolve("v2/documents/", nil), Body: body,
		ContentType: ctype, IdempotencyKey: string(key), Idempotent: true,
	}, &doc)
	return doc, err
}

// NaturalPerson is the personal data of an investor who is a person (A.5).
type NaturalPerson struct {
	Salutation       string `json:"salutation,omitempty"`
	Forename         string `json:"forename"`
	Surname          string `json:"surname"`
	BirthDate        string `json:"birth_date,omitempty"`
	BirthPlace       string `json:"birth_place,omitempty"`
	Citizenship      string `json:"citizenship,omitempty"`
	Street           string `json:"street,omitempty"`
	City             string `json:"city,omitempty"`
	Zip              string `json:"zip,omitempty"`
	Country          string `json:"country,omitempty"`
	Phone            string `json:"phone,omitempty"`
	IsPEP            bool   `json:"is_pep"`
	IsSubjectToUSTax bool   `json:"is_subject_to_us_tax"`
}

// Communication holds the investor's e-mail.
type Communication struct {
	Email          string `json:"email"`
	EmailConfirmed bool   `json:"email_confirmed"`
}

// NewInvestor is the body of POST /v2/investors/ for a natural person.
type NewInvestor struct {
	NaturalPerson NaturalPerson  `json:"natural_person"`
	Communication *Communication `json:"communication,omitempty"`
	IsBeneficiary bool           `json:"is_beneficiary"`
}

// Investor is a Cashlink investor; every field is kept in Fields.
type Investor struct {
	ID            string         `json:"id"`
	NaturalPerson *NaturalPerson `json:"natural_person"`
	Communication *Communication `json:"communication"`
	Fields        map[string]any `json:"-"`
}

// UnmarshalJSON keeps every field.
func (i *Investor) UnmarshalJSON(b []byte) error {
	type plain Investor
	if err := json.Unmarshal(b, (*plain)(i)); err != nil {
		return err
	}
	return json.Unmarshal(b, &i.Fields)
}

// CreateInvestor is POST /v2/investors/.
func (c *Client) CreateInvestor(ctx context.Context, key Key, in NewInvestor) (Investor, error) {
	if err := key.check("create investor"); err != nil {
		return Investor{}, err
	}
	var inv Investor
	err := c.do(ctx, http.MethodPost, "v2/investors/", key, in, &inv)
	return inv, err
}

// GetInvestor is GET /v2/investors/{id}/.
func (c *Client) GetInvestor(ctx context.Context, id string) (Investor, error) {
	var inv Investor
	err := c.do(ctx, http.MethodGet, "v2/investors/"+url.PathEscape(id)+"/", "", nil, &inv)
	return inv, err
}

// Wallet is an investor's wallet.
type Wallet struct {
	ID               string `json:"id"`
	Address          string `json:"address"`
	Type             string `json:"type,omitempty"`
	ReceivingEnabled bool   `json:"receiving_enabled"`
}

// ListWallets is GET /v2/investors/{id}/wallets/. The guide reads a bare
// JSON array; the API's general list format is a paginated envelope. Both
// are accepted.
func (c *Client) ListWallets(ctx context.Context, investorID string) ([]Wallet, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "v2/investors/"+url.PathEscape(investorID)+"/wallets/", "", nil, &raw); err != nil {
		return nil, err
	}
	var ws []Wallet
	if err := json.Unmarshal(raw, &ws); err == nil {
		return ws, nil
	}
	var env struct {
		Results []Wallet `json:"results"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("cashlink wallets: unexpected answer: %w", err)
	}
	return env.Results, nil
}

// CreateGenericWallet is POST /v2/investors/{id}/wallets/eth-generic/.
func (c *Client) CreateGenericWallet(ctx context.Context, key Key, investorID, address string) (Wallet, error) {
	if err := key.check("create wallet"); err != nil {
		return Wallet{}, err
	}
	var w Wallet
	err := c.do(ctx, http.MethodPost, "v2/investors/"+url.PathEscape(investorID)+"/wallets/eth-generic/", key,
		map[string]any{"address": address, "receiving_enabled": true}, &w)
	return w, err
}

// CreateManagedWallet is POST /v2/investors/{id}/wallets/eth-managed/.
func (c *Client) CreateManagedWallet(ctx context.Context, key Key, investorID string) (Wallet, error) {
	if err := key.check("create managed wallet"); err != nil {
		return Wallet{}, err
	}
	var w Wallet
	err := c.do(ctx, http.MethodPost, "v2/investors/"+url.PathEscape(investorID)+"/wallets/eth-managed/", key, nil, &w)
	return w, err
}

// SignedDocument references an uploaded document in a new investment.
type SignedDocument struct {
	DocumentID string `json:"document_id"`
	Category   string `json:"category"`
	Subject    string `json:"subject"`
}

// NewInvestment is the body of POST /v2/investments/ (A.7).
type NewInvestment struct {
	CampaignID      string           `json:"campaign_id"`
	InvestorID      string           `json:"investor_id"`
	Units           int64            `json:"units"`
	SignedAt        time.Time        `json:"signed_at"`
	AcceptedAt      *time.Time       `json:"accepted_at,omitempty"`
	PaidAt          *time.Time       `json:"paid_at,omitempty"`
	Wallet          string           `json:"wallet,omitempty"`
	SignedDocuments []SignedDocument `json:"signed_documents"`
}

// Investment is a Cashlink investment.
type Investment struct {
	ID               string         `json:"id"`
	CampaignID       string         `json:"campaign_id"`
	InvestorID       string         `json:"investor_id"`
	Status           string         `json:"status"`
	Units            int64          `json:"units"`
	Wallet           *string        `json:"wallet"`
	SignedAt         *time.Time     `json:"signed_at"`
	AcceptedAt       *time.Time     `json:"accepted_at"`
	PaidAt           *time.Time     `json:"paid_at"`
	DeliveredAt      *time.Time     `json:"delivered_at"`
	InvestmentAmount *Money         `json:"investment_amount"`
	RemainingAmount  *Money         `json:"remaining_amount"`
	Fields           map[string]any `json:"-"`
}

// UnmarshalJSON keeps every field.
func (i *Investment) UnmarshalJSON(b []byte) error {
	type plain Investment
	if err := json.Unmarshal(b, (*plain)(i)); err != nil {
		return err
	}
	return json.Unmarshal(b, &i.Fields)
}

// Investment statuses (A.7).
const (
	StatusKYCPending           = "KYC_PENDING"
	StatusReviewPending        = "REVIEW_PENDING"
	StatusWaitingForAcceptance = "WAITING_FOR_ACCEPTANCE"
	StatusAccepted             = "ACCEPTED"
	StatusPaid                 = "PAID"
	StatusDelivered            = "DELIVERED"
	StatusKYCInsufficient      = "KYC_INSUFFICIENT"
	StatusAbortion             = "ABORTION"
	StatusRejection            = "REJECTION"
	StatusCancellation         = "CANCELLATION"
	StatusPaymentMissing       = "PAYMENT_MISSING"
)

// Final reports whether an investment status ends the process.
func Final(status string) bool {
	switch status {
	case StatusDelivered, StatusKYCInsufficient, StatusAbortion, StatusRejection, StatusCancellation, StatusPaymentMissing:
		return true
	}
	return false
}

// CreateInvestment is POST /v2/investments/.
func (c *Client) CreateInvestment(ctx context.Context, key Key, in NewInvestment) (Investment, error) {
	if err := key.check("create investment"); err != nil {
		return Investment{}, err
	}
	var inv Investment
	err := c.do(ctx, http.MethodPost, "v2/investments/", key, in, &inv)
	return inv, err
}

// GetInvestment is GET /v2/investments/{id}/.
func (c *Client) GetInvestment(ctx context.Context, id string) (Investment, error) {
	var inv Investment
	err := c.do(ctx, http.MethodGet, "v2/investments/"+url.PathEscape(id)+"/", "", nil, &inv)
	return inv, err
}

// InvestmentPage is one page of GET /v2/investments/ (oldest first).
type InvestmentPage struct {
	Count    int          `json:"count"`
	Next     *string      `json:"next"`
	Previous *string      `json:"previous"`
	Results  []Investment `json:"results"`
}

// ListInvestments is GET /v2/investments/ (page 1 = first).
func (c *Client) ListInvestments(ctx context.Context, page int) (InvestmentPage, error) {
	return c.ListInvestmentsWhere(ctx, InvestmentFilter{Page: page})
}

// InvestmentUpdate is a PATCH of an investment; nil fields are left alone.
type InvestmentUpdate struct {
	Wallet *string    `json:"wallet,omitempty"`
	PaidAt *time.Time `json:"paid_at,omitempty"`
}

// UpdateInvestment is PATCH /v2/investments/{id}/ (the guide sends it
// without an idempotency key). Setting a value is naturally idempotent, so
// it is retried.
func (c *Client) UpdateInvestment(ctx context.Context, id string, up InvestmentUpdate) (Investment, error) {
	var inv Investment
	req := apiclient.Request{Method: http.MethodPatch, URL: c.api.Resolve("v2/investments/"+url.PathEscape(id)+"/", nil), Idempotent: true, ContentType: "application/json"}
	b, err := apiclient.JSONBody(up)
	if err != nil {
		return inv, err
	}
	req.Body = b
	_, err = c.api.Do(ctx, req, &inv)
	return inv, err
}

// Credit is the answer to a credit request.
type Credit struct {
	ID           string         `json:"id"`
	InvestmentID string         `json:"investment_id"`
	Status       string         `json:"status"`
	Fields       map[string]any `json:"-"`
}

// UnmarshalJSON keeps every field.
func (cr *Credit) UnmarshalJSON(b []byte) error {
	type plain Credit
	if err := json.Unmarshal(b, (*plain)(cr)); err != nil {
		return err
	}
	return json.Unmarshal(b, &cr.Fields)
}

// Credit is POST /v2/investments/{id}/credits/ (no body): mint the digital
// securities to the investment's wallet. Irreversible: ask first.
func (c *Client) Credit(ctx context.Context, key Key, investmentID string) (Credit, error) {
	if err := key.check("credit"); err != nil {
		return Credit{}, err
	}
	var cr Credit
	err := c.do(ctx, http.MethodPost, "v2/investments/"+url.PathEscape(investmentID)+"/credits/", key, nil, &cr)
	return cr, err
}

// NewRedemption is the body of POST /v2/redemptions/.
type NewRedemption struct {
	InvestorID string `json:"investor_id"`
	ProductID  string `json:"product_id"`
	WalletID   string `json:"wallet_id"`
	Units      int64  `json:"units"`
}

// Redemption statuses (A.9). Unknown needs manual investigation: never retry it.
const (
	RedemptionProcessing = "processing"
	RedemptionSuccess    = "success"
	RedemptionFailed     = "failed"
	RedemptionUnknown    = "unknown"
)

// Redemption is a Cashlink redemption.
type Redemption struct {
	ID         string         `json:"id"`
	Status     string         `json:"status"`
	InvestorID string         `json:"investor_id"`
	ProductID  string         `json:"product_id"`
	WalletID   string         `json:"wallet_id"`
	Units      int64          `json:"units"`
	Fields     map[string]any `json:"-"`
}

// UnmarshalJSON keeps every field.
func (r *Redemption) UnmarshalJSON(b []byte) error {
	type plain Redemption
	if err := json.Unmarshal(b, (*plain)(r)); err != nil {
		return err
	}
	return json.Unmarshal(b, &r.Fields)
}

// GetRedemption is GET /v2/redemptions/{id}/: how a redemption created
// as "processing" ends (success, failed, or unknown). The public docs
// show only the status field of the create response (A.9); reading one
// back by id is inferred from the API's REST layout.
func (c *Client) GetRedemption(ctx context.Context, id string) (Redemption, error) {
	var r Redemption
	err := c.do(ctx, http.MethodGet, "v2/redemptions/"+url.PathEscape(id)+"/", "", nil, &r)
	return r, err
}

// CreateRedemption is POST /v2/redemptions/. Irreversible: ask first.
func (c *Client) CreateRedemption(ctx context.Context, key Key, in NewRedemption) (Redemption, error) {
	if err := key.check("redemption"); err != nil {
		return Redemption{}, err
	}
	var r Redemption
	err := c.do(ctx, http.MethodPost, "v2/redemptions/", key, in, &r)
	return r, err
}
