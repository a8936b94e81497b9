package csvsafe

import (
	"bytes"
	"encoding/csv"
	"testing"
)

func TestGuard(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"plain", "plain"},
		{"a=b", "a=b"},
		{"=1+1", "'=1+1"},
		{"+1", "'+1"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\tx", "'\tx"},
		{"\rx", "'\rx"},
		{"\nx", "'\nx"},
		{"  =HYPERLINK(\"http://evil\")", "'  =HYPERLINK(\"http://evil\")"},
		{"\u00a0=1", "'\u00a0=1"},
		{" \t=1", "' \t=1"},
		{"＝1", "'＝1"},
		{"   ", "   "},
	} {
		if got := Guard(tc.in); got != tc.want {
			t.Errorf("Guard(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestWriterGuardsTextAndKeepsNumbers(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := NewWriter(&b, []Column{{Name: "=id", Numeric: true}, {Name: "name"}})
	w.WriteHeader()
	for _, rec := range [][]string{{"-12.5", "-12.5"}, {"=1+2", "@x"}, {"1e3", " +1"}} {
		if err := w.Write(rec); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{{"'=id", "name"}, {"-12.5", "'-12.5"}, {"'=1+2", "'@x"}, {"1e3", "' +1"}}
	for i := range want {
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Errorf("row %d col %d = %q, want %q", i, j, got[i][j], want[i][j])
			}
		}
	}
}
