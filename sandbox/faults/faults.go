// Package faults injects failures into the sandbox emulators' handlers, for
// tests and demos: added latency, a share of 5xx answers, 429 with
// Retry-After, connections that hang until the client gives up, and token
// expiry; per API and optionally per method and path prefix.
//
// Faults come in two kinds, which matter for idempotency testing:
//
//   - before the handler (Error5xx, RateLimit, Hang, ExpireTokens): the
//     request is not processed; a retry with the same key does the work.
//   - after the handler (Error5xxAfter, HangAfter): the emulator did the
//     work and committed it (including the stored idempotent answer), but
//     the client gets a 5xx or no answer at all. A retry with the same
//     idempotency key must then get the stored answer, never a second
//     record: exactly the case idempotency keys exist for.
//
// Determinism: every matching request draws exactly two numbers from one
// PRNG seeded by New (one for the before-phase, one for the after-phase),
// whatever the outcome, so the same seed and the same sequence of matching
// requests give the same faults. Concurrent clients interleave their draws
// in arrival order, so determinism holds for a sequential client.
//
// Rule matching: the first rule (in order) whose API, method and path
// prefix match applies; later rules are not consulted. Put specific rules
// before general ones.
package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/time/rate"
	"time"
)

// Rule is one fault setting.
type Rule struct {
	API    string `json:"api"`              // "issuance" or "cashlink"
	Method string `json:"method,omitempty"` // "" = any
	// Path is a prefix of the path relative to the API mount (e.g.
	// "/api/external/v2/investments/"); "" = any.
	Path    string        `json:"path,omitempty"`
	Latency time.Duration `json:"-"` // added to every matching request (JSON: "latency": "50ms")
	// Error5xx is the share of matching requests answered 5xx before the
	// handler runs (not processed). The status is Status, 503 by default.
	Error5xx float64 `json:"error_5xx,omitempty"`
	// Error5xxAfter is the share processed by the handler whose answer is
	// replaced by a 5xx (processed, answer lost).
	Error5xxAfter float64 `json:"error_5xx_after,omitempty"`
	Status        int     `json:"status,omitempty"` // 500-599; 0 = 503
	// RateLimit is the share answered 429 with Retry-After (not processed).
	RateLimit  float64       `json:"rate_limit,omitempty"`
	RetryAfter time.Duration `json:"-"` // the Retry-After value, whole seconds, at least 1 (JSON: "retry_after": "2s")
	// MaxRate answers 429 with Retry-After (not processed) to matching
	// requests above this many per second (a token bucket with a burst of
	// one second's worth), like a server's rate limit; 0 = none.
	MaxRate float64 `json:"max_rate,omitempty"`
	// Hang is the share that hangs before the handler until the client
	// gives up (request context done) or the injector closes (not processed).
	Hang float64 `json:"hang,omitempty"`
	// HangAfter is the share processed by the handler whose answer is
	// never sent: the request hangs until the client gives up.
	HangAfter float64 `json:"hang_after,omitempty"`
	// ExpireTokens is the share of requests before which every token of the
	// API is expired (SetTokenExpirer), so the request itself is refused
	// with the emulator's own 401. Without an expirer the injector answers
	// 401 {"detail": "Token has expired."} itself.
	ExpireTokens float64 `json:"expire_tokens,omitempty"`
}

// APIs are the API names a rule can name.
var APIs = []string{"issuance", "cashlink"}

// Validate checks a rule's values.
func (r Rule) Validate() error {
	if !contains(APIs, r.API) {
		return fmt.Errorf("api %q: want issuance or cashlink", r.API)
	}
	if r.Method != "" && r.Method != strings.ToUpper(r.Method) {
		return fmt.Errorf("method %q: want an upper-case HTTP method", r.Method)
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
		return fmt.Errorf("path %q: want a path starting with /", r.Path)
	}
	if r.Latency < 0 {
		return fmt.Errorf("latency %s: must not be negative", r.Latency)
	}
	if !(r.MaxRate >= 0 && r.MaxRate <= 1e6) {
		return fmt.Errorf("ratelimit %v/s: want 0 to 1000000 requests per second", r.MaxRate)
	}
	if r.RetryAfter < 0 {
		return fmt.Errorf("retry-after %s: must not be negative", r.RetryAfter)
	}
	if r.Status != 0 && (r.Status < 500 || r.Status > 599) {
		return fmt.Errorf("status %d: want 500-599", r.Status)
	}
	for _, s := range []struct {
		name string
		v    float64
	}{{"5xx", r.Error5xx}, {"5xx-after", r.Error5xxAfter}, {"429", r.RateLimit}, {"hang", r.Hang}, {"hang-after", r.HangAfter}, {"expire", r.ExpireTokens}} {
		if !(s.v >= 0 && s.v <= 1) {
			return fmt.Errorf("%s=%v: a share must be between 0 and 1", s.name, s.v)
		}
	}
	if sum := r.Hang + r.RateLimit + r.Error5xx + r.ExpireTokens; sum > 1+1e-9 {
		return fmt.Errorf("the shares before the handler (hang, 429, 5xx, expire) add up to %v, more than 1", sum)
	}
	if sum := r.Error5xxAfter + r.HangAfter; sum > 1+1e-9 {
		return fmt.Errorf("the shares after the handler (5xx-after, hang-after) add up to %v, more than 1", sum)
	}
	return nil
}

// matches compares the path relative to the API mount; a path that still
// has the mount prefix (Wrap outside StripPrefix) is compared without it.
func (r Rule) matches(api string, req *http.Request) bool {
	p := strings.TrimPrefix(req.URL.Path, "/sandbox/"+api)
	return r.API == api && (r.Method == "" || r.Method == req.Method) && strings.HasPrefix(p, r.Path)
}

// Kinds of injected faults, as counted by Stats.
const (
	KindLatency      = "latency"
	KindError5xx     = "5xx"
	KindError5xxAft  = "5xx-after"
	KindRateLimit    = "429"
	KindHang         = "hang"
	KindHangAfter    = "hang-after"
	KindExpireTokens = "expire"
)

// Event is one injected fault (the injector keeps the last 1000).
type Event struct {
	API, Method, Path, Kind string
}

// Injector applies rules to wrapped handlers. Safe for concurrent use.
type Injector struct {
	seed int64

	mu       sync.Mutex
	rng      *rand.Rand
	rules    []Rule
	limiters []*rate.Limiter // per rule, for MaxRate (nil: none)
	expirers map[string]func(context.Context) error
	stats    map[string]int
	events   []Event

	closeOnce sync.Once
	closed    chan struct{}
}

// New returns an injector with no rules whose draws are seeded by seed.
func New(seed int64) *Injector {
	return &Injector{
		seed:     seed,
		rng:      rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15)),
		expirers: map[string]func(context.Context) error{},
		stats:    map[string]int{},
		closed:   make(chan struct{}),
	}
}

// Seed is the seed the injector was made with.
func (i *Injector) Seed() int64 { return i.seed }

// Set replaces the rules (they are not validated here: see Validate and
// ParseRules). The PRNG is not reseeded.
func (i *Injector) Set(rules []Rule) {
	i.mu.Lock()
	i.rules = append([]Rule(nil), rules...)
	i.limiters = make([]*rate.Limiter, len(rules))
	for n, r := range rules {
		if r.MaxRate > 0 {
			i.limiters[n] = rate.NewLimiter(rate.Limit(r.MaxRate), max(1, int(r.MaxRate)))
		}
	}
	i.mu.Unlock()
}

// Rules returns a copy of the rules.
func (i *Injector) Rules() []Rule {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]Rule{}, i.rules...)
}

// SetTokenExpirer registers how to expire every token of an API (for
// Cashlink: (*cashlink.Emulator).ExpireTokens).
func (i *Injector) SetTokenExpirer(api string, expire func(context.Context) error) {
	i.mu.Lock()
	i.expirers[api] = expire
	i.mu.Unlock()
}

// Stats counts the injected faults per kind.
func (i *Injector) Stats() map[string]int {
	i.mu.Lock()
	defer i.mu.Unlock()
	out := make(map[string]int, len(i.stats))
	for k, v := range i.stats {
		out[k] = v
	}
	return out
}

// Events returns the last injected faults, oldest first.
func (i *Injector) Events() []Event {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]Event{}, i.events...)
}

// Close releases hanging requests (they get a 503) and makes later hangs
// return at once. Call it before shutting the server down.
func (i *Injector) Close() { i.closeOnce.Do(func() { close(i.closed) }) }

// decision is what happens to one request.
type decision struct {
	rule        Rule
	before      string // "" or a Kind
	after       string // "" or a Kind
	expire      func(context.Context) error
	matchedRule bool
}

func (i *Injector) decide(api string, r *http.Request) decision {
	i.mu.Lock()
	defer i.mu.Unlock()
	var d decision
	var lim *rate.Limiter
	for n, rule := range i.rules {
		if rule.matches(api, r) {
			d.rule, d.matchedRule, lim = rule, true, i.limiters[n]
			break
		}
	}
	if !d.matchedRule {
		return d
	}
	u1, u2 := i.rng.Float64(), i.rng.Float64() // always two draws: see the package comment
	rl := d.rule
	// The before-shares take consecutive slices of [0, 1).
	hang, limit := rl.Hang, rl.Hang+rl.RateLimit
	e5xx, expire := limit+rl.Error5xx, limit+rl.Error5xx+rl.ExpireTokens
	switch {
	case u1 < hang:
		d.before = KindHang
	case u1 < limit:
		d.before = KindRateLimit
	case u1 < e5xx:
		d.before = KindError5xx
	case u1 < expire:
		d.before = KindExpireTokens
		d.expire = i.expirers[api]
	}
	if d.before == "" && lim != nil && !lim.Allow() {
		d.before = KindRateLimit
	}
	if d.before == "" {
		switch {
		case u2 < rl.Error5xxAfter:
			d.after = KindError5xxAft
		case u2 < rl.Error5xxAfter+rl.HangAfter:
			d.after = KindHangAfter
		}
	}
	for _, k := range []string{d.before, d.after} {
		if k != "" {
			i.stats[k]++
			i.events = append(i.events, Event{API: api, Method: r.Method, Path: r.URL.Path, Kind: k})
			if len(i.events) > 1000 {
				i.events = i.events[len(i.events)-1000:]
			}
		}
	}
	if rl.Latency > 0 {
		i.stats[KindLatency]++
	}
	return d
}

// Wrap applies the rules of api to next. Rule paths are relative to the API
// mount: put Wrap inside http.StripPrefix("/sandbox/<api>", ...) (outside
// works too: the prefix is ignored when matching).
func (i *Injector) Wrap(api string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := i.decide(api, r)
		if !d.matchedRule {
			next.ServeHTTP(w, r)
			return
		}
		if d.rule.Latency > 0 {
			bufferBody(r) // so the server notices a client leaving during the wait
		}
		if d.rule.Latency > 0 && !i.wait(r.Context(), d.rule.Latency) {
			if r.Context().Err() == nil { // closed while waiting
				writeDetail(w, http.StatusServiceUnavailable, "The sandbox is shutting down.")
			}
			return
		}
		switch d.before {
		case KindHang:
			i.hang(w, r)
			return
		case KindRateLimit:
			secs := max(1, int((d.rule.RetryAfter+time.Second-1)/time.Second))
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			writeDetail(w, http.StatusTooManyRequests, fmt.Sprintf("Request was throttled. Expected available in %d seconds.", secs))
			return
		case KindError5xx:
			writeDetail(w, status(d.rule), "Service temporarily unavailable (injected fault).")
			return
		case KindExpireTokens:
			if d.expire == nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="The access token has expired."`)
				writeDetail(w, http.StatusUnauthorized, "Token has expired.")
				return
			}
			if err := d.expire(r.Context()); err != nil {
				writeDetail(w, http.StatusInternalServerError, "Expiring the tokens failed: "+err.Error())
				return
			}
		}
		if d.after == "" {
			next.ServeHTTP(w, r)
			return
		}
		// Run the handler to completion into a discarded recorder: the
		// work is done, the answer is lost.
		next.ServeHTTP(&discard{h: http.Header{}}, r)
		if d.after == KindHangAfter {
			i.hang(w, r)
			return
		}
		writeDetail(w, status(d.rule), "Service temporarily unavailable (injected fault).")
	})
}

func status(r Rule) int {
	if r.Status != 0 {
		return r.Status
	}
	return http.StatusServiceUnavailable
}

// wait sleeps for d; false when the request or the injector ended first.
func (i *Injector) wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-i.closed:
		return false
	}
}

// bufferBody reads the request body (up to 64 MiB) into memory and puts
// it back, so the handler still gets it.
func bufferBody(r *http.Request) {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), r.Body))
}

// hang blocks until the client gives up or the injector closes.
func (i *Injector) hang(w http.ResponseWriter, r *http.Request) {
	// The server notices a client leaving only once the body is read.
	_, _ = io.Copy(io.Discard, r.Body)
	select {
	case <-r.Context().Done():
	case <-i.closed:
		writeDetail(w, http.StatusServiceUnavailable, "The sandbox is shutting down.")
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func writeDetail(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b, _ := jsonMarshal(map[string]string{"detail": msg})
	_, _ = w.Write(b)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
