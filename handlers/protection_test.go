package handlers_test

import (
	"encoding/json"
	"issuerconsole/routes"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"issuerconsole/handlers"
	"issuerconsole/services/accounts"
)

func TestCSRF(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	target := s.createUser(t, "target@example.com", accounts.RoleAuditor)
	rolePath := "/users/" + strconv.FormatInt(target.ID, 10) + "/role"

	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/users")
	formToken := c.csrf
	hx, _ := r.doc.Find("body").Attr("hx-headers")
	var hdr map[string]string
	if err := json.Unmarshal([]byte(hx), &hdr); err != nil || hdr["X-CSRF-Token"] == "" {
		t.Fatalf("layout sets no CSRF header for htmx: hx-headers=%q", hx)
	}

	newUser := func(email string) url.Values {
		return url.Values{"email": {email}, "role": {"auditor"}, "password": {testPass}}
	}
	tests := []struct {
		name    string
		path    string
		form    url.Values
		headers []string
		want    int
	}{
		{"form without token", "/users", with(newUser("a@example.com"), "_csrf", ""), nil, http.StatusForbidden},
		{"form with a forged token", "/users", with(newUser("b@example.com"), "_csrf", "Zm9yZ2VkIHRva2VuIGZvcmdlZCB0b2tlbiBmb3JnZWQgdG9rZW4hISEhISEhISE="), nil, http.StatusForbidden},
		{"form with token", "/users", with(newUser("c@example.com"), "_csrf", formToken), nil, http.StatusSeeOther},
		{"htmx without header", rolePath, url.Values{"role": {"admin"}, "_csrf": {""}}, []string{"HX-Request", "true"}, http.StatusForbidden},
		{"htmx with header", rolePath, url.Values{"role": {"admin"}, "_csrf": {""}}, []string{"HX-Request", "true", "X-CSRF-Token", hdr["X-CSRF-Token"]}, http.StatusOK},
		{"cross-origin with token", "/users", with(newUser("d@example.com"), "_csrf", formToken), []string{"Origin", "http://evil.example"}, http.StatusForbidden},
		{"sign-out without token", "/logout", url.Values{"_csrf": {""}}, nil, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.post(tt.path, tt.form, tt.headers...)
			wantStatus(t, r, tt.want)
			if tt.want != http.StatusForbidden {
				return
			}
			if slices.Contains(tt.headers, "HX-Request") {
				if r.Header.Get("HX-Retarget") != "#flash" {
					t.Fatalf("htmx 403 not retargeted to #flash: %v", r.Header)
				}
				if strings.Contains(r.body, "<html") || !strings.Contains(text(r.doc.Find(`[data-testid="flash"]`)), "Form expired") {
					t.Fatalf("htmx 403 body: %s", r.body)
				}
				return
			}
			if got := text(r.doc.Find("h1")); got != "Form expired" {
				t.Fatalf("403 page heading %q", got)
			}
		})
	}
	// What the refused requests would have done did not happen.
	users, _ := s.app.Accounts.List(t.Context())
	var emails []string
	for _, u := range users {
		emails = append(emails, u.Email)
	}
	slices.Sort(emails)
	if strings.Join(emails, " ") != "admin@example.com c@example.com target@example.com" {
		t.Fatalf("users after the CSRF table: %v", emails)
	}
	if c.get("/").StatusCode != http.StatusOK {
		t.Fatal("a refused sign-out signed the user out")
	}
}

func with(v url.Values, k, val string) url.Values {
	v.Set(k, val)
	return v
}

// Every route Echo serves is in the route table, and each enforces its
// access rule for a signed-out visitor, an auditor and an admin.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	target := s.createUser(t, "target@example.com", accounts.RoleAuditor)

	table := s.app.Server.Routes()
	key := func(r handlers.RouteInfo) string { return r.Method + " " + r.Path }
	inTable := map[string]handlers.RouteInfo{}
	for _, r := range table {
		inTable[key(r)] = r
	}
	served := map[string]bool{}
	for _, r := range table {
		served[r.Path] = true
	}
	for _, r := range routes.All {
		if !served[string(r)] {
			t.Errorf("named route %s is not in the route table", r)
		}
	}
	for _, r := range s.app.Server.Registered() {
		if strings.HasPrefix(r.Method, "echo_") {
			continue // Echo's own not-found/method-not-allowed entries
		}
		if _, ok := inTable[key(r)]; !ok {
			t.Errorf("Echo serves %s outside the route table (no access rule)", key(r))
		}
	}

	concrete := strings.NewReplacer(":id", strconv.FormatInt(target.ID, 10), ":api", "issuance", "/static/*", "/static/css/app.css", "/sandbox/*", "/sandbox/issuance/api/offerings/")
	roles := []struct {
		name  string
		login func(*client)
	}{
		{"anonymous", func(*client) {}},
		{"auditor", func(c *client) { c.login("auditor@example.com", testPass) }},
		{"admin", func(c *client) { c.login(adminEmail, adminPass) }},
	}
	for _, rt := range table {
		if rt.Method == http.MethodHead || rt.Method == http.MethodOptions {
			continue
		}
		for _, role := range roles {
			t.Run(rt.Method+" "+rt.Path+" as "+role.name, func(t *testing.T) {
				c := s.client(t)
				c.get("/login") // a CSRF token, so only access rules decide
				role.login(c)
				path := concrete.Replace(rt.Path)
				var hdr []string
				if strings.HasPrefix(rt.Path, "/sandbox/") {
					// The emulators do their own authentication, as the real
					// APIs do; the console's session plays no part.
					hdr = []string{"Authorization", "Api-Key sandbox-issuance-key"}
					bare := s.client(t).get(path)
					if bare.StatusCode != http.StatusUnauthorized && bare.StatusCode != http.StatusForbidden {
						t.Fatalf("emulator answered %d without credentials", bare.StatusCode)
					}
				}
				var r *response
				if rt.Method == http.MethodGet {
					r = c.get(path, hdr...)
				} else {
					r = c.post(path, url.Values{"role": {"auditor"}, "disabled": {"false"}}, hdr...)
				}
				toLogin := r.StatusCode == http.StatusSeeOther && strings.HasPrefix(r.Header.Get("Location"), "/login")
				switch {
				case rt.Access == "public":
					// Sign-out and the second sign-in step (without a first
					// step behind it) send everyone to the sign-in page.
					if r.StatusCode == http.StatusForbidden || r.StatusCode == http.StatusUnauthorized && rt.Path != "/login" || toLogin && rt.Path != "/logout" && rt.Path != "/login/2fa" {
						t.Fatalf("public route refused: %d %s", r.StatusCode, r.Header.Get("Location"))
					}
				case role.name == "anonymous":
					if !toLogin {
						t.Fatalf("signed-out visitor got %d (Location %q), want 303 to /login", r.StatusCode, r.Header.Get("Location"))
					}
				case rt.Access == "admin" && role.name == "auditor":
					if r.StatusCode != http.StatusForbidden {
						t.Fatalf("auditor got %d on an admin route, want 403", r.StatusCode)
					}
				default:
					if r.StatusCode == http.StatusForbidden || toLogin || r.StatusCode >= 500 {
						t.Fatalf("%s refused or failed: %d %s", role.name, r.StatusCode, r.body)
					}
				}
			})
		}
	}
}

func TestFragmentOrFullPage(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	tests := []struct {
		name    string
		headers []string
		full    bool
	}{
		{"plain request", nil, true},
		{"htmx request", []string{"HX-Request", "true"}, false},
		{"boosted navigation", []string{"HX-Request", "true", "HX-Boosted", "true"}, true},
		{"history restore", []string{"HX-Request", "true", "HX-History-Restore-Request", "true"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.get("/users", tt.headers...)
			wantStatus(t, r, http.StatusOK)
			if vary := strings.Join(r.Header.Values("Vary"), ", "); !strings.Contains(vary, "HX-Request") {
				t.Fatalf("Vary = %q", vary)
			}
			hasHTML := r.doc.Find("html head title").Length() == 1 && r.doc.Find("header.topbar").Length() == 1
			if !strings.Contains(r.body, "<html") {
				hasHTML = false // goquery adds <html> to fragments; look at the bytes
			}
			if hasHTML != tt.full {
				t.Fatalf("full page = %v, want %v", hasHTML, tt.full)
			}
			if r.doc.Find(`table[data-testid="users-table"] tr[data-testid="user-row"]`).Length() != 1 {
				t.Fatal("the users table is missing")
			}
		})
	}
}

func TestErrorPages(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)

	r := c.get("/no/such/page")
	wantStatus(t, r, http.StatusNotFound)
	if got := text(r.doc.Find("main h1")); got != "Not found" {
		t.Fatalf("404 heading %q", got)
	}
	if r.doc.Find("nav").Length() != 1 {
		t.Fatal("404 page lacks the layout")
	}

	r = c.get("/no/such/page", "HX-Request", "true")
	wantStatus(t, r, http.StatusNotFound)
	if r.Header.Get("HX-Retarget") != "#flash" || strings.Contains(r.body, "<html") {
		t.Fatalf("htmx 404: headers %v body %s", r.Header, r.body)
	}

	r = c.post("/users/999999/role", url.Values{"role": {"admin"}})
	wantStatus(t, r, http.StatusNotFound)

	r = c.post("/users/abc/disabled", url.Values{"disabled": {"true"}})
	wantStatus(t, r, http.StatusNotFound)

	r = c.post("/healthz", nil)
	if r.StatusCode != http.StatusMethodNotAllowed && r.StatusCode != http.StatusNotFound {
		t.Fatalf("POST /healthz: %d", r.StatusCode)
	}
}

func TestHealthz(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	r := c.get("/healthz")
	wantStatus(t, r, http.StatusOK)
	var body map[string]string
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body["status"] != "ok" || body["mode"] != "sandbox" {
		t.Fatalf("healthz body %q", r.body)
	}
	s.app.DB.Close()
	r = c.get("/healthz")
	wantStatus(t, r, http.StatusServiceUnavailable)
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body["status"] == "ok" {
		t.Fatalf("healthz body with a closed database %q", r.body)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	r := s.client(t).get("/login")
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Fatalf("CSP %q", csp)
	}
	for h, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"} {
		if got := r.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	// No inline script anywhere in the page.
	r.doc.Find("script").Each(func(_ int, sc *goqSel) {
		if src, _ := sc.Attr("src"); src == "" || strings.TrimSpace(sc.Text()) != "" {
			t.Errorf("inline script: %s", sc.Text())
		}
	})
	cfg, _ := r.doc.Find(`meta[name="htmx-config"]`).Attr("content")
	var hc map[string]any
	if err := json.Unmarshal([]byte(cfg), &hc); err != nil || hc["allowEval"] != false || hc["includeIndicatorStyles"] != false {
		t.Fatalf("htmx config %q", cfg)
	}
}

// A form over MaxFormSize is refused before anything reads it, signed in
// or not: a clear 413 and nothing recorded (a sign-in with a 5 MB e-mail
// once made net/http parse it, and the audit log keep it).
func TestFormBodyLimit(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	rows := func() (n int) {
		if err := s.app.DB.QueryRow(`SELECT count(*) FROM audit_log`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	wantStatus(t, c.get("/login"), http.StatusOK)
	before := rows()
	big := strings.Repeat("x", handlers.MaxFormSize)
	r := c.post("/login", url.Values{"email": {big + "@example.com"}, "password": {"wrong password 123"}})
	wantStatus(t, r, http.StatusRequestEntityTooLarge)
	if !strings.Contains(r.body, "The form is larger than the console accepts (2.0 MB)") {
		t.Fatalf("413 page:\n%.400s", r.body)
	}
	if n := rows(); n != before {
		t.Fatalf("%d audit rows written for a refused form", n-before)
	}
	// Just under the cap, the route works as before (a failed sign-in).
	r = c.post("/login", url.Values{"email": {strings.Repeat("y", handlers.MaxFormSize-1000)}, "password": {"wrong password 123"}})
	wantStatus(t, r, http.StatusUnauthorized)
	c.login(adminEmail, adminPass)
	wantStatus(t, c.post("/users", url.Values{"email": {big}, "role": {"auditor"}}), http.StatusRequestEntityTooLarge)
}
