package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

const (
	adminEmail = "admin@example.com"
	adminPass  = "e2e admin password"
)

// A person signs in, moves around with htmx-boosted navigation, uses the
// back button, and signs out.
func TestBrowserSignInNavigateSignOut(t *testing.T) {
	ctx := newBrowser(t)
	c := startConsole(t, "", nil, "ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+adminPass)

	signIn(t, ctx, c.URL, adminEmail, adminPass)
	if got := textOf(t, ctx, `[data-testid="mode-badge"]`); got != "Sandbox" {
		t.Fatalf("mode badge %q", got)
	}
	htmxVersion, err := chromedp.Run(ctx, chromedp.Evaluate[string](`htmx.version`))
	must(t, err, "htmx version")
	if !strings.HasPrefix(htmxVersion, "2.") {
		t.Fatalf("htmx %s loaded, want 2.x", htmxVersion)
	}
	shot(t, ctx, "foundation-1-start")

	// Mark the window: a full page load would lose the mark, an htmx swap keeps it.
	must(t, chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.__e2eMark = 42`)), "mark window")
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav a[href="/users"]`))), "click Users")
	waitJS(t, ctx, `location.pathname === "/users" && document.querySelector("main h1").textContent === "Users"`)
	mark, err := chromedp.Run(ctx, chromedp.Evaluate[int](`window.__e2eMark || 0`))
	must(t, err, "read mark")
	if mark != 42 {
		t.Fatal("navigation reloaded the page; htmx boost did not handle it")
	}
	if got := textOf(t, ctx, `[data-testid="user-email"]`); got != adminEmail {
		t.Fatalf("users table shows %q", got)
	}
	if cur := textOf(t, ctx, `nav a[aria-current="page"]`); cur != "Users" {
		t.Fatalf("current nav item %q", cur)
	}
	shot(t, ctx, "foundation-2-users")

	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`nav a[href="/audit"]`))), "click Audit log")
	waitJS(t, ctx, `location.pathname === "/audit"`)
	must(t, chromedp.Do(ctx, chromedp.NavigateBack()), "back")
	waitJS(t, ctx, `location.pathname === "/users" && document.querySelector('[data-testid="users-table"]') !== null`)

	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.account button[type="submit"]`))), "sign out")
	waitJS(t, ctx, `location.pathname === "/login" && document.querySelector('[data-testid="flash"]') !== null`)
	if got := textOf(t, ctx, `[data-testid="flash"] span`); got != "You are signed out." {
		t.Fatalf("flash after sign-out %q", got)
	}
	shot(t, ctx, "foundation-3-signed-out")

	// Signed out means signed out: the users page now sends us to sign in.
	must(t, chromedp.Do(ctx, chromedp.Navigate(c.URL+"/users")), "open /users")
	waitJS(t, ctx, `location.pathname === "/login"`)

	if strings.Contains(c.Output(), adminPass) {
		t.Fatal("the admin password appeared in the program's output")
	}
}
