package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"issuerconsole/services/audit"
)

// Each security action, done through HTTP, leaves its event with the right
// actor: the account tried for a failed sign-in, otherwise the admin acting.
func TestSecurityEvents(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	ctx := context.Background()
	want := func(step, event, actor string, detail ...string) {
		t.Helper()
		e := s.newestEvent(t)
		if e.Kind != audit.KindEvent || e.Event != event || e.Actor != actor {
			t.Fatalf("%s: newest event %q kind %q by %q, want %q by %q", step, e.Event, e.Kind, e.Actor, event, actor)
		}
		for _, d := range detail {
			if !strings.Contains(e.Detail, d) {
				t.Fatalf("%s: detail %q does not mention %q", step, e.Detail, d)
			}
		}
	}

	c := s.client(t)
	c.get("/login")
	wantStatus(t, c.post("/login", url.Values{"email": {adminEmail}, "password": {"not the password"}}), http.StatusUnauthorized)
	want("failed sign-in", audit.EventLoginFailed, adminEmail, "from 127.0.0.1")
	wantStatus(t, c.post("/login", url.Values{"email": {"nobody@example.com"}, "password": {"not the password"}}), http.StatusUnauthorized)
	// An e-mail that names no user is stored only as a keyed hash.
	unknown, known := s.app.Accounts.SignInActor(ctx, "Nobody@example.com ")
	if known || !strings.HasPrefix(unknown, "unknown e-mail #") {
		t.Fatalf("actor for an unknown e-mail = %q", unknown)
	}
	want("failed sign-in, unknown account", audit.EventLoginFailed, unknown)

	c.login(adminEmail, adminPass)
	want("sign-in", audit.EventLogin, adminEmail)

	c.get("/users")
	wantStatus(t, c.post("/users", url.Values{"email": {"ev.user@example.com"}, "role": {"auditor"}, "password": {testPass}}), http.StatusSeeOther)
	want("user created", audit.EventUserCreated, adminEmail, "ev.user@example.com as auditor")

	users, err := s.app.Accounts.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var id, myID string
	for _, u := range users {
		switch u.Email {
		case "ev.user@example.com":
			id = strconv.FormatInt(u.ID, 10)
		case adminEmail:
			myID = strconv.FormatInt(u.ID, 10)
		}
	}
	wantStatus(t, c.post("/users/"+id+"/role", url.Values{"role": {"admin"}}), http.StatusSeeOther)
	want("role changed", audit.EventRoleChanged, adminEmail, "ev.user@example.com: role set to admin")
	wantStatus(t, c.post("/users/"+id+"/disabled", url.Values{"disabled": {"true"}}), http.StatusSeeOther)
	want("user disabled", audit.EventUserDisabled, adminEmail, "ev.user@example.com: disabled")

	// A refused change (disabling oneself) changes nothing and records nothing.
	head, _, _ := s.app.Audit.Head(ctx)
	wantStatus(t, c.post("/users/"+myID+"/disabled", url.Values{"disabled": {"true"}}), http.StatusSeeOther)
	if e := s.newestEvent(t); e.ID > head {
		t.Fatalf("a refused change recorded %q", e.Event)
	}

	wantStatus(t, c.post("/logout", nil), http.StatusSeeOther)
	want("sign-out", audit.EventLogout, adminEmail)

	// The admin's own trail, found with the actor filter, in order.
	p, err := s.app.Audit.List(ctx, audit.Filter{Kind: audit.KindEvent, Actor: adminEmail}, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i := len(p.Entries) - 1; i >= 0; i-- {
		got = append(got, p.Entries[i].Event)
	}
	if strings.Join(got, ",") != "login_failed,login,user_created,role_changed,user_disabled,logout" {
		t.Fatalf("events by %s: %v", adminEmail, got)
	}
}

// requestLines returns the request log lines (slog text format) for path,
// waiting briefly: the line is written after the answer has been sent.
func (s *testServer) requestLines(t *testing.T, method, path string, n int) []map[string]string {
	t.Helper()
	attr := regexp.MustCompile(`(\w+)=("(?:[^"\\]|\\.)*"|\S*)`)
	var lines []map[string]string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		lines = lines[:0]
		for _, l := range strings.Split(s.logs.String(), "\n") {
			kv := map[string]string{}
			for _, m := range attr.FindAllStringSubmatch(l, -1) {
				kv[m[1]] = strings.Trim(m[2], `"`)
			}
			if kv["msg"] == "request" && kv["method"] == method && strings.SplitN(kv["uri"], "?", 2)[0] == path {
				lines = append(lines, kv)
			}
		}
		if len(lines) >= n || time.Now().After(deadline) {
			return lines
		}
	}
}

// Every request leaves exactly one request line with method, path, status
// and level by status; secrets in the query are not logged.
func TestRequestLog(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	wantStatus(t, c.get("/login?next=/users&token=tok-SECRET"), http.StatusOK)
	wantStatus(t, c.get("/no-such-page"), http.StatusNotFound)
	wantStatus(t, c.post("/login", url.Values{"email": {adminEmail}, "password": {adminPass}}), http.StatusSeeOther)

	for _, tt := range []struct {
		method, path, status, level string
	}{
		{"GET", "/login", "200", "INFO"},
		{"GET", "/no-such-page", "404", "WARN"},
		{"POST", "/login", "303", "INFO"},
	} {
		lines := s.requestLines(t, tt.method, tt.path, 1)
		if len(lines) != 1 {
			t.Fatalf("%s %s: %d request lines, want 1:\n%s", tt.method, tt.path, len(lines), s.logs.String())
		}
		l := lines[0]
		if l["status"] != tt.status || l["level"] != tt.level || l["request_id"] == "" {
			t.Errorf("%s %s: line %v, want status %s at %s with a request id", tt.method, tt.path, l, tt.status, tt.level)
		}
	}
	if strings.Contains(s.logs.String(), "tok-SECRET") {
		t.Error("a token from the query reached the log")
	}
	// Requests of a signed-in user name them (by id, not e-mail).
	wantStatus(t, c.get("/"), http.StatusOK)
	if l := s.requestLines(t, "GET", "/", 1); len(l) != 1 || l[0]["user_id"] == "" {
		t.Errorf("signed-in request line %v lacks user_id", l)
	}
}
