package issuance

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// The list endpoints run the query string through the same stages as the
// reference stack: django-filter's FilterSet (every parameter validated,
// all errors reported at once), DRF's SearchFilter and OrderingFilter, then
// PageNumberPagination. compileList does the first three and yields SQL; it
// touches the database only through fkChecker, so it can be fuzzed.

// lookup is a django-filter lookup expression.
type lookup int

const (
	lkExact lookup = iota
	lkIn
	lkGt
	lkGte
	lkLt
	lkLte
	lkDateGte
	lkDateLte
	lkIsNull
	lkContains
	lkStartsWith
)

var lookupSuffix = map[lookup]string{lkExact: "", lkIn: "__in", lkGt: "__gt", lkGte: "__gte", lkLt: "__lt",
	lkLte: "__lte", lkDateGte: "__date__gte", lkDateLte: "__date__lte", lkIsNull: "__isnull",
	lkContains: "__contains", lkStartsWith: "__startswith"}

// valueType is the Django form field that cleans a filter's value.
type valueType int

const (
	vtDecimal  valueType = iota // NumberFilter on a DecimalField: forms.DecimalField, scaled column
	vtInteger                   // NumberFilter on an integer field: forms.DecimalField, then int()
	vtDateTime                  // IsoDateTimeFilter; __date lookups use forms.DateField
	vtBool                      // BooleanFilter with BooleanWidget
	vtChoice                    // ChoiceFilter (exact lookups on a field with choices)
	vtChar                      // CharFilter (also the __in of choice fields: not validated)
	vtModel                     // ModelChoiceFilter: the pk must exist in fkTable
)

// Django's messages for invalid values.
const (
	msgNumber   = "Enter a number."
	msgDateTime = "Enter a valid date/time."
	msgDate     = "Enter a valid date."
	msgNull     = "Null characters are not allowed."
	msgModel    = "Select a valid choice. That choice is not one of the available choices."
	msgMax      = "Ensure this value is less than or equal to 1e+50."
)

// float1e50 is the float 1e50 as an exact integer: django-filter's
// NumberFilter adds MaxValueValidator(1e50), and Python compares a Decimal
// with a float exactly.
var float1e50, _ = new(big.Int).SetString("100000000000000007629769841091887003294964970946560", 10)

// cleanNumber is a NumberFilter's forms.DecimalField.clean: the value, or
// the message of the first check that fails.
func cleanNumber(raw string) (pyDecimal, string) {
	d, ok := parseDjangoDecimal(raw)
	if !ok {
		return d, msgNumber
	}
	if d.Neg || d.Coef == "" {
		return d, ""
	}
	adjusted := d.Exp + int64(len(d.Coef)) - 1
	switch {
	case adjusted < 50:
		return d, ""
	case adjusted > 50:
		return d, msgMax
	}
	// Same magnitude: compare exactly (Exp >= 50-len+1, coefficient short).
	v, _ := new(big.Int).SetString(d.Coef, 10)
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(d.Exp+int64(len(d.Coef))), nil)
	lhs := new(big.Int).Mul(v, scale)                                                                         // value × 10^len
	rhs := new(big.Int).Mul(float1e50, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(d.Coef))), nil)) // 1e50 × 10^len
	if lhs.Cmp(rhs) > 0 {
		return d, msgMax
	}
	return d, ""
}

// nullSentinel stands for NULL in iss_investments.processed_at.
const nullSentinel = math.MaxInt64

// field is a filterable model field reached from the listed table.
type field struct {
	expr     string // SQL expression, inside via when set
	via      string // subquery template with one %s for the condition; "" = the listed table
	vt       valueType
	scale    int      // vtDecimal: decimal places of the scaled column
	sentinel bool     // NULL is stored as nullSentinel
	nullable bool     // NULL is stored as NULL
	choices  []string // vtChoice
	fkTable  string   // vtModel
}

// filterDef is one query parameter of a FilterSet.
type filterDef struct {
	name   string
	lookup lookup
	f      field
}

// searchField is a DRF search_fields entry (icontains) as SQL over the
// upper-cased copy of the text.
type searchField struct {
	expr string
	via  string
}

// orderField is an ordering_fields entry.
type orderField struct {
	expr     string
	nullable bool // NULL stored as NULL: add PostgreSQL's NULL placement
}

// resource is a list endpoint's filter, search and ordering configuration.
type resource struct {
	table        string // "iss_investments i"
	idExpr       string // "i.id"
	filters      []filterDef
	filterIdx    map[string]int
	search       []searchField
	ordering     map[string]orderField
	defaultOrder []string
	pageSize     int
	maxPageSize  int
}

func newResource(table, idExpr string, fields map[string]field, lookups map[string][]lookup, search []searchField,
	ordering map[string]orderField, defaultOrder []string) *resource {
	r := &resource{table: table, idExpr: idExpr, search: search, ordering: ordering, defaultOrder: defaultOrder,
		pageSize: 20, maxPageSize: 100, filterIdx: map[string]int{}}
	for name, ls := range lookups {
		f, ok := fields[name]
		if !ok {
			panic("issuance: no field " + name)
		}
		for _, l := range ls {
			r.filters = append(r.filters, filterDef{name: name + lookupSuffix[l], lookup: l, f: f})
		}
	}
	// Errors are reported in the FilterSet's order; the seed lists the
	// parameters alphabetically, so that is the order used.
	sort.Slice(r.filters, func(a, b int) bool { return r.filters[a].name < r.filters[b].name })
	for i, fd := range r.filters {
		r.filterIdx[fd.name] = i
	}
	return r
}

// Subqueries from investments to related tables. Every relation on these
// paths is a to-one foreign key, so a condition on the related row keeps
// the same meaning as Django's JOIN.
const (
	viaInvestor       = "i.investor_id IN (SELECT xv.id FROM iss_investors xv WHERE %s)"
	viaInvestorEntity = "i.investor_id IN (SELECT xv.id FROM iss_investors xv JOIN iss_entities xe ON xe.id = xv.entity_id WHERE %s)"
	viaInvestorUser   = "i.investor_id IN (SELECT xv.id FROM iss_investors xv JOIN iss_users xu ON xu.id = xv.user_id WHERE %s)"
	viaOffering       = "i.offering_id IN (SELECT xo.id FROM iss_offerings xo WHERE %s)"
	viaIssuer         = "o.issuer_id IN (SELECT xs.id FROM iss_issuers xs WHERE %s)"
	viaUser           = "v.user_id IN (SELECT xu.id FROM iss_users xu WHERE %s)"
)

// correlatedVia are relations searched through, as correlated
// subqueries: one primary-key lookup per candidate row, cheaper than
// materialising every match when other filters leave few rows (see
// Emulator.chooseSearchForm). The investments' search needs none: its
// fields are denormalised into search_u.
var correlatedVia = map[string]string{
	viaUser: "EXISTS (SELECT 1 FROM iss_users xu WHERE xu.id = v.user_id AND (%s))",
}

var (
	lkNum      = []lookup{lkExact, lkGt, lkGte, lkIn, lkLt, lkLte}
	lkEq       = []lookup{lkExact, lkIn}
	lkTime     = []lookup{lkExact, lkDateGte, lkDateLte, lkGte, lkIn, lkLte}
	lkOne      = []lookup{lkExact}
	lkText     = []lookup{lkExact, lkContains, lkIn}
	lkChoiceCt = []lookup{lkExact, lkContains, lkIn}
)

// investmentFields: the seed's filter set for /api/investments/.
func newInvestmentResource() *resource {
	choiceIn := func(expr, via string, choices []string) field {
		return field{expr: expr, via: via, vt: vtChoice, choices: choices}
	}
	fields := map[string]field{
		"amount":                          {expr: "i.amount", vt: vtDecimal, scale: 2},
		"created_at":                      {expr: "i.created_at", vt: vtDateTime},
		"id":                              {expr: "i.id", vt: vtInteger},
		"investmentapproval__is_approved": {expr: "i.is_approved", vt: vtBool},
		"investor":                        {expr: "i.investor_id", vt: vtModel, fkTable: "iss_investors"},
		"investor__entity":                {expr: "xv.entity_id", via: viaInvestor, vt: vtModel, fkTable: "iss_entities"},
		"investor__entity__email":         {expr: "xe.email", via: viaInvestorEntity, vt: vtChar},
		"investor__entity__kyc_status":    choiceIn("xe.kyc_status", viaInvestorEntity, kycStatuses),
		"investor__type":                  choiceIn("i.investor_type", "", investorTypes), // a copy of the investor's type
		"investor__user":                  {expr: "xv.user_id", via: viaInvestor, vt: vtModel, fkTable: "iss_users"},
		"investor__user__email":           {expr: "xu.email", via: viaInvestorUser, vt: vtChar},
		"investor__user__entity__entityperson__first_name": {expr: "xu.first_name", via: viaInvestorUser, vt: vtChar},
		"investor__user__entity__entityperson__last_name":  {expr: "xu.last_name", via: viaInvestorUser, vt: vtChar},
		"offering":                  {expr: "i.offering_id", vt: vtModel, fkTable: "iss_offerings"},
		"offering__name":            {expr: "xo.name", via: viaOffering, vt: vtChar},
		"offering__slug":            {expr: "xo.slug", via: viaOffering, vt: vtChar},
		"payment_method":            {expr: "i.payment_method", vt: vtChar},
		"processed_at":              {expr: "i.processed_at", vt: vtDateTime, sentinel: true},
		"processing_issue_statuses": {expr: "i.processing_issue_statuses", vt: vtChar},
		"quantity":                  {expr: "i.quantity", vt: vtInteger},
		"reference_id":              {expr: "i.reference_id", vt: vtChar},
		"requested_payment_method":  choiceIn("i.requested_payment_method", "", requestedPaymentMethods),
		"shares_amount":             {expr: "i.shares_amount", vt: vtDecimal, scale: 2},
		"status":                    choiceIn("i.status", "", investmentStatusValues),
		"updated_at":                {expr: "i.updated_at", vt: vtDateTime},
		"watchlistentity__has_hits": {expr: "i.watchlist_has_hits", vt: vtBool},
		"investor__entity__isnull":  {expr: "xv.entity_id", via: viaInvestor, vt: vtBool, nullable: true},
	}
	lookups := map[string][]lookup{
		"amount": lkNum, "created_at": lkTime, "id": lkEq,
		"investmentapproval__is_approved": lkEq, "investor": lkEq, "investor__entity": lkOne,
		"investor__entity__email": lkEq, "investor__entity__kyc_status": lkEq, "investor__type": lkEq,
		"investor__user": lkEq, "investor__user__email": lkEq,
		"investor__user__entity__entityperson__first_name": lkEq,
		"investor__user__entity__entityperson__last_name":  lkEq,
		"offering": lkEq, "offering__name": lkEq, "offering__slug": lkEq, "payment_method": lkEq,
		"processed_at":              {lkExact, lkDateGte, lkDateLte, lkGte, lkIn, lkIsNull, lkLte},
		"processing_issue_statuses": {lkExact, lkContains, lkIn, lkStartsWith},
		"quantity":                  lkEq, "reference_id": lkEq, "requested_payment_method": lkEq,
		"shares_amount": lkNum, "status": lkEq, "updated_at": lkTime, "watchlistentity__has_hits": lkEq,
	}
	r := newResource("iss_investments i", "i.id", fields, lookups,
		// reference_id, offering name, user e-mail, first and last name, as
		// one denormalised column (schema.sql).
		[]searchField{{expr: "i.search_u"}},
		map[string]orderField{
			"id": {expr: "i.id"}, "amount": {expr: "i.amount"}, "quantity": {expr: "i.quantity"},
			"shares_amount": {expr: "i.shares_amount"}, "status": {expr: "i.status"},
			"created_at": {expr: "i.created_at"}, "updated_at": {expr: "i.updated_at"},
			"processed_at": {expr: "i.processed_at"}, // the sentinel sorts NULLs as PostgreSQL does
			"offering":     {expr: "i.offering_id"}, "reference_id": {expr: "i.reference_id"},
		},
		[]string{"-created_at", "-id"})
	// investor__entity__isnull is a lookup of its own on the same field.
	r.addFilter(filterDef{name: "investor__entity__isnull", lookup: lkIsNull, f: fields["investor__entity__isnull"]})
	return r
}

// addFilter inserts a filter keeping the alphabetical order.
func (r *resource) addFilter(fd filterDef) {
	if _, dup := r.filterIdx[fd.name]; dup {
		return
	}
	r.filters = append(r.filters, fd)
	sort.Slice(r.filters, func(a, b int) bool { return r.filters[a].name < r.filters[b].name })
	r.filterIdx = map[string]int{}
	for i, f := range r.filters {
		r.filterIdx[f.name] = i
	}
}

// newSummaryResource is the investments filter set plus "slug" (the
// offering's slug), as the public client of /summary/ sends it.
func newSummaryResource() *resource {
	r := newInvestmentResource()
	r.addFilter(filterDef{name: "slug", lookup: lkExact, f: field{expr: "xo.slug", via: viaOffering, vt: vtChar}})
	return r
}

// newOfferingResource: the seed's filter set for /api/offerings/.
func newOfferingResource() *resource {
	fields := map[string]field{
		"archived":         {expr: "o.archived", vt: vtBool},
		"id":               {expr: "o.id", vt: vtInteger},
		"issuer":           {expr: "o.issuer_id", vt: vtModel, fkTable: "iss_issuers"},
		"issuer__archived": {expr: "xs.archived", via: viaIssuer, vt: vtBool},
		"name":             {expr: "o.name", vt: vtChar},
		"opened_at":        {expr: "o.opened_at", vt: vtDateTime, nullable: true},
		"slug":             {expr: "o.slug", vt: vtChar},
		"status":           {expr: "o.status", vt: vtChoice, choices: offeringStatuses},
		"type":             {expr: "o.type", vt: vtChoice, choices: offeringTypes},
	}
	lookups := map[string][]lookup{
		"archived": lkEq, "id": lkEq, "issuer": lkEq, "issuer__archived": lkEq,
		"name": lkText, "opened_at": lkEq, "slug": lkText, "status": lkChoiceCt, "type": lkChoiceCt,
	}
	return newResource("iss_offerings o", "o.id", fields, lookups,
		[]searchField{{expr: "o.name_u"}, {expr: "o.slug_u"}},
		map[string]orderField{
			"id": {expr: "o.id"}, "name": {expr: "o.name"}, "created_at": {expr: "o.created_at"},
			"opened_at": {expr: "o.opened_at", nullable: true}, "status": {expr: "o.status"}, "type": {expr: "o.type"},
		},
		[]string{"-created_at", "-id"})
}

// newUserResource: /api/users/ (its search and ordering settings are not
// public; the emulator searches e-mail and names and orders by id).
func newUserResource() *resource {
	fields := map[string]field{
		"id":                          {expr: "u.id", vt: vtInteger},
		"thirdpartyissueruser__email": {expr: "u.email", vt: vtChar},
	}
	return newResource("iss_users u", "u.id", fields,
		map[string][]lookup{"id": lkEq, "thirdpartyissueruser__email": lkEq},
		[]searchField{{expr: "u.email_u"}, {expr: "u.first_name_u"}, {expr: "u.last_name_u"}},
		map[string]orderField{"id": {expr: "u.id"}, "email": {expr: "u.email"}},
		[]string{"id"})
}

// newInvestorResource: /api/investors/.
func newInvestorResource() *resource {
	fields := map[string]field{
		"id":                                {expr: "v.id", vt: vtInteger},
		"type":                              {expr: "v.type", vt: vtChoice, choices: investorTypes},
		"user":                              {expr: "v.user_id", vt: vtModel, fkTable: "iss_users"},
		"user__thirdpartyissueruser__email": {expr: "xu.email", via: viaUser, vt: vtChar},
	}
	return newResource("iss_investors v", "v.id", fields,
		map[string][]lookup{"id": lkEq, "type": lkEq, "user": lkEq, "user__thirdpartyissueruser__email": lkEq},
		[]searchField{{expr: "xu.email_u", via: viaUser}, {expr: "xu.first_name_u", via: viaUser}, {expr: "xu.last_name_u", via: viaUser}},
		map[string]orderField{"id": {expr: "v.id"}, "type": {expr: "v.type"}},
		[]string{"id"})
}

// fkChecker answers whether every id exists in a table (ModelChoiceFilter
// validates against the whole related table).
type fkChecker interface {
	allExist(ctx context.Context, table string, ids []int64) (bool, error)
}

// queryParams is a parsed query string: Django's QueryDict.get returns the
// last value of a repeated parameter.
type queryParams struct {
	pairs []pyQueryPair
	last  map[string]string
}

func newQueryParams(raw string) (queryParams, bool) {
	pairs, tooMany := parsePyQuery(raw)
	q := queryParams{pairs: pairs, last: make(map[string]string, len(pairs))}
	for _, p := range pairs {
		q.last[p.Name] = p.Value
	}
	return q, !tooMany
}

func (q queryParams) get(name string) (string, bool) {
	v, ok := q.last[name]
	return v, ok
}

// errBrokenBoolIn marks the upstream 500 of the boolean __in filters.
type errBrokenBoolIn struct{ param string }

func (e errBrokenBoolIn) Error() string {
	return fmt.Sprintf("%s: django-filter's CSV widget calls .split() on a bool (upstream bug)", e.param)
}

// validationErrors maps a parameter to its messages (DRF's 400 body).
type validationErrors struct {
	order []string
	msgs  map[string][]string
}

func (v *validationErrors) add(param, msg string) {
	if v.msgs == nil {
		v.msgs = map[string][]string{}
	}
	if _, ok := v.msgs[param]; !ok {
		v.order = append(v.order, param)
	}
	v.msgs[param] = append(v.msgs[param], msg)
}

func (v *validationErrors) empty() bool { return len(v.order) == 0 }

// body renders {"param": ["message"], ...} in FilterSet order.
func (v *validationErrors) body() []byte {
	var b strings.Builder
	b.WriteByte('{')
	for i, p := range v.order {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonString(p))
		b.WriteString(":[")
		for j, m := range v.msgs[p] {
			if j > 0 {
				b.WriteByte(',')
			}
			b.Write(jsonString(m))
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// sqlCond collects AND-ed conditions and their arguments. Range
// conditions on a column are merged into one half-open range [lo, hi):
// SQLite uses one bound per side of an index range and cannot tell which
// of two bound parameters is tighter.
type sqlCond struct {
	parts  []string
	args   []any
	ranges map[string]*valueRange
	order  []string
}

// valueRange is a half-open range over an integer column.
type valueRange struct {
	lo, hi       int64
	hasLo, hasHi bool
	empty        bool
}

func (c *sqlCond) add(expr string, args ...any) {
	c.parts = append(c.parts, expr)
	c.args = append(c.args, args...)
}

// bound narrows the range of an integer column: op is >, >=, < or <=.
func (c *sqlCond) bound(expr, op string, v int64) {
	if c.ranges == nil {
		c.ranges = map[string]*valueRange{}
	}
	r, ok := c.ranges[expr]
	if !ok {
		r = &valueRange{}
		c.ranges[expr] = r
		c.order = append(c.order, expr)
	}
	lower := func(lo int64) {
		if !r.hasLo || lo > r.lo {
			r.lo, r.hasLo = lo, true
		}
	}
	upper := func(hi int64) {
		if !r.hasHi || hi < r.hi {
			r.hi, r.hasHi = hi, true
		}
	}
	switch op {
	case ">":
		if v == math.MaxInt64 {
			r.empty = true
			return
		}
		lower(v + 1)
	case ">=":
		lower(v)
	case "<":
		upper(v)
	case "<=":
		if v != math.MaxInt64 {
			upper(v + 1)
		}
	}
}

// flushRanges turns the merged ranges into conditions.
func (c *sqlCond) flushRanges() {
	for _, expr := range c.order {
		r := c.ranges[expr]
		switch {
		case r.empty || (r.hasLo && r.hasHi && r.lo >= r.hi):
			c.add("0")
		case r.hasLo && r.hasHi:
			c.add(expr+" >= ? AND "+expr+" < ?", r.lo, r.hi)
		case r.hasLo:
			c.add(expr+" >= ?", r.lo)
		case r.hasHi:
			c.add(expr+" < ?", r.hi)
		}
	}
	c.ranges, c.order = nil, nil
}

// filterOptions changes how filters behave.
type filterOptions struct {
	brokenBoolIn bool // reproduce the upstream 500 of boolean __in filters
}

// applyFilters validates every filter parameter like a bound Django form
// (all errors at once) and adds the conditions of the valid ones to c.
func (r *resource) applyFilters(ctx context.Context, q queryParams, fk fkChecker, opts filterOptions, c *sqlCond) (*validationErrors, error) {
	errs := &validationErrors{}
	for _, fd := range r.filters {
		raw, present := q.get(fd.name)
		if !present {
			continue
		}
		if err := r.applyFilter(ctx, fd, raw, fk, opts, c, errs); err != nil {
			return nil, err
		}
	}
	c.flushRanges()
	return errs, nil
}

func (r *resource) applyFilter(ctx context.Context, fd filterDef, raw string, fk fkChecker, opts filterOptions, c *sqlCond, errs *validationErrors) error {
	f := fd.f
	wrap := func(cond string) string {
		if f.via == "" {
			return cond
		}
		return fmt.Sprintf(f.via, cond)
	}
	if f.vt == vtBool || fd.lookup == lkIsNull { // __isnull is a BooleanFilter on any field
		val, set := parseBoolWidget(raw)
		switch fd.lookup {
		case lkIn:
			if opts.brokenBoolIn {
				if set {
					return errBrokenBoolIn{fd.name}
				}
				return nil // "true,false" is no boolean: the widget yields None
			}
			return r.boolIn(fd, raw, c, wrap)
		case lkIsNull:
			if !set {
				return nil
			}
			switch {
			case f.sentinel && val:
				c.add(wrap(f.expr+" = ?"), int64(nullSentinel))
			case f.sentinel:
				c.add(wrap(f.expr+" <> ?"), int64(nullSentinel))
			case val:
				c.add(wrap(f.expr + " IS NULL"))
			default:
				c.add(wrap(f.expr + " IS NOT NULL"))
			}
			return nil
		}
		if set {
			c.add(wrap(f.expr+" = ?"), boolInt(val))
		}
		return nil
	}
	if fd.lookup == lkIn {
		return r.applyIn(ctx, fd, raw, fk, c, errs, wrap)
	}
	// Empty values mean "no filter" for every field type.
	if raw == "" {
		return nil
	}
	switch f.vt {
	case vtChar:
		v := pyStrip(raw)
		if v == "" {
			return nil
		}
		if strings.ContainsRune(v, 0) {
			errs.add(fd.name, msgNull)
			return nil
		}
		switch fd.lookup {
		case lkContains:
			c.add(wrap("instr("+f.expr+", ?) > 0"), v)
		case lkStartsWith:
			c.add(wrap("instr("+f.expr+", ?) = 1"), v)
		default:
			c.add(wrap(f.expr+" = ?"), v)
		}
	case vtChoice:
		if fd.lookup == lkContains { // a CharFilter on a choice field
			v := pyStrip(raw)
			if v == "" {
				return nil
			}
			if strings.ContainsRune(v, 0) {
				errs.add(fd.name, msgNull)
				return nil
			}
			c.add(wrap("instr("+f.expr+", ?) > 0"), v)
			return nil
		}
		if !contains(f.choices, raw) {
			errs.add(fd.name, fmt.Sprintf("Select a valid choice. %s is not one of the available choices.", raw))
			return nil
		}
		c.add(wrap(f.expr+" = ?"), raw)
	case vtModel:
		id, ok := pyInt(raw)
		exists := false
		if ok && !id.Big {
			var err error
			if exists, err = fk.allExist(ctx, f.fkTable, []int64{id.Val}); err != nil {
				return err
			}
		}
		if !exists {
			errs.add(fd.name, msgModel)
			return nil
		}
		c.add(wrap(f.expr+" = ?"), id.Val)
	case vtInteger:
		d, msg := cleanNumber(raw)
		if msg != "" {
			errs.add(fd.name, msg)
			return nil
		}
		v, big := d.truncInt()
		if big {
			c.add("0")
			return nil
		}
		c.add(wrap(f.expr+" = ?"), v)
	case vtDecimal:
		d, msg := cleanNumber(raw)
		if msg != "" {
			errs.add(fd.name, msg)
			return nil
		}
		lo, hi, exact := d.scaledBounds(f.scale)
		switch fd.lookup {
		case lkExact:
			if !exact {
				c.add("0")
				return nil
			}
			c.add(wrap(f.expr+" = ?"), lo)
		case lkGt:
			r.rangeCond(f, ">", lo, c, wrap)
		case lkGte:
			r.rangeCond(f, ">=", hi, c, wrap)
		case lkLt:
			r.rangeCond(f, "<", hi, c, wrap)
		case lkLte:
			r.rangeCond(f, "<=", lo, c, wrap)
		}
	case vtDateTime:
		if fd.lookup == lkDateGte || fd.lookup == lkDateLte {
			day, ok := parseDjangoDate(raw)
			if !ok {
				errs.add(fd.name, msgDate)
				return nil
			}
			// __date compares the date part in the server's zone, UTC.
			if fd.lookup == lkDateGte {
				r.timeCond(f, ">=", day*usDay, c, wrap)
			} else {
				r.timeCond(f, "<", (day+1)*usDay, c, wrap)
			}
			return nil
		}
		t, ok := parseDjangoDateTime(raw)
		if !ok {
			errs.add(fd.name, msgDateTime)
			return nil
		}
		op := map[lookup]string{lkExact: "=", lkGte: ">=", lkLte: "<=", lkGt: ">", lkLt: "<"}[fd.lookup]
		r.timeCond(f, op, t, c, wrap)
	}
	return nil
}

// timeCond compares a time column, keeping the NULL sentinel out of
// ranges.
func (r *resource) timeCond(f field, op string, t int64, c *sqlCond, wrap func(string) string) {
	if op == "=" {
		c.add(wrap(f.expr+" = ?"), t)
		return
	}
	r.rangeCond(f, op, t, c, wrap)
	if f.sentinel && (op == ">=" || op == ">") {
		r.rangeCond(f, "<", nullSentinel, c, wrap)
	}
}

// rangeCond adds a comparison; on the listed table's own columns it goes
// into the column's merged range.
func (r *resource) rangeCond(f field, op string, v int64, c *sqlCond, wrap func(string) string) {
	if f.via != "" {
		c.add(wrap(f.expr+" "+op+" ?"), v)
		return
	}
	c.bound(f.expr, op, v)
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// boolIn is the intended meaning of a boolean __in filter when the
// upstream bug is not reproduced: the recognised items, or no filter.
func (r *resource) boolIn(fd filterDef, raw string, c *sqlCond, wrap func(string) string) error {
	seen := map[bool]bool{}
	for _, item := range strings.Split(raw, ",") {
		if v, ok := parseBoolWidget(pyStrip(item)); ok {
			seen[v] = true
		}
	}
	switch {
	case len(seen) == 2:
		c.add(wrap(fd.f.expr + " IN (0, 1)"))
	case seen[true]:
		c.add(wrap(fd.f.expr + " = 1"))
	case seen[false]:
		c.add(wrap(fd.f.expr + " = 0"))
	}
	return nil
}

// applyIn handles an __in filter: django-filter's BaseCSVField splits the
// value on commas and cleans each item with the base field; the first bad
// item fails the parameter. Empty items of non-text fields clean to None,
// which Django's In lookup drops; if nothing remains the filter matches no
// row. An empty parameter means no filter.
func (r *resource) applyIn(ctx context.Context, fd filterDef, raw string, fk fkChecker, c *sqlCond, errs *validationErrors, wrap func(string) string) error {
	if raw == "" {
		return nil
	}
	f := fd.f
	items := strings.Split(raw, ",")
	var ints []int64
	var texts []string
	switch f.vt {
	case vtChar, vtChoice: // choice __in is a CharFilter: no validation
		for _, it := range items {
			v := pyStrip(it)
			if strings.ContainsRune(v, 0) {
				errs.add(fd.name, msgNull)
				return nil
			}
			texts = append(texts, v)
		}
	case vtModel:
		for _, it := range items {
			if it == "" {
				continue
			}
			id, ok := pyInt(it)
			if !ok || id.Big {
				errs.add(fd.name, msgModel)
				return nil
			}
			ints = append(ints, id.Val)
		}
		if len(ints) > 0 {
			ok, err := fk.allExist(ctx, f.fkTable, ints)
			if err != nil {
				return err
			}
			if !ok {
				errs.add(fd.name, msgModel)
				return nil
			}
		}
	case vtInteger, vtDecimal:
		for _, it := range items {
			if it == "" {
				continue
			}
			d, msg := cleanNumber(it)
			if msg != "" {
				errs.add(fd.name, msg)
				return nil
			}
			if f.vt == vtInteger {
				if v, big := d.truncInt(); !big {
					ints = append(ints, v)
				}
			} else if lo, _, exact := d.scaledBounds(f.scale); exact {
				ints = append(ints, lo)
			}
		}
	case vtDateTime:
		for _, it := range items {
			if it == "" {
				continue
			}
			t, ok := parseDjangoDateTime(it)
			if !ok {
				errs.add(fd.name, msgDateTime)
				return nil
			}
			ints = append(ints, t)
		}
	}
	if texts != nil {
		c.add(wrap(f.expr+" IN (SELECT value FROM json_each(?))"), jsonArray(texts))
		return nil
	}
	if len(ints) == 0 {
		c.add("0")
		return nil
	}
	c.add(wrap(f.expr+" IN (SELECT value FROM json_each(?))"), jsonArray(ints))
	return nil
}

func jsonArray[T any](vs []T) string {
	b, _ := json.Marshal(vs)
	return string(b)
}

// maxInlineTerms is how many search terms become inline conditions; more
// go through json_each, keeping the SQL expression depth bounded.
const maxInlineTerms = 8

// searchConds are the search stage's conditions in two equivalent forms.
type searchConds struct {
	in, correlated []string
	args           []any
	terms          []string // the upper-cased terms of the inline form, one per in/correlated entry
}

// applySearch is DRF 3.14's SearchFilter: NUL characters removed, commas
// are spaces, split on whitespace; every term must match (AND) at least one
// field (OR), case-insensitively (icontains).
func (r *resource) applySearch(q queryParams) searchConds {
	var s searchConds
	raw, _ := q.get("search")
	terms := pySplit(strings.ReplaceAll(strings.ReplaceAll(raw, "\x00", ""), ",", " "))
	if len(terms) == 0 || len(r.search) == 0 {
		return s
	}
	seen := map[string]bool{}
	var upper []string
	for _, t := range terms {
		u := pgUpper(t)
		if !seen[u] {
			seen[u] = true
			upper = append(upper, u)
		}
	}
	if len(upper) <= maxInlineTerms {
		for _, t := range upper {
			in, n := r.searchTerm("?", false)
			corr, _ := r.searchTerm("?", true)
			s.in = append(s.in, in)
			s.correlated = append(s.correlated, corr)
			s.terms = append(s.terms, t)
			for i := 0; i < n; i++ {
				s.args = append(s.args, t)
			}
		}
		return s
	}
	in, _ := r.searchTerm("st.value", false)
	corr, _ := r.searchTerm("st.value", true)
	s.in = []string{"NOT EXISTS (SELECT 1 FROM json_each(?) st WHERE NOT " + in + ")"}
	s.correlated = []string{"NOT EXISTS (SELECT 1 FROM json_each(?) st WHERE NOT " + corr + ")"}
	s.args = []any{jsonArray(upper)}
	return s
}

// searchTerm is the OR across search fields for one term (an SQL
// expression with n uses of term); fields reached through the same relation
// share its subquery.
func (r *resource) searchTerm(term string, correlated bool) (cond string, n int) {
	var ors []string
	byVia := map[string][]string{}
	var vias []string
	for _, sf := range r.search {
		n++
		cond := "instr(" + sf.expr + ", " + term + ") > 0"
		if sf.via == "" {
			ors = append(ors, cond)
			continue
		}
		if _, ok := byVia[sf.via]; !ok {
			vias = append(vias, sf.via)
		}
		byVia[sf.via] = append(byVia[sf.via], cond)
	}
	for _, v := range vias {
		tmpl := v
		if correlated {
			tmpl = correlatedVia[v]
		}
		ors = append(ors, fmt.Sprintf(tmpl, "("+strings.Join(byVia[v], " OR ")+")"))
	}
	return "(" + strings.Join(ors, " OR ") + ")", n
}

// orderTerm is one validated ordering term.
type orderTerm struct {
	name string
	desc bool
}

// ordering is DRF's OrderingFilter: comma-separated, each term stripped,
// "-" for descending; invalid terms are dropped; if none remain, the default
// ordering applies.
func (r *resource) orderingTerms(q queryParams) []orderTerm {
	var terms []orderTerm
	if raw, ok := q.get("ordering"); ok && raw != "" {
		for _, p := range strings.Split(raw, ",") {
			p = pyStrip(p)
			name := strings.TrimPrefix(p, "-")
			if _, valid := r.ordering[name]; valid {
				terms = append(terms, orderTerm{name: name, desc: strings.HasPrefix(p, "-")})
			}
		}
	}
	if len(terms) == 0 {
		for _, p := range r.defaultOrder {
			terms = append(terms, orderTerm{name: strings.TrimPrefix(p, "-"), desc: strings.HasPrefix(p, "-")})
		}
	}
	return terms
}

// orderBy renders the ORDER BY list. PostgreSQL leaves the order of equal
// keys undefined; the emulator breaks ties by id in the direction of the
// last term (index-friendly and stable across pages). reverse flips every
// direction, for reading the last pages from the end.
func (r *resource) orderBy(terms []orderTerm, reverse bool) string {
	var parts []string
	hasID := false
	for _, t := range terms {
		of := r.ordering[t.name]
		if of.expr == r.idExpr {
			hasID = true
		}
		parts = append(parts, orderSQL(of, t.desc != reverse))
	}
	if !hasID {
		last := terms[len(terms)-1]
		parts = append(parts, orderSQL(orderField{expr: r.idExpr}, last.desc != reverse))
	}
	return strings.Join(parts, ", ")
}

func orderSQL(of orderField, desc bool) string {
	s := of.expr
	if desc {
		s += " DESC"
	}
	if of.nullable { // PostgreSQL: NULLs are larger than any value
		if desc {
			s += " NULLS FIRST"
		} else {
			s += " NULLS LAST"
		}
	}
	return s
}

// compiled is a list query: the filter stage's conditions, the search
// stage's in both forms, and the ordering. where and args are the final
// WHERE clause, set by use.
type compiled struct {
	filters *sqlCond
	search  searchConds
	order   string
	reverse string
	where   string // " WHERE …" or ""
	args    []any
}

// use sets where/args with the search in its correlated or materialised
// form.
func (c *compiled) use(correlated bool) {
	parts := append([]string{}, c.filters.parts...)
	if correlated {
		parts = append(parts, c.search.correlated...)
	} else {
		parts = append(parts, c.search.in...)
	}
	c.args = append(append([]any{}, c.filters.args...), c.search.args...)
	c.where = ""
	if len(parts) > 0 {
		c.where = " WHERE " + strings.Join(parts, " AND ")
	}
}

// compileList runs the filter, search and ordering stages. A non-nil
// *validationErrors is the 400 body; errBrokenBoolIn is the upstream 500.
func (r *resource) compileList(ctx context.Context, q queryParams, fk fkChecker, opts filterOptions) (*compiled, *validationErrors, error) {
	c := &sqlCond{}
	errs, err := r.applyFilters(ctx, q, fk, opts, c)
	if err != nil {
		return nil, nil, err
	}
	if !errs.empty() {
		return nil, errs, nil
	}
	terms := r.orderingTerms(q)
	cq := &compiled{filters: c, search: r.applySearch(q), order: r.orderBy(terms, false), reverse: r.orderBy(terms, true)}
	cq.use(false)
	return cq, nil, nil
}

// pageSize is PageNumberPagination.get_page_size with page_size_query_param
// "page_size": a strictly positive int (Python's int()), capped at the
// maximum; anything else falls back to the default.
func (r *resource) pageSizeFor(q queryParams) int {
	raw, ok := q.get("page_size")
	if !ok {
		return r.pageSize
	}
	v, ok := pyInt(raw)
	switch {
	case !ok:
		return r.pageSize
	case v.Big && v.Neg, !v.Big && v.Val <= 0:
		return r.pageSize
	case v.Big, v.Val > int64(r.maxPageSize):
		return r.maxPageSize
	}
	return int(v.Val)
}

// pageNumber is Django's Paginator.validate_number after DRF's "last".
// ok=false is DRF's 404 "Invalid page.".
func pageNumber(q queryParams, numPages int64) (int64, bool) {
	raw, present := q.get("page")
	if !present {
		return 1, true
	}
	if raw == "last" {
		return numPages, true
	}
	v, ok := pyInt(raw)
	if !ok || v.Big || v.Val < 1 || v.Val > numPages {
		return 0, false
	}
	return v.Val, true
}

// numPages is Paginator.num_pages (allow_empty_first_page, no orphans).
func numPages(count int64, size int) int64 {
	hits := max(1, count)
	return (hits + int64(size) - 1) / int64(size)
}

func itoa64(v int64) string { return strconv.FormatInt(v, 10) }
