package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"issuerconsole/services/accounts"
	"issuerconsole/services/audit"
)

func TestChangeOwnPassword(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	other := s.client(t) // another session of the same user
	other.login(adminEmail, adminPass)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/account")
	wantStatus(t, r, http.StatusOK)
	if r.doc.Find(`form[data-testid="password-form"]`).Length() != 1 {
		t.Fatal("no change-password form on the account page")
	}
	for _, tt := range []struct{ current, next, field string }{
		{"not my password", "a brand new password", "current_password"},
		{adminPass, "short", "new_password"},
		{adminPass, strings.Repeat("x", 73), "new_password"},
		{adminPass, adminPass, "new_password"},
	} {
		r = c.post("/account/password", url.Values{"current_password": {tt.current}, "new_password": {tt.next}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if text(r.doc.Find(`[data-testid="error-`+tt.field+`"]`)) == "" {
			t.Fatalf("%q → %q: no error on %s", tt.current, tt.next, tt.field)
		}
	}
	const next = "a brand new password"
	wantStatus(t, c.post("/account/password", url.Values{"current_password": {adminPass}, "new_password": {next}}), http.StatusSeeOther)
	if e := s.newestEvent(t); e.Event != audit.EventPasswordChanged || e.Actor != adminEmail {
		t.Fatalf("newest event %q by %q", e.Event, e.Actor)
	}
	wantStatus(t, c.get("/"), http.StatusOK)           // this session stays
	wantStatus(t, other.get("/"), http.StatusSeeOther) // the other one ended
	fresh := s.client(t)
	fresh.get("/login")
	wantStatus(t, fresh.post("/login", url.Values{"email": {adminEmail}, "password": {adminPass}}), http.StatusUnauthorized)
	fresh.login(adminEmail, next)
}

func TestAdminResetsPassword(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	aud := s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	victim := s.client(t)
	victim.login(aud.Email, testPass)

	admin := s.client(t)
	admin.login(adminEmail, adminPass)
	admin.get("/users")
	id := strconv.FormatInt(aud.ID, 10)
	wantStatus(t, admin.post("/users/"+id+"/password", url.Values{"password": {"short"}}), http.StatusSeeOther)
	if e := s.newestEvent(t); e.Event == audit.EventPasswordReset {
		t.Fatal("a refused reset was recorded")
	}
	const temp = "temporary password 1"
	wantStatus(t, admin.post("/users/"+id+"/password", url.Values{"password": {temp}}), http.StatusSeeOther)
	if e := s.newestEvent(t); e.Event != audit.EventPasswordReset || e.Actor != adminEmail || !strings.Contains(e.Detail, aud.Email) {
		t.Fatalf("newest event %q by %q: %q", e.Event, e.Actor, e.Detail)
	}
	wantStatus(t, victim.get("/"), http.StatusSeeOther) // sessions ended at once

	// Admins change their own password on their account page, not here.
	users, _ := s.app.Accounts.List(t.Context())
	for _, u := range users {
		if u.Email == adminEmail {
			wantStatus(t, admin.post("/users/"+strconv.FormatInt(u.ID, 10)+"/password", url.Values{"password": {temp}}), http.StatusSeeOther)
		}
	}
	if e := s.newestEvent(t); e.Event == audit.EventPasswordReset && strings.HasPrefix(e.Detail, adminEmail) {
		t.Fatal("an admin reset their own password through the users page")
	}

	// The user signs in with the temporary password and is held on the
	// change-password page, whatever they open, until they change it.
	u := s.client(t)
	u.login(aud.Email, temp)
	for _, path := range []string{"/", "/audit", "/investments", "/imports"} {
		r := u.get(path)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
			t.Fatalf("%s with a reset password: %d to %q, want 303 to /account", path, r.StatusCode, r.Header.Get("Location"))
		}
	}
	r := u.get("/account")
	wantStatus(t, r, http.StatusOK)
	if r.doc.Find(`[data-testid="must-change"]`).Length() != 1 {
		t.Fatal("the account page does not say the password must be changed")
	}
	wantStatus(t, u.post("/account/password", url.Values{"current_password": {temp}, "new_password": {"my own new password"}}), http.StatusSeeOther)
	wantStatus(t, u.get("/audit"), http.StatusOK)
}

// totpCode is the code an authenticator app shows at the server's time.
func totpCode(t *testing.T, s *testServer, secret string) string {
	t.Helper()
	code, err := totp.GenerateCode(secret, s.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// enrol sets up TOTP for the signed-in client and returns the secret and
// the recovery codes.
func enrol(t *testing.T, s *testServer, c *client) (string, []string) {
	t.Helper()
	c.get("/account")
	r := c.post("/account/2fa", nil)
	wantStatus(t, r, http.StatusOK)
	if src, _ := r.doc.Find(`img[data-testid="totp-qr"]`).Attr("src"); !strings.HasPrefix(src, "data:image/png;base64,") {
		t.Fatalf("QR code src = %.40q", src)
	}
	secret := text(r.doc.Find(`[data-testid="totp-secret"]`))
	if len(secret) < 16 {
		t.Fatalf("secret shown as %q", secret)
	}
	r = c.post("/account/2fa/confirm", url.Values{"code": {"000000"}})
	if r.StatusCode != http.StatusUnprocessableEntity && totpCode(t, s, secret) != "000000" {
		t.Fatalf("wrong code: status %d", r.StatusCode)
	}
	r = c.post("/account/2fa/confirm", url.Values{"code": {totpCode(t, s, secret)}})
	wantStatus(t, r, http.StatusOK)
	var codes []string
	r.doc.Find(`[data-testid="recovery-codes"] code`).Each(func(_ int, sel *goqSel) { codes = append(codes, text(sel)) })
	if len(codes) != accounts.RecoveryCodes {
		t.Fatalf("%d recovery codes shown", len(codes))
	}
	return secret, codes
}

func TestTOTPEnrolSignInRecoveryAndRemove(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	secret, codes := enrol(t, s, c)
	if e := s.newestEvent(t); e.Event != audit.Event2FAEnrolled || e.Actor != adminEmail {
		t.Fatalf("newest event %q", e.Event)
	}
	// Neither the secret nor a recovery code is in the database in clear.
	var plain int
	s.app.DB.QueryRow(`SELECT count(*) FROM users WHERE totp_secret LIKE ?`, "%"+secret+"%").Scan(&plain)
	s.app.DB.QueryRow(`SELECT count(*) + ? FROM recovery_codes WHERE code_hash = ?`, plain, codes[0]).Scan(&plain)
	if plain != 0 {
		t.Fatal("a TOTP secret or recovery code is stored in clear")
	}
	wantStatus(t, c.post("/logout", nil), http.StatusSeeOther)

	// Password first, then the code; no session before the second step.
	signIn := func(code string, want int) *client {
		t.Helper()
		u := s.client(t)
		u.get("/login")
		r := u.post("/login", url.Values{"email": {adminEmail}, "password": {adminPass}, "next": {"/audit"}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login/2fa" {
			t.Fatalf("password step: %d to %q", r.StatusCode, r.Header.Get("Location"))
		}
		wantStatus(t, u.get("/audit"), http.StatusSeeOther)
		u.get("/login/2fa")
		before := u.cookie("ic_session").Value
		r = u.post("/login/2fa", url.Values{"code": {code}})
		wantStatus(t, r, want)
		if want == http.StatusSeeOther {
			if r.Header.Get("Location") != "/audit" || u.cookie("ic_session").Value == before {
				t.Fatalf("after the second step: Location %q, session renewed %v", r.Header.Get("Location"), u.cookie("ic_session").Value != before)
			}
			wantStatus(t, u.get("/audit"), http.StatusOK)
		}
		return u
	}
	signIn("123", http.StatusUnauthorized)
	signIn(totpCode(t, s, secret), http.StatusUnauthorized) // the code that confirmed the enrolment is spent
	s.clock.Add(30 * time.Second)
	code := totpCode(t, s, secret)
	signIn(code, http.StatusSeeOther)
	if e := s.newestEvent(t); e.Event != audit.EventLogin || !strings.Contains(e.Detail, "authenticator code") {
		t.Fatalf("newest event %q %q", e.Event, e.Detail)
	}
	signIn(code, http.StatusUnauthorized) // a code works once

	s.clock.Add(time.Minute) // let the second-factor throttle refill
	signIn(codes[0], http.StatusSeeOther)
	if e := s.newestEvent(t); e.Event != audit.EventLogin {
		t.Fatalf("newest event %q", e.Event)
	}
	p, _ := s.app.Audit.List(t.Context(), audit.Filter{Kind: audit.KindEvent}, 0, 2)
	if p.Entries[1].Event != audit.EventRecoveryCodeUsed || !strings.Contains(p.Entries[1].Detail, "9 left") {
		t.Fatalf("event before the sign-in: %q %q", p.Entries[1].Event, p.Entries[1].Detail)
	}
	s.clock.Add(time.Minute)
	signIn(codes[0], http.StatusUnauthorized) // recovery codes are single use

	s.clock.Add(time.Minute)
	u := signIn(totpCode(t, s, secret), http.StatusSeeOther)
	r := u.get("/account")
	if got := text(r.doc.Find(`[data-testid="twofactor-status"]`)); !strings.Contains(got, "9 unused recovery codes") {
		t.Fatalf("status %q", got)
	}
	wantStatus(t, u.post("/account/2fa/remove", url.Values{"password": {"wrong password!"}, "code": {codes[1]}}), http.StatusUnprocessableEntity)
	wantStatus(t, u.post("/account/2fa/remove", url.Values{"password": {adminPass}, "code": {codes[1]}}), http.StatusSeeOther)
	if e := s.newestEvent(t); e.Event != audit.Event2FARemoved {
		t.Fatalf("newest event %q", e.Event)
	}
	u.post("/logout", nil)
	s.client(t).login(adminEmail, adminPass) // one step again
}

func TestRequire2FA(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, func(c *configT, _ *appOptions) { c.Require2FA = true })
	s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	aud := s.client(t)
	aud.login("auditor@example.com", testPass)
	wantStatus(t, aud.get("/audit"), http.StatusOK) // auditors are not forced

	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/users")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account" {
		t.Fatalf("admin without a second factor: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = c.get("/account")
	if r.doc.Find(`[data-testid="must-enrol"]`).Length() != 1 {
		t.Fatal("the account page does not say why")
	}
	enrol(t, s, c)
	wantStatus(t, c.get("/users"), http.StatusOK)
}
