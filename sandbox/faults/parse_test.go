package faults

import (
	"encoding/json"
	"flag"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []Rule
		wantErr string // the error must contain it
	}{
		{"empty", "", nil, ""},
		{"only separators", " ; ;", nil, ""},
		{"the brief's example", "cashlink POST /api/external/v2/investments/ 5xx=0.1 latency=50ms; issuance 429=0.05 retry-after=2s", []Rule{
			{API: "cashlink", Method: "POST", Path: "/api/external/v2/investments/", Error5xx: 0.1, Latency: 50 * time.Millisecond},
			{API: "issuance", RateLimit: 0.05, RetryAfter: 2 * time.Second},
		}, ""},
		{"every key", "cashlink GET 5xx=0.1 5xx-after=0.2 status=502 429=0.1 retry-after=1s hang=0.05 hang-after=0.3 expire=0.25 latency=1ms", []Rule{
			{API: "cashlink", Method: "GET", Error5xx: 0.1, Error5xxAfter: 0.2, Status: 502, RateLimit: 0.1, RetryAfter: time.Second,
				Hang: 0.05, HangAfter: 0.3, ExpireTokens: 0.25, Latency: time.Millisecond},
		}, ""},
		{"path without method", "issuance /api/offerings/ hang=1", []Rule{{API: "issuance", Path: "/api/offerings/", Hang: 1}}, ""},
		{"unknown API", "stripe 5xx=0.1", nil, `token "stripe"`},
		{"bad share", "cashlink 5xx=abc", nil, `token "5xx=abc"`},
		{"share above 1", "cashlink 429=1.5", nil, `token "429=1.5"`},
		{"negative share", "cashlink hang=-0.1", nil, `token "hang=-0.1"`},
		{"NaN share", "cashlink hang=NaN", nil, `token "hang=NaN"`},
		{"bad duration", "cashlink latency=fast", nil, `token "latency=fast"`},
		{"bad status", "cashlink status=404", nil, `token "status=404"`},
		{"unknown key", "cashlink timeout=1s", nil, `token "timeout=1s": unknown key "timeout"`},
		{"bare word", "cashlink slow", nil, `token "slow"`},
		{"lower-case method", "cashlink post 5xx=1", nil, `token "post"`},
		{"duplicate key", "cashlink 5xx=0.1 5xx=0.2", nil, `token "5xx=0.2": 5xx is given twice`},
		{"before-shares above 1", "cashlink 5xx=0.6 429=0.6", nil, "add up to"},
		{"after-shares above 1", "cashlink 5xx-after=0.6 hang-after=0.6", nil, "add up to"},
		{"second rule named", "cashlink 5xx=0.1; issuance 429=2", nil, "rule 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRules(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
			// The flag syntax and JSON both round-trip.
			back, err := ParseRules(FormatRules(got))
			if err != nil || !reflect.DeepEqual(back, got) {
				t.Fatalf("round trip of %q: %+v, %v", FormatRules(got), back, err)
			}
			b, err := json.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			var fromJSON []Rule
			if err := json.Unmarshal(b, &fromJSON); err != nil || !reflect.DeepEqual(fromJSON, got) {
				t.Fatalf("JSON round trip of %s: %+v, %v", b, fromJSON, err)
			}
		})
	}
}

func TestRuleJSON(t *testing.T) {
	t.Parallel()
	var r Rule
	if err := json.Unmarshal([]byte(`{"api":"cashlink","latency":"250ms","retry_after":"3s","rate_limit":0.5}`), &r); err != nil {
		t.Fatal(err)
	}
	if r.Latency != 250*time.Millisecond || r.RetryAfter != 3*time.Second || r.RateLimit != 0.5 {
		t.Fatalf("%+v", r)
	}
	for _, bad := range []string{`{"api":"cashlink","latncy":"1s"}`, `{"api":"cashlink","latency":"soon"}`, `{"api":"cashlink","latency":5}`} {
		if err := json.Unmarshal([]byte(bad), &r); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

// FuzzParseRules: the parser never panics, and what it accepts is valid
// and survives a round trip through the flag syntax.
func FuzzParseRules(f *testing.F) {
	for _, s := range []string{
		"cashlink POST /api/external/v2/investments/ 5xx=0.1 latency=50ms; issuance 429=0.05 retry-after=2s",
		"issuance hang=1", "cashlink 5xx-after=0.5 status=599 expire=0.1", "cashlink 5xx=1e-3 latency=1h2m",
		"; ;cashlink", "cashlink 5xx=0x1p-2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rules, err := ParseRules(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "faults: rule ") {
				t.Fatalf("error without the rule's name: %v", err)
			}
			return
		}
		for _, r := range rules {
			if err := r.Validate(); err != nil {
				t.Fatalf("accepted an invalid rule %+v: %v", r, err)
			}
		}
		back, err := ParseRules(FormatRules(rules))
		if err != nil || !reflect.DeepEqual(back, rules) {
			t.Fatalf("%q → %q → %+v, %v", s, FormatRules(rules), back, err)
		}
	})
}

func TestFlagValue(t *testing.T) {
	t.Parallel()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var v Value
	fs.Var(&v, "faults", "fault rules")
	if err := fs.Parse([]string{"-faults", "cashlink 5xx=0.5; issuance hang=0.1"}); err != nil {
		t.Fatal(err)
	}
	if len(v.Rules) != 2 || v.String() != "cashlink 5xx=0.5; issuance hang=0.1" {
		t.Fatalf("%+v", v)
	}
	err := fs.Parse([]string{"-faults", "cashlink 5xx=2"})
	if err == nil || !strings.Contains(err.Error(), `token "5xx=2"`) {
		t.Fatalf("err = %v", err)
	}
}
