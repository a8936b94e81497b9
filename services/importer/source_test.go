package importer

import (
	"strings"
	"testing"
)

func TestParseCSV(t *testing.T) {
	tests := []struct {
		name string
		in   string
		rows int
		errs []string
	}{
		{"template", CSVTemplate, 1, nil},
		{"reordered, BOM, blank line", "\ufeffunits, issuance_investment_id\n300,7\n\n5,8\n", 2, nil},
		{"missing required column", "units\n3\n", 0, []string{"line 1, column issuance_investment_id: required column missing"}},
		{"unknown column", "issuance_investment_id,email\n1,a@example.com\n", 0, []string{"line 1, column email: unknown column"}},
		{"every bad value named", "issuance_investment_id,units,signed_at\nx,0,yesterday\n2,3,2026-01-01T00:00:00Z\n2,3,\n", 3,
			[]string{"line 2, column issuance_investment_id", "line 2, column units", "line 2, column signed_at", "line 4, column issuance_investment_id: investment 2 is already on line 3"}},
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
	f.Add(CSVTemplate)
	f.Add("units,issuance_investment_id\n300,7\n")
	f.Add("issuance_investment_id\n\"1\n")
	f.Fuzz(func(t *testing.T, in string) {
		rows, errs := ParseCSV(strings.NewReader(in))
		if len(errs) == 0 {
			seen := map[int64]bool{}
			for _, r := range rows {
				if r.IssuanceID <= 0 || r.Units < 0 || seen[r.IssuanceID] {
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
