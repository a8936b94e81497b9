package issuance

// Python and Django parsing rules, reproduced so the emulator accepts and
// rejects exactly the query values the reference stack (Python 3.11, Django
// 3.2, django-filter 23.1, DRF 3.14) does. Each function names the Python or
// Django routine it mirrors; the differential test against the real stack
// (diff_django_test.go) checks them.

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// pyIsSpace is Python's str.isspace() for one character (used by str.strip,
// str.split and Decimal).
func pyIsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, ' ', 0x85, 0xa0,
		0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return r >= 0x2000 && r <= 0x200a
}

// pyStrip is str.strip() without arguments.
func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// pySplit is str.split() without arguments.
func pySplit(s string) []string { return strings.FieldsFunc(s, pyIsSpace) }

// pyIntSpace is the whitespace int() skips: ASCII whitespace as C's isspace
// sees it, and any non-ASCII character Python calls whitespace (CPython maps
// those to ' ' before parsing; ASCII 0x1c-0x1f are left alone and rejected).
func pyIntSpace(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return r >= 0x80 && pyIsSpace(r)
}

// pyDigit is the decimal value of a Unicode decimal digit (category Nd), as
// Python's \d, int() and Decimal() accept them.
func pyDigit(r rune) (int, bool) {
	if r >= '0' && r <= '9' {
		return int(r - '0'), true
	}
	if r < 0x80 || !unicode.Is(unicode.Nd, r) {
		return 0, false
	}
	// Nd characters come in runs of ten, 0 to 9, and the ranges of the table
	// start at a zero.
	for _, rg := range unicode.Nd.R16 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) && rg.Stride == 1 {
			return int(r-rune(rg.Lo)) % 10, true
		}
	}
	for _, rg := range unicode.Nd.R32 {
		if r >= rune(rg.Lo) && r <= rune(rg.Hi) && rg.Stride == 1 {
			return int(r-rune(rg.Lo)) % 10, true
		}
	}
	return 0, false
}

// pyMaxStrDigits is Python 3.11's default limit on the digits int() converts.
const pyMaxStrDigits = 4300

// pyIntResult is a parsed Python int, saturated to the int64 range: values a
// database integer column can never hold keep their sign in Big.
type pyIntResult struct {
	Val int64 // the value when !Big
	Big bool  // |value| > MaxInt64; Neg tells its sign
	Neg bool
}

// pyInt mirrors int(str) in base 10: surrounding whitespace, an optional
// sign, Unicode decimal digits with single underscores between them. ok is
// false where Python raises ValueError.
func pyInt(s string) (res pyIntResult, ok bool) {
	s = strings.TrimFunc(s, pyIntSpace)
	if s == "" {
		return res, false
	}
	switch s[0] {
	case '+':
		s = s[1:]
	case '-':
		res.Neg = true
		s = s[1:]
	}
	var digits []byte
	prevUnderscore := true // a leading underscore is as bad as a double one
	for _, r := range s {
		if r == '_' {
			if prevUnderscore {
				return pyIntResult{}, false
			}
			prevUnderscore = true
			continue
		}
		d, isDigit := pyDigit(r)
		if !isDigit {
			return pyIntResult{}, false
		}
		prevUnderscore = false
		digits = append(digits, byte('0'+d))
	}
	if len(digits) == 0 || prevUnderscore || len(digits) > pyMaxStrDigits {
		return pyIntResult{}, false
	}
	trimmed := strings.TrimLeft(string(digits), "0")
	if trimmed == "" {
		return pyIntResult{}, true // zero, also "-0"
	}
	v, err := strconv.ParseInt(trimmed, 10, 64)
	if err != nil {
		res.Big = true
		return res, true
	}
	if res.Neg {
		v = -v
	}
	res.Val = v
	return res, true
}

// pyDecimal is a finite decimal number as Python's Decimal parses it:
// (-1)^Neg × Coef × 10^Exp, Coef without leading zeros ("" for zero).
type pyDecimal struct {
	Neg  bool
	Coef string
	Exp  int64
}

// libmpdec's exponent limits on 64-bit builds (beyond them the constructor
// raises InvalidOperation).
const (
	mpdMaxEmax  = 999_999_999_999_999_999
	mpdMinEtiny = -1_999_999_999_999_999_997
)

// parseDjangoDecimal mirrors forms.DecimalField.to_python + validate:
// str.strip(), then Decimal(value) (which drops every underscore and
// accepts Unicode digits), then "finite" (NaN and Infinity are rejected).
// ok=false means "Enter a number.".
func parseDjangoDecimal(s string) (pyDecimal, bool) {
	s = pyStrip(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '_':
			continue
		case r < 0x80:
			b.WriteRune(r)
		case pyIsSpace(r):
			b.WriteByte(' ') // an inner space: invalid below
		default:
			d, ok := pyDigit(r)
			if !ok {
				return pyDecimal{}, false
			}
			b.WriteByte(byte('0' + d))
		}
	}
	a := b.String()
	var d pyDecimal
	if a != "" && (a[0] == '+' || a[0] == '-') {
		d.Neg = a[0] == '-'
		a = a[1:]
	}
	i := 0
	var coef strings.Builder
	intDigits, fracDigits := 0, 0
	for i < len(a) && a[i] >= '0' && a[i] <= '9' {
		coef.WriteByte(a[i])
		i++
		intDigits++
	}
	if i < len(a) && a[i] == '.' {
		i++
		for i < len(a) && a[i] >= '0' && a[i] <= '9' {
			coef.WriteByte(a[i])
			i++
			fracDigits++
		}
	}
	if intDigits+fracDigits == 0 {
		return pyDecimal{}, false // also NaN, Infinity: not finite
	}
	var exp int64
	if i < len(a) && (a[i] == 'e' || a[i] == 'E') {
		i++
		neg := false
		if i < len(a) && (a[i] == '+' || a[i] == '-') {
			neg = a[i] == '-'
			i++
		}
		start := i
		for i < len(a) && a[i] >= '0' && a[i] <= '9' {
			i++
		}
		if start == i {
			return pyDecimal{}, false
		}
		e, err := strconv.ParseInt(strings.TrimLeft(a[start:i], "0")+"0", 10, 64)
		if err != nil {
			return pyDecimal{}, false
		}
		e /= 10 // the appended "0" keeps an all-zero exponent parseable
		if neg {
			e = -e
		}
		exp = e
	}
	if i != len(a) {
		return pyDecimal{}, false
	}
	c := strings.TrimLeft(coef.String(), "0")
	exp -= int64(fracDigits)
	adjusted := exp + int64(len(c)) - 1
	if exp > mpdMaxEmax+1 || exp < mpdMinEtiny || (c != "" && adjusted > mpdMaxEmax+1) {
		return pyDecimal{}, false
	}
	d.Coef = c
	d.Exp = exp
	if c == "" {
		d.Neg = false // -0 compares equal to 0 everywhere we use it
	}
	return d, true
}

// scaledBounds returns floor and ceil of d × 10^scale, saturated to
// ±MaxInt64, and whether d × 10^scale is an integer. Columns store money as
// integer cents (scale 2) and prices as micro-units (scale 6), so these bounds
// give exact PostgreSQL numeric comparisons.
func (d pyDecimal) scaledBounds(scale int) (floor, ceil int64, exact bool) {
	if d.Coef == "" {
		return 0, 0, true
	}
	e := d.Exp + int64(scale)
	n := int64(len(d.Coef))
	var intPart string
	fracNonZero := false
	switch {
	case e >= 0:
		if n+e > 19 {
			return saturate(d.Neg)
		}
		intPart = d.Coef + strings.Repeat("0", int(e))
	case n+e <= 0:
		intPart = "0"
		fracNonZero = true
	default:
		cut := n + e
		intPart = d.Coef[:cut]
		fracNonZero = strings.Trim(d.Coef[cut:], "0") != ""
	}
	if len(intPart) > 19 {
		return saturate(d.Neg)
	}
	u, err := strconv.ParseUint(intPart, 10, 64)
	if err != nil || u > math.MaxInt64-1 {
		return saturate(d.Neg)
	}
	v := int64(u)
	if d.Neg {
		v = -v
	}
	if !fracNonZero {
		return v, v, true
	}
	if d.Neg {
		return v - 1, v, false
	}
	return v, v + 1, false
}

func saturate(neg bool) (int64, int64, bool) {
	if neg {
		return math.MinInt64, math.MinInt64, false
	}
	return math.MaxInt64, math.MaxInt64, false
}

// truncInt is int(Decimal): truncation toward zero, as Django's
// IntegerField.get_prep_value applies to a NumberFilter value. big is true
// when the result is outside the int64 range (it then matches no row).
func (d pyDecimal) truncInt() (v int64, big bool) {
	lo, hi, exact := d.scaledBounds(0)
	if lo == math.MaxInt64 || hi == math.MinInt64 {
		return 0, true
	}
	if exact || !d.Neg {
		return lo, false
	}
	return hi, false
}

// parseBoolWidget mirrors django-filter's BooleanWidget: the value is
// lower-cased; "true"/"1" and "false"/"0" are booleans; anything else means
// "no filter" (set=false), never an error.
func parseBoolWidget(s string) (val, set bool) {
	switch strings.ToLower(s) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// parseDjangoDateTime mirrors django-filter's IsoDateTimeField on Django 3.2:
// str.strip(), then django.utils.dateparse.parse_datetime (its regex accepts
// Unicode digits), a fixed offset or Z, naive values taken in the server time
// zone (UTC). The result is microseconds since the Unix epoch.
// ok=false means "Enter a valid date/time.".
func parseDjangoDateTime(s string) (int64, bool) {
	s = pyStrip(s)
	rs := []rune(s)
	p := runeScanner{rs: rs}
	year, ok1 := p.digits(4, 4)
	if !ok1 || !p.lit('-') {
		return 0, false
	}
	month, ok2 := p.digits(1, 2)
	if !ok2 || !p.lit('-') {
		return 0, false
	}
	day, ok3 := p.digits(1, 2)
	if !ok3 || !(p.lit('T') || p.lit(' ')) {
		return 0, false
	}
	hour, ok4 := p.digits(1, 2)
	if !ok4 || !p.lit(':') {
		return 0, false
	}
	minute, ok5 := p.digits(1, 2)
	if !ok5 {
		return 0, false
	}
	second, micro := 0, 0
	// (?::(?P<second>\d{1,2})(?:[\.,](?P<microsecond>\d{1,6})\d{0,6})?)?
	// When an optional group fails the regex skips it, and then the time
	// zone group and $ must match where it started; digits cannot follow a
	// successful match, so greedy reading without backtracking is exact.
	save := p.i
	if p.lit(':') {
		if sec, ok := p.digits(1, 2); ok {
			second = sec
			save2 := p.i
			if p.lit('.') || p.lit(',') {
				start := p.i
				if ms, ok := p.digits(1, 6); ok {
					for k := p.i - start; k < 6; k++ {
						ms *= 10 // ljust(6, "0")
					}
					micro = ms
					for p.i-start < 12 && p.peekDigit() {
						p.i++ // \d{0,6}: read and ignored
					}
				} else {
					p.i = save2
				}
			}
		} else {
			p.i = save
		}
	}
	// (?P<tzinfo>Z|[+-]\d{2}(?::?\d{2})?)?$
	offsetMin := 0 // naive values are in the server time zone, UTC
	rest := rs[p.i:]
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && rest[0] == 'Z':
	case rest[0] == '+' || rest[0] == '-':
		q := runeScanner{rs: rest[1:]}
		hh, ok := q.digits(2, 2)
		if !ok {
			return 0, false
		}
		mm := 0
		if q.i < len(q.rs) {
			q.lit(':')
			m, ok := q.digits(2, 2)
			if !ok || q.i != len(q.rs) {
				return 0, false
			}
			mm = m
		}
		offsetMin = hh*60 + mm
		if rest[0] == '-' {
			offsetMin = -offsetMin
		}
		if offsetMin <= -24*60 || offsetMin >= 24*60 {
			return 0, false // datetime.timezone refuses offsets of a day or more
		}
	default:
		return 0, false
	}
	if !validDate(year, month, day) || hour > 23 || minute > 59 || second > 59 {
		return 0, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, micro*1000, time.UTC)
	return t.UnixMicro() - int64(offsetMin)*60_000_000, true
}

// runeScanner walks a rune slice for the hand-written regex matchers above.
type runeScanner struct {
	rs []rune
	i  int
}

func (p *runeScanner) lit(r rune) bool {
	if p.i < len(p.rs) && p.rs[p.i] == r {
		p.i++
		return true
	}
	return false
}

func (p *runeScanner) peekDigit() bool {
	if p.i >= len(p.rs) {
		return false
	}
	_, ok := pyDigit(p.rs[p.i])
	return ok
}

// digits reads between min and max Unicode digits greedily and returns
// their value.
func (p *runeScanner) digits(min, max int) (int, bool) {
	v, n := 0, 0
	start := p.i
	for n < max && p.i < len(p.rs) {
		d, ok := pyDigit(p.rs[p.i])
		if !ok {
			break
		}
		v = v*10 + d
		n++
		p.i++
	}
	if n < min {
		p.i = start
		return 0, false
	}
	return v, true
}

func validDate(y, m, d int) bool {
	if y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 {
		return false
	}
	return d <= daysIn(y, m)
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// Django's default DATE_INPUT_FORMATS (django/conf/global_settings.py), tried
// in this order with datetime.strptime.
var dateInputFormats = []string{
	"%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y",
	"%b %d %Y", "%b %d, %Y",
	"%d %b %Y", "%d %b, %Y",
	"%B %d %Y", "%B %d, %Y",
	"%d %B %Y", "%d %B, %Y",
}

var monthAbbr = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
var monthFull = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}

// parseDjangoDate mirrors forms.DateField.to_python: str.strip(), then
// datetime.strptime with each input format. It returns the day as a count
// of days since 1970-01-01. ok=false means "Enter a valid date.".
func parseDjangoDate(s string) (int64, bool) {
	rs := []rune(pyStrip(s))
	for _, f := range dateInputFormats {
		if y, m, d, ok := strptimeDate(rs, f); ok && validDate(y, m, d) {
			return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Unix() / 86400, true
		}
	}
	return 0, false
}

// strptimeDate matches one format the way Python's _strptime regex does:
// the first match from the start wins (no search for a longer one), and it
// must consume the whole string.
func strptimeDate(rs []rune, format string) (y, m, d int, ok bool) {
	p := runeScanner{rs: rs}
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c == ' ' { // whitespace in a format matches \s+
			n := 0
			for p.i < len(rs) && pyIsSpace(rs[p.i]) {
				p.i++
				n++
			}
			if n == 0 {
				return 0, 0, 0, false
			}
			continue
		}
		if c != '%' {
			if !p.lit(rune(c)) {
				return 0, 0, 0, false
			}
			continue
		}
		i++
		switch format[i] {
		case 'Y': // \d\d\d\d
			v, okv := p.digits(4, 4)
			if !okv {
				return 0, 0, 0, false
			}
			y = v
		case 'y': // \d\d, 69-99 → 19xx, else 20xx
			v, okv := p.digits(2, 2)
			if !okv {
				return 0, 0, 0, false
			}
			if v >= 69 {
				y = 1900 + v
			} else {
				y = 2000 + v
			}
		case 'm': // 1[0-2]|0[1-9]|[1-9]
			v, okv := matchMonthNum(&p)
			if !okv {
				return 0, 0, 0, false
			}
			m = v
		case 'd': // 3[01]|[12]\d|0[1-9]|[1-9]| [1-9]
			v, okv := matchDayNum(&p)
			if !okv {
				return 0, 0, 0, false
			}
			d = v
		case 'b':
			v, okv := matchMonthName(&p, monthAbbr)
			if !okv {
				return 0, 0, 0, false
			}
			m = v
		case 'B':
			v, okv := matchMonthName(&p, monthFull)
			if !okv {
				return 0, 0, 0, false
			}
			m = v
		}
	}
	return y, m, d, p.i == len(rs)
}

func asciiDigitAt(p *runeScanner, off int) (int, bool) {
	if p.i+off >= len(p.rs) {
		return 0, false
	}
	r := p.rs[p.i+off]
	if r < '0' || r > '9' {
		return 0, false
	}
	return int(r - '0'), true
}

func matchMonthNum(p *runeScanner) (int, bool) {
	a, okA := asciiDigitAt(p, 0)
	b, okB := asciiDigitAt(p, 1)
	switch {
	case okA && a == 1 && okB && b <= 2:
		p.i += 2
		return 10 + b, true
	case okA && a == 0 && okB && b >= 1:
		p.i += 2
		return b, true
	case okA && a >= 1:
		p.i++
		return a, true
	}
	return 0, false
}

func matchDayNum(p *runeScanner) (int, bool) {
	a, okA := asciiDigitAt(p, 0)
	switch {
	case okA && a == 3:
		if b, ok := asciiDigitAt(p, 1); ok && b <= 1 {
			p.i += 2
			return 30 + b, true
		}
	case okA && (a == 1 || a == 2):
		// [12]\d: \d is any Unicode digit
		if p.i+1 < len(p.rs) {
			if b, ok := pyDigit(p.rs[p.i+1]); ok {
				p.i += 2
				return a*10 + b, true
			}
		}
	case okA && a == 0:
		if b, ok := asciiDigitAt(p, 1); ok && b >= 1 {
			p.i += 2
			return b, true
		}
		return 0, false
	}
	if okA && a >= 1 {
		p.i++
		return a, true
	}
	if p.i < len(p.rs) && p.rs[p.i] == ' ' {
		if b, ok := asciiDigitAt(p, 1); ok && b >= 1 {
			p.i += 2
			return b, true
		}
	}
	return 0, false
}

// matchMonthName matches month names case-insensitively, longest first, as
// _strptime's alternation (sorted by length) does.
func matchMonthName(p *runeScanner, names []string) (int, bool) {
	best, bestLen := 0, 0
	for i, n := range names {
		if len(n) <= bestLen || p.i+len(n) > len(p.rs) {
			continue
		}
		match := true
		for k := 0; k < len(n); k++ {
			r := p.rs[p.i+k]
			if r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			}
			if r != rune(n[k]) {
				match = false
				break
			}
		}
		if match {
			best, bestLen = i+1, len(n)
		}
	}
	if bestLen == 0 {
		return 0, false
	}
	p.i += bestLen
	return best, true
}

// pyQueryPair is one decoded name=value pair of a query string.
type pyQueryPair struct{ Name, Value string }

// djangoMaxFields is DATA_UPLOAD_MAX_NUMBER_FIELDS: Django answers 400 when
// a query string has more fields.
const djangoMaxFields = 1000

// parsePyQuery mirrors Django's QueryDict(query_string) on Python 3.11:
// urllib.parse.parse_qsl(keep_blank_values=True) splits on "&" only, skips
// empty fields, takes a field without "=" as an empty value, turns "+" into a
// space and percent-decodes with UTF-8, replacing bad bytes.
// tooMany is true when Django would refuse the request with 400.
func parsePyQuery(raw string) (pairs []pyQueryPair, tooMany bool) {
	if raw == "" {
		return nil, false
	}
	if !utf8.ValidString(raw) { // Django falls back to Latin-1 for the whole string
		var b strings.Builder
		for i := 0; i < len(raw); i++ {
			b.WriteRune(rune(raw[i]))
		}
		raw = b.String()
	}
	if strings.Count(raw, "&")+1 > djangoMaxFields {
		return nil, true
	}
	return parseQSL(raw), false
}

// parseQSL is urllib.parse.parse_qsl(qs, keep_blank_values=True) for a
// valid UTF-8 string.
func parseQSL(qs string) []pyQueryPair {
	var out []pyQueryPair
	for _, field := range strings.Split(qs, "&") {
		if field == "" {
			continue
		}
		name, value, _ := strings.Cut(field, "=")
		out = append(out, pyQueryPair{
			Name:  pyUnquote(strings.ReplaceAll(name, "+", " ")),
			Value: pyUnquote(strings.ReplaceAll(value, "+", " ")),
		})
	}
	return out
}

// pyUnquote is urllib.parse.unquote(s, errors="replace"): %XX escapes in
// runs of ASCII characters are decoded to bytes and those bytes as UTF-8,
// each maximal invalid subsequence becoming one U+FFFD; non-ASCII characters
// pass through; a "%" without two hex digits stays as it is.
func pyUnquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var out strings.Builder
	var run []byte
	flush := func() {
		out.WriteString(pyDecodeUTF8Replace(run))
		run = run[:0]
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			flush()
			r, size := utf8.DecodeRuneInString(s[i:])
			out.WriteRune(r)
			i += size
			continue
		}
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			run = append(run, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 3
			continue
		}
		run = append(run, c)
		i++
	}
	flush()
	return out.String()
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// pyDecodeUTF8Replace decodes bytes as Python's bytes.decode("utf-8",
// "replace") does: one U+FFFD per maximal subpart of an ill-formed sequence.
func pyDecodeUTF8Replace(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var out strings.Builder
	for i := 0; i < len(b); {
		c := b[i]
		if c < 0x80 {
			out.WriteByte(c)
			i++
			continue
		}
		var need int
		lo, hi := byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c == 0xE0:
			need, lo = 2, 0xA0
		case c >= 0xE1 && c <= 0xEC, c == 0xEE, c == 0xEF:
			need = 2
		case c == 0xED:
			need, hi = 2, 0x9F
		case c == 0xF0:
			need, lo = 3, 0x90
		case c >= 0xF1 && c <= 0xF3:
			need = 3
		case c == 0xF4:
			need, hi = 3, 0x8F
		default:
			out.WriteRune(utf8.RuneError)
			i++
			continue
		}
		j := i + 1
		for k := 0; k < need; k++ {
			if j >= len(b) {
				break
			}
			l, h := byte(0x80), byte(0xBF)
			if k == 0 {
				l, h = lo, hi
			}
			if b[j] < l || b[j] > h {
				break
			}
			j++
		}
		if j-i == need+1 {
			out.Write(b[i:j])
		} else {
			out.WriteRune(utf8.RuneError)
		}
		i = j
	}
	return out.String()
}

// pyQuote is urllib.parse.quote(s, safe): UTF-8 bytes, letters, digits and
// "_.-~" plus the safe characters are kept, everything else is %XX.
func pyQuote(s, safe string, plus bool) string {
	var b strings.Builder
	const hexUpper = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '_', c == '.', c == '-', c == '~':
			b.WriteByte(c)
		case plus && c == ' ':
			b.WriteByte('+')
		case c < 0x80 && strings.IndexByte(safe, c) >= 0:
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexUpper[c>>4])
			b.WriteByte(hexUpper[c&15])
		}
	}
	return b.String()
}

// pyQuotePlus is urllib.parse.quote_plus(s) with safe="".
func pyQuotePlus(s string) string { return pyQuote(s, "", true) }

// escapeURIPath is django.utils.encoding.escape_uri_path.
func escapeURIPath(p string) string { return pyQuote(p, "/:@&+$,!*'()", false) }

// pgUpper upper-cases per character, as PostgreSQL's UPPER() does for the
// icontains lookups of DRF's SearchFilter (characters without a one-to-one
// upper-case mapping stay as they are).
func pgUpper(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || (s[i] >= 'a' && s[i] <= 'z') {
			return strings.Map(unicode.ToUpper, s)
		}
	}
	return s
}
