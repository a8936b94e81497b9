package issuance

// Enumerations of the Issuance API (seed 002_694c4847ed6e318c.txt), values
// and labels in the order the seed lists them.

type choice struct{ Value, Label string }

var investmentStatuses = []choice{
	{"started", "Started"},
	{"not_received", "Not Received"},
	{"payment_failed", "Payment Failed"},
	{"received", "Received"},
	{"cancelled", "Cancelled"},
	{"refunded", "Refunded"},
	{"invested", "Invested"},
	{"approved", "Approved"},
	{"not_approved", "Not Approved"},
	{"accepted", "Accepted"},
	{"accepted_escrow_closed", "Accepted Escrow Closed"},
}

var (
	offeringTypes           = []string{"reg_a", "reg_d_506b", "reg_d_506c", "reg_s", "reg_cf", "test_the_waters"}
	offeringStatuses        = []string{"incomplete", "pending", "opened", "closed", "paused"}
	investorTypes           = []string{"person", "company", "trust", "trust_ira"}
	kycStatuses             = []string{"unverified", "processing", "passed", "failed"}
	requestedPaymentMethods = []string{"card", "wire", "ira", "other", "crypto"}
	accreditedInvestorTypes = []string{"net_worth", "income", "license", "fund_assets", "fund_owners"}
	shareOrUnitValues       = []string{"Shares", "Units"}
	circularTypes           = []string{"offering_circular", "subscription_agreement", "private_placement_memorandum", "form_c"}
	defaultTimezones        = []string{"US/Pacific", "US/Central", "US/Eastern", "UTC"}
	logoAlignments          = []string{"center", "left", "right", "justify"}
	investorVerifyStatuses  = []string{"missing_investor_entity", "invalid_individual_tax_id_number", "invalid_entity_tax_id_number", "country_not_allowed", "missing_investor_signature", "pending_ai", "missing_individual_investor_entity", "watchlist_processing", "watchlist_hits", "kyc_country_not_managed_by_trulioo", "kyc_unverified", "kyc_failed", "kyc_processing", "kyb_country_not_managed_by_trulioo", "kyb_unverified", "kyb_processing", "kyb_failed", "disallowed_us_state", "upload_id_required", "upload_kyb_document_required", "over_invested_investment", "over_invested_offering", "ira_payment_processing", "custodial_account_not_approved", "missing_offering_document_upload", "offering_document_upload_to_review", "beneficial_owners_missing", "beneficial_owners_watchlist_processing", "beneficial_owners_watchlist_hits", "beneficial_owners_upload_id_required"}
	investmentStatusValues  = choiceValues(investmentStatuses)
)

func choiceValues(cs []choice) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Value
	}
	return out
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
