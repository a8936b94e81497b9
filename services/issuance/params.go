package issuance

import (
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is how django-filter parses a query parameter (api-contracts Part C).
type Kind int

const (
	KDecimal  Kind = iota // NumberFilter on a decimal: forms.DecimalField, "Enter a number."
	KInteger              // NumberFilter on an integer field: also a DecimalField upstream
	KPK                   // ModelChoiceFilter: an existing primary key, else "Select a valid choice. That choice …"
	KDateTime             // IsoDateTimeFilter: "Enter a valid date/time."
	KDate                 // DateFilter on a __date transform: "Enter a valid date."
	KBool                 // BooleanFilter: true/1/false/0, anything else is ignored
	KChoice               // ChoiceFilter: one of Choices, else "Select a valid choice. X is not …"
	KString               // CharFilter: never invalid
	KSearch               // DRF SearchFilter
	KOrdering             // DRF OrderingFilter
	KPage                 // PageNumberPagination page
	KPageSize             // PageNumberPagination page_size
)

// Param is one documented query parameter.
type Param struct {
	Name    string
	Kind    Kind
	In      bool     // a comma-separated __in list
	Choices []string // for KChoice
	Labels  []Choice // the choices with their documented labels
	// Broken marks the boolean __in filters that fail upstream (a single
	// value answers HTTP 500, several are ignored). The client never sends
	// them; see RewriteBroken.
	Broken bool
}

func p(name string, k Kind) Param  { return Param{Name: name, Kind: k} }
func in(name string, k Kind) Param { return Param{Name: name, Kind: k, In: true} }
func choice(name string, c []Choice) Param {
	return Param{Name: name, Kind: KChoice, Choices: values(c), Labels: c}
}
func choiceIn(name string, c []Choice) Param {
	return Param{Name: name, Kind: KString, In: true, Choices: values(c), Labels: c}
}

// InvestmentParams is every query parameter of GET /api/investments/ (S2),
// in the reference's order.
var InvestmentParams = []Param{
	p("amount", KDecimal), p("amount__gt", KDecimal), p("amount__gte", KDecimal), in("amount__in", KDecimal), p("amount__lt", KDecimal), p("amount__lte", KDecimal),
	p("created_at", KDateTime), p("created_at__date__gte", KDate), p("created_at__date__lte", KDate), p("created_at__gte", KDateTime), in("created_at__in", KDateTime), p("created_at__lte", KDateTime),
	p("id", KInteger), in("id__in", KInteger),
	p("investmentapproval__is_approved", KBool), {Name: "investmentapproval__is_approved__in", Kind: KBool, In: true, Broken: true},
	p("investor", KPK), p("investor__entity", KPK), p("investor__entity__email", KString), in("investor__entity__email__in", KString),
	p("investor__entity__isnull", KBool), choice("investor__entity__kyc_status", KYCStatuses), choiceIn("investor__entity__kyc_status__in", KYCStatuses),
	in("investor__in", KPK), choice("investor__type", InvestorTypes), choiceIn("investor__type__in", InvestorTypes),
	p("investor__user", KPK), p("investor__user__email", KString), in("investor__user__email__in", KString),
	p("investor__user__entity__entityperson__first_name", KString), in("investor__user__entity__entityperson__first_name__in", KString),
	p("investor__user__entity__entityperson__last_name", KString), in("investor__user__entity__entityperson__last_name__in", KString),
	in("investor__user__in", KPK),
	p("offering", KPK), in("offering__in", KPK), p("offering__name", KString), in("offering__name__in", KString), p("offering__slug", KString), in("offering__slug__in", KString),
	p("ordering", KOrdering), p("page", KPage), p("page_size", KPageSize),
	p("payment_method", KString), in("payment_method__in", KString),
	p("processed_at", KDateTime), p("processed_at__date__gte", KDate), p("processed_at__date__lte", KDate), p("processed_at__gte", KDateTime), in("processed_at__in", KDateTime), p("processed_at__isnull", KBool), p("processed_at__lte", KDateTime),
	p("processing_issue_statuses", KString), p("processing_issue_statuses__contains", KString), in("processing_issue_statuses__in", KString), p("processing_issue_statuses__startswith", KString),
	p("quantity", KInteger), in("quantity__in", KInteger),
	p("reference_id", KString), in("reference_id__in", KString),
	choice("requested_payment_method", PaymentMethods), choiceIn("requested_payment_method__in", PaymentMethods),
	p("search", KSearch),
	p("shares_amount", KDecimal), p("shares_amount__gt", KDecimal), p("shares_amount__gte", KDecimal), in("shares_amount__in", KDecimal), p("shares_amount__lt", KDecimal), p("shares_amount__lte", KDecimal),
	choice("status", Statuses), choiceIn("status__in", Statuses),
	p("updated_at", KDateTime), p("updated_at__date__gte", KDate), p("updated_at__date__lte", KDate), p("updated_at__gte", KDateTime), in("updated_at__in", KDateTime), p("updated_at__lte", KDateTime),
	p("watchlistentity__has_hits", KBool), {Name: "watchlistentity__has_hits__in", Kind: KBool, In: true, Broken: true},
}

// OfferingParams is every query parameter of GET /api/offerings/ (S2).
var OfferingParams = []Param{
	p("archived", KBool), {Name: "archived__in", Kind: KBool, In: true, Broken: true},
	p("id", KInteger), in("id__in", KInteger),
	p("issuer", KPK), p("issuer__archived", KBool), {Name: "issuer__archived__in", Kind: KBool, In: true, Broken: true}, in("issuer__in", KPK),
	p("name", KString), p("name__contains", KString), in("name__in", KString),
	p("opened_at", KDateTime), in("opened_at__in", KDateTime),
	p("ordering", KOrdering), p("page", KPage), p("page_size", KPageSize), p("search", KSearch),
	p("slug", KString), p("slug__contains", KString), in("slug__in", KString),
	choice("status", OfferingStatuses), p("status__contains", KString), choiceIn("status__in", OfferingStatuses),
	choice("type", OfferingTypes), p("type__contains", KString), choiceIn("type__in", OfferingTypes),
}

// InvestorParams is every query parameter of GET /api/investors/ (S2).
var InvestorParams = []Param{
	p("id", KInteger), in("id__in", KInteger), p("ordering", KOrdering), p("page", KPage), p("page_size", KPageSize), p("search", KSearch),
	choice("type", InvestorTypes), choiceIn("type__in", InvestorTypes), p("user", KPK), in("user__in", KPK),
	p("user__thirdpartyissueruser__email", KString), in("user__thirdpartyissueruser__email__in", KString),
}

// UserParams is every query parameter of GET /api/users/ (S2).
var UserParams = []Param{
	p("id", KInteger), in("id__in", KInteger), p("ordering", KOrdering), p("page", KPage), p("page_size", KPageSize), p("search", KSearch),
	p("thirdpartyissueruser__email", KString), in("thirdpartyissueruser__email__in", KString),
}

// InvestmentOrderingFields and OfferingOrderingFields are the sandbox's
// ordering_fields (sandbox-fixture.md); the live set is not documented.
var (
	InvestmentOrderingFields = []string{"id", "amount", "quantity", "shares_amount", "status", "created_at", "updated_at", "processed_at", "offering", "reference_id"}
	OfferingOrderingFields   = []string{"id", "name", "created_at", "opened_at", "status", "type"}
)

// FindParam looks a parameter up by name.
func FindParam(params []Param, name string) (Param, bool) {
	i := slices.IndexFunc(params, func(p Param) bool { return p.Name == name })
	if i < 0 {
		return Param{}, false
	}
	return params[i], true
}

// Messages django-filter / Django 3.2 give for bad values.
const (
	MsgNumber   = "Enter a number."
	MsgDate     = "Enter a valid date."
	MsgDateTime = "Enter a valid date/time."
	MsgPK       = "Select a valid choice. That choice is not one of the available choices."
)

func msgChoice(v string) string {
	return "Select a valid choice. " + v + " is not one of the available choices."
}

// Check is the result of checking a query locally, before any call.
type Check struct {
	// Errors are the values the API would reject with 400, per parameter.
	Errors map[string][]string
	// Notes explain parameters that will have no effect or are rewritten
	// (an unrecognised boolean, an unknown parameter, a broken __in filter).
	Notes map[string]string
}

// OK reports whether the query can be sent.
func (c Check) OK() bool { return len(c.Errors) == 0 }

// CheckQuery validates q against params with django-filter's rules, so the
// user sees mistakes before a call; the API's own 400 remains the authority
// for what can only be checked upstream (primary keys that do not exist).
func CheckQuery(params []Param, q url.Values) Check {
	c := Check{Errors: map[string][]string{}, Notes: map[string]string{}}
	for name, vals := range q {
		pr, ok := FindParam(params, name)
		if !ok {
			c.Notes[name] = "Not a filter of this list; the API ignores it."
			continue
		}
		v := vals[len(vals)-1] // django-filter reads the last occurrence
		if len(vals) > 1 {
			c.Notes[name] = "Given several times; only the last value counts."
		}
		if v == "" {
			continue // an empty value means "no filter"
		}
		if pr.Broken {
			c.Notes[name] = brokenNote(pr.Name, v)
			continue
		}
		if msg, note := checkValue(pr, v); msg != "" {
			c.Errors[name] = []string{msg}
		} else if note != "" {
			c.Notes[name] = note
		}
	}
	return c
}

func brokenNote(name, v string) string {
	base := strings.TrimSuffix(name, "__in")
	if b, ok := parseBool(v); ok {
		return fmt.Sprintf("%s fails upstream (HTTP 500) for one value; sent as %s=%v instead.", name, base, b)
	}
	return fmt.Sprintf("%s with several values has no effect upstream; not sent.", name)
}

// RewriteBroken returns q without the broken boolean __in parameters: a
// single recognised value becomes the plain boolean filter (what the user
// meant), anything else is dropped (upstream ignores it anyway).
func RewriteBroken(params []Param, q url.Values) url.Values {
	out := url.Values{}
	for k, v := range q {
		out[k] = slices.Clone(v)
	}
	for _, pr := range params {
		if !pr.Broken {
			continue
		}
		vals, ok := out[pr.Name]
		if !ok {
			continue
		}
		delete(out, pr.Name)
		if b, ok := parseBool(vals[len(vals)-1]); ok && out.Get(strings.TrimSuffix(pr.Name, "__in")) == "" {
			out.Set(strings.TrimSuffix(pr.Name, "__in"), strconv.FormatBool(b))
		}
	}
	return out
}

func checkValue(pr Param, v string) (msg, note string) {
	items := []string{v}
	if pr.In {
		items = strings.Split(v, ",")
	}
	for _, it := range items {
		switch pr.Kind {
		case KDecimal, KInteger:
			if pr.In && strings.TrimSpace(it) == "" {
				continue
			}
			if _, ok := parsePyDecimal(it); !ok {
				return MsgNumber, ""
			}
		case KPK:
			if _, err := strconv.ParseInt(strings.TrimSpace(it), 10, 64); err != nil {
				return MsgPK, ""
			}
		case KDateTime:
			if pr.In && strings.TrimSpace(it) == "" {
				continue
			}
			if _, ok := ParseDjangoDateTime(it); !ok {
				return MsgDateTime, ""
			}
		case KDate:
			if _, ok := ParseDjangoDate(it); !ok {
				return MsgDate, ""
			}
		case KBool:
			if _, ok := parseBool(it); !ok {
				return "", "Not true, false, 1 or 0: the API ignores this filter."
			}
		case KChoice:
			if !slices.Contains(pr.Choices, it) {
				return msgChoice(it), ""
			}
		case KString:
			if len(pr.Choices) > 0 && !slices.Contains(pr.Choices, strings.TrimSpace(it)) {
				note = fmt.Sprintf("%q is not a known value; it matches nothing.", it)
			}
		case KPage:
			if it != "last" {
				if n, err := strconv.Atoi(it); err != nil || n < 1 {
					return "Invalid page.", ""
				}
			}
		case KPageSize:
			if n, err := strconv.Atoi(it); err != nil || n < 1 {
				note = "Not a positive whole number: the default page size applies."
			}
		}
	}
	return "", note
}

func parseBool(v string) (bool, bool) {
	switch strings.ToLower(v) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// parsePyDecimal follows Python's Decimal() grammar after strip(), as
// Django's DecimalField does (underscores between digits, exponents), and
// rejects NaN and infinities as Django does.
var pyDecimalRe = regexp.MustCompile(`^[+-]?(?:\d(?:_?\d)*(?:\.(?:\d(?:_?\d)*)?)?|\.\d(?:_?\d)*)(?:[eE][+-]?\d(?:_?\d)*)?$`)

func parsePyDecimal(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if !pyDecimalRe.MatchString(s) {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(strings.ReplaceAll(s, "_", ""))
	return r, ok
}

// djangoDateTimeRe is django.utils.dateparse.datetime_re (Django 3.2).
var djangoDateTimeRe = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[\.,](\d{1,6})\d{0,6})?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$`)

// ParseDjangoDateTime parses a date-time as Django 3.2's IsoDateTimeField
// does; a value without offset is taken in the server's zone (UTC).
func ParseDjangoDateTime(s string) (time.Time, bool) {
	m := djangoDateTimeRe.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return time.Time{}, false
	}
	n := func(i int) int { x, _ := strconv.Atoi(m[i]); return x }
	micro := 0
	if m[7] != "" {
		micro, _ = strconv.Atoi((m[7] + "000000")[:6])
	}
	loc := time.UTC
	if tz := m[8]; tz != "" && tz != "Z" {
		sign := 1
		if tz[0] == '-' {
			sign = -1
		}
		tz = strings.ReplaceAll(tz[1:], ":", "")
		h, _ := strconv.Atoi(tz[:2])
		mi := 0
		if len(tz) >= 4 {
			mi, _ = strconv.Atoi(tz[2:4])
		}
		if h*60+mi >= 24*60 { // Python's timezone() needs |offset| < 24 h
			return time.Time{}, false
		}
		loc = time.FixedZone("", sign*(h*3600+mi*60))
	}
	y, mo, d, h, mi, sec := n(1), n(2), n(3), n(4), n(5), 0
	if m[6] != "" {
		sec = n(6)
	}
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(y, time.Month(mo)) || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, micro*1000, loc), true
}

func daysIn(y int, m time.Month) int { return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() }

// dateLayouts are Django's DATE_INPUT_FORMATS as Go layouts. Python's
// strptime also accepts one-digit months and days, which Go's "1"/"2" do.
var dateLayouts = []string{"2006-1-2", "1/2/2006", "1/2/06", "Jan 2 2006", "Jan 2, 2006", "2 Jan 2006", "2 Jan, 2006", "January 2 2006", "January 2, 2006", "2 January 2006", "2 January, 2006"}

// ParseDjangoDate parses a date as Django 3.2's DateField does.
func ParseDjangoDate(s string) (Date, bool) {
	s = strings.TrimSpace(s)
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil { // "2006" takes exactly four digits, like %Y
			return Date{t}, true
		}
	}
	return Date{}, false
}
