package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A person finds an investor by typing part of the name (htmx lists the
// matches while typing), picks them, sees the products and wallets with
// their balances, and asks for more units than the balance: refused next
// to the field, everything typed kept. At desktop and phone width, with
// screenshots, axe-core and the overflow check on each state.
func TestBrowserRedemptionPicker(t *testing.T) {
	c := startConsole(t, "", []string{"-sandbox-investments", "300"}, "ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+adminPass)
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1440, 900}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			ctx := newBrowserFor(t, 3*time.Minute)
			must(t, chromedp.Do(ctx, chromedp.EmulateViewport(size.w, size.h)), "viewport")
			signIn(t, ctx, c.URL, adminEmail, adminPass)
			check := func(state string) {
				t.Helper()
				waitJS(t, ctx, `!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")`)
				shot(t, ctx, fmt.Sprintf("redeem-%s-%dx%d", state, size.w, size.h))
				for _, v := range runAxe(t, ctx) {
					if v.Impact == "serious" || v.Impact == "critical" {
						t.Errorf("%s at %s: %s (%s): %s", state, size.name, v.ID, v.Impact, v.Help)
					}
				}
				for _, o := range overflow(t, ctx) {
					t.Errorf("%s at %d px: %s", state, size.w, o)
				}
			}

			must(t, chromedp.Do(ctx, chromedp.Navigate(c.URL+"/imports/redeem")), "open redemptions")
			waitJS(t, ctx, `document.querySelector("#r-q")`)
			must(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("r-q"), "lars")), "type a name")
			// The matches arrive while typing, without leaving the page.
			waitJS(t, ctx, `location.search === "" && document.querySelectorAll('[data-testid="investor-match"]').length >= 2`)
			check("search")
			names := evalString(t, ctx, `[...document.querySelectorAll('[data-testid="investor-match"] a')].map(a => a.textContent.trim()).join(",")`)
			for _, n := range strings.Split(names, ",") {
				if !strings.Contains(strings.ToLower(n), "lars") {
					t.Errorf("match %q for lars", n)
				}
			}
			must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-testid="investor-match"] a`))), "pick the investor")
			waitJS(t, ctx, `document.querySelector('[data-testid="chosen-name"]') && document.querySelector('[data-testid="holding"]')`)
			if got := textOf(t, ctx, `[data-testid="holding"] [data-testid="balance"]`); got != "1,000 units" {
				t.Errorf("balance shown %q", got)
			}
			check("investor")

			must(t, chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("r-units"), "1001"), chromedp.SendKeys(chromedp.ID("r-confirm"), "REDEEM 1001"),
				chromedp.Click(chromedp.CSS(`[data-testid="redeem-button"]`))), "ask for too much")
			waitJS(t, ctx, `document.querySelector('[data-testid="error-units"]')`)
			if got := textOf(t, ctx, `[data-testid="error-units"]`); !strings.HasPrefix(got, "More than the balance: this wallet holds 1,000 units of ") {
				t.Errorf("units error %q", got)
			}
			if got := evalString(t, ctx, `document.querySelector("#r-units").value + "|" + document.querySelector("#r-confirm").value + "|" + !!document.querySelector('[data-testid="holding"] input:checked')`); got != "1001|REDEEM 1001|true" {
				t.Errorf("inputs after the refusal: %s", got)
			}
			check("over-balance")
		})
	}
}
