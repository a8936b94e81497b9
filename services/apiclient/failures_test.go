package apiclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"issuerconsole/services/audit"
)

// hangUp reads each request, records it, and closes the connection without
// answering: the write may or may not have reached the API.
func hangUp(t *testing.T) (*httptest.Server, *seen, *[][]byte) {
	s := &seen{}
	var raw [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.keys = append(s.keys, r.Header.Get("X-Idempotency-Key"))
		raw = append(raw, b)
		s.attempts++
		s.mu.Unlock()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}))
	t.Cleanup(srv.Close)
	return srv, s, &raw
}

func TestNetworkErrorRetriedWithSameKeyAndBody(t *testing.T) {
	t.Parallel()
	// Not plain ASCII, so a re-encoding between attempts would show.
	body := []byte("{\"name\":\"J\u00f6rg M\u00fcller\",\"units\":300}")
	for _, tt := range []struct {
		name     string
		key      string
		attempts int
	}{
		{"with a key: retried, then unknown", "job1-row2-invest", 4},
		{"without a key: sent once, still unknown", "", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, s, raw := hangUp(t)
			st := newAudit(t)
			sl := &sleeps{}
			c := newClient(t, srv.URL+"/", st, sl)
			req := Request{Method: "POST", URL: c.Resolve("v2/investments/", nil), Body: body,
				ContentType: "application/json", IdempotencyKey: tt.key, Idempotent: tt.key != ""}
			_, err := c.Do(context.Background(), req, nil)
			if err == nil {
				t.Fatal("a call without an answer succeeded")
			}
			var apiErr *Error
			if errors.As(err, &apiErr) {
				t.Fatalf("no answer was turned into an API answer: %v", err)
			}
			if got := Classify(err); got != Unknown {
				t.Fatalf("outcome %v (err %v), want unknown: the write may have happened", got, err)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.attempts != tt.attempts || len(sl.d) != tt.attempts-1 {
				t.Fatalf("%d attempts, %d waits; want %d attempts", s.attempts, len(sl.d), tt.attempts)
			}
			for i := range *raw {
				if s.keys[i] != tt.key || !bytes.Equal((*raw)[i], body) {
					t.Fatalf("attempt %d sent key %q body %q: must be identical every time", i+1, s.keys[i], (*raw)[i])
				}
			}
			p, _ := st.List(context.Background(), audit.Filter{}, 0, 50)
			if len(p.Entries) != tt.attempts {
				t.Fatalf("%d audit rows for %d attempts", len(p.Entries), tt.attempts)
			}
			for i, e := range p.Entries {
				if e.Attempt != tt.attempts-i || e.Status != 0 || e.Error == "" || e.IdempotencyKey != tt.key {
					t.Fatalf("audit row %+v: want attempt %d, no status, an error and the key", e, tt.attempts-i)
				}
			}
		})
	}
}

// slow answers only after the caller has given up (or 5 s).
func slow(t *testing.T) (*httptest.Server, *seen) {
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // the server notices a hang-up only once the body is read
		s.mu.Lock()
		s.keys = append(s.keys, r.Header.Get("X-Idempotency-Key"))
		s.attempts++
		s.mu.Unlock()
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second): // bounds a failure
		}
		w.WriteHeader(201)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

// The client's per-attempt Timeout ends an attempt as "unknown"; retries are
// bounded by the policy and keep the key.
func TestClientTimeoutIsUnknown(t *testing.T) {
	t.Parallel()
	srv, s := slow(t)
	st := newAudit(t)
	sl := &sleeps{}
	c := newClient(t, srv.URL+"/", st, sl, func(cfg *Config) {
		cfg.Timeout = 50 * time.Millisecond
		cfg.Retry.MaxAttempts = 2
	})
	start := time.Now()
	_, err := c.Do(context.Background(), post(c, "k-timeout"), nil)
	if time.Since(start) > 4*time.Second {
		t.Fatalf("Do waited %s: the timeout did not end the attempts", time.Since(start))
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if got := Classify(err); got != Unknown {
		t.Fatalf("outcome %v, want unknown", got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempts != 2 || s.keys[0] != "k-timeout" || s.keys[1] != "k-timeout" {
		t.Fatalf("%d attempts with keys %v; want 2 with the same key", s.attempts, s.keys)
	}
	p, _ := st.List(context.Background(), audit.Filter{}, 0, 10)
	if len(p.Entries) != 2 || p.Entries[0].Status != 0 || p.Entries[0].Error == "" {
		t.Fatalf("audit rows %+v: want two unanswered attempts", p.Entries)
	}
}

// Once the caller's context has ended, the loop neither waits nor sends
// again, even if Sleep ignored the context.
func TestContextDeadlineStopsRetries(t *testing.T) {
	t.Parallel()
	srv, s := slow(t)
	st := newAudit(t)
	var waits int
	c := newClient(t, srv.URL+"/", st, nil, func(cfg *Config) {
		cfg.Timeout = time.Minute
		cfg.Sleep = func(context.Context, time.Duration) error { waits++; return nil } // breaks the contract on purpose
	})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, post(c, "k-deadline"), nil)
	if !errors.Is(err, context.DeadlineExceeded) || Classify(err) != Unknown {
		t.Fatalf("err = %v (outcome %v), want a deadline, unknown", err, Classify(err))
	}
	p, _ := st.List(context.Background(), audit.Filter{}, 0, 10)
	s.mu.Lock()
	defer s.mu.Unlock()
	if waits != 0 || s.attempts != 1 || len(p.Entries) != 1 {
		t.Fatalf("%d waits, %d attempts, %d audit rows after the deadline; want 0, 1, 1", waits, s.attempts, len(p.Entries))
	}
	if !strings.HasPrefix(p.Entries[0].Error, "timeout:") {
		t.Fatalf("audit row error %q, want it marked as a timeout", p.Entries[0].Error)
	}
}

// Every status maps to exactly one sentinel (or none), and to the outcome
// a caller acts on.
func TestStatusSentinelsAndOutcomes(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.Trim(r.URL.Path, "/"))
		w.WriteHeader(code)
		io.WriteString(w, `{"detail":"scripted"}`)
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL+"/", newAudit(t), &sleeps{}, func(cfg *Config) { cfg.Retry.MaxAttempts = 1 })

	sentinels := map[string]error{
		"ErrNotFound": ErrNotFound, "ErrUnauthorized": ErrUnauthorized, "ErrForbidden": ErrForbidden,
		"ErrValidation": ErrValidation, "ErrConflict": ErrConflict, "ErrRateLimited": ErrRateLimited,
		"ErrUpstream": ErrUpstream,
	}
	tests := []struct {
		status   int
		sentinel string // "" = none
		outcome  Outcome
	}{
		{400, "ErrValidation", Rejected},
		{401, "ErrUnauthorized", Rejected},
		{403, "ErrForbidden", Rejected},
		{404, "ErrNotFound", Rejected},
		{408, "", Unknown}, // the API gave up waiting: the write may still land
		{409, "ErrConflict", Unknown},
		{410, "", Rejected},
		{422, "ErrValidation", Rejected},
		{429, "ErrRateLimited", Unknown},
		{500, "ErrUpstream", Unknown},
		{502, "ErrUpstream", Unknown},
		{503, "ErrUpstream", Unknown},
		{504, "ErrUpstream", Unknown},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			req := post(c, "")
			req.URL = c.Resolve(strconv.Itoa(tt.status)+"/", nil)
			_, err := c.Do(context.Background(), req, nil)
			var apiErr *Error
			if !errors.As(err, &apiErr) || apiErr.Status != tt.status {
				t.Fatalf("err = %v, want an *Error with status %d", err, tt.status)
			}
			for name, s := range sentinels {
				if got := errors.Is(err, s); got != (name == tt.sentinel) {
					t.Errorf("errors.Is(err, %s) = %v", name, got)
				}
			}
			// Wrapping, as callers do, keeps both answers.
			wrapped := fmt.Errorf("import row 3: %w", err)
			if got := Classify(wrapped); got != tt.outcome {
				t.Errorf("outcome %v, want %v", got, tt.outcome)
			}
			if tt.sentinel != "" && !errors.Is(wrapped, sentinels[tt.sentinel]) {
				t.Errorf("wrapped error lost %s", tt.sentinel)
			}
		})
	}

	if Classify(nil) != Done || Classify(&KeyError{Op: "create investment"}) != Rejected {
		t.Error("nil must be done, a refused-locally call rejected")
	}
}
