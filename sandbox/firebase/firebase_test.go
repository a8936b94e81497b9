package firebase

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSecureTokenExchange(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	e := New(2*time.Second, func() time.Time { return now })
	post := func(key string, form url.Values) (int, map[string]any) {
		req := httptest.NewRequest("POST", "/v1/token?key="+url.QueryEscape(key), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		e.Handler().ServeHTTP(rec, req)
		var body map[string]any
		json.Unmarshal(rec.Body.Bytes(), &body)
		return rec.Code, body
	}
	good := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {DefaultRefreshToken}}
	for _, tt := range []struct {
		name, key string
		form      url.Values
		want      string
	}{
		{"bad API key", "nope", good, "API key not valid"},
		{"grant type", DefaultAPIKey, url.Values{"grant_type": {"password"}, "refresh_token": {DefaultRefreshToken}}, "INVALID_GRANT_TYPE"},
		{"no refresh token", DefaultAPIKey, url.Values{"grant_type": {"refresh_token"}}, "MISSING_REFRESH_TOKEN"},
		{"unknown refresh token", DefaultAPIKey, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, "INVALID_REFRESH_TOKEN"},
	} {
		status, body := post(tt.key, tt.form)
		msg, _ := body["error"].(map[string]any)["message"].(string)
		if status != http.StatusBadRequest || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %d %v", tt.name, status, body)
		}
	}
	status, body := post(DefaultAPIKey, good)
	tok, _ := body["id_token"].(string)
	if status != 200 || tok == "" || body["expires_in"] != "2" || body["refresh_token"] != DefaultRefreshToken {
		t.Fatalf("exchange: %d %v", status, body)
	}
	if known, valid := e.Verify(tok); !known || !valid {
		t.Fatal("a fresh token is not valid")
	}
	now = now.Add(2 * time.Second)
	if known, valid := e.Verify(tok); !known || valid {
		t.Fatal("a token past its lifetime is still valid")
	}
	if known, _ := e.Verify("forged"); known {
		t.Fatal("a forged token is known")
	}
}
