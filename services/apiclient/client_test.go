package apiclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"issuerconsole/db"
	"issuerconsole/services/audit"
)

func newAudit(t *testing.T) *audit.Store {
	t.Helper()
	d, err := db.Open(context.Background(), filepath.Join(t.TempDir(), "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return audit.NewStore(d, nil)
}

type seen struct {
	mu       sync.Mutex
	keys     []string
	bodies   []string
	auths    []string
	attempts int
}

// scripted answers with the given statuses in turn (then 201), recording
// what each attempt carried.
func scripted(t *testing.T, statuses []int, headers map[string]string) (*httptest.Server, *seen) {
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.keys = append(s.keys, r.Header.Get("X-Idempotency-Key"))
		s.bodies = append(s.bodies, string(b))
		s.auths = append(s.auths, r.Header.Get("Authorization"))
		n := s.attempts
		s.attempts++
		s.mu.Unlock()
		if n < len(statuses) {
			for k, v := range headers {
				w.Header().Set(k, v)
			}
			w.WriteHeader(statuses[n])
			io.WriteString(w, `{"detail":"try later"}`)
			return
		}
		w.WriteHeader(201)
		io.WriteString(w, `{"id":"x-1"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func newClient(t *testing.T, base string, st *audit.Store, sl *sleeps, mut ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{API: "cashlink", BaseURL: base, AllowHTTP: true, Audit: st, Policy: audit.WritesInFull, LinkMarker: "v2/",
		Retry: RetryPolicy{MaxAttempts: 4, BaseDelay: 100 * time.Millisecond, MaxDelay: 5 * time.Second, RetryConflict: true}}
	if sl != nil {
		cfg.Sleep = sl.sleep
	}
	for _, m := range mut {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func post(c *Client, key string) Request {
	return Request{Method: "POST", URL: c.Resolve("v2/investments/", nil), Body: []byte(`{"units":300}`),
		ContentType: "application/json", IdempotencyKey: key, Idempotent: key != ""}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		statuses []int
		headers  map[string]string
		idem     bool
		attempts int
		outcome  Outcome
		waits    []time.Duration // exact waits, when Retry-After decides
	}{
		{"503 then success", []int{503, 503}, nil, true, 3, Done, nil},
		{"429 honours Retry-After", []int{429}, map[string]string{"Retry-After": "3"}, true, 2, Done, []time.Duration{3 * time.Second}},
		{"Retry-After capped", []int{503}, map[string]string{"Retry-After": "3600"}, true, 2, Done, []time.Duration{5 * time.Second}},
		{"409 in flight, retried", []int{409}, nil, true, 2, Done, nil},
		{"502 504", []int{502, 504}, nil, true, 3, Done, nil},
		{"gives up after 4 attempts", []int{503, 503, 503, 503, 503}, nil, true, 4, Unknown, nil},
		{"429 outlasting the retries is not a rejection", []int{429, 429, 429, 429, 429}, nil, true, 4, Unknown, nil},
		{"409 in flight outlasting the retries", []int{409, 409, 409, 409, 409}, nil, true, 4, Unknown, nil},
		{"400 never retried", []int{400}, nil, true, 1, Rejected, nil},
		{"500 not retried", []int{500}, nil, true, 1, Unknown, nil},
		{"422 never retried", []int{422}, nil, true, 1, Rejected, nil},
		{"no key, no retry", []int{503}, nil, false, 1, Unknown, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, s := scripted(t, tt.statuses, tt.headers)
			st := newAudit(t)
			sl := &sleeps{}
			c := newClient(t, srv.URL+"/api/external", st, sl)
			key := ""
			if tt.idem {
				key = "job1-row2-invest"
			}
			var out struct{ ID string }
			_, err := c.Do(context.Background(), post(c, key), &out)
			if got := Classify(err); got != tt.outcome {
				t.Fatalf("outcome %v (err %v), want %v", got, err, tt.outcome)
			}
			if s.attempts != tt.attempts {
				t.Fatalf("%d attempts, want %d", s.attempts, tt.attempts)
			}
			for i := range s.keys {
				if s.keys[i] != key || s.bodies[i] != `{"units":300}` {
					t.Fatalf("attempt %d sent key %q body %q: must be identical every time", i+1, s.keys[i], s.bodies[i])
				}
			}
			if tt.outcome == Done && out.ID != "x-1" {
				t.Fatalf("decoded %+v", out)
			}
			if len(sl.d) != tt.attempts-1 && tt.outcome == Done {
				t.Fatalf("%d waits for %d attempts", len(sl.d), tt.attempts)
			}
			for i, w := range tt.waits {
				if sl.d[i] != w {
					t.Fatalf("wait %d = %s, want %s", i, sl.d[i], w)
				}
			}
			// One audit row per attempt, numbered.
			p, _ := st.List(context.Background(), audit.Filter{}, 0, 50)
			if len(p.Entries) != tt.attempts {
				t.Fatalf("%d audit rows for %d attempts", len(p.Entries), tt.attempts)
			}
			for i, e := range p.Entries {
				if want := tt.attempts - i; e.Attempt != want || e.IdempotencyKey != key {
					t.Fatalf("audit row %d: attempt %d key %q, want attempt %d", e.ID, e.Attempt, e.IdempotencyKey, want)
				}
			}
		})
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	t.Parallel()
	srv, _ := scripted(t, []int{503, 503, 503}, nil)
	sl := &sleeps{}
	c := newClient(t, srv.URL+"/", newAudit(t), sl)
	if _, err := c.Do(context.Background(), post(c, "k"), nil); err != nil {
		t.Fatal(err)
	}
	for i, d := range sl.d {
		lo := time.Duration(float64(100*time.Millisecond<<i) * 0.75)
		hi := 100 * time.Millisecond << i
		if d < lo || d > hi {
			t.Fatalf("wait %d = %s, want within [%s, %s]", i, d, lo, hi)
		}
	}
}

// Cancelling the context ends the wait between attempts at once.
func TestCancelStopsBackoff(t *testing.T) {
	t.Parallel()
	srv, s := scripted(t, []int{503, 503, 503, 503}, map[string]string{"Retry-After": "60"})
	c := newClient(t, srv.URL+"/", newAudit(t), nil, func(cfg *Config) { cfg.Retry.MaxDelay = time.Minute })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.Do(ctx, post(c, "k"), nil); done <- err }()
	for {
		s.mu.Lock()
		n := s.attempts
		s.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ErrUpstream) || !strings.Contains(err.Error(), "gave up waiting") {
			t.Fatalf("err = %v", err)
		}
	case <-time.After(30 * time.Second): // bounds a failure
		t.Fatal("Do kept waiting for Retry-After after the context was cancelled")
	}
	if s.attempts != 1 {
		t.Fatalf("%d attempts after cancel", s.attempts)
	}
}

func TestReauthorizeOnceOn401(t *testing.T) {
	t.Parallel()
	srv, s := scripted(t, []int{401, 401}, nil)
	var refreshes int
	token := "old"
	c := newClient(t, srv.URL+"/", newAudit(t), &sleeps{}, func(cfg *Config) {
		cfg.Authorize = func(_ context.Context, r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+token)
			return nil
		}
		cfg.Reauthorize = func(_ context.Context, refused *http.Request) bool {
			if refused.Header.Get("Authorization") != "Bearer old" {
				t.Errorf("refused request carried %q", refused.Header.Get("Authorization"))
			}
			refreshes++
			token = "new"
			return true
		}
	})
	_, err := c.Do(context.Background(), post(c, "k"), nil)
	if !errors.Is(err, ErrUnauthorized) || refreshes != 1 || s.attempts != 2 {
		t.Fatalf("err %v, %d refreshes, %d attempts; want one refresh and a 401 after it", err, refreshes, s.attempts)
	}
	if s.auths[0] != "Bearer old" || s.auths[1] != "Bearer new" {
		t.Fatalf("authorizations %v", s.auths)
	}
}

func TestNewRules(t *testing.T) {
	t.Parallel()
	st := newAudit(t)
	for _, tt := range []struct {
		base      string
		allowHTTP bool
		ok        bool
	}{
		{"https://api.issuance.com", false, true},
		{"http://api.issuance.com", false, false},
		{"http://127.0.0.1:8080/sandbox/issuance/", true, true},
		{"/relative", true, false},
		{"ftp://x", true, false},
	} {
		_, err := New(Config{API: "issuance", BaseURL: tt.base, AllowHTTP: tt.allowHTTP, Audit: st})
		if (err == nil) != tt.ok {
			t.Errorf("%s (allowHTTP %v): err %v", tt.base, tt.allowHTTP, err)
		}
	}
	if _, err := New(Config{API: "issuance", BaseURL: "https://x"}); err == nil {
		t.Error("a client without audit store was built")
	}
}

func TestRebase(t *testing.T) {
	t.Parallel()
	st := newAudit(t)
	c, _ := New(Config{API: "issuance", BaseURL: "https://gw.example.com/issuance", Audit: st, LinkMarker: "api/"})
	got, err := c.Rebase("http://10.0.0.5:8000/api/investments/?page=3&status=accepted")
	if err != nil || got.String() != "https://gw.example.com/issuance/api/investments/?page=3&status=accepted" {
		t.Fatalf("rebased %v %v", got, err)
	}
	if _, err := c.Rebase("http://x/elsewhere/"); err == nil {
		t.Fatal("a link outside the API was accepted")
	}
}

func TestDecodeError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		body   string
		detail string
		fields string
	}{
		{`{"detail":"Not found."}`, "Not found.", ""},
		{`{"id":["Enter a number."],"status":["Select a valid choice."]}`, "", "id: Enter a number.; status: Select a valid choice."},
		{`{"natural_person":{"surname":["This field is required."]}}`, "", "natural_person.surname: This field is required."},
		{`["Insufficient balance."]`, "", "non_field_errors: Insufficient balance."},
		{`{"error":"invalid_client"}`, "invalid_client", ""},
		{`<html>oops</html>`, "Bad Request", ""},
	}
	for _, tt := range tests {
		res := &http.Response{StatusCode: 400, Header: http.Header{}}
		req, _ := http.NewRequest("GET", "http://x/api/", nil)
		e := decodeError("issuance", req, res, []byte(tt.body))
		if e.Detail != tt.detail || e.FieldSummary() != tt.fields {
			t.Errorf("%s: detail %q fields %q", tt.body, e.Detail, e.FieldSummary())
		}
	}
}

// OnThrottle hears of every 429 and of 503s with Retry-After (the import
// engine slows all its workers down); a bare 503 or a 502 is no such signal.
func TestOnThrottle(t *testing.T) {
	for _, tt := range []struct {
		name     string
		statuses []int
		headers  map[string]string
		want     []time.Duration
	}{
		{"429 with Retry-After", []int{429}, map[string]string{"Retry-After": "2"}, []time.Duration{2 * time.Second}},
		{"429 without", []int{429, 429}, nil, []time.Duration{0, 0}},
		{"503 with Retry-After", []int{503}, map[string]string{"Retry-After": "1"}, []time.Duration{time.Second}},
		{"bare 503 and 502", []int{503, 502}, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := scripted(t, tt.statuses, tt.headers)
			var mu sync.Mutex
			var got []time.Duration
			c := newClient(t, srv.URL, newAudit(t), &sleeps{}, func(cfg *Config) {
				cfg.OnThrottle = func(d time.Duration) { mu.Lock(); got = append(got, d); mu.Unlock() }
			})
			if _, err := c.Do(context.Background(), post(c, "k1"), nil); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("OnThrottle heard %v, want %v", got, tt.want)
			}
		})
	}
}

// Reads decode the bytes the audit transport read (handed over, not copied
// again) while the background writer summarises the same bytes for the
// log: concurrent calls each get their own answer, and each row its own
// summary (run under -race in make test).
func TestConcurrentReadsShareTheAnswerWithTheLog(t *testing.T) {
	t.Parallel()
	st := newAudit(t)
	st.StartWriter(audit.WriterOptions{})
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("id")
		fmt.Fprintf(w, `{"count":1,"next":null,"previous":null,"results":[{"id":%s,"pad":%q}]}`, id, strings.Repeat(id, 3000))
	}))
	t.Cleanup(srv.Close)
	c := newClient(t, srv.URL, st, nil, func(cfg *Config) { cfg.Policy = audit.SummaryOnly })
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			var out struct {
				Results []struct {
					ID  int
					Pad string
				}
			}
			id := strconv.Itoa(100 + i)
			req := Request{Method: "GET", URL: c.Resolve("v2/investments/", url.Values{"id": {id}}), Idempotent: true}
			if _, err := c.Do(context.Background(), req, &out); err != nil {
				t.Error(err)
				return
			}
			if len(out.Results) != 1 || strconv.Itoa(out.Results[0].ID) != id || out.Results[0].Pad != strings.Repeat(id, 3000) {
				t.Errorf("call %s decoded %d results", id, len(out.Results))
			}
		})
	}
	wg.Wait()
	page, err := st.List(context.Background(), audit.Filter{}, 0, 100) // writes the queue
	if err != nil || len(page.Entries) != 16 {
		t.Fatalf("%d rows, err %v", len(page.Entries), err)
	}
	for _, e := range page.Entries {
		e, _ := st.Get(context.Background(), e.ID) // List leaves the bodies out
		id := e.Path[strings.Index(e.Path, "id=")+3:]
		if want := `{"count":1,"ids":[` + id + `]}`; e.ResponseBody != want {
			t.Errorf("row for %s keeps %q, want %q", e.Path, e.ResponseBody, want)
		}
	}
}
