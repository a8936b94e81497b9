package issuance

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// writeJSONString writes s as Python's json.dumps(ensure_ascii=False) does
// and DRF's JSONRenderer then patches: short escapes for \b \f \n \r \t,
// \u00XX for other control characters, U+2028 and U+2029 escaped, all other
// characters as UTF-8.
func writeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b.WriteString(`\"`)
			case '\\':
				b.WriteString(`\\`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			case '\t':
				b.WriteString(`\t`)
			case '\b':
				b.WriteString(`\b`)
			case '\f':
				b.WriteString(`\f`)
			default:
				if c < 0x20 {
					b.WriteString(`\u00`)
					b.WriteByte(hex[c>>4])
					b.WriteByte(hex[c&15])
				} else {
					b.WriteByte(c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString("\uFFFD")
		case r == '\u2028':
			b.WriteString(`\u2028`)
		case r == '\u2029':
			b.WriteString(`\u2029`)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}

// jsonWriter writes one JSON object field by field, in the caller's order.
type jsonWriter struct {
	b     *bytes.Buffer
	first bool
}

func newObject(b *bytes.Buffer) *jsonWriter {
	b.WriteByte('{')
	return &jsonWriter{b: b, first: true}
}

func (w *jsonWriter) key(k string) {
	if !w.first {
		w.b.WriteByte(',')
	}
	w.first = false
	writeJSONString(w.b, k)
	w.b.WriteByte(':')
}

func (w *jsonWriter) str(k, v string) {
	w.key(k)
	writeJSONString(w.b, v)
}

func (w *jsonWriter) raw(k string, v []byte) {
	w.key(k)
	w.b.Write(v)
}

func (w *jsonWriter) int(k string, v int64) {
	w.key(k)
	w.b.WriteString(strconv.FormatInt(v, 10))
}

func (w *jsonWriter) bool(k string, v bool) {
	w.key(k)
	w.b.WriteString(strconv.FormatBool(v))
}

func (w *jsonWriter) null(k string) {
	w.key(k)
	w.b.WriteString("null")
}

func (w *jsonWriter) nullTime(k string, v sql.NullInt64) {
	if !v.Valid || v.Int64 == nullSentinel {
		w.null(k)
		return
	}
	w.str(k, formatISO(v.Int64, true))
}

func (w *jsonWriter) end() { w.b.WriteByte('}') }

// renderOffering is the API's offering object: every field of the seed in
// its order, the fixture's value or the documented default.
func renderOffering(o Offering) []byte {
	r := o.record()
	r["created_at"] = apiTime(o.CreatedAt)
	if o.OpenedAt != nil {
		r["opened_at"] = apiTime(*o.OpenedAt)
	}
	var b bytes.Buffer
	w := newObject(&b)
	for _, s := range offeringFields {
		v, ok := r[s.name]
		if !ok {
			v = json.RawMessage(s.def)
		}
		w.raw(s.name, v)
	}
	w.end()
	return b.Bytes()
}

// apiTime converts a canonical fixture time to DRF's rendering ("Z").
func apiTime(s string) json.RawMessage {
	us, err := parseFixtureTime(s)
	if err != nil {
		return jsonString(s)
	}
	return jsonString(formatISO(us, true))
}

// investmentAPIColumns are selected for the API's investment object.
const investmentAPIColumns = `i.id, i.quantity, i.price, i.price_fees, i.price_payment_processing_fees, i.amount,
	i.status, i.payment_intent_id, i.offering_id, i.reference_id,
	coalesce((SELECT xu.first_name || ' ' || xu.last_name FROM iss_investors xv JOIN iss_users xu ON xu.id = xv.user_id
		WHERE xv.id = i.investor_id), ''),
	i.payment_method, i.updated_at, i.has_investor_signed, i.processed_at, i.received_at, i.refunded_at,
	i.processing_issue_statuses, i.shares_amount, i.invested_at, i.extra`

// renderInvestment scans one row of investmentAPIColumns and writes the
// API's investment object, fields in the seed's order.
func renderInvestment(rows *sql.Rows, b *bytes.Buffer) error {
	var id, quantity, price, fees, ppf, amount, offering, updated, shares int64
	var status, intent, ref, name, pm, issues string
	var signed bool
	var processed, received, refunded, invested sql.NullInt64
	var extra sql.NullString
	if err := rows.Scan(&id, &quantity, &price, &fees, &ppf, &amount, &status, &intent, &offering, &ref, &name, &pm,
		&updated, &signed, &processed, &received, &refunded, &issues, &shares, &invested, &extra); err != nil {
		return err
	}
	var x map[string]json.RawMessage
	if extra.Valid {
		if err := json.Unmarshal([]byte(extra.String), &x); err != nil {
			return err
		}
	}
	ext := func(w *jsonWriter, k string) {
		v, ok := x[k]
		if !ok {
			v = json.RawMessage(investmentSpecIdx[k].def)
		}
		w.raw(k, v)
	}
	w := newObject(b)
	w.int("id", id)
	w.int("quantity", quantity)
	w.str("price", formatFixed(price, 6))
	w.str("price_fees", formatFixed(fees, 2))
	w.str("price_payment_processing_fees", formatFixed(ppf, 2))
	w.str("amount", formatFixed(amount, 2))
	w.str("status", status)
	w.str("payment_intent_id", intent)
	w.int("offering", offering)
	w.str("reference_id", ref)
	w.str("investor_individual_name", name)
	w.str("payment_method", pm)
	w.str("updated_at", formatISO(updated, true))
	w.bool("has_investor_signed", signed)
	for _, k := range []string{"accredited_investor", "net_worth", "annual_income", "us_person",
		"exempt_from_backup_withholding", "amount_invested_in_reg_cf_offering_this_year", "user_browser_type",
		"accredited_investor_type"} {
		ext(w, k)
	}
	w.nullTime("processed_at", processed)
	w.nullTime("received_at", received)
	w.nullTime("refunded_at", refunded)
	ext(w, "investor_verify_process_status")
	ext(w, "bonus_shares")
	w.str("processing_issue_statuses", issues)
	w.str("shares_amount", formatFixed(shares, 2))
	for _, k := range []string{"bonus_shares_code", "bonus_shares_percentage_tier", "bonus_shares_quantity_tier",
		"quantity_qualified_shares", "price_qualified_shares"} {
		ext(w, k)
	}
	w.nullTime("invested_at", invested)
	w.end()
	return nil
}

const offeringAPIColumns = `o.api`

func renderOfferingRow(rows *sql.Rows, b *bytes.Buffer) error {
	var s string
	if err := rows.Scan(&s); err != nil {
		return err
	}
	b.WriteString(s)
	return nil
}

const userAPIColumns = `u.id, u.email`

// renderUser is the API's user object: id and e-mail (the password is
// write-only).
func renderUser(rows *sql.Rows, b *bytes.Buffer) error {
	var id int64
	var email string
	if err := rows.Scan(&id, &email); err != nil {
		return err
	}
	w := newObject(b)
	w.int("id", id)
	w.str("email", email)
	w.end()
	return nil
}

const investorAPIColumns = `v.id, v.type, v.user_id, xu.email, xu.first_name, xu.last_name, xe.id, xe.email, xe.kyc_status`

const investorAPIJoins = ` LEFT JOIN iss_users xu ON xu.id = v.user_id LEFT JOIN iss_entities xe ON xe.id = v.entity_id`

// renderInvestor is the emulator's investor object. The seed shows four
// schemas (person, company, trust, trust_ira) without their fields; these
// are the fields the fixture format carries.
func renderInvestor(rows *sql.Rows, b *bytes.Buffer) error {
	var id int64
	var typ string
	var user, entityID sql.NullInt64
	var email, first, last, entityEmail, kyc sql.NullString
	if err := rows.Scan(&id, &typ, &user, &email, &first, &last, &entityID, &entityEmail, &kyc); err != nil {
		return err
	}
	w := newObject(b)
	w.int("id", id)
	w.str("type", typ)
	if user.Valid {
		w.int("user", user.Int64)
	} else {
		w.null("user")
	}
	w.str("email", email.String)
	w.str("first_name", first.String)
	w.str("last_name", last.String)
	if entityID.Valid {
		w.key("entity")
		e := newObject(b)
		e.int("id", entityID.Int64)
		e.str("email", entityEmail.String)
		e.str("kyc_status", kyc.String)
		e.end()
	} else {
		w.null("entity")
	}
	w.end()
	return nil
}
