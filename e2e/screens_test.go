package e2e

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// axe-core 4.14.1 from npm (scripts/vendor-axe.sh), for these tests only.
//
//go:embed testdata/axe.min.js
var axeJS string

// mainScreens are the screens people use, by name and address.
var mainScreens = []struct{ name, path, ready string }{
	{"home", "/", `document.querySelector("main h1")`},
	{"offerings", "/offerings", `document.querySelector('[data-testid="offerings-table"]')`},
	{"offering", "/offerings/1", `document.querySelector('[data-testid="funnel"]')`},
	{"investments", "/investments", `document.querySelector('[data-testid="investments-table"]')`},
	{"investment", "/investments/1", `document.querySelector('[data-testid="investment-fields"]')`},
	{"investors", "/investors", `document.querySelector('[data-testid="investors-table"]')`},
	{"investor", "/investors/1", `document.querySelector('[data-testid="investor-fields"]')`},
	{"issuance-users", "/issuance-users", `document.querySelector('[data-testid="issuance-users-table"]')`},
	{"imports", "/imports", `document.querySelector("main h1")`},
	{"redemptions", "/imports/redeem", `document.querySelector("main h1")`},
	{"audit", "/audit", `document.querySelector('[data-testid="audit-table"]')`},
	{"users", "/users", `document.querySelector("main h1")`},
	{"settings", "/settings", `document.querySelector("main h1")`},
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// Every main screen at desktop (1440×900) and phone (390×844) width:
// a screenshot for people to look at, and axe-core finds no serious or
// critical accessibility violation. At desktop width the first search
// result is above the fold; at phone width the header is compact.
func TestBrowserScreensAccessible(t *testing.T) {
	c := startConsole(t, "", []string{"-sandbox-investments", "1500"}, "ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+adminPass)
	for _, size := range []struct {
		name string
		w, h int64
	}{{"desktop", 1440, 900}, {"phone", 390, 844}} {
		t.Run(size.name, func(t *testing.T) {
			ctx := newBrowserFor(t, 5*time.Minute) // 13 screens, axe-core on each, on a busy machine
			must(t, chromedp.Do(ctx, chromedp.EmulateViewport(size.w, size.h)), "viewport")
			signIn(t, ctx, c.URL, adminEmail, adminPass)
			for _, sc := range mainScreens {
				must(t, chromedp.Do(ctx, chromedp.Navigate(c.URL+sc.path)), "open "+sc.path)
				waitJS(t, ctx, sc.ready)
				waitJS(t, ctx, `!document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")`)
				shot(t, ctx, fmt.Sprintf("screen-%s-%dx%d", sc.name, size.w, size.h))
				for _, v := range runAxe(t, ctx) {
					if v.Impact != "serious" && v.Impact != "critical" {
						continue
					}
					var targets []string
					for _, n := range v.Nodes {
						targets = append(targets, fmt.Sprint(n.Target...))
					}
					t.Errorf("%s at %s: %s (%s) on %d elements: %s", sc.path, size.name, v.ID, v.Impact, len(v.Nodes), strings.Join(targets[:min(len(targets), 5)], " | "))
				}
				if size.name == "phone" {
					for _, o := range overflow(t, ctx) {
						t.Errorf("%s at %d px: %s", sc.path, size.w, o)
					}
				}
				switch {
				case sc.name == "investments" && size.name == "desktop":
					if top := evalInt(t, ctx, `Math.round(document.querySelector('tr[data-testid="investment-row"]').getBoundingClientRect().top)`); top > 900-40 {
						t.Errorf("the first search result starts at y=%d px, below the fold of a 900 px window", top)
					}
				case sc.name == "home" && size.name == "phone":
					if h := evalInt(t, ctx, `Math.round(document.querySelector("header.topbar").getBoundingClientRect().height)`); h > 60 {
						t.Errorf("the header takes %d px at phone width", h)
					}
					// The menu button opens the navigation.
					must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`[data-menu]`))), "open the menu")
					waitJS(t, ctx, `document.querySelector('#main-nav').getBoundingClientRect().height > 100`)
					shot(t, ctx, "screen-home-menu-390x844")
				}
			}
		})
	}
}

// overflowJS lists what makes the page wider than the window: the page's
// own horizontal scroll, and each visible element whose right edge passes
// the window unless an ancestor that scrolls or clips (a table's frame)
// keeps it inside. Only the outermost culprit of a subtree is named. A
// table wider than its frame must keep its first column in view.
const overflowJS = `(() => {
  const root = document.documentElement, vw = root.clientWidth, out = [];
  if (root.scrollWidth > vw) out.push("the page scrolls sideways: scrollWidth " + root.scrollWidth + " > clientWidth " + vw);
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (typeof el.className === "string" && el.className.trim() ? "." + el.className.trim().split(/\s+/).join(".") : "") +
    (el.dataset && el.dataset.testid ? "[data-testid=" + el.dataset.testid + "]" : "");
  const flagged = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || r.right <= vw + 0.5) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === "hidden" || cs.position === "fixed") continue;
    let kept = false;
    // An absolutely positioned element escapes a scrolling ancestor
    // unless that ancestor (or one inside it) is its containing block.
    const escapes = cs.position === "absolute";
    for (let a = escapes ? el.offsetParent : el.parentElement; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.overflowX !== "visible" && a.getBoundingClientRect().right <= vw + 0.5) { kept = true; break; }
    }
    if (kept || flagged.some(f => f.contains(el))) continue;
    flagged.push(el);
    out.push(name(el) + " ends at x=" + Math.round(r.right) + " of " + vw + " (" + (el.textContent || "").trim().slice(0, 40) + ")");
  }
  // A table wider than its frame scrolls there, the first column kept.
  for (const w of document.querySelectorAll(".table-wrap")) {
    if (w.scrollWidth <= w.clientWidth) continue;
    const first = w.querySelector("tbody > tr > :first-child");
    if (first && getComputedStyle(first).position !== "sticky") out.push(name(w) + " scrolls without keeping its first column");
  }
  return JSON.stringify(out.slice(0, 8));
})()`

// overflow returns the horizontal overflows of the current page (none = nil).
func overflow(t *testing.T, ctx contextT) []string {
	t.Helper()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](overflowJS))
	must(t, err, "measure overflow")
	var list []string
	must(t, json.Unmarshal([]byte(out), &list), "overflow result")
	return list
}

// runAxe injects axe-core into the page and returns its violations.
func runAxe(t *testing.T, ctx contextT) []axeViolation {
	t.Helper()
	_, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](axeJS))
	must(t, err, "inject axe-core")
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	must(t, err, "run axe-core")
	var vs []axeViolation
	must(t, json.Unmarshal([]byte(out), &vs), "axe result")
	return vs
}
