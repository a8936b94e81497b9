package e2e

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

func evalString(t *testing.T, ctx contextT, js string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	must(t, err, js)
	return s
}

func evalInt(t *testing.T, ctx contextT, js string) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](js, chromedp.EvalAwaitPromise))
	must(t, err, js)
	return n
}

const firstRowID = `(document.querySelector('tr[data-testid="investment-row"]') || {dataset: {}}).dataset.id || ""`

// A person filters the investments, sorts, pages, goes back, exports, and
// then finds those calls in the audit log.
func TestBrowserSearchSortPageBackExport(t *testing.T) {
	ctx := newBrowser(t)
	c := startConsole(t, "", []string{"-sandbox-investments", "1500"}, "ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+adminPass)
	signIn(t, ctx, c.URL, adminEmail, adminPass)

	must(t, chromedp.Do(ctx, chromedp.Navigate(c.URL+"/investments")), "open search")
	waitJS(t, ctx, `location.search === "?page_size=25" && document.querySelector('[data-testid="result-count"]')`)
	total := evalString(t, ctx, `document.querySelector('[data-testid="result-count"]').textContent`)
	// The status counts arrive after the results (htmx loads them).
	waitJS(t, ctx, `document.getElementById("c-status__in-accepted").textContent !== ""`)
	shot(t, ctx, "search-1-all")

	// Filter: two statuses in the facet; the results and the URL follow.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#p-status__in input[value="accepted"]`)),
		chromedp.Click(chromedp.CSS(`#p-status__in input[value="invested"]`))), "choose statuses")
	waitJS(t, ctx, `/status__in=(accepted%2Cinvested|invested%2Caccepted)/.test(location.search) && document.querySelector('[data-testid="result-count"]').textContent !== `+strconv.Quote(total))
	filtered := evalString(t, ctx, `document.querySelector('[data-testid="result-count"]').textContent`)

	// Open the amounts group and type a minimum amount: debounced, then applied.
	waitJS(t, ctx, `!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")`)
	must(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("p-amount__gte"), "5000")), "type amount")
	waitJS(t, ctx, `location.search.includes("amount__gte=5000") && document.querySelector('[data-testid="result-count"]').textContent !== `+strconv.Quote(filtered))
	// Counts of the new search replace the old ones once loaded.
	waitJS(t, ctx, `!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling") && document.getElementById("c-status__in-accepted").textContent !== ""`)

	// A refused value shows its error beside the field; correcting it
	// clears the error (the fragment clears every error text, then sets
	// the ones it has).
	must(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("p-amount__lte"), "abc")), "type a bad amount")
	waitJS(t, ctx, `document.getElementById("e-amount__lte").textContent.includes("number")`)
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`{ const el = document.getElementById("p-amount__lte");
		el.value = ""; el.dispatchEvent(new Event("input", {bubbles: true})); }`)), "clear the bad amount")
	waitJS(t, ctx, `document.getElementById("e-amount__lte").textContent === "" && !location.search.includes("amount__lte")`)
	waitJS(t, ctx, `!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")`)

	statuses := evalString(t, ctx, `[...document.querySelectorAll('tr[data-testid="investment-row"] td:nth-child(5) .badge')].map(b => b.dataset.code).join(",")`)
	for _, st := range strings.Split(statuses, ",") {
		if st != "accepted" && st != "invested" {
			t.Fatalf("row with status %q in an accepted/invested search", st)
		}
	}
	shot(t, ctx, "search-2-filtered")

	// Sort by amount. Leave the amount field first and let the request its
	// blur sends land: a click whose target is swapped away between mouse
	// down and up is no click at all (the browser's rule, not ours).
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`)), "leave the field")
	waitJS(t, ctx, `!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`thead a.sort[href*="ordering=amount"]`))), "sort by amount")
	waitJS(t, ctx, `location.search.includes("ordering=amount") && document.querySelector('th[aria-sort="ascending"]')`)
	amounts := evalString(t, ctx, `[...document.querySelectorAll('tr[data-testid="investment-row"] td:nth-child(7)')].map(td => td.textContent.trim().replace(/[$,]/g, "")).join(";")`)
	prev := -1.0
	for _, a := range strings.Split(amounts, ";") {
		v, _ := strconv.ParseFloat(a, 64)
		if v < prev {
			t.Fatalf("amounts not ascending: %s", amounts)
		}
		prev = v
	}

	// A filter changed after sorting keeps the sort the header chose.
	if v := evalString(t, ctx, `document.getElementById("p-ordering").value`); v != "amount" {
		t.Fatalf("the form's ordering field says %q after sorting by amount", v)
	}
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#p-status__in input[value="accepted"]`))), "narrow statuses")
	waitJS(t, ctx, `/status__in=invested(&|$)/.test(location.search) && location.search.includes("ordering=amount") && document.querySelector('th[aria-sort="ascending"]')`)
	waitJS(t, ctx, `!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")`)

	// Page 2, then back.
	page1 := evalString(t, ctx, firstRowID)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav.pager a[rel="next"]`))), "next page")
	waitJS(t, ctx, `location.search.includes("page=2") && document.querySelector('.pager [aria-current="page"]').textContent === "2"`)
	if evalString(t, ctx, firstRowID) == page1 {
		t.Fatal("page 2 shows the rows of page 1")
	}
	shot(t, ctx, "search-3-page2")
	must(t, chromedp.Do(ctx, chromedp.NavigateBack()), "back")
	waitJS(t, ctx, `!location.search.includes("page=2") && location.search.includes("ordering=amount")`)
	waitJS(t, ctx, `(`+firstRowID+`) === `+strconv.Quote(page1))

	// Export every matching row.
	count := evalString(t, ctx, `document.querySelector('[data-testid="result-count"]').textContent`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="export-button"]`))), "export")
	waitJS(t, ctx, `document.querySelector('[data-testid="export-done"]')`)
	shot(t, ctx, "search-4-export")
	rows := evalInt(t, ctx, `(async () => {
		const href = document.querySelector('[data-testid="export-download"]').getAttribute("href");
		const text = await (await fetch(href)).text();
		return text.trim().split("\n").length - 1;
	})()`)
	if strconv.Itoa(rows) != strings.ReplaceAll(count, ",", "") {
		t.Fatalf("exported %d rows, the search had %s", rows, count)
	}

	// The audit log has those calls: filter by API, open an entry.
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav a[href="/audit"]`))), "open audit log")
	waitJS(t, ctx, `location.pathname === "/audit" && document.querySelector('[data-testid="audit-table"]')`)
	must(t, chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("f-api"), "issuance"), chromedp.Evaluate[chromedp.Void](
		`document.getElementById("f-api").dispatchEvent(new Event("change", {bubbles: true}))`)), "filter by API")
	waitJS(t, ctx, `location.search.includes("api=issuance") && [...document.querySelectorAll('[data-testid="audit-api"]')].every(td => td.textContent === "issuance")`)
	shot(t, ctx, "audit-1-filtered")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[data-testid="audit-link"]`))), "open entry")
	waitJS(t, ctx, `location.pathname.startsWith("/audit/") && document.querySelector('[data-testid="audit-detail"]')`)
	detail := evalString(t, ctx, `document.querySelector('[data-testid="audit-detail"]').textContent`)
	if !strings.Contains(detail, "/sandbox/issuance/api/") || !strings.Contains(detail, adminEmail) {
		t.Fatalf("entry does not show the call and its actor: %s", detail)
	}
	shot(t, ctx, "audit-2-entry")
}
