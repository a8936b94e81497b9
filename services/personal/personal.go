// Package personal is the console's one rule for personal data: the list
// of fields that hold it (Issuance investment and investor fields, Cashlink
// natural-person fields) and how they are shown to someone who may not see
// them. Views, exports and the audit log's bodies all ask this package, so
// auditors see personal values masked everywhere and admins see them.
package personal

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// Masked replaces a personal value.
const Masked = "[personal data]"

// fields are personal wherever they appear (compared case-insensitively;
// for filter parameters, each part between "__" is compared).
var fields = map[string]bool{
	// Issuance investment (B.5): the investor's name, finances and browser.
	"investor_individual_name": true, "net_worth": true, "annual_income": true, "accredited_investor": true,
	"accredited_investor_type": true, "us_person": true, "exempt_from_backup_withholding": true,
	"amount_invested_in_reg_cf_offering_this_year": true, "user_browser_type": true, "payment_intent_id": true,
	// Issuance investors and users: names, contact, identity, address.
	"email": true, "first_name": true, "last_name": true, "middle_name": true, "full_name": true, "phone": true,
	"phone_number": true, "date_of_birth": true, "dob": true, "ssn": true, "tax_id": true, "tax_id_number": true,
	"address1": true, "address2": true, "address_line_1": true, "address_line_2": true, "street_address": true,
	"postal_code": true, "zip_code": true, "income": true,
	// Cashlink natural person (A.5), and the identification of a person.
	"salutation": true, "forename": true, "surname": true, "birth_date": true, "birth_place": true, "citizenship": true,
	"nationality": true, "street": true, "city": true, "zip": true, "is_pep": true, "pep_status": true,
	"is_subject_to_us_tax": true, "tax_identification_number": true, "non_assessment_certificate": true,
	"iban": true, "bic": true, "account_holder": true, "document_id": true,
}

// containers hold nothing but personal data: every value inside is masked.
var containers = map[string]bool{
	"natural_person": true, "legal_person": true, "bank_account": true, "tax_information": true, "communication": true,
	"benefiting_persons": true, "entityperson": true,
}

// IsField reports whether a field (or a filter parameter naming one, such
// as investor__user__email) holds personal data.
func IsField(name string) bool {
	for _, part := range strings.Split(strings.ToLower(name), "__") {
		if fields[part] || containers[part] {
			return true
		}
	}
	return false
}

// Viewer is what one person may see.
type Viewer struct{ full bool }

// For returns the viewer for a role: admins see personal data, everyone
// else sees it masked.
func For(admin bool) Viewer { return Viewer{full: admin} }

// Full reports whether the viewer sees personal data.
func (v Viewer) Full() bool { return v.full }

// Value shows a personal value (an empty one stays empty: its absence is
// no secret).
func (v Viewer) Value(s string) string {
	if v.full || s == "" {
		return s
	}
	return Masked
}

// Field shows the value of a named field: masked when the field is personal.
func (v Viewer) Field(name, s string) string {
	if IsField(name) {
		return v.Value(s)
	}
	return s
}

// Path shows a logged request path: the values of personal query
// parameters (and of the free-text search, which is typed names and
// e-mails) are masked.
func (v Viewer) Path(p string) string {
	path, raw, ok := strings.Cut(p, "?")
	if v.full || !ok {
		return p
	}
	return path + "?" + v.Query(raw)
}

// Query shows a query string (a saved search, an import's source) with the
// values of personal parameters and of the free-text search masked.
func (v Viewer) Query(raw string) string {
	if v.full || raw == "" {
		return raw
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return Masked
	}
	for k, vals := range q {
		if IsField(k) || strings.EqualFold(k, "search") {
			for i := range vals {
				vals[i] = Masked
			}
		}
	}
	return q.Encode()
}

// JSON shows a request or response body: a JSON body keeps its structure
// with every personal value masked; a body that is not JSON is masked whole
// (it could hold anything).
func (v Viewer) JSON(body string) string {
	if v.full || body == "" {
		return body
	}
	var doc any
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&doc) != nil || dec.More() {
		return Masked
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(mask(doc, false)) != nil {
		return Masked
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func mask(doc any, all bool) any {
	switch t := doc.(type) {
	case map[string]any:
		for k, val := range t {
			lk := strings.ToLower(k)
			t[k] = mask(val, all || containers[lk] || fields[lk])
		}
		return t
	case []any:
		for i, val := range t {
			t[i] = mask(val, all)
		}
		return t
	case nil:
		return nil
	}
	if all {
		return Masked
	}
	return doc
}
