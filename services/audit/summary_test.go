package audit

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// sameSummary compares two summaries as JSON values, with the lists of
// keys as sets (summarizeDecoded lists them in map order).
func sameSummary(a, b string) bool {
	if a == b {
		return true
	}
	var x, y map[string]any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	for _, m := range []map[string]any{x, y} {
		for _, k := range []string{"keys", "data_keys"} {
			if l, ok := m[k].([]any); ok {
				slices.SortFunc(l, func(p, q any) int { return strings.Compare(fmt.Sprint(p), fmt.Sprint(q)) })
			}
		}
	}
	return reflect.DeepEqual(x, y)
}

var summaryCases = []string{
	``,
	`   `,
	`not json`,
	`{"count": 3, "next": null, "previous": null, "results": [{"id": 1, "name": "a"}, {"id": 2}, {"name": "no id"}]}`,
	`{"count": 0, "results": []}`,
	`{"results": [{"id": "9f0c\u00e9<&>", "x": {"id": 5}}, 7, "s", null, {"id": [1, {"a": 2}]}]}`,
	`{"results": "not a list", "data": {"b": 1, "a": 2}, "success": true}`,
	`{"success": false, "message": "", "data": {"statuses": [{"value": "x"}]}}`,
	`{"id": 12, "status": "PENDING", "name": "x"}`,
	`{"id": 1.50e+3}`,
	`{"status": "x\"y"}`,
	`{"a": 1, "b": {"c": 2}, "a": 3}`,
	`{"id": 1, "id": 2}`,
	`{"results": [], "results": 5}`,
	`[{"id": 1}, {"id": -0.5}, 3, {"other": true}]`,
	`[]`,
	`42`,
	`"text"`,
	`{"count": 1, "results": [{"id": 1}]} trailing`,
	`{"count": 1, "results": [{"id": 1}]`,
	`{"count": 01}`,
	`{"a": "\x01"}`,
	`{"a": "\ud800"}`,
	"{\"a\": \"\xff\xfe\"}",
	`{"a\u0062c": 1}`,
	`{"results": [{"i\u0064": 4}]}`,
	`{"a": tru}`,
	`{"a": -}`,
	`{"a": 1.}`,
	`{"a": 1e}`,
	`{,}`,
	`{"a":1,}`,
	`[1,]`,
}

func TestSummarizeMatchesDecoding(t *testing.T) {
	t.Parallel()
	for _, body := range summaryCases {
		got, want := summarize([]byte(body)), summarizeDecoded([]byte(body))
		if !sameSummary(got, want) {
			t.Errorf("summarize(%q)\n got %s\nwant %s", body, got, want)
		}
	}
}

func FuzzSummarize(f *testing.F) {
	for _, c := range summaryCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, want := summarize(body), summarizeDecoded(body)
		if !sameSummary(got, want) {
			t.Fatalf("summarize(%q)\n got %s\nwant %s", body, got, want)
		}
	})
}

// issuancePage is a list answer of 25 investments, about the size of the
// search page's (25 KB).
func issuancePage() []byte {
	var b strings.Builder
	b.WriteString(`{"count": 1234, "next": "https://x/api/investments/?page=2", "previous": null, "results": [`)
	for i := range 25 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id": %d, "reference_id": "INV-%07d", "offering": 3, "status": "accepted", "quantity": 120, "price": "10.00",
			"amount": "1200.00", "shares_amount": "1200.00", "payment_method": "card", "investor_individual_name": "José Okafor",
			"processing_issue_statuses": "kyc_processing,watchlist_hits", "processed_at": "2026-01-02T03:04:05Z",
			"updated_at": "2026-01-02T03:04:05Z", "created_at": "2026-01-01T00:00:00Z", "net_worth": "100000.00", "annual_income": "50000.00",
			"accredited_investor": true, "us_person": true, "user_browser_type": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36",
			"payment_intent_id": "pi_3NtZ2eLkdIwHu7ix0cP8hT2v", "has_investor_signed": true, "bonus_shares": null}`, 1000+i, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkSummarize: the one-pass summary against decoding the body
// (the code before), on a 25-investment page, in the same run.
func BenchmarkSummarize(b *testing.B) {
	body := issuancePage()
	if got, want := summarize(body), summarizeDecoded(body); !sameSummary(got, want) {
		b.Fatalf("summaries differ:\n%s\n%s", got, want)
	}
	var decoded float64
	for _, c := range []struct {
		name string
		fn   func([]byte) string
	}{{"decoded", summarizeDecoded}, {"scan", summarize}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				c.fn(body)
			}
			ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			if c.name == "decoded" {
				decoded = ns
			} else if decoded > 0 {
				b.ReportMetric(ns/decoded, "x-decoded")
			}
		})
	}
}
