package handlers_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"issuerconsole/app"
	"issuerconsole/services/audit"
)

func TestSettingsPage(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/settings")
	wantStatus(t, r, http.StatusOK)
	iss := r.doc.Find(`[data-testid="connection-issuance"]`)
	if got := text(iss.Find(`[data-testid="connection-mode"]`)); got != "sandbox" {
		t.Fatalf("issuance mode %q", got)
	}
	if got := text(iss.Find(`[data-testid="connection-url"]`)); !strings.HasSuffix(got, "/sandbox/issuance/") {
		t.Fatalf("issuance base URL %q", got)
	}
	for _, secret := range []string{app.SandboxIssuanceKey, app.SandboxFirebaseToken, app.SandboxCashlinkSecret} {
		if strings.Contains(r.body, secret) {
			t.Errorf("the settings page shows the secret %q", secret)
		}
	}
	if !strings.Contains(text(iss), "characters") {
		t.Fatal("the key is not shown masked")
	}

	before := s.callCount(t, "issuance")
	r = c.post("/settings/test/issuance", nil, "HX-Request", "true", "X-CSRF-Token", c.csrf)
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="test-ok"]`)); !strings.Contains(got, "Connected") {
		t.Fatalf("test result %q", r.body)
	}
	if s.callCount(t, "issuance") != before+1 {
		t.Fatal("the connection test made no audited call")
	}
	ev, _ := s.app.Audit.List(context.Background(), audit.Filter{Kind: audit.KindEvent}, 0, 1)
	if len(ev.Entries) == 0 || ev.Entries[0].Event != audit.EventConnectionTested || ev.Entries[0].Actor != adminEmail {
		t.Fatalf("no connection-test event: %+v", ev.Entries)
	}
	wantStatus(t, c.post("/settings/test/stripe", nil, "HX-Request", "true", "X-CSRF-Token", c.csrf), http.StatusNotFound)
}

func TestInvestorsAndIssuanceUsers(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)

	r := c.get("/investors?page_size=10&type=person")
	wantStatus(t, r, http.StatusOK)
	rows := r.doc.Find(`tr[data-testid="investor-row"]`)
	if rows.Length() == 0 {
		t.Fatalf("no investors: %s", text(r.doc.Find(`[data-testid="list-problem"]`)))
	}
	rows.Each(func(_ int, row *goqSel) {
		if got := text(row.Find("td").Eq(1)); got != "Person" {
			t.Errorf("type %q in a person-only list", got)
		}
	})
	if sent := s.lastCallTo(t, "/api/investors/").Path; !strings.Contains(sent, "type=person") {
		t.Fatalf("sent %s", sent)
	}
	href, _ := rows.First().Find("a").Attr("href")
	r = c.get(href)
	wantStatus(t, r, http.StatusOK)
	if r.doc.Find(`table[data-testid="investor-fields"] tbody tr`).Length() < 3 {
		t.Fatal("investor detail shows almost nothing")
	}
	// Who it is first: the name (the id after it), type and KYC in words;
	// each field labelled in words with its API name beside it.
	name, invID := text(rows.First().Find(`[data-testid="investor-name"]`)), text(rows.First().Find("td").First())
	if got := text(r.doc.Find(`h1[data-testid="investor-name"]`)); got != name+" #"+invID {
		t.Fatalf("investor page heading %q, want %q", got, name+" #"+invID)
	}
	if got := text(r.doc.Find(`[data-testid="investor-type"]`)); got != "Person" {
		t.Fatalf("type %q", got)
	}
	if r.doc.Find(`.summary-line .badge`).Length() != 1 {
		t.Fatal("no KYC badge")
	}
	kyc := r.doc.Find(`table[data-testid="investor-fields"] tbody tr`).FilterFunction(func(_ int, tr *goqSel) bool { return text(tr.Find("td").First()) == "entity.kyc_status" })
	if text(kyc.Find("th")) != "Entity KYC status" {
		t.Fatalf("the kyc_status field is labelled %q", text(kyc.Find("th")))
	}

	const pw = "issuance-PW-secret-42"
	r = c.get("/issuance-users?page_size=10")
	wantStatus(t, r, http.StatusOK)
	r = c.post("/issuance-users", url.Values{"iu-email": {"not an address"}, "iu-password": {pw}})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if text(r.doc.Find(`[data-testid="error-iu-email"]`)) == "" {
		t.Fatal("no e-mail error")
	}
	if v, _ := r.doc.Find(`#iu-password`).Attr("value"); v != "" {
		t.Fatal("password echoed into the page")
	}
	r = c.post("/issuance-users", url.Values{"iu-email": {"new.user@example.com"}, "iu-password": {pw}})
	wantStatus(t, r, http.StatusSeeOther)
	r = c.get("/issuance-users?page_size=10&thirdpartyissueruser__email=new.user%40example.com")
	row := r.doc.Find(`tr[data-testid="issuance-user-row"]`)
	if row.Length() != 1 || text(row.Find(`[data-testid="issuance-user-email"]`)) != "new.user@example.com" {
		t.Fatalf("new user not listed: %s", text(r.doc.Find("main")))
	}
	id := text(row.Find("td").First())
	r = c.post("/issuance-users/"+id, url.Values{"email": {"renamed@example.com"}, "password": {pw + "-2"}, "password_confirm": {pw + "-2"}})
	wantStatus(t, r, http.StatusSeeOther)
	r = c.get("/issuance-users?page_size=10")
	if got := text(r.doc.Find(`[data-testid="flash"]`)); !strings.Contains(got, "renamed@example.com") || !strings.Contains(got, "password changed") {
		t.Fatalf("flash %q", got)
	}

	// Passwords are write-only: nowhere in the console's database or logs.
	s.app.DB.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	dir := filepath.Dir(s.consoleDB(t))
	for _, name := range []string{"console.db", "console.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		if bytes.Contains(b, []byte(pw)) {
			t.Errorf("an Issuance password reached %s", name)
		}
	}
	if strings.Contains(s.logs.String(), pw) {
		t.Error("an Issuance password reached the log")
	}
}

// Changing an Issuance user's password needs it typed twice, follows
// Django's default validators (the API's framework; nothing is sent when
// they refuse) and is recorded as a security event without the password.
func TestIssuancePasswordChange(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	r := c.get("/issuance-users?page_size=1")
	row := r.doc.Find(`tr[data-testid="issuance-user-row"]`).First()
	id, email := text(row.Find("td").First()), text(row.Find(`[data-testid="issuance-user-email"]`))
	form := row.Find(`form[data-testid="password-form"]`)
	if form.Find(`input[name="password"][type="password"]`).Length() != 1 || form.Find(`input[name="password_confirm"][type="password"]`).Length() != 1 {
		t.Fatal("the password form does not ask for the password twice")
	}
	for _, tt := range []struct {
		name, password, confirm, want string
		changed                       bool
	}{
		{"differ", "tangerine-rocket-47", "tangerine-rocket-48", "the two passwords differ", false},
		{"five characters", "ab1cd", "ab1cd", "This password is too short. It must contain at least 8 characters.", false},
		{"common", "password123", "password123", "This password is too common.", false},
		{"numeric", "83920174", "83920174", "This password is entirely numeric.", false},
		{"like the e-mail", email, email, "The password is too similar to the email address.", false},
		{"good", "tangerine-rocket-47", "tangerine-rocket-47", "password changed", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := s.callCount(t, "issuance")
			r := c.post("/issuance-users/"+id, url.Values{"password": {tt.password}, "password_confirm": {tt.confirm}, "current_email": {email}})
			wantStatus(t, r, http.StatusSeeOther)
			r = c.get("/issuance-users?page_size=1")
			if got := text(r.doc.Find(`[data-testid="flash"]`)); !strings.Contains(got, tt.want) {
				t.Errorf("flash %q, want %q", got, tt.want)
			}
			patched := s.callCount(t, "issuance") - before - 1 // the list read after
			if tt.changed != (patched == 1) {
				t.Errorf("%d PATCH calls", patched)
			}
			ev := s.newestEvent(t)
			if tt.changed != (ev.Event == audit.EventIssuanceUserPasswordChanged) {
				t.Errorf("newest security event %q", ev.Event)
			}
			if tt.changed && (ev.Actor != adminEmail || !strings.Contains(ev.Detail, "#"+id) || strings.Contains(ev.Detail, tt.password)) {
				t.Errorf("event %+v", ev)
			}
		})
	}
}

// The connection test tells the user it worked, and the calls it made are in
// the audit log: for Cashlink a token and one read, for Issuance one read.
func TestConnectionTestResults(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	c.get("/settings")
	ctx := context.Background()
	newCalls := func(api string, after int64) []audit.Entry {
		t.Helper()
		p, err := s.app.Audit.List(ctx, audit.Filter{API: api, Kind: audit.KindCall}, 0, 20)
		if err != nil {
			t.Fatal(err)
		}
		var out []audit.Entry
		for i := len(p.Entries) - 1; i >= 0; i-- {
			if p.Entries[i].ID > after {
				out = append(out, p.Entries[i])
			}
		}
		return out
	}

	// Cashlink, as htmx sends it: the result fragment.
	head, _, _ := s.app.Audit.Head(ctx)
	r := c.post("/settings/test/cashlink", nil, "HX-Request", "true", "X-CSRF-Token", c.csrf)
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="test-ok"]`)); !regexp.MustCompile(`^Connected: a token was issued and the API lists [\d,]+ investments?\.$`).MatchString(got) {
		t.Fatalf("Cashlink result %q\n%s", got, r.body)
	}
	calls := newCalls("cashlink", head)
	if len(calls) != 2 || calls[0].Method != http.MethodPost || !strings.HasSuffix(calls[0].Path, "/oauth/token") ||
		calls[1].Method != http.MethodGet || !strings.Contains(calls[1].Path, "/v2/investments/") {
		t.Fatalf("Cashlink test made %+v, want a token request then one read", calls)
	}
	for _, e := range calls {
		if e.Status != http.StatusOK || e.Actor != adminEmail {
			t.Fatalf("call %s: status %d actor %q", e.Path, e.Status, e.Actor)
		}
	}
	// The link to the log ends at the test's last call.
	if href, _ := r.doc.Find(`a[href^="/audit?"]`).Attr("href"); href != "/audit?before="+strconvItoa(int(calls[1].ID)+1) {
		t.Fatalf("audit link %q, want it to show call %d", href, calls[1].ID)
	}
	if e := s.newestEvent(t); e.Event != audit.EventConnectionTested || e.Detail != "cashlink: ok=true" {
		t.Fatalf("event %q %q", e.Event, e.Detail)
	}

	// Issuance, as a plain form post: a redirect and a flash message.
	head, _, _ = s.app.Audit.Head(ctx)
	r = c.post("/settings/test/issuance", nil)
	wantStatus(t, r, http.StatusSeeOther)
	r = c.get(r.Header.Get("Location"))
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="flash"]`)); !regexp.MustCompile(`Connected: the API answered and lists [\d,]+ offerings?\.`).MatchString(got) {
		t.Fatalf("Issuance flash %q", got)
	}
	calls = newCalls("issuance", head)
	if len(calls) != 1 || calls[0].Method != http.MethodGet || !strings.Contains(calls[0].Path, "/api/offerings/") || calls[0].Status != http.StatusOK {
		t.Fatalf("Issuance test made %+v, want one read of the offerings", calls)
	}
}
