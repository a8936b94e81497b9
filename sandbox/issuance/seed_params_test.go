package issuance

import (
	"sort"
	"strings"
	"testing"
)

// seedParameters are the query parameters seed 002 documents for each list
// endpoint, copied from the seed (search, ordering, page and page_size are
// the DRF stages, the rest filters).
var seedParameters = map[string]string{
	"investments": `amount amount__gt amount__gte amount__in amount__lt amount__lte created_at created_at__date__gte
		created_at__date__lte created_at__gte created_at__in created_at__lte id id__in investmentapproval__is_approved
		investmentapproval__is_approved__in investor investor__entity investor__entity__email investor__entity__email__in
		investor__entity__isnull investor__entity__kyc_status investor__entity__kyc_status__in investor__in investor__type
		investor__type__in investor__user investor__user__email investor__user__email__in
		investor__user__entity__entityperson__first_name investor__user__entity__entityperson__first_name__in
		investor__user__entity__entityperson__last_name investor__user__entity__entityperson__last_name__in
		investor__user__in offering offering__in offering__name offering__name__in offering__slug offering__slug__in
		ordering page page_size payment_method payment_method__in processed_at processed_at__date__gte
		processed_at__date__lte processed_at__gte processed_at__in processed_at__isnull processed_at__lte
		processing_issue_statuses processing_issue_statuses__contains processing_issue_statuses__in
		processing_issue_statuses__startswith quantity quantity__in reference_id reference_id__in requested_payment_method
		requested_payment_method__in search shares_amount shares_amount__gt shares_amount__gte shares_amount__in
		shares_amount__lt shares_amount__lte status status__in updated_at updated_at__date__gte updated_at__date__lte
		updated_at__gte updated_at__in updated_at__lte watchlistentity__has_hits watchlistentity__has_hits__in`,
	"investors": `id id__in ordering page page_size search type type__in user user__in user__thirdpartyissueruser__email
		user__thirdpartyissueruser__email__in`,
	"offerings": `archived archived__in id id__in issuer issuer__archived issuer__archived__in issuer__in name
		name__contains name__in opened_at opened_at__in ordering page page_size search slug slug__contains slug__in status
		status__contains status__in type type__contains type__in`,
	"users": `id id__in ordering page page_size search thirdpartyissueruser__email thirdpartyissueruser__email__in`,
}

// TestSeedParameters: each list endpoint implements exactly the filters
// the seed documents.
func TestSeedParameters(t *testing.T) {
	t.Parallel()
	e := openProbe(t, true)
	for name, res := range map[string]*resource{"investments": e.investments, "investors": e.investors,
		"offerings": e.offerings, "users": e.users} {
		t.Run(name, func(t *testing.T) {
			var want []string
			for _, p := range strings.Fields(seedParameters[name]) {
				if p != "search" && p != "ordering" && p != "page" && p != "page_size" {
					want = append(want, p)
				}
			}
			var got []string
			for _, f := range res.filters {
				got = append(got, f.name)
			}
			sort.Strings(want)
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("filters\n%v\nwant the seed's\n%v", got, want)
			}
		})
	}
	// The summary adds "slug" to the investments' filters.
	if _, ok := e.summary.filterIdx["slug"]; !ok || len(e.summary.filters) != len(e.investments.filters)+1 {
		t.Fatal("summary filters are not the investments' plus slug")
	}
}
