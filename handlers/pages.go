package handlers

import (
	"net/http"

	"github.com/gorilla/csrf"
	"github.com/labstack/echo/v4"

	"issuerconsole/static"
	"issuerconsole/views"
)

func csrfToken(c echo.Context) string { return csrf.Token(c.Request()) }

func (s *Server) home(c echo.Context) error {
	n, err := s.Accounts.Count(c.Request().Context())
	if err != nil {
		return err
	}
	h := views.Home{
		Mode:            s.Mode,
		Users:           n,
		SessionIdle:     views.FormatDuration(s.Accounts.SessionIdle()),
		SessionLifetime: views.FormatDuration(s.Accounts.SessionLifetime()),
		HTMXVersion:     static.HTMXVersion,
	}
	p := s.page(c, "Start", "")
	return s.render(c, http.StatusOK, view{Title: p.Title, Content: views.HomePage(p, h)})
}

// notBuilt is the honest placeholder of an area whose issue has not landed.
func (s *Server) notBuilt(title, what string) echo.HandlerFunc {
	return func(c echo.Context) error {
		return s.render(c, http.StatusOK, view{Title: title, Nav: navKey(title), Content: views.NotBuilt(title, what)})
	}
}

func navKey(title string) string {
	for _, n := range views.Nav {
		if n.Label == title {
			return n.Key
		}
	}
	return ""
}
