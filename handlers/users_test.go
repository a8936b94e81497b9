package handlers_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"issuerconsole/services/accounts"
)

func userRowByEmail(r *response, email string) *goqSel {
	var found *goqSel
	r.doc.Find(`tr[data-testid="user-row"]`).Each(func(_ int, row *goqSel) {
		if text(row.Find(`[data-testid="user-email"]`)) == email {
			found = row
		}
	})
	return found
}

func TestCreateUser(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	c.get("/users")

	tests := []struct {
		name   string
		form   url.Values
		status int
		errFor string
	}{
		{"bad e-mail", url.Values{"email": {"not-an-address"}, "role": {"auditor"}, "password": {testPass}}, http.StatusUnprocessableEntity, "email"},
		{"short password", url.Values{"email": {"new@example.com"}, "role": {"auditor"}, "password": {"short"}}, http.StatusUnprocessableEntity, "password"},
		{"duplicate", url.Values{"email": {"ADMIN@example.com"}, "role": {"auditor"}, "password": {testPass}}, http.StatusUnprocessableEntity, "email"},
		{"unknown role", url.Values{"email": {"new@example.com"}, "role": {"root"}, "password": {testPass}}, http.StatusUnprocessableEntity, "role"},
		{"valid", url.Values{"email": {"new@example.com"}, "name": {"New Person"}, "role": {"auditor"}, "password": {testPass}}, http.StatusSeeOther, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.post("/users", tt.form)
			wantStatus(t, r, tt.status)
			if tt.errFor == "" {
				return
			}
			if got := text(r.doc.Find(`[data-testid="error-` + tt.errFor + `"]`)); got == "" {
				t.Fatalf("no error shown for %s", tt.errFor)
			}
			// What was typed is kept (but never the password).
			if v, _ := r.doc.Find(`#new-user input[name="email"]`).Attr("value"); v != tt.form.Get("email") {
				t.Fatalf("e-mail field = %q", v)
			}
			if v, _ := r.doc.Find(`#new-user input[name="password"]`).Attr("value"); v != "" {
				t.Fatal("password echoed")
			}
		})
	}
	r := c.get("/users")
	if got := text(r.doc.Find(`[data-testid="flash"]`)); got != "Added new@example.com as auditor. ×" && !strings.HasPrefix(got, "Added new@example.com as auditor.") {
		t.Fatalf("flash %q", got)
	}
	row := userRowByEmail(r, "new@example.com")
	if row == nil {
		t.Fatal("new user not listed")
	}
	if v, _ := row.Find(`select[data-testid="user-role"] option[selected]`).Attr("value"); v != "auditor" {
		t.Fatalf("role shown %q", v)
	}
	if n := r.doc.Find(`tr[data-testid="user-row"]`).Length(); n != 2 {
		t.Fatalf("%d rows, want 2 (invalid attempts must not create users)", n)
	}
	// The new user can sign in with the initial password.
	s.client(t).login("new@example.com", testPass)
}

func TestChangeRoleWithHTMX(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	aud := s.createUser(t, "aud@example.com", accounts.RoleAuditor)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	wantStatus(t, c.get("/users"), http.StatusOK) // the page and its CSRF token
	hdr := []string{"HX-Request", "true", "X-CSRF-Token", c.csrf}
	id := strconv.FormatInt(aud.ID, 10)

	r := c.post("/users/"+id+"/role", url.Values{"role": {"admin"}}, hdr...)
	wantStatus(t, r, http.StatusOK)
	if strings.Contains(r.body, "<html") {
		t.Fatal("htmx role change answered with a full page")
	}
	row := r.doc.Find(`tr[data-testid="user-row"]`)
	if got, _ := row.Attr("id"); got != "user-"+id {
		t.Fatalf("fragment row id %q", got)
	}
	if v, _ := row.Find(`option[selected]`).Attr("value"); v != "admin" {
		t.Fatalf("role after change %q", v)
	}

	// Own account: refused with the reason in the row, nothing changed.
	me, _ := s.app.Accounts.Authenticate(t.Context(), adminEmail, adminPass)
	r = c.post("/users/"+strconv.FormatInt(me.ID, 10)+"/role", url.Values{"role": {"auditor"}}, hdr...)
	wantStatus(t, r, http.StatusConflict)
	if got := text(r.doc.Find(`[data-testid="row-error"]`)); !strings.Contains(got, "your own account") {
		t.Fatalf("row error %q", got)
	}
	if u, _ := s.app.Accounts.Get(t.Context(), me.ID); u.Role != accounts.RoleAdmin {
		t.Fatal("own role changed")
	}

	// Disable through htmx.
	r = c.post("/users/"+id+"/disabled", url.Values{"disabled": {"true"}}, hdr...)
	wantStatus(t, r, http.StatusOK)
	if got := r.doc.Find(`[data-testid="user-status"]`).AttrOr("data-code", ""); got != "disabled" {
		t.Fatalf("status after disabling %q", got)
	}
}

func TestLastAdminCannotBeDemoted(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	other := s.createUser(t, "other@example.com", accounts.RoleAdmin)
	c := s.client(t)
	c.login("other@example.com", testPass)
	c.get("/users")
	me, _ := s.app.Accounts.Authenticate(t.Context(), adminEmail, adminPass)
	// other demotes admin@ (allowed: other remains), then admin@ is an auditor.
	wantStatus(t, c.post("/users/"+strconv.FormatInt(me.ID, 10)+"/role", url.Values{"role": {"auditor"}}), http.StatusSeeOther)
	// Disabling other's own account is refused; other is the last admin.
	r := c.post("/users/"+strconv.FormatInt(other.ID, 10)+"/disabled", url.Values{"disabled": {"true"}})
	wantStatus(t, r, http.StatusSeeOther)
	r = c.get("/users")
	if got := text(r.doc.Find(`[data-testid="flash"]`)); !strings.Contains(got, "cannot disable or demote your own account") {
		t.Fatalf("flash %q", got)
	}
}
