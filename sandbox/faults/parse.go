package faults

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// httpMethods are the methods a rule can name.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// ParseRules reads the flag syntax: rules separated by ";", each
//
//	API [METHOD] [/path-prefix] key=value ...
//
// with keys latency (a duration), 5xx, 5xx-after, 429, hang, hang-after,
// expire (shares between 0 and 1), status (500-599), retry-after (a
// duration) and ratelimit (requests per second above which the answer is
// 429 with Retry-After, like "20/s"), e.g.
//
//	cashlink POST /api/external/v2/investments/ 5xx=0.1 latency=50ms; issuance 429=0.05 retry-after=2s
//
// Errors name the rule and the bad token. An empty string is no rules.
func ParseRules(s string) ([]Rule, error) {
	var rules []Rule
	n := 0
	for _, part := range strings.Split(s, ";") {
		fields := strings.Fields(part)
		if len(fields) == 0 {
			continue
		}
		n++
		r, err := parseRule(fields)
		if err != nil {
			return nil, fmt.Errorf("faults: rule %d (%q): %w", n, strings.TrimSpace(part), err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func parseRule(fields []string) (Rule, error) {
	r := Rule{API: fields[0]}
	if !contains(APIs, r.API) {
		return r, fmt.Errorf("token %q: the first word must be the API, issuance or cashlink", fields[0])
	}
	rest := fields[1:]
	if len(rest) > 0 && contains(httpMethods, rest[0]) {
		r.Method, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 && strings.HasPrefix(rest[0], "/") {
		r.Path, rest = rest[0], rest[1:]
	}
	seen := map[string]bool{}
	for _, tok := range rest {
		k, v, ok := strings.Cut(tok, "=")
		if !ok || v == "" {
			return r, fmt.Errorf("token %q: want key=value (or a method/path before the first key)", tok)
		}
		if seen[k] {
			return r, fmt.Errorf("token %q: %s is given twice", tok, k)
		}
		seen[k] = true
		if err := setKey(&r, k, v); err != nil {
			return r, fmt.Errorf("token %q: %w", tok, err)
		}
	}
	if err := r.Validate(); err != nil {
		return r, err
	}
	return r, nil
}

func setKey(r *Rule, k, v string) error {
	share := func(dst *float64) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f >= 0 && f <= 1) {
			return fmt.Errorf("%s wants a share between 0 and 1, like 0.1", k)
		}
		*dst = f
		return nil
	}
	dur := func(dst *time.Duration) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("%s wants a duration like 50ms or 2s", k)
		}
		*dst = d
		return nil
	}
	switch k {
	case "latency":
		return dur(&r.Latency)
	case "retry-after":
		return dur(&r.RetryAfter)
	case "5xx":
		return share(&r.Error5xx)
	case "5xx-after":
		return share(&r.Error5xxAfter)
	case "429":
		return share(&r.RateLimit)
	case "hang":
		return share(&r.Hang)
	case "hang-after":
		return share(&r.HangAfter)
	case "expire":
		return share(&r.ExpireTokens)
	case "ratelimit":
		f, err := strconv.ParseFloat(strings.TrimSuffix(v, "/s"), 64)
		if err != nil || !(f > 0 && f <= 1e6) {
			return fmt.Errorf("ratelimit wants requests per second, like 20/s")
		}
		r.MaxRate = f
		return nil
	case "status":
		n, err := strconv.Atoi(v)
		if err != nil || n < 500 || n > 599 {
			return fmt.Errorf("status wants a 5xx code like 502")
		}
		r.Status = n
		return nil
	}
	return fmt.Errorf("unknown key %q (want latency, 5xx, 5xx-after, status, 429, ratelimit, retry-after, hang, hang-after or expire)", k)
}

// String writes the rule in the flag syntax (ParseRules reads it back).
func (r Rule) String() string {
	parts := []string{r.API}
	if r.Method != "" {
		parts = append(parts, r.Method)
	}
	if r.Path != "" {
		parts = append(parts, r.Path)
	}
	f := func(k string, v float64) {
		if v != 0 {
			parts = append(parts, k+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	if r.Latency != 0 {
		parts = append(parts, "latency="+r.Latency.String())
	}
	f("5xx", r.Error5xx)
	f("5xx-after", r.Error5xxAfter)
	if r.Status != 0 {
		parts = append(parts, "status="+strconv.Itoa(r.Status))
	}
	f("429", r.RateLimit)
	if r.MaxRate != 0 {
		parts = append(parts, "ratelimit="+strconv.FormatFloat(r.MaxRate, 'g', -1, 64)+"/s")
	}
	if r.RetryAfter != 0 {
		parts = append(parts, "retry-after="+r.RetryAfter.String())
	}
	f("hang", r.Hang)
	f("hang-after", r.HangAfter)
	f("expire", r.ExpireTokens)
	return strings.Join(parts, " ")
}

// FormatRules writes rules in the flag syntax.
func FormatRules(rules []Rule) string {
	s := make([]string, len(rules))
	for i, r := range rules {
		s[i] = r.String()
	}
	return strings.Join(s, "; ")
}

// ruleJSON is Rule with its durations as strings ("50ms").
type ruleJSON struct {
	plainRule
	Latency    string `json:"latency,omitempty"`
	RetryAfter string `json:"retry_after,omitempty"`
}

type plainRule Rule

// MarshalJSON writes durations as Go duration strings.
func (r Rule) MarshalJSON() ([]byte, error) {
	j := ruleJSON{plainRule: plainRule(r)}
	if r.Latency != 0 {
		j.Latency = r.Latency.String()
	}
	if r.RetryAfter != 0 {
		j.RetryAfter = r.RetryAfter.String()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads durations as Go duration strings ("50ms"); unknown
// fields are an error, so a typo does not silently disable a fault.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var j ruleJSON
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("fault rule: %w", err)
	}
	*r = Rule(j.plainRule)
	for _, d := range []struct {
		name string
		s    string
		dst  *time.Duration
	}{{"latency", j.Latency, &r.Latency}, {"retry_after", j.RetryAfter, &r.RetryAfter}} {
		if d.s == "" {
			continue
		}
		v, err := time.ParseDuration(d.s)
		if err != nil {
			return fmt.Errorf("fault rule: %s %q: want a duration like \"50ms\"", d.name, d.s)
		}
		*d.dst = v
	}
	return nil
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// Value is a flag.Value in the flag syntax, e.g.
//
//	var rules faults.Value
//	flag.Var(&rules, "sandbox-faults", "fault rules: cashlink POST /api/external/v2/investments/ 5xx=0.1; ...")
//	...
//	injector.Set(rules.Rules)
type Value struct{ Rules []Rule }

// String is the rules in the flag syntax.
func (v *Value) String() string {
	if v == nil {
		return ""
	}
	return FormatRules(v.Rules)
}

// Set parses the flag syntax (ParseRules).
func (v *Value) Set(s string) error {
	r, err := ParseRules(s)
	if err != nil {
		return err
	}
	v.Rules = r
	return nil
}
