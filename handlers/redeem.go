package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"issuerconsole/routes"
	"issuerconsole/services/audit"
	"issuerconsole/services/cashlink"
	"issuerconsole/services/importer"
	"issuerconsole/views"
)

// --- Redemptions

func (s *Server) redeemView(c echo.Context) (views.RedeemView, error) {
	u, _ := currentUser(c)
	v := views.RedeemView{CSRF: s.page(c, "", "").CSRFToken, CanEdit: u.IsAdmin()}
	list, err := s.Imports.Engine.Redemptions(c.Request().Context(), 50)
	if err != nil {
		return v, err
	}
	for _, r := range list {
		v.Redemptions = append(v.Redemptions, views.RedemptionRow{ID: r.ID, Investor: r.Investor, Product: r.Product, Wallet: r.Wallet,
			Units: r.Units, Status: r.Status, CashlinkID: r.CashlinkID, Error: r.Err, Requested: views.FormatTime(r.RequestedAt),
			Investigate: r.NeedsInvestigation(), CanRetry: r.Status == "no_answer"})
		if r.Status == cashlink.RedemptionProcessing {
			v.Pending = true
		}
	}
	return v, nil
}

// refreshRedemptions reads back, as the viewing user, the redemptions
// Cashlink is still processing, and records each outcome in the audit
// log. A failed read is shown, not fatal: the stored status stays.
func (s *Server) refreshRedemptions(c echo.Context) string {
	u, _ := currentUser(c)
	changed, err := s.Imports.Engine.RefreshRedemptions(c.Request().Context(), s.Cashlink)
	for _, r := range changed {
		s.event(c, audit.EventRedemption, u.Email, fmt.Sprintf("redemption %d (Cashlink %s): %s", r.ID, r.CashlinkID, r.Status))
	}
	if err != nil {
		s.Logger.Warn("reading redemption statuses failed", "err", err)
		return "Could not read the latest status of every redemption from Cashlink (" + err.Error() + "); the statuses shown may be out of date."
	}
	return ""
}

func (s *Server) redeemPage(c echo.Context) error {
	if err := s.requireImports(); err != nil {
		return err
	}
	refreshErr := s.refreshRedemptions(c)
	v, err := s.redeemView(c)
	if err != nil {
		return err
	}
	v.RefreshError = refreshErr
	return s.render(c, http.StatusOK, view{Title: "Redemptions", Nav: "imports", Content: views.RedeemPage(v)})
}

func (s *Server) redeem(c echo.Context) error {
	if err := s.requireImports(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	u, _ := currentUser(c)
	v, err := s.redeemView(c)
	if err != nil {
		return err
	}
	v.Investor, v.Product, v.Wallet, v.Units = strings.TrimSpace(c.FormValue("investor")), strings.TrimSpace(c.FormValue("product")),
		strings.TrimSpace(c.FormValue("wallet")), strings.TrimSpace(c.FormValue("units"))
	units, err := strconv.ParseInt(v.Units, 10, 64)
	switch {
	case err != nil || units <= 0:
		v.Error = "Units must be a positive whole number."
	case v.Investor == "" || v.Product == "" || v.Wallet == "":
		v.Error = "Investor, product and wallet are all required."
	case strings.TrimSpace(c.FormValue("confirm")) != "REDEEM "+strconv.FormatInt(units, 10):
		v.Error = fmt.Sprintf("The confirmation does not match: type REDEEM %d.", units)
	}
	if v.Error != "" {
		return s.render(c, http.StatusUnprocessableEntity, view{Title: "Redemptions", Nav: "imports", Content: views.RedeemPage(v)})
	}
	r, err := s.Imports.Engine.RequestRedemption(ctx, s.Cashlink, u.ID, cashlink.NewRedemption{InvestorID: v.Investor, ProductID: v.Product, WalletID: v.Wallet, Units: units})
	s.event(c, audit.EventRedemption, u.Email, fmt.Sprintf("redemption %d: %d units of product %s from investor %s: %s", r.ID, units, v.Product, v.Investor, r.Status))
	kind, msg := "success", fmt.Sprintf("Redemption %d sent: status %s.", r.ID, r.Status)
	switch {
	case r.ID == 0 && err != nil:
		return err
	case r.Status == "rejected":
		kind, msg = "error", r.Err
	case r.NeedsInvestigation():
		kind, msg = "warning", fmt.Sprintf("Redemption %d: %s needs manual investigation in Cashlink; it is not retried automatically.", r.ID, r.Status)
	}
	if err := s.flash(c, kind, msg); err != nil {
		return err
	}
	return redirect(c, string(routes.Redemptions))
}

func (s *Server) recheckRedemption(c echo.Context) error {
	if err := s.requireImports(); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	r, err := s.Imports.Engine.SendRedemption(c.Request().Context(), s.Cashlink, id)
	if errors.Is(err, importer.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	kind, msg := "info", fmt.Sprintf("Redemption %d: %s.", r.ID, r.Status)
	if r.NeedsInvestigation() {
		kind = "warning"
	}
	if err := s.flash(c, kind, msg); err != nil {
		return err
	}
	return redirect(c, string(routes.Redemptions))
}

// --- Reconciliation

// reconcile reads imported investments from both APIs, a page at a time.
func (s *Server) reconcile(c echo.Context) error {
	if err := s.requireImports(); err != nil {
		return err
	}
	const size = 25
	page := pageOf(c.QueryParams(), 0, size)
	rs, total, err := s.wizard().Reconcile(c.Request().Context(), s.Issuance, page, size)
	if err != nil {
		return err
	}
	v := views.ReconcileView{Pager: pager(string(routes.Reconcile), c.QueryParams(), page, total, size, "main")}
	for _, r := range rs {
		if r.Problem != "" {
			v.Errors = append(v.Errors, r.Problem)
			continue
		}
		rr := views.ReconcileRow{IssuanceID: r.IssuanceID, Ref: r.Row.Reference, Units: r.Row.Units, Wallet: r.Row.Wallet, CashlinkID: r.CashlinkInvestment,
			JobID: r.JobID, IssuanceStatus: string(r.Issuance.Status), Quantity: r.Issuance.Quantity, CashlinkStatus: r.Cashlink.Status,
			CashlinkUnits: r.Cashlink.Units, Differences: r.Differences}
		if r.Cashlink.Wallet != nil {
			rr.CashlinkWallet = *r.Cashlink.Wallet
		}
		v.Rows = append(v.Rows, rr)
	}
	return s.render(c, http.StatusOK, view{Title: "Reconciliation", Nav: "imports", Content: views.ReconcilePage(v)})
}
