package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
	"issuerconsole/services/cashlink"
	"issuerconsole/services/importer"
	"issuerconsole/services/issuance"
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
	return redirect(c, "/imports/redeem")
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
	return redirect(c, "/imports/redeem")
}

// --- Reconciliation

// reconcile reads imported investments from both APIs, a page at a time.
func (s *Server) reconcile(c echo.Context) error {
	if err := s.requireImports(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	all, err := s.Imports.Store.ImportedInvestments(ctx, 100000)
	if err != nil {
		return err
	}
	const size = 25
	page := pageOf(c.QueryParams(), len(all), size)
	v := views.ReconcileView{Pager: pager("/imports/reconcile", c.QueryParams(), page, len(all), size, "main")}
	lo := min((page-1)*size, len(all))
	for _, im := range all[lo:min(lo+size, len(all))] {
		row, _ := s.Imports.Store.Row(ctx, im.JobID, im.RowID)
		rr := views.ReconcileRow{IssuanceID: im.IssuanceID, Ref: row.Reference, Units: row.Units, Wallet: row.Wallet, CashlinkID: im.CashlinkInvestment, JobID: im.JobID}
		iss, ierr := s.Issuance.GetInvestment(ctx, im.IssuanceID)
		cl, cerr := s.Cashlink.GetInvestment(ctx, im.CashlinkInvestment)
		if ierr != nil || cerr != nil {
			v.Errors = append(v.Errors, fmt.Sprintf("%s could not be read: %v %v", row.Reference, errOrEmpty(ierr), errOrEmpty(cerr)))
			continue
		}
		rr.IssuanceStatus, rr.Quantity, rr.CashlinkStatus, rr.CashlinkUnits = string(iss.Status), iss.Quantity, cl.Status, cl.Units
		if cl.Wallet != nil {
			rr.CashlinkWallet = *cl.Wallet
		}
		rr.Differences = differences(iss, cl, row)
		v.Rows = append(v.Rows, rr)
	}
	return s.render(c, http.StatusOK, view{Title: "Reconciliation", Nav: "imports", Content: views.ReconcilePage(v)})
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, apiclient.ErrNotFound) {
		return "(not found)"
	}
	return "(" + err.Error() + ")"
}

// differences flags what disagrees between an imported investment and its
// Cashlink counterpart.
func differences(iss issuance.Investment, cl cashlink.Investment, row importer.Row) []string {
	var out []string
	issEnded := iss.Status == issuance.StatusCancelled || iss.Status == issuance.StatusRefunded || iss.Status == issuance.StatusNotApproved
	clEnded := cashlink.Final(cl.Status) && cl.Status != cashlink.StatusDelivered
	switch {
	case issEnded && !clEnded:
		out = append(out, fmt.Sprintf("Issuance says %s, Cashlink says %s: the registry entry may need a correction.", iss.Status, cl.Status))
	case clEnded && !issEnded:
		out = append(out, fmt.Sprintf("Cashlink ended the investment (%s) while Issuance says %s.", cl.Status, iss.Status))
	}
	if cl.Units != row.Units {
		out = append(out, fmt.Sprintf("Units: %d sent, Cashlink has %d.", row.Units, cl.Units))
	}
	if row.Units != iss.Quantity {
		out = append(out, fmt.Sprintf("Units %d differ from the Issuance quantity %d (edited at review?).", row.Units, iss.Quantity))
	}
	if row.Wallet != "" && (cl.Wallet == nil || *cl.Wallet != row.Wallet) {
		out = append(out, "The wallet in Cashlink is not the one set by the import.")
	}
	return out
}
