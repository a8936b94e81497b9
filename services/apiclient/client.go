package apiclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"issuerconsole/services/audit"
)

// Version is the console's version, sent in the User-Agent.
const Version = "0.1.0"

// UserAgent names the product, its version and the API client.
func UserAgent(api string) string {
	return "IssuerConsole/" + Version + " (" + api + " client; +https://github.com/issuer-console)"
}

// Config configures a Client.
type Config struct {
	API string // "issuance" or "cashlink": names the client in errors and the audit log
	// LinkMarker is the first path segment of the API's paths ("api/",
	// "v2/"), used to rebase pagination links.
	LinkMarker string
	BaseURL    string // the API root; a trailing slash is added
	AllowHTTP  bool   // only for the embedded sandbox: live credentials never travel over plain HTTP
	Timeout    time.Duration
	// Transport carries the requests; New wraps it in the audit transport.
	Transport http.RoundTripper
	Audit     *audit.Store
	Policy    audit.BodyPolicy
	Retry     RetryPolicy
	// Authorize adds credentials to a request (called on every attempt).
	Authorize func(ctx context.Context, req *http.Request) error
	// Reauthorize is called once after a 401 with the refused request;
	// returning true resends it with fresh credentials (token refresh).
	Reauthorize func(ctx context.Context, refused *http.Request) bool
	// OnThrottle, if set, is told of every 429, and of every 503 with
	// Retry-After, before the client waits to retry (the import engine
	// slows all its workers down).
	OnThrottle func(retryAfter time.Duration)
	// Sleep waits between attempts; tests replace it. It must return early
	// with ctx's error when ctx ends.
	Sleep func(ctx context.Context, d time.Duration) error
}

// RetryPolicy bounds the retry loop.
type RetryPolicy struct {
	MaxAttempts   int           // 1 = no retries
	BaseDelay     time.Duration // first backoff
	MaxDelay      time.Duration // cap of one wait (also caps Retry-After)
	RetryConflict bool          // retry 409 (an idempotent request still in flight upstream)
}

// Client is the shared core of a typed API client.
type Client struct {
	cfg  Config
	base *url.URL
	http *http.Client
}

// New validates the configuration and builds the HTTP client.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimSpace(cfg.BaseURL))
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("%s client: base URL %q is not an absolute http(s) URL", cfg.API, cfg.BaseURL)
	}
	if u.Scheme != "https" && !cfg.AllowHTTP {
		return nil, fmt.Errorf("%s client: base URL %q must use https (only the embedded sandbox may use http)", cfg.API, cfg.BaseURL)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	if cfg.Audit == nil {
		return nil, fmt.Errorf("%s client: an audit store is required: no call may skip the audit log", cfg.API)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Retry.MaxAttempts == 0 {
		cfg.Retry = RetryPolicy{MaxAttempts: 4, BaseDelay: 200 * time.Millisecond, MaxDelay: 10 * time.Second}
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	base := cfg.Transport
	if base == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 16 // keep-alive to the one host we talk to
		t.IdleConnTimeout = 90 * time.Second
		base = t
	}
	c := &Client{cfg: cfg, base: u}
	c.http = &http.Client{
		Transport: &audit.Transport{Base: base, Store: cfg.Audit, API: cfg.API, Policy: cfg.Policy},
		Timeout:   cfg.Timeout,
		// An API redirect is followed only within the same host, and never
		// from https to http.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 3 || req.URL.Host != u.Host || (u.Scheme == "https" && req.URL.Scheme != "https") {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
	return c, nil
}

// BaseURL returns the configured API root (with trailing slash).
func (c *Client) BaseURL() *url.URL { u := *c.base; return &u }

// Resolve turns a path relative to the API root (no leading slash) into a URL.
func (c *Client) Resolve(path string, q url.Values) *url.URL {
	u := c.base.ResolveReference(&url.URL{Path: strings.TrimPrefix(path, "/")})
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	return u
}

// Rebase moves an absolute URL from an API answer (a DRF next link) onto the
// configured base URL: the API builds links with the scheme and host its own
// process sees (behind a TLS proxy, often http:// and an internal host).
// The part of the link's path from the client's LinkMarker on ("api/",
// "v2/") is kept, with the query.
func (c *Client) Rebase(link string) (*url.URL, error) {
	u, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("%s: bad link %q: %w", c.cfg.API, link, err)
	}
	i := strings.Index(u.Path, "/"+c.cfg.LinkMarker)
	if c.cfg.LinkMarker == "" || i < 0 {
		return nil, fmt.Errorf("%s: link %q is not below the API root", c.cfg.API, link)
	}
	out := c.Resolve(u.Path[i+1:], nil)
	out.RawQuery = u.RawQuery
	return out, nil
}

// Request is one API call. Body bytes are kept, so every attempt sends the
// same bytes, and the idempotency key is the same on every attempt.
type Request struct {
	Method         string
	URL            *url.URL
	Body           []byte
	ContentType    string
	IdempotencyKey string
	// Idempotent allows retries: reads, and writes carrying an idempotency key.
	Idempotent bool
}

// Do sends req, retrying as the policy allows, and decodes a 2xx JSON answer
// into out (if non-nil). Errors are *Error for API answers; transport
// failures are wrapped with %w.
func (c *Client) Do(ctx context.Context, req Request, out any) (*http.Response, error) {
	maxAttempts := 1
	if req.Idempotent {
		maxAttempts = c.cfg.Retry.MaxAttempts
	}
	reauthorized := false
	var lastErr error
	// attempt numbers every request sent (for the audit log); tries counts
	// against the retry budget. A request resent after a token refresh is a
	// new attempt but not a retry.
	for attempt, tries := 1, 1; ; attempt, tries = attempt+1, tries+1 {
		sent, res, body, err := c.once(audit.WithAttempt(ctx, attempt), req)
		if err == nil && res.StatusCode == http.StatusUnauthorized && c.cfg.Reauthorize != nil && !reauthorized {
			reauthorized = true
			if c.cfg.Reauthorize(ctx, sent) {
				tries--
				continue
			}
		}
		if err == nil && res.StatusCode < 300 {
			if out != nil && len(body) > 0 {
				if derr := Decode(body, out); derr != nil {
					return res, fmt.Errorf("%s %s %s: decoding the answer: %w", c.cfg.API, req.Method, req.URL.Path, derr)
				}
			}
			return res, nil
		}
		var wait time.Duration
		retry := false
		if err != nil {
			lastErr = fmt.Errorf("%s %s %s: %w", c.cfg.API, req.Method, req.URL.Path, err)
			var ae *audit.AuditError
			retry = !errors.As(err, &ae) && ctx.Err() == nil && retryableNetErr(err)
		} else {
			apiErr := decodeError(c.cfg.API, &http.Request{Method: req.Method, URL: req.URL}, res, body)
			lastErr = apiErr
			switch res.StatusCode {
			case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
				retry, wait = true, apiErr.RetryAfter
				if c.cfg.OnThrottle != nil && (res.StatusCode == http.StatusTooManyRequests ||
					(res.StatusCode == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "")) {
					c.cfg.OnThrottle(apiErr.RetryAfter)
				}
			case http.StatusConflict:
				retry = c.cfg.Retry.RetryConflict
			}
		}
		if !retry || tries >= maxAttempts {
			return res, lastErr
		}
		if wait == 0 {
			wait = c.backoff(tries)
		}
		if wait > c.cfg.Retry.MaxDelay {
			wait = c.cfg.Retry.MaxDelay
		}
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			return res, fmt.Errorf("%w (gave up waiting to retry: %v)", lastErr, err)
		}
	}
}

// Decode decodes a 2xx answer as Do does: with the engine of the
// encoding/json v2 prototype (github.com/go-json-experiment/json, what Go
// ships as encoding/json/v2 behind GOEXPERIMENT=jsonv2) set to v1's
// semantics, so an answer reads exactly as encoding/json read it
// (FuzzDecodeMatchesEncodingJSON), about twice as fast. Decoding a page of
// 25 investments was a fifth of the search page's CPU (issue 15).
func Decode(body []byte, out any) error {
	return jsonv2.Unmarshal(body, out, jsonv1.DefaultOptionsV1())
}

// backoff is exponential with jitter: 75-100 % of base·2^(attempt-1).
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.Retry.BaseDelay << (attempt - 1)
	if d <= 0 || d > c.cfg.Retry.MaxDelay {
		d = c.cfg.Retry.MaxDelay
	}
	return time.Duration(float64(d) * (0.75 + 0.25*rand.Float64()))
}

func (c *Client) once(ctx context.Context, r Request) (*http.Request, *http.Response, []byte, error) {
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL.String(), body)
	if err != nil {
		return nil, nil, nil, err
	}
	req.Header.Set("User-Agent", UserAgent(c.cfg.API))
	req.Header.Set("Accept", "application/json")
	if r.ContentType != "" {
		req.Header.Set("Content-Type", r.ContentType)
	}
	if r.IdempotencyKey != "" {
		req.Header.Set("X-Idempotency-Key", r.IdempotencyKey)
	}
	if c.cfg.Authorize != nil {
		if err := c.cfg.Authorize(ctx, req); err != nil {
			return req, nil, nil, err
		}
	}
	var sink audit.BodySink // the audit transport reads the answer whole and hands it over
	res, err := c.http.Do(req.WithContext(audit.WithBodySink(req.Context(), &sink)))
	if err != nil {
		return req, nil, nil, err
	}
	defer res.Body.Close()
	if sink.Body != nil {
		return req, res, sink.Body, nil
	}
	b, err := io.ReadAll(res.Body)
	return req, res, b, err
}

func retryableNetErr(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) {
		return true // timeouts and connection failures
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ParseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// JSONBody marshals v for a Request.
func JSONBody(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding the request: %w", err)
	}
	return b, nil
}
