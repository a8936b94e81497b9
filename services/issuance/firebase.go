package issuance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
)

// DefaultFirebaseTokenURL is Google's Secure Token endpoint.
const DefaultFirebaseTokenURL = "https://securetoken.googleapis.com/v1/token"

// firebaseTokens turns a Firebase refresh token into ID tokens with the
// Secure Token protocol (POST {url}?key={web API key}, form
// grant_type=refresh_token&refresh_token=…; answer id_token, refresh_token,
// expires_in as a string of seconds). A token is renewed shortly before it
// expires and once more when the API answers 401. Tokens live in memory
// only; the audit transport redacts key, refresh_token and id_token.
type firebaseTokens struct {
	client *apiclient.Client
	url    *url.URL
	now    func() time.Time

	mu       sync.Mutex
	refresh  string
	token    string
	renewAt  time.Time
	fetching chan struct{}
	fetchErr error
}

func newFirebaseTokens(o Options) (*firebaseTokens, error) {
	raw := o.FirebaseTokenURL
	if raw == "" {
		raw = DefaultFirebaseTokenURL
	}
	api, err := apiclient.New(apiclient.Config{
		API: "issuance", BaseURL: raw, AllowHTTP: o.AllowHTTP, Audit: o.Audit, Policy: audit.SummaryOnly,
		Transport: o.Transport, Timeout: o.Timeout, Retry: o.Retry, Sleep: o.Sleep,
	})
	if err != nil {
		return nil, fmt.Errorf("firebase token URL: %w", err)
	}
	u := api.BaseURL()
	u.Path = strings.TrimSuffix(u.Path, "/") // the token URL is an endpoint, not a root
	u.RawQuery = url.Values{"key": {o.FirebaseAPIKey}}.Encode()
	return &firebaseTokens{client: api, url: u, now: time.Now, refresh: o.FirebaseRefreshToken}, nil
}

// Token returns a valid ID token, exchanging the refresh token when the
// cached one is near its expiry. Concurrent callers share one exchange.
func (f *firebaseTokens) Token(ctx context.Context) (string, error) {
	for {
		f.mu.Lock()
		if f.token != "" && f.now().Before(f.renewAt) {
			tok := f.token
			f.mu.Unlock()
			return tok, nil
		}
		if ch := f.fetching; ch != nil {
			f.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			f.mu.Lock()
			err := f.fetchErr
			f.mu.Unlock()
			if err != nil {
				return "", err
			}
			continue
		}
		ch := make(chan struct{})
		f.fetching = ch
		refresh := f.refresh
		f.mu.Unlock()

		tok, next, ttl, err := f.exchange(ctx, refresh)

		f.mu.Lock()
		f.fetching, f.fetchErr = nil, err
		if err == nil {
			f.token, f.renewAt = tok, f.now().Add(ttl-min(time.Minute, ttl/10))
			if next != "" {
				f.refresh = next // Google may rotate it
			}
		}
		f.mu.Unlock()
		close(ch)
		if err != nil {
			return "", err
		}
		return tok, nil
	}
}

// Invalidate drops tok if it is still the cached one (a 401 answered it).
func (f *firebaseTokens) Invalidate(tok string) {
	f.mu.Lock()
	if f.token == tok {
		f.token = ""
	}
	f.mu.Unlock()
}

// secondsString reads expires_in: Google sends a string of seconds; a
// number is accepted too.
type secondsString int64

func (s *secondsString) UnmarshalJSON(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	switch t := v.(type) {
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		if err != nil {
			return fmt.Errorf("expires_in %q is not a number of seconds", t)
		}
		*s = secondsString(n)
	case float64:
		*s = secondsString(t)
	default:
		return errors.New("expires_in is not a number of seconds")
	}
	return nil
}

func (f *firebaseTokens) exchange(ctx context.Context, refresh string) (string, string, time.Duration, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	var ans struct {
		IDToken      string        `json:"id_token"`
		RefreshToken string        `json:"refresh_token"`
		ExpiresIn    secondsString `json:"expires_in"`
	}
	_, err := f.client.Do(ctx, apiclient.Request{Method: http.MethodPost, URL: f.url, Body: []byte(form.Encode()),
		ContentType: "application/x-www-form-urlencoded", Idempotent: true}, &ans)
	if err != nil {
		return "", "", 0, fmt.Errorf("exchanging the Firebase refresh token for an ID token: %w", err)
	}
	if ans.IDToken == "" {
		return "", "", 0, errors.New("the Firebase token endpoint answered without an id_token")
	}
	ttl := time.Duration(ans.ExpiresIn) * time.Second
	if ttl <= 0 {
		ttl = 5 * time.Minute // not stated: assume short rather than long
	}
	return ans.IDToken, ans.RefreshToken, ttl, nil
}
