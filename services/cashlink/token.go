package cashlink

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"issuerconsole/services/apiclient"
)

// DefaultScopes are the scopes the import guide needs (A.2): all five.
var DefaultScopes = []string{"investors:read", "investors:write", "investments:read", "investments:write", "documents:write"}

// TokenSource fetches OAuth client-credentials tokens, caches them, renews
// them shortly before they expire, and on demand after a 401. It is safe
// for concurrent use; concurrent callers share one fetch.
type TokenSource struct {
	client       *apiclient.Client // the token endpoint's client: audited, no bearer
	tokenURL     *url.URL
	clientID     string
	clientSecret string
	scopes       []string
	now          func() time.Time

	mu       sync.Mutex
	token    string
	expires  time.Time
	fetching chan struct{} // closed when the fetch in flight ends
	fetchErr error
	Fetches  int // tokens fetched so far (for tests and the settings page)
}

// renewBefore is how long before expiry a token is replaced.
func renewBefore(ttl time.Duration) time.Duration {
	return min(60*time.Second, ttl/10)
}

// Token returns a valid access token, fetching one if needed.
func (ts *TokenSource) Token(ctx context.Context) (string, error) {
	for {
		ts.mu.Lock()
		if ts.token != "" && ts.now().Before(ts.expires) {
			tok := ts.token
			ts.mu.Unlock()
			return tok, nil
		}
		if ts.fetching != nil { // someone else is fetching: wait for it
			ch := ts.fetching
			ts.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			ts.mu.Lock()
			err := ts.fetchErr
			ts.mu.Unlock()
			if err != nil {
				return "", err
			}
			continue
		}
		ch := make(chan struct{})
		ts.fetching = ch
		ts.mu.Unlock()

		tok, ttl, err := ts.fetch(ctx)

		ts.mu.Lock()
		ts.fetching, ts.fetchErr = nil, err
		if err == nil {
			ts.token, ts.expires = tok, ts.now().Add(ttl-renewBefore(ttl))
			ts.Fetches++
		}
		ts.mu.Unlock()
		close(ch)
		if err != nil {
			return "", err
		}
		return tok, nil
	}
}

// Refresh fetches a new token now, whatever the cache holds (the settings
// page's connection test).
func (ts *TokenSource) Refresh(ctx context.Context) error {
	ts.mu.Lock()
	ts.token = ""
	ts.mu.Unlock()
	_, err := ts.Token(ctx)
	return err
}

// Invalidate drops the cached token if it is still tok (a 401 answered it),
// so the next Token call fetches a new one; a token another goroutine has
// already renewed is kept.
func (ts *TokenSource) Invalidate(tok string) {
	ts.mu.Lock()
	if ts.token == tok {
		ts.token = ""
	}
	ts.mu.Unlock()
}

type tokenAnswer struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int64  `json:"expires_in"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
}

func (ts *TokenSource) fetch(ctx context.Context) (string, time.Duration, error) {
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"scope":         {strings.Join(ts.scopes, " ")},
		"client_id":     {ts.clientID},
		"client_secret": {ts.clientSecret},
	}
	var ans tokenAnswer
	_, err := ts.client.Do(ctx, apiclient.Request{
		Method: http.MethodPost, URL: ts.tokenURL, Body: []byte(form.Encode()),
		ContentType: "application/x-www-form-urlencoded", Idempotent: true,
	}, &ans)
	if err != nil {
		return "", 0, fmt.Errorf("cashlink: getting an access token: %w", err)
	}
	if ans.AccessToken == "" {
		return "", 0, fmt.Errorf("cashlink: the token endpoint answered without an access_token")
	}
	if ans.TokenType != "" && !strings.EqualFold(ans.TokenType, "bearer") {
		return "", 0, fmt.Errorf("cashlink: unexpected token type %q", ans.TokenType)
	}
	ttl := time.Duration(ans.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 5 * time.Minute // not documented: assume short rather than long
	}
	return ans.AccessToken, ttl, nil
}
