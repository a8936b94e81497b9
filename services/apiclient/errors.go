// Package apiclient is the shared core of the console's typed API clients:
// base URL rules, request building, JSON decoding, the typed errors every
// client returns, and the retry loop (backoff with jitter that waits on the
// context and honours Retry-After). The audit transport sits underneath, so
// every attempt is recorded.
package apiclient

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Sentinels for errors.Is; *Error matches the one its status implies.
var (
	ErrNotFound     = errors.New("not found")
	ErrUnauthorized = errors.New("not authorized")
	ErrForbidden    = errors.New("forbidden")
	ErrValidation   = errors.New("rejected as invalid")
	ErrConflict     = errors.New("conflict")
	ErrRateLimited  = errors.New("rate limited")
	ErrUpstream     = errors.New("upstream failure")
)

// Error is an error answer of an API.
type Error struct {
	API        string
	Method     string
	Path       string
	Status     int
	Detail     string              // DRF "detail", or a summary
	Fields     map[string][]string // DRF field errors (400)
	RequestID  string
	RetryAfter time.Duration // 429/503 with Retry-After
	Body       []byte        // capped raw body, for the log
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s: HTTP %d", e.API, e.Method, e.Path, e.Status)
	if e.Detail != "" {
		b.WriteString(": " + e.Detail)
	}
	if len(e.Fields) > 0 {
		b.WriteString(": " + e.FieldSummary())
	}
	return b.String()
}

// FieldSummary lists the field errors as "field: message; …", sorted.
func (e *Error) FieldSummary() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+strings.Join(e.Fields[k], " "))
	}
	return strings.Join(parts, "; ")
}

// Is maps the status to a sentinel.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized
	case ErrForbidden:
		return e.Status == http.StatusForbidden
	case ErrValidation:
		return e.Status == http.StatusBadRequest || e.Status == http.StatusUnprocessableEntity
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrRateLimited:
		return e.Status == http.StatusTooManyRequests
	case ErrUpstream:
		return e.Status >= 500
	}
	return false
}

// Outcome classifies what an error means for a write.
type Outcome int

const (
	// Done: the call succeeded.
	Done Outcome = iota
	// Rejected: the API answered 4xx; nothing was created. Fix and retry.
	Rejected
	// Unknown: 5xx, timeout or network error; the write may or may not have
	// happened. Retry with the same idempotency key, never a new one.
	Unknown
)

func (o Outcome) String() string { return [...]string{"done", "rejected", "unknown"}[o] }

// Classify returns the outcome of a call's error.
func Classify(err error) Outcome {
	if err == nil {
		return Done
	}
	var e *Error
	if errors.As(err, &e) && e.Status >= 400 && e.Status < 500 {
		switch e.Status {
		case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooManyRequests:
			// "Not now" (throttled, or the same key still in flight): the
			// request may yet be processed; retry it later with its key.
			return Unknown
		}
		return Rejected
	}
	var ke *KeyError
	if errors.As(err, &ke) {
		return Rejected // refused locally, nothing was sent
	}
	return Unknown
}

// KeyError is returned, without sending anything, when a creating call lacks
// an idempotency key.
type KeyError struct{ Op string }

func (e *KeyError) Error() string {
	return e.Op + ": an idempotency key is required (no key, no call)"
}

// decodeError reads a DRF-style error body: {"detail": "..."}, a field map
// {"field": ["message", ...]} (nested objects flattened with dots), or a list.
func decodeError(api string, req *http.Request, res *http.Response, body []byte) *Error {
	e := &Error{API: api, Method: req.Method, Path: req.URL.Path, Status: res.StatusCode,
		RequestID: res.Header.Get("X-Request-Id")}
	if len(body) > 4096 {
		e.Body = body[:4096]
	} else {
		e.Body = body
	}
	e.RetryAfter = ParseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	var v any
	if json.Unmarshal(body, &v) != nil {
		e.Detail = http.StatusText(res.StatusCode)
		return e
	}
	switch t := v.(type) {
	case map[string]any:
		if d, ok := t["detail"].(string); ok && len(t) == 1 {
			e.Detail = d
			return e
		}
		if d, ok := t["error"].(string); ok { // OAuth errors (RFC 6749 §5.2)
			e.Detail = d
			if desc, ok := t["error_description"].(string); ok {
				e.Detail += ": " + desc
			}
			return e
		}
		e.Fields = map[string][]string{}
		flatten("", t, e.Fields)
	case []any:
		e.Fields = map[string][]string{}
		flatten("non_field_errors", t, e.Fields)
	case string:
		e.Detail = t
	}
	return e
}

func flatten(prefix string, v any, out map[string][]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			flatten(key, val, out)
		}
	case []any:
		for i, val := range t {
			if s, ok := val.(string); ok {
				out[prefix] = append(out[prefix], s)
			} else {
				flatten(fmt.Sprintf("%s[%d]", prefix, i), val, out)
			}
		}
	case string:
		out[prefix] = append(out[prefix], t)
	default:
		b, _ := json.Marshal(t)
		out[prefix] = append(out[prefix], string(b))
	}
}
