package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// A person walks the import wizard from source to result in the browser,
// uploading a real PDF, with a screenshot of each step.
func TestBrowserImportWizard(t *testing.T) {
	ctx := newBrowser(t)
	c := startConsole(t, "", []string{"-sandbox-investments", "800"}, "ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+adminPass)
	signIn(t, ctx, c.URL, adminEmail, adminPass)

	// A real PDF on disk for the file input.
	pdfPath := filepath.Join(t.TempDir(), "subscription-agreement.pdf")
	if err := os.WriteFile(pdfPath, minimalPDF, 0o600); err != nil {
		t.Fatal(err)
	}

	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav a[href="/imports"]`))), "open imports")
	waitJS(t, ctx, `location.pathname === "/imports" && document.getElementById("job-name")`)
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("job-name"), "Silver Creek, accepted"),
		chromedp.Click(chromedp.CSS(`[data-testid="new-import"] button`)),
	), "new import")

	// 1. Source: the first offering's accepted and invested investments.
	waitJS(t, ctx, `location.pathname.endsWith("/source") && document.querySelector('[data-testid="source-search"]')`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="source-search"] button`))), "load offering")
	waitJS(t, ctx, `document.querySelector('[data-testid="source-count"]')`)
	shot(t, ctx, "import-1-source")

	// 2. Mapping: first campaign and product, match by e-mail, fill the rest.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a.button[href$="/mapping"]`))), "to mapping")
	waitJS(t, ctx, `location.pathname.endsWith("/mapping") && document.getElementById("m-campaign")`)
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		for (const id of ["m-campaign", "m-product"]) { const s = document.getElementById(id); s.selectedIndex = 1; }
	})()`)), "choose campaign")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="mapping-form"] button[value="save"]`))), "save campaign")
	waitJS(t, ctx, `(document.querySelector('[data-testid="mapping-msg"]') || {}).textContent === "Mapping saved."`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="match-email"]`))), "match by e-mail")
	waitJS(t, ctx, `(document.querySelector('[data-testid="flash"]') || {textContent: ""}).textContent.includes("by e-mail")`)
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		const first = document.querySelector('#cashlink-investors option').value;
		for (const i of document.querySelectorAll('[data-testid="mapping-input"], [data-testid="unlinked-table"] input')) if (!i.value) i.value = first;
		for (const id of ["m-campaign", "m-product"]) { const s = document.getElementById(id); s.selectedIndex = 1; }
	})()`), chromedp.Click(chromedp.CSS(`[data-testid="mapping-form"] button[value="save"]`))), "save mapping")
	waitJS(t, ctx, `(document.querySelector('[data-testid="mapping-msg"]') || {}).textContent === "Mapping saved."`)
	shot(t, ctx, "import-2-mapping")

	// 3. Documents: one shared, real PDF.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a.button[href$="/documents"]`))), "to documents")
	waitJS(t, ctx, `location.pathname.endsWith("/documents") && document.getElementById("d-shared")`)
	must(t, chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.ID("d-shared"), []string{pdfPath}),
		chromedp.Click(chromedp.CSS(`[data-testid="shared-upload"] button`))), "upload PDF")
	waitJS(t, ctx, `(document.querySelector('[data-testid="documents-msg"]') || {textContent: ""}).textContent.startsWith("Stored subscription-agreement.pdf")`)
	shot(t, ctx, "import-3-documents")

	// 4. Review, then 5. the pre-flight and the typed confirmation (with
	// the currency decision: the sandbox campaign is priced in EUR).
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a.button[href$="/review"]`))), "to review")
	waitJS(t, ctx, `location.pathname.endsWith("/review") && document.querySelector('[data-testid="preflight-link"]')`)
	shot(t, ctx, "import-4-review")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="preflight-link"]`))), "to the pre-flight")
	waitJS(t, ctx, `location.pathname.endsWith("/confirm") && document.querySelector('[data-testid="phrase"]')`)
	if total := evalString(t, ctx, `document.querySelector('[data-testid="total-amount"]').textContent`); !strings.HasPrefix(total, "€") {
		t.Fatalf("pre-flight total %q: want the campaign's euros", total)
	}
	phrase := evalString(t, ctx, `document.querySelector('[data-testid="phrase"]').textContent`)
	shot(t, ctx, "import-4b-confirm")
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => { const c = document.querySelector('[data-testid="currency-accept"]'); if (c) c.checked = true; })()`),
		chromedp.SendKeys(chromedp.ID("confirm"), phrase), chromedp.Click(chromedp.CSS(`[data-testid="start-button"]`))), "start")

	// 5. Run: live progress until done; 6. result.
	waitJS(t, ctx, `location.pathname.endsWith("/run")`)
	shot(t, ctx, "import-5-run")
	waitJS(t, ctx, `((document.querySelector('[data-testid="run-state"]') || {}).dataset || {}).code === "done"`)
	must(t, chromedp.Do(ctx, chromedp.Navigate(strings.TrimSuffix(evalString(t, ctx, `location.href`), "/run")+"/result")), "result")
	waitJS(t, ctx, `document.querySelector('[data-testid="report-link"]')`)
	states := evalString(t, ctx, `[...document.querySelectorAll('tr[data-testid="run-row"]')].map(r => r.dataset.state).join(",")`)
	for _, st := range strings.Split(states, ",") {
		if st != "done" {
			t.Fatalf("row states %s", states)
		}
	}
	shot(t, ctx, "import-6-result")

	// The reconciliation of everything imported, then a click into an
	// imported investment's page, which shows its import row; and the
	// redemption form.
	must(t, chromedp.Do(ctx, chromedp.Navigate(c.URL+"/imports/reconcile")), "reconciliation")
	waitJS(t, ctx, `document.querySelector('[data-testid="reconcile-table"]')`)
	if n := evalString(t, ctx, `String(document.querySelectorAll('[data-testid="difference"]').length)`); n != "0" {
		t.Fatalf("%s differences right after a clean import", n)
	}
	shot(t, ctx, "import-7-reconcile")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="reconcile-row"] a[href^="/investments/"]`))), "open investment")
	waitJS(t, ctx, `document.querySelector('[data-testid="investment-import"]')`)
	if got := evalString(t, ctx, `document.querySelector('[data-testid="investment-import"] td:nth-child(2)').textContent.trim()`); got != "done" {
		t.Fatalf("the investment page shows its import row as %q", got)
	}
	shot(t, ctx, "import-8-investment")
	must(t, chromedp.Do(ctx, chromedp.Navigate(c.URL+"/imports/redeem")), "redemptions")
	// The redemption form appears once an investor is picked: the page
	// starts with the search.
	waitJS(t, ctx, `document.querySelector('[data-testid="investor-search"]')`)
	shot(t, ctx, "import-9-redeem")
}

// minimalPDF is a valid one-page PDF.
var minimalPDF = []byte(`%PDF-1.4
1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj
2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj
3 0 obj << /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >> endobj
trailer << /Root 1 0 R >>
%%EOF
`)
