package cashlink

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"issuerconsole/db"
	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fake is a minimal Cashlink: tokens valid until revoked, a few endpoints.
type fake struct {
	mu          sync.Mutex
	tokens      map[string]bool
	issued      atomic.Int32
	calls       atomic.Int32 // API calls other than the token endpoint
	bodies      []string
	keys        []string
	walletsBare bool
	fail503     int // answer this many creating calls with 503 first
}

func (f *fake) revokeAll() {
	f.mu.Lock()
	f.tokens = map[string]bool{}
	f.mu.Unlock()
}

func (f *fake) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/external/oauth/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.PostForm.Get("client_secret") != "cs-SECRET" || r.PostForm.Get("grant_type") != "client_credentials" {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"invalid_client"}`)
			return
		}
		n := f.issued.Add(1)
		tok := fmt.Sprintf("tok-SECRET-%d", n)
		f.mu.Lock()
		f.tokens[tok] = true
		f.mu.Unlock()
		time.Sleep(5 * time.Millisecond) // widen the window for concurrent fetches
		fmt.Fprintf(w, `{"access_token":%q,"expires_in":600,"token_type":"Bearer","scope":%q}`, tok, r.PostForm.Get("scope"))
	})
	api := http.NewServeMux()
	api.HandleFunc("GET /api/external/v2/investments/{id}/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"id":%q,"status":"PAID","units":300,"wallet":null,"investment_amount":{"amount":"3000000","decimals":3,"currency":"EUR"}}`, r.PathValue("id"))
	})
	api.HandleFunc("GET /api/external/v2/investors/{id}/wallets/", func(w http.ResponseWriter, r *http.Request) {
		if f.walletsBare {
			io.WriteString(w, `[{"id":"w-1","address":"0xabc"}]`)
		} else {
			io.WriteString(w, `{"count":1,"next":null,"previous":null,"results":[{"id":"w-1","address":"0xabc"}]}`)
		}
	})
	creating := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, string(b))
		f.keys = append(f.keys, r.Header.Get("X-Idempotency-Key"))
		fail := f.fail503 > 0
		if fail {
			f.fail503--
		}
		f.mu.Unlock()
		if fail {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(201)
		io.WriteString(w, `{"id":"new-1","status":"processing"}`)
	}
	api.HandleFunc("POST /api/external/v2/documents/", creating)
	api.HandleFunc("POST /api/external/v2/investments/{id}/credits/", creating)
	api.HandleFunc("POST /api/external/v2/redemptions/", creating)
	mux.Handle("/api/external/v2/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		f.mu.Lock()
		ok := f.tokens[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(401)
			io.WriteString(w, `{"detail":"Invalid token."}`)
			return
		}
		api.ServeHTTP(w, r)
	}))
	return mux
}

func setup(t *testing.T) (*Client, *fake, *clock, string) {
	t.Helper()
	f := &fake{tokens: map[string]bool{}}
	srv := httptest.NewServer(f.handler(t))
	t.Cleanup(srv.Close)
	path := filepath.Join(t.TempDir(), "console.db")
	d, err := db.Open(context.Background(), path, db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	clk := &clock{t: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	c, err := New(Options{BaseURL: srv.URL + "/api/external", ClientID: "cid", ClientSecret: "cs-SECRET", AllowHTTP: true,
		Audit: audit.NewStore(d, nil), Now: clk.Now, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	return c, f, clk, path
}

func TestTokenCachedRenewedAndRefreshedOn401(t *testing.T) {
	t.Parallel()
	c, f, clk, _ := setup(t)
	ctx := context.Background()
	for range 3 {
		if _, err := c.GetInvestment(ctx, "i-1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.issued.Load(); n != 1 {
		t.Fatalf("%d tokens for 3 calls, want 1 (cached)", n)
	}
	clk.Add(541 * time.Second) // 600 s token, renewed 60 s before expiry
	c.GetInvestment(ctx, "i-1")
	if n := f.issued.Load(); n != 2 {
		t.Fatalf("%d tokens after 541 s, want 2 (renewed before expiry)", n)
	}
	f.revokeAll() // the API forgets the token early (restart, revocation)
	if _, err := c.GetInvestment(ctx, "i-1"); err != nil {
		t.Fatalf("after revocation: %v (want one refresh and success)", err)
	}
	if n := f.issued.Load(); n != 3 {
		t.Fatalf("%d tokens, want 3", n)
	}
}

// Many goroutines with an empty cache share one token fetch (run with -race).
func TestTokenFetchIsSharedUnderConcurrency(t *testing.T) {
	t.Parallel()
	c, f, _, _ := setup(t)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.GetInvestment(context.Background(), "i-1")
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := f.issued.Load(); n != 1 {
		t.Fatalf("%d token fetches for 20 concurrent calls, want 1", n)
	}
	// And concurrent refreshes after a revocation also share one fetch.
	f.revokeAll()
	var wg2 sync.WaitGroup
	for range 10 {
		wg2.Add(1)
		go func() { defer wg2.Done(); c.GetInvestment(context.Background(), "i-1") }()
	}
	wg2.Wait()
	if n := f.issued.Load(); n > 3 {
		t.Fatalf("%d token fetches after one revocation, want at most a couple", n)
	}
}

func TestNoKeyNoCall(t *testing.T) {
	t.Parallel()
	c, f, _, _ := setup(t)
	ctx := context.Background()
	calls := []func() error{
		func() error {
			_, err := c.UploadDocument(ctx, "", "a.pdf", []byte("%PDF"), "application/pdf")
			return err
		},
		func() error { _, err := c.CreateInvestment(ctx, " ", NewInvestment{}); return err },
		func() error { _, err := c.Credit(ctx, "", "i-1"); return err },
		func() error { _, err := c.CreateRedemption(ctx, "", NewRedemption{}); return err },
		func() error { _, err := c.CreateInvestor(ctx, "", NewInvestor{}); return err },
		func() error { _, err := c.CreateGenericWallet(ctx, "", "inv", "0x"); return err },
		func() error { _, err := c.CreateManagedWallet(ctx, "", "inv"); return err },
	}
	for i, call := range calls {
		err := call()
		var ke *apiclient.KeyError
		if !errors.As(err, &ke) || apiclient.Classify(err) != apiclient.Rejected {
			t.Errorf("call %d: err %v, want a KeyError", i, err)
		}
	}
	if f.calls.Load() != 0 || f.issued.Load() != 0 {
		t.Fatalf("%d API calls and %d token fetches without keys, want none", f.calls.Load(), f.issued.Load())
	}
}

// The multipart body depends only on the key and the file, so a retry after
// a restart sends the same bytes; each attempt carries the same key.
func TestUploadIsByteIdenticalAcrossRetriesAndRestarts(t *testing.T) {
	t.Parallel()
	c, f, _, _ := setup(t)
	ctx := context.Background()
	f.fail503 = 2
	if _, err := c.UploadDocument(ctx, "job1-row1-doc0", "signed.pdf", []byte("%PDF-1.4 x"), "application/pdf"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UploadDocument(ctx, "job1-row1-doc0", "signed.pdf", []byte("%PDF-1.4 x"), "application/pdf"); err != nil {
		t.Fatal(err)
	}
	c.UploadDocument(ctx, "job1-row2-doc0", "signed.pdf", []byte("%PDF-1.4 x"), "application/pdf")
	if len(f.bodies) != 5 {
		t.Fatalf("%d attempts, want 3 (two 503s, one success) + 1 + 1", len(f.bodies))
	}
	for i := 1; i < 4; i++ {
		if f.bodies[i] != f.bodies[0] || f.keys[i] != "job1-row1-doc0" {
			t.Fatalf("attempt %d differs from the first (same key must mean same bytes)", i+1)
		}
	}
	if f.bodies[4] == f.bodies[0] {
		t.Fatal("another key produced the same multipart body")
	}
}

func TestWalletsBareArrayOrEnvelope(t *testing.T) {
	t.Parallel()
	for _, bare := range []bool{true, false} {
		c, f, _, _ := setup(t)
		f.walletsBare = bare
		ws, err := c.ListWallets(context.Background(), "inv-1")
		if err != nil || len(ws) != 1 || ws[0].ID != "w-1" {
			t.Fatalf("bare=%v: %+v %v", bare, ws, err)
		}
	}
}

func TestSecretsNeverReachTheAuditLog(t *testing.T) {
	t.Parallel()
	c, _, _, path := setup(t)
	ctx := context.Background()
	c.GetInvestment(ctx, "i-1")
	c.Credit(ctx, "k-credit", "i-1")
	raw, _ := os.ReadFile(path)
	wal, _ := os.ReadFile(path + "-wal")
	for _, s := range []string{"cs-SECRET", "tok-SECRET"} {
		if bytes.Contains(raw, []byte(s)) || bytes.Contains(wal, []byte(s)) {
			t.Errorf("%s reached the database", s)
		}
	}
}

func TestMoneyString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		m    Money
		want string
	}{
		{Money{"40000000", 3, "EUR"}, "40000.000 EUR"},
		{Money{"5", 2, "EUR"}, "0.05 EUR"},
		{Money{"-125", 2, "USD"}, "-1.25 USD"},
		{Money{"7", 0, ""}, "7"},
	} {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("%+v → %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestNewInvestmentBodyIsDeterministic(t *testing.T) {
	t.Parallel()
	at := time.Date(2021, 3, 12, 7, 14, 13, 630308000, time.UTC)
	in := NewInvestment{CampaignID: "c", InvestorID: "i", Units: 300, SignedAt: at, AcceptedAt: &at,
		SignedDocuments: []SignedDocument{{"d1", "category 1", "subject 1"}}}
	a, _ := json.Marshal(in)
	b, _ := json.Marshal(in)
	if !bytes.Equal(a, b) || !strings.Contains(string(a), `"signed_at":"2021-03-12T07:14:13.630308Z"`) {
		t.Fatalf("%s", a)
	}
}
