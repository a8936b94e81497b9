package handlers

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gorilla/csrf"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"

	"issuerconsole/views"
)

// isFragment decides between a full page and a fragment. htmx sends
// HX-Request on every request it makes, including boosted navigation (which
// wants the whole page) and history restores after back/forward without a
// cached snapshot (which also want the whole page).
func isFragment(c echo.Context) bool {
	h := c.Request().Header
	return h.Get("HX-Request") == "true" && h.Get("HX-Boosted") != "true" && h.Get("HX-History-Restore-Request") != "true"
}

// view is what a handler renders: a full page's content and, optionally, the
// smaller fragment an htmx request gets (the content itself when nil).
type view struct {
	Title    string
	Nav      string
	Content  templ.Component
	Fragment templ.Component
}

// render writes a view with the status: the fragment for htmx fragment
// requests, otherwise the content inside the layout. It renders into a
// buffer first, so a failing template becomes a clean 500 instead of half a
// page with a 200.
func (s *Server) render(c echo.Context, status int, v view) error {
	c.Response().Header().Add("Vary", "HX-Request, HX-Boosted, HX-History-Restore-Request")
	var comp templ.Component
	if isFragment(c) {
		comp = v.Fragment
		if comp == nil {
			comp = v.Content
		}
	} else {
		p := s.page(c, v.Title, v.Nav)
		var err error
		if p.Flashes, err = s.takeFlashes(c); err != nil {
			return err
		}
		comp = views.Layout(p, v.Content)
	}
	buf := templ.GetBuffer()
	defer templ.ReleaseBuffer(buf)
	if err := comp.Render(c.Request().Context(), buf); err != nil {
		return fmt.Errorf("render %q: %w", v.Title, err)
	}
	return c.HTMLBlob(status, buf.Bytes())
}

// page builds the layout's view model (without flashes: only a full page
// takes those out of the session). Views that need the user or the CSRF
// token get it too.
func (s *Server) page(c echo.Context, title, nav string) views.Page {
	p := views.Page{Title: title, Nav: nav, Mode: s.Mode, CSRFToken: csrf.Token(c.Request()), Asset: s.Assets.Path}
	if u, ok := currentUser(c); ok {
		p.User = &views.User{ID: u.ID, Email: u.Email, Display: u.Display(), Role: string(u.Role), IsAdmin: u.IsAdmin()}
	}
	return p
}

// takeFlashes removes the pending messages from the session and saves it
// (before any body is written).
func (s *Server) takeFlashes(c echo.Context) ([]views.Flash, error) {
	sess := currentSession(c)
	if sess == nil {
		return nil, nil
	}
	fs := sess.Flashes()
	if len(fs) == 0 {
		return nil, nil
	}
	out := make([]views.Flash, 0, len(fs))
	for _, f := range fs {
		if str, ok := f.(string); ok {
			kind, msg, _ := strings.Cut(str, ":")
			out = append(out, views.Flash{Kind: kind, Message: msg})
		}
	}
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return nil, fmt.Errorf("save session: %w", err)
	}
	return out, nil
}

// addFlash queues a message for the next page. Kinds: info, success,
// warning, error.
func addFlash(sess *sessions.Session, kind, msg string) {
	sess.AddFlash(kind + ":" + msg)
}

// flash queues a message and saves the session.
func (s *Server) flash(c echo.Context, kind, msg string) error {
	sess := currentSession(c)
	if sess == nil {
		return nil
	}
	addFlash(sess, kind, msg)
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// redirect ends a successful form post: 303 See Other for plain requests
// (post/redirect/get); for htmx, 200 with HX-Location, since htmx ignores
// headers on a 3xx.
func redirect(c echo.Context, to string) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Location", to)
		return c.NoContent(http.StatusOK)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// fragments renders several components one after the other (a results
// fragment and its out-of-band companions).
func fragments(cs ...templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		for _, c := range cs {
			if err := c.Render(ctx, w); err != nil {
				return err
			}
		}
		return nil
	})
}

// optTime formats an optional time in UTC.
func optTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
