package issuance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestPythonParsers compares the Go reproductions of Python's and Django's
// parsers with the real ones (djangoref/parsers.py) over a few thousand
// generated and mutated inputs per parser. Skipped without the reference
// stack, like TestDifferentialDjango; PARSER_CASES sets the count per kind.
func TestPythonParsers(t *testing.T) {
	t.Parallel()
	python := djangoPython(t)
	n := envInt("PARSER_CASES", 1500)
	r := newRNG(int64(envInt("DIFF_SEED", 1)), 7)
	type tc struct {
		Kind string `json:"kind"`
		S    string `json:"s"`
	}
	var cases []tc
	for _, kind := range []string{"int", "number", "date", "datetime", "bool", "qsl", "quote_plus", "split", "strip"} {
		for i := 0; i < n; i++ {
			cases = append(cases, tc{kind, parserInput(r, kind)})
		}
	}
	in, _ := json.Marshal(cases)
	cmd := exec.Command(python, filepath.Join("djangoref", "parsers.py"))
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("parsers.py: %v\n%s", err, stderr.String())
	}
	var want []string
	if err := json.Unmarshal(out, &want); err != nil || len(want) != len(cases) {
		t.Fatalf("parsers.py output: %v (%d results for %d cases)", err, len(want), len(cases))
	}
	bad := map[string]int{}
	for i, c := range cases {
		got := goParser(c.Kind, c.S)
		if got != want[i] {
			bad[c.Kind]++
			if bad[c.Kind] <= 5 {
				t.Errorf("%s(%q): python %q, go %q", c.Kind, c.S, want[i], got)
			}
		}
	}
	t.Logf("%d inputs per parser, 9 parsers, %d cases: %d disagree %v", n, len(cases), sumCounts(bad), bad)
}

func sumCounts(m map[string]int) int {
	s := 0
	for _, v := range m {
		s += v
	}
	return s
}

// goParser renders the Go result the way parsers.py renders Python's.
func goParser(kind, s string) string {
	switch kind {
	case "int":
		v, ok := pyInt(s)
		if !ok {
			return "ERR ValueError"
		}
		if v.Big {
			digits := strings.TrimLeft(strings.Map(func(r rune) rune {
				if d, ok := pyDigit(r); ok {
					return '0' + rune(d)
				}
				return -1
			}, s), "0")
			if v.Neg {
				return "-" + digits
			}
			return digits
		}
		return strconv.FormatInt(v.Val, 10)
	case "number":
		if s == "" {
			return "None"
		}
		d, msg := cleanNumber(s)
		if msg != "" {
			return "ERR " + msg
		}
		if d.Coef == "" {
			return "0"
		}
		sign := ""
		if d.Neg {
			sign = "-"
		}
		return fmt.Sprintf("%s%se%d", sign, d.Coef, d.Exp)
	case "date":
		if s == "" {
			return "None"
		}
		v, ok := parseDjangoDate(s)
		if !ok {
			return "ERR " + msgDate
		}
		return strconv.FormatInt(v, 10)
	case "datetime":
		if s == "" {
			return "None"
		}
		v, ok := parseDjangoDateTime(s)
		if !ok {
			return "ERR " + msgDateTime
		}
		return strconv.FormatInt(v, 10)
	case "bool":
		v, ok := parseBoolWidget(s)
		if !ok {
			return "None"
		}
		if v {
			return "True"
		}
		return "False"
	case "qsl":
		var pairs [][2]string
		for _, p := range parseQSL(s) {
			pairs = append(pairs, [2]string{p.Name, p.Value})
		}
		if pairs == nil {
			pairs = [][2]string{}
		}
		return pyJSON(pairs)
	case "quote_plus":
		return pyQuotePlus(s)
	case "split":
		parts := pySplit(s)
		if parts == nil {
			parts = []string{}
		}
		return pyJSON(parts)
	case "strip":
		return pyStrip(s)
	}
	return "ERR unknown kind"
}

// pyJSON renders like json.dumps(ensure_ascii=False) with its default
// separators (", " and ": ").
func pyJSON(v any) string {
	var b bytes.Buffer
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			writeJSONString(&b, x)
		case []string:
			b.WriteByte('[')
			for i, s := range x {
				if i > 0 {
					b.WriteString(", ")
				}
				walk(s)
			}
			b.WriteByte(']')
		case [][2]string:
			b.WriteByte('[')
			for i, p := range x {
				if i > 0 {
					b.WriteString(", ")
				}
				b.WriteByte('[')
				walk(p[0])
				b.WriteString(", ")
				walk(p[1])
				b.WriteByte(']')
			}
			b.WriteByte(']')
		}
	}
	walk(v)
	// json.dumps escapes U+2028/9 only through DRF; plain json.dumps keeps them.
	return strings.NewReplacer(`\u2028`, "\u2028", `\u2029`, "\u2029").Replace(b.String())
}

// Alphabets the inputs are built from: the characters each parser treats
// specially, Unicode digits and spaces, and a few that are never valid.
var (
	numberAtoms = []string{"1", "0", "9", "5", "٣", "１", "๒", "_", "+", "-", ".", "e", "E", " ", "\u00a0", "\u2007",
		"\x1c", "\t", "NaN", "inf", "Infinity", "sNaN", "x", "00", "1e50", "1e51", "99999999999999999999", "1,5", "\x00"}
	dateAtoms = []string{"2024", "1999", "06", "1", "12", "31", "30", "02", "-", "/", " ", "  ", ",", "Jan", "jan", "SEPT",
		"September", "may", "T", "٢٠٢٤", "１", "\u3000", "x", "0"}
	dateTimeAtoms = []string{"2024-01-02", "2024-1-2", "T", " ", "10", "1", "00", ":", ".", ",", "123456", "1234567", "Z",
		"+01:00", "-0130", "+01", "+24:00", "٢", "x", "\t", "24", "60"}
	qsAtoms = []string{"a", "b", "=", "&", "+", "%20", "%2B", "%", "%zz", "%C3%A9", "%C3", "%E2%82", "%FF", "é", ";", "==",
		"%00", "page", "x", "%e2%80%a8", "&&"}
	textAtoms = []string{"a", "Z", " ", "\t", "\n", "\u00a0", "\u2003", "\u3000", "\x1c", "\x1f", "\u200b", "\u0085", "é",
		"€", ",", "%", "+", "\x00", "/", "~", "😀", "\u2028"}
)

func atoms(r *rng, alphabet []string, max int) string {
	var b strings.Builder
	for k := r.intn(max) + 1; k > 0; k-- {
		b.WriteString(alphabet[r.intn(len(alphabet))])
	}
	return b.String()
}

func parserInput(r *rng, kind string) string {
	switch kind {
	case "int", "number":
		return atoms(r, numberAtoms, 5)
	case "date":
		if r.chance(0.4) {
			t := time.Date(1900+r.intn(200), time.Month(1+r.intn(12)), 1+r.intn(28), 0, 0, 0, 0, time.UTC)
			return t.Format(dateForms[r.intn(len(dateForms))])
		}
		return atoms(r, dateAtoms, 7)
	case "datetime":
		if r.chance(0.4) {
			t := time.Date(1900+r.intn(200), time.Month(1+r.intn(12)), 1+r.intn(28), r.intn(24), r.intn(60), r.intn(60), r.intn(1e9), time.UTC)
			return t.Format(dateTimeForms[r.intn(len(dateTimeForms))])
		}
		return atoms(r, dateTimeAtoms, 8)
	case "bool":
		return []string{"true", "True", "TRUE", "1", "0", "false", "False", "yes", "", " true", "tRuE", "on", "2"}[r.intn(13)]
	case "qsl":
		return atoms(r, qsAtoms, 10)
	}
	return atoms(r, textAtoms, 8)
}
