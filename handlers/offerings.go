package handlers

import (
	"cmp"
	"errors"
	"issuerconsole/routes"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

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
	{name: "type", label: "Type"},
	{name: "archived", label: "Archived"},
	{name: "page_size", label: "Per page", widget: "select", options: stringOptions([]string{"10", "25", "50", "100"}, "")},
	{name: "status__in", label: "Status", widget: "checks"},
}

var offeringGroups = []groupSpec{
	{"Name and slug", []fieldSpec{{name: "name__contains", label: "Name contains"}, {name: "name", label: "Name is"}, {name: "name__in", label: "Name is any of"},
		{name: "slug__contains", label: "Slug contains"}, {name: "slug", label: "Slug is"}, {name: "slug__in", label: "Slug is any of"}}},
	{"Status and type", []fieldSpec{{name: "status", label: "Status is"}, {name: "status__contains", label: "Status contains"},
		{name: "type__in", label: "Type is any of"}, {name: "type__contains", label: "Type contains"}}},
	{"Issuer", []fieldSpec{{name: "issuer", label: "Issuer id"}, {name: "issuer__in", label: "Issuer ids"}, {name: "issuer__archived", label: "Issuer archived"},
		{name: "issuer__archived__in", label: "Issuer archived, any of"}, {name: "archived__in", label: "Archived, any of"}}},
	{"Opened and ids", []fieldSpec{{name: "opened_at", label: "Opened at (exact date-time)", hint: "The API offers exact matches only."},
		{name: "opened_at__in", label: "Opened at, any of"}, {name: "id", label: "Id"}, {name: "id__in", label: "Ids"},
		{name: "ordering", label: "Ordering", hint: "Fields: " + strings.Join(issuance.OfferingOrderingFields, ", ") + "; - for descending."}}},
}

// money shows an Issuance amount (USD) the one way money is shown.
func money(r *big.Rat) string { return views.MoneyRat(r, views.DefaultCurrency) }

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
	if done, err := canonicalRedirect(c, string(routes.Offerings), q); done || err != nil {
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
			committed := s.Offerings.CommittedEach(c.Request().Context(), page.Results)
			failed, firstErr, oldest := 0, error(nil), time.Time{}
			for i, o := range page.Results {
				r := offeringRow(o)
				committedCells(&r, committed[i])
				if err := committed[i].Err; err != nil {
					failed++
					firstErr = cmp.Or(firstErr, err)
				} else if at := committed[i].AsOf; oldest.IsZero() || at.Before(oldest) {
					oldest = at
				}
				l.Rows = append(l.Rows, r)
			}
			if !oldest.IsZero() {
				l.MoneyAsOf = oldest.UTC().Format("2006-01-02 15:04:05 UTC")
			}
			if failed > 0 {
				l.MoneyProblem = "The committed money of " + views.Plural(int64(failed), "offering") + " could not be read (" +
					describeAPIError(firstErr) + "); shown as —."
			}
			size := pageSizeOf(q, defaultPageSize)
			l.Pager = pager(string(routes.Offerings), q, pageOf(q, page.Count, size), page.Count, size, "#offering-results")
		}
	}
	l.Form = buildForm("offering-filters", string(routes.Offerings), "#offering-results", issuance.OfferingParams, offeringTop, offeringGroups, q, errs, check.Notes)
	for i := range l.Form.Top {
		if fl := &l.Form.Top[i]; fl.Name == "status__in" {
			for j := range fl.Options {
				fl.Options[j].Label = views.StatusLabel(views.OfferingStatus, fl.Options[j].Value)
			}
		}
	}
	l.Chips = activeFilters(string(routes.Offerings), q, l.Form, func(param, v string) string {
		switch param {
		case "status__in", "status":
			return views.StatusLabel(views.OfferingStatus, v)
		case "type", "type__in":
			return issuance.Label(issuance.OfferingTypes, v)
		}
		return ""
	})
	for _, h := range []struct{ label, field string }{{"#", "id"}, {"Name", "name"}, {"Slug", ""}, {"Type", "type"}, {"Status", "status"},
		{"Committed", ""}, {"% of minimum", ""},
		{"Unit price", ""}, {"Min. investment", ""}, {"Opened", "opened_at"}, {"Deadline", ""}, {"Created", "created_at"}} {
		l.Headers = append(l.Headers, sortHeader(string(routes.Offerings), q, h.label, h.field, issuance.OfferingOrderingFields, "#offering-results", h.label == "#"))
	}
	p := s.page(c, "Offerings", "offerings")
	return s.render(c, http.StatusOK, view{Title: p.Title, Nav: p.Nav, Content: views.OfferingsPage(p, l),
		Fragment: fragments(views.OfferingResults(l), views.FieldErrorsOOB(l.Form))})
}

// committedCells fills a row's money columns from the API's summary: the
// committed amount with its currency and the share of the minimum target.
func committedCells(r *views.OfferingRow, c offerings.CommittedOf) {
	r.Committed, r.MinTarget = views.Dash, views.Dash
	if c.Err != nil {
		r.CommittedNote = "could not be read: " + describeAPIError(c.Err)
		return
	}
	if c.Amount == nil {
		r.CommittedNote = "the API withheld the amount"
		return
	}
	r.Committed = views.MoneyRat(c.Amount, c.Currency)
	if c.Minimum != nil && c.Minimum.Sign() > 0 {
		r.HasMinimum, r.MinPercent, r.MinTarget = true, c.Percent, views.MoneyRat(c.Minimum, c.Currency)
	}
}

func offeringRow(o issuance.Offering) views.OfferingRow {
	r := views.OfferingRow{ID: o.ID, Name: o.Name, Slug: o.Slug, Type: issuance.Label(issuance.OfferingTypes, o.Type),
		Status: o.Status, Archived: o.Archived, UnitPrice: money(o.UnitPrice.Rat()),
		MinInvestment: money(o.MinInvestmentAmount.Rat()), Created: o.CreatedAt.UTC().Format("2006-01-02")}
	if o.OpenedAt != nil {
		r.Opened = o.OpenedAt.UTC().Format("2006-01-02")
	}
	if o.DeadlineDate != nil && !o.DeadlineDate.IsZero() {
		r.Deadline = o.DeadlineDate.String()
	}
	return r
}

// offeringDetail renders the offering's frame at once (one call); its
// money, which reads every investment, is filled in by htmx from
// offeringMoney, so a slow upstream is not a blank screen. Without
// JavaScript a link opens offeringMoney as a whole page.
func (s *Server) offeringDetail(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	o, _, err := s.Offerings.Offering(c.Request().Context(), id)
	if errors.Is(err, apiclient.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusBadGateway, "The Issuance API could not answer: "+describeAPIError(err))
	}
	d := offeringFrame(o, s.Now())
	d.MoneyURL = routes.OfferingMoney.Path(id)
	if q := attentionQuery(c.QueryParams()); q != "" {
		d.MoneyURL += "?" + q
	}
	return s.render(c, http.StatusOK, view{Title: o.Name, Nav: "offerings", Content: views.OfferingPage(d)})
}

// offeringMoney is the offering's money, targets, charts and attention
// list: an htmx fragment, or the whole page without JavaScript.
func (s *Server) offeringMoney(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ov, err := s.Offerings.Overview(c.Request().Context(), id)
	if errors.Is(err, apiclient.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return echo.NewHTTPError(http.StatusBadGateway, "The Issuance API could not answer: "+describeAPIError(err))
	}
	d := offeringDetailView(ov, c.QueryParams(), viewer(c))
	now := s.Now()
	// To the second: the answer is kept for seconds, not minutes.
	d.AsOf, d.AsOfISO, d.AsOfAgo = ov.AsOf.UTC().Format("2006-01-02 15:04:05 UTC"), ov.AsOf.UTC().Format(time.RFC3339), views.Ago(ov.AsOf, now)
	if ttl := s.Offerings.TTL(); ttl >= time.Second {
		d.KeptFor = views.Plural(int64(ttl/time.Second), "second")
	}
	d.RefreshURL, d.CSRF = routes.OfferingRefresh.Path(id), s.page(c, "", "").CSRFToken
	if q := attentionQuery(c.QueryParams()); q != "" {
		d.RefreshURL += "?" + q
	}
	return s.render(c, http.StatusOK, view{Title: ov.Offering.Name, Nav: "offerings", Content: views.OfferingPage(d), Fragment: views.OfferingMoney(d)})
}

// refreshOffering drops what the console keeps about an offering (unless
// it was read in the last seconds) and shows its money read again: the
// fragment for htmx, otherwise a redirect to the money page.
func (s *Server) refreshOffering(c echo.Context) error {
	if err := s.requireIssuance(); err != nil {
		return err
	}
	id, err := pathID(c)
	if err != nil {
		return err
	}
	s.Offerings.Refresh(id)
	if isFragment(c) {
		return s.offeringMoney(c)
	}
	to := routes.OfferingMoney.Path(id)
	if q := attentionQuery(c.QueryParams()); q != "" {
		to += "?" + q
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// attentionQuery keeps the attention list's own parameters.
func attentionQuery(q url.Values) string {
	out := url.Values{}
	for _, k := range []string{"reason", "apage"} {
		if v := q.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out.Encode()
}

const attentionPageSize = 25

// attentionReasons turns the service's reasons into words, each once:
// "processing issues: watchlist_hits, kyc_failed" and "watchlist hits"
// become "Watchlist hits", "KYC failed".
func attentionReasons(rs []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(w string) {
		w = views.Humanize(w)
		if k := strings.ToLower(w); w != "" && !seen[k] {
			seen[k] = true
			out = append(out, w)
		}
	}
	for _, r := range rs {
		if codes, ok := strings.CutPrefix(r, "processing issues: "); ok {
			for _, code := range strings.Split(codes, ",") {
				add(strings.TrimSpace(code))
			}
			continue
		}
		add(r)
	}
	return out
}

func optInt(p *int64) string {
	if p == nil {
		return "not set"
	}
	return views.Count(*p)
}

// offeringFrame is what the offering itself says: terms, contacts and the
// deadline, shown before its money is counted.
func offeringFrame(o issuance.Offering, now time.Time) views.OfferingDetail {
	idq := "offering=" + strconv.FormatInt(o.ID, 10)
	d := views.OfferingDetail{
		ID: o.ID, Name: o.Name, Status: o.Status, Type: issuance.Label(issuance.OfferingTypes, o.Type), SearchURL: string(routes.Investments) + "?" + idq,
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
	// Blank parts are left out, never joined into stray commas.
	contact := func(label, name, title string, more ...string) views.Fact {
		return views.Fact{Label: label, Value: views.OrDash(views.JoinNonEmpty(", ", name, title)), Note: views.JoinNonEmpty(" · ", more...)}
	}
	d.Contacts = []views.Fact{
		contact("Contact", o.ContactName, o.ContactTitle, o.ContactEmail, o.ContactPhone),
		contact("Signing", o.SigningFullName, o.SigningTitle, o.SigningEmail),
		contact("Support", o.SupportEmail, "", o.SupportPhone),
	}
	if o.DeadlineDate != nil && !o.DeadlineDate.IsZero() {
		d.Deadline = o.DeadlineDate.String()
		n := offerings.DaysLeft(o.DeadlineDate.Time, now)
		d.DaysLeftN = n
		switch {
		case n > 0:
			d.DaysLeft = views.Plural(int64(n), "day") + " left"
		case n == 0:
			d.DaysLeft = "today"
		default:
			d.DaysLeft = "passed " + views.DaysFrom(n)
		}
		// Past the deadline while still open: someone should close it.
		d.Overdue = n < 0 && o.Status == "opened"
	}
	return d
}

// offeringDetailView is the whole page with the money counted from every
// investment; q chooses the attention list's reason and page.
func offeringDetailView(ov offerings.Overview, q url.Values, pv personal.Viewer) views.OfferingDetail {
	o, f := ov.Offering, ov.Funnel
	d := offeringFrame(o, ov.AsOf)
	d.MoneyLoaded, d.Calls = true, ov.Calls
	d.Raised, d.Investments = money(f.Committed.Amount), f.Committed.Count
	d.Empty = f.Committed.Count+f.Started.Count+f.PaymentFailed.Count+f.Lost.Count == 0
	statuses := func(step offerings.Step) (string, string) {
		var words, vals []string
		for _, g := range offerings.Grouping {
			if g.Step == step {
				for _, st := range g.Statuses {
					words = append(words, views.StatusLabel(views.InvestmentStatus, string(st)))
					vals = append(vals, string(st))
				}
			}
		}
		return strings.Join(words, "; "), strings.Join(vals, ",") // "; ": a word may hold a comma
	}
	step := func(label string, t offerings.Total, steps ...offerings.Step) views.FunnelStep {
		var names, csv []string
		for _, st := range steps {
			n, c := statuses(st)
			names, csv = append(names, n), append(csv, c)
		}
		return views.FunnelStep{Step: label, Statuses: strings.Join(names, "; "), Count: t.Count, Amount: money(t.Amount), Shares: money(t.Shares),
			Href: string(routes.Investments) + "?" + url.Values{"offering": {strconv.FormatInt(o.ID, 10)}, "status__in": {strings.Join(csv, ",")}}.Encode()}
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
	for _, b := range f.ByStatus { // statuses in the console's words and badges, not the API's labels
		badge := views.StatusBadge(views.InvestmentStatus, b.Key)
		d.ByStatus = append(d.ByStatus, views.Bar{Label: badge.Label, Badge: &badge, Value: float64(b.Count), Count: b.Count, Amount: money(b.Amount),
			Href: string(routes.Investments) + "?" + url.Values{"offering": {strconv.FormatInt(o.ID, 10)}, "status": {b.Key}}.Encode()})
	}
	for _, b := range f.ByPaymentMethod {
		d.ByMethod = append(d.ByMethod, views.Bar{Label: b.Label, Value: float64(b.Count), Count: b.Count, Amount: money(b.Amount),
			Href: string(routes.Investments) + "?" + url.Values{"offering": {strconv.FormatInt(o.ID, 10)}, "payment_method": {b.Key}}.Encode()})
	}
	// The attention list: reasons in words, filterable by reason, paged.
	reason := q.Get("reason")
	counts := map[string]int{}
	var order []string
	var rows []views.AttentionRow
	for _, a := range ov.Attention {
		rs := attentionReasons(a.Reasons)
		for _, r := range rs {
			if counts[r] == 0 {
				order = append(order, r)
			}
			counts[r]++
		}
		if reason != "" && !slices.Contains(rs, reason) {
			continue
		}
		rows = append(rows, views.AttentionRow{ID: a.Investment.ID, Ref: refOr(a.Investment), Name: pv.Value(a.Investment.InvestorIndividualName),
			Status: string(a.Investment.Status), Amount: money(a.Investment.Amount.Rat()), Reasons: strings.Join(rs, "; ")})
	}
	sort.Strings(order)
	base := routes.OfferingMoney.Path(o.ID)
	d.AttentionTotal = len(ov.Attention)
	d.Reasons = append(d.Reasons, views.ReasonLink{Label: "All", Count: views.Count(len(ov.Attention)), Href: base, Current: reason == ""})
	for _, r := range order {
		d.Reasons = append(d.Reasons, views.ReasonLink{Label: r, Count: views.Count(counts[r]), Href: base + "?" + url.Values{"reason": {r}}.Encode(), Current: r == reason})
	}
	aq := url.Values{}
	if reason != "" {
		aq.Set("reason", reason)
	}
	page := max(1, min(pageOf(url.Values{"page": {q.Get("apage")}}, len(rows), attentionPageSize), (len(rows)+attentionPageSize-1)/attentionPageSize))
	from := min((page-1)*attentionPageSize, len(rows))
	d.Attention = rows[from:min(from+attentionPageSize, len(rows))]
	d.AttentionShown = len(rows)
	d.AttentionPager = pager(base, aq, page, len(rows), attentionPageSize, "#offering-money")
	d.AttentionPager.Swap = "outerHTML"
	for i := range d.AttentionPager.Links { // the pager's "page" is the attention list's "apage"
		d.AttentionPager.Links[i].Href = strings.Replace(d.AttentionPager.Links[i].Href, "page=", "apage=", 1)
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
