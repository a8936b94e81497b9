package issuance

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Fixture is a complete Issuance data set in the format of
// ../shared/docs/sandbox-fixture.md. Decimals are strings in the API's
// patterns, date-times RFC 3339 with offset, nil pointers are JSON null.
// ReadFixture returns records in canonical form (decimals with all their
// places, date-times in UTC), which is also what Write and Export produce.
type Fixture struct {
	Issuers     []Issuer
	Offerings   []Offering
	Users       []User
	Investors   []Investor
	Investments []Investment

	// Warnings report relations the API documents nowhere but that the data
	// breaks (shares_amount against quantity × price, negative fees, an
	// updated_at before created_at): a real account can hold such data, so
	// they are reported, not refused. At most maxWarnings are kept;
	// MoreWarnings counts the rest.
	Warnings     []string
	MoreWarnings int
}

const maxWarnings = 20

// Issuer owns offerings.
type Issuer struct {
	ID       int
	Name     string
	Archived bool
}

// Offering is an offering; Extra carries any other field of the API's
// offering object (absent ones take the defaults in offeringFields).
type Offering struct {
	ID                  int
	Issuer              int
	Name                string
	Slug                string
	Type                string
	Status              string
	Archived            bool
	UnitPrice           string
	MinInvestmentAmount string
	MaxInvestmentAmount *string
	MinimumAmountRaised *string
	MaximumAmountRaised *string
	NumberOfShares      *int64
	DeadlineDate        *string
	CreatedAt           string
	OpenedAt            *string
	Extra               map[string]json.RawMessage
}

// User is an account; investors belong to one.
type User struct {
	ID        int
	Email     string
	FirstName string
	LastName  string
}

// Investor is a person, company, trust or IRA trust investing through a
// user; Entity (KYC subject) may be nil.
type Investor struct {
	ID     int
	Type   string
	User   *int
	Entity *Entity
}

// Entity is the KYC/KYB subject of an investor.
type Entity struct {
	ID        int
	Email     string
	KYCStatus string
}

// Investment is one investment; Extra carries the other documented fields
// of the API's investment object (accreditation snapshot, bonus shares, …).
type Investment struct {
	ID                         int
	Offering                   int
	Investor                   int
	ReferenceID                string
	Status                     string
	Quantity                   int64
	Price                      string
	PriceFees                  string
	PricePaymentProcessingFees string
	Amount                     string
	SharesAmount               string
	PaymentMethod              string
	RequestedPaymentMethod     string
	ProcessingIssueStatuses    string
	HasInvestorSigned          bool
	IsApproved                 *bool
	WatchlistHasHits           *bool
	CreatedAt                  string
	UpdatedAt                  string
	ProcessedAt                *string
	ReceivedAt                 *string
	RefundedAt                 *string
	InvestedAt                 *string
	PaymentIntentID            string
	Extra                      map[string]json.RawMessage
}

// fieldKind is how a fixture field is checked and normalised.
type fieldKind int

const (
	kID fieldKind = iota // positive integer id (PostgreSQL integer)
	kInt
	kBool
	kString
	kEnum
	kMoney
	kPrice
	kPercent
	kDateTime
	kDate
	kSlug
	kEmail
	kAny
	kEntity
)

type fieldSpec struct {
	name     string
	kind     fieldKind
	nullable bool
	required bool
	enum     []string
	def      string // the API's value when the fixture omits the field
}

// Offering fields in the API's order (seed 002). required marks the fields
// a fixture must give; the others default to def.
var offeringFields = []fieldSpec{
	{name: "id", kind: kID, required: true},
	{name: "issuer", kind: kID, required: true},
	{name: "name", kind: kString, required: true},
	{name: "type", kind: kEnum, enum: offeringTypes, required: true},
	{name: "status", kind: kEnum, enum: offeringStatuses, required: true},
	{name: "description", kind: kString, def: `""`},
	{name: "security_type", kind: kString, def: `"Common Stock"`},
	{name: "share_or_unit", kind: kEnum, enum: shareOrUnitValues, def: `"Shares"`},
	{name: "share_or_unit_details", kind: kString, def: `""`},
	{name: "warrant_per_unit", kind: kInt, nullable: true, def: `null`},
	{name: "warrant_expiration_date_delta_year", kind: kInt, nullable: true, def: `null`},
	{name: "warrant_expiration_date_delta_month", kind: kInt, nullable: true, def: `null`},
	{name: "dollar_amount_investment", kind: kBool, def: `true`},
	{name: "unit_price", kind: kPrice, required: true},
	{name: "administrative_fees", kind: kMoney, def: `"0.00"`},
	{name: "administrative_fees_paid_by_investor", kind: kBool, def: `false`},
	{name: "number_of_shares", kind: kInt, nullable: true, def: `null`},
	{name: "max_investment_amount", kind: kMoney, nullable: true, def: `null`},
	{name: "min_investment_amount", kind: kMoney, def: `"0.00"`},
	{name: "investment_increment_amount", kind: kMoney, nullable: true, def: `null`},
	{name: "minimum_wire_transfer_amount", kind: kMoney, def: `"0.00"`},
	{name: "contact_name", kind: kString, def: `""`},
	{name: "contact_title", kind: kString, def: `""`},
	{name: "contact_phone", kind: kString, def: `""`},
	{name: "contact_email", kind: kString, def: `""`},
	{name: "accredited_investors", kind: kBool, def: `true`},
	{name: "non_accredited_investors", kind: kBool, def: `true`},
	{name: "slug", kind: kSlug, required: true},
	{name: "logo", kind: kString, nullable: true, def: `null`},
	{name: "favicon", kind: kString, nullable: true, def: `null`},
	{name: "circular_link", kind: kString, def: `""`},
	{name: "circular_file", kind: kString, nullable: true, def: `null`},
	{name: "circular_type", kind: kEnum, enum: circularTypes, def: `"offering_circular"`},
	{name: "display_circular", kind: kBool, def: `false`},
	{name: "displayed_number_of_shares", kind: kAny, def: `[]`},
	{name: "signing_full_name", kind: kString, def: `""`},
	{name: "signing_title", kind: kString, def: `""`},
	{name: "signing_email", kind: kString, def: `""`},
	{name: "support_email", kind: kString, def: `""`},
	{name: "support_phone", kind: kString, def: `""`},
	{name: "daily_summary_emails", kind: kBool, def: `false`},
	{name: "daily_summary_recipients", kind: kString, def: `""`},
	{name: "weekly_summary_emails", kind: kBool, def: `false`},
	{name: "weekly_summary_recipients", kind: kString, def: `""`},
	{name: "wire_email_reminder_period", kind: kInt, def: `3`},
	{name: "wire_email_reminder_max_sent", kind: kInt, def: `3`},
	{name: "investment_email_reminder_period", kind: kInt, def: `3`},
	{name: "investment_email_reminder_max_sent", kind: kInt, def: `3`},
	{name: "messaging_consent_text", kind: kString, def: `""`},
	{name: "email_sender_name", kind: kString, def: `""`},
	{name: "default_timezone", kind: kEnum, enum: defaultTimezones, def: `"US/Eastern"`},
	{name: "segment_dataset_id", kind: kString, def: `""`},
	{name: "auto_approve_investments", kind: kBool, def: `false`},
	{name: "auto_accept_investments", kind: kBool, def: `false`},
	{name: "auto_accept_max_amount", kind: kMoney, nullable: true, def: `null`},
	{name: "auto_accept_min_amount", kind: kMoney, nullable: true, def: `null`},
	{name: "email_investment_started_high_value", kind: kBool, def: `false`},
	{name: "email_investment_started_threshold", kind: kMoney, def: `"0.00"`},
	{name: "enable_test_the_waters", kind: kBool, def: `false`},
	{name: "displayed_test_the_waters_amounts", kind: kAny, def: `[]`},
	{name: "accent_color", kind: kString, def: `""`},
	{name: "background_accent_color", kind: kString, def: `""`},
	{name: "activity_accent_color", kind: kString, def: `""`},
	{name: "per_investment_summary_emails", kind: kBool, def: `false`},
	{name: "per_investment_summary_recipients", kind: kString, def: `""`},
	{name: "user_sent_max_monitoring_emails", kind: kBool, def: `false`},
	{name: "user_sent_max_monitoring_recipients", kind: kString, def: `""`},
	{name: "other_platform_investment_notice", kind: kBool, def: `false`},
	{name: "other_platform_investment_notice_text", kind: kString, def: `""`},
	{name: "investor_phone_number_required", kind: kBool, def: `false`},
	{name: "minimum_amount_raised", kind: kMoney, nullable: true, def: `null`},
	{name: "reg_cf_amount_raised_tier", kind: kMoney, nullable: true, def: `null`},
	{name: "maximum_amount_raised", kind: kMoney, nullable: true, def: `null`},
	{name: "reg_cf_oversubscription", kind: kMoney, nullable: true, def: `null`},
	{name: "reg_cf_fee_percentage", kind: kPercent, nullable: true, def: `null`},
	{name: "archived", kind: kBool, def: `false`},
	{name: "display_logo_during_investment", kind: kEnum, enum: logoAlignments, nullable: true, def: `null`},
	{name: "display_logo_on_dashboard", kind: kBool, def: `false`},
	{name: "deadline_date", kind: kDate, nullable: true, def: `null`},
	{name: "created_at", kind: kDateTime, required: true},
	{name: "opened_at", kind: kDateTime, nullable: true, def: `null`},
}

// offeringCore are the offering fields held in Offering's own fields, in
// the fixture's order; the rest of offeringFields go to Extra.
var offeringCore = []string{"id", "issuer", "name", "slug", "type", "status", "archived", "unit_price",
	"min_investment_amount", "max_investment_amount", "minimum_amount_raised", "maximum_amount_raised",
	"number_of_shares", "deadline_date", "created_at", "opened_at"}

var issuerFields = []fieldSpec{
	{name: "id", kind: kID, required: true},
	{name: "name", kind: kString, required: true},
	{name: "archived", kind: kBool},
}

var userFields = []fieldSpec{
	{name: "id", kind: kID, required: true},
	{name: "email", kind: kEmail, required: true},
	{name: "first_name", kind: kString},
	{name: "last_name", kind: kString},
}

var investorFields = []fieldSpec{
	{name: "id", kind: kID, required: true},
	{name: "type", kind: kEnum, enum: investorTypes, required: true},
	{name: "user", kind: kID, nullable: true},
	{name: "entity", kind: kEntity, nullable: true},
}

var entityFields = []fieldSpec{
	{name: "id", kind: kID, required: true},
	{name: "email", kind: kString, required: true},
	{name: "kyc_status", kind: kEnum, enum: kycStatuses, required: true},
}

// Investment fields: the fixture's own, then the optional extras (in the
// API's order) with the API's value when absent.
var investmentFields = []fieldSpec{
	{name: "id", kind: kID, required: true},
	{name: "offering", kind: kID, required: true},
	{name: "investor", kind: kID, required: true},
	{name: "reference_id", kind: kString, required: true},
	{name: "status", kind: kEnum, enum: investmentStatusValues, required: true},
	{name: "quantity", kind: kInt, required: true},
	{name: "price", kind: kPrice, required: true},
	{name: "price_fees", kind: kMoney, required: true},
	{name: "price_payment_processing_fees", kind: kMoney, required: true},
	{name: "amount", kind: kMoney, required: true},
	{name: "shares_amount", kind: kMoney, required: true},
	{name: "payment_method", kind: kString, required: true},
	{name: "requested_payment_method", kind: kEnum, enum: requestedPaymentMethods, required: true},
	{name: "processing_issue_statuses", kind: kString, required: true},
	{name: "has_investor_signed", kind: kBool, required: true},
	{name: "is_approved", kind: kBool, nullable: true},
	{name: "watchlist_has_hits", kind: kBool, nullable: true},
	{name: "created_at", kind: kDateTime, required: true},
	{name: "updated_at", kind: kDateTime, required: true},
	{name: "processed_at", kind: kDateTime, nullable: true},
	{name: "received_at", kind: kDateTime, nullable: true},
	{name: "refunded_at", kind: kDateTime, nullable: true},
	{name: "invested_at", kind: kDateTime, nullable: true},
	{name: "payment_intent_id", kind: kString, def: `""`},
	// extras
	{name: "accredited_investor", kind: kBool, nullable: true, def: `null`},
	{name: "net_worth", kind: kMoney, nullable: true, def: `null`},
	{name: "annual_income", kind: kMoney, nullable: true, def: `null`},
	{name: "us_person", kind: kBool, nullable: true, def: `null`},
	{name: "exempt_from_backup_withholding", kind: kBool, nullable: true, def: `null`},
	{name: "amount_invested_in_reg_cf_offering_this_year", kind: kMoney, nullable: true, def: `null`},
	{name: "user_browser_type", kind: kString, def: `""`},
	{name: "accredited_investor_type", kind: kEnum, enum: accreditedInvestorTypes, nullable: true, def: `null`},
	{name: "investor_verify_process_status", kind: kEnum, enum: investorVerifyStatuses, nullable: true, def: `null`},
	{name: "bonus_shares", kind: kInt, nullable: true, def: `null`},
	{name: "bonus_shares_code", kind: kString, nullable: true, def: `null`},
	{name: "bonus_shares_percentage_tier", kind: kMoney, nullable: true, def: `null`},
	{name: "bonus_shares_quantity_tier", kind: kMoney, nullable: true, def: `null`},
	{name: "quantity_qualified_shares", kind: kInt, nullable: true, def: `null`},
	{name: "price_qualified_shares", kind: kPrice, nullable: true, def: `null`},
}

// investmentCoreCount is the number of leading investmentFields held in
// Investment's own fields.
const investmentCoreCount = 24

var investmentExtraSpecs = investmentFields[investmentCoreCount:]

func specIndex(specs []fieldSpec) map[string]fieldSpec {
	m := make(map[string]fieldSpec, len(specs))
	for _, s := range specs {
		m[s.name] = s
	}
	return m
}

var (
	offeringSpecIdx   = specIndex(offeringFields)
	investmentSpecIdx = specIndex(investmentFields)
)

// record is one decoded fixture object, each field normalised to its
// canonical JSON.
type record map[string]json.RawMessage

// decodeRecord checks one JSON object against specs and normalises it.
func decodeRecord(raw []byte, specs []fieldSpec) (record, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, errors.New("not a JSON object")
	}
	idx := specIndex(specs)
	var unknown []string
	for k := range m {
		if _, ok := idx[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("unknown field %q", unknown[0])
	}
	out := make(record, len(m))
	for _, s := range specs {
		v, ok := m[s.name]
		if !ok {
			if s.required {
				return nil, fmt.Errorf("field %q is required", s.name)
			}
			continue
		}
		n, err := normaliseField(v, s)
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", s.name, err)
		}
		out[s.name] = n
	}
	return out, nil
}

func normaliseField(v json.RawMessage, s fieldSpec) (json.RawMessage, error) {
	v = bytes.TrimSpace(v)
	if string(v) == "null" {
		if !s.nullable {
			return nil, errors.New("must not be null")
		}
		return json.RawMessage("null"), nil
	}
	switch s.kind {
	case kAny:
		return compactJSON(v)
	case kBool:
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			return nil, errors.New("must be true or false")
		}
		return json.RawMessage(strconv.FormatBool(b)), nil
	case kID, kInt:
		var n json.Number
		if err := json.Unmarshal(v, &n); err != nil {
			return nil, errors.New("must be an integer")
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || i > math.MaxInt32 || i < math.MinInt32 {
			return nil, fmt.Errorf("%s is not an integer of the API's range", n)
		}
		if s.kind == kID && i < 1 {
			return nil, fmt.Errorf("id %d is not positive", i)
		}
		return json.RawMessage(strconv.FormatInt(i, 10)), nil
	case kEntity:
		r, err := decodeRecord(v, entityFields)
		if err != nil {
			return nil, err
		}
		return marshalRecord(r, entityFields), nil
	}
	var str string
	if err := json.Unmarshal(v, &str); err != nil {
		return nil, errors.New("must be a string")
	}
	if strings.ContainsRune(str, 0) {
		return nil, errors.New("contains a NUL character, which PostgreSQL text cannot hold")
	}
	var err error
	switch s.kind {
	case kEnum:
		if !contains(s.enum, str) {
			return nil, fmt.Errorf("%q is not one of %s", str, strings.Join(s.enum, ", "))
		}
	case kMoney:
		str, err = normaliseFixed(str, moneyShape)
	case kPrice:
		str, err = normaliseFixed(str, priceShape)
	case kPercent:
		str, err = normaliseFixed(str, percentShape)
	case kDateTime:
		var us int64
		if us, err = parseFixtureTime(str); err == nil {
			str = formatISO(us, false)
		}
	case kDate:
		err = parseFixtureDate(str)
	case kSlug:
		if !validSlug(str) {
			err = fmt.Errorf("%q does not match ^[-a-zA-Z0-9_]+$", str)
		}
	case kEmail:
		if len(str) > 255 || !strings.Contains(str, "@") {
			err = fmt.Errorf("%q is not an e-mail address of at most 255 characters", str)
		}
	}
	if err != nil {
		return nil, err
	}
	return jsonString(str), nil
}

func validSlug(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '-' || c == '_' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
			return false
		}
	}
	return true
}

func compactJSON(v []byte) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		return nil, errors.New("is not valid JSON")
	}
	return json.RawMessage(b.Bytes()), nil
}

// jsonString encodes s as DRF's JSONRenderer does (UTF-8 kept as is).
func jsonString(s string) json.RawMessage {
	var b bytes.Buffer
	writeJSONString(&b, s)
	return b.Bytes()
}

// marshalRecord writes the fields of r in the order of specs.
func marshalRecord(r record, specs []fieldSpec) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	first := true
	for _, s := range specs {
		v, ok := r[s.name]
		if !ok {
			continue
		}
		if !first {
			b.WriteByte(',')
		}
		first = false
		writeJSONString(&b, s.name)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// Accessors for a normalised record (its values are known to be valid).
func (r record) str(k string) string {
	var s string
	_ = json.Unmarshal(r[k], &s)
	return s
}

func (r record) strPtr(k string) *string {
	v, ok := r[k]
	if !ok || string(v) == "null" {
		return nil
	}
	s := r.str(k)
	return &s
}

func (r record) int(k string) int64 {
	n, _ := strconv.ParseInt(string(r[k]), 10, 64)
	return n
}

func (r record) intPtr(k string) *int64 {
	v, ok := r[k]
	if !ok || string(v) == "null" {
		return nil
	}
	n := r.int(k)
	return &n
}

func (r record) bool(k string) bool { return string(r[k]) == "true" }

func (r record) boolPtr(k string) *bool {
	v, ok := r[k]
	if !ok || string(v) == "null" {
		return nil
	}
	b := string(v) == "true"
	return &b
}

func issuerFromRecord(r record) Issuer {
	return Issuer{ID: int(r.int("id")), Name: r.str("name"), Archived: r.bool("archived")}
}

func offeringFromRecord(r record) Offering {
	o := Offering{
		ID: int(r.int("id")), Issuer: int(r.int("issuer")), Name: r.str("name"), Slug: r.str("slug"),
		Type: r.str("type"), Status: r.str("status"), Archived: r.bool("archived"),
		UnitPrice: r.str("unit_price"), MinInvestmentAmount: "0.00",
		MaxInvestmentAmount: r.strPtr("max_investment_amount"), MinimumAmountRaised: r.strPtr("minimum_amount_raised"),
		MaximumAmountRaised: r.strPtr("maximum_amount_raised"), NumberOfShares: r.intPtr("number_of_shares"),
		DeadlineDate: r.strPtr("deadline_date"), CreatedAt: r.str("created_at"), OpenedAt: r.strPtr("opened_at"),
	}
	if _, ok := r["min_investment_amount"]; ok {
		o.MinInvestmentAmount = r.str("min_investment_amount")
	}
	for k, v := range r {
		if !contains(offeringCore, k) {
			if o.Extra == nil {
				o.Extra = map[string]json.RawMessage{}
			}
			o.Extra[k] = v
		}
	}
	return o
}

func userFromRecord(r record) User {
	return User{ID: int(r.int("id")), Email: r.str("email"), FirstName: r.str("first_name"), LastName: r.str("last_name")}
}

func investorFromRecord(r record) Investor {
	inv := Investor{ID: int(r.int("id")), Type: r.str("type")}
	if p := r.intPtr("user"); p != nil {
		u := int(*p)
		inv.User = &u
	}
	if v, ok := r["entity"]; ok && string(v) != "null" {
		e, _ := decodeRecord(v, entityFields)
		inv.Entity = &Entity{ID: int(e.int("id")), Email: e.str("email"), KYCStatus: e.str("kyc_status")}
	}
	return inv
}

func investmentFromRecord(r record) Investment {
	inv := Investment{
		ID: int(r.int("id")), Offering: int(r.int("offering")), Investor: int(r.int("investor")),
		ReferenceID: r.str("reference_id"), Status: r.str("status"), Quantity: r.int("quantity"),
		Price: r.str("price"), PriceFees: r.str("price_fees"), PricePaymentProcessingFees: r.str("price_payment_processing_fees"),
		Amount: r.str("amount"), SharesAmount: r.str("shares_amount"), PaymentMethod: r.str("payment_method"),
		RequestedPaymentMethod: r.str("requested_payment_method"), ProcessingIssueStatuses: r.str("processing_issue_statuses"),
		HasInvestorSigned: r.bool("has_investor_signed"), IsApproved: r.boolPtr("is_approved"),
		WatchlistHasHits: r.boolPtr("watchlist_has_hits"), CreatedAt: r.str("created_at"), UpdatedAt: r.str("updated_at"),
		ProcessedAt: r.strPtr("processed_at"), ReceivedAt: r.strPtr("received_at"), RefundedAt: r.strPtr("refunded_at"),
		InvestedAt: r.strPtr("invested_at"), PaymentIntentID: r.str("payment_intent_id"),
	}
	for _, s := range investmentExtraSpecs {
		if v, ok := r[s.name]; ok {
			if inv.Extra == nil {
				inv.Extra = map[string]json.RawMessage{}
			}
			inv.Extra[s.name] = v
		}
	}
	return inv
}

// Record conversions back to JSON, in the fixture's field order.

func (x Issuer) record() record {
	return record{"id": itoa(x.ID), "name": jsonString(x.Name), "archived": jbool(x.Archived)}
}

func (o Offering) record() record {
	r := record{
		"id": itoa(o.ID), "issuer": itoa(o.Issuer), "name": jsonString(o.Name), "slug": jsonString(o.Slug),
		"type": jsonString(o.Type), "status": jsonString(o.Status), "archived": jbool(o.Archived),
		"unit_price": jsonString(o.UnitPrice), "min_investment_amount": jsonString(o.MinInvestmentAmount),
		"max_investment_amount": jstrPtr(o.MaxInvestmentAmount), "minimum_amount_raised": jstrPtr(o.MinimumAmountRaised),
		"maximum_amount_raised": jstrPtr(o.MaximumAmountRaised), "number_of_shares": jintPtr(o.NumberOfShares),
		"deadline_date": jstrPtr(o.DeadlineDate), "created_at": jsonString(o.CreatedAt), "opened_at": jstrPtr(o.OpenedAt),
	}
	for k, v := range o.Extra {
		r[k] = v
	}
	return r
}

// offeringFixtureOrder is the fixture's field order: the documented core
// fields first, then the other API fields in the API's order.
var offeringFixtureOrder = func() []fieldSpec {
	var out []fieldSpec
	for _, k := range offeringCore {
		out = append(out, offeringSpecIdx[k])
	}
	for _, s := range offeringFields {
		if !contains(offeringCore, s.name) {
			out = append(out, s)
		}
	}
	return out
}()

func (u User) record() record {
	return record{"id": itoa(u.ID), "email": jsonString(u.Email), "first_name": jsonString(u.FirstName), "last_name": jsonString(u.LastName)}
}

func (v Investor) record() record {
	r := record{"id": itoa(v.ID), "type": jsonString(v.Type), "user": json.RawMessage("null"), "entity": json.RawMessage("null")}
	if v.User != nil {
		r["user"] = itoa(*v.User)
	}
	if v.Entity != nil {
		r["entity"] = marshalRecord(record{"id": itoa(v.Entity.ID), "email": jsonString(v.Entity.Email),
			"kyc_status": jsonString(v.Entity.KYCStatus)}, entityFields)
	}
	return r
}

func (i Investment) record() record {
	r := record{
		"id": itoa(i.ID), "offering": itoa(i.Offering), "investor": itoa(i.Investor),
		"reference_id": jsonString(i.ReferenceID), "status": jsonString(i.Status),
		"quantity": json.RawMessage(strconv.FormatInt(i.Quantity, 10)), "price": jsonString(i.Price),
		"price_fees": jsonString(i.PriceFees), "price_payment_processing_fees": jsonString(i.PricePaymentProcessingFees),
		"amount": jsonString(i.Amount), "shares_amount": jsonString(i.SharesAmount),
		"payment_method": jsonString(i.PaymentMethod), "requested_payment_method": jsonString(i.RequestedPaymentMethod),
		"processing_issue_statuses": jsonString(i.ProcessingIssueStatuses), "has_investor_signed": jbool(i.HasInvestorSigned),
		"is_approved": jboolPtr(i.IsApproved), "watchlist_has_hits": jboolPtr(i.WatchlistHasHits),
		"created_at": jsonString(i.CreatedAt), "updated_at": jsonString(i.UpdatedAt),
		"processed_at": jstrPtr(i.ProcessedAt), "received_at": jstrPtr(i.ReceivedAt),
		"refunded_at": jstrPtr(i.RefundedAt), "invested_at": jstrPtr(i.InvestedAt),
	}
	if i.PaymentIntentID != "" {
		r["payment_intent_id"] = jsonString(i.PaymentIntentID)
	}
	for k, v := range i.Extra {
		r[k] = v
	}
	return r
}

func itoa(i int) json.RawMessage { return json.RawMessage(strconv.Itoa(i)) }

func jbool(b bool) json.RawMessage { return json.RawMessage(strconv.FormatBool(b)) }

func jboolPtr(b *bool) json.RawMessage {
	if b == nil {
		return json.RawMessage("null")
	}
	return jbool(*b)
}

func jstrPtr(s *string) json.RawMessage {
	if s == nil {
		return json.RawMessage("null")
	}
	return jsonString(*s)
}

func jintPtr(n *int64) json.RawMessage {
	if n == nil {
		return json.RawMessage("null")
	}
	return json.RawMessage(strconv.FormatInt(*n, 10))
}

// fixtureSections are the top-level arrays, in the order Write emits them.
var fixtureSections = []string{"issuers", "offerings", "users", "investors", "investments"}

// ReadFixture parses and validates a fixture. Format errors (types,
// patterns, enums, references) refuse it, naming the first bad record, e.g.
// `investments[17] (id 18): offering 99 does not exist`; undocumented
// relations the data breaks are listed in Fixture.Warnings.
func ReadFixture(r io.Reader) (*Fixture, error) {
	f := &Fixture{}
	v := newValidator()
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<16))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("fixture: not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("fixture: %w", err)
		}
		key, _ := t.(string)
		if !contains(fixtureSections, key) {
			return nil, fmt.Errorf("fixture: unknown top-level key %q (want %s)", key, strings.Join(fixtureSections, ", "))
		}
		if seen[key] {
			return nil, fmt.Errorf("fixture: %q appears twice", key)
		}
		seen[key] = true
		if t, err := dec.Token(); err != nil || t != json.Delim('[') {
			return nil, fmt.Errorf("fixture: %q is not an array", key)
		}
		for n := 0; dec.More(); n++ {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("%s[%d]: %w", key, n, err)
			}
			if err := f.add(v, key, n, raw); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return nil, fmt.Errorf("fixture: %w", err)
		}
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("fixture: %w", err)
	}
	if err := v.finish(f); err != nil {
		return nil, err
	}
	return f, nil
}

// recordErr names a record by its position and, when known, its id.
func recordErr(section string, n int, raw []byte, err error) error {
	var probe struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(raw, &probe) == nil && len(probe.ID) > 0 {
		return fmt.Errorf("%s[%d] (id %s): %w", section, n, probe.ID, err)
	}
	return fmt.Errorf("%s[%d]: %w", section, n, err)
}

func (f *Fixture) add(v *validator, section string, n int, raw []byte) error {
	specs := map[string][]fieldSpec{"issuers": issuerFields, "offerings": offeringFields, "users": userFields,
		"investors": investorFields, "investments": investmentFields}[section]
	r, err := decodeRecord(raw, specs)
	if err != nil {
		return recordErr(section, n, raw, err)
	}
	switch section {
	case "issuers":
		x := issuerFromRecord(r)
		err = v.issuer(x)
		f.Issuers = append(f.Issuers, x)
	case "offerings":
		x := offeringFromRecord(r)
		err = v.offering(x)
		f.Offerings = append(f.Offerings, x)
	case "users":
		x := userFromRecord(r)
		err = v.user(x)
		f.Users = append(f.Users, x)
	case "investors":
		x := investorFromRecord(r)
		err = v.investor(x)
		f.Investors = append(f.Investors, x)
	case "investments":
		x := investmentFromRecord(r)
		err = v.investment(x)
		if err == nil {
			if w := checkInvestment(x); w != nil {
				f.warn(recordErr(section, n, raw, w))
			}
		}
		f.Investments = append(f.Investments, x)
	}
	if err != nil {
		return recordErr(section, n, raw, err)
	}
	return nil
}

// validator checks the records of a data set one at a time; references to
// records that come later in the file are checked by finish.
type validator struct {
	issuers, offerings, users, investors, investments map[int]bool
	entities                                          map[int]Entity
	offeringTimes                                     map[int]int64
}

func newValidator() *validator {
	return &validator{issuers: map[int]bool{}, offerings: map[int]bool{}, users: map[int]bool{},
		investors: map[int]bool{}, investments: map[int]bool{}, entities: map[int]Entity{}, offeringTimes: map[int]int64{}}
}

func (v *validator) issuer(x Issuer) error {
	if v.issuers[x.ID] {
		return fmt.Errorf("duplicate issuer id %d", x.ID)
	}
	v.issuers[x.ID] = true
	return nil
}

func (v *validator) offering(o Offering) error {
	if v.offerings[o.ID] {
		return fmt.Errorf("duplicate offering id %d", o.ID)
	}
	v.offerings[o.ID] = true
	created, _ := parseFixtureTime(o.CreatedAt)
	if o.OpenedAt != nil {
		if opened, _ := parseFixtureTime(*o.OpenedAt); opened < created {
			return fmt.Errorf("opened_at %s is before created_at %s", *o.OpenedAt, o.CreatedAt)
		}
	}
	v.offeringTimes[o.ID] = created
	return nil
}

func (v *validator) user(u User) error {
	if v.users[u.ID] {
		return fmt.Errorf("duplicate user id %d", u.ID)
	}
	v.users[u.ID] = true
	return nil
}

func (v *validator) investor(x Investor) error {
	if v.investors[x.ID] {
		return fmt.Errorf("duplicate investor id %d", x.ID)
	}
	v.investors[x.ID] = true
	if x.Entity != nil {
		if prev, ok := v.entities[x.Entity.ID]; ok && prev != *x.Entity {
			return fmt.Errorf("entity %d differs from the entity %d of an earlier investor", x.Entity.ID, x.Entity.ID)
		}
		v.entities[x.Entity.ID] = *x.Entity
	}
	return nil
}

// investmentValues are an investment's numbers, parsed.
type investmentValues struct {
	price, fees, ppf, amount, shares        int64
	created, updated                        int64
	processed, received, refunded, invested *int64
}

func parseInvestmentValues(i Investment) (investmentValues, error) {
	var x investmentValues
	var err error
	if x.price, err = parseFixed(i.Price, priceShape); err != nil {
		return x, err
	}
	x.fees, _ = parseFixed(i.PriceFees, moneyShape)
	x.ppf, _ = parseFixed(i.PricePaymentProcessingFees, moneyShape)
	x.amount, _ = parseFixed(i.Amount, moneyShape)
	x.shares, _ = parseFixed(i.SharesAmount, moneyShape)
	x.created, _ = parseFixtureTime(i.CreatedAt)
	x.updated, _ = parseFixtureTime(i.UpdatedAt)
	opt := func(s *string) *int64 {
		if s == nil {
			return nil
		}
		t, _ := parseFixtureTime(*s)
		return &t
	}
	x.processed, x.received, x.refunded, x.invested = opt(i.ProcessedAt), opt(i.ReceivedAt), opt(i.RefundedAt), opt(i.InvestedAt)
	return x, nil
}

func (v *validator) investment(i Investment) error {
	if v.investments[i.ID] {
		return fmt.Errorf("duplicate investment id %d", i.ID)
	}
	v.investments[i.ID] = true
	return nil
}

// warn records a relation the data breaks that the API documents nowhere.
func (f *Fixture) warn(err error) {
	if len(f.Warnings) < maxWarnings {
		f.Warnings = append(f.Warnings, err.Error())
	} else {
		f.MoreWarnings++
	}
}

// checkInvestment checks the relations of one investment that the
// generator keeps but the API documents nowhere: amounts = quantity × price
// + fees with nothing negative, and a timeline that starts at created_at.
// The generator's data must satisfy them; a fixture that breaks them is
// loaded with a warning (real data can).
func checkInvestment(i Investment) error {
	x, err := parseInvestmentValues(i)
	if err != nil {
		return err
	}
	if i.Quantity < 0 {
		return fmt.Errorf("quantity %d is negative", i.Quantity)
	}
	if x.price < 0 || x.fees < 0 || x.ppf < 0 {
		return errors.New("price and fees must not be negative")
	}
	shares, err := mulRoundCents(i.Quantity, x.price)
	if err != nil {
		return err
	}
	if shares != x.shares {
		return fmt.Errorf("shares_amount %s is not quantity × price = %d × %s = %s", i.SharesAmount, i.Quantity, i.Price, formatFixed(shares, 2))
	}
	if want := shares + x.fees + x.ppf; want != x.amount {
		return fmt.Errorf("amount %s is not quantity × price + price_fees + price_payment_processing_fees = %s", i.Amount, formatFixed(want, 2))
	}
	for _, t := range []struct {
		name string
		at   *int64
	}{{"updated_at", &x.updated}, {"processed_at", x.processed}, {"received_at", x.received}, {"refunded_at", x.refunded}, {"invested_at", x.invested}} {
		if t.at != nil && *t.at < x.created {
			return fmt.Errorf("%s %s is before created_at %s", t.name, formatISO(*t.at, false), i.CreatedAt)
		}
	}
	return nil
}

// finish checks the references between records.
func (v *validator) finish(f *Fixture) error {
	for n, o := range f.Offerings {
		if !v.issuers[o.Issuer] {
			return fmt.Errorf("offerings[%d] (id %d): issuer %d does not exist", n, o.ID, o.Issuer)
		}
	}
	for n, x := range f.Investors {
		if x.User != nil && !v.users[*x.User] {
			return fmt.Errorf("investors[%d] (id %d): user %d does not exist", n, x.ID, *x.User)
		}
	}
	for n, i := range f.Investments {
		if err := v.investmentRefs(i); err != nil {
			return fmt.Errorf("investments[%d] (id %d): %w", n, i.ID, err)
		}
		// Not documented either: reported, not refused.
		if created, _ := parseFixtureTime(i.CreatedAt); created < v.offeringTimes[i.Offering] {
			f.warn(fmt.Errorf("investments[%d] (id %d): created_at %s is before the created_at of offering %d", n, i.ID, i.CreatedAt, i.Offering))
		}
	}
	return nil
}

func (v *validator) investmentRefs(i Investment) error {
	if !v.offerings[i.Offering] {
		return fmt.Errorf("offering %d does not exist", i.Offering)
	}
	if !v.investors[i.Investor] {
		return fmt.Errorf("investor %d does not exist", i.Investor)
	}
	return nil
}

// Write writes f in the fixture format, one record per line.
func (f *Fixture) Write(w io.Writer) error {
	fw := newFixtureWriter(w)
	fw.section("issuers")
	for _, x := range f.Issuers {
		fw.item(marshalRecord(x.record(), issuerFields))
	}
	fw.section("offerings")
	for _, x := range f.Offerings {
		fw.item(marshalRecord(x.record(), offeringFixtureOrder))
	}
	fw.section("users")
	for _, x := range f.Users {
		fw.item(marshalRecord(x.record(), userFields))
	}
	fw.section("investors")
	for _, x := range f.Investors {
		fw.item(marshalRecord(x.record(), investorFields))
	}
	fw.section("investments")
	for _, x := range f.Investments {
		fw.item(marshalRecord(x.record(), investmentFields))
	}
	return fw.close()
}

// fixtureWriter streams a fixture: sections in order, one record per line.
type fixtureWriter struct {
	w        *bufio.Writer
	sections int
	items    int
}

func newFixtureWriter(w io.Writer) *fixtureWriter {
	fw := &fixtureWriter{w: bufio.NewWriterSize(w, 1<<16)}
	fw.w.WriteString("{")
	return fw
}

func (fw *fixtureWriter) section(name string) {
	if fw.sections > 0 {
		fw.endSection()
		fw.w.WriteString(",")
	}
	fw.sections++
	fw.items = 0
	fw.w.WriteString("\n")
	fw.w.Write(jsonString(name))
	fw.w.WriteString(": [")
}

func (fw *fixtureWriter) endSection() {
	if fw.items > 0 {
		fw.w.WriteString("\n")
	}
	fw.w.WriteString("]")
}

func (fw *fixtureWriter) item(b []byte) {
	if fw.items > 0 {
		fw.w.WriteString(",")
	}
	fw.items++
	fw.w.WriteString("\n")
	fw.w.Write(b)
}

func (fw *fixtureWriter) close() error {
	if fw.sections > 0 {
		fw.endSection()
	}
	fw.w.WriteString("\n}\n")
	return fw.w.Flush()
}
