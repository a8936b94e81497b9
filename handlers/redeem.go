package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
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

// redeemView builds the page's table (with names from the console's
// catalog) and the form's frame.
func (s *Server) redeemView(c echo.Context) (views.RedeemView, error) {
	ctx := c.Request().Context()
	u, _ := currentUser(c)
	v := views.RedeemView{CSRF: s.page(c, "", "").CSRFToken, CanEdit: u.IsAdmin(), FieldErrors: map[string]string{}}
	list, err := s.Imports.Engine.Redemptions(ctx, 50)
	if err != nil {
		return v, err
	}
	cat, err := s.Imports.Store.Catalog(ctx)
	if err != nil {
		return v, err
	}
	// Investors' names and e-mails are personal data: masked for auditors.
	pv := viewer(c)
	investorName, productName := map[string]string{}, map[string]string{}
	for _, inv := range cat.Investors {
		if investorName[inv.ID] == "" {
			investorName[inv.ID] = pv.Value(views.JoinNonEmpty(" · ", inv.Name, inv.Email))
		}
	}
	for _, p := range cat.Products {
		productName[p.ID] = p.Name
	}
	for _, r := range list {
		v.Redemptions = append(v.Redemptions, views.RedemptionRow{ID: r.ID, Investor: r.Investor, Product: r.Product, Wallet: r.Wallet,
			InvestorName: investorName[r.Investor], ProductName: productName[r.Product],
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

// maxInvestorMatches bounds the investor search's list.
const maxInvestorMatches = 20

// findInvestors fills the search's matches for q.
func (s *Server) findInvestors(c echo.Context, v *views.RedeemView, q string) error {
	v.Query = strings.TrimSpace(q)
	if v.Query == "" {
		return nil
	}
	v.Searched = true
	found, err := s.Imports.Engine.FindInvestors(c.Request().Context(), v.Query, maxInvestorMatches+1)
	if err != nil {
		return err
	}
	if len(found) > maxInvestorMatches {
		found, v.MoreMatches = found[:maxInvestorMatches], true
	}
	for _, m := range found {
		v.Matches = append(v.Matches, views.RedeemInvestor{ID: m.ID, Name: m.Name, Email: m.Email})
	}
	if len(v.Matches) == 0 && uuidLike(v.Query) {
		// Not in the console's list: offer the id itself; choosing it
		// asks Cashlink who it is.
		v.Matches = append(v.Matches, views.RedeemInvestor{ID: strings.ToLower(v.Query)})
	}
	return nil
}

func uuidLike(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if r != '-' {
				return false
			}
		case !strings.ContainsRune("0123456789abcdefABCDEF", r):
			return false
		}
	}
	return true
}

// chooseInvestor reads what the investor can redeem from Cashlink. An
// unknown investor, or Cashlink unreadable, is said on the page.
func (s *Server) chooseInvestor(c echo.Context, v *views.RedeemView, investorID string) (importer.RedeemOptions, bool) {
	o, err := s.Imports.Engine.RedeemOptionsFor(c.Request().Context(), s.Cashlink, strings.TrimSpace(investorID))
	switch {
	case errors.Is(err, importer.ErrUnknownInvestor):
		v.Error = "Cashlink does not know the investor " + investorID + ": search again."
		return o, false
	case err != nil:
		s.Logger.Warn("reading an investor's wallets failed", "err", err)
		v.Error = "Could not read this investor's wallets from Cashlink (" + err.Error() + "). Try again in a moment."
		return o, false
	}
	v.Investor = &views.RedeemInvestor{ID: o.Investor.ID, Name: o.Investor.Name, Email: o.Investor.Email}
	if o.BalanceErr != nil {
		s.Logger.Warn("working out an investor's balance failed", "err", o.BalanceErr)
		v.BalanceNote = "The balance is unknown: Cashlink's API has no balance call, and the console could not work it out from the investments Cashlink lists (" +
			o.BalanceErr.Error() + "). Cashlink still checks the balance when the redemption is sent, and refuses more than the wallet holds."
	}
	// Cashlink updates an investment's remaining amount once a redemption's
	// on-ledger burn succeeds (contracts A.9): units of one still processing
	// may or may not be in the balance yet. Said beside it, not subtracted.
	processing := map[string]int64{}
	for _, r := range v.Redemptions {
		if r.Status == cashlink.RedemptionProcessing && r.Investor == o.Investor.ID {
			processing[r.Product+" "+r.Wallet] += r.Units
		}
	}
	for _, ch := range o.Choices {
		v.Choices = append(v.Choices, views.RedeemChoice{Value: ch.Value(), ProductID: ch.ProductID, ProductName: ch.ProductName,
			WalletID: ch.Wallet.ID, Address: ch.Wallet.Address, Type: ch.Wallet.Type, Units: ch.Units, Known: ch.Known,
			Processing: processing[ch.Value()]})
	}
	if v.Holding == "" {
		// One product and wallet with something to redeem: chosen already.
		var with []string
		for _, ch := range v.Choices {
			if ch.Known && ch.Units > 0 {
				with = append(with, ch.Value)
			}
		}
		if len(with) == 1 {
			v.Holding = with[0]
		}
	}
	return o, true
}

// redeemPage is the page: the investor search (?q=), the chosen
// investor's products and wallets with their balances (?investor=), and
// the latest redemptions.
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
	if v.CanEdit {
		if id := c.QueryParam("investor"); strings.TrimSpace(id) != "" {
			s.chooseInvestor(c, &v, id)
		} else if err := s.findInvestors(c, &v, c.QueryParam("q")); err != nil {
			return err
		}
	}
	return s.render(c, http.StatusOK, view{Title: "Redemptions", Nav: "imports", Content: views.RedeemPage(v)})
}

// redeemInvestors is the investor search's matches: the fragment htmx
// swaps in while typing; without htmx, the whole page with the matches.
func (s *Server) redeemInvestors(c echo.Context) error {
	if err := s.requireImports(); err != nil {
		return err
	}
	if !isFragment(c) {
		return redirect(c, string(routes.Redemptions)+"?"+url.Values{"q": {c.QueryParam("q")}}.Encode())
	}
	v := views.RedeemView{CanEdit: true}
	if err := s.findInvestors(c, &v, c.QueryParam("q")); err != nil {
		return err
	}
	return s.render(c, http.StatusOK, view{Content: views.InvestorMatches(v)})
}

// redeem checks the redemption against the balance read from Cashlink,
// then sends it. Anything refused, by the console or by Cashlink, shows
// the form again with everything typed kept and the reason next to the
// input it is about.
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
	v.Holding, v.Units, v.Confirm = strings.TrimSpace(c.FormValue("holding")), strings.TrimSpace(c.FormValue("units")), strings.TrimSpace(c.FormValue("confirm"))
	refuse := func() error {
		return s.render(c, http.StatusUnprocessableEntity, view{Title: "Redemptions", Nav: "imports", Content: views.RedeemPage(v)})
	}
	o, ok := s.chooseInvestor(c, &v, c.FormValue("investor"))
	if !ok {
		return refuse()
	}
	// "1,000" and "1 000" are read as 1000, as the page writes numbers.
	units, perr := strconv.ParseInt(strings.NewReplacer(",", "", " ", "", "\u00a0", "", "\u202f", "").Replace(v.Units), 10, 64)
	if perr != nil {
		units = 0
	}
	in, err := importer.CheckRedemption(o, v.Holding, units)
	var inputErr *importer.RedemptionInputError
	var balErr *importer.BalanceError
	switch {
	case errors.As(err, &inputErr):
		v.FieldErrors[inputErr.Field] = inputErr.Msg
	case errors.As(err, &balErr):
		product := balErr.Choice.ProductName
		if product == "" {
			product = "this product"
		}
		v.FieldErrors["units"] = fmt.Sprintf("More than the balance: this wallet holds %s of %s.", views.Plural(balErr.Balance, "unit"), product)
	case err != nil:
		return err
	case v.Confirm != "REDEEM "+strconv.FormatInt(units, 10):
		v.FieldErrors["confirm"] = fmt.Sprintf("The confirmation does not match: type REDEEM %d.", units)
	}
	if len(v.FieldErrors) > 0 {
		v.Error = "Nothing was sent to Cashlink: check the fields marked below."
		return refuse()
	}
	r, err := s.Imports.Engine.RequestRedemption(ctx, s.Cashlink, u.ID, in)
	s.event(c, audit.EventRedemption, u.Email, fmt.Sprintf("redemption %d: %d units of product %s from investor %s: %s", r.ID, units, in.ProductID, in.InvestorID, r.Status))
	kind, msg := "success", fmt.Sprintf("Redemption %d sent: status %s.", r.ID, r.Status)
	switch {
	case r.ID == 0 && err != nil:
		return err
	case r.Status == "rejected":
		// Refused by Cashlink: nothing was redeemed. The form comes back
		// as it was sent, the reason next to its input.
		fresh, ferr := s.redeemView(c) // the table now lists the refusal
		if ferr != nil {
			return ferr
		}
		v.Redemptions, v.Pending = fresh.Redemptions, fresh.Pending
		if field := importer.RejectedInput(err); field != "" {
			v.FieldErrors[field] = r.Err
			v.Error = "Cashlink refused the redemption; nothing was redeemed. Check the field marked below."
		} else {
			v.Error = r.Err
		}
		return refuse()
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
