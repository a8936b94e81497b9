package cashlink

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"issuerconsole/db"
)

// clock is an injected, manually advanced clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is an emulator on a temporary sandbox.db, served by a loopback
// server mounted exactly as the lead mounts it.
type env struct {
	t    *testing.T
	path string
	d    *sql.DB
	e    *Emulator
	clk  *clock
	opts Options
	srv  *httptest.Server
	root string // the API root, as a client is configured
	info Info
	tok  string // a token with every scope
}

// mount serves the emulator under /sandbox/cashlink as the lead does.
func mount(e *Emulator) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/sandbox/cashlink/", http.StripPrefix("/sandbox/cashlink", e.Handler()))
	mux.Handle("/sandbox/cashlink/_info", e.InfoHandler())
	return mux
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	v := &env{t: t, path: filepath.Join(t.TempDir(), "sandbox.db"), clk: newClock()}
	if opts.Now == nil {
		opts.Now = v.clk.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	v.opts = opts
	v.open()
	t.Cleanup(func() { v.close() })
	return v
}

func (v *env) open() {
	t := v.t
	t.Helper()
	ctx := context.Background()
	d, err := db.OpenRaw(ctx, v.path, db.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	v.d = d
	v.e, err = Open(ctx, d, v.opts)
	if err != nil {
		t.Fatal(err)
	}
	v.srv = httptest.NewServer(mount(v.e))
	v.root = v.srv.URL + "/sandbox/cashlink/api/external"
	r := v.do("GET", v.srv.URL+"/sandbox/cashlink/_info", "", nil, nil)
	if r.status != 200 {
		t.Fatalf("_info: %d %s", r.status, r.body)
	}
	v.info = Info{}
	if err := json.Unmarshal(r.body, &v.info); err != nil {
		t.Fatal(err)
	}
	v.tok = v.token()
}

func (v *env) close() {
	if v.srv != nil {
		v.srv.Close()
		v.srv = nil
	}
	if v.d != nil {
		v.d.Close()
		v.d = nil
	}
}

// reopen simulates a restart on the same database file.
func (v *env) reopen() {
	v.close()
	v.open()
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// obj decodes the body as a JSON object.
func (r resp) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// do sends a request; body is []byte (sent as is), url.Values (a form),
// or anything else (JSON). Relative URLs are taken from the API root.
func (v *env) do(method, u, tok string, body any, hdr map[string]string) resp {
	v.t.Helper()
	if !strings.HasPrefix(u, "http") {
		u = v.root + u
	}
	var rd io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	case url.Values:
		rd, ctype = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			v.t.Fatal(err)
		}
		rd, ctype = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		v.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, val := range hdr {
		req.Header.Set(k, val)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// Concurrency tests call do from their own goroutines, where t.Fatal is
	// not allowed: a failed exchange is an error and an empty answer (status
	// 0), which every caller's status check then reports too.
	res, err := c.Do(req)
	if err != nil {
		v.t.Errorf("%s %s: %v", method, u, err)
		return resp{}
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		v.t.Errorf("%s %s: reading the answer: %v", method, u, err)
		return resp{}
	}
	return resp{res.StatusCode, res.Header, b}
}

// token fetches a token with the given scopes (none = every scope).
func (v *env) token(scopes ...string) string {
	v.t.Helper()
	f := url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}
	if len(scopes) > 0 {
		f.Set("scope", strings.Join(scopes, " "))
	}
	r := v.do("POST", "/oauth/token", "", f, nil)
	if r.status != 200 {
		v.t.Fatalf("token: %s", r)
	}
	return r.obj(v.t)["access_token"].(string)
}

// post is an authorised creating call with a key ("" = none).
func (v *env) post(path, key string, body any) resp {
	v.t.Helper()
	h := map[string]string{}
	if key != "" {
		h[IdempotencyHeader] = key
	}
	return v.do("POST", path, v.tok, body, h)
}

func (v *env) get(path string) resp {
	v.t.Helper()
	return v.do("GET", path, v.tok, nil, nil)
}

// multipartBody is a document upload body with a fixed boundary.
func multipartBody(t *testing.T, field, filename, ctype string, content []byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if err := mw.SetBoundary("testboundary0123456789"); err != nil {
		t.Fatal(err)
	}
	h := make(map[string][]string)
	h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename)}
	if ctype != "" {
		h["Content-Type"] = []string{ctype}
	}
	w, err := mw.CreatePart(h)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content)
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

// upload posts a document and returns its id.
func (v *env) upload(key string, content []byte) string {
	v.t.Helper()
	body, ct := multipartBody(v.t, "file", "signed.pdf", "application/pdf", content)
	h := map[string]string{"Content-Type": ct}
	if key != "" {
		h[IdempotencyHeader] = key
	}
	r := v.do("POST", "/v2/documents/", v.tok, body, h)
	if r.status != 201 {
		v.t.Fatalf("upload: %s", r)
	}
	return r.obj(v.t)["id"].(string)
}

// ids of the seeded data.
func (v *env) campaign() string { return v.info.Campaigns[0].ID } // active, 1..100000 units
func (v *env) product() string  { return v.info.Products[0].ID }
func (v *env) investor() InfoInvestor {
	return v.info.Investors[0]
}

// investmentBody is a valid import of units for the first seeded investor.
func (v *env) investmentBody(units int, docID string) map[string]any {
	return map[string]any{
		"campaign_id": v.campaign(), "investor_id": v.investor().ID, "units": units,
		"signed_at":        "2021-03-12T07:14:13.630308+00:00",
		"accepted_at":      "2021-03-12T07:14:13.630308+00:00",
		"paid_at":          "2021-03-12T07:14:13.630308+00:00",
		"signed_documents": []map[string]any{{"document_id": docID, "category": "category 1", "subject": "subject 1"}},
	}
}

// createInvestment makes an accepted and paid investment with a document.
func (v *env) createInvestment(units int, extra map[string]any) map[string]any {
	v.t.Helper()
	b := v.investmentBody(units, v.upload("", []byte("%PDF-1.4 test")))
	for k, x := range extra {
		b[k] = x
	}
	r := v.post("/v2/investments/", "", b)
	if r.status != 201 {
		v.t.Fatalf("create investment: %s", r)
	}
	return r.obj(v.t)
}

// deliveredInvestment is an investment credited to the first seeded
// investor's wallet, past the credit delay.
func (v *env) deliveredInvestment(units int) map[string]any {
	v.t.Helper()
	inv := v.createInvestment(units, map[string]any{"wallet": v.investor().Wallets[0].ID})
	id := inv["id"].(string)
	if r := v.post("/v2/investments/"+id+"/credits/", "", nil); r.status != 202 {
		v.t.Fatalf("credit: %s", r)
	}
	v.clk.Advance(time.Duration(v.e.Settings().CreditDelay))
	got := v.get("/v2/investments/" + id + "/").obj(v.t)
	if got["status"] != StatusDelivered {
		v.t.Fatalf("status %v after the credit delay, want DELIVERED", got["status"])
	}
	return got
}

func (v *env) counts() Counts {
	v.t.Helper()
	c, err := v.e.Counts(context.Background())
	if err != nil {
		v.t.Fatal(err)
	}
	return c
}

// wantErrBody checks a status and that the body contains every fragment.
func wantErrBody(t *testing.T, r resp, status int, fragments ...string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if !json.Valid(r.body) {
		t.Fatalf("body is not JSON: %q", r.body)
	}
	for _, f := range fragments {
		if !strings.Contains(string(r.body), f) {
			t.Errorf("body %s does not contain %q", r.body, f)
		}
	}
}
