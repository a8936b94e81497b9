package views

// One way to show each kind of value. Every screen, and the human columns
// of every export, format money, counts, percentages, dates and statuses
// through these functions (and the components in components.templ), so a
// value reads the same wherever it appears.

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Dash stands for a missing value. Never show stray punctuation instead.
const Dash = "—"

// OrDash returns s, or Dash when s is blank.
func OrDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return Dash
	}
	return s
}

// JoinNonEmpty joins the non-blank parts with sep: ("Ann", "") → "Ann",
// never "Ann, ". All blank → "".
func JoinNonEmpty(sep string, parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}

// group puts thousands separators into a string of digits.
func group(digits string) string {
	if len(digits) <= 3 {
		return digits
	}
	var b strings.Builder
	for i, ch := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	return b.String()
}

// Count shows a whole number with thousands separators: 968727 → "968,727".
func Count[T ~int | ~int64](n T) string {
	s := strconv.FormatInt(int64(n), 10)
	if n < 0 {
		return "-" + group(s[1:])
	}
	return group(s)
}

var currencySymbols = map[string]string{"USD": "$", "EUR": "€", "GBP": "£", "CHF": "CHF "}

// DefaultCurrency is the currency of Issuance amounts (its API has no
// currency field; the offerings are US offerings).
const DefaultCurrency = "USD"

// MoneyRat shows an amount with its currency, separators and two decimals
// (more when the amount has them: a share price of 0.125 stays exact):
// 7155 USD → "$7,155.00", 1234.5 EUR → "€1,234.50", nil → Dash.
func MoneyRat(r *big.Rat, currency string) string {
	if r == nil {
		return Dash
	}
	digits, neg := strings.CutPrefix(r.FloatString(6), "-")
	intPart, frac, _ := strings.Cut(digits, ".")
	return moneyOf(neg, intPart, frac, currency)
}

// moneyOf writes an amount from its sign and digits: the fraction without
// its trailing zeros but at least two places, the symbol of the currency
// (or its code), thousands separators, and no sign on a zero.
func moneyOf(neg bool, intPart, frac, currency string) string {
	frac = strings.TrimRight(frac, "0")
	for len(frac) < 2 {
		frac += "0"
	}
	sym, ok := currencySymbols[currency]
	if !ok {
		sym = currency + " "
	}
	out := sym + group(intPart) + "." + frac
	if neg && strings.Trim(intPart+frac, "0") != "" {
		out = "-" + out
	}
	return out
}

// Money shows a decimal string (as the APIs send it) as money; blank →
// Dash, and a value that is not a number is shown as it came.
func Money(dec, currency string) string {
	dec = strings.TrimSpace(dec)
	if dec == "" {
		return Dash
	}
	if out, ok := plainMoney(dec, currency); ok {
		return out
	}
	r, ok := new(big.Rat).SetString(dec)
	if !ok {
		return dec
	}
	return MoneyRat(r, currency)
}

// plainMoney is MoneyRat for what the APIs send, a plain decimal with at
// most 6 decimals ("-1234.50"), without big.Rat: a page of results shows
// 50 amounts or more. Anything else (an exponent, "+5", ".5", more
// decimals, which MoneyRat rounds) is not plain, and ok is false.
// FuzzMoneyPlainMatchesRat checks it against MoneyRat.
func plainMoney(dec, currency string) (out string, ok bool) {
	digits, neg := strings.CutPrefix(dec, "-")
	intPart, frac, dot := strings.Cut(digits, ".")
	if !allDigits(intPart) || dot && (!allDigits(frac) || len(frac) > 6) {
		return "", false
	}
	if intPart = strings.TrimLeft(intPart, "0"); intPart == "" {
		intPart = "0"
	}
	return moneyOf(neg, intPart, frac, currency), true
}

// allDigits: s is one or more ASCII digits.
func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// USD is Money in the Issuance currency.
func USD(dec string) string { return Money(dec, DefaultCurrency) }

// MinorUnits shows an amount given in minor units at some decimals (the
// Cashlink way: "40000000", 3, "EUR" → "€40,000.00").
func MinorUnits(amount string, decimals int, currency string) string {
	n, ok := new(big.Int).SetString(strings.TrimSpace(amount), 10)
	if !ok {
		return OrDash(amount)
	}
	r := new(big.Rat).SetFrac(n, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil))
	return MoneyRat(r, currency)
}

// Percent shows a share in percent with separators: 17.07 → "17 %",
// 1707 → "1,707 %", 2.5 → "2.5 %". Progress past 100 % stays as it is.
func Percent(p float64) string {
	if math.IsNaN(p) || math.IsInf(p, 0) {
		return Dash
	}
	if math.Abs(p) >= 10 || p == math.Trunc(p) {
		return Count(int64(math.Round(p))) + " %"
	}
	return strconv.FormatFloat(p, 'f', 1, 64) + " %"
}

// BarPercent is the width of a progress bar: the share, capped to 0–100.
func BarPercent(p float64) float64 {
	if math.IsNaN(p) || p < 0 {
		return 0
	}
	return min(p, 100)
}

// Plural writes "1 day", "2 days", "1,000 rows"; irregular plurals are
// given as one "singular|plural" word: Plural(3, "entry|entries").
func Plural(n int64, word string) string {
	one, many, irregular := strings.Cut(word, "|")
	if !irregular {
		many = one + "s"
	}
	if n == 1 || n == -1 {
		return Count(n) + " " + one
	}
	return Count(n) + " " + many
}

// DateTime shows an instant in UTC to the minute.
func DateTime(t time.Time) string { return FormatTime(t) }

// Ago says how far t is from now in words, with correct plurals:
// "just now", "5 minutes ago", "1 day ago", "in 3 days".
func Ago(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		s = Plural(int64(d/time.Minute), "minute")
	case d < 48*time.Hour:
		s = Plural(int64(d/time.Hour), "hour")
	case d < 60*24*time.Hour:
		s = Plural(int64(d/(24*time.Hour)), "day")
	case d < 730*24*time.Hour:
		s = Plural(int64(d/(30*24*time.Hour)), "month")
	default:
		s = Plural(int64(d/(365*24*time.Hour)), "year")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// DaysFrom words a whole number of days to a date (negative: it passed):
// 2 → "in 2 days", 1 → "tomorrow", 0 → "today", -1 → "yesterday",
// -5 → "5 days ago".
func DaysFrom(days int) string {
	switch {
	case days == 0:
		return "today"
	case days == 1:
		return "tomorrow"
	case days == -1:
		return "yesterday"
	case days > 1:
		return "in " + Plural(int64(days), "day")
	}
	return Plural(int64(-days), "day") + " ago"
}

// Meaning is what a status means to the person reading it; the badge's
// colour follows it, and the word is always written too.
type Meaning string

// The meanings of a status.
const (
	MeaningOK      Meaning = "ok"      // done, healthy
	MeaningWarn    Meaning = "warn"    // waiting on someone, look at it
	MeaningBad     Meaning = "bad"     // failed, refused
	MeaningNeutral Meaning = "neutral" // in progress or over, nothing to do
)

// Badge is a status in words with its meaning; Code is the API's value,
// shown as the title so it stays findable.
type Badge struct {
	Label   string
	Meaning Meaning
	Code    string
}

type statusWord struct {
	label   string
	meaning Meaning
}

// Status families: each maps every API value to a word and a meaning.
var (
	investmentStatuses = map[string]statusWord{
		"started":                {"Started", MeaningNeutral},
		"not_received":           {"Payment not received", MeaningWarn},
		"payment_failed":         {"Payment failed", MeaningBad},
		"received":               {"Payment received", MeaningOK},
		"cancelled":              {"Cancelled", MeaningNeutral},
		"refunded":               {"Refunded", MeaningNeutral},
		"invested":               {"Invested", MeaningOK},
		"approved":               {"Approved", MeaningOK},
		"not_approved":           {"Not approved", MeaningBad},
		"accepted":               {"Accepted", MeaningOK},
		"accepted_escrow_closed": {"Accepted, escrow closed", MeaningOK},
	}
	offeringStatuses = map[string]statusWord{
		"incomplete": {"Incomplete", MeaningWarn},
		"pending":    {"Pending", MeaningNeutral},
		"opened":     {"Open", MeaningOK},
		"closed":     {"Closed", MeaningNeutral},
		"paused":     {"Paused", MeaningWarn},
	}
	kycStatuses = map[string]statusWord{
		"unverified": {"KYC not verified", MeaningNeutral},
		"processing": {"KYC in progress", MeaningWarn},
		"passed":     {"KYC passed", MeaningOK},
		"failed":     {"KYC failed", MeaningBad},
	}
	cashlinkStatuses = map[string]statusWord{
		"KYC_PENDING":            {"Waiting for KYC", MeaningWarn},
		"REVIEW_PENDING":         {"Waiting for review", MeaningWarn},
		"WAITING_FOR_ACCEPTANCE": {"Waiting for acceptance", MeaningWarn},
		"ACCEPTED":               {"Accepted", MeaningNeutral},
		"PAID":                   {"Paid", MeaningNeutral},
		"DELIVERED":              {"Delivered", MeaningOK},
		"KYC_INSUFFICIENT":       {"KYC insufficient", MeaningBad},
		"ABORTION":               {"Aborted", MeaningBad},
		"REJECTION":              {"Rejected", MeaningBad},
		"CANCELLATION":           {"Cancelled", MeaningNeutral},
		"PAYMENT_MISSING":        {"Payment missing", MeaningBad},
	}
	// Cashlink's kyc_status of an investor (its identification).
	cashlinkKYCStatuses = map[string]statusWord{
		"SUCCESS":      {"Identified", MeaningOK},
		"PENDING":      {"Identification pending", MeaningWarn},
		"INSUFFICIENT": {"Identification insufficient", MeaningBad},
	}
	redemptionStatuses = map[string]statusWord{
		"processing": {"Processing", MeaningNeutral},
		"success":    {"Redeemed", MeaningOK},
		"failed":     {"Failed", MeaningBad},
		"unknown":    {"Unknown: investigate", MeaningWarn},
		// The console's own states of a request (services/importer/redeem.go).
		"requested": {"Requested", MeaningNeutral},
		"rejected":  {"Refused by Cashlink", MeaningBad},
		"no_answer": {"No answer: check again", MeaningWarn},
	}
	jobStates = map[string]statusWord{
		"draft":     {"Draft", MeaningNeutral},
		"running":   {"Running", MeaningNeutral},
		"paused":    {"Paused", MeaningWarn},
		"cancelled": {"Cancelled", MeaningNeutral},
		"done":      {"Done", MeaningOK},
	}
	rowStates = map[string]statusWord{
		"pending": {"Pending", MeaningNeutral},
		"running": {"Running", MeaningNeutral},
		"unknown": {"Outcome unknown", MeaningWarn},
		"waiting": {"Waiting for delivery", MeaningNeutral},
		"done":    {"Done", MeaningOK},
		"failed":  {"Failed", MeaningBad},
		"skipped": {"Skipped", MeaningNeutral},
	}
)

// StatusFamily names a set of statuses.
type StatusFamily string

// The families of statuses the console shows.
const (
	InvestmentStatus StatusFamily = "investment"
	OfferingStatus   StatusFamily = "offering"
	KYCStatus        StatusFamily = "kyc"
	CashlinkStatus   StatusFamily = "cashlink"
	CashlinkKYC      StatusFamily = "cashlink-kyc"
	RedemptionStatus StatusFamily = "redemption"
	JobState         StatusFamily = "job"
	RowState         StatusFamily = "row"
)

func family(f StatusFamily) map[string]statusWord {
	switch f {
	case InvestmentStatus:
		return investmentStatuses
	case OfferingStatus:
		return offeringStatuses
	case KYCStatus:
		return kycStatuses
	case CashlinkStatus:
		return cashlinkStatuses
	case CashlinkKYC:
		return cashlinkKYCStatuses
	case RedemptionStatus:
		return redemptionStatuses
	case JobState:
		return jobStates
	case RowState:
		return rowStates
	}
	return nil
}

// StatusBadge maps an API status of a family to its badge. An unknown
// value is shown in words (underscores to spaces) as neutral; blank → Dash.
func StatusBadge(f StatusFamily, code string) Badge {
	if w, ok := family(f)[code]; ok {
		return Badge{Label: w.label, Meaning: w.meaning, Code: code}
	}
	if strings.TrimSpace(code) == "" {
		return Badge{Label: Dash, Meaning: MeaningNeutral}
	}
	return Badge{Label: Humanize(code), Meaning: MeaningNeutral, Code: code}
}

// StatusLabel is the word of a status, for exports and plain text.
func StatusLabel(f StatusFamily, code string) string { return StatusBadge(f, code).Label }

// Legend lists the badges of codes in the given order (for a key beside a
// table or a chart).
func Legend(f StatusFamily, codes []string) []Badge {
	out := make([]Badge, 0, len(codes))
	for _, c := range codes {
		out = append(out, StatusBadge(f, c))
	}
	return out
}

// Humanize turns an API code into words: "watchlist_hits" → "Watchlist hits".
func Humanize(code string) string {
	s := strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(code, "_", " "), "-", " "))
	if s == "" {
		return ""
	}
	s = strings.ToLower(s)
	s = strings.ToUpper(s[:1]) + s[1:]
	for _, acr := range []string{"kyc", "ach", "ira", "aml", "id"} { // acronyms stay capitals
		s = acronym(s, acr)
	}
	return s
}

func acronym(s, word string) string {
	fields := strings.Fields(s)
	for i, f := range fields {
		if strings.EqualFold(f, word) {
			fields[i] = strings.ToUpper(word)
		}
	}
	return strings.Join(fields, " ")
}

// NameWithID shows a name with its id after it ("Solar Farm II (#8)"),
// or "#8" alone when there is no name.
func NameWithID(name string, id int64) string {
	if strings.TrimSpace(name) == "" {
		return "#" + strconv.FormatInt(id, 10)
	}
	return fmt.Sprintf("%s (#%d)", strings.TrimSpace(name), id)
}
