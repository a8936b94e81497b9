package handlers

import (
	"crypto/rand"
	"encoding/base64"
	"issuerconsole/routes"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// deviceCookie marks a browser that has signed in to an account before
// (OWASP's device cookies, see accounts.Throttle): its sign-in attempts at
// that account are throttled on their own, so an attacker who exhausts the
// account's allowance for unknown clients does not lock its user out.
const (
	deviceCookie   = "ic_device"
	deviceLifetime = 180 * 24 * time.Hour
)

type deviceToken struct {
	Email string // the account it was issued for (lower case)
	Nonce string // random, names the device's own bucket
}

// deviceFor returns the device id of a valid device cookie for email, or "".
// The cookie is signed and encrypted with the session keys under its own
// name, so it cannot be forged or swapped with another cookie.
func (s *Server) deviceFor(c echo.Context, email string) string {
	ck, err := c.Cookie(deviceCookie)
	if err != nil {
		return ""
	}
	var tok deviceToken
	if err := s.devices.Decode(deviceCookie, ck.Value, &tok); err != nil {
		return ""
	}
	if tok.Nonce == "" || tok.Email != strings.ToLower(strings.TrimSpace(email)) {
		return ""
	}
	return tok.Nonce
}

// issueDevice gives the browser a device cookie for the account it has
// just signed in to.
func (s *Server) issueDevice(c echo.Context, email string) error {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	v, err := s.devices.Encode(deviceCookie, deviceToken{Email: strings.ToLower(email), Nonce: base64.RawURLEncoding.EncodeToString(b)})
	if err != nil {
		return err
	}
	http.SetCookie(c.Response(), &http.Cookie{Name: deviceCookie, Value: v, Path: string(routes.Login), MaxAge: int(deviceLifetime / time.Second),
		HttpOnly: true, Secure: s.SecureCookies || s.TLS, SameSite: http.SameSiteLaxMode})
	return nil
}
