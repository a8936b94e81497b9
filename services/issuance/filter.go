package issuance

import (
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// InvestmentFilter has a typed field for every documented parameter of
// GET /api/investments/ except the two broken boolean __in filters (use the
// plain boolean). Nil pointers and empty slices are not sent. The `param`
// tag is the exact parameter name.
type InvestmentFilter struct {
	Amount    *Decimal  `param:"amount"`
	AmountGt  *Decimal  `param:"amount__gt"`
	AmountGte *Decimal  `param:"amount__gte"`
	AmountIn  []Decimal `param:"amount__in"`
	AmountLt  *Decimal  `param:"amount__lt"`
	AmountLte *Decimal  `param:"amount__lte"`

	CreatedAt        *time.Time  `param:"created_at"`
	CreatedAtDateGte *Date       `param:"created_at__date__gte"`
	CreatedAtDateLte *Date       `param:"created_at__date__lte"`
	CreatedAtGte     *time.Time  `param:"created_at__gte"`
	CreatedAtIn      []time.Time `param:"created_at__in"`
	CreatedAtLte     *time.Time  `param:"created_at__lte"`

	ID   *int64  `param:"id"`
	IDIn []int64 `param:"id__in"`

	IsApproved *bool `param:"investmentapproval__is_approved"`

	Investor                  *int64    `param:"investor"`
	InvestorEntity            *int64    `param:"investor__entity"`
	InvestorEntityEmail       *string   `param:"investor__entity__email"`
	InvestorEntityEmailIn     []string  `param:"investor__entity__email__in"`
	InvestorEntityIsNull      *bool     `param:"investor__entity__isnull"`
	InvestorEntityKYCStatus   *string   `param:"investor__entity__kyc_status"`
	InvestorEntityKYCStatusIn []string  `param:"investor__entity__kyc_status__in"`
	InvestorIn                []int64   `param:"investor__in"`
	InvestorType              *string   `param:"investor__type"`
	InvestorTypeIn            []string  `param:"investor__type__in"`
	InvestorUser              *int64    `param:"investor__user"`
	InvestorUserEmail         *string   `param:"investor__user__email"`
	InvestorUserEmailIn       []string  `param:"investor__user__email__in"`
	InvestorFirstName         *string   `param:"investor__user__entity__entityperson__first_name"`
	InvestorFirstNameIn       []string  `param:"investor__user__entity__entityperson__first_name__in"`
	InvestorLastName          *string   `param:"investor__user__entity__entityperson__last_name"`
	InvestorLastNameIn        []string  `param:"investor__user__entity__entityperson__last_name__in"`
	InvestorUserIn            []int64   `param:"investor__user__in"`
	Offering                  *int64    `param:"offering"`
	OfferingIn                []int64   `param:"offering__in"`
	OfferingName              *string   `param:"offering__name"`
	OfferingNameIn            []string  `param:"offering__name__in"`
	OfferingSlug              *string   `param:"offering__slug"`
	OfferingSlugIn            []string  `param:"offering__slug__in"`
	Ordering                  []string  `param:"ordering"`
	PaymentMethod             *string   `param:"payment_method"`
	PaymentMethodIn           []string  `param:"payment_method__in"`
	RequestedPaymentMethod    *string   `param:"requested_payment_method"`
	RequestedPaymentMethodIn  []string  `param:"requested_payment_method__in"`
	ProcessingIssueStatuses   *string   `param:"processing_issue_statuses"`
	ProcessingIssueContains   *string   `param:"processing_issue_statuses__contains"`
	ProcessingIssueStatusesIn []string  `param:"processing_issue_statuses__in"`
	ProcessingIssueStartsWith *string   `param:"processing_issue_statuses__startswith"`
	Quantity                  *int64    `param:"quantity"`
	QuantityIn                []int64   `param:"quantity__in"`
	ReferenceID               *string   `param:"reference_id"`
	ReferenceIDIn             []string  `param:"reference_id__in"`
	Search                    string    `param:"search"`
	Status                    *Status   `param:"status"`
	StatusIn                  []Status  `param:"status__in"`
	WatchlistHasHits          *bool     `param:"watchlistentity__has_hits"`
	SharesAmount              *Decimal  `param:"shares_amount"`
	SharesAmountGt            *Decimal  `param:"shares_amount__gt"`
	SharesAmountGte           *Decimal  `param:"shares_amount__gte"`
	SharesAmountIn            []Decimal `param:"shares_amount__in"`
	SharesAmountLt            *Decimal  `param:"shares_amount__lt"`
	SharesAmountLte           *Decimal  `param:"shares_amount__lte"`

	ProcessedAt        *time.Time  `param:"processed_at"`
	ProcessedAtDateGte *Date       `param:"processed_at__date__gte"`
	ProcessedAtDateLte *Date       `param:"processed_at__date__lte"`
	ProcessedAtGte     *time.Time  `param:"processed_at__gte"`
	ProcessedAtIn      []time.Time `param:"processed_at__in"`
	ProcessedAtIsNull  *bool       `param:"processed_at__isnull"`
	ProcessedAtLte     *time.Time  `param:"processed_at__lte"`

	UpdatedAt        *time.Time  `param:"updated_at"`
	UpdatedAtDateGte *Date       `param:"updated_at__date__gte"`
	UpdatedAtDateLte *Date       `param:"updated_at__date__lte"`
	UpdatedAtGte     *time.Time  `param:"updated_at__gte"`
	UpdatedAtIn      []time.Time `param:"updated_at__in"`
	UpdatedAtLte     *time.Time  `param:"updated_at__lte"`
}

// OfferingFilter has a typed field for every documented parameter of
// GET /api/offerings/ except the broken boolean __in filters.
type OfferingFilter struct {
	Archived       *bool       `param:"archived"`
	ID             *int64      `param:"id"`
	IDIn           []int64     `param:"id__in"`
	Issuer         *int64      `param:"issuer"`
	IssuerArchived *bool       `param:"issuer__archived"`
	IssuerIn       []int64     `param:"issuer__in"`
	Name           *string     `param:"name"`
	NameContains   *string     `param:"name__contains"`
	NameIn         []string    `param:"name__in"`
	OpenedAt       *time.Time  `param:"opened_at"`
	OpenedAtIn     []time.Time `param:"opened_at__in"`
	Ordering       []string    `param:"ordering"`
	Search         string      `param:"search"`
	Slug           *string     `param:"slug"`
	SlugContains   *string     `param:"slug__contains"`
	SlugIn         []string    `param:"slug__in"`
	Status         *string     `param:"status"`
	StatusContains *string     `param:"status__contains"`
	StatusIn       []string    `param:"status__in"`
	Type           *string     `param:"type"`
	TypeContains   *string     `param:"type__contains"`
	TypeIn         []string    `param:"type__in"`
}

// InvestorFilter covers GET /api/investors/.
type InvestorFilter struct {
	ID          *int64   `param:"id"`
	IDIn        []int64  `param:"id__in"`
	Ordering    []string `param:"ordering"`
	Search      string   `param:"search"`
	Type        *string  `param:"type"`
	TypeIn      []string `param:"type__in"`
	User        *int64   `param:"user"`
	UserIn      []int64  `param:"user__in"`
	UserEmail   *string  `param:"user__thirdpartyissueruser__email"`
	UserEmailIn []string `param:"user__thirdpartyissueruser__email__in"`
}

// UserFilter covers GET /api/users/.
type UserFilter struct {
	ID       *int64   `param:"id"`
	IDIn     []int64  `param:"id__in"`
	Ordering []string `param:"ordering"`
	Search   string   `param:"search"`
	Email    *string  `param:"thirdpartyissueruser__email"`
	EmailIn  []string `param:"thirdpartyissueruser__email__in"`
}

// PageOpts selects a page; zero values take the API's defaults.
type PageOpts struct {
	Page     int // 1-based; 0 = first
	Last     bool
	PageSize int
}

func (o PageOpts) apply(q url.Values) {
	switch {
	case o.Last:
		q.Set("page", "last")
	case o.Page > 1:
		q.Set("page", strconv.Itoa(o.Page))
	}
	if o.PageSize > 0 {
		q.Set("page_size", strconv.Itoa(o.PageSize))
	}
}

// encode turns a filter struct into query parameters, by its param tags.
// Date-times are RFC 3339 with offset (url.Values percent-encodes "+", which
// a literal "+" would otherwise turn into a space upstream).
func encode(filter any) url.Values {
	q := url.Values{}
	v := reflect.ValueOf(filter)
	t := v.Type()
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("param")
		if name == "" {
			continue
		}
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Pointer:
			if !f.IsNil() {
				q.Set(name, format(f.Elem().Interface()))
			}
		case reflect.Slice:
			if f.Len() > 0 {
				parts := make([]string, f.Len())
				for j := range f.Len() {
					parts[j] = format(f.Index(j).Interface())
				}
				q.Set(name, strings.Join(parts, ","))
			}
		case reflect.String:
			if f.String() != "" {
				q.Set(name, f.String())
			}
		}
	}
	return q
}

func format(v any) string {
	switch t := v.(type) {
	case time.Time:
		return t.Format(time.RFC3339Nano)
	case Date:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case int64:
		return strconv.FormatInt(t, 10)
	case Decimal:
		return string(t)
	case Status:
		return string(t)
	case string:
		return t
	}
	panic(fmt.Sprintf("issuance: no encoding for %T", v))
}

// Values returns the filter as query parameters.
func (f InvestmentFilter) Values() url.Values { return encode(f) }

// Values returns the filter as query parameters.
func (f OfferingFilter) Values() url.Values { return encode(f) }

// Values returns the filter as query parameters.
func (f InvestorFilter) Values() url.Values { return encode(f) }

// Values returns the filter as query parameters.
func (f UserFilter) Values() url.Values { return encode(f) }

// Ptr returns a pointer to v, for filter fields.
func Ptr[T any](v T) *T { return &v }
