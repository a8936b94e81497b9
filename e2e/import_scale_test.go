package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// scaleFixture writes an Issuance fixture (sandbox-fixture.md) with one
// offering of n accepted or invested investments by 60 investors, with the
// problems a real offering has. Investors 1–40 are people the Cashlink
// sandbox also seeds (with wallets), so "Match by e-mail" finds them; 41–50
// are people Cashlink does not know (created by the console, but without a
// wallet, which the console cannot make yet); 51–60 are companies
// (Cashlink's API creates natural persons only). Every twelfth investment
// is by one of 41–60, every 97th has a quantity of 0.
func scaleFixture(t *testing.T, n int) string {
	t.Helper()
	first := []string{"Anna", "Ben", "Clara", "David", "Eva", "Felix", "Greta", "Hugo", "Ida", "Jonas", "Karla", "Leon", "Mia", "Noah", "Olga", "Paul"}
	last := []string{"Schmidt", "Meyer", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter", "Klein", "Wolf", "Neumann", "Braun"}
	type obj = map[string]any
	const investors = 60
	fx := obj{
		"issuers": []obj{{"id": 1, "name": "Harbor Holdings", "archived": false}},
		"offerings": []obj{{"id": 1, "issuer": 1, "name": "Harbor Logistics Fund I", "slug": "harbor-logistics-fund-i", "type": "reg_a",
			"status": "opened", "archived": false, "unit_price": "10.000000", "min_investment_amount": "100.00", "max_investment_amount": nil,
			"minimum_amount_raised": "50000.00", "maximum_amount_raised": "5000000.00", "number_of_shares": 500000, "deadline_date": "2027-06-30",
			"created_at": "2026-01-05T09:00:00+00:00", "opened_at": "2026-02-01T09:00:00+00:00"}},
	}
	var users, invs, investments []obj
	for i := 1; i <= investors; i++ {
		fn, ln := first[i%len(first)], last[(i/len(first))%len(last)]
		email := fmt.Sprintf("%s.%s.%d@example.com", strings.ToLower(fn), strings.ToLower(ln), i)
		users = append(users, obj{"id": i, "email": email, "first_name": fn, "last_name": ln})
		typ := "person"
		if i > 50 {
			typ = "company"
		}
		invs = append(invs, obj{"id": i, "type": typ, "user": i, "entity": obj{"id": i, "email": email, "kyc_status": "passed"}})
	}
	base := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	for k := 1; k <= n; k++ {
		q := 10 + k%40
		if k%97 == 0 {
			q = 0
		}
		at := base.Add(time.Duration(k) * 17 * time.Minute).Format(time.RFC3339)
		status, invested := "accepted", any(nil)
		if k%3 == 0 {
			status, invested = "invested", at
		}
		amount := fmt.Sprintf("%d.00", q*10)
		investments = append(investments, obj{"id": k, "offering": 1, "investor": investorOf(k), "reference_id": fmt.Sprintf("HLF-%05d", k),
			"status": status, "quantity": q, "price": "10.000000", "price_fees": "0.00", "price_payment_processing_fees": "0.00",
			"amount": amount, "shares_amount": amount, "payment_method": "wire", "requested_payment_method": "wire",
			"processing_issue_statuses": "", "has_investor_signed": true, "is_approved": true, "watchlist_has_hits": false,
			"created_at": at, "updated_at": at, "processed_at": at, "received_at": at, "refunded_at": nil, "invested_at": invested})
	}
	fx["users"], fx["investors"], fx["investments"] = users, invs, investments
	b, err := json.Marshal(fx)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fixture.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func investorOf(k int) int {
	if k%12 == 0 {
		return 41 + (k/12)%20
	}
	return 1 + k%40
}

// waitReady waits until the console has loaded its data set (healthz
// without "preparing"), and fails at once when the start-up failed.
func waitReady(t *testing.T, c *console) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		res, err := http.Get(c.URL + "/healthz")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		switch {
		case res.StatusCode == http.StatusServiceUnavailable:
			t.Fatalf("the console did not start: %s\n%s", b, c.Output())
		case res.StatusCode == http.StatusOK && !strings.Contains(string(b), "preparing"):
			return
		}
	}
	t.Fatalf("the console was not ready in 2 minutes:\n%s", c.Output())
}

// axeClean fails the test on a serious or critical axe-core violation.
func axeClean(t *testing.T, ctx contextT, page string) {
	t.Helper()
	for _, v := range runAxe(t, ctx) {
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("%s: %s (%s) on %d elements: %s", page, v.ID, v.Impact, len(v.Nodes), v.Help)
		}
	}
}

// traffic counts what the browser asked the console for.
type traffic struct {
	mu                         sync.Mutex
	documents, xhr, polls, all int
}

func (tr *traffic) listen(t *testing.T, ctx contextT, base string) {
	t.Helper()
	must(t, chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*network.EventRequestWillBeSent)
		if !ok || !strings.HasPrefix(e.Request.URL, base) {
			return
		}
		tr.mu.Lock()
		defer tr.mu.Unlock()
		tr.all++
		switch e.Type {
		case network.ResourceTypeDocument:
			if e.RedirectResponse == nil { // a 303's second request is the same page load
				tr.documents++
			}
		case network.ResourceTypeXHR, network.ResourceTypeFetch:
			tr.xhr++
			if strings.Contains(e.Request.URL, "/progress") {
				tr.polls++
			}
		}
	}), "listen")
}

func (tr *traffic) snapshot() (docs, xhr, polls, all int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.documents, tr.xhr, tr.polls, tr.all
}

// A whole offering of 360 investments with mixed problems imported in the
// browser from source to result with the bulk actions: match by e-mail and
// create the unmapped investors, 340 signed PDFs in one upload matched by
// reference id, a row fixed and refused in place, the problem rows skipped
// at once. Screenshots of each step at 1440×900 (review also at 390×844);
// the page loads and requests are logged.
func TestBrowserImportOffering(t *testing.T) {
	const n = 360
	ctx := newBrowserFor(t, 8*time.Minute)
	c := startConsole(t, "", []string{"-sandbox-fixture", scaleFixture(t, n)}, "ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+adminPass)
	must(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)), "viewport")
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	must(t, err, "network events")
	var tr traffic
	tr.listen(t, ctx, c.URL)
	waitReady(t, c)
	signIn(t, ctx, c.URL, adminEmail, adminPass)
	d0, x0, _, a0 := tr.snapshot()
	steps := map[string][4]int{}
	mark := func(step string) {
		d, x, p, a := tr.snapshot()
		steps[step] = [4]int{d, x, p, a}
	}

	// The signed PDFs on disk: all but 20 rows, plus two that match nothing.
	dir := t.TempDir()
	var files []string
	for k := 1; k <= n; k++ {
		if k%18 == 0 {
			continue
		}
		p := filepath.Join(dir, fmt.Sprintf("HLF-%05d signed.pdf", k))
		if err := os.WriteFile(p, append(append([]byte{}, minimalPDF...), []byte(fmt.Sprintf("%% HLF-%05d\n", k))...), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	for _, name := range []string{"scan-0001.pdf", "cover letter.pdf"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, append(append([]byte{}, minimalPDF...), name...), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}

	must(t, chromedp.Do(ctx, chromedp.Navigate(c.URL+"/imports")), "imports")
	waitJS(t, ctx, `document.getElementById("job-name")`)
	must(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("job-name"), "Harbor Logistics Fund I, all accepted"),
		chromedp.Click(chromedp.CSS(`[data-testid="new-import"] button`))), "new import")

	// 1. Source: the offering's accepted and invested investments.
	waitJS(t, ctx, `location.pathname.endsWith("/source") && document.querySelector('[data-testid="source-search"]')`)
	click(t, ctx, `[data-testid="source-search"] button`, "load offering")
	waitJS(t, ctx, `document.querySelector('[data-testid="source-count"]')`)
	if got := textOf(t, ctx, `[data-testid="source-count"]`); !strings.HasPrefix(got, strconv.Itoa(n)+" investments") {
		t.Fatalf("source: %q", got)
	}
	shot(t, ctx, "offering-1-source")
	mark("source")

	// 2. Mapping: campaign and product, then match by e-mail and create the
	// rest in Cashlink, both from the top of the page.
	click(t, ctx, `a.button[href$="/mapping"]`, "to mapping")
	waitJS(t, ctx, `location.pathname.endsWith("/mapping") && document.getElementById("m-campaign")`)
	if y := evalInt(t, ctx, `Math.round(document.querySelector('[data-testid="match-email"]').getBoundingClientRect().top)`); y > 900 {
		t.Errorf("Match by e-mail at y=%d px, below the fold", y)
	}
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		for (const id of ["m-campaign", "m-product"]) { const s = document.getElementById(id); s.selectedIndex = 1; }
	})()`), chromedp.Click(chromedp.CSS(`[data-testid="mapping-form"] button[value="save"]`))), "save campaign")
	waitJS(t, ctx, `(document.querySelector('[data-testid="mapping-msg"]') || {}).textContent === "Mapping saved."`)
	click(t, ctx, `[data-testid="match-email"]`, "match by e-mail")
	waitJS(t, ctx, `(document.querySelector('[data-testid="flash"]') || {textContent: ""}).textContent.includes("by e-mail")`)
	matched := textOf(t, ctx, `[data-testid="flash"]`)
	unmapped := evalInt(t, ctx, `parseInt(document.querySelector('[data-testid="unmapped-count"]').textContent.replace(/,/g, ""))`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="create-all-not-us-tax"]`)), chromedp.Click(chromedp.CSS(`[data-testid="create-all"] button`))), "create all")
	waitJS(t, ctx, `document.querySelector('[data-testid="created-table"]')`)
	created := evalInt(t, ctx, `document.querySelectorAll('tr[data-testid="created-row"][data-code="created"]').length`)
	refused := evalInt(t, ctx, `document.querySelectorAll('tr[data-testid="created-row"]:not([data-code="created"])').length`)
	if created+refused != unmapped || created == 0 || refused == 0 {
		t.Fatalf("%s; %d unmapped: %d created, %d refused", matched, unmapped, created, refused)
	}
	t.Logf("mapping: %s; %d unmapped investors: %d created in Cashlink, %d refused (companies)", matched, unmapped, created, refused)
	shot(t, ctx, "offering-2-mapping")
	axeClean(t, ctx, "mapping")
	mark("mapping")

	// 3. Documents: every PDF at once, matched before anything is stored.
	click(t, ctx, `a.button[href$="/documents"]`, "to documents")
	waitJS(t, ctx, `location.pathname.endsWith("/documents") && document.getElementById("d-batch")`)
	must(t, chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("d-batch"), files), chromedp.Click(chromedp.CSS(`[data-testid="batch-preview"]`))), "upload PDFs")
	waitJS(t, ctx, `document.querySelector('[data-testid="batch-preview-panel"]')`)
	if got := textOf(t, ctx, `[data-testid="preview-matched"]`); got != strconv.Itoa(len(files)-2) {
		t.Fatalf("matched %s of %d files", got, len(files))
	}
	if got := textOf(t, ctx, `[data-testid="preview-refused"]`); got != "2" {
		t.Fatalf("refused %s", got)
	}
	shot(t, ctx, "offering-3-documents-preview")
	axeClean(t, ctx, "documents")
	click(t, ctx, `[data-testid="batch-store"]`, "store")
	waitJS(t, ctx, `(document.querySelector('[data-testid="flash"]') || {textContent: ""}).textContent.includes("Stored")`)
	shot(t, ctx, "offering-3-documents-stored")
	mark("documents")

	// 4. Review: counts per kind; a row fixed in place (a refusal first,
	// with the typed value kept); the rest of the problems skipped at once;
	// the payment date set on every ready row.
	click(t, ctx, `a.button[href$="/review"]`, "to review")
	waitJS(t, ctx, `location.pathname.endsWith("/review") && document.querySelector('[data-testid="review-filters"]')`)
	count := func(code string) int {
		return evalInt(t, ctx, `(() => { const a = document.querySelector('[data-testid="review-area"] [data-testid="filter"][data-code="`+code+`"]'); return a ? parseInt(a.querySelector('[data-testid="count"]').textContent.replace(/,/g, "")) : 0 })()`)
	}
	kinds := evalString(t, ctx, `[...document.querySelectorAll('[data-testid="problem-kinds"] [data-testid="filter"]')].map(a => a.dataset.code + "=" + a.querySelector('[data-testid="count"]').textContent).join(" ")`)
	t.Logf("review: %d rows, %d with problems (%s), %d ready", count("all"), count("problems"), kinds, count("ready"))
	if count("units") == 0 || count("unmapped") == 0 || count("document") == 0 {
		t.Fatalf("the offering's problems are not all shown: %s", kinds)
	}
	shot(t, ctx, "offering-4-review")
	docsBefore, _, _, _ := tr.snapshot()
	// A row far down the page skipped and included again in place: no page
	// load, the scroll position kept (the issue: row 150 at y=9,076, then 0).
	far := evalString(t, ctx, `(() => { const rs = document.querySelectorAll('tr[data-testid="review-row"]'); const r = rs[rs.length - 5]; r.scrollIntoView({block: "center"}); return r.dataset.row })()`)
	y := evalInt(t, ctx, `Math.round(window.scrollY)`)
	if y < 1500 {
		t.Fatalf("row %s is at scrollY %d, not far down", far, y)
	}
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#review-row-`+far+` [data-testid="skip-button"]`))), "skip far row")
	waitJS(t, ctx, `document.querySelector('#review-row-`+far+` [data-testid="include-button"]')`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#review-row-`+far+` [data-testid="include-button"]`))), "include far row")
	waitJS(t, ctx, `document.querySelector('#review-row-`+far+` [data-testid="skip-button"]')`)
	idle := `!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")`
	waitJS(t, ctx, idle) // the counts panel asked for again after the swaps
	if y2 := evalInt(t, ctx, `Math.round(window.scrollY)`); y2 != y {
		t.Fatalf("scrollY %d before the row actions, %d after", y, y2)
	}
	t.Logf("row %s skipped and included in place at scrollY %d", far, y)
	waitJS(t, ctx, idle)
	unitsBefore := count("units")
	click(t, ctx, `[data-testid="review-area"] [data-testid="filter"][data-code="units"]`, "filter units")
	waitJS(t, ctx, `location.search.includes("show=units") && document.querySelector('[data-testid="filter"][data-code="units"][aria-current]')`)
	row := evalString(t, ctx, `document.querySelector('tr[data-testid="review-row"]').dataset.row`)
	sel := `#review-row-` + row
	must(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(sel+` input[name="units"]`), "ten"),
		chromedp.Click(chromedp.CSS(sel+` form button[type="submit"]`))), "bad units")
	waitJS(t, ctx, `document.querySelector('`+sel+` [data-testid="row-error"]')`)
	if v := evalString(t, ctx, `document.querySelector('`+sel+` input[name="units"]').value`); v != "ten" {
		t.Fatalf("the refused value was not kept: %q", v)
	}
	shot(t, ctx, "offering-4-review-row-refused")
	axeClean(t, ctx, "review")
	must(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS(sel+` input[name="units"]`), "12"), chromedp.Click(chromedp.CSS(sel+` form button[type="submit"]`))), "fix units")
	waitJS(t, ctx, `!document.querySelector('`+sel+` [data-testid="row-error"]') && !document.querySelector('`+sel+` [data-testid="row-problem"][data-code="units"]')`)
	if docs, _, _, _ := tr.snapshot(); docs != docsBefore {
		t.Fatalf("a row action or filter loaded the page (%d page loads)", docs-docsBefore)
	}
	// The counts follow the swap (the page asks for them again after it).
	waitJS(t, ctx, `document.querySelector('[data-testid="filter"][data-code="units"] [data-testid="count"]').textContent === "`+strconv.Itoa(unitsBefore-1)+`"`)

	// Skip every remaining problem row, on every page, at once.
	must(t, chromedp.Do(ctx, chromedp.Navigate(strings.TrimSuffix(evalString(t, ctx, `location.origin + location.pathname`), "/")+"?show=problems")), "problems")
	waitJS(t, ctx, `document.querySelector('[data-testid="bulk-skip"] button')`)
	problems := count("problems")
	label := textOf(t, ctx, `[data-testid="bulk-skip"] button`)
	if label != fmt.Sprintf("Skip these %d rows", problems) {
		t.Fatalf("bulk skip says %q for %d problem rows", label, problems)
	}
	click(t, ctx, `[data-testid="bulk-skip"] button`, "skip problems")
	waitJS(t, ctx, `(document.querySelector('[data-testid="flash"]') || {textContent: ""}).textContent.includes("Skipped")`)
	ready := count("ready")
	click(t, ctx, `[data-testid="filter"][data-code="ready"]`, "filter ready")
	waitJS(t, ctx, `location.search.includes("show=ready") && document.querySelector('[data-testid="bulk-dates"] button')`)
	must(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("bulk-paid"), "2026-03-31T12:00Z"), chromedp.Click(chromedp.CSS(`[data-testid="bulk-dates"] button`))), "set paid_at")
	waitJS(t, ctx, `(document.querySelector('[data-testid="flash"]') || {textContent: ""}).textContent.includes("Set the dates of `+strconv.Itoa(ready)+` rows")`)
	if count("problems") != 0 {
		t.Fatalf("%d problems left", count("problems"))
	}
	t.Logf("review: %d rows with problems skipped at once, paid date set on %d ready rows", problems, ready)
	shot(t, ctx, "offering-4-review-ready")
	must(t, chromedp.Do(ctx, chromedp.EmulateViewport(390, 844)), "phone")
	if w := evalInt(t, ctx, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("the review is %d px wide at phone width: %s", w, evalString(t, ctx, `[...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 391 && !e.closest("tbody")).slice(0, 8).map(e => e.tagName + "." + e.className + "#" + e.id + " " + Math.round(e.getBoundingClientRect().right)).join(", ")`))
	}
	shot(t, ctx, "offering-4-review-390x844")
	must(t, chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)), "desktop")
	mark("review")

	// 5. The pre-flight: every investor and campaign check passes, the
	// totals per campaign beside the typed confirmation; the sandbox
	// campaign is priced in EUR, so the currency decision is ticked.
	click(t, ctx, `[data-testid="preflight-link"]`, "to the pre-flight")
	waitJS(t, ctx, `location.pathname.endsWith("/confirm") && (document.querySelector('[data-testid="phrase"]') || document.querySelector('[data-testid="not-ready"]'))`)
	shot(t, ctx, "offering-5-confirm")
	if evalString(t, ctx, `String(!!document.querySelector('[data-testid="not-ready"]'))`) == "true" {
		t.Fatalf("the pre-flight stops the import: %s", textOf(t, ctx, `main`))
	}
	phrase := evalString(t, ctx, `document.querySelector('[data-testid="phrase"]').textContent`)
	if phrase != "CREDIT "+strconv.Itoa(ready) || ready < 300 {
		t.Fatalf("phrase %q with %d ready rows", phrase, ready)
	}
	if got := evalString(t, ctx, `document.querySelector('[data-testid="total-investments"]').textContent.trim().replaceAll(",", "")`); got != strconv.Itoa(ready) {
		t.Fatalf("the pre-flight's total says %q investments, want %d", got, ready)
	}
	mark("confirm")

	// 6. Run and 7. result.
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => { const c = document.querySelector('[data-testid="currency-accept"]'); if (c) c.checked = true; })()`),
		chromedp.SendKeys(chromedp.ID("confirm"), phrase), chromedp.Click(chromedp.CSS(`[data-testid="start-button"]`))), "start")
	waitJS(t, ctx, `location.pathname.endsWith("/run")`)
	shot(t, ctx, "offering-6-run")
	deadline := time.Now().Add(6 * time.Minute)
	for evalString(t, ctx, `((document.querySelector('[data-testid="run-state"]') || {}).dataset || {}).code || ""`) != "done" {
		if time.Now().After(deadline) {
			t.Fatalf("the import did not finish: %s", textOf(t, ctx, `[data-testid="progress-text"]`))
		}
		time.Sleep(500 * time.Millisecond) // polling bound only; the page polls itself
	}
	mark("run")
	must(t, chromedp.Do(ctx, chromedp.Navigate(strings.TrimSuffix(evalString(t, ctx, `location.href`), "/run")+"/result")), "result")
	waitJS(t, ctx, `document.querySelector('[data-testid="report-link"]')`)
	if got := textOf(t, ctx, `[data-testid="progress-text"]`); !strings.HasPrefix(got, strconv.Itoa(n)+" of "+strconv.Itoa(n)) {
		t.Fatalf("result: %q", got)
	}
	done := evalString(t, ctx, `[...document.querySelectorAll('.summary-line span')].map(s => s.textContent).join(" | ")`)
	if !strings.Contains(done, "done "+strconv.Itoa(ready)) {
		t.Fatalf("result: %s, want %d done", done, ready)
	}
	shot(t, ctx, "offering-7-result")
	mark("result")

	prev := [4]int{d0, x0, 0, a0}
	for _, st := range []string{"source", "mapping", "documents", "review", "confirm", "run", "result"} {
		s := steps[st]
		t.Logf("%-9s page loads %3d, htmx requests %3d (progress polls %3d), requests in all %4d", st, s[0]-prev[0], s[1]-prev[1], s[2]-prev[2], s[3]-prev[3])
		prev = s
	}
	d, x, p, a := tr.snapshot()
	t.Logf("in all (after sign-in): %d page loads, %d htmx requests of which %d progress polls, %d requests (pages, htmx, assets)", d-d0, x-x0, p, a-a0)
}
