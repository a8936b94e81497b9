package issuance

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
)

// Options configure a Client.
type Options struct {
	BaseURL string // e.g. https://api.issuance.com/ or the sandbox's http://127.0.0.1:8080/sandbox/issuance/
	APIKey  string // "Authorization: Api-Key <key>" for investments and offerings
	// APIKeys are several keys, one per offering as the seed hands them out
	// (APIKey, if set, is used as the first). See keys.go.
	APIKeys []string
	// FirebaseToken is sent as "Authorization: Bearer <token>" to the
	// endpoints documented with a Firebase ID token (investors, users,
	// summary). Empty: those endpoints answer 401/403.
	FirebaseToken string
	// FirebaseAPIKey and FirebaseRefreshToken, when both set, replace the
	// fixed FirebaseToken: ID tokens are obtained and renewed at
	// FirebaseTokenURL ("" = DefaultFirebaseTokenURL). See firebase.go.
	FirebaseAPIKey       string
	FirebaseRefreshToken string
	FirebaseTokenURL     string
	AllowHTTP            bool // the embedded sandbox only
	Audit                *audit.Store
	Transport            http.RoundTripper
	Timeout              time.Duration
	Retry                apiclient.RetryPolicy
	Sleep                func(context.Context, time.Duration) error
}

// Client calls the Issuance issuer API.
type Client struct {
	api      *apiclient.Client
	ring     keyring
	firebase string
	tokens   *firebaseTokens // nil: the fixed firebase token (or none)
}

// New returns a client. Live base URLs must be HTTPS.
func New(o Options) (*Client, error) {
	c := &Client{firebase: o.FirebaseToken, ring: keyring{invKey: map[int64]int{}}}
	for _, k := range append([]string{o.APIKey}, o.APIKeys...) {
		if k != "" && !contains(c.ring.keys, k) {
			c.ring.keys = append(c.ring.keys, k)
		}
	}
	if o.FirebaseAPIKey != "" && o.FirebaseRefreshToken != "" {
		var err error
		if c.tokens, err = newFirebaseTokens(o); err != nil {
			return nil, err
		}
	}
	api, err := apiclient.New(apiclient.Config{
		API: "issuance", BaseURL: o.BaseURL, AllowHTTP: o.AllowHTTP, LinkMarker: "api/",
		Audit: o.Audit, Policy: audit.SummaryOnly, Transport: o.Transport, Timeout: o.Timeout,
		Retry: o.Retry, Sleep: o.Sleep, Authorize: c.authorize, Reauthorize: c.reauthorize,
	})
	if err != nil {
		return nil, err
	}
	c.api = api
	return c, nil
}

// BaseURL is the configured API root.
func (c *Client) BaseURL() *url.URL { return c.api.BaseURL() }

// usesFirebase reports whether an endpoint is documented with a Firebase
// ID token rather than an Api-Key.
func usesFirebase(path string) bool {
	return strings.Contains(path, "/api/investors/") || strings.Contains(path, "/api/users/") || strings.HasSuffix(path, "/api/investments/summary/")
}

func (c *Client) authorize(ctx context.Context, req *http.Request) error {
	switch {
	case usesFirebase(req.URL.Path) && c.tokens != nil:
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	case usesFirebase(req.URL.Path):
		if c.firebase != "" {
			req.Header.Set("Authorization", "Bearer "+c.firebase)
		}
	default:
		if k := c.keyFor(ctx); k != "" {
			req.Header.Set("Authorization", "Api-Key "+k)
		}
	}
	return nil
}

// reauthorize answers a 401 of a Firebase endpoint by dropping the refused
// ID token, so the retry exchanges the refresh token again (once).
func (c *Client) reauthorize(_ context.Context, refused *http.Request) bool {
	if c.tokens == nil || !usesFirebase(refused.URL.Path) {
		return false
	}
	c.tokens.Invalidate(strings.TrimPrefix(refused.Header.Get("Authorization"), "Bearer "))
	return true
}

func (c *Client) get(ctx context.Context, path string, q url.Values, out any) error {
	_, err := c.api.Do(ctx, apiclient.Request{Method: http.MethodGet, URL: c.api.Resolve(path, q), Idempotent: true}, out)
	return err
}

func list[T any](ctx context.Context, c *Client, u *url.URL) (Page[T], error) {
	var raw rawPage[T]
	if _, err := c.api.Do(ctx, apiclient.Request{Method: http.MethodGet, URL: u, Idempotent: true}, &raw); err != nil {
		return Page[T]{}, err
	}
	p := Page[T]{Count: raw.Count, Results: raw.Results}
	var err error
	if raw.Next != nil {
		if p.Next, err = c.api.Rebase(*raw.Next); err != nil {
			return p, err
		}
	}
	if raw.Previous != nil {
		if p.Previous, err = c.api.Rebase(*raw.Previous); err != nil {
			return p, err
		}
	}
	return p, nil
}

// all iterates every item of every page from u on, following next links.
func all[T any](ctx context.Context, c *Client, u *url.URL) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for u != nil {
			p, err := list[T](ctx, c, u)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range p.Results {
				if !yield(it, nil) {
					return
				}
			}
			u = p.Next
		}
	}
}

func withPage(q url.Values, po PageOpts) url.Values {
	po.apply(q)
	return q
}

// ListInvestments is GET /api/investments/ with a typed filter.
func (c *Client) ListInvestments(ctx context.Context, f InvestmentFilter, po PageOpts) (Page[Investment], error) {
	if c.multi() {
		return mergedList(ctx, c, investmentMerge, withPage(f.Values(), po), false)
	}
	return list[Investment](ctx, c, c.api.Resolve("api/investments/", withPage(f.Values(), po)))
}

// ListInvestmentsQuery is GET /api/investments/ with parameters taken as
// given (the search page's URL is the API query), minus the broken boolean
// __in filters (see RewriteBroken).
func (c *Client) ListInvestmentsQuery(ctx context.Context, q url.Values) (Page[Investment], error) {
	if c.multi() {
		return mergedList(ctx, c, investmentMerge, RewriteBroken(InvestmentParams, q), false)
	}
	return list[Investment](ctx, c, c.api.Resolve("api/investments/", RewriteBroken(InvestmentParams, q)))
}

// AllInvestments iterates every investment matching q across all pages.
func (c *Client) AllInvestments(ctx context.Context, q url.Values, pageSize int) iter.Seq2[Investment, error] {
	q = RewriteBroken(InvestmentParams, q)
	q.Del("page")
	if pageSize > 0 {
		q.Set("page_size", strconv.Itoa(pageSize))
	}
	if c.multi() {
		return allMerged(ctx, c, investmentMerge, q)
	}
	return all[Investment](ctx, c, c.api.Resolve("api/investments/", q))
}

// InvestmentsPage fetches a page by its (re-based) link, e.g. Page.Next.
func (c *Client) InvestmentsPage(ctx context.Context, u *url.URL) (Page[Investment], error) {
	if c.multi() {
		return mergedList(ctx, c, investmentMerge, u.Query(), true)
	}
	return list[Investment](ctx, c, u)
}

// GetInvestment is GET /api/investments/{id}/.
func (c *Client) GetInvestment(ctx context.Context, id int64) (Investment, error) {
	if c.multi() {
		return getAcrossKeys[Investment](ctx, c, id, fmt.Sprintf("api/investments/%d/", id))
	}
	var inv Investment
	err := c.get(ctx, fmt.Sprintf("api/investments/%d/", id), nil, &inv)
	return inv, err
}

// ListOfferings is GET /api/offerings/ with a typed filter.
func (c *Client) ListOfferings(ctx context.Context, f OfferingFilter, po PageOpts) (Page[Offering], error) {
	if c.multi() {
		return mergedList(ctx, c, offeringMerge, withPage(f.Values(), po), false)
	}
	return list[Offering](ctx, c, c.api.Resolve("api/offerings/", withPage(f.Values(), po)))
}

// ListOfferingsQuery is GET /api/offerings/ with parameters as given.
func (c *Client) ListOfferingsQuery(ctx context.Context, q url.Values) (Page[Offering], error) {
	if c.multi() {
		return mergedList(ctx, c, offeringMerge, RewriteBroken(OfferingParams, q), false)
	}
	return list[Offering](ctx, c, c.api.Resolve("api/offerings/", RewriteBroken(OfferingParams, q)))
}

// GetOffering is GET /api/offerings/{id}/.
func (c *Client) GetOffering(ctx context.Context, id int64) (Offering, error) {
	if c.multi() {
		i, ok, err := c.keyOfOffering(ctx, id)
		if err != nil {
			return Offering{}, err
		}
		if ok {
			ctx = withKey(ctx, i)
		}
	}
	var o Offering
	err := c.get(ctx, fmt.Sprintf("api/offerings/%d/", id), nil, &o)
	return o, err
}

// ListInvestorsQuery is GET /api/investors/ with parameters as given.
func (c *Client) ListInvestorsQuery(ctx context.Context, q url.Values) (Page[Investor], error) {
	return list[Investor](ctx, c, c.api.Resolve("api/investors/", q))
}

// GetInvestor is GET /api/investors/{id}/.
func (c *Client) GetInvestor(ctx context.Context, id int64) (Investor, error) {
	var inv Investor
	err := c.get(ctx, fmt.Sprintf("api/investors/%d/", id), nil, &inv)
	return inv, err
}

// ListUsersQuery is GET /api/users/ with parameters as given.
func (c *Client) ListUsersQuery(ctx context.Context, q url.Values) (Page[User], error) {
	return list[User](ctx, c, c.api.Resolve("api/users/", q))
}

// ErrEmptyUpdate means an update changed nothing.
var ErrEmptyUpdate = errors.New("nothing to update")

// CreateUser is POST /api/users/. The password is write-only: it is sent,
// never returned, and removed from the audit log by the transport. There is
// no documented idempotency for this endpoint, so it is not retried.
func (c *Client) CreateUser(ctx context.Context, email, password string) (User, error) {
	body, err := apiclient.JSONBody(map[string]string{"email": email, "password": password})
	if err != nil {
		return User{}, err
	}
	var u User
	_, err = c.api.Do(ctx, apiclient.Request{Method: http.MethodPost, URL: c.api.Resolve("api/users/", nil), Body: body, ContentType: "application/json"}, &u)
	return u, err
}

// UserUpdate is a partial update; nil fields are left alone.
type UserUpdate struct {
	Email    *string `json:"email,omitempty"`
	Password *string `json:"password,omitempty"`
}

// UpdateUser is PATCH /api/users/{id}/ (not retried).
func (c *Client) UpdateUser(ctx context.Context, id int64, up UserUpdate) (User, error) {
	if up.Email == nil && up.Password == nil {
		return User{}, ErrEmptyUpdate
	}
	body, err := apiclient.JSONBody(up)
	if err != nil {
		return User{}, err
	}
	var u User
	_, err = c.api.Do(ctx, apiclient.Request{Method: http.MethodPatch, URL: c.api.Resolve(fmt.Sprintf("api/users/%d/", id), nil), Body: body, ContentType: "application/json"}, &u)
	return u, err
}
