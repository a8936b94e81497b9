package issuance

import (
	"bufio"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// documentedParams reads the query parameters of each list endpoint from the
// Issuance reference (testdata holds the seed document as received).
func documentedParams(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("testdata/issuer-api-reference.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	nameRe := regexp.MustCompile(`^([a-z_]+?)(number|string|integer|boolean)(\[\]| ·|Optional)`)
	out := map[string][]string{}
	var pending []string
	inParams, prev := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "Query parameters":
			inParams, pending = true, nil
		case line == "Responses":
			inParams = false
		case inParams:
			if m := nameRe.FindStringSubmatch(line); m != nil {
				pending = append(pending, m[1])
			}
		case strings.HasPrefix(line, "/api/") && (prev == "get" || prev == "post" || prev == "patch"):
			if len(pending) > 0 {
				out[line] = pending
				pending = nil
			}
		}
		prev = line
	}
	return out
}

func names(ps []Param) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	slices.Sort(out)
	return out
}

// The parameter tables hold exactly the documented parameters.
func TestParamTablesMatchTheReference(t *testing.T) {
	t.Parallel()
	doc := documentedParams(t)
	for path, table := range map[string][]Param{
		"/api/investments/": InvestmentParams, "/api/offerings/": OfferingParams,
		"/api/investors/": InvestorParams, "/api/users/": UserParams,
	} {
		want := slices.Clone(doc[path])
		slices.Sort(want)
		if len(want) < 5 {
			t.Fatalf("%s: only %d parameters read from the reference", path, len(want))
		}
		if got := names(table); !slices.Equal(got, want) {
			t.Errorf("%s:\n table     %v\n reference %v", path, got, want)
		}
	}
	if n := len(doc["/api/investments/"]); n != 79 {
		t.Errorf("the reference documents %d investment parameters; expected 79", n)
	}
}

// The typed filters cover every documented parameter except the broken
// boolean __in filters and pagination (PageOpts).
func TestTypedFiltersCoverTheTables(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		filter any
		table  []Param
	}{
		{InvestmentFilter{}, InvestmentParams}, {OfferingFilter{}, OfferingParams},
		{InvestorFilter{}, InvestorParams}, {UserFilter{}, UserParams},
	} {
		var tags []string
		rt := reflect.TypeOf(tc.filter)
		for i := range rt.NumField() {
			tags = append(tags, rt.Field(i).Tag.Get("param"))
		}
		slices.Sort(tags)
		var want []string
		for _, p := range tc.table {
			if !p.Broken && p.Kind != KPage && p.Kind != KPageSize {
				want = append(want, p.Name)
			}
		}
		slices.Sort(want)
		if !slices.Equal(tags, want) {
			t.Errorf("%T:\n tags  %v\n table %v", tc.filter, tags, want)
		}
	}
}

func TestEncodeInvestmentFilter(t *testing.T) {
	t.Parallel()
	plus1 := time.FixedZone("", 3600)
	f := InvestmentFilter{
		AmountGte:        Ptr(MustDecimal("300.5")),
		AmountIn:         []Decimal{"100.50", "300.50"},
		CreatedAtGte:     Ptr(time.Date(2024, 1, 3, 23, 30, 0, 0, plus1)),
		CreatedAtDateLte: Ptr(NewDate(2024, 1, 4)),
		IDIn:             []int64{1, 2},
		IsApproved:       Ptr(false),
		StatusIn:         []Status{StatusStarted, StatusAccepted},
		Ordering:         []string{"-amount", "id"},
		Search:           "REF Acme",
		Offering:         Ptr(int64(7)),
	}
	got := f.Values().Encode()
	want := "amount__gte=300.5&amount__in=100.50%2C300.50&created_at__date__lte=2024-01-04&created_at__gte=2024-01-03T23%3A30%3A00%2B01%3A00" +
		"&id__in=1%2C2&investmentapproval__is_approved=false&offering=7&ordering=-amount%2Cid&search=REF+Acme&status__in=started%2Caccepted"
	if got != want {
		t.Fatalf("encoded\n %s\nwant\n %s", got, want)
	}
	// Every parameter the filter sends passes the local check.
	if c := CheckQuery(InvestmentParams, f.Values()); !c.OK() || len(c.Notes) != 0 {
		t.Fatalf("check of an encoded filter: %+v", c)
	}
}

// Local checks give django-filter's answers (drf-probe-transcript.txt).
func TestCheckQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		query  string
		errors map[string]string
		note   string // a parameter expected to carry a note
	}{
		{"status=bogus", map[string]string{"status": msgChoice("bogus")}, ""},
		{"status=Started", map[string]string{"status": msgChoice("Started")}, ""},
		{"status__in=bogus", nil, "status__in"},
		{"id=abc", map[string]string{"id": MsgNumber}, ""},
		{"id__in=1,abc", map[string]string{"id__in": MsgNumber}, ""},
		{"id__in=1,,2", nil, ""},
		{"id__in=1,%202", nil, ""},
		{"amount__gt=abc", map[string]string{"amount__gt": MsgNumber}, ""},
		{"amount=1e2", nil, ""},
		{"amount=1_000.5", nil, ""},
		{"amount=NaN", map[string]string{"amount": MsgNumber}, ""},
		{"created_at__date__gte=2024-13-01", map[string]string{"created_at__date__gte": MsgDate}, ""},
		{"created_at__date__gte=2024-01-03T00:00:00Z", map[string]string{"created_at__date__gte": MsgDate}, ""},
		{"created_at__date__gte=01/03/2024", nil, ""},
		{"created_at__date__gte=2024-1-3", nil, ""},
		{"created_at__date__gte=20240103", map[string]string{"created_at__date__gte": MsgDate}, ""},
		{"created_at__gte=2024-01-03T23:30:00Z", nil, ""},
		{"created_at__gte=2024-01-03T23:30:00%2B01:00", nil, ""},
		{"created_at__gte=2024-01-03T23:30:00+01:00", map[string]string{"created_at__gte": MsgDateTime}, ""},
		{"created_at__gte=2024-01-03T23:30:00", nil, ""},
		{"created_at__gte=2024-01-03%2023:30", nil, ""},
		{"created_at__gte=2024-01-03", map[string]string{"created_at__gte": MsgDateTime}, ""},
		{"created_at__in=2024-01-01T23:30:00Z,2024-01-02T23:30:00Z", nil, ""},
		{"processed_at__isnull=True", nil, ""},
		{"processed_at__isnull=yes", nil, "processed_at__isnull"},
		{"investmentapproval__is_approved=maybe", nil, "investmentapproval__is_approved"},
		{"investmentapproval__is_approved__in=true", nil, "investmentapproval__is_approved__in"},
		{"offering=abc", map[string]string{"offering": MsgPK}, ""},
		{"offering__in=1,x", map[string]string{"offering__in": MsgPK}, ""},
		{"status=bogus&id=abc", map[string]string{"status": msgChoice("bogus"), "id": MsgNumber}, ""},
		{"zzz=1", nil, "zzz"},
		{"status=&id=", nil, ""},
		{"page=0", map[string]string{"page": "Invalid page."}, ""},
		{"page=last&page_size=abc", nil, "page_size"},
		{"status=started&status=bogus", map[string]string{"status": msgChoice("bogus")}, "status"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			c := CheckQuery(InvestmentParams, q)
			if len(c.Errors) != len(tt.errors) {
				t.Fatalf("errors %v, want %v", c.Errors, tt.errors)
			}
			for k, msg := range tt.errors {
				if len(c.Errors[k]) != 1 || c.Errors[k][0] != msg {
					t.Fatalf("%s: %v, want %q", k, c.Errors[k], msg)
				}
			}
			if tt.note != "" && c.Notes[tt.note] == "" {
				t.Fatalf("no note on %s: %v", tt.note, c.Notes)
			}
		})
	}
}

func TestRewriteBroken(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"investmentapproval__is_approved__in=true", "investmentapproval__is_approved=true"},
		{"investmentapproval__is_approved__in=0", "investmentapproval__is_approved=false"},
		{"investmentapproval__is_approved__in=true,false", ""},
		{"watchlistentity__has_hits__in=True&status=accepted", "status=accepted&watchlistentity__has_hits=true"},
		{"watchlistentity__has_hits__in=true&watchlistentity__has_hits=false", "watchlistentity__has_hits=false"},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.in)
		if got := RewriteBroken(InvestmentParams, q).Encode(); got != tt.want {
			t.Errorf("%s → %s, want %s", tt.in, got, tt.want)
		}
	}
	q, _ := url.ParseQuery("archived__in=false&issuer__archived__in=1")
	if got := RewriteBroken(OfferingParams, q).Encode(); got != "archived=false&issuer__archived=true" {
		t.Errorf("offerings: %s", got)
	}
}

func TestParseDjangoDateTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // RFC 3339 in UTC, "" = invalid
	}{
		{"2024-01-03T23:30:00Z", "2024-01-03T23:30:00Z"},
		{"2024-01-03T23:30:00+01:00", "2024-01-03T22:30:00Z"},
		{"2024-01-03T23:30:00-0530", "2024-01-04T05:00:00Z"},
		{"2024-01-03 23:30", "2024-01-03T23:30:00Z"},
		{"2024-1-3T1:2", "2024-01-03T01:02:00Z"},
		{"2024-01-03T23:30:00.123456789Z", "2024-01-03T23:30:00.123456Z"},
		{"2024-01-03T23:30:00,5Z", "2024-01-03T23:30:00.5Z"},
		{"2024-02-30T00:00", ""},
		{"2024-01-03T24:00", ""},
		{"2024-01-03", ""},
		{"2024-01-03T23:30:00 01:00", ""},
	}
	for _, tt := range tests {
		got, ok := ParseDjangoDateTime(tt.in)
		if tt.want == "" {
			if ok {
				t.Errorf("%q parsed as %v", tt.in, got)
			}
			continue
		}
		if !ok || got.UTC().Format(time.RFC3339Nano) != tt.want {
			t.Errorf("%q → %v (%v), want %s", tt.in, got.UTC().Format(time.RFC3339Nano), ok, tt.want)
		}
	}
}

func FuzzCheckQuery(f *testing.F) {
	for _, s := range []string{"status=bogus&id=abc", "created_at__gte=2024-01-03T23:30:00%2B01:00", "amount__in=1,2,,x", "page=last", "investmentapproval__is_approved__in=true", "%zz"} {
		f.Add(s)
	}
	known := []string{MsgNumber, MsgDate, MsgDateTime, MsgPK, "Invalid page."}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		c := CheckQuery(InvestmentParams, q)
		for k, msgs := range c.Errors {
			if _, ok := FindParam(InvestmentParams, k); !ok {
				t.Fatalf("error on unknown parameter %q", k)
			}
			for _, m := range msgs {
				if !slices.Contains(known, m) && !strings.HasPrefix(m, "Select a valid choice. ") {
					t.Fatalf("unexpected message %q", m)
				}
			}
		}
		// Rewriting never leaves a broken filter in the query.
		out := RewriteBroken(InvestmentParams, q)
		for _, p := range InvestmentParams {
			if p.Broken && out.Has(p.Name) {
				t.Fatalf("%s survived RewriteBroken", p.Name)
			}
		}
	})
}

func FuzzParseDjangoDateTime(f *testing.F) {
	for _, s := range []string{"2024-01-03T23:30:00Z", "2024-1-3 1:2:3.4+05:30", "9999-12-31T23:59:59.999999-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, ok := ParseDjangoDateTime(s)
		if !ok {
			return
		}
		// Whatever parses survives a round trip through the encoding we send.
		back, ok := ParseDjangoDateTime(tm.Format(time.RFC3339Nano))
		if !ok || !back.Equal(tm) {
			t.Fatalf("%q → %v does not round-trip (%v %v)", s, tm, back, ok)
		}
	})
}
