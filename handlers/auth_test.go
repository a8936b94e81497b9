package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"issuerconsole/services/accounts"
)

func TestLoginAndLogout(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)

	r := c.get("/")
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/login?next=%2F" {
		t.Fatalf("anonymous / redirects to %q", loc)
	}
	r = c.get("/login?next=/users")
	wantStatus(t, r, http.StatusOK)
	if r.doc.Find(`form[data-testid="login-form"] input[name="email"]`).Length() != 1 {
		t.Fatal("no e-mail field on the sign-in page")
	}
	if next, _ := r.doc.Find(`input[name="next"]`).Attr("value"); next != "/users" {
		t.Fatalf("next = %q", next)
	}
	if r.doc.Find("nav").Length() != 0 {
		t.Fatal("navigation shown to a signed-out visitor")
	}

	r = c.post("/login", url.Values{"email": {adminEmail}, "password": {adminPass}, "next": {"/users"}})
	wantStatus(t, r, http.StatusSeeOther)
	if loc := r.Header.Get("Location"); loc != "/users" {
		t.Fatalf("after sign-in: Location %q, want /users", loc)
	}
	ck := c.cookie("ic_session")
	if ck == nil {
		t.Fatal("no session cookie")
	}
	for _, h := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(h, "ic_session=") && (!strings.Contains(h, "HttpOnly") || !strings.Contains(h, "SameSite=Lax")) {
			t.Fatalf("session cookie lacks HttpOnly or SameSite=Lax: %s", h)
		}
	}

	r = c.get("/")
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="current-user"]`)); got != adminEmail {
		t.Fatalf("current user shown as %q", got)
	}
	var nav []string
	r.doc.Find("nav.nav a, nav ul.nav a").Each(func(_ int, a *goqSel) { nav = append(nav, text(a)) })
	if strings.Join(nav, ",") != "Offerings,Investments,Imports,Audit log,Users,Settings" {
		t.Fatalf("admin navigation = %v", nav)
	}
	if got := text(r.doc.Find(`[data-testid="mode-badge"]`)); got != "Sandbox" {
		t.Fatalf("mode badge = %q", got)
	}

	stolen := *ck // a copy of the cookie, as an attacker might have it
	r = c.post("/logout", nil)
	wantStatus(t, r, http.StatusSeeOther)
	r = c.get(r.Header.Get("Location"))
	if got := text(r.doc.Find(`[data-testid="flash"]`)); !strings.Contains(got, "You are signed out.") {
		t.Fatalf("flash after sign-out = %q", got)
	}
	wantStatus(t, c.get("/"), http.StatusSeeOther)

	// The old cookie no longer works: the session ended on the server.
	replay := s.client(t)
	u, _ := url.Parse(s.URL)
	replay.http.Jar.SetCookies(u, []*http.Cookie{&stolen})
	wantStatus(t, replay.get("/"), http.StatusSeeOther)
}

func TestBadPassword(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.get("/login")
	r := c.post("/login", url.Values{"email": {adminEmail}, "password": {"not the password"}})
	wantStatus(t, r, http.StatusUnauthorized)
	if got := text(r.doc.Find(`[data-testid="login-error"]`)); got != "E-mail or password is wrong." {
		t.Fatalf("error = %q", got)
	}
	if v, _ := r.doc.Find(`input[name="email"]`).Attr("value"); v != adminEmail {
		t.Fatalf("e-mail not kept in the form: %q", v)
	}
	if v, _ := r.doc.Find(`input[name="password"]`).Attr("value"); v != "" {
		t.Fatal("password echoed back into the page")
	}
	// An unknown account gets the very same answer.
	r = c.post("/login", url.Values{"email": {"nobody@example.com"}, "password": {"not the password"}})
	wantStatus(t, r, http.StatusUnauthorized)
	if got := text(r.doc.Find(`[data-testid="login-error"]`)); got != "E-mail or password is wrong." {
		t.Fatalf("unknown account error = %q", got)
	}
	wantStatus(t, c.get("/"), http.StatusSeeOther)
	if strings.Contains(s.logs.String(), "not the password") {
		t.Fatal("a password reached the log")
	}
}

func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	s := newTestServer(t) // account burst 3, one more try per minute
	c := s.client(t)
	c.get("/login")
	for i := range 3 {
		wantStatus(t, c.post("/login", url.Values{"email": {adminEmail}, "password": {"wrong password " + string(rune('a'+i))}}), http.StatusUnauthorized)
	}
	// Now even the right password is refused until the wait is over.
	r := c.post("/login", url.Values{"email": {adminEmail}, "password": {adminPass}})
	wantStatus(t, r, http.StatusTooManyRequests)
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After = %q", ra)
	}
	if got := text(r.doc.Find(`[data-testid="login-error"]`)); !regexp.MustCompile(`Try again in [\d,]+ seconds?`).MatchString(got) {
		t.Fatalf("throttle message = %q", got)
	}
	// Another client address is not the point here: the account itself is throttled.
	other := s.client(t)
	other.get("/login")
	wantStatus(t, other.post("/login", url.Values{"email": {adminEmail}, "password": {adminPass}}), http.StatusTooManyRequests)

	s.clock.Add(time.Minute)
	c.login(adminEmail, adminPass)
}

func TestLoginThrottlingPerAddress(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(_ *configT, o *appOptions) {
		o.Throttle = &accounts.ThrottleOptions{AccountBurst: 100, AccountRefill: time.Minute, AddressBurst: 4, AddressRefill: time.Minute, Now: o.Now}
	})
	c := s.client(t)
	c.get("/login")
	for i := range 4 { // four different accounts, one address
		email := string(rune('a'+i)) + "@example.com"
		wantStatus(t, c.post("/login", url.Values{"email": {email}, "password": {"whatever password"}}), http.StatusUnauthorized)
	}
	wantStatus(t, c.post("/login", url.Values{"email": {adminEmail}, "password": {adminPass}}), http.StatusTooManyRequests)
}

func TestSessionRenewedAtLogin(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	first := *c.cookie("ic_session")
	c.login(adminEmail, adminPass) // signing in again, with the old session present
	second := c.cookie("ic_session")
	if first.Value == second.Value {
		t.Fatal("session cookie unchanged by sign-in")
	}
	wantStatus(t, c.get("/"), http.StatusOK)
	// The previous session id was retired, not just replaced in the browser.
	old := s.client(t)
	u, _ := url.Parse(s.URL)
	old.http.Jar.SetCookies(u, []*http.Cookie{&first})
	wantStatus(t, old.get("/"), http.StatusSeeOther)
}

func TestSetupToken(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, withoutAdmin())
	m := regexp.MustCompile(`/setup\?token=([A-Za-z0-9_-]+)`).FindStringSubmatch(s.console.String())
	if m == nil {
		t.Fatalf("no setup link printed:\n%s", s.console.String())
	}
	token := m[1]
	if strings.Contains(s.logs.String(), token) {
		t.Fatal("the setup token reached the log")
	}
	c := s.client(t)
	wantStatus(t, c.get("/setup"), http.StatusForbidden)
	wantStatus(t, c.get("/setup?token=wrong"), http.StatusForbidden)
	r := c.get("/setup?token=" + token)
	wantStatus(t, r, http.StatusOK)
	if r.doc.Find(`form[data-testid="setup-form"]`).Length() != 1 {
		t.Fatal("no setup form")
	}
	// A POST without the token is refused even with a valid CSRF token.
	wantStatus(t, c.post("/setup", url.Values{"email": {"first@example.com"}, "password": {testPass}}), http.StatusForbidden)

	r = c.post("/setup", url.Values{"token": {token}, "email": {"first@example.com"}, "password": {"short"}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := text(r.doc.Find(`[data-testid="error-password"]`)); got == "" {
		t.Fatal("no password error shown")
	}
	if v, _ := r.doc.Find(`input[name="email"]`).Attr("value"); v != "first@example.com" {
		t.Fatalf("e-mail not kept: %q", v)
	}

	r = c.post("/setup", url.Values{"token": {token}, "email": {"first@example.com"}, "password": {testPass}})
	wantStatus(t, r, http.StatusSeeOther)
	r = c.get(r.Header.Get("Location"))
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="current-user"]`)); got != "first@example.com" {
		t.Fatalf("signed in as %q after setup", got)
	}
	// The link is spent.
	wantStatus(t, s.client(t).get("/setup?token="+token), http.StatusNotFound)
}

func TestDisabledUserLosesSessionAtOnce(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	aud := s.client(t)
	aud.login("auditor@example.com", testPass)
	wantStatus(t, aud.get("/"), http.StatusOK)

	admin := s.client(t)
	admin.login(adminEmail, adminPass)
	r := admin.get("/users")
	var id string
	r.doc.Find(`tr[data-testid="user-row"]`).Each(func(_ int, row *goqSel) {
		if text(row.Find(`[data-testid="user-email"]`)) == "auditor@example.com" {
			id, _ = row.Attr("id")
		}
	})
	id = strings.TrimPrefix(id, "user-")
	r = admin.post("/users/"+id+"/disabled", url.Values{"disabled": {"true"}})
	wantStatus(t, r, http.StatusSeeOther)

	r = aud.get("/")
	wantStatus(t, r, http.StatusSeeOther)
	if !strings.HasPrefix(r.Header.Get("Location"), "/login") {
		t.Fatalf("disabled user sent to %q", r.Header.Get("Location"))
	}
	aud.get("/login")
	wantStatus(t, aud.post("/login", url.Values{"email": {"auditor@example.com"}, "password": {testPass}}), http.StatusUnauthorized)
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	s.clock.Add(29 * time.Minute)
	wantStatus(t, c.get("/"), http.StatusOK)
	// Active 59 s later (last activity is written once a minute, so not
	// stored), then idle for 29½ minutes: still under the 30-minute limit.
	s.clock.Add(59 * time.Second)
	wantStatus(t, c.get("/"), http.StatusOK)
	s.clock.Add(29*time.Minute + 30*time.Second)
	wantStatus(t, c.get("/"), http.StatusOK)
	s.clock.Add(32 * time.Minute)
	r := c.get("/users")
	wantStatus(t, r, http.StatusSeeOther)
	r = c.get(r.Header.Get("Location"))
	if got := text(r.doc.Find(`[data-testid="flash"]`)); !strings.Contains(got, "Your session expired") {
		t.Fatalf("flash = %q", got)
	}
	if next, _ := r.doc.Find(`input[name="next"]`).Attr("value"); next != "/users" {
		t.Fatalf("next = %q, want /users", next)
	}
}

// signInCookies signs in by hand and returns the cookies set by the sign-in
// page and by the sign-in itself. A cookie jar would withhold Secure cookies
// from this plain-HTTP test server, so the cookies are carried explicitly,
// with the Origin a browser behind a TLS proxy would send.
func signInCookies(t *testing.T, s *testServer, origin string) (page, signIn []*http.Cookie) {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := hc.Get(s.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	page = res.Cookies()
	tok, _ := doc.Find(`input[name="_csrf"]`).Attr("value")
	form := url.Values{"email": {adminEmail}, "password": {adminPass}, "_csrf": {tok}}
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", origin)
	for _, ck := range page {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	res, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: status %d, want 303", res.StatusCode)
	}
	return page, res.Cookies()
}

func TestCookieFlags(t *testing.T) {
	t.Parallel()
	for _, secure := range []bool{true, false} {
		t.Run("secure="+strconv.FormatBool(secure), func(t *testing.T) {
			s := newTestServer(t, func(c *configT, _ *appOptions) { c.SecureCookies = secure })
			origin := strings.Replace(s.URL, "http://", "https://", 1) // the proxy's scheme
			if !secure {
				origin = s.URL
			}
			page, signIn := signInCookies(t, s, origin)
			seen := map[string]bool{}
			check := func(when string, cookies []*http.Cookie) {
				for _, ck := range cookies {
					seen[when+" "+ck.Name] = true
					if ck.Secure != secure || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode {
						t.Errorf("%s: cookie %s has Secure=%v HttpOnly=%v SameSite=%v; want Secure=%v, HttpOnly, Lax",
							when, ck.Name, ck.Secure, ck.HttpOnly, ck.SameSite, secure)
					}
				}
			}
			check("sign-in page", page)
			check("sign-in", signIn)
			for _, want := range []string{"sign-in page ic_csrf", "sign-in ic_session", "sign-in ic_csrf"} {
				if !seen[want] {
					t.Errorf("no %s cookie set (seen %v)", want, seen)
				}
			}
		})
	}
}

// 64 parallel guesses at one account: only the allowance reaches bcrypt
// (401), the rest are refused before it (429). Meanwhile the real user, whose
// browser holds a device cookie from an earlier sign-in, still gets in; a
// browser without one is locked out like the attacker.
func TestParallelGuessesAndDeviceCookie(t *testing.T) {
	t.Parallel()
	s := newTestServer(t) // account allowance 3, address 50
	user := s.client(t)
	user.login(adminEmail, adminPass)
	if user.cookie("ic_device") != nil {
		t.Fatal("device cookie sent beyond /login") // its Path is /login
	}
	wantStatus(t, user.post("/logout", nil), http.StatusSeeOther)

	attacker := s.client(t)
	attacker.get("/login")
	form := url.Values{"email": {adminEmail}, "password": {"a wrong guess"}, "_csrf": {attacker.csrf}}.Encode()
	var mu sync.Mutex
	var wg sync.WaitGroup
	statuses := map[int]int{}
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, s.URL+"/login", strings.NewReader(form))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			res, err := attacker.http.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			mu.Lock()
			statuses[res.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if statuses[http.StatusUnauthorized] > 3 || statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != 64 {
		t.Fatalf("answers to 64 parallel guesses: %v; want at most 3 checked (401), the rest 429", statuses)
	}

	stranger := s.client(t)
	stranger.get("/login")
	wantStatus(t, stranger.post("/login", url.Values{"email": {adminEmail}, "password": {adminPass}}), http.StatusTooManyRequests)

	user.get("/login")
	r := user.post("/login", url.Values{"email": {adminEmail}, "password": {adminPass}})
	wantStatus(t, r, http.StatusSeeOther)
	wantStatus(t, user.get("/"), http.StatusOK)

	// A device cookie only counts for its own account.
	other := s.createUser(t, "other@example.com", accounts.RoleAuditor)
	user.post("/logout", nil)
	user.get("/login")
	for range 3 {
		user.post("/login", url.Values{"email": {other.Email}, "password": {"wrong guess!"}})
	}
	wantStatus(t, user.post("/login", url.Values{"email": {other.Email}, "password": {testPass}}), http.StatusTooManyRequests)
}
