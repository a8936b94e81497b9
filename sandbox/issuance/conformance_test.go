package issuance

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// Conformance tables, one per semantic of api-contracts.md Part C (and the
// emulator's documented decisions), over testdata/probe_fixture.json:
//
//	id offering investor status    amount  created (UTC)      processed  issues                       approved hits
//	1  1 Acme   1 Jane   received  100.50  2024-01-01 23:30   01-02      ""                           false    false
//	2  2 Beta   2 Seán   accepted  200.50  2024-01-02 23:30   01-03      ""                           true     false
//	3  1        3 Zoë    started   300.50  2024-01-03 23:30   01-04      kyc_failed,watchlist_hits    false    true
//	4  2        1        received  400.50  2024-01-04 23:30   01-05      watchlist_hits,KYC_pending   null     true
//	5  1        2        started   500.50  2024-01-05 23:30   01-06      ""                           false    false
//	6  2        3        accepted  600.50  2024-01-06 23:30   null       ""                           true     null
//	7  1        1        cancelled 700.50  2024-01-07 23:30   null       ""                           false    false
//
// Investor 1 is a person (user 1 jane@example.com, entity 1 passed),
// 2 a company (user 2 Sean.OBrien@Example.com, entity 5 processing),
// 3 a trust without entity (user 3 zoe@example.org, last name
// "<script>alert(1)</script>"). Default order: -created_at, -id.

type row struct {
	name   string
	target string
	status int
	ids    []int  // list responses: ids in order (nil = don't check)
	count  int    // list responses: count (checked with ids)
	body   string // exact body (errors)
	has    string // a substring of the body
}

func runRows(t *testing.T, h http.Handler, auth string, rows []row) {
	t.Helper()
	for _, tt := range rows {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, h, "GET", tt.target, auth, nil, "")
			if r.status != tt.status {
				t.Fatalf("%s: status %d, want %d; body %s", tt.target, r.status, tt.status, r.body)
			}
			if tt.body != "" && string(r.body) != tt.body {
				t.Fatalf("body %s\nwant %s", r.body, tt.body)
			}
			if tt.has != "" && !strings.Contains(string(r.body), tt.has) {
				t.Fatalf("body %s\nlacks %s", r.body, tt.has)
			}
			if tt.ids != nil {
				p := decodePage(t, r)
				if p.Count != tt.count || !reflect.DeepEqual(p.ids(t), tt.ids) {
					t.Fatalf("count %d ids %v, want %d %v", p.Count, p.ids(t), tt.count, tt.ids)
				}
			}
		})
	}
}

const inv = "/api/investments/?"

func TestLookupExactAndComparisons(t *testing.T) {
	t.Parallel()
	runRows(t, openProbe(t, true).Handler(), keyAuth, []row{
		{name: "integer exact", target: inv + "id=3", status: 200, count: 1, ids: []int{3}},
		{name: "integer from a decimal truncates (int(Decimal))", target: inv + "id=3.9", status: 200, count: 1, ids: []int{3}},
		{name: "integer exponent", target: inv + "quantity=0.5e1", status: 200, count: 1, ids: []int{5}},
		{name: "integer Unicode digits", target: inv + "id=%D9%A3", status: 200, count: 1, ids: []int{3}},
		{name: "integer underscores", target: inv + "quantity=1_0", status: 200, count: 0, ids: []int{}},
		{name: "integer whitespace", target: inv + "id=%203%20", status: 200, count: 1, ids: []int{3}},
		{name: "integer only spaces", target: inv + "id=%20", status: 400, body: `{"id":["Enter a number."]}`},
		{name: "NaN is not a number", target: inv + "amount=NaN", status: 400, body: `{"amount":["Enter a number."]}`},
		{name: "Infinity is not a number", target: inv + "amount__gt=-Infinity", status: 400, body: `{"amount__gt":["Enter a number."]}`},
		{name: "NumberFilter maximum", target: inv + "amount__lt=1e51", status: 400, body: `{"amount__lt":["Ensure this value is less than or equal to 1e+50."]}`},
		{name: "1e50 itself is allowed", target: inv + "amount__lt=1e50", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "decimal exact", target: inv + "amount=100.5", status: 200, count: 1, ids: []int{1}},
		{name: "decimal exact off the grid", target: inv + "amount=100.505", status: 200, count: 0, ids: []int{}},
		{name: "gt off the grid", target: inv + "amount__gt=600.505", status: 200, count: 1, ids: []int{7}},
		{name: "gte off the grid", target: inv + "amount__gte=600.495", status: 200, count: 2, ids: []int{7, 6}},
		{name: "lt", target: inv + "amount__lt=200.50", status: 200, count: 1, ids: []int{1}},
		{name: "lte", target: inv + "shares_amount__lte=200", status: 200, count: 2, ids: []int{2, 1}},
		{name: "huge bound", target: inv + "amount__gt=-1e49", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "text exact is case-sensitive", target: inv + "investor__user__email=sean.obrien@example.com", status: 200, count: 0, ids: []int{}},
		{name: "text exact", target: inv + "investor__user__email=Sean.OBrien@Example.com", status: 200, count: 2, ids: []int{5, 2}},
		{name: "text is stripped", target: inv + "reference_id=%20REF-004%09", status: 200, count: 1, ids: []int{4}},
		{name: "NUL in text", target: inv + "reference_id=REF%00", status: 400, body: `{"reference_id":["Null characters are not allowed."]}`},
		{name: "first name (user)", target: inv + "investor__user__entity__entityperson__first_name=Se%C3%A1n", status: 200, count: 2, ids: []int{5, 2}},
		{name: "last name with markup", target: inv + "investor__user__entity__entityperson__last_name=%3Cscript%3Ealert(1)%3C/script%3E", status: 200, count: 2, ids: []int{6, 3}},
		{name: "entity e-mail", target: inv + "investor__entity__email=finance@obrien.example", status: 200, count: 2, ids: []int{5, 2}},
		{name: "choice", target: inv + "investor__type=trust", status: 200, count: 2, ids: []int{6, 3}},
		{name: "choice not stripped", target: inv + "investor__type=%20trust", status: 400, body: `{"investor__type":["Select a valid choice.  trust is not one of the available choices."]}`},
		{name: "kyc choice", target: inv + "investor__entity__kyc_status=processing", status: 200, count: 2, ids: []int{5, 2}},
		{name: "requested payment method", target: inv + "requested_payment_method=other", status: 200, count: 1, ids: []int{3}},
		{name: "payment method is free text", target: inv + "payment_method=ach", status: 200, count: 1, ids: []int{3}},
		{name: "empty value is no filter", target: inv + "status=&amount=&offering=&created_at__date__gte=", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "unknown parameters are ignored", target: inv + "nope=1&Status=bogus", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "repeated parameter: last wins", target: inv + "status=bogus&status=received", status: 200, count: 2, ids: []int{4, 1}},
		{name: "all errors at once", target: inv + "status=x&amount=y&offering=0&created_at=z&created_at__date__lte=w&reference_id=%00",
			status: 400, body: `{"amount":["Enter a number."],"created_at":["Enter a valid date/time."],"created_at__date__lte":["Enter a valid date."],"offering":["Select a valid choice. That choice is not one of the available choices."],"reference_id":["Null characters are not allowed."],"status":["Select a valid choice. x is not one of the available choices."]}`},
	})
}

func TestLookupForeignKeys(t *testing.T) {
	t.Parallel()
	runRows(t, openProbe(t, true).Handler(), keyAuth, []row{
		{name: "offering", target: inv + "offering=2", status: 200, count: 3, ids: []int{6, 4, 2}},
		{name: "unknown pk", target: inv + "offering=3", status: 400, body: `{"offering":["Select a valid choice. That choice is not one of the available choices."]}`},
		{name: "pk is an int(), not a number", target: inv + "offering=1.0", status: 400, body: `{"offering":["Select a valid choice. That choice is not one of the available choices."]}`},
		{name: "pk with spaces and sign", target: inv + "offering=%20%2B2%20", status: 200, count: 3, ids: []int{6, 4, 2}},
		{name: "pk beyond int64", target: inv + "investor=99999999999999999999", status: 400, body: `{"investor":["Select a valid choice. That choice is not one of the available choices."]}`},
		{name: "investor", target: inv + "investor=3", status: 200, count: 2, ids: []int{6, 3}},
		{name: "investor user", target: inv + "investor__user=2", status: 200, count: 2, ids: []int{5, 2}},
		{name: "entity pk (its own id space)", target: inv + "investor__entity=5", status: 200, count: 2, ids: []int{5, 2}},
		{name: "entity pk 2 does not exist", target: inv + "investor__entity=2", status: 400, body: `{"investor__entity":["Select a valid choice. That choice is not one of the available choices."]}`},
		{name: "in", target: inv + "investor__in=2,3", status: 200, count: 4, ids: []int{6, 5, 3, 2}},
		{name: "in with an unknown pk", target: inv + "investor__user__in=1,4", status: 400, body: `{"investor__user__in":["Select a valid choice. That choice is not one of the available choices."]}`},
		{name: "in with empty items", target: inv + "offering__in=,2,", status: 200, count: 3, ids: []int{6, 4, 2}},
		{name: "in of only empty items matches nothing", target: inv + "offering__in=,", status: 200, count: 0, ids: []int{}},
		{name: "entity isnull", target: inv + "investor__entity__isnull=true", status: 200, count: 2, ids: []int{6, 3}},
		{name: "entity not null", target: inv + "investor__entity__isnull=0", status: 200, count: 5, ids: []int{7, 5, 4, 2, 1}},
		{name: "offering name", target: inv + "offering__name=Beta%20Notes", status: 200, count: 3, ids: []int{6, 4, 2}},
		{name: "offering slug in", target: inv + "offering__slug__in=acme-fund,nope", status: 200, count: 4, ids: []int{7, 5, 3, 1}},
	})
}

func TestLookupIn(t *testing.T) {
	t.Parallel()
	runRows(t, openProbe(t, true).Handler(), keyAuth, []row{
		{name: "numbers", target: inv + "id__in=1,3", status: 200, count: 2, ids: []int{3, 1}},
		{name: "empty items dropped", target: inv + "id__in=1,,3,", status: 200, count: 2, ids: []int{3, 1}},
		{name: "whitespace around numbers", target: inv + "id__in=%201%20,3", status: 200, count: 2, ids: []int{3, 1}},
		{name: "an item of spaces is not empty", target: inv + "id__in=1,%20,3", status: 400, body: `{"id__in":["Enter a number."]}`},
		{name: "first bad item fails the parameter", target: inv + "quantity__in=x,1", status: 400, body: `{"quantity__in":["Enter a number."]}`},
		{name: "only empty numbers: no row", target: inv + "id__in=,,", status: 200, count: 0, ids: []int{}},
		{name: "empty parameter: no filter", target: inv + "id__in=", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "decimals", target: inv + "amount__in=100.5,300.500,1e2", status: 200, count: 2, ids: []int{3, 1}},
		{name: "choices are not validated", target: inv + "status__in=bogus,started", status: 200, count: 2, ids: []int{5, 3}},
		{name: "choice items are stripped", target: inv + "status__in=%20started%20", status: 200, count: 2, ids: []int{5, 3}},
		{name: "text items keep the empty string", target: inv + "processing_issue_statuses__in=,nope", status: 200, count: 5, ids: []int{7, 6, 5, 2, 1}},
		{name: "text NUL", target: inv + "reference_id__in=REF-001,%00", status: 400, body: `{"reference_id__in":["Null characters are not allowed."]}`},
		{name: "date-times", target: inv + "created_at__in=2024-01-03T23:30:00Z,2024-01-05T23:30:00%2B00:00", status: 200, count: 2, ids: []int{5, 3}},
		{name: "date-time bad item", target: inv + "updated_at__in=2024-01-03T23:45:00.25Z,x", status: 400, body: `{"updated_at__in":["Enter a valid date/time."]}`},
		{name: "microseconds count", target: inv + "updated_at__in=2024-01-03T23:45:00.25Z", status: 200, count: 1, ids: []int{3}},
		{name: "types", target: inv + "investor__type__in=trust,company", status: 200, count: 4, ids: []int{6, 5, 3, 2}},
	})
}

func TestLookupDates(t *testing.T) {
	t.Parallel()
	runRows(t, openProbe(t, true).Handler(), keyAuth, []row{
		{name: "date range in UTC", target: inv + "created_at__date__gte=2024-01-02&created_at__date__lte=2024-01-03", status: 200, count: 2, ids: []int{3, 2}},
		{name: "M/D/Y", target: inv + "created_at__date__lte=01/02/2024", status: 200, count: 2, ids: []int{2, 1}},
		{name: "M/D/y", target: inv + "created_at__date__lte=1/2/24", status: 200, count: 2, ids: []int{2, 1}},
		{name: "month names", target: inv + "created_at__date__lte=Jan%202,%202024", status: 200, count: 2, ids: []int{2, 1}},
		{name: "full month name, day first", target: inv + "created_at__date__gte=6%20January%202024", status: 200, count: 2, ids: []int{7, 6}},
		{name: "no leading zeros", target: inv + "created_at__date__gte=2024-1-6", status: 200, count: 2, ids: []int{7, 6}},
		{name: "Feb 30", target: inv + "created_at__date__gte=2024-02-30", status: 400, body: `{"created_at__date__gte":["Enter a valid date."]}`},
		{name: "processed date excludes NULL", target: inv + "processed_at__date__gte=2024-01-01", status: 200, count: 5, ids: []int{5, 4, 3, 2, 1}},
		{name: "processed gte excludes NULL", target: inv + "processed_at__gte=2024-01-06T00:00:00Z", status: 200, count: 1, ids: []int{5}},
		{name: "processed lte", target: inv + "processed_at__lte=2024-01-03T10:00:00Z", status: 200, count: 2, ids: []int{2, 1}},
		{name: "processed exact", target: inv + "processed_at=2024-01-03T11:00:00%2B01:00", status: 200, count: 1, ids: []int{2}},
		{name: "naive means UTC", target: inv + "created_at=2024-01-02T23:30", status: 200, count: 1, ids: []int{2}},
		{name: "comma fraction", target: inv + "updated_at=2024-01-02T23:45:00,25Z", status: 200, count: 1, ids: []int{2}},
		{name: "offset without colon", target: inv + "created_at__gte=2024-01-07T00:30:00%2B0100", status: 200, count: 2, ids: []int{7, 6}},
		{name: "offset of a day", target: inv + "created_at__gte=2024-01-07T00:30:00%2B24:00", status: 400, body: `{"created_at__gte":["Enter a valid date/time."]}`},
		{name: "updated lte", target: inv + "updated_at__lte=2024-01-01T23:45:00.25Z", status: 200, count: 1, ids: []int{1}},
		{name: "updated date", target: inv + "updated_at__date__lte=2024-01-01", status: 200, count: 1, ids: []int{1}},
		{name: "isnull", target: inv + "processed_at__isnull=true", status: 200, count: 2, ids: []int{7, 6}},
	})
}

func TestLookupContains(t *testing.T) {
	t.Parallel()
	runRows(t, openProbe(t, true).Handler(), keyAuth, []row{
		{name: "contains is case-sensitive", target: inv + "processing_issue_statuses__contains=KYC", status: 200, count: 1, ids: []int{4}},
		{name: "contains", target: inv + "processing_issue_statuses__contains=watchlist", status: 200, count: 2, ids: []int{4, 3}},
		{name: "startswith", target: inv + "processing_issue_statuses__startswith=watchlist", status: 200, count: 1, ids: []int{4}},
		{name: "LIKE wildcards are literal", target: inv + "processing_issue_statuses__contains=%25", status: 200, count: 0, ids: []int{}},
		{name: "underscore is literal", target: inv + "processing_issue_statuses__startswith=kyc_", status: 200, count: 1, ids: []int{3}},
		{name: "exact", target: inv + "processing_issue_statuses=kyc_failed,watchlist_hits", status: 200, count: 1, ids: []int{3}},
	})
}

func TestBooleans(t *testing.T) {
	t.Parallel()
	h := openProbe(t, true).Handler()
	runRows(t, h, keyAuth, []row{
		{name: "true", target: inv + "investmentapproval__is_approved=true", status: 200, count: 2, ids: []int{6, 2}},
		{name: "1", target: inv + "investmentapproval__is_approved=1", status: 200, count: 2, ids: []int{6, 2}},
		{name: "TRUE", target: inv + "investmentapproval__is_approved=TRUE", status: 200, count: 2, ids: []int{6, 2}},
		{name: "false excludes no record", target: inv + "investmentapproval__is_approved=false", status: 200, count: 4, ids: []int{7, 5, 3, 1}},
		{name: "unrecognised: no filter", target: inv + "investmentapproval__is_approved=yes", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "padded: no filter", target: inv + "watchlistentity__has_hits=%20true", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "hits", target: inv + "watchlistentity__has_hits=True", status: 200, count: 2, ids: []int{4, 3}},
		{name: "no hits excludes no record", target: inv + "watchlistentity__has_hits=0", status: 200, count: 4, ids: []int{7, 5, 2, 1}},
		{name: "__in one value: upstream 500", target: inv + "investmentapproval__is_approved__in=true", status: 500, body: djangoServerError},
		{name: "__in false: upstream 500", target: inv + "watchlistentity__has_hits__in=0", status: 500, body: djangoServerError},
		{name: "__in two values: ignored", target: inv + "watchlistentity__has_hits__in=true,false", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "__in 500 beats a 400", target: inv + "status=bogus&watchlistentity__has_hits__in=1", status: 500, body: djangoServerError},
		{name: "offerings archived", target: "/api/offerings/?archived=true", status: 200, count: 1, ids: []int{2}},
		{name: "offerings archived __in", target: "/api/offerings/?archived__in=false", status: 500, body: djangoServerError},
		{name: "issuer archived", target: "/api/offerings/?issuer__archived=false", status: 200, count: 1, ids: []int{1}},
	})
	// Without the upstream bug, __in means what it says.
	runRows(t, openProbe(t, false).Handler(), keyAuth, []row{
		{name: "fixed __in true", target: inv + "investmentapproval__is_approved__in=true", status: 200, count: 2, ids: []int{6, 2}},
		{name: "fixed __in both", target: inv + "watchlistentity__has_hits__in=true,0", status: 200, count: 6, ids: []int{7, 5, 4, 3, 2, 1}},
		{name: "fixed __in unrecognised", target: inv + "watchlistentity__has_hits__in=maybe", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
	})
}

func TestSearch(t *testing.T) {
	t.Parallel()
	runRows(t, openProbe(t, true).Handler(), keyAuth, []row{
		{name: "reference, any case", target: inv + "search=ref-00", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "offering name", target: inv + "search=beta", status: 200, count: 3, ids: []int{6, 4, 2}},
		{name: "user e-mail", target: inv + "search=OBRIEN@EXAMPLE", status: 200, count: 2, ids: []int{5, 2}},
		{name: "first name, Unicode case", target: inv + "search=ZO%C3%8B", status: 200, count: 2, ids: []int{6, 3}},
		{name: "last name with markup", target: inv + "search=%3Cscript%3E", status: 200, count: 2, ids: []int{6, 3}},
		{name: "terms AND", target: inv + "search=acme%20jane", status: 200, count: 2, ids: []int{7, 1}},
		{name: "comma separates terms", target: inv + "search=acme,jane", status: 200, count: 2, ids: []int{7, 1}},
		{name: "quotes are literal", target: inv + "search=%22jane%22", status: 200, count: 0, ids: []int{}},
		{name: "NUL removed", target: inv + "search=ja%00ne", status: 200, count: 3, ids: []int{7, 4, 1}},
		{name: "whitespace only: no filter", target: inv + "search=%20%09,", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "wildcards are literal", target: inv + "search=%25", status: 200, count: 0, ids: []int{}},
		{name: "with filters (correlated form)", target: inv + "search=jane&offering=2", status: 200, count: 1, ids: []int{4}},
		{name: "many terms", target: inv + "search=a%20b%20c%20d%20e%20f%20g%20h%20i%20jane", status: 200, count: 0, ids: []int{}},
		{name: "many terms matching", target: inv + "search=j%20a%20n%20e%20d%20o%20x%20m%20p%20l", status: 200, count: 3, ids: []int{7, 4, 1}},
		{name: "offerings search slug", target: "/api/offerings/?search=NOTES", status: 200, count: 1, ids: []int{2}},
	})
}

func TestOrdering(t *testing.T) {
	t.Parallel()
	runRows(t, openProbe(t, true).Handler(), keyAuth, []row{
		{name: "default -created_at,-id", target: inv, status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "ascending", target: inv + "ordering=amount", status: 200, count: 7, ids: []int{1, 2, 3, 4, 5, 6, 7}},
		{name: "invalid dropped", target: inv + "ordering=nope,amount", status: 200, count: 7, ids: []int{1, 2, 3, 4, 5, 6, 7}},
		{name: "all invalid: default", target: inv + "ordering=--amount,pk", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "plus is a space", target: inv + "ordering=%2Bamount", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "stripped terms", target: inv + "ordering=+amount+", status: 200, count: 7, ids: []int{1, 2, 3, 4, 5, 6, 7}},
		{name: "ties by id, last term's direction", target: inv + "ordering=-status", status: 200, count: 7, ids: []int{5, 3, 4, 1, 7, 6, 2}},
		{name: "ties ascending", target: inv + "ordering=status", status: 200, count: 7, ids: []int{2, 6, 7, 1, 4, 3, 5}},
		{name: "two keys", target: inv + "ordering=offering,-amount", status: 200, count: 7, ids: []int{7, 5, 3, 1, 6, 4, 2}},
		{name: "NULLs last ascending", target: inv + "ordering=processed_at", status: 200, count: 7, ids: []int{1, 2, 3, 4, 5, 6, 7}},
		{name: "NULLs first descending", target: inv + "ordering=-processed_at", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "reference", target: inv + "ordering=-reference_id", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "not an ordering field", target: inv + "ordering=payment_method", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "offerings: opened_at NULLs last", target: "/api/offerings/?ordering=opened_at", status: 200, count: 2, ids: []int{1, 2}},
		{name: "offerings: default", target: "/api/offerings/", status: 200, count: 2, ids: []int{1, 2}},
		{name: "offerings: name desc", target: "/api/offerings/?ordering=-name", status: 200, count: 2, ids: []int{2, 1}},
	})
}

func TestPagination(t *testing.T) {
	t.Parallel()
	h := openProbe(t, true).Handler()
	runRows(t, h, keyAuth, []row{
		{name: "page 2 of 3", target: inv + "page_size=3&page=2", status: 200, count: 7, ids: []int{4, 3, 2}},
		{name: "last", target: inv + "page_size=3&page=last", status: 200, count: 7, ids: []int{1}},
		{name: "Last is not last", target: inv + "page=Last", status: 404, body: `{"detail":"Invalid page."}`},
		{name: "empty page value", target: inv + "page=", status: 404, body: `{"detail":"Invalid page."}`},
		{name: "beyond", target: inv + "page_size=3&page=4", status: 404, body: `{"detail":"Invalid page."}`},
		{name: "int() forms", target: inv + "page_size=3&page=%EF%BC%92", status: 200, count: 7, ids: []int{4, 3, 2}},
		{name: "page 1 of nothing", target: inv + "status=refunded", status: 200, count: 0, ids: []int{}},
		{name: "page 2 of nothing", target: inv + "status=refunded&page=2", status: 404, body: `{"detail":"Invalid page."}`},
		{name: "last of nothing", target: inv + "status=refunded&page=last", status: 200, count: 0, ids: []int{}},
		{name: "page_size negative: default", target: inv + "page_size=-2", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "page_size 1", target: inv + "page_size=1&page=7", status: 200, count: 7, ids: []int{1}},
		{name: "page_size huge: clamped to 100", target: inv + "page_size=99999999999999999999999", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
		{name: "filters before pages", target: inv + "page=abc&status=bogus", status: 400, has: "bogus"},
	})
	// Links: parse_qs + sorted urlencode on the URL the client sent.
	tests := []struct {
		name, target, next, prev string
	}{
		{"repeated parameters are kept", inv + "zz=x&page_size=1&b=2&b=1", "/api/investments/?b=2&b=1&page=2&page_size=1&zz=x", "null"},
		{"re-encoded values", inv + "page_size=2&page=2&x=a%2Fb+c%3A%C3%A9", "/api/investments/?page=3&page_size=2&x=a%2Fb+c%3A%C3%A9", "/api/investments/?page_size=2&x=a%2Fb+c%3A%C3%A9"},
		{"blank values kept", inv + "page_size=2&q&r=", "/api/investments/?page=2&page_size=2&q=&r=", "null"},
		{"page=last links", inv + "page_size=2&page=last", "null", "/api/investments/?page=3&page_size=2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := decodePage(t, get(t, h, tt.target))
			if strip(p.Next) != tt.next || strip(p.Previous) != tt.prev {
				t.Fatalf("next %s previous %s\nwant %s %s", strip(p.Next), strip(p.Previous), tt.next, tt.prev)
			}
		})
	}
}

// TestLinksUnderPrefix mounts the handler as the lead does and checks the
// links carry the scheme, host and mount prefix the client used.
func TestLinksUnderPrefix(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("/sandbox/issuance/", http.StripPrefix("/sandbox/issuance", openProbe(t, true).Handler()))
	r := do(t, mux, "GET", "http://console.example:8080/sandbox/issuance/api/investments/?page_size=3&page=2", keyAuth, nil, "")
	p := decodePage(t, r)
	if *p.Next != "http://console.example:8080/sandbox/issuance/api/investments/?page=3&page_size=3" ||
		*p.Previous != "http://console.example:8080/sandbox/issuance/api/investments/?page_size=3" {
		t.Fatalf("links %s %s", *p.Next, *p.Previous)
	}
	r = do(t, mux, "GET", "/sandbox/issuance/api/offerings?x=1", keyAuth, nil, "")
	if r.status != http.StatusMovedPermanently || r.header.Get("Location") != "/sandbox/issuance/api/offerings/?x=1" {
		t.Fatalf("redirect %d %q", r.status, r.header.Get("Location"))
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	h := openProbe(t, true).Handler()
	tests := []struct {
		name, target, auth string
		status             int
		body               string
	}{
		{"Api-Key", "/api/investments/1/", keyAuth, 200, ""},
		{"keyword case-insensitive", "/api/investments/1/", "api-key " + DefaultAPIKey, 200, ""},
		{"no credentials", "/api/investments/", "", 401, `{"detail":"Authentication credentials were not provided."}`},
		{"wrong key", "/api/offerings/", "Api-Key nope", 401, `{"detail":"Authentication credentials were not provided."}`},
		{"key without keyword", "/api/offerings/", DefaultAPIKey, 401, `{"detail":"Authentication credentials were not provided."}`},
		{"token on an Api-Key endpoint", "/api/offerings/", tokenAuth, 403, `{"detail":"You do not have permission to perform this action."}`},
		{"bad token", "/api/offerings/", "Bearer nope", 401, `{"detail":"Invalid token."}`},
		{"Firebase endpoint with token", "/api/users/", tokenAuth, 200, ""},
		{"Firebase endpoint with Api-Key", "/api/investors/", keyAuth, 401, `{"detail":"Authentication credentials were not provided."}`},
		{"summary anonymous", "/api/investments/summary/", "", 200, `{"total_amount_committed":{"investor_count":3}}`},
		{"summary with key", "/api/investments/summary/", keyAuth, 200, `{"total_amount_committed":{"amount":1302.0,"investor_count":3}}`},
		{"summary with token", "/api/investments/summary/", tokenAuth, 200, `{"total_amount_committed":{"amount":1302.0,"investor_count":3}}`},
		{"summary with a bad token", "/api/investments/summary/", "Bearer nope", 401, `{"detail":"Invalid token."}`},
		{"summary with a bad key is anonymous", "/api/investments/summary/", "Api-Key nope", 200, `{"total_amount_committed":{"investor_count":3}}`},
		{"auth before method", "/api/investments/statuses/", "", 401, `{"detail":"Authentication credentials were not provided."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, h, "GET", tt.target, tt.auth, nil, "")
			if r.status != tt.status || (tt.body != "" && string(r.body) != tt.body) {
				t.Fatalf("%d %s, want %d %s", r.status, r.body, tt.status, tt.body)
			}
			if r.status == 401 && r.header.Get("WWW-Authenticate") != `Bearer realm="api"` {
				t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
			}
		})
	}
}

func TestRoutesAndMethods(t *testing.T) {
	t.Parallel()
	h := openProbe(t, true).Handler()
	tests := []struct {
		name, method, target, auth, accept string
		status                             int
		body, allow                        string
	}{
		{"405 after auth", "DELETE", "/api/investments/1/", keyAuth, "", 405, `{"detail":"Method \"DELETE\" not allowed."}`, "GET, HEAD, OPTIONS"},
		{"401 before 405", "POST", "/api/investments/", "", "", 401, "", ""},
		{"users allow POST", "PUT", "/api/users/", tokenAuth, "", 405, `{"detail":"Method \"PUT\" not allowed."}`, "GET, POST, HEAD, OPTIONS"},
		{"OPTIONS", "OPTIONS", "/api/offerings/", keyAuth, "", 200, `{"name":"Offering List","description":"Management of Offerings.","renders":["application/json"],"parses":["application/json","application/x-www-form-urlencoded","multipart/form-data"]}`, "GET, HEAD, OPTIONS"},
		{"HEAD", "HEAD", "/api/offerings/1/", keyAuth, "", 200, "", ""},
		{"unknown path", "GET", "/api/nope/", keyAuth, "", 404, djangoNotFound, ""},
		{"detail id with a dot is no route", "GET", "/api/investments/1.5/", keyAuth, "", 404, djangoNotFound, ""},
		{"format=json", "GET", "/api/investments/1/?format=json", keyAuth, "", 200, "", ""},
		{"format=api", "GET", "/api/investments/1/?format=api", keyAuth, "", 404, `{"detail":"Not found."}`, ""},
		{"Accept html only", "GET", "/api/investments/1/", keyAuth, "text/html", 406, `{"detail":"Could not satisfy the request Accept header."}`, ""},
		{"Accept with JSON", "GET", "/api/investments/1/", keyAuth, "text/html, application/json;q=0.9", 200, "", ""},
		{"too many fields", "GET", "/api/investments/?" + strings.Repeat("a=1&", 1000), keyAuth, "", 400, djangoBadRequest, ""},
		{"no slash redirect keeps the query", "GET", "/api/investments?page=2", keyAuth, "", 301, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.target, nil)
			req.RequestURI = tt.target
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || (tt.body != "" && rec.Body.String() != tt.body) {
				t.Fatalf("%d %s, want %d %s", rec.Code, rec.Body.String(), tt.status, tt.body)
			}
			if tt.allow != "" && rec.Header().Get("Allow") != tt.allow {
				t.Fatalf("Allow %q, want %q", rec.Header().Get("Allow"), tt.allow)
			}
			if tt.status == 301 && rec.Header().Get("Location") != "/api/investments/?page=2" {
				t.Fatalf("Location %q", rec.Header().Get("Location"))
			}
		})
	}
}

func TestDetail(t *testing.T) {
	t.Parallel()
	runRows(t, openProbe(t, true).Handler(), keyAuth, []row{
		{name: "found", target: "/api/investments/2/", status: 200, has: `"investor_individual_name":"Seán O'Brien"`},
		{name: "extra fields as given", target: "/api/investments/2/", status: 200, has: `"accredited_investor":true,"net_worth":"1500000.00","annual_income":null`},
		{name: "times in UTC with Z, microseconds", target: "/api/investments/2/", status: 200, has: `"updated_at":"2024-01-02T23:45:00.250000Z"`},
		{name: "null times", target: "/api/investments/6/", status: 200, has: `"processed_at":null`},
		{name: "id with spaces (int())", target: "/api/investments/%202/", status: 200, has: `{"id":2,`},
		{name: "id with zeros", target: "/api/investments/002/", status: 200, has: `{"id":2,`},
		{name: "filters apply to details", target: "/api/investments/2/?status=started", status: 404, body: `{"detail":"Not found."}`},
		{name: "filters validate on details", target: "/api/investments/2/?status=nope", status: 400, has: `"status"`},
		{name: "search applies to details", target: "/api/investments/2/?search=obrien", status: 200, has: `{"id":2,`},
		{name: "offering object with defaults", target: "/api/offerings/2/", status: 200, has: `"description":"Notes \"Series B\"","security_type":"Common Stock","share_or_unit":"Shares"`},
		{name: "offering decimals normalised", target: "/api/offerings/2/", status: 200, has: `"reg_cf_fee_percentage":"4.5000"`},
		{name: "offering times", target: "/api/offerings/1/", status: 200, has: `"created_at":"2023-12-01T09:00:00Z","opened_at":"2023-12-15T09:00:00Z"}`},
	})
}

func TestStatusesAndValues(t *testing.T) {
	t.Parallel()
	h := openProbe(t, true).Handler()
	r := get(t, h, "/api/investments/statuses/")
	var s struct {
		Success bool
		Message string
		Data    struct{ Statuses []choice }
	}
	if err := json.Unmarshal(r.body, &s); err != nil || !s.Success || len(s.Data.Statuses) != 11 || s.Data.Statuses[10].Label != "Accepted Escrow Closed" {
		t.Fatalf("statuses %s", r.body)
	}
	runRows(t, h, keyAuth, []row{
		{name: "values", target: "/api/investments/values/?field=status,offering", status: 200,
			body: `{"success":true,"message":"","data":{"status":["accepted","cancelled","received","started"],"offering":[1,2]}}`},
		{name: "values honour filters", target: "/api/investments/values/?field=investor__type&offering=2", status: 200,
			body: `{"success":true,"message":"","data":{"investor__type":["company","person","trust"]}}`},
		{name: "values filter errors", target: "/api/investments/values/?field=status&offering=9", status: 400, has: `"offering"`},
		{name: "values unknown field", target: "/api/investments/values/?field=amount", status: 400, has: `"success":false,"message":"Field \"amount\" is not allowed.`},
		{name: "values without field", target: "/api/investments/values/", status: 400, has: `"success":false`},
		{name: "summary honours filters and slug", target: "/api/investments/summary/?slug=beta-notes", status: 200,
			body: `{"total_amount_committed":{"amount":1201.5,"investor_count":3}}`},
		{name: "summary filter errors", target: "/api/investments/summary/?processed_at__date__gte=x", status: 400, has: `processed_at__date__gte`},
	})
	runRows(t, h, tokenAuth, []row{
		{name: "investor values", target: "/api/investors/values/?field=type,entity__kyc_status", status: 200,
			body: `{"success":true,"message":"","data":{"type":["company","person","trust"],"entity__kyc_status":["passed","processing"]}}`},
	})
}

func TestInvestorsAndOfferings(t *testing.T) {
	t.Parallel()
	h := openProbe(t, true).Handler()
	runRows(t, h, tokenAuth, []row{
		{name: "investors default order id", target: "/api/investors/", status: 200, count: 3, ids: []int{1, 2, 3}},
		{name: "investor type", target: "/api/investors/?type=company", status: 200, count: 1, ids: []int{2}},
		{name: "investor user unknown", target: "/api/investors/?user=9", status: 400, has: `"user"`},
		{name: "investor third-party e-mail", target: "/api/investors/?user__thirdpartyissueruser__email=zoe@example.org", status: 200, count: 1, ids: []int{3}},
		{name: "investor search", target: "/api/investors/?search=O%27BRIEN", status: 200, count: 1, ids: []int{2}},
		{name: "investor detail", target: "/api/investors/3/", status: 200,
			body: `{"id":3,"type":"trust","user":3,"email":"zoe@example.org","first_name":"Zoë","last_name":"<script>alert(1)</script>","entity":null}`},
	})
	runRows(t, h, keyAuth, []row{
		{name: "issuer", target: "/api/offerings/?issuer=2", status: 200, count: 1, ids: []int{2}},
		{name: "issuer unknown", target: "/api/offerings/?issuer__in=1,3", status: 400, has: `"issuer__in"`},
		{name: "name contains is case-sensitive", target: "/api/offerings/?name__contains=acme", status: 200, count: 0, ids: []int{}},
		{name: "name contains", target: "/api/offerings/?name__contains=Acme", status: 200, count: 1, ids: []int{1}},
		{name: "status contains (a CharFilter)", target: "/api/offerings/?status__contains=pen", status: 200, count: 1, ids: []int{1}},
		{name: "status choice", target: "/api/offerings/?status=open", status: 400, has: "open is not one of"},
		{name: "type in", target: "/api/offerings/?type__in=reg_cf,nope", status: 200, count: 1, ids: []int{2}},
		{name: "opened_at exact", target: "/api/offerings/?opened_at=2023-12-15T09:00:00Z", status: 200, count: 1, ids: []int{1}},
		{name: "slug in", target: "/api/offerings/?slug__in=acme-fund,beta-notes", status: 200, count: 2, ids: []int{1, 2}},
	})
}
