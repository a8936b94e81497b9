package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/accounts"
	"issuerconsole/services/importer"
	"issuerconsole/views"
)

// handleError is Echo's one error handler: it picks the status, logs, and
// renders an error page, an htmx error fragment (into #flash) or JSON.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil {
		// The client went away; nobody is left to answer.
		c.Response().Status = 499
		return
	}
	info := classify(err)
	reqID := c.Response().Header().Get(echo.HeaderXRequestID)
	if info.Status >= 500 {
		s.Logger.Error("request failed", "err", err, "status", info.Status, "request_id", reqID, "uri", redactedURI(c.Request().URL))
		if reqID != "" {
			info.Action = strings.TrimSpace(info.Action + " Reference: " + reqID + ".")
		}
	} else {
		s.Logger.Debug("request refused", "err", err, "status", info.Status)
	}
	var werr error
	switch {
	case c.Request().Method == http.MethodHead:
		werr = c.NoContent(info.Status)
	case isSandboxPath(c.Request().URL.Path) || c.Request().URL.Path == "/healthz" || strings.Contains(c.Request().Header.Get("Accept"), "application/json") && !strings.Contains(c.Request().Header.Get("Accept"), "text/html"):
		werr = c.JSON(info.Status, map[string]string{"detail": info.Message})
	case isFragment(c):
		// Answer into the page's message area whatever the request targeted.
		c.Response().Header().Set("HX-Retarget", "#flash")
		c.Response().Header().Set("HX-Reswap", "innerHTML")
		werr = s.render(c, info.Status, view{Content: views.ErrorFlash(info)})
	default:
		werr = s.render(c, info.Status, view{Title: info.Title, Content: views.ErrorPage(info)})
	}
	if werr != nil {
		s.Logger.Error("rendering the error page failed", "err", werr, "original", err)
		if !c.Response().Committed {
			http.Error(c.Response(), info.Title, info.Status)
		}
	}
}

// classify turns an error into what the user is told. Details of internal
// errors stay in the log.
func classify(err error) views.ErrorInfo {
	var he *echo.HTTPError
	if errors.As(err, &he) {
		msg, _ := he.Message.(string)
		switch he.Code {
		case http.StatusNotFound:
			return views.ErrorInfo{Status: 404, Title: "Not found", Message: "There is nothing at this address.", Action: "Check the link, or start again from the navigation."}
		case http.StatusMethodNotAllowed:
			return views.ErrorInfo{Status: 405, Title: "Method not allowed", Message: "This address does not accept that kind of request."}
		case http.StatusForbidden:
			if msg == errCSRF {
				return views.ErrorInfo{Status: 403, Title: "Form expired", Message: "The form's security token is missing or no longer valid, or the request came from another site.", Action: "Reload the page and try again."}
			}
			if msg == "" || strings.HasPrefix(msg, "code=") {
				msg = "You are not allowed to do this."
			}
			return views.ErrorInfo{Status: 403, Title: "Not allowed", Message: msg, Action: "Ask an admin if you need this."}
		case http.StatusRequestEntityTooLarge:
			if msg == errFormTooLarge {
				return views.ErrorInfo{Status: 413, Title: "Too large", Message: fmt.Sprintf("The form is larger than the console accepts (%s), and nothing was saved.", humanSize(MaxFormSize)), Action: "Go back and check what was typed."}
			}
			return views.ErrorInfo{Status: 413, Title: "Too large", Message: fmt.Sprintf("The upload is larger than the console accepts, and nothing was saved. Limits: a signed PDF %s, many PDFs at once %s, an import CSV %s, a mapping CSV %s.",
				humanSize(MaxDocumentSize), humanSize(MaxDocumentBatch), humanSize(importer.MaxCSVSize), humanSize(maxMappingCSVSize)), Action: "Go back and choose a smaller file."}
		case http.StatusTooManyRequests:
			return views.ErrorInfo{Status: 429, Title: "Too many requests", Message: msg}
		}
		if he.Code >= 400 && he.Code < 500 {
			if msg == "" {
				msg = http.StatusText(he.Code)
			}
			return views.ErrorInfo{Status: he.Code, Title: http.StatusText(he.Code), Message: msg}
		}
		return serverError(he.Code)
	}
	if info, ok := importError(err); ok {
		return info
	}
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		return views.ErrorInfo{Status: 404, Title: "Not found", Message: "That user does not exist."}
	case errors.Is(err, accounts.ErrLastAdmin), errors.Is(err, accounts.ErrSelf):
		return views.ErrorInfo{Status: 409, Title: "Not possible", Message: err.Error()}
	}
	return serverError(http.StatusInternalServerError)
}

func serverError(code int) views.ErrorInfo {
	if code < 500 {
		code = http.StatusInternalServerError
	}
	return views.ErrorInfo{Status: code, Title: "Something went wrong", Message: "The console could not complete this request. Nothing was changed by the failed step.", Action: "Try again; if it keeps failing, the log has the details."}
}

// importError maps the import wizard's typed errors, the one place they
// become answers: a conflict 409 in words, not found 404, invalid input 422
// (handlers that keep a form render it themselves), a refused or failed
// upstream call 502, an action done but not audited 500 saying so.
func importError(err error) (views.ErrorInfo, bool) {
	var conflict *importer.ConflictError
	var invalid *importer.InvalidError
	var up *importer.UpstreamError
	var unaudited *importer.AuditError
	switch {
	case errors.As(err, &conflict):
		return views.ErrorInfo{Status: http.StatusConflict, Title: "Not possible now", Message: conflict.Error(),
			Action: "Reload the page to see the import as it is now."}, true
	case errors.Is(err, importer.ErrNotFound):
		return views.ErrorInfo{Status: http.StatusNotFound, Title: "Not found", Message: "There is no such import, row or document.",
			Action: "Start again from the list of imports."}, true
	case errors.As(err, &invalid):
		return views.ErrorInfo{Status: http.StatusUnprocessableEntity, Title: "Check the form", Message: invalid.Error()}, true
	case errors.As(err, &up):
		msg := "Cashlink refused the request: " + up.Message
		if !up.Refused {
			msg = "Cashlink did not answer clearly: " + up.Message
		}
		return views.ErrorInfo{Status: http.StatusBadGateway, Title: "Cashlink", Message: msg}, true
	case errors.As(err, &unaudited):
		return views.ErrorInfo{Status: http.StatusInternalServerError, Title: "Not recorded in the audit log",
			Message: unaudited.Done + ", but the audit log could not record it.", Action: "The cause is in the log; tell whoever keeps the audit log."}, true
	}
	return views.ErrorInfo{}, false
}
