package cashlink

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{TokenTTL: 5 * time.Minute})
	good := func() url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}
	}
	with := func(k, val string) url.Values { f := good(); f.Set(k, val); return f }
	without := func(k string) url.Values { f := good(); f.Del(k); return f }
	tests := []struct {
		name      string
		method    string
		body      any
		hdr       map[string]string
		status    int
		wantScope string
		fragments []string
	}{
		{"all scopes by default", "POST", good(), nil, 200, strings.Join(AllScopes, " "), []string{`"token_type":"Bearer"`, `"expires_in":300`}},
		{"the guide's scopes", "POST", with("scope", "investors:write investments:write investments:read documents:write"), nil, 200,
			"investors:write investments:write investments:read documents:write", nil},
		{"duplicate scopes collapse", "POST", with("scope", "investors:read investors:read"), nil, 200, "investors:read", nil},
		{"body id without secret beats HTTP Basic", "POST", without("client_secret"), map[string]string{"Authorization": "Basic c2FuZGJveC1jbGllbnQ6c2FuZGJveC1zZWNyZXQ="}, 401, "", []string{"invalid_client"}},
		{"bad secret", "POST", with("client_secret", "nope"), nil, 401, "", []string{`"error":"invalid_client"`}},
		{"unknown client", "POST", with("client_id", "someone"), nil, 401, "", []string{"invalid_client"}},
		{"bad grant", "POST", with("grant_type", "password"), nil, 400, "", []string{`"error":"unsupported_grant_type"`}},
		{"missing grant", "POST", without("grant_type"), nil, 400, "", []string{`"error":"invalid_request"`}},
		{"unknown scope", "POST", with("scope", "investors:read products:write"), nil, 400, "", []string{`"error":"invalid_scope"`, "products:write"}},
		{"JSON instead of a form", "POST", map[string]string{"grant_type": "client_credentials"}, nil, 400, "", []string{"invalid_request"}},
		{"GET", "GET", nil, nil, 405, "", []string{`Method \"GET\" not allowed.`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := v.do(tt.method, "/oauth/token", "", tt.body, tt.hdr)
			wantErrBody(t, r, tt.status, tt.fragments...)
			if tt.status != 200 {
				return
			}
			m := r.obj(t)
			if m["scope"] != tt.wantScope {
				t.Errorf("scope = %q, want %q", m["scope"], tt.wantScope)
			}
			if tok, _ := m["access_token"].(string); len(tok) < 32 {
				t.Errorf("access_token %q is too short", tok)
			}
			if r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", r.header.Get("Cache-Control"))
			}
		})
	}
	t.Run("HTTP Basic alone", func(t *testing.T) {
		f := url.Values{"grant_type": {"client_credentials"}}
		r := v.do("POST", "/oauth/token", "", f, map[string]string{"Authorization": "Basic c2FuZGJveC1jbGllbnQ6c2FuZGJveC1zZWNyZXQ="})
		wantErrBody(t, r, 200, "access_token")
	})
	t.Run("only the hash is stored", func(t *testing.T) {
		tok := v.token()
		var n int
		if err := v.d.QueryRow(`SELECT count(*) FROM cl_tokens WHERE hash = ? OR CAST(hash AS TEXT) = ?`, []byte(tok), tok).Scan(&n); err != nil {
			t.Fatal(err)
		}
		var hashed int
		if err := v.d.QueryRow(`SELECT count(*) FROM cl_tokens WHERE hash = ?`, tokenHash(tok)).Scan(&hashed); err != nil {
			t.Fatal(err)
		}
		if n != 0 || hashed != 1 {
			t.Fatalf("raw token rows = %d, hashed rows = %d; want 0 and 1", n, hashed)
		}
	})
}

func TestBearerAuthentication(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{TokenTTL: 5 * time.Minute})
	path := "/v2/investors/" + v.investor().ID + "/"
	tests := []struct {
		name     string
		auth     string
		prepare  func() // runs before the request
		status   int
		detail   string
		wwwAuthn string
	}{
		{"valid", "Bearer " + v.tok, nil, 200, "", ""},
		{"keyword case-insensitive", "bearer " + v.tok, nil, 200, "", ""},
		{"missing", "", nil, 401, "Authentication credentials were not provided.", `Bearer realm="api"`},
		{"other scheme", "Basic " + v.tok, nil, 401, "Authentication credentials were not provided.", `Bearer realm="api"`},
		{"keyword only", "Bearer", nil, 401, "Authentication credentials were not provided.", ""},
		{"unknown token", "Bearer nottoken", nil, 401, "Invalid token.", `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := v.do("GET", path, "", nil, map[string]string{"Authorization": tt.auth})
			wantErrBody(t, r, tt.status, tt.detail)
			if !strings.Contains(r.header.Get("WWW-Authenticate"), tt.wwwAuthn) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", r.header.Get("WWW-Authenticate"), tt.wwwAuthn)
			}
		})
	}
	t.Run("expires after the TTL", func(t *testing.T) {
		tok := v.token()
		v.clk.Advance(5*time.Minute - time.Second)
		if r := v.do("GET", path, tok, nil, nil); r.status != 200 {
			t.Fatalf("just before expiry: %s", r)
		}
		v.clk.Advance(time.Second)
		r := v.do("GET", path, tok, nil, nil)
		wantErrBody(t, r, 401, "Token has expired.")
		if !strings.Contains(r.header.Get("WWW-Authenticate"), "expired") {
			t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
		}
	})
	t.Run("ExpireTokens expires every issued token, not later ones", func(t *testing.T) {
		a, b := v.token(), v.token()
		if err := v.e.ExpireTokens(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{a, b} {
			wantErrBody(t, v.do("GET", path, tok, nil, nil), 401, "Token has expired.")
		}
		if r := v.do("GET", path, v.token(), nil, nil); r.status != 200 {
			t.Fatalf("a new token after ExpireTokens: %s", r)
		}
	})
	t.Run("token TTL knob", func(t *testing.T) {
		s := v.e.Settings()
		s.TokenTTL = Duration(90 * time.Second)
		if err := v.e.SetSettings(s); err != nil {
			t.Fatal(err)
		}
		r := v.do("POST", "/oauth/token", "", url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret}}, nil)
		wantErrBody(t, r, 200, `"expires_in":90`)
	})
	t.Run("authentication comes before the method check and the 404", func(t *testing.T) {
		wantErrBody(t, v.do("DELETE", path, "", nil, nil), 401)
		wantErrBody(t, v.do("GET", "/v2/investors/00000000-0000-4000-8000-000000000000/", "", nil, nil), 401)
	})
}

func TestScopes(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	inv := v.investor().ID
	doc, ct := multipartBody(t, "file", "a.pdf", "application/pdf", []byte("x"))
	routes := []struct {
		name   string
		method string
		path   string
		body   any
		ctype  string
		need   string
	}{
		{"get investor", "GET", "/v2/investors/" + inv + "/", nil, "", ScopeInvestorsRead},
		{"list wallets", "GET", "/v2/investors/" + inv + "/wallets/", nil, "", ScopeInvestorsRead},
		{"create investor", "POST", "/v2/investors/", map[string]any{}, "", ScopeInvestorsWrite},
		{"create generic wallet", "POST", "/v2/investors/" + inv + "/wallets/eth-generic/", map[string]any{}, "", ScopeInvestorsWrite},
		{"list investments", "GET", "/v2/investments/", nil, "", ScopeInvestmentsRead},
		{"create investment", "POST", "/v2/investments/", map[string]any{}, "", ScopeInvestmentsWrite},
		{"create redemption", "POST", "/v2/redemptions/", map[string]any{}, "", ScopeInvestmentsWrite},
		{"upload document", "POST", "/v2/documents/", doc, ct, ScopeDocumentsWrite},
	}
	for _, rt := range routes {
		for _, scope := range AllScopes {
			t.Run(rt.name+" with "+scope, func(t *testing.T) {
				tok := v.token(scope)
				h := map[string]string{}
				if rt.ctype != "" {
					h["Content-Type"] = rt.ctype
				}
				r := v.do(rt.method, rt.path, tok, rt.body, h)
				allowed := scope == rt.need || (strings.HasSuffix(rt.need, ":read") && scope == strings.TrimSuffix(rt.need, ":read")+":write")
				if allowed {
					if r.status == 403 || r.status == 401 {
						t.Fatalf("scope %s should be enough: %s", scope, r)
					}
					return
				}
				wantErrBody(t, r, 403, "You do not have permission to perform this action.")
			})
		}
	}
	t.Run("403 does not leak whether the object exists", func(t *testing.T) {
		r := v.do("GET", "/v2/investments/00000000-0000-4000-8000-000000000000/", v.token(ScopeDocumentsWrite), nil, nil)
		wantErrBody(t, r, 403)
	})
	t.Run("no document was created by the refused uploads", func(t *testing.T) {
		c := v.counts()
		if c.Documents != 1 { // only the documents:write upload
			t.Fatalf("documents = %d, want 1", c.Documents)
		}
	})
}
