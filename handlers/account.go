package handlers

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"issuerconsole/routes"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/accounts"
	"issuerconsole/services/audit"
	"issuerconsole/views"
)

// accountGate sends a signed-in user whose password an admin reset to the
// change-password page, and, with -require-2fa, an admin without a second
// factor to the set-up, before anything else. Only the account routes and
// sign-out stay open.
func (s *Server) accountGate(c echo.Context, u accounts.User) (bool, error) {
	blocked := u.MustChangePassword || s.Require2FA && u.IsAdmin() && !u.TwoFactor
	if !blocked {
		return false, nil
	}
	switch c.Path() {
	case string(routes.Account), string(routes.AccountPassword), string(routes.Account2FA), string(routes.Account2FAConfirm), string(routes.Logout):
		return false, nil
	}
	return true, redirect(c, string(routes.Account))
}

func (s *Server) accountPage(c echo.Context, status int, a views.AccountPage) error {
	u, _ := currentUser(c)
	a.MustChange = u.MustChangePassword
	a.TwoFactor = u.TwoFactor
	a.Require2FA = s.Require2FA && u.IsAdmin() && !u.TwoFactor
	if u.TwoFactor {
		n, err := s.Accounts.UnusedRecoveryCodes(c.Request().Context(), u.ID)
		if err != nil {
			return err
		}
		a.RecoveryLeft = n
	}
	return s.render(c, status, view{Title: "Your account", Content: views.Account(s.page(c, "Your account", ""), a)})
}

func (s *Server) account(c echo.Context) error {
	return s.accountPage(c, http.StatusOK, views.AccountPage{})
}

func (s *Server) changePassword(c echo.Context) error {
	u, _ := currentUser(c)
	sid, _ := currentSession(c).Values["sid"].(string)
	err := s.Accounts.ChangePassword(c.Request().Context(), u.ID, c.FormValue("current_password"), c.FormValue("new_password"), sid)
	var verr *accounts.ValidationError
	if errors.As(err, &verr) {
		return s.accountPage(c, http.StatusUnprocessableEntity, views.AccountPage{PasswordError: verr.Fields})
	}
	if err != nil {
		return err
	}
	s.Logger.Info("password changed", "user_id", u.ID)
	s.event(c, audit.EventPasswordChanged, u.Email, "own password changed; other sessions ended")
	if err := s.flash(c, "success", "Your password is changed. Your other sessions were signed out."); err != nil {
		return err
	}
	return redirect(c, string(routes.Account))
}

func (s *Server) resetPassword(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	me, _ := currentUser(c)
	u, err := s.Accounts.ResetPassword(c.Request().Context(), me.ID, id, c.FormValue("password"))
	var verr *accounts.ValidationError
	switch {
	case errors.As(err, &verr):
		err = s.flash(c, "error", "Password not reset: "+verr.Fields["password"])
	case errors.Is(err, accounts.ErrSelf):
		err = s.flash(c, "error", "Change your own password on your account page.")
	case err == nil:
		s.Logger.Info("password reset", "user_id", u.ID, "by", me.ID)
		s.event(c, audit.EventPasswordReset, me.Email, u.Email+": password reset; must be changed at the next sign-in")
		err = s.flash(c, "success", u.Email+": password reset. They must change it when they next sign in.")
	}
	if err != nil {
		return err
	}
	return redirect(c, string(routes.Users))
}

func (s *Server) startTOTP(c echo.Context) error {
	u, _ := currentUser(c)
	_, err := s.Accounts.StartTOTP(c.Request().Context(), u)
	if errors.Is(err, accounts.ErrAlreadyTOTP) {
		return echo.NewHTTPError(http.StatusConflict, "Two-factor sign-in is already on. Turn it off first to set up a new app.")
	}
	if err != nil {
		return err
	}
	return s.enrolPage(c, http.StatusOK, "")
}

// enrolPage shows the pending secret as a QR code (a PNG rendered here, as a
// data: URI, which the CSP's img-src allows) and as text.
func (s *Server) enrolPage(c echo.Context, status int, msg string) error {
	u, _ := currentUser(c)
	key, err := s.Accounts.PendingTOTP(c.Request().Context(), u.ID)
	if errors.Is(err, accounts.ErrNoEnrolment) {
		return echo.NewHTTPError(http.StatusConflict, "No two-factor set-up is in progress. Start again from your account page.")
	}
	if err != nil {
		return err
	}
	img, err := key.Image(200, 200)
	if err != nil {
		return fmt.Errorf("qr code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("qr code: %w", err)
	}
	e := views.Enrolment{QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), Secret: key.Secret(), Error: msg}
	return s.render(c, status, view{Title: "Set up two-factor sign-in", Content: views.Enrol(s.page(c, "", ""), e)})
}

func (s *Server) confirmTOTP(c echo.Context) error {
	u, _ := currentUser(c)
	codes, err := s.Accounts.ConfirmTOTP(c.Request().Context(), u.ID, c.FormValue("code"))
	if errors.Is(err, accounts.ErrBadCode) {
		return s.enrolPage(c, http.StatusUnprocessableEntity, "That code does not match. Check the time on your device and enter the current code.")
	}
	if errors.Is(err, accounts.ErrNoEnrolment) {
		return echo.NewHTTPError(http.StatusConflict, "No two-factor set-up is in progress. Start again from your account page.")
	}
	if err != nil {
		return err
	}
	s.Logger.Info("two-factor sign-in enrolled", "user_id", u.ID)
	s.event(c, audit.Event2FAEnrolled, u.Email, fmt.Sprintf("TOTP enrolled; %d recovery codes issued", len(codes)))
	c.Response().Header().Set("Cache-Control", "no-store")
	return s.render(c, http.StatusOK, view{Title: "Recovery codes", Content: views.RecoveryCodesPage(s.page(c, "", ""), codes)})
}

func (s *Server) removeTOTP(c echo.Context) error {
	u, _ := currentUser(c)
	err := s.Accounts.RemoveTOTP(c.Request().Context(), u.ID, c.FormValue("password"), c.FormValue("code"))
	var verr *accounts.ValidationError
	if errors.As(err, &verr) {
		return s.accountPage(c, http.StatusUnprocessableEntity, views.AccountPage{RemoveErrors: verr.Fields})
	}
	if err != nil {
		return err
	}
	s.Logger.Info("two-factor sign-in removed", "user_id", u.ID)
	s.event(c, audit.Event2FARemoved, u.Email, "TOTP removed; recovery codes deleted")
	if err := s.flash(c, "success", "Two-factor sign-in is off."); err != nil {
		return err
	}
	return redirect(c, string(routes.Account))
}

// The second sign-in step: after the password, the session cookie (signed
// and encrypted) holds only who passed it and when; no session exists yet.
const (
	pendingUser = "2fa_uid"
	pendingAt   = "2fa_at"
	pendingNext = "2fa_next"
	pendingFor  = 5 * time.Minute
)

func (s *Server) pending(c echo.Context) (accounts.User, string, bool) {
	sess := currentSession(c)
	id, _ := sess.Values[pendingUser].(int64)
	at, _ := sess.Values[pendingAt].(int64)
	next, _ := sess.Values[pendingNext].(string)
	if id == 0 || time.Since(time.Unix(at, 0)) > pendingFor {
		return accounts.User{}, "", false
	}
	u, err := s.Accounts.Get(c.Request().Context(), id)
	if err != nil || u.Disabled || !u.TwoFactor {
		return accounts.User{}, "", false
	}
	return u, safeNext(next), true
}

func (s *Server) loginCodeForm(c echo.Context) error {
	if _, _, ok := s.pending(c); !ok {
		return redirect(c, string(routes.Login))
	}
	return s.render(c, http.StatusOK, view{Title: "Sign in", Content: views.LoginCode(s.page(c, "", ""), views.SecondStep{})})
}

func (s *Server) loginCode(c echo.Context) error {
	u, next, ok := s.pending(c)
	if !ok {
		if err := s.flash(c, "warning", "The sign-in took too long. Please start again."); err != nil {
			return err
		}
		return redirect(c, string(routes.Login))
	}
	addr := c.RealIP()
	// Six digits are guessable: the step has its own throttle per account.
	att, wait := s.Throttle.Reserve("second factor of "+u.Email, addr, "")
	if wait > 0 {
		secs := int(math.Ceil(wait.Seconds()))
		c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
		s.signInEvent(c, s.SignIns.Throttled, u.Email, addr)
		f := views.SecondStep{Error: "Too many wrong codes. Try again in " + views.Plural(int64(secs), "second") + "."}
		return s.render(c, http.StatusTooManyRequests, view{Title: "Sign in", Content: views.LoginCode(s.page(c, "", ""), f)})
	}
	method, err := s.Accounts.VerifySecondFactor(c.Request().Context(), u.ID, c.FormValue("code"))
	if errors.Is(err, accounts.ErrBadCode) {
		s.signInEvent(c, s.SignIns.Failed, u.Email, addr)
		f := views.SecondStep{Error: "The code is wrong or was used already."}
		return s.render(c, http.StatusUnauthorized, view{Title: "Sign in", Content: views.LoginCode(s.page(c, "", ""), f)})
	}
	if err != nil {
		return err
	}
	att.Succeeded()
	if method == accounts.MethodRecovery {
		n, _ := s.Accounts.UnusedRecoveryCodes(c.Request().Context(), u.ID)
		s.event(c, audit.EventRecoveryCodeUsed, u.Email, fmt.Sprintf("recovery code used to sign in from %s; %d left", addr, n))
	}
	return s.finishSignIn(c, u, next, "with "+method)
}
