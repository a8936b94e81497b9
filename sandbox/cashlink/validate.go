package cashlink

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// errs collects DRF-shaped validation errors in field order: a field maps
// to a list of messages, or to a nested errs (nested serializer), or to a
// list of nested errs (many=True).
type errs struct {
	keys []string
	vals map[string]any
}

func newErrs() *errs { return &errs{vals: map[string]any{}} }

func (e *errs) add(field, msg string) {
	if v, ok := e.vals[field]; ok {
		if l, ok := v.([]string); ok {
			e.vals[field] = append(l, msg)
		}
		return
	}
	e.keys = append(e.keys, field)
	e.vals[field] = []string{msg}
}

func (e *errs) set(field string, v any) {
	if _, ok := e.vals[field]; !ok {
		e.keys = append(e.keys, field)
	}
	e.vals[field] = v
}

func (e *errs) empty() bool { return len(e.keys) == 0 }

// MarshalJSON writes the fields in the order they failed.
func (e *errs) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range e.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(marshal(e.vals[k]))
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// err is the 400 answer, or nil when nothing failed.
func (e *errs) err() error {
	if e.empty() {
		return nil
	}
	return &apiError{jsonAnswer(http.StatusBadRequest, e)}
}

// DRF's messages.
const (
	msgRequired   = "This field is required."
	msgNull       = "This field may not be null."
	msgBlank      = "This field may not be blank."
	msgString     = "Not a valid string."
	msgInteger    = "A valid integer is required."
	msgBoolean    = "Must be a valid boolean."
	msgUUID       = "Must be a valid UUID."
	msgDateTime   = "Datetime has wrong format. Use one of these formats instead: YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z]."
	msgDate       = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
	msgEmptyList  = "This list may not be empty."
	msgMaxLength  = "Ensure this field has no more than %d characters."
	msgInvalidPK  = "Invalid pk \"%s\" - object does not exist."
	msgGreaterEq  = "Ensure this value is greater than or equal to %d."
	msgLessEq     = "Ensure this value is less than or equal to %d."
	msgNotAChoice = "\"%s\" is not a valid choice."
)

// pyType names a decoded JSON value as Python would.
func pyType(v any) string {
	switch v := v.(type) {
	case nil:
		return "NoneType"
	case bool:
		return "bool"
	case json.Number:
		if strings.ContainsAny(v.String(), ".eE") {
			return "float"
		}
		return "int"
	case string:
		return "str"
	case []any:
		return "list"
	case map[string]any:
		return "dict"
	}
	return fmt.Sprintf("%T", v)
}

// str reads an optional string field (CharField, max 255). ok is false
// when the field is absent or failed.
func str(obj map[string]any, field string, required, allowBlank bool, er *errs) (string, bool) {
	v, present := obj[field]
	if !present {
		if required {
			er.add(field, msgRequired)
		}
		return "", false
	}
	var s string
	switch x := v.(type) {
	case nil:
		er.add(field, msgNull)
		return "", false
	case string:
		s = x
	case json.Number: // DRF's CharField takes numbers as their text
		s = x.String()
	default:
		er.add(field, msgString)
		return "", false
	}
	s = strings.TrimSpace(s) // CharField's trim_whitespace
	if s == "" && !allowBlank {
		er.add(field, msgBlank)
		return "", false
	}
	if len([]rune(s)) > 255 {
		er.add(field, fmt.Sprintf(msgMaxLength, 255))
		return "", false
	}
	return s, true
}

var intStringRe = regexp.MustCompile(`^\s*[-+]?[0-9]+(\.0*)?\s*$`)

// integer reads an IntegerField: a JSON integer, an integral float or a
// string of one.
func integer(obj map[string]any, field string, required bool, er *errs) (int64, bool) {
	v, present := obj[field]
	if !present {
		if required {
			er.add(field, msgRequired)
		}
		return 0, false
	}
	var text string
	switch x := v.(type) {
	case nil:
		er.add(field, msgNull)
		return 0, false
	case json.Number:
		text = x.String()
	case string:
		text = x
	default:
		er.add(field, msgInteger)
		return 0, false
	}
	text = strings.TrimSpace(text)
	if !intStringRe.MatchString(text) {
		// 300.0 and 3e2 are integral; 300.5 is not.
		f, ok := new(big.Float).SetString(text)
		if !ok || !f.IsInt() {
			er.add(field, msgInteger)
			return 0, false
		}
		n, acc := f.Int64()
		if acc != big.Exact {
			er.add(field, msgInteger)
			return 0, false
		}
		return n, true
	}
	if i := strings.IndexByte(text, '.'); i >= 0 {
		text = text[:i]
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		er.add(field, msgInteger)
		return 0, false
	}
	return n, true
}

// boolean reads a BooleanField (true/false, "true"/"false", 1/0, ...).
func boolean(obj map[string]any, field string, required bool, er *errs) (bool, bool) {
	v, present := obj[field]
	if !present {
		if required {
			er.add(field, msgRequired)
		}
		return false, false
	}
	switch x := v.(type) {
	case bool:
		return x, true
	case nil:
		er.add(field, msgNull)
		return false, false
	case string:
		switch x {
		case "true", "True", "TRUE", "t", "T", "yes", "Yes", "on", "On", "1", "y", "Y":
			return true, true
		case "false", "False", "FALSE", "f", "F", "no", "No", "off", "Off", "0", "n", "N":
			return false, true
		}
	case json.Number:
		switch x.String() {
		case "1":
			return true, true
		case "0":
			return false, true
		}
	}
	er.add(field, msgBoolean)
	return false, false
}

var uuidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)

// canonicalUUID is the lower-case hyphenated form of a UUID, or "".
func canonicalUUID(s string) string {
	if !uuidRe.MatchString(s) {
		return ""
	}
	h := strings.ToLower(strings.ReplaceAll(s, "-", ""))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// uuidField reads a UUID (a PrimaryKeyRelatedField over a UUID key).
func uuidField(obj map[string]any, field string, required bool, er *errs) (string, bool) {
	v, present := obj[field]
	if !present {
		if required {
			er.add(field, msgRequired)
		}
		return "", false
	}
	switch x := v.(type) {
	case nil:
		er.add(field, msgNull)
	case string:
		if id := canonicalUUID(strings.TrimSpace(x)); id != "" {
			return id, true
		}
		er.add(field, fmt.Sprintf(msgInvalidPK, x))
	default:
		er.add(field, fmt.Sprintf("Incorrect type. Expected pk value, received %s.", pyType(v)))
	}
	return "", false
}

// Django's parse_datetime (ISO 8601, "T" or a space, optional seconds,
// fraction and offset); a naive value is taken in the server's zone, UTC.
var dateTimeRe = regexp.MustCompile(`^(\d{4})-(\d{1,2})-(\d{1,2})[T ](\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:[.,](\d{1,6})\d*)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$`)

func parseDateTime(s string) (time.Time, bool) {
	m := dateTimeRe.FindStringSubmatch(s)
	if m == nil {
		return time.Time{}, false
	}
	n := func(x string) int { v, _ := strconv.Atoi(x); return v }
	frac := m[7]
	for len(frac) < 6 && frac != "" {
		frac += "0"
	}
	loc := time.UTC
	if tz := m[8]; tz != "" && tz != "Z" {
		sign := 1
		if tz[0] == '-' {
			sign = -1
		}
		digits := strings.ReplaceAll(tz[1:], ":", "")
		off := n(digits[:2]) * 3600
		if len(digits) == 4 {
			off += n(digits[2:]) * 60
		}
		if off >= 24*3600 {
			return time.Time{}, false
		}
		loc = time.FixedZone("", sign*off)
	}
	y, mo, d, h, mi, sec := n(m[1]), n(m[2]), n(m[3]), n(m[4]), n(m[5]), n(m[6])
	t := time.Date(y, time.Month(mo), d, h, mi, sec, n(frac)*1000, loc)
	// time.Date normalises 2021-02-30; Django refuses it.
	if t.Year() != y || int(t.Month()) != mo || t.Day() != d || t.Hour() != h || t.Minute() != mi || t.Second() != sec || y < 1 {
		return time.Time{}, false
	}
	// Python's datetime has years 1-9999 only, in UTC too.
	if u := t.UTC(); u.Year() >= 1 && u.Year() <= 9999 {
		return u, true
	}
	return time.Time{}, false
}

// dateTime reads a DateTimeField.
func dateTime(obj map[string]any, field string, required bool, er *errs) (time.Time, bool) {
	v, present := obj[field]
	if !present {
		if required {
			er.add(field, msgRequired)
		}
		return time.Time{}, false
	}
	if v == nil {
		er.add(field, msgNull)
		return time.Time{}, false
	}
	s, ok := v.(string)
	if !ok {
		er.add(field, msgDateTime)
		return time.Time{}, false
	}
	t, ok := parseDateTime(strings.TrimSpace(s))
	if !ok {
		er.add(field, msgDateTime)
		return time.Time{}, false
	}
	return t, true
}

// formatTime renders a time as DRF does: UTC, "Z", microseconds when not 0.
func formatTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05Z")
	}
	return t.Format("2006-01-02T15:04:05.000000Z")
}

func timePtr(us sql.NullInt64) *string {
	if !us.Valid {
		return nil
	}
	s := formatTime(fromMicros(us.Int64))
	return &s
}

var dateRe = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

func validDate(s string) bool {
	if !dateRe.MatchString(s) {
		return false
	}
	_, err := time.Parse("2006-01-02", s)
	return err == nil
}

// Money is the API's money object: amount in minor units at decimals.
type Money struct {
	Amount   string `json:"amount"`
	Decimals int    `json:"decimals"`
	Currency string `json:"currency"`
}

func money(minor int64, decimals int, currency string) Money {
	return Money{Amount: strconv.FormatInt(minor, 10), Decimals: decimals, Currency: currency}
}
