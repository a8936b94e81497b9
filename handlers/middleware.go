package handlers

import (
	"context"
	"errors"
	"fmt"
	"issuerconsole/routes"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"time"

	"github.com/gorilla/csrf"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"issuerconsole/services/accounts"
	"issuerconsole/services/audit"
	"issuerconsole/services/personal"
)

const (
	ctxSession = "ic.session"
	ctxUser    = "ic.user"
)

// contentSecurityPolicy allows no inline script or style and no third party:
// htmx is configured without eval (see views.htmxConfig), charts are SVG
// with presentation attributes.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		if s.TLS {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		return next(c)
	}
}

// recoverPanics turns a panic into a 500 with a stack in the log, without
// taking the process down.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				buf := make([]byte, 8<<10)
				buf = buf[:runtime.Stack(buf, false)]
				err = fmt.Errorf("panic: %v\n%s", r, buf)
			}
		}()
		return next(c)
	}
}

// secretQueryParams are removed from logged URLs.
var secretQueryParams = []string{"token", "password", "api_key", "client_secret", "access_token"}

func redactedURI(u *url.URL) string {
	if u.RawQuery == "" {
		return u.Path
	}
	q := u.Query()
	for _, k := range secretQueryParams {
		if q.Has(k) {
			q.Set(k, "REDACTED")
		}
	}
	return u.Path + "?" + q.Encode()
}

func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			// Render the error now so the logged status is the one sent.
			c.Error(err)
		}
		status := c.Response().Status
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case status >= 400:
			level = slog.LevelWarn
		}
		attrs := []slog.Attr{
			slog.String("method", c.Request().Method),
			slog.String("uri", redactedURI(c.Request().URL)),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", c.RealIP()),
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
		}
		if u, ok := currentUser(c); ok {
			attrs = append(attrs, slog.Int64("user_id", u.ID))
		}
		if c.Request().Header.Get("HX-Request") == "true" {
			attrs = append(attrs, slog.Bool("htmx", true))
		}
		s.Logger.LogAttrs(c.Request().Context(), level, "request", attrs...)
		return nil
	}
}

// loadSession reads the encrypted session cookie and resolves the user. A
// cookie that no longer decodes (keys rotated, tampering) is treated as no
// session, not as an error.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sess, err := s.sessions.Get(c.Request(), sessionCookie)
		if err != nil {
			s.Logger.Debug("session cookie ignored", "err", err)
		}
		c.Set(ctxSession, sess)
		raw, _ := sess.Values["sid"].(string)
		if raw == "" {
			return next(c)
		}
		u, _, err := s.Accounts.ResolveSession(c.Request().Context(), raw)
		switch {
		case err == nil:
			c.Set(ctxUser, u)
		case errors.Is(err, accounts.ErrSessionExpired):
			delete(sess.Values, "sid")
			addFlash(sess, "warning", "Your session expired. Please sign in again.")
			if err := sess.Save(c.Request(), c.Response()); err != nil {
				return fmt.Errorf("save session: %w", err)
			}
		case errors.Is(err, accounts.ErrNoSession):
			delete(sess.Values, "sid")
			if err := sess.Save(c.Request(), c.Response()); err != nil {
				return fmt.Errorf("save session: %w", err)
			}
		default:
			return err
		}
		return next(c)
	}
}

// checkCSRF runs gorilla/csrf. Over plain HTTP (the default on the admin's
// own machine) gorilla must be told so, or it demands an HTTPS Referer; its
// Origin check still applies.
func (s *Server) checkCSRF(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		st := &csrfState{c: c, next: next}
		r := c.Request().WithContext(context.WithValue(c.Request().Context(), csrfStateKey{}, st))
		if !s.TLS && !s.SecureCookies {
			r = csrf.PlaintextHTTPRequest(r)
		}
		s.csrf.ServeHTTP(c.Response(), r)
		if st.failure != nil {
			return &echo.HTTPError{Code: http.StatusForbidden, Message: errCSRF, Internal: st.failure}
		}
		return st.err
	}
}

// readUpload parses a multipart upload whole before anything else reads it,
// and answers 400 with the reason when Go cannot (a malformed part header,
// such as a NUL byte in a file name). A body over the route's limit keeps
// its 413.
func (s *Server) readUpload(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		err := c.Request().ParseMultipartForm(32 << 20)
		var he *echo.HTTPError
		switch {
		case err == nil, errors.Is(err, http.ErrNotMultipart):
			return next(c)
		case errors.As(err, &he):
			return he
		}
		return &echo.HTTPError{Code: http.StatusBadRequest, Internal: err,
			Message: "The upload could not be read: its form data is malformed, for example a control character in the file name. Rename the file and try again; nothing was saved."}
	}
}

// errCSRF marks a 403 caused by a missing or wrong CSRF token.
const errCSRF = "csrf"

// requireRole lets signed-in users with one of the roles through. Signed-out
// visitors are sent to the sign-in page (htmx requests get 401 with
// HX-Redirect, since htmx ignores headers on a 3xx); other roles get 403.
func (s *Server) requireRole(roles ...accounts.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			u, ok := currentUser(c)
			if !ok {
				target := string(routes.Login)
				if c.Request().Method == http.MethodGet {
					target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
				}
				if c.Request().Header.Get("HX-Request") == "true" {
					c.Response().Header().Set("HX-Redirect", target)
					return c.NoContent(http.StatusUnauthorized)
				}
				return c.Redirect(http.StatusSeeOther, target)
			}
			if gated, err := s.accountGate(c, u); gated || err != nil {
				return err
			}
			if !slices.Contains(roles, u.Role) {
				return echo.NewHTTPError(http.StatusForbidden, fmt.Sprintf("Your role (%s) cannot open this page or do this.", u.Role))
			}
			// Pages of signed-in users hold personal data: never cache them.
			c.Response().Header().Set("Cache-Control", "no-store")
			return next(c)
		}
	}
}

// auditActor makes every API call a request triggers carry its user as the
// audit log's actor.
func (s *Server) auditActor(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if u, ok := currentUser(c); ok {
			c.SetRequest(c.Request().WithContext(audit.WithActor(c.Request().Context(), u.Email)))
		}
		return next(c)
	}
}

func currentUser(c echo.Context) (accounts.User, bool) {
	u, ok := c.Get(ctxUser).(accounts.User)
	return u, ok
}

// viewer is what the signed-in user may see of personal data: admins all
// of it, everyone else masked (package personal holds the rule).
func viewer(c echo.Context) personal.Viewer {
	u, _ := currentUser(c)
	return personal.For(u.IsAdmin())
}

func currentSession(c echo.Context) *sessions.Session {
	sess, _ := c.Get(ctxSession).(*sessions.Session)
	return sess
}

// MaxFormSize caps the body of every route that is not an upload. The
// largest real form is an import's mapping (one field per investor, about
// 300 KB for 5,000 investors); net/http would otherwise read up to 10 MB
// of any url-encoded body, signed in or not.
const MaxFormSize = 2 << 20

const errFormTooLarge = "form too large"

// limitForm refuses a body over MaxFormSize before anything parses it: by
// its Content-Length at once, and by counting for a body of unknown length.
func limitForm(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > MaxFormSize {
			return echo.NewHTTPError(http.StatusRequestEntityTooLarge, errFormTooLarge)
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, MaxFormSize)
		}
		return next(c)
	}
}
