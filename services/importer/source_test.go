package importer

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseCSV(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		rows int
		errs []string
	}{
		{"template", templateCSV, 1, nil},
		{"reordered, BOM, blank line", "\ufeffunits, issuance_investment_id\n300,7\n\n5,8\n", 2, nil},
		{"missing required column", "units\n3\n", 0, []string{"line 1, column issuance_investment_id: required column missing"}},
		{"unknown column", "issuance_investment_id,email\n1,a@example.com\n", 0, []string{"line 1, column email: unknown column"}},
		{"every bad value named", "issuance_investment_id,units,signed_at\nx,0,yesterday\n2,3,2026-01-01T00:00:00Z\n2,3,\n", 3,
			[]string{"line 2, column issuance_investment_id", "line 2, column units", "line 2, column signed_at", "line 4, column issuance_investment_id: investment 2 is already on line 3"}},
		{"investor ids checked", "issuance_investment_id,cashlink_investor_id\n1," + strings.Repeat("a", 5<<20) + "\n2,a\x00b\n3,\xff\xfe\n4,6f1d2a33-0000-4000-8000-000000000000\n5,a\u200bb\n", 4,
			[]string{"line 2, column cashlink_investor_id: longer than 100 characters", "line 3, column cashlink_investor_id: contains the control or invisible character U+0000",
				"line 4, column cashlink_investor_id: not valid UTF-8", "line 6, column cashlink_investor_id: contains the control or invisible character U+200B"}},
		{"broken quoting", "issuance_investment_id\n\"1\n", 0, []string{"not valid CSV"}},
		{"empty", "issuance_investment_id\n", 0, []string{"no investment in the file"}},
		{"no header", "", 0, []string{"no header line"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, errs := ParseCSV(strings.NewReader(tt.in))
			if len(errs) != len(tt.errs) {
				t.Fatalf("errors %v, want %d", errs, len(tt.errs))
			}
			for i, want := range tt.errs {
				if !strings.Contains(errs[i].Error(), want) {
					t.Errorf("error %d %q, want %q", i, errs[i], want)
				}
			}
			if len(tt.errs) == 0 && len(rows) != tt.rows {
				t.Fatalf("%d rows, want %d", len(rows), tt.rows)
			}
		})
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add(templateCSV)
	f.Add("units,issuance_investment_id\n300,7\n")
	f.Add("issuance_investment_id\n\"1\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, errs := ParseCSV(strings.NewReader(in))
		if len(errs) == 0 {
			seen := map[int64]bool{}
			for _, r := range rows {
				if r.IssuanceID <= 0 || r.Units < 0 || seen[r.IssuanceID] || checkInvestorID(r.CashlinkInvestor) != "" {
					t.Fatalf("accepted a bad row %+v", r)
				}
				seen[r.IssuanceID] = true
			}
		}
		for _, e := range errs {
			if e.Error() == "" {
				t.Fatal("empty error")
			}
		}
	})
}

// A file over the cap is refused whole, never cut off at the cap (its last
// line could then read as another investment).
func TestParseCSVTooLarge(t *testing.T) {
	t.Parallel()
	// Long lines (a padded column) stay under MaxRows.
	pad := strings.Repeat(" ", 2500)
	var b strings.Builder
	b.WriteString("issuance_investment_id,cashlink_investor_id,units\n")
	for id := 1; b.Len() < MaxCSVSize-3000; id++ {
		fmt.Fprintf(&b, "%d,%s,300\n", id, pad)
	}
	fits := b.String()
	if rows, errs := ParseCSV(strings.NewReader(fits)); len(errs) != 0 || len(rows) < 4000 {
		t.Fatalf("a file under the cap: %d rows, errors %v", len(rows), errs)
	}
	over := fits + "123456," + pad + ",300\n" + "123457," + pad + ",300\n"
	if len(over) <= MaxCSVSize {
		t.Fatal("the test file is not over the cap")
	}
	if _, errs := ParseCSV(strings.NewReader(over)); len(errs) != 1 || !strings.Contains(errs[0].Error(), "larger than 10 MB") {
		t.Fatalf("a file over the cap: %v", errs[:min(3, len(errs))])
	}
}

var templateCSV = strings.Join(CSVColumns, ",") + "\n" + strings.Join(TemplateExample, ",") + "\n"
