package issuance

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"issuerconsole/db"
	"issuerconsole/sandbox/firebase"
	emu "issuerconsole/sandbox/issuance"
	"issuerconsole/services/audit"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// The client exchanges the refresh token for an ID token (Secure Token
// protocol, expires_in a string), renews it before it expires, and once
// more when the API answers 401 (a token expired early, e.g. after the
// server restarted); the token never reaches the audit log.
func TestFirebaseTokensRenew(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clk := &fakeClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	serverClk := &fakeClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	fb := firebase.New(time.Hour, serverClk.Now)
	sd, err := db.OpenRaw(ctx, filepath.Join(t.TempDir(), "sandbox.db"), db.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	e, err := emu.Open(ctx, sd, emu.Options{Seed: 2, Investments: 50, VerifyToken: fb.Verify})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var exchanges, refused int
	mux := http.NewServeMux()
	mux.Handle("/firebase/", http.StripPrefix("/firebase", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		exchanges++
		mu.Unlock()
		fb.Handler().ServeHTTP(w, r)
	})))
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		e.Handler().ServeHTTP(rec, r)
		if rec.Code == http.StatusUnauthorized {
			mu.Lock()
			refused++
			mu.Unlock()
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st := audit.NewStore(d, nil)
	c, err := New(Options{BaseURL: srv.URL + "/", APIKey: emu.DefaultAPIKey, AllowHTTP: true, Audit: st,
		FirebaseAPIKey: firebase.DefaultAPIKey, FirebaseRefreshToken: firebase.DefaultRefreshToken, FirebaseTokenURL: srv.URL + "/firebase/v1/token"})
	if err != nil {
		t.Fatal(err)
	}
	c.tokens.now = clk.Now
	counts := func() (int, int) { mu.Lock(); defer mu.Unlock(); return exchanges, refused }
	investors := func(step string) {
		t.Helper()
		if _, err := c.ListInvestorsQuery(ctx, url.Values{}); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	investors("first call")
	investors("second call")
	if x, r := counts(); x != 1 || r != 0 {
		t.Fatalf("two calls: %d exchanges, %d refusals; want 1, 0", x, r)
	}
	clk.Advance(59 * time.Minute)
	serverClk.Advance(59 * time.Minute) // within the last tenth of the hour (capped at a minute): renewed before use
	investors("near expiry")
	if x, r := counts(); x != 2 || r != 0 {
		t.Fatalf("near expiry: %d exchanges, %d refusals; want 2, 0", x, r)
	}
	// The token expires early by the server's clock (skew): the 401 makes
	// the client exchange once more and resend.
	serverClk.Advance(2 * time.Hour)
	investors("after the server expired the token")
	if x, r := counts(); x != 3 || r != 1 {
		t.Fatalf("after a 401: %d exchanges, %d refusals; want 3, 1", x, r)
	}
	// Api-Key endpoints do not touch the token.
	if _, err := c.ListOfferings(ctx, OfferingFilter{}, PageOpts{}); err != nil {
		t.Fatal(err)
	}
	if x, _ := counts(); x != 3 {
		t.Fatalf("an Api-Key call exchanged a token")
	}
	var logged int
	rows, err := d.Query(`SELECT path || coalesce(request_body, '') || coalesce(response_body, '') FROM audit_log`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		rows.Scan(&s)
		logged++
		if strings.Contains(s, firebase.DefaultRefreshToken) || strings.Contains(s, firebase.DefaultAPIKey) || strings.Contains(s, "sandbox-id-token-") {
			t.Fatalf("a Firebase secret in the audit log: %s", s)
		}
	}
	if logged == 0 {
		t.Fatal("nothing audited")
	}

	bad, err := New(Options{BaseURL: srv.URL + "/", APIKey: emu.DefaultAPIKey, AllowHTTP: true, Audit: st,
		FirebaseAPIKey: firebase.DefaultAPIKey, FirebaseRefreshToken: "revoked", FirebaseTokenURL: srv.URL + "/firebase/v1/token"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.ListInvestorsQuery(ctx, url.Values{}); err == nil || !strings.Contains(err.Error(), "INVALID_REFRESH_TOKEN") {
		t.Fatalf("a revoked refresh token: %v", err)
	}
}
