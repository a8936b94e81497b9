// Package issuance is the typed client of the Issuance issuer API
// (seed 002: investments, offerings, investors, users). One method per
// documented endpoint; typed filters for every documented query parameter;
// typed errors (apiclient.Error). Every call goes through the audit transport.
package issuance

import (
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Decimal is a decimal number as the API writes it: a JSON string such as
// "100.50". It keeps the API's text; Rat gives exact arithmetic.
type Decimal string

var decimalRe = regexp.MustCompile(`^-?\d+(\.\d+)?$`)

// ParseDecimal accepts a plain decimal ("-12.5") and returns it canonical.
func ParseDecimal(s string) (Decimal, error) {
	s = strings.TrimSpace(s)
	if !decimalRe.MatchString(s) {
		return "", fmt.Errorf("%q is not a decimal number", s)
	}
	return Decimal(s), nil
}

// MustDecimal is ParseDecimal for constants in code and tests.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(err)
	}
	return d
}

// Rat returns the exact value (0 for an empty or malformed decimal).
func (d Decimal) Rat() *big.Rat {
	r, ok := new(big.Rat).SetString(string(d))
	if !ok {
		return new(big.Rat)
	}
	return r
}

// Date is a calendar date (YYYY-MM-DD).
type Date struct{ time.Time }

// NewDate returns the date of y-m-d.
func NewDate(y int, m time.Month, d int) Date { return Date{time.Date(y, m, d, 0, 0, 0, 0, time.UTC)} }

func (d Date) String() string { return d.Format("2006-01-02") }

// UnmarshalJSON reads "YYYY-MM-DD" or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	var s *string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == nil || *s == "" {
		d.Time = time.Time{}
		return nil
	}
	t, err := time.Parse("2006-01-02", *s)
	if err != nil {
		return err
	}
	d.Time = t
	return nil
}

// MarshalJSON writes "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// Status of an investment.
type Status string

const (
	StatusStarted              Status = "started"
	StatusNotReceived          Status = "not_received"
	StatusPaymentFailed        Status = "payment_failed"
	StatusReceived             Status = "received"
	StatusCancelled            Status = "cancelled"
	StatusRefunded             Status = "refunded"
	StatusInvested             Status = "invested"
	StatusApproved             Status = "approved"
	StatusNotApproved          Status = "not_approved"
	StatusAccepted             Status = "accepted"
	StatusAcceptedEscrowClosed Status = "accepted_escrow_closed"
)

// Choice is an enum value with its documented label.
type Choice struct{ Value, Label string }

// Statuses are the 11 investment statuses with their labels (S2).
var Statuses = []Choice{
	{"started", "Started"}, {"not_received", "Not Received"}, {"payment_failed", "Payment Failed"},
	{"received", "Received"}, {"cancelled", "Cancelled"}, {"refunded", "Refunded"}, {"invested", "Invested"},
	{"approved", "Approved"}, {"not_approved", "Not Approved"}, {"accepted", "Accepted"},
	{"accepted_escrow_closed", "Accepted Escrow Closed"},
}

// PaymentMethods are the requested payment methods; "other" is labelled ACH.
var PaymentMethods = []Choice{{"card", "Card"}, {"wire", "Wire"}, {"ira", "IRA"}, {"other", "ACH"}, {"crypto", "Crypto"}}

// InvestorTypes are the four investor types.
var InvestorTypes = []Choice{{"person", "Person"}, {"company", "Company"}, {"trust", "Trust"}, {"trust_ira", "Trust Ira"}}

// KYCStatuses are the investor entity's KYC states.
var KYCStatuses = []Choice{{"unverified", "Unverified"}, {"processing", "Processing"}, {"passed", "Passed"}, {"failed", "Failed"}}

// OfferingStatuses; "incomplete" is labelled "Imcomplete" upstream (sic).
var OfferingStatuses = []Choice{{"incomplete", "Incomplete"}, {"pending", "Pending"}, {"opened", "Opened"}, {"closed", "Closed"}, {"paused", "Paused"}}

// OfferingTypes are the regulatory types.
var OfferingTypes = []Choice{
	{"reg_a", "Regulation A"}, {"reg_d_506b", "Regulation D 506(b)"}, {"reg_d_506c", "Regulation D 506(c)"},
	{"reg_s", "Regulation S"}, {"reg_cf", "Regulation Crowdfunding"}, {"test_the_waters", "Test The Waters"},
}

// Label returns the label of value in choices, or the value itself.
func Label(choices []Choice, value string) string {
	for _, c := range choices {
		if c.Value == value {
			return c.Label
		}
	}
	return value
}

func values(choices []Choice) []string {
	out := make([]string, len(choices))
	for i, c := range choices {
		out[i] = c.Value
	}
	return out
}

// Investment is GET /api/investments/{id}/ (B.5). Fields marked deprecated
// upstream keep their names.
type Investment struct {
	ID                                    int64      `json:"id"`
	Quantity                              int64      `json:"quantity"`
	Price                                 Decimal    `json:"price"`
	PriceFees                             Decimal    `json:"price_fees"`
	PricePaymentProcessingFees            Decimal    `json:"price_payment_processing_fees"`
	Amount                                Decimal    `json:"amount"`
	Status                                Status     `json:"status"`
	PaymentIntentID                       string     `json:"payment_intent_id"`
	Offering                              int64      `json:"offering"`
	ReferenceID                           string     `json:"reference_id"`
	InvestorIndividualName                string     `json:"investor_individual_name"`
	PaymentMethod                         string     `json:"payment_method"`
	UpdatedAt                             time.Time  `json:"updated_at"`
	HasInvestorSigned                     bool       `json:"has_investor_signed"`
	AccreditedInvestor                    *bool      `json:"accredited_investor"`
	NetWorth                              *Decimal   `json:"net_worth"`
	AnnualIncome                          *Decimal   `json:"annual_income"`
	USPerson                              *bool      `json:"us_person"`
	ExemptFromBackupWithholding           *bool      `json:"exempt_from_backup_withholding"`
	AmountInvestedInRegCFOfferingThisYear *Decimal   `json:"amount_invested_in_reg_cf_offering_this_year"`
	UserBrowserType                       string     `json:"user_browser_type"`
	AccreditedInvestorType                *string    `json:"accredited_investor_type"`
	ProcessedAt                           *time.Time `json:"processed_at"`
	ReceivedAt                            *time.Time `json:"received_at"`
	RefundedAt                            *time.Time `json:"refunded_at"`
	InvestorVerifyProcessStatus           *string    `json:"investor_verify_process_status"` // deprecated upstream
	BonusShares                           *int64     `json:"bonus_shares"`
	ProcessingIssueStatuses               string     `json:"processing_issue_statuses"`
	SharesAmount                          Decimal    `json:"shares_amount"`
	BonusSharesCode                       *string    `json:"bonus_shares_code"`
	BonusSharesPercentageTier             *Decimal   `json:"bonus_shares_percentage_tier"`
	BonusSharesQuantityTier               *Decimal   `json:"bonus_shares_quantity_tier"`
	QuantityQualifiedShares               *int64     `json:"quantity_qualified_shares"`
	PriceQualifiedShares                  *Decimal   `json:"price_qualified_shares"`
	InvestedAt                            *time.Time `json:"invested_at"`
}

// Offering is GET /api/offerings/{id}/ (B.6).
type Offering struct {
	ID                                int64           `json:"id"`
	Issuer                            int64           `json:"issuer"`
	Name                              string          `json:"name"`
	Type                              string          `json:"type"`
	Status                            string          `json:"status"`
	Description                       string          `json:"description"`
	SecurityType                      string          `json:"security_type"`
	ShareOrUnit                       string          `json:"share_or_unit"`
	ShareOrUnitDetails                string          `json:"share_or_unit_details"`
	WarrantPerUnit                    *int64          `json:"warrant_per_unit"`
	WarrantExpirationDateDeltaYear    *int64          `json:"warrant_expiration_date_delta_year"`
	WarrantExpirationDateDeltaMonth   *int64          `json:"warrant_expiration_date_delta_month"`
	DollarAmountInvestment            bool            `json:"dollar_amount_investment"`
	UnitPrice                         Decimal         `json:"unit_price"`
	AdministrativeFees                Decimal         `json:"administrative_fees"`
	AdministrativeFeesPaidByInvestor  bool            `json:"administrative_fees_paid_by_investor"`
	NumberOfShares                    *int64          `json:"number_of_shares"`
	MaxInvestmentAmount               *Decimal        `json:"max_investment_amount"`
	MinInvestmentAmount               Decimal         `json:"min_investment_amount"`
	InvestmentIncrementAmount         *Decimal        `json:"investment_increment_amount"`
	MinimumWireTransferAmount         Decimal         `json:"minimum_wire_transfer_amount"`
	ContactName                       string          `json:"contact_name"`
	ContactTitle                      string          `json:"contact_title"`
	ContactPhone                      string          `json:"contact_phone"`
	ContactEmail                      string          `json:"contact_email"`
	AccreditedInvestors               bool            `json:"accredited_investors"`
	NonAccreditedInvestors            bool            `json:"non_accredited_investors"`
	Slug                              string          `json:"slug"`
	Logo                              *string         `json:"logo"`
	Favicon                           *string         `json:"favicon"`
	CircularLink                      string          `json:"circular_link"`
	CircularFile                      *string         `json:"circular_file"`
	CircularType                      string          `json:"circular_type"`
	DisplayCircular                   bool            `json:"display_circular"`
	DisplayedNumberOfShares           json.RawMessage `json:"displayed_number_of_shares"`
	SigningFullName                   string          `json:"signing_full_name"`
	SigningTitle                      string          `json:"signing_title"`
	SigningEmail                      string          `json:"signing_email"`
	SupportEmail                      string          `json:"support_email"`
	SupportPhone                      string          `json:"support_phone"`
	DailySummaryEmails                bool            `json:"daily_summary_emails"`
	DailySummaryRecipients            string          `json:"daily_summary_recipients"`
	WeeklySummaryEmails               bool            `json:"weekly_summary_emails"`
	WeeklySummaryRecipients           string          `json:"weekly_summary_recipients"`
	WireEmailReminderPeriod           int64           `json:"wire_email_reminder_period"`
	WireEmailReminderMaxSent          int64           `json:"wire_email_reminder_max_sent"`
	InvestmentEmailReminderPeriod     int64           `json:"investment_email_reminder_period"`
	InvestmentEmailReminderMaxSent    int64           `json:"investment_email_reminder_max_sent"`
	MessagingConsentText              string          `json:"messaging_consent_text"`
	EmailSenderName                   string          `json:"email_sender_name"`
	DefaultTimezone                   string          `json:"default_timezone"`
	SegmentDatasetID                  string          `json:"segment_dataset_id"`
	AutoApproveInvestments            bool            `json:"auto_approve_investments"`
	AutoAcceptInvestments             bool            `json:"auto_accept_investments"`
	AutoAcceptMaxAmount               *Decimal        `json:"auto_accept_max_amount"`
	AutoAcceptMinAmount               *Decimal        `json:"auto_accept_min_amount"`
	EmailInvestmentStartedHighValue   bool            `json:"email_investment_started_high_value"`
	EmailInvestmentStartedThreshold   Decimal         `json:"email_investment_started_threshold"`
	EnableTestTheWaters               bool            `json:"enable_test_the_waters"`
	DisplayedTestTheWatersAmounts     json.RawMessage `json:"displayed_test_the_waters_amounts"`
	AccentColor                       string          `json:"accent_color"`
	BackgroundAccentColor             string          `json:"background_accent_color"`
	ActivityAccentColor               string          `json:"activity_accent_color"`
	PerInvestmentSummaryEmails        bool            `json:"per_investment_summary_emails"`
	PerInvestmentSummaryRecipients    string          `json:"per_investment_summary_recipients"`
	UserSentMaxMonitoringEmails       bool            `json:"user_sent_max_monitoring_emails"`
	UserSentMaxMonitoringRecipients   string          `json:"user_sent_max_monitoring_recipients"`
	OtherPlatformInvestmentNotice     bool            `json:"other_platform_investment_notice"`
	OtherPlatformInvestmentNoticeText string          `json:"other_platform_investment_notice_text"`
	InvestorPhoneNumberRequired       bool            `json:"investor_phone_number_required"`
	MinimumAmountRaised               *Decimal        `json:"minimum_amount_raised"`
	RegCFAmountRaisedTier             *Decimal        `json:"reg_cf_amount_raised_tier"`
	MaximumAmountRaised               *Decimal        `json:"maximum_amount_raised"`
	RegCFOversubscription             *Decimal        `json:"reg_cf_oversubscription"`
	RegCFFeePercentage                *Decimal        `json:"reg_cf_fee_percentage"`
	Archived                          bool            `json:"archived"`
	DisplayLogoDuringInvestment       *string         `json:"display_logo_during_investment"`
	DisplayLogoOnDashboard            bool            `json:"display_logo_on_dashboard"`
	DeadlineDate                      *Date           `json:"deadline_date"`
	CreatedAt                         time.Time       `json:"created_at"`
	OpenedAt                          *time.Time      `json:"opened_at"`
}

// Investor is GET /api/investors/{id}/: one of four schemas (person,
// company, trust, trust_ira) that the reference does not spell out, so the
// common fields are typed and every field is kept in Fields.
type Investor struct {
	ID     int64          `json:"id"`
	Type   string         `json:"type"`
	User   *int64         `json:"user"`
	Fields map[string]any `json:"-"`
}

// UnmarshalJSON keeps every field of the investor.
func (i *Investor) UnmarshalJSON(b []byte) error {
	type plain Investor
	if err := json.Unmarshal(b, (*plain)(i)); err != nil {
		return err
	}
	return json.Unmarshal(b, &i.Fields)
}

// User is an Issuance user; the password is write-only and never read back.
type User struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
}

// Page is one page of a DRF list. Next and Previous are re-based on the
// configured base URL (the API builds them with the host it sees).
type Page[T any] struct {
	Count    int
	Next     *url.URL
	Previous *url.URL
	Results  []T
	// Note explains a merged list's order where it differs from the one
	// asked for (see MergedOrderNote); "" otherwise.
	Note string
}

type rawPage[T any] struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []T     `json:"results"`
}

// Summary is GET /api/investments/summary/. Only total_amount_committed is
// publicly known (I-apt): amount is a JSON number in USD and may be absent
// ("sanitized") for anonymous callers; the count is investor_count (older
// answers say count).
type Summary struct {
	TotalAmountCommitted struct {
		Amount        *float64 `json:"amount"`
		InvestorCount *int64   `json:"investor_count"`
		Count         *int64   `json:"count"`
	} `json:"total_amount_committed"`
	Raw map[string]any `json:"-"`
}
