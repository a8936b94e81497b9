package handlers_test

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"issuerconsole/app"
	"issuerconsole/services/accounts"
	"issuerconsole/services/audit"
)

// seedAudit writes n call rows: every third one a cashlink POST with an
// idempotency key tried twice (503, then 201), the rest issuance GETs.
func seedAudit(t *testing.T, s *testServer, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		e := audit.Entry{API: "issuance", Method: "GET", Path: fmt.Sprintf("/api/investments/?page=%d", i), Status: 200,
			Duration: 12 * time.Millisecond, Attempt: 1, Actor: adminEmail, ResponseBody: `{"count":2,"ids":[1,2]}`}
		if i%3 == 0 {
			e = audit.Entry{API: "cashlink", Method: "POST", Path: "/api/external/v2/investments/", Status: 503, Attempt: 1,
				IdempotencyKey: fmt.Sprintf("job1-row%d-invest", i), Job: "job1", Row: fmt.Sprint(i), Actor: audit.ActorSystem,
				RequestBody: `{"units":300,"campaign_id":"c-1"}`}
			if _, err := s.app.Audit.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
			e.Status, e.Attempt, e.ResponseBody, e.Replayed = 201, 2, `{"id":"inv-1","status":"PAID"}`, i%2 == 0
		}
		if _, err := s.app.Audit.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditPage(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	c := s.client(t)
	c.login("auditor@example.com", testPass) // auditors read the log
	seedAudit(t, s, 60)                      // 80 rows + the sign-in event

	r := c.get("/audit")
	wantStatus(t, r, http.StatusOK)
	rows := r.doc.Find(`tr[data-testid="audit-row"]`)
	if rows.Length() != 50 {
		t.Fatalf("%d rows on the first page, want 50", rows.Length())
	}
	if first := text(rows.First().Find("td").First()); first != "81" {
		t.Fatalf("first row #%s, want the newest (#81)", first)
	}
	older, ok := r.doc.Find(`a[data-testid="older"]`).Attr("href")
	if !ok || !strings.Contains(older, "before=") {
		t.Fatalf("no link to older rows: %q", older)
	}
	r2 := c.get(older)
	if n := r2.doc.Find(`tr[data-testid="audit-row"]`).Length(); n != 31 {
		t.Fatalf("%d rows on page 2, want 31", n)
	}

	// The sign-in is in the log as an event (the oldest row, on page 2).
	found := false
	r2.doc.Find(`tr[data-testid="audit-row"]`).Each(func(_ int, row *goqSel) {
		if strings.Contains(text(row), "login") && strings.Contains(text(row), "auditor@example.com") {
			found = true
		}
	})
	if !found {
		t.Error("the sign-in event is not in the log")
	}

	tests := []struct {
		query string
		want  int
	}{
		{"api=cashlink", 40},
		{"api=cashlink&status=5xx", 20},
		{"errors=1", 20},
		{"key=job1-row3-invest", 2},
		{"kind=event", 1},
		{"actor=system", 40},
		{"job=job1&method=POST", 40},
		{"path=page%3D1", 8},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			// As htmx asks for it: only the results fragment.
			r := c.get("/audit?"+tt.query, "HX-Request", "true")
			wantStatus(t, r, http.StatusOK)
			if strings.Contains(r.body, "<html") || r.doc.Find("#audit-results").Length() != 1 {
				t.Fatal("htmx request did not get the results fragment")
			}
			n := r.doc.Find(`tr[data-testid="audit-row"]`).Length()
			if tt.want > 50 {
				tt.want = 50
			}
			if n != tt.want {
				t.Fatalf("%d rows, want %d", n, tt.want)
			}
			// The same URL pasted gives the full page with the form filled in.
			full := c.get("/audit?" + tt.query)
			if full.doc.Find(`tr[data-testid="audit-row"]`).Length() != n {
				t.Fatal("the shared URL renders different rows")
			}
			q, _ := url.ParseQuery(tt.query)
			if v := q.Get("api"); v != "" {
				if sel, _ := full.doc.Find(`#f-api option[selected]`).Attr("value"); sel != v {
					t.Fatalf("API select shows %q", sel)
				}
			}
		})
	}

	r = c.get("/audit?from=yesterday&status=7xx")
	wantStatus(t, r, http.StatusOK)
	if got := r.doc.Find(`form[data-testid="audit-filters"] .error-text`).Length(); got != 2 {
		t.Fatalf("%d filter errors shown, want 2", got)
	}
}

func TestAuditEntryAndAttempts(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	seedAudit(t, s, 3) // row 1: sign-in; 2, 3: the key job1-row0-invest; 4, 5: GETs
	r := c.get("/audit/3")
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="response-body"]`)); !strings.Contains(got, `"status": "PAID"`) {
		t.Fatalf("response body not pretty-printed: %q", got)
	}
	if n := r.doc.Find(`tr[data-testid="attempt-row"]`).Length(); n != 2 {
		t.Fatalf("%d attempts with the key, want 2", n)
	}
	wantStatus(t, c.get("/audit/999"), http.StatusNotFound)
}

func TestAuditVerifyAndTamper(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	seedAudit(t, s, 6)
	wantStatus(t, c.get("/audit"), http.StatusOK) // the page and its CSRF token
	hdr := []string{"HX-Request", "true", "X-CSRF-Token", c.csrf}
	r := c.post("/audit/verify", nil, hdr...)
	wantStatus(t, r, http.StatusOK)
	if r.doc.Find(`[data-testid="verify-ok"]`).Length() != 1 {
		t.Fatalf("intact chain not reported: %s", r.body)
	}
	if _, err := s.app.DB.Exec(`UPDATE audit_log SET status = 500 WHERE id = 4`); err != nil {
		t.Fatal(err)
	}
	r = c.post("/audit/verify", nil, hdr...)
	if got := text(r.doc.Find(`[data-testid="verify-broken"]`)); !strings.Contains(got, "row #4") {
		t.Fatalf("tampering not reported at row 4: %q", got)
	}
}

// The page's verification checks the signed checkpoints too: deleting the
// newest rows keeps the chain consistent but is caught, naming the first
// row after the last good checkpoint. The page shows the public key.
func TestAuditVerifyAgainstCheckpoints(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	c := s.client(t)
	c.login("auditor@example.com", testPass)
	ctx := context.Background()
	seedAudit(t, s, 6)
	if err := s.app.Anchor.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	anchored, _, _ := s.app.Audit.Head(ctx)
	seedAudit(t, s, 6)
	if err := s.app.Anchor.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	head, _, _ := s.app.Audit.Head(ctx)
	r := c.get("/audit")
	key := hex.EncodeToString(s.app.Anchor.PublicKey())
	if got := text(r.doc.Find(`[data-testid="signing-key"] code`)); got != key {
		t.Fatalf("public key shown %q, want %q", got, key)
	}
	hdr := []string{"HX-Request", "true", "X-CSRF-Token", c.csrf}
	r = c.post("/audit/verify", nil, hdr...)
	if got := text(r.doc.Find(`[data-testid="verify-anchor"]`)); !strings.Contains(got, fmt.Sprintf("the last of row #%d", head)) {
		t.Fatalf("untouched log: %q", text(r.doc.Find("p")))
	}
	if _, err := s.app.DB.Exec(`DELETE FROM audit_log WHERE id > ?`, head-5); err != nil {
		t.Fatal(err)
	}
	r = c.post("/audit/verify", nil, hdr...)
	want := fmt.Sprintf("row #%d: the log ends at row %d", anchored+1, head-5)
	if got := text(r.doc.Find(`[data-testid="verify-broken"]`)); !strings.Contains(got, want) {
		t.Fatalf("truncation: %q, want %q", got, want)
	}
}

// Closing the console signs the head it leaves behind.
func TestCheckpointAtShutdown(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	seedAudit(t, s, 3)
	head, hash, _ := s.app.Audit.Head(context.Background())
	s.Close()
	if err := s.app.Close(); err != nil {
		t.Fatal(err)
	}
	cps, err := audit.LoadCheckpoints(s.app.Anchor.Path())
	if err != nil || len(cps) < 2 {
		t.Fatalf("%d checkpoints, err %v", len(cps), err)
	}
	if last := cps[len(cps)-1]; last.Row != head || last.Hash != hex.EncodeToString(hash) || !last.Valid(s.app.Anchor.PublicKey()) {
		t.Fatalf("last checkpoint %+v, want row %d", last, head)
	}
	for _, f := range []string{s.app.Anchor.Path(), filepath.Join(filepath.Dir(s.app.Anchor.Path()), app.AuditKeyFile)} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
}

func TestAuditExport(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	seedAudit(t, s, 30)
	headID, _, _ := s.app.Audit.Head(context.Background())

	r := c.get("/audit/export.csv?api=cashlink")
	wantStatus(t, r, http.StatusOK)
	if !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("Content-Disposition %q", r.Header.Get("Content-Disposition"))
	}
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	last := recs[len(recs)-1]
	if recs[0][0] != "id" || last[0] != "#chain_head" || last[20] != fmt.Sprint(headID) || len(last[21]) != 64 {
		t.Fatalf("CSV must start with the header and end with the chain head: %v … %v", recs[0], last)
	}
	var rows, checkpoints int
	for _, rec := range recs[1 : len(recs)-1] {
		if rec[0] == "#checkpoint" {
			checkpoints++
			if cps, err := audit.ReadCheckpoints(strings.NewReader(rec[17])); err != nil || len(cps) != 1 || !cps[0].Valid(s.app.Anchor.PublicKey()) {
				t.Fatalf("checkpoint row %v does not carry a signed checkpoint", rec)
			}
			continue
		}
		rows++
	}
	if rows != 20 || checkpoints == 0 {
		t.Fatalf("%d CSV rows and %d checkpoints, want the 20 cashlink rows and the checkpoint written at start", rows, checkpoints)
	}
	if got := r.Header.Get("X-Audit-Chain-Head"); !strings.HasPrefix(got, fmt.Sprintf("%d:", headID)) {
		t.Fatalf("X-Audit-Chain-Head %q", got)
	}

	r = c.get("/audit/export.ndjson?errors=1")
	wantStatus(t, r, http.StatusOK)
	sc := bufio.NewScanner(strings.NewReader(r.body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v", len(lines)+1, err)
		}
		lines = append(lines, m)
	}
	if len(lines) != 12 || lines[0]["chain_head"] == nil || lines[0]["checkpoint_key"] == nil || lines[1]["status"] != "503" || lines[11]["checkpoint"] == nil {
		t.Fatalf("%d NDJSON lines; first %v second %v", len(lines), lines[0], lines[1])
	}
	if cps, err := audit.ReadCheckpoints(strings.NewReader(r.body)); err != nil || len(cps) != 1 || !cps[0].Valid(s.app.Anchor.PublicKey()) {
		t.Fatalf("the NDJSON export's checkpoints do not read back: %v %v", cps, err)
	}
}
