package cashlink

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"mime"
	"net/http"
	"strings"
	"time"
)

const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newToken is an opaque 40-character random token.
func newToken() string {
	var b [40]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	for i := range b {
		b[i] = tokenAlphabet[int(b[i])%len(tokenAlphabet)]
	}
	return string(b[:])
}

func tokenHash(tok string) []byte {
	s := sha256.Sum256([]byte(tok))
	return s[:]
}

// oauthError is RFC 6749 §5.2's error body.
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="oauth"`)
	}
	write(w, jsonAnswer(status, struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{code, desc}))
}

// token is POST /api/external/oauth/token: the client-credentials grant with
// the credentials in the form body (or HTTP Basic, as RFC 6749 allows).
func (e *Emulator) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		write(w, detail(http.StatusMethodNotAllowed, `Method "`+r.Method+`" not allowed.`))
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	var err error
	switch mt {
	case "application/x-www-form-urlencoded":
		err = r.ParseForm()
	case "multipart/form-data":
		err = r.ParseMultipartForm(64 << 10)
	default:
		oauthError(w, http.StatusBadRequest, "invalid_request", "The token request must be a form (application/x-www-form-urlencoded).")
		return
	}
	if err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "The form body could not be read.")
		return
	}
	form := r.PostForm
	gt := form.Get("grant_type")
	if gt == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Request is missing grant_type parameter.")
		return
	}
	if gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Only the client_credentials grant is supported.")
		return
	}
	id, secret := form.Get("client_id"), form.Get("client_secret")
	if bid, bsecret, ok := r.BasicAuth(); ok && id == "" {
		id, secret = bid, bsecret
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(e.clientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(e.clientSecret)) == 1
	if !idOK || !secretOK {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed.")
		return
	}
	scopes := AllScopes
	if s := strings.Fields(form.Get("scope")); len(s) > 0 {
		for _, sc := range s {
			if !contains(AllScopes, sc) {
				oauthError(w, http.StatusBadRequest, "invalid_scope", "Unknown scope: "+sc+".")
				return
			}
		}
		scopes = dedupe(s)
	}
	ttl := time.Duration(e.Settings().TokenTTL)
	now := e.now()
	tok := newToken()
	ctx := r.Context()
	// Housekeeping: tokens expired for a day are never asked about again.
	if _, err := e.db.ExecContext(ctx, `DELETE FROM cl_tokens WHERE expires_at < ?`, micros(now.Add(-24*time.Hour))); err != nil {
		e.log.Warn("cashlink sandbox: pruning tokens", "err", err)
	}
	if _, err := e.db.ExecContext(ctx, `INSERT INTO cl_tokens (hash, client_id, scopes, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		tokenHash(tok), e.clientID, strings.Join(scopes, " "), micros(now), micros(now.Add(ttl))); err != nil {
		write(w, e.failure(r, err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	write(w, jsonAnswer(http.StatusOK, struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		TokenType   string `json:"token_type"`
		Scope       string `json:"scope"`
	}{tok, int64(ttl.Round(time.Second) / time.Second), "Bearer", strings.Join(scopes, " ")}))
}

func dedupe(s []string) []string {
	out := s[:0:0]
	for _, x := range s {
		if !contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

// authenticate checks the bearer token and answers 401 when it fails.
func (e *Emulator) authenticate(w http.ResponseWriter, r *http.Request) (clientID string, scopes []string, ok bool) {
	kw, tok, found := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !found || !strings.EqualFold(kw, "Bearer") || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
		write(w, detail(http.StatusUnauthorized, "Authentication credentials were not provided."))
		return "", nil, false
	}
	var sc string
	var expires int64
	err := e.db.QueryRowContext(r.Context(), `SELECT client_id, scopes, expires_at FROM cl_tokens WHERE hash = ?`, tokenHash(tok)).
		Scan(&clientID, &sc, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="The access token is invalid."`)
		write(w, detail(http.StatusUnauthorized, "Invalid token."))
		return "", nil, false
	case err != nil:
		write(w, e.failure(r, err))
		return "", nil, false
	case expires <= micros(e.now()):
		w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token", error_description="The access token has expired."`)
		write(w, detail(http.StatusUnauthorized, "Token has expired."))
		return "", nil, false
	}
	return clientID, strings.Fields(sc), true
}
