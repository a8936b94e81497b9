package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"issuerconsole/config"
)

func startConfig(t *testing.T, args ...string) config.Config {
	t.Helper()
	cfg, err := config.Parse(append([]string{"-data", t.TempDir(), "-addr", "127.0.0.1:0", "-sandbox-investments", "300"}, args...),
		func(k string) string {
			return map[string]string{"ADMIN_EMAIL": "admin@example.com", "ADMIN_PASSWORD": "correct horse battery"}[k]
		}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func serveOnce(h http.Handler, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", target, nil)
	req.Header.Set("Authorization", "Api-Key "+SandboxIssuanceKey)
	h.ServeHTTP(rec, req)
	return rec
}

func healthState(t *testing.T, h http.Handler) (int, map[string]string) {
	t.Helper()
	rec := serveOnce(h, "/healthz")
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("healthz body %q: %v", rec.Body, err)
	}
	return rec.Code, body
}

// TestBackgroundStart: with Options.Background, New returns before the
// sandbox's data set and the first admin exist; /healthz answers at once
// (200, "state": "preparing"), other requests wait for the work (or, past
// the wait, get a 503 page that reloads itself), then everything works.
func TestBackgroundStart(t *testing.T) {
	t.Parallel()
	hold := make(chan struct{})
	a, err := New(context.Background(), startConfig(t), &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, slog.New(slog.DiscardHandler), io.Discard,
		Options{BcryptCost: bcrypt.MinCost, Background: true, holdStart: hold})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	h := a.Handler()

	code, body := healthState(t, h)
	if code != http.StatusOK || body["status"] != "ok" || body["mode"] != "sandbox" || body["state"] != "preparing" {
		t.Fatalf("healthz while preparing: %d %v", code, body)
	}
	if n, err := a.Accounts.Count(context.Background()); err != nil || n != 0 {
		t.Fatalf("users before the start-up work: %d %v", n, err)
	}
	a.readyWait = time.Nanosecond // the page a request gets when the work takes long
	rec := serveOnce(h, "/signin")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "Preparing") {
		t.Fatalf("request past the wait: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	a.readyWait = time.Hour // requests wait for the work (it ends when hold is closed)

	type answer struct {
		code int
		body string
	}
	answers := make(chan answer, 1)
	go func() {
		rec := serveOnce(h, "/sandbox/issuance/api/offerings/?page_size=1")
		answers <- answer{rec.Code, rec.Body.String()}
	}()
	close(hold)
	if got := <-answers; got.code != http.StatusOK || !strings.Contains(got.body, `"count"`) {
		t.Fatalf("sandbox request made while preparing: %d %s", got.code, got.body)
	}
	if n, err := a.Accounts.Count(context.Background()); err != nil || n != 1 {
		t.Fatalf("users after the start-up work: %d %v", n, err)
	}
	code, body = healthState(t, h)
	if _, has := body["state"]; code != http.StatusOK || body["status"] != "ok" || has {
		t.Fatalf("healthz when ready: %d %v", code, body)
	}
}

// TestBackgroundStartFailure: start-up work that fails makes /healthz 503,
// pages a 503, and Serve return the error (the process exits with it, as
// when the sandbox was opened before listening).
func TestBackgroundStartFailure(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"offerings":[{"id":1}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := startConfig(t, "-sandbox-fixture", bad)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, ln.Addr(), slog.New(slog.DiscardHandler), io.Discard,
		Options{BcryptCost: bcrypt.MinCost, Background: true})
	if err != nil {
		t.Fatalf("New waited for the sandbox: %v", err)
	}
	defer a.Close()
	err = a.Serve(context.Background(), ln)
	if err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Fatalf("Serve: %v, want the fixture's error", err)
	}
	h := a.Handler()
	if code, body := healthState(t, h); code != http.StatusServiceUnavailable || body["status"] == "ok" {
		t.Fatalf("healthz after a failed start: %d %v", code, body)
	}
	if rec := serveOnce(h, "/signin"); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("page after a failed start: %d", rec.Code)
	}
}
