package handlers

import (
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/issuance"
	"issuerconsole/services/offerings"
	"issuerconsole/services/personal"
	"issuerconsole/views"
)

const defaultPageSize = 25

var offeringTop = []fieldSpec{
	{name: "search", label: "Search", hint: "Name or slug; every word must match."},
	{name: "status", label: "Status"},
	{name: "type", label: "Type"},
	{name: "archived", label: "Archived"},
	{name: "page_size", label: "Per page", widget: "select", options: stringOptions([]string{"10", "25", "50", "100"}, "")},
}

var offeringGroups = []groupSpec{
	{"Name and slug", []fieldSpec{{name: "name__contains", label: "Name contains"}, {name: "name", label: "Name is"}, {name: "name__in", label: "Name is any of"},
		{name: "slug__contains", label: "Slug contains"}, {name: "slug", label: "Slug is"}, {name: "slug__in", label: "Slug is any of"}}},
	{"Status and type", []fieldSpec{{name: "status__in", label: "Status is any of"}, {name: "status__contains", label: "Status contains"},
		{name: "type__in", label: "Type is any of"}, {name: "type__contains", label: "Type contains"}}},
	{"Issuer", []fieldSpec{{name: "issuer", label: "Issuer id"}, {name: "issuer__in", label: "Issuer ids"}, {name: "issuer__archived", label: "Issuer archived"},
		{name: "issuer__archived__in", label: "Issuer archived, any of"}, {name: "archived__in", label: "Archived, any of"}}},
	{"Opened and ids", []fieldSpec{{name: "opened_at", label: "Opened at (exact date-time)", hint: "The API offers exact matches only."},
		{name: "opened_at__in", label: "Opened at, any of"}, {name: "id", label: "Id"}, {name: "id__in", label: "Ids"},
		{name: "ordering", label: "Ordering", hint: "Fields: " + strings.Join(issuance.OfferingOrderingFields, ", ") + "; - for descending."}}},
}

func money(r *big.Rat) string {
	if r == nil {
		return "—"
	}
	s := r.FloatString(2)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, ch := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	out := "$" + b.String() + "." + frac
	if neg {
		out = "-" + out
	}
	return out
}

func decMoney(d *issuance.Decimal) string {
	if d == nil || *d == "" {
		return "not set"
	}
	return money(d.Rat())
}

func (s *Server) requireIssuance() error {
	if s.Issuance == nil {
		return echo.NewHTTPError(http.StatusServiceUnavailable, "The Issuance API is not configured: set ISSUANCE_BASE_URL and ISSUANCE_API_KEY (see Settings).")
	}
	return nil
}

// upstreamProblem words an API failure for a list screen; the form keeps
// what the user typed.
func upstreamProblem(err error) string {
	return "The Issuance API could not answer: " + describeAPIError(err) + " Your filters are kept; try again."
}

func (s *Server) offeringsList(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	q := canonicalQuery(issuance.OfferingParams, c.QueryParams())
	if !q.Has("page_size") {
		q.Set("page_size", strconv.Itoa(defaultPageSize))
	}
	if done, err := canonicalRedirect(c, "/offerings", q); done || err != nil {
		return err
	}
	check := issuance.CheckQuery(issuance.OfferingParams, q)
	l := views.OfferingList{Checked: check.OK()}
	errs := check.Errors
	if check.OK() {
		page, err := s.Issuance.ListOfferingsQuery(c.Request().Context(), q)
		switch fields, is400 := apiFieldErrors(err); {
		case is400:
			errs, l.Checked = fields, false
		case errors.Is(err, apiclient.ErrNotFound) && q.Has("page"):
			l.Problem = "That page does not exist (the list is shorter now). Go back to the first page."
		case err != nil:
			l.Problem = upstreamProblem(err)
		default:
			l.Count = page.Count
			for _, o := range page.Results {
				l.Rows = append(l.Rows, offeringRow(o))
			}
			size := pageSizeOf(q, defaultPageSize)
			l.Pager = pager("/offerings", q, pageOf(q, page.Count, size), page.Count, size, "#offering-results")
		}
	}
	l.Form = buildForm("offering-filters", "/offerings", "#offering-results", issuance.OfferingParams, offeringTop, offeringGroups, q, errs, check.Notes)
	for _, h := range []struct{ label, field string }{{"#", "id"}, {"Name", "name"}, {"Slug", ""}, {"Type", "type"}, {"Status", "status"},
		{"Unit price", ""}, {"Min. investment", ""}, {"Opened", "opened_at"}, {"Deadline", ""}, {"Created", "created_at"}} {
		l.Headers = append(l.Headers, sortHeader("/offerings", q, h.label, h.field, issuance.OfferingOrderingFields, "#offering-results", h.label == "#"))
	}
	p := s.page(c, "Offerings", "offerings")
	return s.render(c, http.StatusOK, view{Title: p.Title, Nav: p.Nav, Content: views.OfferingsPage(p, l),
		Fragment: fragments(views.OfferingResults(l), views.FieldErrorsOOB(l.Form))})
}

func offeringRow(o issuance.Offering) views.OfferingRow {
	r := views.OfferingRow{ID: o.ID, Name: o.Name, Slug: o.Slug, Type: issuance.Label(issuance.OfferingTypes, o.Type),
		Status: issuance.Label(issuance.OfferingStatuses, o.Status), Archived: o.Archived, UnitPrice: money(o.UnitPrice.Rat()),
		MinInvestment: money(o.MinInvestmentAmount.Rat()), Created: o.CreatedAt.UTC().Format("2006-01-02")}
	if o.OpenedAt != nil {
		r.Opened = o.OpenedAt.UTC().Format("2006-01-02")
	}
	if o.DeadlineDate != nil && !o.DeadlineDate.IsZero() {
		r.Deadline = o.DeadlineDate.String()
	}
	return r
}

func (s *Server) offeringDetail(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ov, err := offerings.New(s.Issuance, nil).Overview(c.Request().Context(), id)
	if errors.Is(err, apiclient.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusBadGateway, "The Issuance API could not answer: "+describeAPIError(err))
	}
	d := offeringDetailView(ov, viewer(c))
	return s.render(c, http.StatusOK, view{Title: ov.Offering.Name, Nav: "offerings", Content: views.OfferingPage(d)})
}

func optInt(p *int64) string {
	if p == nil {
		return "not set"
	}
	return strconv.FormatInt(*p, 10)
}

func offeringDetailView(ov offerings.Overview, pv personal.Viewer) views.OfferingDetail {
	o, f := ov.Offering, ov.Funnel
	idq := "offering=" + strconv.FormatInt(o.ID, 10)
	d := views.OfferingDetail{
		ID: o.ID, Name: o.Name, Status: issuance.Label(issuance.OfferingStatuses, o.Status), Type: issuance.Label(issuance.OfferingTypes, o.Type),
		AsOf: ov.AsOf.Format("2006-01-02 15:04:05"), Calls: ov.Calls, SearchURL: "/investments?" + idq,
	}
	unit := o.ShareOrUnit
	if unit == "" {
		unit = "Shares"
	}
	d.Terms = []views.Fact{
		{Label: "Type", Value: d.Type + " (" + o.Type + ")"},
		{Label: "Security", Value: o.SecurityType},
		{Label: "Share or unit", Value: unit, Note: o.ShareOrUnitDetails},
		{Label: "Unit price", Value: money(o.UnitPrice.Rat())},
		{Label: "Minimum investment", Value: money(o.MinInvestmentAmount.Rat())},
		{Label: "Maximum investment", Value: decMoney(o.MaxInvestmentAmount)},
		{Label: "Increment", Value: decMoney(o.InvestmentIncrementAmount)},
		{Label: "Number of shares", Value: optInt(o.NumberOfShares)},
		{Label: "Minimum wire transfer", Value: money(o.MinimumWireTransferAmount.Rat())},
		{Label: "Administrative fee", Value: money(o.AdministrativeFees.Rat()), Note: map[bool]string{true: "paid by the investor", false: "taken before transfer to the issuer"}[o.AdministrativeFeesPaidByInvestor]},
		{Label: "Investors", Value: accreditedText(o.AccreditedInvestors, o.NonAccreditedInvestors)},
		{Label: "Slug", Value: o.Slug},
		{Label: "Opened", Value: optTime(o.OpenedAt)},
		{Label: "Archived", Value: map[bool]string{true: "yes", false: "no"}[o.Archived]},
	}
	d.Contacts = []views.Fact{
		{Label: "Contact", Value: strings.TrimSpace(o.ContactName + ", " + o.ContactTitle), Note: strings.TrimSpace(o.ContactEmail + " " + o.ContactPhone)},
		{Label: "Signing", Value: strings.TrimSpace(o.SigningFullName + ", " + o.SigningTitle), Note: o.SigningEmail},
		{Label: "Support", Value: o.SupportEmail, Note: o.SupportPhone},
	}
	if o.DeadlineDate != nil && !o.DeadlineDate.IsZero() {
		d.Deadline = o.DeadlineDate.String()
		switch n := offerings.DaysLeft(o.DeadlineDate.Time, ov.AsOf); {
		case n > 1:
			d.DaysLeft = fmt.Sprintf("%d days left", n)
		case n == 1:
			d.DaysLeft = "1 day left"
		case n == 0:
			d.DaysLeft = "today"
		default:
			d.DaysLeft = fmt.Sprintf("passed %d days ago", -n)
		}
	}
	statuses := func(step offerings.Step) (string, string) {
		var vals []string
		for _, g := range offerings.Grouping {
			if g.Step == step {
				for _, st := range g.Statuses {
					vals = append(vals, string(st))
				}
			}
		}
		return strings.Join(vals, ", "), strings.Join(vals, ",")
	}
	step := func(label string, t offerings.Total, steps ...offerings.Step) views.FunnelStep {
		var names, csv []string
		for _, st := range steps {
			n, c := statuses(st)
			names, csv = append(names, n), append(csv, c)
		}
		return views.FunnelStep{Step: label, Statuses: strings.Join(names, ", "), Count: t.Count, Amount: money(t.Amount), Shares: money(t.Shares),
			Href: "/investments?" + url.Values{"offering": {strconv.FormatInt(o.ID, 10)}, "status__in": {strings.Join(csv, ",")}}.Encode()}
	}
	d.Funnel = []views.FunnelStep{
		step("Committed", f.Committed, offerings.StepCommitted, offerings.StepReceived, offerings.StepInvested),
		step("Received", f.Received, offerings.StepReceived, offerings.StepInvested),
		step("Invested", f.Invested, offerings.StepInvested),
	}
	d.Outside = []views.FunnelStep{
		step("Started (not committed)", f.Started, offerings.StepStarted),
		step("Payment failed", f.PaymentFailed, offerings.StepFailed),
		step("Cancelled, refunded, not approved", f.Lost, offerings.StepLost),
	}
	for _, t := range f.Targets {
		p := views.Progress{Label: t.Label, Field: t.Field, Target: "not set", Percent: t.Percent}
		if t.Amount != nil {
			p.Target = money(t.Amount)
			if t.Percent > 100 {
				p.Note = "Over the target."
			}
		}
		d.Progress = append(d.Progress, p)
	}
	d.TargetNote = "About these targets: the API reference describes minimum_amount_raised as the Reg CF minimum (\"the filing Target Amount Raised\"), " +
		"maximum_amount_raised as \"the Offering Target amount raised for a Reg CF Offering\" and reg_cf_amount_raised_tier as \"the Offering Maximum\". " +
		"The descriptions of the last two look swapped; this page goes by the field names. Check them against your filing."
	for _, b := range f.ByStatus {
		d.ByStatus = append(d.ByStatus, views.Bar{Label: b.Label, Value: float64(b.Count), Count: b.Count, Amount: money(b.Amount),
			Href: "/investments?" + url.Values{"offering": {strconv.FormatInt(o.ID, 10)}, "status": {b.Key}}.Encode()})
	}
	for _, b := range f.ByPaymentMethod {
		d.ByMethod = append(d.ByMethod, views.Bar{Label: b.Label, Value: float64(b.Count), Count: b.Count, Amount: money(b.Amount),
			Href: "/investments?" + url.Values{"offering": {strconv.FormatInt(o.ID, 10)}, "payment_method": {b.Key}}.Encode()})
	}
	for _, a := range ov.Attention {
		d.Attention = append(d.Attention, views.AttentionRow{ID: a.Investment.ID, Ref: refOr(a.Investment), Name: pv.Value(a.Investment.InvestorIndividualName),
			Status: issuance.Label(issuance.Statuses, string(a.Investment.Status)), Amount: money(a.Investment.Amount.Rat()), Reasons: strings.Join(a.Reasons, "; ")})
	}
	return d
}

func refOr(inv issuance.Investment) string {
	if inv.ReferenceID != "" {
		return inv.ReferenceID
	}
	return "#" + strconv.FormatInt(inv.ID, 10)
}

func accreditedText(acc, non bool) string {
	switch {
	case acc && non:
		return "accredited and non-accredited"
	case acc:
		return "accredited only"
	case non:
		return "non-accredited only"
	}
	return "none allowed"
}
