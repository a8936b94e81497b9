package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"issuerconsole/routes"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/accounts"
	"issuerconsole/services/audit"
	"issuerconsole/views"
)

// SetupToken guards /setup: a one-time secret printed at start while no
// user exists. Only its hash is kept; it is spent by the first admin.
type SetupToken struct {
	mu    sync.Mutex
	hash  [32]byte
	spent bool
}

// NewSetupToken returns a token and its raw value (to print, never to log).
func NewSetupToken() (*SetupToken, string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, "", fmt.Errorf("setup token: %w", err)
	}
	raw := base64.RawURLEncoding.EncodeToString(b)
	return &SetupToken{hash: sha256.Sum256([]byte(raw))}, raw, nil
}

func (t *SetupToken) valid(raw string) bool {
	if t == nil || raw == "" {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	h := sha256.Sum256([]byte(raw))
	return !t.spent && subtle.ConstantTimeCompare(h[:], t.hash[:]) == 1
}

func (t *SetupToken) spend() {
	t.mu.Lock()
	t.spent = true
	t.mu.Unlock()
}

// safeNext keeps post-sign-in redirects on this site. It accepts only a
// path of this origin: no control character anywhere (browsers drop TAB and
// newlines from URLs, so "/\t/evil.example" would become "//evil.example"),
// no backslash (read as "/" by browsers), no "//" start, and, parsed with
// net/url, no scheme, host or user. Anything else gives "/".
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	for _, r := range next {
		if r == '\\' || r == utf8.RuneError || unicode.IsControl(r) || !unicode.IsPrint(r) && r != ' ' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

func (s *Server) loginForm(c echo.Context) error {
	if _, ok := currentUser(c); ok {
		return c.Redirect(http.StatusSeeOther, "/")
	}
	f := views.LoginForm{Next: safeNext(c.QueryParam("next"))}
	if n, err := s.Accounts.Count(c.Request().Context()); err == nil && n == 0 {
		f.Error = "No user exists yet. Open the setup link printed when the console started."
	}
	return s.render(c, http.StatusOK, view{Title: "Sign in", Content: views.Login(s.page(c, "", ""), f)})
}

func (s *Server) login(c echo.Context) error {
	ctx := c.Request().Context()
	email := strings.TrimSpace(c.FormValue("email"))
	password := c.FormValue("password")
	f := views.LoginForm{Email: email, Next: safeNext(c.FormValue("next"))}
	if len(f.Email) > 254 {
		f.Email = "" // no address is that long: do not send it back
	}
	addr := c.RealIP()
	// Failed and throttled sign-ins come from visitors who are not signed
	// in: what they typed is stored only when it names a user, and the
	// rows are folded per window (audit.SignIns).
	actor, known := s.Accounts.SignInActor(ctx, email)

	// The attempt is reserved before bcrypt, atomically, so parallel
	// guesses cannot all pass the check (accounts.Throttle).
	att, wait := s.Throttle.Reserve(email, addr, s.deviceFor(c, email))
	if wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		f.Error = "Too many failed sign-ins for this account or from this address. Try again in " + views.Plural(int64(secs), "second") + "."
		s.Logger.Warn("sign-in throttled", "remote", addr, "wait", wait)
		if !known {
			actor = audit.UnknownActor // throttled unknowns fold per address only
		}
		s.signInEvent(c, s.SignIns.Throttled, actor, addr)
		return s.render(c, http.StatusTooManyRequests, view{Title: "Sign in", Content: views.Login(s.page(c, "", ""), f)})
	}
	u, err := s.Accounts.Authenticate(ctx, email, password)
	if errors.Is(err, accounts.ErrBadCredentials) {
		s.Logger.Warn("sign-in failed", "remote", addr)
		s.signInEvent(c, s.SignIns.Failed, actor, addr)
		f.Error = "E-mail or password is wrong."
		return s.render(c, http.StatusUnauthorized, view{Title: "Sign in", Content: views.Login(s.page(c, "", ""), f)})
	}
	if err != nil {
		return err
	}
	att.Succeeded()
	if u.TwoFactor {
		// Second step: no session yet, only who passed the password.
		sess := currentSession(c)
		sess.Values[pendingUser], sess.Values[pendingAt], sess.Values[pendingNext] = u.ID, time.Now().Unix(), f.Next
		if err := sess.Save(c.Request(), c.Response()); err != nil {
			return fmt.Errorf("save session: %w", err)
		}
		return c.Redirect(http.StatusSeeOther, string(routes.Login2FA))
	}
	return s.finishSignIn(c, u, f.Next, "")
}

// finishSignIn ends a successful sign-in: a device cookie for the account,
// a new session id, the event, and the redirect.
func (s *Server) finishSignIn(c echo.Context, u accounts.User, next, how string) error {
	if err := s.issueDevice(c, u.Email); err != nil {
		return err
	}
	if err := s.startSession(c, u); err != nil {
		return err
	}
	addr := c.RealIP()
	s.Logger.Info("signed in", "user_id", u.ID, "remote", addr)
	detail := "from " + addr
	if how != "" {
		detail += " " + how
	}
	s.event(c, audit.EventLogin, u.Email, detail)
	return c.Redirect(http.StatusSeeOther, next)
}

// signInEvent records a failed or throttled sign-in through the folding
// log; a failure is logged and does not change the answer.
func (s *Server) signInEvent(c echo.Context, record func(context.Context, string, string) error, actor, addr string) {
	if s.SignIns == nil {
		return
	}
	if err := record(c.Request().Context(), actor, addr); err != nil {
		s.Logger.Error("recording a sign-in failure failed", "err", err)
	}
}

// startSession signs u in with a fresh session id (never reusing the one the
// browser came with), and drops the CSRF cookie so the next page gets a new
// token too.
func (s *Server) startSession(c echo.Context, u accounts.User) error {
	ctx := c.Request().Context()
	sess := currentSession(c)
	if old, _ := sess.Values["sid"].(string); old != "" {
		if err := s.Accounts.EndSession(ctx, old); err != nil {
			return err
		}
	}
	sid, err := s.Accounts.StartSession(ctx, u.ID, c.RealIP(), c.Request().UserAgent())
	if err != nil {
		return err
	}
	sess.Values["sid"] = sid
	delete(sess.Values, pendingUser)
	delete(sess.Values, pendingAt)
	delete(sess.Values, pendingNext)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	http.SetCookie(c.Response(), &http.Cookie{Name: "ic_csrf", Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.SecureCookies || s.TLS, SameSite: http.SameSiteLaxMode})
	return nil
}

func (s *Server) logout(c echo.Context) error {
	sess := currentSession(c)
	if sid, _ := sess.Values["sid"].(string); sid != "" {
		if err := s.Accounts.EndSession(c.Request().Context(), sid); err != nil {
			return err
		}
	}
	if u, ok := currentUser(c); ok {
		s.Logger.Info("signed out", "user_id", u.ID)
		s.event(c, audit.EventLogout, u.Email, "")
	}
	delete(sess.Values, "sid")
	addFlash(sess, "info", "You are signed out.")
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return redirect(c, string(routes.Login))
}

// setupGate answers whether /setup may be used with this token.
func (s *Server) setupGate(c echo.Context, token string) error {
	n, err := s.Accounts.Count(c.Request().Context())
	if err != nil {
		return err
	}
	if n > 0 {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if !s.Setup.valid(token) {
		return echo.NewHTTPError(http.StatusForbidden, "The setup link is missing or wrong. Use the link the console printed when it started; restarting prints a new one.")
	}
	return nil
}

func (s *Server) setupForm(c echo.Context) error {
	token := c.QueryParam("token")
	if err := s.setupGate(c, token); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, view{Title: "Set up", Content: views.Setup(s.page(c, "", ""), views.SetupForm{Token: token})})
}

func (s *Server) setup(c echo.Context) error {
	token := c.FormValue("token")
	if err := s.setupGate(c, token); err != nil {
		return err
	}
	f := views.SetupForm{Token: token, Email: strings.TrimSpace(c.FormValue("email")), Name: strings.TrimSpace(c.FormValue("name"))}
	u, created, err := s.Accounts.CreateFirstAdmin(c.Request().Context(), accounts.NewUser{Email: f.Email, Name: f.Name, Password: c.FormValue("password")})
	var verr *accounts.ValidationError
	if errors.As(err, &verr) {
		f.Errors = verr.Fields
		return s.render(c, http.StatusUnprocessableEntity, view{Title: "Set up", Content: views.Setup(s.page(c, "", ""), f)})
	}
	if err != nil {
		return err
	}
	if !created { // lost a race with another setup request
		return echo.NewHTTPError(http.StatusNotFound)
	}
	s.Setup.spend()
	s.Logger.Info("first admin created through setup", "user_id", u.ID)
	s.event(c, audit.EventSetupCompleted, u.Email, "first admin created through the setup link")
	if err := s.startSession(c, u); err != nil {
		return err
	}
	if err := s.flash(c, "success", "Welcome. Your admin account is ready; add further users here."); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, string(routes.Users))
}

// event records a security event in the audit log. A failure is logged but
// does not undo what already happened.
func (s *Server) event(c echo.Context, name, actor, detail string) {
	if s.Audit == nil {
		return
	}
	if err := s.Audit.Event(c.Request().Context(), name, actor, detail); err != nil {
		s.Logger.Error("recording a security event failed", "event", name, "err", err)
	}
}
