package issuance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// statuses serves GET /api/investments/statuses/ (seed: the envelope and
// the statuses with their labels).
func (e *Emulator) statuses(rq *request) error {
	var b bytes.Buffer
	o := newObject(&b)
	o.bool("success", true)
	o.str("message", "")
	o.key("data")
	d := newObject(&b)
	d.key("statuses")
	b.WriteByte('[')
	for i, s := range investmentStatuses {
		if i > 0 {
			b.WriteByte(',')
		}
		c := newObject(&b)
		c.str("value", s.Value)
		c.str("label", s.Label)
		c.end()
	}
	b.WriteByte(']')
	d.end()
	o.end()
	writeJSON(rq.w, http.StatusOK, b.Bytes())
	return nil
}

// committedStatuses are the investments the summary counts as committed:
// the investor has committed money that is expected, held or invested.
// Left out: "started" (not yet submitted) and the failed or reversed ones
// (payment_failed, cancelled, refunded, not_approved).
var committedStatuses = []string{"not_received", "received", "invested", "approved", "accepted", "accepted_escrow_closed"}

// investmentSummary serves GET /api/investments/summary/:
// {"total_amount_committed": {"amount": 12345.67, "investor_count": 42}}
// over the list's filters plus "slug"; "amount" only for callers with a
// valid Api-Key or token (anonymous callers get sanitized data, as the
// public client of this endpoint observed).
func (e *Emulator) investmentSummary(rq *request) error {
	cq, ok, err := e.compileForSet(rq, e.summary)
	if !ok {
		return err
	}
	where := cq.where
	if where == "" {
		where = " WHERE "
	} else {
		where += " AND "
	}
	where += "i.status IN (SELECT value FROM json_each(?))"
	q := "SELECT coalesce(sum(i.amount), 0), count(DISTINCT i.investor_id) FROM iss_investments i" + where
	args := append(append([]any{}, cq.args...), jsonArray(committedStatuses))
	type summary struct{ cents, investors int64 }
	key := cacheKey("summary", q, args)
	var s summary
	if v, hit := e.cache.get(key); hit && !e.noCache {
		s = v.(summary)
	} else {
		if err := e.db.QueryRowContext(rq.r.Context(), q, args...).Scan(&s.cents, &s.investors); err != nil {
			return fmt.Errorf("summary: %w", err)
		}
		e.cache.put(key, s)
	}
	var b bytes.Buffer
	o := newObject(&b)
	o.key("total_amount_committed")
	t := newObject(&b)
	if rq.full {
		t.raw("amount", []byte(pyFloatRepr(float64(s.cents)/100)))
	}
	t.int("investor_count", s.investors)
	t.end()
	o.end()
	writeJSON(rq.w, http.StatusOK, b.Bytes())
	return nil
}

// pyFloatRepr formats a float as Python's repr() (and so json.dumps) does.
func pyFloatRepr(f float64) string {
	if f != 0 && (f >= 1e16 || f <= -1e16 || (f < 1e-4 && f > -1e-4)) {
		return strconv.FormatFloat(f, 'e', -1, 64) // both pad the exponent to two digits
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// valueField is a field /values/ lists the distinct values of.
type valueField struct {
	expr  string
	joins string
}

// Fields /api/investments/values/ accepts (the seed does not list them):
// the low-cardinality fields a console builds filter menus from.
var investmentValueFields = map[string]valueField{
	"status":                       {expr: "i.status"},
	"payment_method":               {expr: "i.payment_method"},
	"requested_payment_method":     {expr: "i.requested_payment_method"},
	"offering":                     {expr: "i.offering_id"},
	"offering__name":               {expr: "jo.name", joins: " JOIN iss_offerings jo ON jo.id = i.offering_id"},
	"offering__slug":               {expr: "jo.slug", joins: " JOIN iss_offerings jo ON jo.id = i.offering_id"},
	"investor__type":               {expr: "jv.type", joins: " JOIN iss_investors jv ON jv.id = i.investor_id"},
	"investor__entity__kyc_status": {expr: "je.kyc_status", joins: " JOIN iss_investors jv ON jv.id = i.investor_id JOIN iss_entities je ON je.id = jv.entity_id"},
}

var investorValueFields = map[string]valueField{
	"type":               {expr: "v.type"},
	"entity__kyc_status": {expr: "je.kyc_status", joins: " JOIN iss_entities je ON je.id = v.entity_id"},
}

// values serves /values/?field=a,b: {"success": true, "message": "",
// "data": {"a": [distinct values, ascending]}} over the list's filters. A
// missing or unknown field is a 400 in the same envelope.
func (e *Emulator) values(rq *request, res *resource, allowed map[string]valueField) error {
	raw, _ := rq.q.get("field")
	var fields []string
	for _, f := range strings.Split(raw, ",") {
		if f = pyStrip(f); f != "" && !contains(fields, f) {
			fields = append(fields, f)
		}
	}
	fail := func(msg string) error {
		var b bytes.Buffer
		o := newObject(&b)
		o.bool("success", false)
		o.str("message", msg)
		o.raw("data", []byte("{}"))
		o.end()
		writeJSON(rq.w, http.StatusBadRequest, b.Bytes())
		return nil
	}
	names := make([]string, 0, len(allowed))
	for k := range allowed {
		names = append(names, k)
	}
	sort.Strings(names)
	if len(fields) == 0 {
		return fail("The 'field' query parameter is required: a comma-separated list of " + strings.Join(names, ", ") + ".")
	}
	for _, f := range fields {
		if _, ok := allowed[f]; !ok {
			return fail(fmt.Sprintf("Field %q is not allowed. Allowed fields: %s.", f, strings.Join(names, ", ")))
		}
	}
	cq, ok, err := e.compileForSet(rq, res)
	if !ok {
		return err
	}
	var b bytes.Buffer
	o := newObject(&b)
	o.bool("success", true)
	o.str("message", "")
	o.key("data")
	d := newObject(&b)
	for _, f := range fields {
		vf := allowed[f]
		q := "SELECT DISTINCT " + vf.expr + " FROM " + res.table + vf.joins + cq.where + " ORDER BY 1"
		list, err := e.distinct(rq.r.Context(), q, cq.args)
		if err != nil {
			return err
		}
		d.raw(f, list)
	}
	d.end()
	o.end()
	writeJSON(rq.w, http.StatusOK, b.Bytes())
	return nil
}

// distinct runs a one-column query and renders its values as a JSON array.
func (e *Emulator) distinct(ctx context.Context, q string, args []any) ([]byte, error) {
	key := cacheKey("distinct", q, args)
	if v, ok := e.cache.get(key); ok && !e.noCache {
		return v.([]byte), nil
	}
	rows, err := e.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	defer rows.Close()
	var b bytes.Buffer
	b.WriteByte('[')
	n := 0
	for rows.Next() {
		var v any
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("values: %w", err)
		}
		if n > 0 {
			b.WriteByte(',')
		}
		n++
		switch x := v.(type) {
		case int64:
			b.WriteString(strconv.FormatInt(x, 10))
		case string:
			writeJSONString(&b, x)
		case []byte:
			writeJSONString(&b, string(x))
		case nil:
			b.WriteString("null")
		default:
			return nil, fmt.Errorf("values: unexpected %T", v)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	b.WriteByte(']')
	e.cache.put(key, b.Bytes())
	return b.Bytes(), nil
}

// usersList serves GET (list) and POST (create) /api/users/.
func (e *Emulator) usersList(rq *request) error {
	if rq.r.Method != http.MethodPost {
		return e.list(rq, e.userList())
	}
	data, ok := e.readBody(rq)
	if !ok {
		return nil
	}
	return e.saveUser(rq, data, 0)
}

// userInstance serves GET and PATCH /api/users/{id}/.
func (e *Emulator) userInstance(rq *request) error {
	if rq.r.Method != http.MethodPatch {
		return e.detail(rq, e.userList())
	}
	// get_object first: filters, then the id.
	cq, ok, err := e.compile(rq, e.users)
	if !ok {
		return err
	}
	cq.use(true)
	id, ok := pyInt(rq.id)
	if !ok || id.Big {
		writeDetail(rq.w, http.StatusNotFound, "Not found.")
		return nil
	}
	where := " WHERE u.id = ?"
	if cq.where != "" {
		where = cq.where + " AND u.id = ?"
	}
	var n int
	if err := e.db.QueryRowContext(rq.r.Context(), "SELECT count(*) FROM iss_users u"+where, append(append([]any{}, cq.args...), id.Val)...).Scan(&n); err != nil {
		return fmt.Errorf("user %d: %w", id.Val, err)
	}
	if n == 0 {
		writeDetail(rq.w, http.StatusNotFound, "Not found.")
		return nil
	}
	data, ok := e.readBody(rq)
	if !ok {
		return nil
	}
	return e.saveUser(rq, data, id.Val)
}

// bodyData is a parsed request body: JSON values, or form values as
// strings; absent keys are missing fields.
type bodyData map[string]any

// readBody parses the body with DRF's default parsers (JSON, form,
// multipart); it writes the 400/415 itself (ok=false).
func (e *Emulator) readBody(rq *request) (bodyData, bool) {
	r := rq.r
	ct := r.Header.Get("Content-Type")
	raw, err := readLimited(r, 1<<20)
	if err != nil {
		writeDetail(rq.w, http.StatusBadRequest, "Request body too large or unreadable.")
		return nil, false
	}
	if ct == "" && len(raw) == 0 {
		return bodyData{}, true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = ct
	}
	switch mt {
	case "application/json":
		var v any
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil || dec.More() {
			msg := "invalid JSON"
			if err != nil {
				msg = err.Error()
			}
			writeDetail(rq.w, http.StatusBadRequest, "JSON parse error - "+msg)
			return nil, false
		}
		m, ok := v.(map[string]any)
		if !ok {
			writeJSON(rq.w, http.StatusBadRequest, []byte(fmt.Sprintf(`{"non_field_errors":["Invalid data. Expected a dictionary, but got %s."]}`, pyTypeName(v))))
			return nil, false
		}
		return m, true
	case "application/x-www-form-urlencoded", "multipart/form-data":
		out := bodyData{}
		if mt == "multipart/form-data" {
			r.Body = readCloser(raw)
			r.Header.Set("Content-Type", mime.FormatMediaType(mt, params))
			if err := r.ParseMultipartForm(1 << 20); err != nil {
				writeDetail(rq.w, http.StatusBadRequest, "Multipart form parse error - "+err.Error())
				return nil, false
			}
			for k, vs := range r.MultipartForm.Value {
				out[k] = vs[len(vs)-1]
			}
			return out, true
		}
		for _, p := range parseQSL(string(raw)) {
			out[p.Name] = p.Value
		}
		return out, true
	}
	writeDetail(rq.w, http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported media type %q in request.", ct))
	return nil, false
}

func pyTypeName(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case string:
		return "str"
	case json.Number:
		return "int"
	case bool:
		return "bool"
	case nil:
		return "NoneType"
	}
	return "object"
}

// DRF's messages for the user serializer's fields.
const (
	msgRequired = "This field is required."
	msgBlank    = "This field may not be blank."
	msgNotNull  = "This field may not be null."
	msgString   = "Not a valid string."
	msgEmail    = "Enter a valid email address."
	msgTooLong  = "Ensure this field has no more than 255 characters."
	msgUnique   = "user with this email already exists."
)

// charField is DRF's CharField.run_validation (trim_whitespace, no blank,
// no null): the cleaned string, or the error.
func charField(data bodyData, name string, required bool) (val string, present bool, msg string) {
	v, ok := data[name]
	if !ok {
		if required {
			return "", false, msgRequired
		}
		return "", false, ""
	}
	switch x := v.(type) {
	case nil:
		return "", true, msgNotNull
	case string:
		val = x
	case json.Number:
		val = x.String()
	default:
		return "", true, msgString
	}
	if pyStrip(val) == "" {
		return "", true, msgBlank
	}
	return pyStrip(val), true, ""
}

// saveUser creates (id 0) or updates a user from a validated body.
func (e *Emulator) saveUser(rq *request, data bodyData, id int64) error {
	ctx := rq.r.Context()
	create := id == 0
	errs := &validationErrors{}
	email, hasEmail, msg := charField(data, "email", create)
	if msg != "" {
		errs.add("email", msg)
	}
	password, hasPassword, pmsg := charField(data, "password", create)
	if pmsg != "" {
		errs.add("password", pmsg)
	} else if hasPassword && strings.ContainsRune(password, 0) {
		errs.add("password", msgNull)
	}
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if hasEmail && msg == "" {
		// UniqueValidator, then the field's own validators; DRF reports all.
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM iss_users WHERE email = ? AND id <> ?", email, id).Scan(&n); err != nil {
			return fmt.Errorf("users: %w", err)
		}
		if n > 0 {
			errs.add("email", msgUnique)
		}
		if utf8.RuneCountInString(email) > 255 {
			errs.add("email", msgTooLong)
		}
		if strings.ContainsRune(email, 0) {
			errs.add("email", msgNull)
		}
		if !validEmail(email) {
			errs.add("email", msgEmail)
		}
	}
	if !errs.empty() {
		writeJSON(rq.w, http.StatusBadRequest, errs.body())
		return nil
	}
	var hash *string
	if hasPassword {
		// Sandbox passwords authenticate nothing: bcrypt's minimum cost keeps
		// tests quick while still never storing the password itself.
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			if errors.Is(err, bcrypt.ErrPasswordTooLong) {
				writeJSON(rq.w, http.StatusBadRequest, []byte(`{"password":["Ensure this field has no more than 72 bytes."]}`))
				return nil
			}
			return fmt.Errorf("users: hash password: %w", err)
		}
		s := string(h)
		hash = &s
	}
	status := http.StatusOK
	if create {
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) + 1 FROM iss_users").Scan(&id); err != nil {
			return fmt.Errorf("users: %w", err)
		}
		if err := insertUser(ctx, tx, User{ID: int(id), Email: email}, hash); err != nil {
			return err
		}
		status = http.StatusCreated
	} else {
		if hasEmail {
			if _, err := tx.ExecContext(ctx, "UPDATE iss_users SET email = ?, email_u = ? WHERE id = ?", email, pgUpper(email), id); err != nil {
				return fmt.Errorf("users: %w", err)
			}
			if err := refreshSearch(ctx, tx, id); err != nil {
				return err
			}
		}
		if hash != nil {
			if _, err := tx.ExecContext(ctx, "UPDATE iss_users SET password_hash = ? WHERE id = ?", *hash, id); err != nil {
				return fmt.Errorf("users: %w", err)
			}
		}
	}
	var stored string
	if err := tx.QueryRowContext(ctx, "SELECT email FROM iss_users WHERE id = ?", id).Scan(&stored); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("users: %w", err)
	}
	e.cache.invalidate() // e-mails feed filters and searches
	var b bytes.Buffer
	o := newObject(&b)
	o.int("id", id)
	o.str("email", stored)
	o.end()
	writeJSON(rq.w, status, b.Bytes())
	return nil
}

// Django 3.2's EmailValidator (without its IDNA retry: non-ASCII domains
// are rejected).
var (
	emailUserRe   = regexp.MustCompile("(?i)^(?:[-!#$%&'*+/=?^_`{}|~0-9A-Z]+(?:\\.[-!#$%&'*+/=?^_`{}|~0-9A-Z]+)*|\"(?:[\\x01-\\x08\\x0b\\x0c\\x0e-\\x1f!#-\\[\\]-\\x7f]|\\\\[\\x01-\\x09\\x0b\\x0c\\x0e-\\x7f])*\")$")
	emailDomainRe = regexp.MustCompile(`(?i)^(?:[A-Z0-9](?:[A-Z0-9-]{0,61}[A-Z0-9])?\.)+[A-Z0-9-]{2,63}$`)
	emailLitRe    = regexp.MustCompile(`^\[[A-Fa-f0-9:.]+\]$`)
)

func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return false
	}
	user, domain := s[:at], s[at+1:]
	if !emailUserRe.MatchString(user) {
		return false
	}
	if domain == "localhost" || emailLitRe.MatchString(domain) {
		return true
	}
	return emailDomainRe.MatchString(domain) && !strings.HasSuffix(domain, "-")
}

func readLimited(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	var b bytes.Buffer
	_, err := b.ReadFrom(http.MaxBytesReader(nil, r.Body, limit))
	return b.Bytes(), err
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

func readCloser(b []byte) nopCloser { return nopCloser{bytes.NewReader(b)} }
