package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"issuerconsole/routes"
	"net/http"
	"net/mail"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
	"issuerconsole/services/issuance"
	"issuerconsole/services/passwords"
	"issuerconsole/views"
)

var investorTop = []fieldSpec{
	{name: "search", label: "Search"},
	{name: "type", label: "Type"},
	{name: "type__in", label: "Types"},
	{name: "page_size", label: "Per page", widget: "select", options: stringOptions([]string{"10", "25", "50", "100"}, "")},
}

var investorGroups = []groupSpec{
	{"User", []fieldSpec{{name: "user__thirdpartyissueruser__email", label: "User e-mail"}, {name: "user__thirdpartyissueruser__email__in", label: "User e-mails"},
		{name: "user", label: "User id"}, {name: "user__in", label: "User ids"}}},
	{"Ids and order", []fieldSpec{{name: "id", label: "Id"}, {name: "id__in", label: "Ids"}, {name: "ordering", label: "Ordering"}}},
}

var userTop = []fieldSpec{
	{name: "search", label: "Search"},
	{name: "thirdpartyissueruser__email", label: "E-mail"},
	{name: "page_size", label: "Per page", widget: "select", options: stringOptions([]string{"10", "25", "50", "100"}, "")},
}

var userGroups = []groupSpec{
	{"More", []fieldSpec{{name: "thirdpartyissueruser__email__in", label: "E-mails"}, {name: "id", label: "Id"}, {name: "id__in", label: "Ids"}, {name: "ordering", label: "Ordering"}}},
}

func fieldString(m map[string]any, keys ...string) string {
	for _, k := range keys {
		if v, ok := m[k]; ok && v != nil {
			switch t := v.(type) {
			case string:
				return t
			case map[string]any, []any:
				continue
			default:
				return fmt.Sprint(t)
			}
		}
	}
	return ""
}

func nested(m map[string]any, key string) map[string]any {
	n, _ := m[key].(map[string]any)
	return n
}

// firebaseHint explains a refusal of the endpoints that need a Firebase token.
func firebaseHint(err error) string {
	var e *apiclient.Error
	if errors.As(err, &e) && (e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden) {
		return "The Issuance API refused the request (HTTP " + strconv.Itoa(e.Status) + "). Investors and users need a Firebase ID token: set ISSUANCE_FIREBASE_TOKEN."
	}
	return upstreamProblem(err)
}

func (s *Server) investorsList(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	q := canonicalQuery(issuance.InvestorParams, c.QueryParams())
	if !q.Has("page_size") {
		q.Set("page_size", strconv.Itoa(defaultPageSize))
	}
	if done, err := canonicalRedirect(c, string(routes.Investors), q); done || err != nil {
		return err
	}
	check := issuance.CheckQuery(issuance.InvestorParams, q)
	l := views.InvestorList{Checked: check.OK()}
	errs := check.Errors
	if check.OK() {
		page, err := s.Issuance.ListInvestorsQuery(c.Request().Context(), q)
		switch fields, is400 := apiFieldErrors(err); {
		case is400:
			errs, l.Checked = fields, false
		case err != nil:
			l.Problem = firebaseHint(err)
		default:
			l.Count = page.Count
			for _, inv := range page.Results {
				user, entity := nested(inv.Fields, "user"), nested(inv.Fields, "entity")
				r := views.InvestorRow{ID: inv.ID, Type: issuance.Label(issuance.InvestorTypes, inv.Type)}
				if inv.User != nil {
					r.User = strconv.FormatInt(*inv.User, 10)
				} else if id := fieldString(user, "id"); id != "" {
					r.User = id
				}
				// The API puts names on the investor (first_name, last_name, or
				// name for companies and trusts), or on its nested user.
				r.Name = views.JoinNonEmpty(" ", fieldString(inv.Fields, "name"), fieldString(inv.Fields, "first_name"), fieldString(inv.Fields, "last_name"))
				if r.Name == "" {
					r.Name = views.JoinNonEmpty(" ", fieldString(user, "first_name"), fieldString(user, "last_name"))
				}
				r.Email = fieldString(inv.Fields, "email")
				if r.Email == "" {
					r.Email = fieldString(user, "email")
				}
				r.KYC = fieldString(entity, "kyc_status")
				l.Rows = append(l.Rows, r)
			}
			size := pageSizeOf(q, defaultPageSize)
			l.Pager = pager(string(routes.Investors), q, pageOf(q, page.Count, size), page.Count, size, "#investor-results")
		}
	}
	l.Form = buildForm("investor-filters", string(routes.Investors), "#investor-results", issuance.InvestorParams, investorTop, investorGroups, q, errs, check.Notes)
	for _, h := range []struct{ label, field string }{{"#", "id"}, {"Type", "type"}, {"Name", ""}, {"E-mail", ""}, {"KYC", ""}, {"User", "user"}} {
		l.Headers = append(l.Headers, sortHeader(string(routes.Investors), q, h.label, h.field, []string{"id", "type", "user"}, "#investor-results", h.label == "#"))
	}
	p := s.page(c, "Issuance investors", "investments")
	return s.render(c, http.StatusOK, view{Title: p.Title, Nav: p.Nav, Content: views.InvestorsPage(p, l),
		Fragment: fragments(views.InvestorResults(l), views.FieldErrorsOOB(l.Form))})
}

func (s *Server) investorDetail(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	inv, err := s.Issuance.GetInvestor(c.Request().Context(), id)
	if errors.Is(err, apiclient.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusBadGateway, firebaseHint(err))
	}
	// Who it is first (name, type, KYC, e-mail), then every field the API
	// gave, each labelled in words with its API name beside it.
	user, entity := nested(inv.Fields, "user"), nested(inv.Fields, "entity")
	d := views.InvestorDetail{ID: inv.ID, Type: issuance.Label(issuance.InvestorTypes, inv.Type), TypeCode: inv.Type,
		Name:  views.JoinNonEmpty(" ", fieldString(inv.Fields, "name"), fieldString(inv.Fields, "first_name"), fieldString(inv.Fields, "last_name")),
		Email: fieldString(inv.Fields, "email"), KYC: fieldString(entity, "kyc_status")}
	if d.Name == "" {
		d.Name = views.JoinNonEmpty(" ", fieldString(user, "first_name"), fieldString(user, "last_name"))
	}
	if d.Email == "" {
		d.Email = fieldString(user, "email")
	}
	var flat func(prefix string, v any)
	flat = func(prefix string, v any) {
		add := func(value string) {
			d.Fields = append(d.Fields, views.InvestorField{Label: views.Humanize(strings.ReplaceAll(prefix, ".", " ")), API: prefix, Value: value})
		}
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				name := k
				if prefix != "" {
					name = prefix + "." + k
				}
				flat(name, t[k])
			}
		case []any:
			b, _ := json.Marshal(t)
			add(string(b))
		case bool:
			add(map[bool]string{true: "yes", false: "no"}[t])
		case nil:
			add(views.Dash)
		default:
			add(views.OrDash(fmt.Sprint(t)))
		}
	}
	flat("", inv.Fields)
	title := views.NameWithID(d.Name, inv.ID)
	return s.render(c, http.StatusOK, view{Title: title, Nav: "investments", Content: views.InvestorPage(d)})
}

func (s *Server) issuanceUsers(c echo.Context) error {
	return s.issuanceUsersPage(c, http.StatusOK, "", nil)
}

func (s *Server) issuanceUsersPage(c echo.Context, status int, newEmail string, newErrs map[string]string) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	q := canonicalQuery(issuance.UserParams, c.QueryParams())
	if !q.Has("page_size") {
		q.Set("page_size", strconv.Itoa(defaultPageSize))
	}
	check := issuance.CheckQuery(issuance.UserParams, q)
	p := s.page(c, "Issuance users", "investments")
	u := views.IssuanceUsers{Checked: check.OK(), NewEmail: newEmail, NewErrs: newErrs, CSRF: p.CSRFToken}
	errs := check.Errors
	if check.OK() {
		page, err := s.Issuance.ListUsersQuery(c.Request().Context(), q)
		switch fields, is400 := apiFieldErrors(err); {
		case is400:
			errs, u.Checked = fields, false
		case err != nil:
			u.Problem = firebaseHint(err)
		default:
			u.Count = page.Count
			for _, us := range page.Results {
				u.Rows = append(u.Rows, views.IssuanceUserRow{ID: us.ID, Email: us.Email})
			}
			size := pageSizeOf(q, defaultPageSize)
			u.Pager = pager(string(routes.IssuanceUsers), q, pageOf(q, page.Count, size), page.Count, size, "#issuance-user-results")
		}
	}
	u.Form = buildForm("issuance-user-filters", string(routes.IssuanceUsers), "#issuance-user-results", issuance.UserParams, userTop, userGroups, q, errs, check.Notes)
	return s.render(c, status, view{Title: p.Title, Nav: p.Nav, Content: views.IssuanceUsersPage(p, u)})
}

func validEmail(e string) bool {
	a, err := mail.ParseAddress(e)
	return err == nil && a.Address == e && len(e) <= 255
}

// createIssuanceUser is POST /issuance-users: the password goes to Issuance
// and nowhere else (the audit transport removes it from the log).
func (s *Server) createIssuanceUser(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	email, password := strings.TrimSpace(c.FormValue("iu-email")), c.FormValue("iu-password")
	errs := map[string]string{}
	if !validEmail(email) {
		errs["iu-email"] = "Enter an e-mail address like name@example.com (at most 255 characters)."
	}
	if password == "" {
		errs["iu-password"] = "Enter a password."
	} else if probs := passwords.Validate(password, email); len(probs) > 0 {
		errs["iu-password"] = strings.Join(probs, " ")
	}
	if len(errs) == 0 {
		u, err := s.Issuance.CreateUser(c.Request().Context(), email, password)
		if fields, is400 := apiFieldErrors(err); is400 {
			for k, v := range fields {
				errs["iu-"+k] = strings.Join(v, " ")
			}
		} else if err != nil {
			errs["iu-email"] = firebaseHint(err)
		} else {
			me, _ := currentUser(c)
			s.event(c, audit.EventIssuanceUserCreated, me.Email, fmt.Sprintf("Issuance user #%d (%s)", u.ID, u.Email))
			if err := s.flash(c, "success", fmt.Sprintf("Created Issuance user #%d (%s).", u.ID, u.Email)); err != nil {
				return err
			}
			return redirect(c, string(routes.IssuanceUsers))
		}
	}
	return s.issuanceUsersPage(c, http.StatusUnprocessableEntity, email, errs)
}

// updateIssuanceUser is POST /issuance-users/:id → PATCH upstream.
func (s *Server) updateIssuanceUser(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	var up issuance.UserUpdate
	if e := strings.TrimSpace(c.FormValue("email")); e != "" {
		if !validEmail(e) {
			return s.userFlash(c, "error", "That is not an e-mail address; nothing was changed.")
		}
		up.Email = &e
	}
	if p := c.FormValue("password"); p != "" {
		// A new password is typed twice and must pass Django's default
		// validators (the API's framework) before it is sent.
		if c.FormValue("password_confirm") != p {
			return s.userFlash(c, "error", fmt.Sprintf("User #%d: the two passwords differ; nothing was changed.", id))
		}
		email := c.FormValue("current_email")
		if up.Email != nil {
			email = *up.Email
		}
		if probs := passwords.Validate(p, email); len(probs) > 0 {
			return s.userFlash(c, "error", fmt.Sprintf("User #%d: nothing was changed. %s", id, strings.Join(probs, " ")))
		}
		up.Password = &p
	}
	u, err := s.Issuance.UpdateUser(c.Request().Context(), id, up)
	switch {
	case errors.Is(err, issuance.ErrEmptyUpdate):
		return s.userFlash(c, "warning", "Enter a new e-mail or password to update the user.")
	case errors.Is(err, apiclient.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound)
	case err != nil:
		if fields, is400 := apiFieldErrors(err); is400 {
			return s.userFlash(c, "error", "Issuance refused the change: "+(&apiclient.Error{Fields: fields}).FieldSummary())
		}
		return s.userFlash(c, "error", firebaseHint(err))
	}
	me, _ := currentUser(c)
	what := "updated"
	if up.Email != nil {
		s.event(c, audit.EventIssuanceUserEmailChanged, me.Email, fmt.Sprintf("Issuance user #%d: e-mail set to %s", u.ID, u.Email))
	}
	if up.Password != nil {
		what = "updated (password changed)"
		s.event(c, audit.EventIssuanceUserPasswordChanged, me.Email, fmt.Sprintf("Issuance user #%d (%s)", u.ID, u.Email))
	}
	return s.userFlash(c, "success", fmt.Sprintf("Issuance user #%d (%s) %s.", u.ID, u.Email, what))
}

func (s *Server) userFlash(c echo.Context, kind, msg string) error {
	if err := s.flash(c, kind, msg); err != nil {
		return err
	}
	return redirect(c, string(routes.IssuanceUsers))
}
