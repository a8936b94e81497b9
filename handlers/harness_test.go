package handlers_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/crypto/bcrypt"

	"issuerconsole/app"
	"issuerconsole/config"
	"issuerconsole/services/accounts"
	"issuerconsole/services/audit"
	"issuerconsole/services/issuance"
)

const (
	adminEmail = "admin@example.com"
	adminPass  = "admin password 123"
	testPass   = "a long test password"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type testServer struct {
	*httptest.Server
	app     *app.App
	clock   *fakeClock
	console *bytes.Buffer // what the program printed for the person starting it
	logs    *syncBuffer
}

// Aliases keep option closures short in tests.
type (
	configT    = config.Config
	appOptions = app.Options
	goqSel     = goquery.Selection
)

type serverOpt func(*config.Config, *app.Options)

// consoleDB is the path of the test server's console.db.
func (s *testServer) consoleDB(t *testing.T) string {
	t.Helper()
	var file string
	if err := s.app.DB.QueryRow("SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&file); err != nil {
		t.Fatal(err)
	}
	return file
}

func withoutAdmin() serverOpt {
	return func(c *config.Config, _ *app.Options) { c.AdminEmail, c.AdminPassword = "", "" }
}

// newTestServer starts the real console over a temporary data folder, on a
// loopback listener, with a fake clock and a fast bcrypt cost.
func newTestServer(t testing.TB, opts ...serverOpt) *testServer {
	t.Helper()
	// A small generated data set keeps each test server quick to start.
	cfg, err := config.Parse([]string{"-data", t.TempDir(), "-addr", "127.0.0.1:0", "-sandbox-investments", "600"}, func(k string) string {
		switch k {
		case "ADMIN_EMAIL":
			return adminEmail
		case "ADMIN_PASSWORD":
			return adminPass
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Now().UTC()}
	aopts := app.Options{BcryptCost: bcrypt.MinCost, Now: clock.Now,
		Throttle: &accounts.ThrottleOptions{AccountBurst: 3, AccountRefill: time.Minute, AddressBurst: 50, AddressRefill: time.Second, Now: clock.Now}}
	for _, o := range opts {
		o(&cfg, &aopts)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	console, logs := &bytes.Buffer{}, &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(context.Background(), cfg, ln.Addr(), log, console, aopts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	return &testServer{Server: srv, app: a, clock: clock, console: console, logs: logs}
}

type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.String()
}

// client is a browser-like client: cookie jar, no automatic redirects, and
// the CSRF token of the last page it read (taken with goquery from the form
// field, as a browser would submit it).
type client struct {
	t    testing.TB
	srv  *testServer
	http *http.Client
	csrf string
}

func (s *testServer) client(t testing.TB) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, srv: s, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type response struct {
	*http.Response
	body string
	doc  *goquery.Document
}

func (c *client) do(req *http.Request) *response {
	c.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := &response{Response: res, body: string(b)}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		src := b
		if bytes.HasPrefix(bytes.TrimSpace(b), []byte("<tr")) {
			// A table-row fragment (htmx swaps it into a tbody); the HTML
			// parser drops rows outside a table, so give it one.
			src = append(append([]byte("<table><tbody>"), b...), "</tbody></table>"...)
		}
		r.doc, err = goquery.NewDocumentFromReader(bytes.NewReader(src))
		if err != nil {
			c.t.Fatal(err)
		}
		if tok, ok := r.doc.Find(`input[name="_csrf"]`).First().Attr("value"); ok {
			c.csrf = tok
		}
	}
	return r
}

func (c *client) get(path string, headers ...string) *response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.srv.URL+path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.do(req)
}

// post submits a form; unless the form sets _csrf itself, the token of the
// last page read is added, as the page's hidden field would be.
func (c *client) post(path string, form url.Values, headers ...string) *response {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok && c.csrf != "" {
		form.Set("_csrf", c.csrf)
	}
	req, _ := http.NewRequest(http.MethodPost, c.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.do(req)
}

// login signs in through the form and fails the test if that does not work.
func (c *client) login(email, password string) {
	c.t.Helper()
	c.get("/login")
	r := c.post("/login", url.Values{"email": {email}, "password": {password}})
	if r.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("login as %s: status %d, want 303\n%s", email, r.StatusCode, r.body)
	}
	c.get("/audit") // pick up a fresh CSRF token (sign-in rotates it); a page without API calls (home counts through the APIs)
}

func (c *client) cookie(name string) *http.Cookie {
	u, _ := url.Parse(c.srv.URL)
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

// lastCall returns the newest audit row of an API call.
func (s *testServer) lastCall(t *testing.T, api string) audit.Entry {
	t.Helper()
	p, err := s.app.Audit.List(context.Background(), audit.Filter{API: api, Kind: audit.KindCall}, 0, 1)
	if err != nil || len(p.Entries) == 0 {
		t.Fatalf("no %s call in the audit log (%v)", api, err)
	}
	return p.Entries[0]
}

// lastCallTo returns the newest audited call whose path contains part.
func (s *testServer) lastCallTo(t *testing.T, part string) audit.Entry {
	t.Helper()
	p, err := s.app.Audit.List(context.Background(), audit.Filter{Kind: audit.KindCall, PathContains: part}, 0, 1)
	if err != nil || len(p.Entries) == 0 {
		t.Fatalf("no call to %s in the audit log (%v)", part, err)
	}
	return p.Entries[0]
}

// newestEvent returns the newest security event of the audit log.
func (s *testServer) newestEvent(t *testing.T) audit.Entry {
	t.Helper()
	p, err := s.app.Audit.List(context.Background(), audit.Filter{Kind: audit.KindEvent}, 0, 1)
	if err != nil || len(p.Entries) == 0 {
		t.Fatalf("no event in the audit log (%v)", err)
	}
	return p.Entries[0]
}

// callCount counts the audited calls to an API so far.
func (s *testServer) callCount(t *testing.T, api string) int {
	t.Helper()
	n := 0
	s.app.Audit.Each(context.Background(), audit.Filter{API: api, Kind: audit.KindCall}, func(audit.Entry) error { n++; return nil })
	return n
}

// createUser adds a user directly through the service.
func (s *testServer) createUser(t *testing.T, email string, role accounts.Role) accounts.User {
	t.Helper()
	u, err := s.app.Accounts.Create(context.Background(), accounts.NewUser{Email: email, Role: role, Password: testPass})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func text(s *goquery.Selection) string { return strings.Join(strings.Fields(s.Text()), " ") }

func wantStatus(t *testing.T, r *response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d\n%.2000s", r.Request.Method, r.Request.URL.Path, r.StatusCode, want, r.body)
	}
}

func strconvItoa(n int) string { return strconv.Itoa(n) }

type auditEntry = audit.Entry

func auditFilter(api string) audit.Filter { return audit.Filter{API: api, Kind: audit.KindCall} }

func issuanceParamNames() []string {
	var out []string
	for _, p := range issuance.InvestmentParams {
		if p.Name != "page" {
			out = append(out, p.Name)
		}
	}
	return out
}
