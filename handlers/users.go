package handlers

import (
	"errors"
	"fmt"
	"issuerconsole/routes"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/accounts"
	"issuerconsole/services/audit"
	"issuerconsole/views"
)

func roleNames() []string {
	out := make([]string, len(accounts.Roles))
	for i, r := range accounts.Roles {
		out[i] = string(r)
	}
	return out
}

func userRow(u accounts.User, self int64) views.UserRow {
	return views.UserRow{
		ID: u.ID, Email: u.Email, Name: u.Name, Role: string(u.Role), Disabled: u.Disabled,
		Created: views.FormatTime(u.CreatedAt), LastSeen: views.FormatTime(u.LastSeen), IsSelf: u.ID == self,
	}
}

func (s *Server) usersPage(c echo.Context, status int, form views.NewUserForm) error {
	me, _ := currentUser(c)
	list, err := s.Accounts.List(c.Request().Context())
	if err != nil {
		return err
	}
	up := views.UsersPage{Form: form, Roles: roleNames()}
	for _, u := range list {
		up.Rows = append(up.Rows, userRow(u, me.ID))
	}
	p := s.page(c, "Users", "users")
	return s.render(c, status, view{Title: p.Title, Nav: p.Nav, Content: views.Users(p, up)})
}

func (s *Server) listUsers(c echo.Context) error {
	return s.usersPage(c, http.StatusOK, views.NewUserForm{Role: string(accounts.RoleAuditor)})
}

func (s *Server) createUser(c echo.Context) error {
	in := accounts.NewUser{
		Email: c.FormValue("email"), Name: c.FormValue("name"),
		Role: accounts.Role(c.FormValue("role")), Password: c.FormValue("password"),
	}
	u, err := s.Accounts.Create(c.Request().Context(), in)
	var verr *accounts.ValidationError
	if errors.As(err, &verr) {
		return s.usersPage(c, http.StatusUnprocessableEntity, views.NewUserForm{Email: in.Email, Name: in.Name, Role: string(in.Role), Errors: verr.Fields})
	}
	if err != nil {
		return err
	}
	me, _ := currentUser(c)
	s.Logger.Info("user created", "user_id", u.ID, "role", u.Role, "by", me.ID)
	s.event(c, audit.EventUserCreated, me.Email, fmt.Sprintf("%s as %s", u.Email, u.Role))
	if err := s.flash(c, "success", fmt.Sprintf("Added %s as %s.", u.Email, u.Role)); err != nil {
		return err
	}
	return redirect(c, string(routes.Users))
}

func pathID(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, echo.NewHTTPError(http.StatusNotFound)
	}
	return id, nil
}

// changeUser applies a role or status change. htmx gets the updated row
// (with the refusal in it, if any); a plain form post gets a redirect and a
// flash message.
func (s *Server) changeUser(c echo.Context, what, event string, apply func(me accounts.User, id int64) (accounts.User, error)) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	me, _ := currentUser(c)
	u, err := apply(me, id)
	refused := errors.Is(err, accounts.ErrLastAdmin) || errors.Is(err, accounts.ErrSelf)
	var verr *accounts.ValidationError
	if errors.As(err, &verr) {
		refused, err = true, errors.New(verr.Fields["role"])
	}
	if err != nil && !refused {
		return err
	}
	if refused {
		if !isFragment(c) {
			if ferr := s.flash(c, "error", err.Error()); ferr != nil {
				return ferr
			}
			return redirect(c, string(routes.Users))
		}
		cur, gerr := s.Accounts.Get(c.Request().Context(), id)
		if gerr != nil {
			return gerr
		}
		row := userRow(cur, me.ID)
		row.Error = err.Error()
		return s.render(c, http.StatusConflict, view{Content: views.UserTableRow(s.page(c, "", ""), row, roleNames())})
	}
	s.Logger.Info("user changed", "user_id", u.ID, "change", what, "role", u.Role, "disabled", u.Disabled, "by", me.ID)
	s.event(c, event, me.Email, u.Email+": "+what)
	if !isFragment(c) {
		if err := s.flash(c, "success", fmt.Sprintf("%s: %s.", u.Email, what)); err != nil {
			return err
		}
		return redirect(c, string(routes.Users))
	}
	return s.render(c, http.StatusOK, view{Content: views.UserTableRow(s.page(c, "", ""), userRow(u, me.ID), roleNames())})
}

func (s *Server) setUserRole(c echo.Context) error {
	role := accounts.Role(c.FormValue("role"))
	return s.changeUser(c, "role set to "+string(role), audit.EventRoleChanged, func(me accounts.User, id int64) (accounts.User, error) {
		return s.Accounts.SetRole(c.Request().Context(), me.ID, id, role)
	})
}

func (s *Server) setUserDisabled(c echo.Context) error {
	disabled, err := strconv.ParseBool(c.FormValue("disabled"))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "disabled must be true or false")
	}
	what, event := "enabled", audit.EventUserEnabled
	if disabled {
		what, event = "disabled; their sessions ended", audit.EventUserDisabled
	}
	return s.changeUser(c, what, event, func(me accounts.User, id int64) (accounts.User, error) {
		return s.Accounts.SetDisabled(c.Request().Context(), me.ID, id, disabled)
	})
}
