package issuance

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Decimal fields are stored as scaled integers so comparisons and sums are
// exact, as PostgreSQL's numeric is: money (2 places) in cents, prices
// (6 places) in micro-units, percentages (4 places) in 1/10000.

// decimalShape is a DRF DecimalField: max integer digits and decimal places.
type decimalShape struct {
	intDigits, places int
}

var (
	moneyShape   = decimalShape{12, 2} // ^-?\d{0,12}(?:\.\d{0,2})?$
	priceShape   = decimalShape{8, 6}  // ^-?\d{0,8}(?:\.\d{0,6})?$
	percentShape = decimalShape{10, 4} // ^-?\d{0,10}(?:\.\d{0,4})?$
)

// parseFixed parses a decimal string of the API's pattern for shape into a
// scaled integer.
func parseFixed(s string, sh decimalShape) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	body := strings.TrimPrefix(s, "-")
	ip, fp, hasDot := strings.Cut(body, ".")
	if ip == "" && fp == "" {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	if len(ip) > sh.intDigits || len(fp) > sh.places || (hasDot && strings.Contains(fp, ".")) {
		return 0, fmt.Errorf("%q does not match ^-?\\d{0,%d}(?:\\.\\d{0,%d})?$", s, sh.intDigits, sh.places)
	}
	for _, c := range ip + fp {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q does not match ^-?\\d{0,%d}(?:\\.\\d{0,%d})?$", s, sh.intDigits, sh.places)
		}
	}
	digits := ip + fp + strings.Repeat("0", sh.places-len(fp))
	v, err := strconv.ParseInt(strings.TrimLeft(digits, "0")+"0", 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is out of range", s)
	}
	v /= 10
	if neg {
		v = -v
	}
	return v, nil
}

// formatFixed renders a scaled integer with all decimal places, as DRF's
// DecimalField does ("100.50").
func formatFixed(v int64, places int) string {
	neg := v < 0
	u := uint64(v)
	if neg {
		u = uint64(-v)
	}
	s := strconv.FormatUint(u, 10)
	if places > 0 {
		if len(s) <= places {
			s = strings.Repeat("0", places-len(s)+1) + s
		}
		s = s[:len(s)-places] + "." + s[len(s)-places:]
	}
	if neg {
		return "-" + s
	}
	return s
}

// normaliseFixed re-renders a decimal string in its canonical form.
func normaliseFixed(s string, sh decimalShape) (string, error) {
	v, err := parseFixed(s, sh)
	if err != nil {
		return "", err
	}
	return formatFixed(v, sh.places), nil
}

// mulRoundCents is quantity × price (micro-units) rounded half-up to cents.
func mulRoundCents(quantity, priceMicros int64) (int64, error) {
	const maxCents = 999_999_999_999_99
	if quantity < 0 || priceMicros < 0 {
		return 0, errors.New("negative quantity or price")
	}
	if priceMicros != 0 && quantity > (1<<62)/priceMicros {
		return 0, errors.New("quantity × price is out of range")
	}
	c := (quantity*priceMicros + 5_000) / 10_000
	if c > maxCents {
		return 0, errors.New("quantity × price is out of range")
	}
	return c, nil
}

// Date-times are microseconds since the Unix epoch, UTC.

// parseFixtureTime parses an RFC 3339 date-time with an offset.
func parseFixtureTime(s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, fmt.Errorf("%q is not an RFC 3339 date-time with offset", s)
	}
	if t.Nanosecond()%1000 != 0 {
		return 0, fmt.Errorf("%q has more precision than microseconds", s)
	}
	if u := t.UTC(); u.Year() < 1 || u.Year() > 9999 {
		return 0, fmt.Errorf("%q is outside the years 1 to 9999", s)
	}
	return t.UnixMicro(), nil
}

// formatISO renders a time as Python's datetime.isoformat() in UTC
// (microseconds only when non-zero); z selects DRF's "Z" suffix over the
// fixture's "+00:00".
func formatISO(us int64, z bool) string {
	t := time.UnixMicro(us).UTC()
	s := t.Format("2006-01-02T15:04:05")
	if m := t.Nanosecond() / 1000; m != 0 {
		s += fmt.Sprintf(".%06d", m)
	}
	if z {
		return s + "Z"
	}
	return s + "+00:00"
}

// parseFixtureDate parses YYYY-MM-DD.
func parseFixtureDate(s string) error {
	if _, err := time.Parse("2006-01-02", s); err != nil || len(s) != 10 {
		return fmt.Errorf("%q is not a date YYYY-MM-DD", s)
	}
	return nil
}
