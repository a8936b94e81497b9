package handlers

import (
	"context"
	"errors"
	"fmt"
	"issuerconsole/routes"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/a-h/templ"
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
	kind       colKind // how the table shows the value
	// at gives a kTime column's time (value is its RFC 3339 text, for
	// exports): both from timeColumn.
	at func(issuance.Investment) (time.Time, bool)
	// public: package personal does not name the field, so no cell of it
	// is masked. Set once below rather than looked up per cell; a column
	// without it (the default) is checked cell by cell.
	public bool
}

func init() {
	for i := range investmentColumns {
		investmentColumns[i].public = !personal.IsField(investmentColumns[i].key)
	}
}

// colKind says how a column's value is shown to a person.
type colKind int

const (
	kText     colKind = iota
	kTime             // RFC 3339 → date and time
	kMoney            // decimal → $1,234.00
	kCount            // integer → 1,234
	kStatus           // investment status → badge
	kOffering         // offering id → its name, id secondary
	kBool             // true/false → yes/no
	kMethod           // payment method → its label
	kIssues           // processing issue codes → words
	kCode             // an enum code → words ("net_worth" → "Net worth")
)

// paymentMethodLabel names a payment method: the API's labels, and ACH
// for the "ach" the investments carry.
func paymentMethodLabel(v string) string {
	if strings.EqualFold(v, "ach") {
		return "ACH"
	}
	return issuance.Label(issuance.PaymentMethods, v)
}

// issueWords turns "kyc_processing,watchlist_hits" into
// "KYC processing, Watchlist hits".
func issueWords(v string) string {
	var out []string
	for _, code := range strings.Split(v, ",") {
		if w := views.Humanize(code); w != "" {
			out = append(out, w)
		}
	}
	return strings.Join(out, ", ")
}

// cell formats one value for the table: money, counts, dates, statuses
// and names the way every screen shows them (views/format.go).
func (col invColumn) cell(inv issuance.Investment, offeringNames map[int64]string, pv personal.Viewer) views.Cell {
	v := col.value(inv)
	if !col.public && pv.Field(col.key, v) != v { // masked for this viewer: shown as the mask, never formatted
		return views.Cell{Value: personal.Masked}
	}
	c := views.Cell{Num: col.num}
	if col.key == "id" || col.key == "reference_id" {
		c.Href = routes.Investment.Path(inv.ID)
	}
	switch col.kind {
	case kMoney:
		c.Value = views.USD(v)
	case kCount:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			c.Value = views.Count(n)
		} else {
			c.Value = views.OrDash(v)
		}
	case kTime:
		if t, ok := col.at(inv); ok && !t.IsZero() {
			c.Value = t.UTC().Format("2006-01-02 15:04") // the column's label says UTC
		}
	case kStatus:
		b := views.StatusBadge(views.InvestmentStatus, v)
		c.Badge = &b
	case kOffering:
		c.Value, c.Href = "#"+v, routes.Offering.Path(v)
		if name := offeringNames[inv.Offering]; name != "" {
			c.Value, c.Sub = name, "#"+v
		}
	case kBool:
		c.Value = yesNo(v)
	case kMethod:
		c.Value = views.OrDash(paymentMethodLabel(v))
	case kIssues:
		c.Value = views.OrDash(issueWords(v))
	case kCode:
		c.Value = views.OrDash(views.Humanize(v))
	default:
		c.Value = views.OrDash(v)
	}
	if c.Badge == nil && c.Value == "" {
		c.Value = views.Dash
	}
	return c
}

func yesNo(v string) string {
	switch v {
	case "true":
		return "yes"
	case "false":
		return "no"
	}
	return views.OrDash(v)
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

func derefTime(t *time.Time) (time.Time, bool) {
	if t == nil {
		return time.Time{}, false
	}
	return *t, true
}

// timeColumn is a column of an instant: the API's RFC 3339 text for
// exports, the time itself for the table.
func timeColumn(key, label, sort string, def bool, at func(issuance.Investment) (time.Time, bool)) invColumn {
	return invColumn{key: key, kind: kTime, label: label, sort: sort, def: def, at: at, value: func(i issuance.Investment) string {
		if t, ok := at(i); ok && !t.IsZero() {
			return t.UTC().Format(time.RFC3339)
		}
		return ""
	}}
}

// investmentColumns covers every field of the investment object (B.5).
var investmentColumns = []invColumn{
	{key: "id", label: "#", sort: "id", num: true, def: true, value: func(i issuance.Investment) string { return strconv.FormatInt(i.ID, 10) }},
	{key: "reference_id", label: "Reference", sort: "reference_id", def: true, value: func(i issuance.Investment) string { return i.ReferenceID }},
	{key: "investor_individual_name", label: "Investor", def: true, value: func(i issuance.Investment) string { return i.InvestorIndividualName }},
	{key: "offering", kind: kOffering, label: "Offering", sort: "offering", def: true, value: func(i issuance.Investment) string { return strconv.FormatInt(i.Offering, 10) }},
	{key: "status", kind: kStatus, label: "Status", sort: "status", def: true, value: func(i issuance.Investment) string { return string(i.Status) }},
	{key: "quantity", kind: kCount, label: "Quantity", sort: "quantity", num: true, def: true, value: func(i issuance.Investment) string { return strconv.FormatInt(i.Quantity, 10) }},
	{key: "price", kind: kMoney, label: "Price", num: true, value: func(i issuance.Investment) string { return string(i.Price) }},
	{key: "price_fees", kind: kMoney, label: "Fees", num: true, value: func(i issuance.Investment) string { return string(i.PriceFees) }},
	{key: "price_payment_processing_fees", kind: kMoney, label: "Processing fees", num: true, value: func(i issuance.Investment) string { return string(i.PricePaymentProcessingFees) }},
	{key: "amount", kind: kMoney, label: "Amount", sort: "amount", num: true, def: true, value: func(i issuance.Investment) string { return string(i.Amount) }},
	{key: "shares_amount", kind: kMoney, label: "Shares amount", sort: "shares_amount", num: true, value: func(i issuance.Investment) string { return string(i.SharesAmount) }},
	{key: "payment_method", kind: kMethod, label: "Payment", def: true, value: func(i issuance.Investment) string { return i.PaymentMethod }},
	{key: "payment_intent_id", label: "Payment intent", value: func(i issuance.Investment) string { return i.PaymentIntentID }},
	{key: "has_investor_signed", kind: kBool, label: "Signed", value: func(i issuance.Investment) string { return strconv.FormatBool(i.HasInvestorSigned) }},
	{key: "processing_issue_statuses", kind: kIssues, label: "Processing issues", def: true, value: func(i issuance.Investment) string { return i.ProcessingIssueStatuses }},
	timeColumn("processed_at", "Processed (UTC)", "processed_at", true, func(i issuance.Investment) (time.Time, bool) { return derefTime(i.ProcessedAt) }),
	timeColumn("received_at", "Received", "", false, func(i issuance.Investment) (time.Time, bool) { return derefTime(i.ReceivedAt) }),
	timeColumn("invested_at", "Invested", "", false, func(i issuance.Investment) (time.Time, bool) { return derefTime(i.InvestedAt) }),
	timeColumn("refunded_at", "Refunded", "", false, func(i issuance.Investment) (time.Time, bool) { return derefTime(i.RefundedAt) }),
	timeColumn("updated_at", "Updated (UTC)", "updated_at", true, func(i issuance.Investment) (time.Time, bool) { return i.UpdatedAt, true }),
	{key: "accredited_investor", kind: kBool, label: "Accredited", value: func(i issuance.Investment) string { return optBool(i.AccreditedInvestor) }},
	{key: "accredited_investor_type", kind: kCode, label: "Accreditation type", value: func(i issuance.Investment) string { return optStr(i.AccreditedInvestorType) }},
	{key: "net_worth", kind: kMoney, label: "Net worth", num: true, value: func(i issuance.Investment) string { return optDec(i.NetWorth) }},
	{key: "annual_income", kind: kMoney, label: "Annual income", num: true, value: func(i issuance.Investment) string { return optDec(i.AnnualIncome) }},
	{key: "us_person", kind: kBool, label: "US person", value: func(i issuance.Investment) string { return optBool(i.USPerson) }},
	{key: "exempt_from_backup_withholding", kind: kBool, label: "Backup withholding exempt", value: func(i issuance.Investment) string { return optBool(i.ExemptFromBackupWithholding) }},
	{key: "amount_invested_in_reg_cf_offering_this_year", kind: kMoney, label: "Reg CF invested this year", num: true, value: func(i issuance.Investment) string { return optDec(i.AmountInvestedInRegCFOfferingThisYear) }},
	{key: "user_browser_type", label: "Browser", value: func(i issuance.Investment) string { return i.UserBrowserType }},
	{key: "bonus_shares", kind: kCount, label: "Bonus shares", num: true, value: func(i issuance.Investment) string { return optI64(i.BonusShares) }},
	{key: "bonus_shares_code", label: "Bonus code", value: func(i issuance.Investment) string { return optStr(i.BonusSharesCode) }},
	{key: "bonus_shares_percentage_tier", label: "Bonus % tier", num: true, value: func(i issuance.Investment) string { return optDec(i.BonusSharesPercentageTier) }},
	{key: "bonus_shares_quantity_tier", label: "Bonus quantity tier", num: true, value: func(i issuance.Investment) string { return optDec(i.BonusSharesQuantityTier) }},
	{key: "quantity_qualified_shares", kind: kCount, label: "Qualified shares", num: true, value: func(i issuance.Investment) string { return optI64(i.QuantityQualifiedShares) }},
	{key: "price_qualified_shares", kind: kMoney, label: "Qualified share price", num: true, value: func(i issuance.Investment) string { return optDec(i.PriceQualifiedShares) }},
	{key: "investor_verify_process_status", label: "Verify process status", deprecated: true, value: func(i issuance.Investment) string { return optStr(i.InvestorVerifyProcessStatus) }},
}

// ExportColumns are the CSV export's columns (personal ones, as package
// personal lists them, for admins only). offeringName names an offering for
// the human columns ("" when unknown).
func ExportColumns(offeringName func(id int64) string) []export.Column {
	out := make([]export.Column, 0, len(investmentColumns)+len(exportHumanColumns)+2)
	for _, c := range investmentColumns {
		out = append(out, export.Column{Name: c.key, Personal: personal.IsField(c.key), Num: c.num, Value: c.value})
	}
	out = append(out, exportHumanColumns...)
	return append(out,
		export.Column{Name: "offering_name", Value: func(i issuance.Investment) string { return offeringName(i.Offering) }},
		export.Column{Name: "accredited_investor_type_label", Personal: personal.IsField("accredited_investor_type"),
			Value: func(i issuance.Investment) string { return views.Humanize(optStr(i.AccreditedInvestorType)) }})
}

// exportHumanColumns follow the API's columns: the same values as a person
// reads them on the screens (views/format.go), for spreadsheets shared
// with people rather than programs.
var exportHumanColumns = []export.Column{
	{Name: "status_label", Value: func(i issuance.Investment) string { return views.StatusLabel(views.InvestmentStatus, string(i.Status)) }},
	{Name: "amount_display", Value: func(i issuance.Investment) string { return views.USD(string(i.Amount)) }},
	{Name: "payment_method_label", Value: func(i issuance.Investment) string { return paymentMethodLabel(i.PaymentMethod) }},
}

// investmentTop are the filters a person uses every day, up front; every
// other API parameter is under "Advanced", unchanged.
var investmentTop = []fieldSpec{
	{name: "search", label: "Search", hint: "Reference, offering, investor e-mail or name; every word must match."},
	{name: "offering", label: "Offering"},
	{name: "investor__user__email", label: "Investor e-mail"},
	{name: "amount__gte", label: "Amount from ($)"},
	{name: "amount__lte", label: "Amount to ($)"},
	{name: "created_at__date__gte", label: "Created from"},
	{name: "created_at__date__lte", label: "Created to"},
	{name: "page_size", label: "Per page", widget: "select", options: stringOptions([]string{"10", "25", "50", "100"}, "")},
	{name: "status__in", label: "Status", widget: "checks"},
}

const topOffering = 1 // index of the offering select in investmentTop

func investmentGroups(offeringOpts []views.Option) []groupSpec {
	multiOfferings := slices.Clone(offeringOpts[1:]) // without "any"
	return []groupSpec{
		{"Status and payment", []fieldSpec{{name: "status", label: "Status is"}, {name: "requested_payment_method__in", label: "Requested payment"},
			{name: "requested_payment_method", label: "Requested payment is"}, {name: "payment_method", label: "Payment method is"},
			{name: "payment_method__in", label: "Payment method, any of"}}},
		{"Amounts and quantities", []fieldSpec{{name: "amount__gt", label: "Amount >"}, {name: "amount__lt", label: "Amount <"}, {name: "amount", label: "Amount ="}, {name: "amount__in", label: "Amount, any of"},
			{name: "shares_amount__gte", label: "Shares amount ≥"}, {name: "shares_amount__lte", label: "Shares amount ≤"}, {name: "shares_amount__gt", label: "Shares amount >"},
			{name: "shares_amount__lt", label: "Shares amount <"}, {name: "shares_amount", label: "Shares amount ="}, {name: "shares_amount__in", label: "Shares amount, any of"},
			{name: "quantity", label: "Quantity ="}, {name: "quantity__in", label: "Quantity, any of"}}},
		{"Created", []fieldSpec{{name: "created_at__gte", label: "Created at or after", hint: "Date-time with offset."}, {name: "created_at__lte", label: "Created at or before"},
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
			{name: "investor__user__email__in", label: "User e-mail, any of"},
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

// offeringOptions lists the offerings for the selects, by name.
func (s *Server) offeringOptions(c echo.Context) []views.Option {
	opts, _ := s.offeringList(c)
	return opts
}

// offeringNames maps offering ids to names, so tables show names, not ids.
func (s *Server) offeringNames(c echo.Context) map[int64]string {
	_, names := s.offeringList(c)
	return names
}

// offeringList builds both from the shared list of every offering
// (offerings.Service.All, kept briefly: typing in the search does not
// refetch it on every keystroke), again only when that list was read
// again. Without it the search still works with typed ids.
func (s *Server) offeringList(c echo.Context) ([]views.Option, map[int64]string) {
	offs, at, err := s.Offerings.All(c.Request().Context())
	s.offeringCache.Lock()
	defer s.offeringCache.Unlock()
	kept := &s.offeringCache
	if err != nil || (kept.opts != nil && kept.at.Equal(at)) {
		if kept.opts == nil {
			return []views.Option{{Value: "", Label: "any"}}, map[int64]string{}
		}
		return kept.opts, kept.names // the last list read, when this read failed
	}
	byName := slices.Clone(offs)
	slices.SortStableFunc(byName, func(a, b issuance.Offering) int { return strings.Compare(a.Name, b.Name) })
	opts := append(make([]views.Option, 0, len(byName)+1), views.Option{Value: "", Label: "any"})
	names := make(map[int64]string, len(byName))
	for _, o := range byName {
		opts = append(opts, views.Option{Value: strconv.FormatInt(o.ID, 10), Label: views.NameWithID(o.Name, o.ID)})
		names[o.ID] = o.Name
	}
	kept.opts, kept.names, kept.at = opts, names, at
	return opts, names
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
	if done, err := canonicalRedirect(c, string(routes.Investments), q); done || err != nil {
		return err
	}
	ctx := c.Request().Context()
	check := issuance.CheckQuery(issuance.InvestmentParams, q)
	sv := views.InvestmentSearch{Checked: check.OK(), Query: q.Encode()}
	errs := check.Errors
	cols, pv := s.chosenColumns(c), viewer(c)
	// The status counts take 11 calls: shown at once when a recent search
	// counted the same (choosing statuses, sorting and paging keep it),
	// otherwise loaded after the results (CountsURL; without JavaScript a
	// link counts them and comes back).
	var counts map[string]int
	if check.OK() {
		var known bool
		if counts, known = s.StatusCounts.Cached(q); !known {
			sv.CountsURL = string(routes.StatusCounts) + "?" + q.Encode()
		}
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
			var names map[int64]string
			if len(page.Results) > 0 {
				names = s.offeringNames(c)
			}
			sv.Rows = make([]views.InvestmentRow, 0, len(page.Results))
			for _, inv := range page.Results {
				row := views.InvestmentRow{ID: inv.ID, Cells: make([]views.Cell, 0, len(cols))}
				for _, col := range cols {
					row.Cells = append(row.Cells, col.cell(inv, names, pv))
				}
				sv.Rows = append(sv.Rows, row)
			}
			size := pageSizeOf(q, defaultPageSize)
			sv.Pager = pager(string(routes.Investments), q, pageOf(q, page.Count, size), page.Count, size, "#investment-results")
		}
		if sv.Problem != "" {
			sv.CountsURL = "" // the API did not answer the list: no 11 calls for the counts
		}
	}
	for _, col := range cols {
		sv.Headers = append(sv.Headers, sortHeader(string(routes.Investments), q, col.label, col.sort, issuance.InvestmentOrderingFields, "#investment-results", col.num))
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
	top[topOffering].options, top[topOffering].widget = offeringOpts, "select"
	sv.Form = buildForm("investment-filters", string(routes.Investments), "#investment-results", issuance.InvestmentParams, top, investmentGroups(offeringOpts), q, errs, check.Notes)
	if !isFragment(c) {
		keepRenderedGroups(&sv.Form)
	}
	for i := range sv.Form.Top {
		if fl := &sv.Form.Top[i]; fl.Name == "status__in" {
			setStatusCounts(fl, counts)
			fl.CountsURL = sv.CountsURL
		}
	}
	var names map[int64]string
	if q.Has("offering") {
		names = s.offeringNames(c)
	}
	sv.Chips = activeFilters(string(routes.Investments), q, sv.Form, func(param, v string) string {
		switch param {
		case "status__in", "status":
			return views.StatusLabel(views.InvestmentStatus, v)
		case "offering":
			if id, err := strconv.ParseInt(v, 10, 64); err == nil && names[id] != "" {
				return views.NameWithID(names[id], id)
			}
		}
		return ""
	})
	me, _ := currentUser(c)
	// The saved searches are part of the page, not of the results an htmx
	// search swaps: a fragment does not read them.
	var saved []searches.Saved
	if !isFragment(c) {
		var err error
		if saved, err = s.Searches.List(ctx); err != nil {
			return err
		}
	}
	for _, ss := range saved {
		// A search an admin saved may filter by a person's name or e-mail.
		sv.Saved = append(sv.Saved, views.SavedSearch{ID: ss.ID, Name: ss.Name, Owner: ss.Owner, URL: string(routes.Investments) + "?" + viewer(c).Query(ss.Query),
			CanDelete: ss.OwnerID == me.ID || me.IsAdmin()})
	}
	sv.IsAdmin = me.IsAdmin()
	p := s.page(c, "Investments", "investments")
	sv.CSRF = p.CSRFToken
	return s.render(c, http.StatusOK, view{Title: p.Title, Nav: p.Nav, Content: views.InvestmentsPage(p, sv),
		Fragment: fragments(views.InvestmentResults(sv), views.FieldErrorsOOB(sv.Form), views.ChecksCountsOOB(sv.Form))})
}

// renderedGroups keeps the HTML of advanced filter groups that nobody
// filled in: such a group renders the same for every request, and the ~70
// advanced fields were most of a full page's rendering. Keyed by everything
// the HTML depends on (fields, labels, hints, widgets, options), so a new
// offering list is a new key; cleared when it grows past a few hundred.
var renderedGroups struct {
	sync.Mutex
	m map[string]templ.Component
}

func keepRenderedGroups(f *views.FilterForm) {
	renderedGroups.Lock()
	defer renderedGroups.Unlock()
	if renderedGroups.m == nil || len(renderedGroups.m) > 256 {
		renderedGroups.m = map[string]templ.Component{}
	}
	for i := range f.Groups {
		g := &f.Groups[i]
		if g.Open || slices.ContainsFunc(g.Fields, func(fl views.FilterField) bool { return fl.Value != "" || fl.Error != "" || fl.Note != "" }) {
			continue // a value, an error or a note: rendered for this request
		}
		key := groupKey(*g)
		html, ok := renderedGroups.m[key]
		if !ok {
			var b strings.Builder
			if err := views.FilterGroupView(*g).Render(context.Background(), &b); err != nil {
				continue // rendered with the page instead, which reports the error
			}
			html = templ.Raw(b.String())
			renderedGroups.m[key] = html
		}
		g.HTML = html
	}
}

func groupKey(g views.FilterGroup) string {
	// Written piece by piece: with fmt.Fprintf per field, the key took a
	// sixth of the full page's own work outside the call and rendering.
	var b strings.Builder
	b.WriteString(g.Title)
	put := func(sep byte, parts ...string) {
		for _, p := range parts {
			b.WriteByte(sep)
			b.WriteString(p)
		}
	}
	for _, fl := range g.Fields {
		put('\x00', fl.Name)
		put('\x01', fl.Label, fl.Hint, fl.Widget, fl.Value, strconv.FormatBool(fl.Linked))
		for _, o := range fl.Options {
			put('\x02', o.Value)
			put('\x03', o.Label, strconv.FormatBool(o.Selected), o.Count)
		}
	}
	return b.String()
}

// setStatusCounts labels the status checkboxes in words, each with its
// count when known.
func setStatusCounts(fl *views.FilterField, counts map[string]int) {
	for j := range fl.Options {
		o := &fl.Options[j]
		o.Label = views.StatusLabel(views.InvestmentStatus, o.Value)
		if n, ok := counts[o.Value]; ok {
			o.Count = views.Count(n)
		}
	}
}

// StatusCountsTTL is how long a search's status counts are shown without
// asking again: long enough for choosing statuses, sorting and paging,
// short enough that a count is a fair hint of what a checkbox adds.
const StatusCountsTTL = 20 * time.Second

// investmentStatusCounts counts the search's results per status: for htmx,
// the counts beside the checkboxes (swapped out of band after the
// results); without JavaScript, it counts and goes back to the search,
// which then shows them. Any failure: no counts, the search as it was.
func (s *Server) investmentStatusCounts(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	q := canonicalQuery(issuance.InvestmentParams, c.QueryParams())
	var counts map[string]int
	if issuance.CheckQuery(issuance.InvestmentParams, q).OK() {
		var err error
		switch counts, err = s.StatusCounts.Get(c.Request().Context(), q); {
		case errors.Is(err, issuance.ErrCountsUnavailable):
			s.Logger.Info("status counts skipped", "err", err) // busy or stopping: shown without counts
		case err != nil:
			s.Logger.Warn("status counts failed", "err", err)
		}
	}
	if !isFragment(c) {
		return redirect(c, string(routes.Investments)+"?"+q.Encode())
	}
	fl := views.FilterField{Name: "status__in", Widget: "checks"}
	for _, st := range issuance.Statuses {
		fl.Options = append(fl.Options, views.Option{Value: st.Value})
	}
	setStatusCounts(&fl, counts)
	return s.render(c, http.StatusOK, view{Title: "Status counts", Nav: "investments", Fragment: views.ChecksCountsOOB(views.FilterForm{Top: []views.FilterField{fl}})})
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
	names := s.offeringNames(c)
	d := views.InvestmentDetail{ID: inv.ID, Ref: refOr(inv), Offering: inv.Offering, OfferingName: names[inv.Offering], Status: string(inv.Status),
		Investor: viewer(c).Value(inv.InvestorIndividualName), Amount: views.USD(string(inv.Amount))}
	for _, col := range investmentColumns {
		cell := col.cell(inv, names, viewer(c))
		cell.Num = false
		d.Fields = append(d.Fields, views.DetailField{Key: col.key, Label: col.label, Cell: cell, Deprecated: col.deprecated})
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
	return redirect(c, string(routes.Investments)+"?"+safeQuery(form.Get("return")))
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
		return redirect(c, string(routes.Investments)+"?"+q)
	}
	if err != nil {
		return err
	}
	if err := s.flash(c, "success", fmt.Sprintf("Saved the search %q for everyone.", strings.TrimSpace(c.FormValue("name")))); err != nil {
		return err
	}
	return redirect(c, string(routes.Investments)+"?"+q)
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
	return redirect(c, string(routes.Investments))
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
	return redirect(c, routes.InvestmentExportJob.Path(j.ID))
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
