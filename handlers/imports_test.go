package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"issuerconsole/app"
	"issuerconsole/sandbox/faults"
	"issuerconsole/services/accounts"
	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
	"issuerconsole/services/importer"
)

// upload posts a multipart form with one file field, as a browser does.
func (c *client) upload(path string, fields map[string]string, file string, content []byte) *response {
	c.t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	if _, ok := fields["_csrf"]; !ok {
		w.WriteField("_csrf", c.csrf)
	}
	for k, v := range fields {
		w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", file)
	fw.Write(content)
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, c.srv.URL+path, &b)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return c.do(req)
}

func pdf(s string) []byte { return []byte("%PDF-1.4\n% " + s + "\n%%EOF\n") }

// waitJob polls the progress fragment until the job is done.
func waitJob(t *testing.T, c *client, job string, limit time.Duration) *response {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		r := c.get("/imports/"+job+"/progress", "HX-Request", "true")
		if st := r.doc.Find(`[data-testid="run-state"]`).AttrOr("data-code", ""); st == "done" || st == "cancelled" {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not done after %s: %s\n%s", job, limit, text(r.doc.Find(`[data-testid="progress-text"]`)), text(r.doc.Find(`[data-testid="run-table"] tbody tr`).First()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The wizard from source to result, as an admin clicks through it.
func TestImportWizard(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()

	r := c.post("/imports", url.Values{"name": {"Offering 1, accepted"}})
	wantStatus(t, r, http.StatusSeeOther)
	src := r.Header.Get("Location")
	job := strings.Split(src, "/")[2]
	r = c.get(src)
	wantStatus(t, r, http.StatusOK)

	// 1. Source: one offering's accepted and invested investments.
	r = c.post(src, url.Values{"kind": {"offering"}, "offering": {"1"}, "status": {"accepted", "invested"}})
	wantStatus(t, r, http.StatusOK)
	want, err := s.app.Issuance.ListInvestmentsQuery(ctx, url.Values{"offering": {"1"}, "status__in": {"accepted,invested"}, "page_size": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := text(r.doc.Find(`[data-testid="source-count"]`)); !strings.HasPrefix(got, itoa(want.Count)+" investments") {
		t.Fatalf("source count %q, API %d", got, want.Count)
	}
	// A bad CSV names its lines and changes nothing.
	r = c.upload(src, map[string]string{"kind": "csv"}, "rows.csv", []byte("issuance_investment_id,units\nabc,0\n"))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := text(r.doc.Find(`[data-testid="csv-errors"]`)); !strings.Contains(got, "line 2, column issuance_investment_id") || !strings.Contains(got, "line 2, column units") {
		t.Fatalf("csv errors %q", got)
	}

	// 2. Mapping: campaign and product from the sandbox; investors by e-mail,
	// the rest by hand to a seeded investor that has a wallet.
	r = c.get("/imports/" + job + "/mapping")
	camp, _ := r.doc.Find(`#m-campaign option`).Eq(1).Attr("value")
	prod, _ := r.doc.Find(`#m-product option`).Eq(1).Attr("value")
	if camp == "" || prod == "" {
		t.Fatal("no sandbox campaign or product offered")
	}
	r = c.post("/imports/"+job+"/mapping", url.Values{"campaign_id": {camp}, "product_id": {prod}, "action": {"match"}})
	wantStatus(t, r, http.StatusOK)
	if got := text(r.doc.Find(`[data-testid="mapping-msg"]`)); !strings.HasPrefix(got, "Matched") {
		t.Fatalf("match message %q", got)
	}
	fallback, _ := r.doc.Find(`#cashlink-investors option`).First().Attr("value")
	form := url.Values{"campaign_id": {camp}, "product_id": {prod}, "action": {"save"}}
	r.doc.Find(`[data-testid="mapping-input"]`).Each(func(_ int, in *goqSel) {
		name, _ := in.Attr("name")
		v, _ := in.Attr("value")
		if v == "" {
			v = fallback
		}
		form.Set(name, v)
	})
	r.doc.Find(`[data-testid="unlinked-table"] input`).Each(func(_ int, in *goqSel) {
		name, _ := in.Attr("name")
		form.Set(name, fallback)
	})
	wantStatus(t, c.post("/imports/"+job+"/mapping", form), http.StatusOK)

	// 3. Documents: a non-PDF and a duplicate are refused; one shared PDF.
	docs := "/imports/" + job + "/documents"
	c.get(docs)
	r = c.upload(docs, map[string]string{"row": "0"}, "letter.docx", []byte("PK\x03\x04 not a pdf"))
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if got := text(r.doc.Find(`[data-testid="documents-error"]`)); !strings.Contains(got, "is not a PDF") {
		t.Fatalf("non-PDF error %q", got)
	}
	wantStatus(t, c.upload(docs, map[string]string{"row": "0"}, "subscription.pdf", pdf("shared")), http.StatusOK)
	r = c.upload(docs, map[string]string{"row": "0"}, "copy.pdf", pdf("shared"))
	wantStatus(t, r, http.StatusConflict)

	// 4. Review: no problems; the typed phrase must match.
	r = c.get("/imports/" + job + "/review")
	wantStatus(t, r, http.StatusOK)
	if n := r.doc.Find(`[data-testid="row-problem"]`).Length(); n != 0 {
		t.Fatalf("%d row problems: %s", n, text(r.doc.Find(`[data-testid="row-problem"]`)))
	}
	if got := text(r.doc.Find(`[data-testid="review-summary"] strong`)); got != itoa(want.Count) {
		t.Fatalf("review count %q", got)
	}
	_, phrase, form := preflight(t, c, job)
	if phrase != "CREDIT "+itoa(want.Count) {
		t.Fatalf("phrase %q", phrase)
	}
	r = c.post("/imports/"+job+"/start", url.Values{"confirm": {"credit"}, "preflight": form["preflight"], "currency": form["currency"]})
	wantStatus(t, r, http.StatusUnprocessableEntity)
	if n, _ := s.app.Sandbox.Cashlink.Counts(ctx); n.Investments != 0 {
		t.Fatal("investments created without confirmation")
	}
	r = c.post("/imports/"+job+"/start", form)
	wantStatus(t, r, http.StatusSeeOther)

	// 5./6. Run to the result.
	t0 := time.Now()
	waitJob(t, c, job, 3*time.Minute)
	t.Logf("run took %s", time.Since(t0))
	r = c.get("/imports/" + job + "/result")
	rows := r.doc.Find(`tr[data-testid="run-row"]`)
	if rows.Length() != want.Count {
		t.Fatalf("%d result rows, want %d", rows.Length(), want.Count)
	}
	rows.Each(func(_ int, row *goqSel) {
		if st, _ := row.Attr("data-state"); st != "done" {
			t.Errorf("row state %s: %s", st, text(row))
		}
		if row.Find("td").Eq(6).Find(".badge").AttrOr("data-code", "") != "DELIVERED" {
			t.Errorf("row not delivered: %s", text(row))
		}
	})
	counts, _ := s.app.Sandbox.Cashlink.Counts(ctx)
	if counts.Investments != want.Count || counts.Credits != want.Count || counts.Documents != 1 {
		t.Fatalf("emulator holds %+v for %d rows: want one investment and credit each, one shared document", counts, want.Count)
	}
	// The audit log has the row's calls and the confirmation.
	href, _ := rows.First().Find("a").Attr("href")
	r = c.get(href)
	if n := r.doc.Find(`tr[data-testid="audit-row"]`).Length(); n < 4 {
		t.Fatalf("%d audit entries for a row (investment, wallets, patch, credit, status)", n)
	}
	ev, _ := s.app.Audit.List(ctx, audit.Filter{Kind: audit.KindEvent}, 0, 10)
	var names []string
	for _, e := range ev.Entries {
		names = append(names, e.Event)
	}
	if !strings.Contains(strings.Join(names, ","), "credit_confirmed") || !strings.Contains(strings.Join(names, ","), "import_started") {
		t.Fatalf("events %v", names)
	}
	r = c.get("/imports/" + job + "/report.csv")
	if lines := strings.Count(strings.TrimSpace(r.body), "\n"); lines != want.Count {
		t.Fatalf("report has %d rows", lines)
	}

	// The same investments cannot be imported again by another job.
	r = c.post("/imports", url.Values{"name": {"again"}})
	job2 := strings.Split(r.Header.Get("Location"), "/")[2]
	c.get("/imports/" + job2 + "/source")
	c.post("/imports/"+job2+"/source", url.Values{"kind": {"offering"}, "offering": {"1"}, "status": {"accepted", "invested"}})
	r = c.get("/imports/" + job2 + "/review")
	if got := text(r.doc.Find(`[data-testid="row-problem"]`)); !strings.Contains(got, "Already imported by job "+job) {
		t.Fatalf("second import review: %q", got)
	}
	if r.doc.Find(`[data-testid="confirm-form"]`).Length() != 0 {
		t.Fatal("a job re-importing investments can be started")
	}

	// An auditor can follow but not act.
	s.createUser(t, "auditor@example.com", accounts.RoleAuditor)
	a := s.client(t)
	a.login("auditor@example.com", testPass)
	wantStatus(t, a.get("/imports/"+job+"/result"), http.StatusOK)
	wantStatus(t, a.post("/imports/"+job+"/rerun", nil), http.StatusForbidden)

	// After this full run (sign-ins, searches, both APIs, tokens, an import),
	// no secret is anywhere in the database files or the log.
	c.post("/settings/test/cashlink", nil, "HX-Request", "true", "X-CSRF-Token", c.csrf) // a fresh token too
	token, err := s.app.Cashlink.Tokens.Token(ctx)
	if err != nil || token == "" {
		t.Fatalf("token: %v", err)
	}
	s.app.DB.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	dbPath := s.consoleDB(t)
	files := map[string][]byte{}
	for _, f := range []string{dbPath, dbPath + "-wal"} {
		files[f], _ = os.ReadFile(f)
	}
	for name, secret := range map[string]string{"Issuance API key": app.SandboxIssuanceKey, "Firebase token": app.SandboxFirebaseToken,
		"Cashlink client secret": app.SandboxCashlinkSecret, "issued access token": token, "admin password": adminPass, "user password": testPass} {
		for f, b := range files {
			if bytes.Contains(b, []byte(secret)) {
				t.Errorf("the %s is in %s", name, f)
			}
		}
		if strings.Contains(s.logs.String(), secret) {
			t.Errorf("the %s is in the log", name)
		}
	}
}

// Two hundred investments against an emulator that fails 10% of creating
// calls with 5xx (half of them after doing the work), throttles with 429 and
// Retry-After, and hangs some connections: every row completes and the
// emulator holds exactly one investment, one credit and one set of
// documents per row.
func TestImportUnderFaults(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("slow: 200 rows against injected faults")
	}
	s := newTestServer(t, func(cfg *configT, o *appOptions) {
		cfg.SandboxInvestments = 2000
		o.ClientTimeout = 1500 * time.Millisecond // hung connections end quickly
		// Two attempts per call: most lost answers then reach the engine,
		// whose later passes must reuse the keys (the client's retries
		// alone would hide a key that changed between passes).
		o.ClientRetry = apiclient.RetryPolicy{MaxAttempts: 2, BaseDelay: 20 * time.Millisecond, MaxDelay: 2 * time.Second, RetryConflict: true}
		o.Import = importer.Options{Workers: 8, Rate: 1000, Burst: 50, PassBackoff: 200 * time.Millisecond, MaxPasses: 30}
	})
	c := s.client(t)
	c.login(adminEmail, adminPass)
	ctx := context.Background()

	// A CSV source: 200 accepted or invested investments, mapped round-robin
	// to the seeded Cashlink investors, each with its own signed PDF.
	var ids []int64
	for inv, err := range s.app.Issuance.AllInvestments(ctx, url.Values{"status__in": {"accepted,invested"}, "ordering": {"id"}}, 100) {
		if err != nil {
			t.Fatal(err)
		}
		if ids = append(ids, inv.ID); len(ids) == 200 {
			break
		}
	}
	if len(ids) != 200 {
		t.Fatalf("only %d investments in the sandbox", len(ids))
	}
	inf, _ := s.app.Sandbox.Cashlink.Info(ctx, "")
	var csvBody strings.Builder
	csvBody.WriteString("issuance_investment_id,cashlink_investor_id\n")
	for i, id := range ids {
		fmt.Fprintf(&csvBody, "%d,%s\n", id, inf.Investors[i%len(inf.Investors)].ID)
	}
	r := c.post("/imports", url.Values{"name": {"faults"}})
	job := strings.Split(r.Header.Get("Location"), "/")[2]
	c.get("/imports/" + job + "/source")
	r = c.upload("/imports/"+job+"/source", map[string]string{"kind": "csv"}, "rows.csv", []byte(csvBody.String()))
	wantStatus(t, r, http.StatusOK)
	r = c.post("/imports/"+job+"/mapping", url.Values{"campaign_id": {inf.Campaigns[0].ID}, "product_id": {inf.Products[0].ID}, "action": {"save"}})
	wantStatus(t, r, http.StatusOK)
	jobID, _ := strconv.ParseInt(job, 10, 64)
	rows, _ := s.app.Importer.Store().Rows(ctx, jobID)
	for _, row := range rows {
		r := c.upload("/imports/"+job+"/documents", map[string]string{"row": strconv.FormatInt(row.ID, 10)}, "signed.pdf", pdf("row "+strconv.FormatInt(row.ID, 10)))
		if r.StatusCode != http.StatusOK {
			t.Fatalf("upload for row %d: %d", row.ID, r.StatusCode)
		}
	}
	r, phrase, form := preflight(t, c, job)
	if phrase != "CREDIT 200" {
		t.Fatalf("pre-flight: %q %s", phrase, text(r.doc.Find(`[data-testid="preflight-problems"]`)))
	}

	rules, err := faults.ParseRules("cashlink POST 5xx=0.05 5xx-after=0.05 429=0.05 retry-after=1s hang=0.01 hang-after=0.01; cashlink GET 5xx=0.05 ratelimit=400/s retry-after=1s")
	if err != nil {
		t.Fatal(err)
	}
	s.app.Sandbox.Faults.Set(rules)
	start := time.Now()
	wantStatus(t, c.post("/imports/"+job+"/start", form), http.StatusSeeOther)
	waitJob(t, c, job, 5*time.Minute)
	t.Logf("200 rows under faults in %s; faults injected: %v", time.Since(start).Round(time.Millisecond), s.app.Sandbox.Faults.Stats())
	s.app.Sandbox.Faults.Set(nil)

	rows, _ = s.app.Importer.Store().Rows(ctx, jobID)
	for _, row := range rows {
		if row.State != importer.RowDone {
			t.Errorf("row %d: %s at %s: %s", row.ID, row.State, row.Step, row.Error)
		}
	}
	counts, _ := s.app.Sandbox.Cashlink.Counts(ctx)
	if counts.Investments != 200 || counts.Credits != 200 || counts.Documents != 200 {
		t.Fatalf("emulator holds %d investments, %d credits, %d documents for 200 rows: duplicates or gaps", counts.Investments, counts.Credits, counts.Documents)
	}
	if stats := s.app.Sandbox.Faults.Stats(); len(stats) == 0 {
		t.Fatal("no fault was injected: the test proved nothing")
	}
	// The 429s slowed the whole engine down (and it sped up again after).
	if r, n := s.app.Importer.Throttle().State(); n == 0 {
		t.Fatalf("the engine never slowed down (rate %v)", r)
	}
}
