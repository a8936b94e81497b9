package issuance

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestTranscript replays every line of drf-probe-transcript.txt that
// applies to the seed's filter set, translated to the emulator's settings:
// the probe paged by 2 (sent here as page_size=2, so links carry it) and
// ordered by id, the emulator's default order is -created_at,-id (the
// reverse, for this data); the probe's is_approved is
// investmentapproval__is_approved. testdata/probe_fixture.json rebuilds
// the probe's seven investments (amount id×100+0.50, created
// 2024-01-0<id>T23:30Z, REF-00<id>, offering "Acme Fund" for odd ids).
func TestTranscript(t *testing.T) {
	t.Parallel()
	e := openProbe(t, true)
	h := e.Handler()
	const L = "/api/investments/"
	tests := []struct {
		line       string // the transcript's request
		query      string // what the emulator is sent
		status     int
		count      int
		ids        []int
		next, prev string // without scheme and host; "" = don't check
		body       string // exact body for errors
	}{
		{line: "''", query: "page_size=2", status: 200, count: 7, ids: []int{7, 6}, next: L + "?page=2&page_size=2", prev: "null"},
		{line: "?page=2", query: "page=2&page_size=2", status: 200, count: 7, ids: []int{5, 4}, next: L + "?page=3&page_size=2", prev: L + "?page_size=2"},
		{line: "?page=4", query: "page=4&page_size=2", status: 200, count: 7, ids: []int{1}, next: "null", prev: L + "?page=3&page_size=2"},
		{line: "?page=0", query: "page=0&page_size=2", status: 404, body: `{"detail":"Invalid page."}`},
		{line: "?page=abc", query: "page=abc&page_size=2", status: 404, body: `{"detail":"Invalid page."}`},
		{line: "?page=last", query: "page=last&page_size=2", status: 200, count: 7, ids: []int{1}, next: "null", prev: L + "?page=3&page_size=2"},
		{line: "?page_size=3&page=2", query: "page_size=3&page=2", status: 200, count: 7, ids: []int{4, 3, 2}, next: L + "?page=3&page_size=3", prev: L + "?page_size=3"},
		// The probe's max_page_size was 3; the emulator's is 100.
		{line: "?page_size=100", query: "page_size=1000", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}, next: "null", prev: "null"},
		// Invalid page sizes fall back to the default (probe 2, emulator 20).
		{line: "?page_size=0", query: "page_size=0", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}, next: "null"},
		{line: "?page_size=abc", query: "page_size=abc", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}, next: "null"},
		{line: "?zzz=1&page=2", query: "zzz=1&page=2&page_size=2", status: 200, count: 7, ids: []int{5, 4}, next: L + "?page=3&page_size=2&zzz=1", prev: L + "?page_size=2&zzz=1"},
		{line: "?page=2&zeta=1&alpha=2", query: "page=2&zeta=1&alpha=2&page_size=2", status: 200, count: 7, ids: []int{5, 4}, next: L + "?alpha=2&page=3&page_size=2&zeta=1", prev: L + "?alpha=2&page_size=2&zeta=1"},
		{line: "?page=2&status=accepted", query: "page=2&status=accepted&page_size=2", status: 404, body: `{"detail":"Invalid page."}`},
		{line: "?status=bogus", query: "status=bogus", status: 400, body: `{"status":["Select a valid choice. bogus is not one of the available choices."]}`},
		{line: "?status=Started", query: "status=Started", status: 400, body: `{"status":["Select a valid choice. Started is not one of the available choices."]}`},
		{line: "?status__in=bogus", query: "status__in=bogus", status: 200, count: 0, ids: []int{}, next: "null", prev: "null"},
		{line: "?status__in=started,accepted&page_size=3", query: "status__in=started,accepted&page_size=3", status: 200, count: 4, ids: []int{6, 5, 3}, next: L + "?page=2&page_size=3&status__in=started%2Caccepted", prev: "null"},
		{line: "?id=abc", query: "id=abc", status: 400, body: `{"id":["Enter a number."]}`},
		{line: "?id__in=1,abc", query: "id__in=1,abc", status: 400, body: `{"id__in":["Enter a number."]}`},
		{line: "?id__in=1,,2", query: "id__in=1,,2", status: 200, count: 2, ids: []int{2, 1}},
		{line: "?id__in=1,%202", query: "id__in=1,%202", status: 200, count: 2, ids: []int{2, 1}},
		{line: "?amount__gt=abc", query: "amount__gt=abc", status: 400, body: `{"amount__gt":["Enter a number."]}`},
		{line: "?amount__gte=300.5&amount__lte=500.50", query: "amount__gte=300.5&amount__lte=500.50&page_size=2", status: 200, count: 3, ids: []int{5, 4}, next: L + "?amount__gte=300.5&amount__lte=500.50&page=2&page_size=2", prev: "null"},
		{line: "?amount__in=100.50,300.50", query: "amount__in=100.50,300.50", status: 200, count: 2, ids: []int{3, 1}},
		{line: "?amount=1e2", query: "amount=1e2", status: 200, count: 0, ids: []int{}},
		{line: "?created_at__date__gte=2024-01-03&created_at__date__lte=2024-01-04", query: "created_at__date__gte=2024-01-03&created_at__date__lte=2024-01-04", status: 200, count: 2, ids: []int{4, 3}},
		{line: "?created_at__date__gte=2024-13-01", query: "created_at__date__gte=2024-13-01", status: 400, body: `{"created_at__date__gte":["Enter a valid date."]}`},
		{line: "?created_at__date__gte=2024-01-03T00:00:00Z", query: "created_at__date__gte=2024-01-03T00:00:00Z", status: 400, body: `{"created_at__date__gte":["Enter a valid date."]}`},
		{line: "?created_at__date__gte=01/03/2024", query: "created_at__date__gte=01/03/2024&page_size=2", status: 200, count: 5, ids: []int{7, 6}, next: L + "?created_at__date__gte=01%2F03%2F2024&page=2&page_size=2"},
		{line: "?created_at__date__gte=20240103", query: "created_at__date__gte=20240103", status: 400, body: `{"created_at__date__gte":["Enter a valid date."]}`},
		{line: "?created_at__gte=2024-01-03T23:30:00Z", query: "created_at__gte=2024-01-03T23:30:00Z&page_size=2", status: 200, count: 5, ids: []int{7, 6}, next: L + "?created_at__gte=2024-01-03T23%3A30%3A00Z&page=2&page_size=2"},
		{line: "?created_at__gte=2024-01-03T23:30:00%2B01:00", query: "created_at__gte=2024-01-03T23:30:00%2B01:00&page_size=2", status: 200, count: 5, ids: []int{7, 6}, next: L + "?created_at__gte=2024-01-03T23%3A30%3A00%2B01%3A00&page=2&page_size=2"},
		{line: "?created_at__gte=2024-01-03T23:30:00+01:00", query: "created_at__gte=2024-01-03T23:30:00+01:00", status: 400, body: `{"created_at__gte":["Enter a valid date/time."]}`},
		{line: "?created_at__gte=2024-01-03T23:30:00", query: "created_at__gte=2024-01-03T23:30:00&page_size=2", status: 200, count: 5, ids: []int{7, 6}, next: L + "?created_at__gte=2024-01-03T23%3A30%3A00&page=2&page_size=2"},
		{line: "?created_at__gte=2024-01-03%2023:30", query: "created_at__gte=2024-01-03%2023:30&page_size=2", status: 200, count: 5, ids: []int{7, 6}, next: L + "?created_at__gte=2024-01-03+23%3A30&page=2&page_size=2"},
		{line: "?created_at__gte=2024-01-03", query: "created_at__gte=2024-01-03", status: 400, body: `{"created_at__gte":["Enter a valid date/time."]}`},
		{line: "?created_at__gte=notadate", query: "created_at__gte=notadate", status: 400, body: `{"created_at__gte":["Enter a valid date/time."]}`},
		{line: "?created_at__in=2024-01-01T23:30:00Z,2024-01-02T23:30:00Z", query: "created_at__in=2024-01-01T23:30:00Z,2024-01-02T23:30:00Z", status: 200, count: 2, ids: []int{2, 1}},
		{line: "?processed_at__isnull=true", query: "processed_at__isnull=true", status: 200, count: 2, ids: []int{7, 6}},
		{line: "?processed_at__isnull=True", query: "processed_at__isnull=True", status: 200, count: 2, ids: []int{7, 6}},
		{line: "?processed_at__isnull=1", query: "processed_at__isnull=1", status: 200, count: 2, ids: []int{7, 6}},
		{line: "?processed_at__isnull=0", query: "processed_at__isnull=0&page_size=2", status: 200, count: 5, ids: []int{5, 4}, next: L + "?page=2&page_size=2&processed_at__isnull=0"},
		{line: "?processed_at__isnull=yes", query: "processed_at__isnull=yes&page_size=2", status: 200, count: 7, ids: []int{7, 6}, next: L + "?page=2&page_size=2&processed_at__isnull=yes"},
		{line: "?is_approved=False", query: "investmentapproval__is_approved=False&page_size=2", status: 200, count: 4, ids: []int{7, 5}, next: L + "?investmentapproval__is_approved=False&page=2&page_size=2"},
		{line: "?is_approved=maybe", query: "investmentapproval__is_approved=maybe&page_size=2", status: 200, count: 7, ids: []int{7, 6}},
		{line: "?is_approved__in=true", query: "investmentapproval__is_approved__in=true", status: 500, body: djangoServerError},
		{line: "?is_approved__in=true,false", query: "investmentapproval__is_approved__in=true,false&page_size=2", status: 200, count: 7, ids: []int{7, 6}, next: L + "?investmentapproval__is_approved__in=true%2Cfalse&page=2&page_size=2"},
		{line: "?is_approved__in=", query: "investmentapproval__is_approved__in=&page_size=2", status: 200, count: 7, ids: []int{7, 6}, next: L + "?investmentapproval__is_approved__in=&page=2&page_size=2"},
		// PostgreSQL's LIKE is case-sensitive: the probe (SQLite) also matched
		// investment 4's "KYC_pending".
		{line: "?processing_issue_statuses__contains=kyc", query: "processing_issue_statuses__contains=kyc", status: 200, count: 1, ids: []int{3}},
		{line: "?processing_issue_statuses__startswith=kyc_f", query: "processing_issue_statuses__startswith=kyc_f", status: 200, count: 1, ids: []int{3}},
		{line: "?offering=99", query: "offering=99", status: 400, body: `{"offering":["Select a valid choice. That choice is not one of the available choices."]}`},
		{line: "?offering__in=1,99", query: "offering__in=1,99", status: 400, body: `{"offering__in":["Select a valid choice. That choice is not one of the available choices."]}`},
		{line: "?offering__name=acme%20fund", query: "offering__name=acme%20fund", status: 200, count: 0, ids: []int{}},
		{line: "?reference_id__in=REF-001,ref-002", query: "reference_id__in=REF-001,ref-002", status: 200, count: 1, ids: []int{1}},
		{line: "?status=bogus&id=abc", query: "status=bogus&id=abc", status: 400, body: `{"id":["Enter a number."],"status":["Select a valid choice. bogus is not one of the available choices."]}`},
		{line: "?search=ref-001", query: "search=ref-001", status: 200, count: 1, ids: []int{1}},
		{line: "?search=REF-001,REF-002", query: "search=REF-001,REF-002", status: 200, count: 0, ids: []int{}},
		{line: "?search=REF%20Acme", query: "search=REF%20Acme&page_size=2", status: 200, count: 4, ids: []int{7, 5}, next: L + "?page=2&page_size=2&search=REF+Acme"},
		{line: "?search=%22Acme%20Fund%22", query: "search=%22Acme%20Fund%22", status: 200, count: 0, ids: []int{}},
		{line: "?ordering=-amount", query: "ordering=-amount&page_size=2", status: 200, count: 7, ids: []int{7, 6}, next: L + "?ordering=-amount&page=2&page_size=2"},
		{line: "?ordering=bogus,-amount", query: "ordering=bogus,-amount&page_size=2", status: 200, count: 7, ids: []int{7, 6}, next: L + "?ordering=bogus%2C-amount&page=2&page_size=2"},
		{line: "?ordering=bogus", query: "ordering=bogus&page_size=2", status: 200, count: 7, ids: []int{7, 6}, next: L + "?ordering=bogus&page=2&page_size=2"},
		{line: "?ordering=%20-amount%20,id", query: "ordering=%20-amount%20,id&page_size=2", status: 200, count: 7, ids: []int{7, 6}, next: L + "?ordering=+-amount+%2Cid&page=2&page_size=2"},
		{line: "?ordering=reference_id", query: "ordering=reference_id&page_size=2", status: 200, count: 7, ids: []int{1, 2}},
		{line: "?id=", query: "id=&page_size=2", status: 200, count: 7, ids: []int{7, 6}, next: L + "?id=&page=2&page_size=2"},
		{line: "?created_at__gte=", query: "created_at__gte=&page_size=2", status: 200, count: 7, ids: []int{7, 6}, next: L + "?created_at__gte=&page=2&page_size=2"},
		{line: "?status=started&status=accepted", query: "status=started&status=accepted", status: 200, count: 2, ids: []int{6, 2}},
		{line: "?page=2&page=1", query: "page=2&page=1&page_size=2", status: 200, count: 7, ids: []int{7, 6}, next: L + "?page=2&page_size=2", prev: "null"},
		{line: "?search=%00", query: "search=%00&page_size=2", status: 200, count: 7, ids: []int{7, 6}, next: L + "?page=2&page_size=2&search=%00"},
		{line: "format", query: "format=json", status: 200, count: 7, ids: []int{7, 6, 5, 4, 3, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			r := get(t, h, L+"?"+tt.query)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d; body %s", r.status, tt.status, r.body)
			}
			if tt.body != "" {
				if string(r.body) != tt.body {
					t.Fatalf("body %s\nwant %s", r.body, tt.body)
				}
				return
			}
			p := decodePage(t, r)
			if p.Count != tt.count || !reflect.DeepEqual(p.ids(t), tt.ids) {
				t.Errorf("count %d ids %v, want %d %v", p.Count, p.ids(t), tt.count, tt.ids)
			}
			if tt.next != "" && strip(p.Next) != tt.next {
				t.Errorf("next %s, want %s", strip(p.Next), tt.next)
			}
			if tt.prev != "" && strip(p.Previous) != tt.prev {
				t.Errorf("previous %s, want %s", strip(p.Previous), tt.prev)
			}
		})
	}
}

// TestTranscriptRequests covers the transcript's non-list lines.
func TestTranscriptRequests(t *testing.T) {
	t.Parallel()
	h := openProbe(t, true).Handler()
	tests := []struct {
		name, method, target string
		status               int
		bodyPrefix           string
	}{
		{"detail", "GET", "/api/investments/1/", 200, `{"id":1,"quantity":1,"price":"100.000000","price_fees":"0.50","price_payment_processing_fees":"0.00","amount":"100.50","status":"received",`},
		{"unknown id", "GET", "/api/investments/999/", 404, `{"detail":"Not found."}`},
		{"non-integer id", "GET", "/api/investments/abc/", 404, `{"detail":"Not found."}`},
		{"POST", "POST", "/api/investments/", 405, `{"detail":"Method \"POST\" not allowed."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, h, tt.method, tt.target, keyAuth, nil, "")
			if r.status != tt.status || !strings.HasPrefix(string(r.body), tt.bodyPrefix) {
				t.Fatalf("%d %s\nwant %d %s…", r.status, r.body, tt.status, tt.bodyPrefix)
			}
			if r.status >= 400 && string(r.body) != tt.bodyPrefix {
				t.Fatalf("body %s, want exactly %s", r.body, tt.bodyPrefix)
			}
			if tt.status == 200 && !json.Valid(r.body) {
				t.Fatalf("invalid JSON %s", r.body)
			}
		})
	}
}
