package handlers

import (
	"context"
	"errors"
	"fmt"
	"issuerconsole/routes"
	"net"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
	"issuerconsole/services/cashlink"
	"issuerconsole/services/issuance"
	"issuerconsole/views"
)

// Mask hides a secret: its length and last two characters only.
func Mask(secret string) string {
	if secret == "" {
		return "not set"
	}
	if len(secret) < 12 {
		return fmt.Sprintf("set (%d characters)", len(secret))
	}
	return fmt.Sprintf("••••••••%s (%d characters)", secret[len(secret)-2:], len(secret))
}

func (s *Server) settings(c echo.Context) error {
	p := s.page(c, "Settings", "settings")
	return s.render(c, http.StatusOK, view{Title: p.Title, Nav: p.Nav, Content: views.SettingsPage(p, s.Connections)})
}

// testConnection makes one audited read against an API (Cashlink: a token,
// then a read) and says what happened in words.
func (s *Server) testConnection(c echo.Context) error {
	ctx := c.Request().Context()
	api := c.Param("api")
	var res views.TestResult
	var err error
	switch {
	case api == "issuance" && s.Issuance != nil:
		var p issuance.Page[issuance.Offering]
		p, err = s.Issuance.ListOfferings(ctx, issuance.OfferingFilter{}, issuance.PageOpts{PageSize: 1})
		if err == nil {
			res = views.TestResult{OK: true, Message: "Connected: the API answered and lists " + views.Plural(int64(p.Count), "offering") + "."}
			var scopes []issuance.KeyScope
			if scopes, err = s.Issuance.KeyScopes(ctx); err == nil && len(scopes) > 1 {
				var parts []string
				for i, sc := range scopes {
					ids := make([]string, len(sc.Offerings))
					for j, o := range sc.Offerings {
						ids[j] = "#" + strconv.FormatInt(o, 10)
					}
					parts = append(parts, fmt.Sprintf("key %d: %s", i+1, strings.Join(ids, ", ")))
				}
				res.Message += " Offerings per API key: " + strings.Join(parts, "; ") + "."
			}
		}
	case api == "cashlink" && s.Cashlink != nil:
		if err = s.Cashlink.Tokens.Refresh(ctx); err == nil {
			var page cashlinkPage
			if page, err = s.Cashlink.ListInvestments(ctx, 1); err == nil {
				res = views.TestResult{OK: true, Message: "Connected: a token was issued and the API lists " + views.Plural(int64(page.Count), "investment") + "."}
			}
		}
	default:
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		res = views.TestResult{Message: "The connection test failed: " + describeAPIError(err)}
	}
	if id, _, herr := s.Audit.Head(ctx); herr == nil {
		res.AuditID = id
	}
	s.Audit.Event(ctx, audit.EventConnectionTested, "", fmt.Sprintf("%s: ok=%v", api, res.OK))
	if !isFragment(c) {
		kind := "success"
		if !res.OK {
			kind = "error"
		}
		if err := s.flash(c, kind, res.Message); err != nil {
			return err
		}
		return redirect(c, string(routes.Settings))
	}
	return s.render(c, http.StatusOK, view{Content: views.TestOutcome(res)})
}

// describeAPIError tells a user what an API error means and what to do.
func describeAPIError(err error) string {
	var e *apiclient.Error
	isAPI := errors.As(err, &e)
	var ne net.Error
	switch {
	case isAPI && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden):
		return fmt.Sprintf("the API refused the credentials (HTTP %d: %s). Check the configured key or client secret.", e.Status, e.Detail)
	case isAPI && e.Status == http.StatusTooManyRequests:
		return fmt.Sprintf("the API is throttling requests (HTTP 429); try again in %s.", e.RetryAfter)
	case isAPI && e.Status >= 500:
		return fmt.Sprintf("the API had a failure (HTTP %d). Try again later.", e.Status)
	case isAPI:
		msg := e.Detail
		if msg == "" {
			msg = e.FieldSummary()
		}
		return fmt.Sprintf("the API answered HTTP %d: %s.", e.Status, msg)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return "the API did not answer in time. Check the network and the base URL."
	}
	return "the API could not be reached: " + err.Error()
}

type cashlinkPage = cashlink.InvestmentPage
