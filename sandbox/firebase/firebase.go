// Package firebase emulates the one Firebase endpoint the console uses:
// the Secure Token API's refresh-token exchange
// (POST /v1/token?key=API_KEY, form grant_type=refresh_token&refresh_token=…),
// which turns a long-lived refresh token into a short-lived ID token. The
// Issuance emulator accepts the ID tokens it issued until they expire.
package firebase

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The sandbox's test credentials, listed by GET /sandbox/issuance/_info.
const (
	DefaultAPIKey       = "sandbox-firebase-api-key"
	DefaultRefreshToken = "sandbox-firebase-refresh-token"
)

// Emulator issues ID tokens for the sandbox's refresh token. Tokens live in
// memory: after a restart clients exchange their refresh token again (the
// console does on the 401).
type Emulator struct {
	ttl time.Duration
	now func() time.Time

	mu     sync.Mutex
	tokens map[string]time.Time // ID token → expiry
}

// New returns an emulator whose ID tokens live ttl; now nil = time.Now.
func New(ttl time.Duration, now func() time.Time) *Emulator {
	if now == nil {
		now = time.Now
	}
	if ttl <= 0 {
		ttl = time.Hour // Firebase's lifetime
	}
	return &Emulator{ttl: ttl, now: now, tokens: map[string]time.Time{}}
}

// Verify reports whether tok is an ID token this emulator issued (known)
// and whether it is still valid.
func (e *Emulator) Verify(tok string) (known, valid bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	exp, ok := e.tokens[tok]
	if !ok {
		return false, false
	}
	return true, e.now().Before(exp)
}

// googleError is the Secure Token API's error body.
func googleError(w http.ResponseWriter, status int, message, state string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": message, "status": state}})
}

// Handler serves POST /v1/token relative to its mount point.
func (e *Emulator) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/token" {
			googleError(w, http.StatusNotFound, "Not Found", "NOT_FOUND")
			return
		}
		if r.Method != http.MethodPost {
			googleError(w, http.StatusMethodNotAllowed, "Method Not Allowed", "INVALID_ARGUMENT")
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.URL.Query().Get("key")), []byte(DefaultAPIKey)) != 1 {
			googleError(w, http.StatusBadRequest, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT")
			return
		}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
			googleError(w, http.StatusBadRequest, "INVALID_GRANT_TYPE", "INVALID_ARGUMENT")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			googleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "INVALID_ARGUMENT")
			return
		}
		switch {
		case r.PostForm.Get("grant_type") != "refresh_token":
			googleError(w, http.StatusBadRequest, "INVALID_GRANT_TYPE", "INVALID_ARGUMENT")
			return
		case r.PostForm.Get("refresh_token") == "":
			googleError(w, http.StatusBadRequest, "MISSING_REFRESH_TOKEN", "INVALID_ARGUMENT")
			return
		case subtle.ConstantTimeCompare([]byte(r.PostForm.Get("refresh_token")), []byte(DefaultRefreshToken)) != 1:
			googleError(w, http.StatusBadRequest, "INVALID_REFRESH_TOKEN", "INVALID_ARGUMENT")
			return
		}
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		tok := "sandbox-id-token-" + hex.EncodeToString(b)
		now := e.now()
		e.mu.Lock()
		for t, exp := range e.tokens { // drop expired tokens: the map stays small
			if !now.Before(exp) {
				delete(e.tokens, t)
			}
		}
		e.tokens[tok] = now.Add(e.ttl)
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.Header().Set("Cache-Control", "no-store")
		// Google answers expires_in as a string of seconds.
		_ = json.NewEncoder(w).Encode(map[string]string{
			"id_token": tok, "access_token": tok, "refresh_token": DefaultRefreshToken, "token_type": "Bearer",
			"expires_in": strconv.FormatInt(max(1, int64(e.ttl/time.Second)), 10), "user_id": "sandbox-user", "project_id": "sandbox",
		})
	})
}
