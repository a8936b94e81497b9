package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"issuerconsole/static"
	"issuerconsole/views"
)

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
