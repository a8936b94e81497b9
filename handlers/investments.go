package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/export"
	"issuerconsole/services/issuance"
	"issuerconsole/services/personal"
	"issuerconsole/services/searches"
	"issuerconsole/views"
)

// invColumn is one field of an investment: a table column, a detail line
// and an export column.
type invColumn struct {
	key, label string
	sort       string // ordering field ("" = not sortable)
	num        bool
	deprecated bool
	def        bool // shown by default
	value      func(issuance.Investment) string
	time       bool // an RFC 3339 value, shown short in the table
}

func optDec(d *issuance.Decimal) string {
	if d == nil {
		return ""
	}
	return string(*d)
}

func optBool(b *bool) string {
	if b == nil {
		return ""
	}
	return strconv.FormatBool(*b)
}

func optStr(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func optI64(i *int64) string {
	if i == nil {
		return ""
	}
	return strconv.FormatInt(*i, 10)
}

func optTS(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// investmentColumns covers every field of the investment object (B.5).
var investmentColumns = []invColumn{
	{key: "id", label: "#", sort: "id", num: true, def: true, value: func(i issuance.Investment) string { return strconv.FormatInt(i.ID, 10) }},
	{key: "reference_id", label: "Reference", sort: "reference_id", def: true, value: func(i issuance.Investment) string { return i.ReferenceID }},
	{key: "investor_individual_name", label: "Investor", def: true, value: func(i issuance.Investment) string { return i.InvestorIndividualName }},
	{key: "offering", label: "Offering", sort: "offering", num: true, def: true, value: func(i issuance.Investment) string { return strconv.FormatInt(i.Offering, 10) }},
	{key: "status", label: "Status", sort: "status", def: true, value: func(i issuance.Investment) string { return string(i.Status) }},
	{key: "quantity", label: "Quantity", sort: "quantity", num: true, def: true, value: func(i issuance.Investment) string { return strconv.FormatInt(i.Quantity, 10) }},
	{key: "price", label: "Price", num: true, value: func(i issuance.Investment) string { return string(i.Price) }},
	{key: "price_fees", label: "Fees", num: true, value: func(i issuance.Investment) string { return string(i.PriceFees) }},
	{key: "price_payment_processing_fees", label: "Processing fees", num: true, value: func(i issuance.Investment) string { return string(i.PricePaymentProcessingFees) }},
	{key: "amount", label: "Amount", sort: "amount", num: true, def: true, value: func(i issuance.Investment) string { return string(i.Amount) }},
	{key: "shares_amount", label: "Shares amount", sort: "shares_amount", num: true, value: func(i issuance.Investment) string { return string(i.SharesAmount) }},
	{key: "payment_method", label: "Payment", def: true, value: func(i issuance.Investment) string { return i.PaymentMethod }},
	{key: "payment_intent_id", label: "Payment intent", value: func(i issuance.Investment) string { return i.PaymentIntentID }},
	{key: "has_investor_signed", label: "Signed", value: func(i issuance.Investment) string { return strconv.FormatBool(i.HasInvestorSigned) }},
	{key: "processing_issue_statuses", label: "Processing issues", def: true, value: func(i issuance.Investment) string { return i.ProcessingIssueStatuses }},
	{key: "processed_at", time: true, label: "Processed (UTC)", sort: "processed_at", def: true, value: func(i issuance.Investment) string { return optTS(i.ProcessedAt) }},
	{key: "received_at", time: true, label: "Received", value: func(i issuance.Investment) string { return optTS(i.ReceivedAt) }},
	{key: "invested_at", time: true, label: "Invested", value: func(i issuance.Investment) string { return optTS(i.InvestedAt) }},
	{key: "refunded_at", time: true, label: "Refunded", value: func(i issuance.Investment) string { return optTS(i.RefundedAt) }},
	{key: "updated_at", time: true, label: "Updated (UTC)", sort: "updated_at", def: true, value: func(i issuance.Investment) string { return optTS(&i.UpdatedAt) }},
	{key: "accredited_investor", label: "Accredited", value: func(i issuance.Investment) string { return optBool(i.AccreditedInvestor) }},
	{key: "accredited_investor_type", label: "Accreditation type", value: func(i issuance.Investment) string { return optStr(i.AccreditedInvestorType) }},
	{key: "net_worth", label: "Net worth", num: true, value: func(i issuance.Investment) string { return optDec(i.NetWorth) }},
	{key: "annual_income", label: "Annual income", num: true, value: func(i issuance.Investment) string { return optDec(i.AnnualIncome) }},
	{key: "us_person", label: "US person", value: func(i issuance.Investment) string { return optBool(i.USPerson) }},
	{key: "exempt_from_backup_withholding", label: "Backup withholding exempt", value: func(i issuance.Investment) string { return optBool(i.ExemptFromBackupWithholding) }},
	{key: "amount_invested_in_reg_cf_offering_this_year", label: "Reg CF invested this year", num: true, value: func(i issuance.Investment) string { return optDec(i.AmountInvestedInRegCFOfferingThisYear) }},
	{key: "user_browser_type", label: "Browser", value: func(i issuance.Investment) string { return i.UserBrowserType }},
	{key: "bonus_shares", label: "Bonus shares", num: true, value: func(i issuance.Investment) string { return optI64(i.BonusShares) }},
	{key: "bonus_shares_code", label: "Bonus code", value: func(i issuance.Investment) string { return optStr(i.BonusSharesCode) }},
	{key: "bonus_shares_percentage_tier", label: "Bonus % tier", num: true, value: func(i issuance.Investment) string { return optDec(i.BonusSharesPercentageTier) }},
	{key: "bonus_shares_quantity_tier", label: "Bonus quantity tier", num: true, value: func(i issuance.Investment) string { return optDec(i.BonusSharesQuantityTier) }},
	{key: "quantity_qualified_shares", label: "Qualified shares", num: true, value: func(i issuance.Investment) string { return optI64(i.QuantityQualifiedShares) }},
	{key: "price_qualified_shares", label: "Qualified share price", num: true, value: func(i issuance.Investment) string { return optDec(i.PriceQualifiedShares) }},
	{key: "investor_verify_process_status", label: "Verify process status", deprecated: true, value: func(i issuance.Investment) string { return optStr(i.InvestorVerifyProcessStatus) }},
}

// ExportColumns are the CSV export's columns (personal ones, as package
// personal lists them, for admins only).
func ExportColumns() []export.Column {
	out := make([]export.Column, len(investmentColumns))
	for i, c := range investmentColumns {
		out[i] = export.Column{Name: c.key, Personal: personal.IsField(c.key), Num: c.num, Value: c.value}
	}
	return out
}

var investmentTop = []fieldSpec{
	{name: "search", label: "Search", hint: "Reference, offering name, investor e-mail or name; every word must match."},
	{name: "status__in", label: "Status"},
	{name: "offering", label: "Offering"},
	{name: "page_size", label: "Per page", widget: "select", options: stringOptions([]string{"10", "25", "50", "100"}, "")},
}

func investmentGroups(offeringOpts []views.Option) []groupSpec {
	multiOfferings := slices.Clone(offeringOpts[1:]) // without "any"
	return []groupSpec{
		{"Status and payment", []fieldSpec{{name: "status", label: "Status is"}, {name: "requested_payment_method__in", label: "Requested payment"},
			{name: "requested_payment_method", label: "Requested payment is"}, {name: "payment_method", label: "Payment method is"},
			{name: "payment_method__in", label: "Payment method, any of"}}},
		{"Amounts and quantities", []fieldSpec{{name: "amount__gte", label: "Amount ≥"}, {name: "amount__lte", label: "Amount ≤"},
			{name: "amount__gt", label: "Amount >"}, {name: "amount__lt", label: "Amount <"}, {name: "amount", label: "Amount ="}, {name: "amount__in", label: "Amount, any of"},
			{name: "shares_amount__gte", label: "Shares amount ≥"}, {name: "shares_amount__lte", label: "Shares amount ≤"}, {name: "shares_amount__gt", label: "Shares amount >"},
			{name: "shares_amount__lt", label: "Shares amount <"}, {name: "shares_amount", label: "Shares amount ="}, {name: "shares_amount__in", label: "Shares amount, any of"},
			{name: "quantity", label: "Quantity ="}, {name: "quantity__in", label: "Quantity, any of"}}},
		{"Created", []fieldSpec{{name: "created_at__date__gte", label: "Created on or after"}, {name: "created_at__date__lte", label: "Created on or before"},
			{name: "created_at__gte", label: "Created at or after", hint: "Date-time with offset."}, {name: "created_at__lte", label: "Created at or before"},
			{name: "created_at", label: "Created at ="}, {name: "created_at__in", label: "Created at, any of"}}},
		{"Processed", []fieldSpec{{name: "processed_at__date__gte", label: "Processed on or after"}, {name: "processed_at__date__lte", label: "Processed on or before"},
			{name: "processed_at__gte", label: "Processed at or after"}, {name: "processed_at__lte", label: "Processed at or before"},
			{name: "processed_at", label: "Processed at ="}, {name: "processed_at__in", label: "Processed at, any of"}, {name: "processed_at__isnull", label: "Not processed yet"}}},
		{"Updated", []fieldSpec{{name: "updated_at__date__gte", label: "Updated on or after"}, {name: "updated_at__date__lte", label: "Updated on or before"},
			{name: "updated_at__gte", label: "Updated at or after"}, {name: "updated_at__lte", label: "Updated at or before"},
			{name: "updated_at", label: "Updated at ="}, {name: "updated_at__in", label: "Updated at, any of"}}},
		{"Investor", []fieldSpec{{name: "investor__type__in", label: "Investor type"}, {name: "investor__type", label: "Investor type is"},
			{name: "investor__entity__kyc_status__in", label: "KYC status"}, {name: "investor__entity__kyc_status", label: "KYC status is"},
			{name: "investor__user__entity__entityperson__first_name", label: "First name"}, {name: "investor__user__entity__entityperson__first_name__in", label: "First name, any of"},
			{name: "investor__user__entity__entityperson__last_name", label: "Last name"}, {name: "investor__user__entity__entityperson__last_name__in", label: "Last name, any of"},
			{name: "investor__user__email", label: "User e-mail"}, {name: "investor__user__email__in", label: "User e-mail, any of"},
			{name: "investor__entity__email", label: "Entity e-mail"}, {name: "investor__entity__email__in", label: "Entity e-mail, any of"},
			{name: "investor", label: "Investor id"}, {name: "investor__in", label: "Investor ids"}, {name: "investor__user", label: "User id"},
			{name: "investor__user__in", label: "User ids"}, {name: "investor__entity", label: "Entity id"}, {name: "investor__entity__isnull", label: "No entity"}}},
		{"Offering", []fieldSpec{{name: "offering__in", label: "Offerings", widget: "multi", options: multiOfferings},
			{name: "offering__name", label: "Offering name is"}, {name: "offering__name__in", label: "Offering name, any of"},
			{name: "offering__slug", label: "Offering slug is"}, {name: "offering__slug__in", label: "Offering slug, any of"}}},
		{"References", []fieldSpec{{name: "reference_id", label: "Reference is"}, {name: "reference_id__in", label: "Reference, any of"},
			{name: "id", label: "Id"}, {name: "id__in", label: "Ids"}}},
		{"Approval and watchlist", []fieldSpec{{name: "investmentapproval__is_approved", label: "Approved"}, {name: "watchlistentity__has_hits", label: "Watchlist hits"},
			{name: "investmentapproval__is_approved__in", label: "Approved, any of"}, {name: "watchlistentity__has_hits__in", label: "Watchlist hits, any of"}}},
		{"Processing issues", []fieldSpec{{name: "processing_issue_statuses__contains", label: "Issues contain", hint: "e.g. kyc_failed"},
			{name: "processing_issue_statuses__startswith", label: "Issues start with"}, {name: "processing_issue_statuses", label: "Issues are exactly"},
			{name: "processing_issue_statuses__in", label: "Issues, any of"}}},
		{"Order", []fieldSpec{{name: "ordering", label: "Ordering", hint: "Fields: " + strings.Join(issuance.InvestmentOrderingFields, ", ") + "; - for descending."}}},
	}
}

// offeringOptions lists the offerings for the selects. The list is one
// audited call, kept for a minute: typing in the search should not refetch
// it on every keystroke.
func (s *Server) offeringOptions(c echo.Context) []views.Option {
	s.offeringCache.Lock()
	defer s.offeringCache.Unlock()
	if time.Since(s.offeringCache.at) < time.Minute && s.offeringCache.opts != nil {
		return s.offeringCache.opts
	}
	opts := []views.Option{{Value: "", Label: "any"}}
	page, err := s.Issuance.ListOfferings(c.Request().Context(), issuance.OfferingFilter{Ordering: []string{"name"}}, issuance.PageOpts{PageSize: 100})
	if err != nil {
		return opts // the search still works with typed ids; try again next time
	}
	for _, o := range page.Results {
		opts = append(opts, views.Option{Value: strconv.FormatInt(o.ID, 10), Label: o.Name + " (#" + strconv.FormatInt(o.ID, 10) + ")"})
	}
	s.offeringCache.opts, s.offeringCache.at = opts, time.Now()
	return opts
}

const columnsPref = "investments.columns"

// visibleColumns are the columns the user may choose: personal ones are for
// admins only.
func visibleColumns(c echo.Context) []invColumn {
	if viewer(c).Full() {
		return investmentColumns
	}
	var out []invColumn
	for _, col := range investmentColumns {
		if !personal.IsField(col.key) {
			out = append(out, col)
		}
	}
	return out
}

func (s *Server) chosenColumns(c echo.Context) []invColumn {
	u, _ := currentUser(c)
	v, _ := s.Searches.Pref(c.Request().Context(), u.ID, columnsPref)
	keys := strings.Split(v, ",")
	var out []invColumn
	for _, col := range visibleColumns(c) {
		if v == "" && col.def || v != "" && slices.Contains(keys, col.key) {
			out = append(out, col)
		}
	}
	if len(out) == 0 {
		out = investmentColumns[:1]
	}
	return out
}

func (s *Server) investmentsSearch(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	q := canonicalQuery(issuance.InvestmentParams, c.QueryParams())
	if !q.Has("page_size") {
		q.Set("page_size", strconv.Itoa(defaultPageSize))
	}
	if done, err := canonicalRedirect(c, "/investments", q); done || err != nil {
		return err
	}
	ctx := c.Request().Context()
	check := issuance.CheckQuery(issuance.InvestmentParams, q)
	sv := views.InvestmentSearch{Checked: check.OK(), Query: q.Encode()}
	errs := check.Errors
	cols := s.chosenColumns(c)
	if check.OK() {
		page, err := s.Issuance.ListInvestmentsQuery(ctx, q)
		switch fields, is400 := apiFieldErrors(err); {
		case is400:
			errs, sv.Checked = fields, false
			sv.Problem = "The Issuance API rejected the filters: " + (&apiclient.Error{Fields: fields}).FieldSummary()
		case errors.Is(err, apiclient.ErrNotFound) && q.Has("page"):
			sv.Problem = "That page does not exist (the results are fewer now). Go back to the first page."
		case err != nil:
			sv.Problem = upstreamProblem(err)
		default:
			sv.Count, sv.Note = page.Count, page.Note
			for _, inv := range page.Results {
				row := views.InvestmentRow{ID: inv.ID}
				for _, col := range cols {
					v := col.value(inv)
					if col.time && v != "" {
						v = strings.Replace(strings.TrimSuffix(v, "Z"), "T", " ", 1)[:16] // minutes, UTC
					}
					row.Cells = append(row.Cells, views.Cell{Value: v, Num: col.num, Link: col.key == "id" || col.key == "reference_id",
						OfferingLink: col.key == "offering"})
				}
				sv.Rows = append(sv.Rows, row)
			}
			size := pageSizeOf(q, defaultPageSize)
			sv.Pager = pager("/investments", q, pageOf(q, page.Count, size), page.Count, size, "#investment-results")
		}
	}
	for _, col := range cols {
		sv.Headers = append(sv.Headers, sortHeader("/investments", q, col.label, col.sort, issuance.InvestmentOrderingFields, "#investment-results", col.num))
	}
	for _, col := range visibleColumns(c) {
		sv.Columns = append(sv.Columns, views.ColumnChoice{Key: col.key, Label: col.label, Chosen: slices.ContainsFunc(cols, func(x invColumn) bool { return x.key == col.key }), Deprecated: col.deprecated})
	}
	// An htmx search swaps only the results (and the field errors): the
	// form, and the offering list it needs, stay as they are.
	offeringOpts := []views.Option{{Value: "", Label: "any"}}
	if !isFragment(c) {
		offeringOpts = s.offeringOptions(c)
	}
	top := slices.Clone(investmentTop)
	top[2].options, top[2].widget = offeringOpts, "select"
	sv.Form = buildForm("investment-filters", "/investments", "#investment-results", issuance.InvestmentParams, top, investmentGroups(offeringOpts), q, errs, check.Notes)
	saved, err := s.Searches.List(ctx)
	if err != nil {
		return err
	}
	me, _ := currentUser(c)
	for _, ss := range saved {
		// A search an admin saved may filter by a person's name or e-mail.
		sv.Saved = append(sv.Saved, views.SavedSearch{ID: ss.ID, Name: ss.Name, Owner: ss.Owner, URL: "/investments?" + viewer(c).Query(ss.Query),
			CanDelete: ss.OwnerID == me.ID || me.IsAdmin()})
	}
	sv.IsAdmin = me.IsAdmin()
	p := s.page(c, "Investments", "investments")
	sv.CSRF = p.CSRFToken
	return s.render(c, http.StatusOK, view{Title: p.Title, Nav: p.Nav, Content: views.InvestmentsPage(p, sv),
		Fragment: fragments(views.InvestmentResults(sv), views.FieldErrorsOOB(sv.Form))})
}

func (s *Server) investmentDetail(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	inv, err := s.Issuance.GetInvestment(c.Request().Context(), id)
	if errors.Is(err, apiclient.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusBadGateway, "The Issuance API could not answer: "+describeAPIError(err))
	}
	d := views.InvestmentDetail{ID: inv.ID, Ref: refOr(inv), Offering: inv.Offering, Status: issuance.Label(issuance.Statuses, string(inv.Status))}
	pv := viewer(c)
	for _, col := range investmentColumns {
		v := pv.Field(col.key, col.value(inv))
		if v == "" {
			v = "—"
		}
		d.Fields = append(d.Fields, views.DetailField{Key: col.key, Label: col.label, Value: v, Deprecated: col.deprecated})
	}
	if s.requireImports() == nil { // both APIs configured: imports exist
		rows, err := s.Imports.Store.RowsFor(c.Request().Context(), inv.ID)
		if err != nil {
			return err
		}
		d.ImportsShown = true
		for _, r := range rows {
			d.Imports = append(d.Imports, views.InvestmentImport{JobID: r.JobID, JobName: r.JobName, JobState: r.JobState,
				State: string(r.State), Step: r.Step, CashlinkInvestment: r.CashlinkInvestment, FinalStatus: r.FinalStatus, Error: r.Error})
		}
	}
	return s.render(c, http.StatusOK, view{Title: "Investment " + d.Ref, Nav: "investments", Content: views.InvestmentPage(d)})
}

func (s *Server) setColumns(c echo.Context) error {
	form, err := c.FormParams()
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest)
	}
	var keys []string
	for _, k := range form["col"] {
		if slices.ContainsFunc(visibleColumns(c), func(x invColumn) bool { return x.key == k }) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		keys = []string{"id"}
	}
	u, _ := currentUser(c)
	if err := s.Searches.SetPref(c.Request().Context(), u.ID, columnsPref, strings.Join(keys, ",")); err != nil {
		return err
	}
	return redirect(c, "/investments?"+safeQuery(form.Get("return")))
}

// safeQuery keeps only a query string (no path, no host) for redirects.
func safeQuery(raw string) string {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return ""
	}
	return canonicalQuery(issuance.InvestmentParams, q).Encode()
}

func (s *Server) saveSearch(c echo.Context) error {
	u, _ := currentUser(c)
	q := safeQuery(c.FormValue("query"))
	_, err := s.Searches.Save(c.Request().Context(), u.ID, c.FormValue("name"), q)
	if errors.Is(err, searches.ErrBadName) || errors.Is(err, searches.ErrEmptyQuery) {
		if ferr := s.flash(c, "error", err.Error()+"."); ferr != nil {
			return ferr
		}
		return redirect(c, "/investments?"+q)
	}
	if err != nil {
		return err
	}
	if err := s.flash(c, "success", fmt.Sprintf("Saved the search %q for everyone.", strings.TrimSpace(c.FormValue("name")))); err != nil {
		return err
	}
	return redirect(c, "/investments?"+q)
}

func (s *Server) deleteSearch(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	u, _ := currentUser(c)
	err = s.Searches.Delete(c.Request().Context(), id, u.ID, u.IsAdmin())
	switch {
	case errors.Is(err, searches.ErrNotFound):
		return echo.NewHTTPError(http.StatusNotFound)
	case errors.Is(err, searches.ErrNotOwner):
		return echo.NewHTTPError(http.StatusForbidden, err.Error())
	case err != nil:
		return err
	}
	if err := s.flash(c, "info", "Saved search deleted."); err != nil {
		return err
	}
	return redirect(c, "/investments")
}

// startExport begins a CSV export of every row of the search.
func (s *Server) startExport(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	q, _ := url.ParseQuery(safeQuery(c.FormValue("query")))
	if check := issuance.CheckQuery(issuance.InvestmentParams, q); !check.OK() {
		return echo.NewHTTPError(http.StatusBadRequest, "The search has errors; fix them before exporting.")
	}
	u, _ := currentUser(c)
	j, err := s.Exports.Start(c.Request().Context(), u.ID, q, u.IsAdmin())
	if err != nil {
		return err
	}
	return redirect(c, "/investments/exports/"+j.ID)
}

func (s *Server) exportView(j *export.Job) views.ExportView {
	p := j.Progress()
	v := views.ExportView{ID: j.ID, Query: j.Query, State: string(p.State), Done: p.Done, Total: p.Total, Err: p.Err, Personal: j.Personal}
	if p.Total > 0 {
		v.Percent = float64(p.Done) / float64(p.Total) * 100
	}
	for _, c := range s.Exports.Columns(j.Personal) {
		v.Columns = append(v.Columns, c.Name)
	}
	return v
}

func (s *Server) exportStatus(c echo.Context) error {
	u, _ := currentUser(c)
	j, ok := s.Exports.Get(c.Param("job"), u.ID, u.IsAdmin())
	if !ok {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	v := s.exportView(j)
	return s.render(c, http.StatusOK, view{Title: "Export", Nav: "investments", Content: views.ExportPage(v), Fragment: views.ExportProgress(v)})
}

func (s *Server) exportDownload(c echo.Context) error {
	u, _ := currentUser(c)
	j, ok := s.Exports.Get(c.Param("job"), u.ID, u.IsAdmin())
	if !ok || j.Path() == "" {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	f, err := os.Open(j.Path())
	if err != nil {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	defer f.Close()
	c.Response().Header().Set("Content-Disposition", `attachment; filename="investments-`+j.Started.Format("20060102-150405")+`.csv"`)
	c.Response().Header().Set("Cache-Control", "no-store")
	http.ServeContent(c.Response(), c.Request(), "investments.csv", j.Started, f)
	return nil
}
