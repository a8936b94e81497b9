package app

import (
	"testing"

	"issuerconsole/config"
	"issuerconsole/services/importer"
)

// The import defaults the flags document are the engine's own.
func TestImportDefaultsAgree(t *testing.T) {
	if config.DefaultImportWorkers != importer.DefaultWorkers || config.DefaultImportRate != importer.DefaultRate {
		t.Fatalf("config says %d workers at %v/s, the engine %d at %v/s", config.DefaultImportWorkers, config.DefaultImportRate,
			importer.DefaultWorkers, importer.DefaultRate)
	}
}

func TestMinorToDecimal(t *testing.T) {
	for _, tt := range []struct {
		minor string
		dec   int
		want  string
	}{{"10000", 2, "100.00"}, {"5", 2, "0.05"}, {"42", 0, "42"}, {"", 2, ""}} {
		if got := minorToDecimal(tt.minor, tt.dec); got != tt.want {
			t.Errorf("%s/%d = %q, want %q", tt.minor, tt.dec, got, tt.want)
		}
	}
}
