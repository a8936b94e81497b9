package views

import (
	"bytes"
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

func TestMoney(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dec, cur, want string
	}{
		{"7155.00", "USD", "$7,155.00"},
		{"482000.00", "USD", "$482,000.00"},
		{"10.000000", "USD", "$10.00"},
		{"0.125", "USD", "$0.125"},
		{"1234.5", "EUR", "€1,234.50"},
		{"1000000", "GBP", "£1,000,000.00"},
		{"12", "JPY", "JPY 12.00"},
		{"-1234.5", "USD", "-$1,234.50"},
		{"-0.00", "USD", "$0.00"},
		{"0", "USD", "$0.00"},
		{"", "USD", Dash},
		{"  ", "USD", Dash},
		{"abc", "USD", "abc"},
	}
	for _, tt := range tests {
		if got := Money(tt.dec, tt.cur); got != tt.want {
			t.Errorf("Money(%q, %q) = %q, want %q", tt.dec, tt.cur, got, tt.want)
		}
	}
	if got := MoneyRat(nil, "USD"); got != Dash {
		t.Errorf("MoneyRat(nil) = %q", got)
	}
	if got := MoneyRat(big.NewRat(19308760, 1000), "USD"); got != "$19,308.76" {
		t.Errorf("MoneyRat = %q", got)
	}
}

func TestMinorUnits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		amount   string
		decimals int
		cur      string
		want     string
	}{
		{"40000000", 3, "EUR", "€40,000.00"},
		{"12345", 2, "EUR", "€123.45"},
		{"5", 0, "EUR", "€5.00"},
		{"", 2, "EUR", Dash},
	}
	for _, tt := range tests {
		if got := MinorUnits(tt.amount, tt.decimals, tt.cur); got != tt.want {
			t.Errorf("MinorUnits(%q, %d) = %q, want %q", tt.amount, tt.decimals, got, tt.want)
		}
	}
}

func TestCountAndPlural(t *testing.T) {
	t.Parallel()
	counts := []struct {
		n    int64
		want string
	}{{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {968727, "968,727"}, {1234567, "1,234,567"}, {-4500, "-4,500"}}
	for _, tt := range counts {
		if got := Count(tt.n); got != tt.want {
			t.Errorf("Count(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	plurals := []struct {
		n          int64
		word, want string
	}{
		{0, "day", "0 days"}, {1, "day", "1 day"}, {2, "day", "2 days"}, {1500, "row", "1,500 rows"},
		{1, "entry|entries", "1 entry"}, {3, "entry|entries", "3 entries"},
	}
	for _, tt := range plurals {
		if got := Plural(tt.n, tt.word); got != tt.want {
			t.Errorf("Plural(%d, %q) = %q, want %q", tt.n, tt.word, got, tt.want)
		}
	}
}

func TestPercentAndBar(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p         float64
		want      string
		wantWidth float64
	}{
		{0, "0 %", 0}, {2.54, "2.5 %", 2.54}, {17.07, "17 %", 17.07}, {100, "100 %", 100},
		{1707.4, "1,707 %", 100}, {-3, "-3 %", 0},
	}
	for _, tt := range tests {
		if got := Percent(tt.p); got != tt.want {
			t.Errorf("Percent(%v) = %q, want %q", tt.p, got, tt.want)
		}
		if got := BarPercent(tt.p); got != tt.wantWidth {
			t.Errorf("BarPercent(%v) = %v, want %v", tt.p, got, tt.wantWidth)
		}
	}
}

func TestAgoAndDays(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		t    time.Time
		want string
	}{
		{now.Add(-10 * time.Second), "just now"},
		{now.Add(-1 * time.Minute), "1 minute ago"},
		{now.Add(-5 * time.Minute), "5 minutes ago"},
		{now.Add(-1 * time.Hour), "1 hour ago"},
		{now.Add(-30 * time.Hour), "30 hours ago"},
		{now.Add(-48 * time.Hour), "2 days ago"},
		{now.Add(-90 * 24 * time.Hour), "3 months ago"},
		{now.Add(-3 * 365 * 24 * time.Hour), "3 years ago"},
		{now.Add(72 * time.Hour), "in 3 days"},
		{time.Time{}, ""},
	}
	for _, tt := range tests {
		if got := Ago(tt.t, now); got != tt.want {
			t.Errorf("Ago(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
	days := []struct {
		n    int
		want string
	}{{0, "today"}, {1, "tomorrow"}, {-1, "yesterday"}, {2, "in 2 days"}, {-2, "2 days ago"}, {-1500, "1,500 days ago"}}
	for _, tt := range days {
		if got := DaysFrom(tt.n); got != tt.want {
			t.Errorf("DaysFrom(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestEmptyValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		parts []string
		want  string
	}{
		{[]string{"Ann Lee", "CFO"}, "Ann Lee, CFO"},
		{[]string{"", "CFO"}, "CFO"},
		{[]string{"Ann Lee", " "}, "Ann Lee"},
		{[]string{"", ""}, ""},
	}
	for _, tt := range tests {
		if got := JoinNonEmpty(", ", tt.parts...); got != tt.want {
			t.Errorf("JoinNonEmpty(%q) = %q, want %q", tt.parts, got, tt.want)
		}
	}
	if OrDash(" ") != Dash || OrDash("x") != "x" {
		t.Error("OrDash")
	}
	if NameWithID("Solar Farm", 8) != "Solar Farm (#8)" || NameWithID("", 8) != "#8" {
		t.Error("NameWithID")
	}
}

// Every status of every family the APIs document has its own words and a
// meaning; none falls through to the raw code.
func TestStatusBadges(t *testing.T) {
	t.Parallel()
	families := map[StatusFamily][]string{
		InvestmentStatus: {"started", "not_received", "payment_failed", "received", "cancelled", "refunded", "invested", "approved", "not_approved", "accepted", "accepted_escrow_closed"},
		OfferingStatus:   {"incomplete", "pending", "opened", "closed", "paused"},
		KYCStatus:        {"unverified", "processing", "passed", "failed"},
		CashlinkStatus:   {"KYC_PENDING", "REVIEW_PENDING", "WAITING_FOR_ACCEPTANCE", "ACCEPTED", "PAID", "DELIVERED", "KYC_INSUFFICIENT", "ABORTION", "REJECTION", "CANCELLATION", "PAYMENT_MISSING"},
		RedemptionStatus: {"processing", "success", "failed", "unknown", "requested", "rejected", "no_answer"}, // the API's, then the console's own
		JobState:         {"draft", "running", "paused", "cancelled", "done"},
		RowState:         {"pending", "running", "unknown", "waiting", "done", "failed", "skipped"},
		CashlinkKYC:      {"SUCCESS", "PENDING", "INSUFFICIENT"},
	}
	for f, codes := range families {
		if len(family(f)) != len(codes) {
			t.Errorf("%s: %d mapped statuses, the API has %d", f, len(family(f)), len(codes))
		}
		for _, code := range codes {
			b := StatusBadge(f, code)
			if b.Label == "" || b.Label == code || strings.Contains(b.Label, "_") {
				t.Errorf("%s %q: label %q is not words", f, code, b.Label)
			}
			switch b.Meaning {
			case MeaningOK, MeaningWarn, MeaningBad, MeaningNeutral:
			default:
				t.Errorf("%s %q: meaning %q", f, code, b.Meaning)
			}
		}
	}
	spot := []struct {
		f       StatusFamily
		code    string
		label   string
		meaning Meaning
	}{
		{InvestmentStatus, "not_approved", "Not approved", MeaningBad},
		{InvestmentStatus, "accepted_escrow_closed", "Accepted, escrow closed", MeaningOK},
		{InvestmentStatus, "not_received", "Payment not received", MeaningWarn},
		{CashlinkStatus, "DELIVERED", "Delivered", MeaningOK},
		{RedemptionStatus, "unknown", "Unknown: investigate", MeaningWarn},
		{InvestmentStatus, "brand_new_status", "Brand new status", MeaningNeutral},
		{InvestmentStatus, "", Dash, MeaningNeutral},
	}
	for _, tt := range spot {
		b := StatusBadge(tt.f, tt.code)
		if b.Label != tt.label || b.Meaning != tt.meaning {
			t.Errorf("StatusBadge(%s, %q) = %q/%s, want %q/%s", tt.f, tt.code, b.Label, b.Meaning, tt.label, tt.meaning)
		}
	}
}

func render(t *testing.T, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func squash(s string) string { return strings.Join(strings.Fields(s), " ") }

// What a person sees of each component.
func TestComponents(t *testing.T) {
	t.Parallel()
	doc := render(t, Status(InvestmentStatus, "not_approved"))
	b := doc.Find("span.badge")
	if squash(b.Text()) != "Not approved" || !b.HasClass("badge-bad") || b.AttrOr("data-code", "") != "not_approved" {
		t.Errorf("badge: %q classes %q", b.Text(), b.AttrOr("class", ""))
	}

	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	doc = render(t, When(now.Add(-24*time.Hour), now))
	if got := squash(doc.Text()); got != "2026-03-09 12:00 UTC (24 hours ago)" {
		t.Errorf("When: %q", got)
	}
	if got := squash(render(t, When(time.Time{}, now)).Text()); got != Dash {
		t.Errorf("When(zero): %q", got)
	}

	doc = render(t, NameID("Solar Farm", 8, "/offerings/8"))
	if doc.Find("a").Text() != "Solar Farm" || doc.Find("a").AttrOr("href", "") != "/offerings/8" || squash(doc.Find(".id").Text()) != "#8" {
		t.Errorf("NameID: %q", squash(doc.Text()))
	}
	if got := squash(render(t, NameID("", 8, "")).Text()); got != "#8" {
		t.Errorf("NameID without name: %q", got)
	}

	doc = render(t, Meter("Minimum", 1707.4))
	fill := doc.Find("rect.meter-fill")
	if fill.AttrOr("width", "") != "100.0" || !fill.HasClass("meter-over") {
		t.Errorf("over-target bar: width %q class %q", fill.AttrOr("width", ""), fill.AttrOr("class", ""))
	}
	if got := squash(doc.Find(`[data-testid="meter-text"]`).Text()); got != "Minimum: 1,707 % (over)" {
		t.Errorf("meter text %q", got)
	}
	doc = render(t, Meter("Maximum", 42))
	if doc.Find("rect.meter-fill").AttrOr("width", "") != "42.0" || strings.Contains(doc.Text(), "over") {
		t.Errorf("meter at 42 %%: %q", squash(doc.Text()))
	}

	doc = render(t, TableCell(Cell{Value: "Solar Farm", Href: "/offerings/8", Sub: "#8"}))
	if doc.Find("a").Text() != "Solar Farm" || squash(doc.Find(".id").Text()) != "#8" {
		t.Errorf("cell: %q", squash(doc.Text()))
	}
	legend := render(t, StatusLegend(Legend(OfferingStatus, []string{"opened", "paused"})))
	if legend.Find(".badge").Length() != 2 || !legend.Find(".badge").Last().HasClass("badge-warn") {
		t.Errorf("legend: %q", squash(legend.Text()))
	}
}

// Money's fast path for plain decimals shows what big.Rat's path shows.
func FuzzMoneyPlainMatchesRat(f *testing.F) {
	for _, s := range []string{"7155.00", "-0.00", "0", "007.50", "1.", ".5", "+5", "1e3", "-", "12345678901234567890.123456", "0.0000001", "-1234.5", "1.1234565", "٣"} {
		f.Add(s, "USD")
	}
	f.Add("40000.5", "EUR")
	f.Add("1", "XYZ")
	f.Fuzz(func(t *testing.T, dec, currency string) {
		fast, ok := plainMoney(dec, currency)
		if !ok {
			return
		}
		r, valid := new(big.Rat).SetString(dec)
		if !valid {
			t.Fatalf("plainMoney(%q) = %q, but it is not a number", dec, fast)
		}
		if slow := MoneyRat(r, currency); fast != slow {
			t.Fatalf("plainMoney(%q, %q) = %q, MoneyRat %q", dec, currency, fast, slow)
		}
	})
}
