package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// An admin sets up two-factor sign-in in the browser (QR code shown under
// the CSP, secret as text, recovery codes once), signs out, and signs in
// again with the password and then a code computed from the secret, as an
// authenticator app would.
func TestBrowserTOTPEnrolAndSignIn(t *testing.T) {
	ctx := newBrowser(t)
	c := startConsole(t, "", nil, "ADMIN_EMAIL="+adminEmail, "ADMIN_PASSWORD="+adminPass)
	signIn(t, ctx, c.URL, adminEmail, adminPass)

	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`a[data-testid="current-user"]`))), "open the account page")
	waitJS(t, ctx, `location.pathname === "/account" && document.querySelector('[data-testid="twofactor-start-form"]') !== null`)
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`form[data-testid="twofactor-start-form"] button`))), "start set-up")
	// The QR code is a PNG data: URI; it loads only if the CSP allows it.
	waitJS(t, ctx, `(function(){ const i = document.querySelector('img[data-testid="totp-qr"]'); return i && i.complete && i.naturalWidth > 0 })()`)
	shot(t, ctx, "twofactor-1-enrol")
	secret := textOf(t, ctx, `[data-testid="totp-secret"]`)
	if len(secret) < 16 {
		t.Fatalf("secret shown as %q", secret)
	}
	// The app's code of the previous 30 seconds is still accepted (clock
	// skew); using it leaves the current step's code for the sign-in below,
	// since each step's code is accepted only once.
	// On a loaded machine a 30-second boundary can pass between computing
	// the code and the server checking it, making it two steps old: the
	// page then says the code is wrong (with an empty field), and a fresh
	// code is tried.
	var code string
	for attempt := 1; ; attempt++ {
		var err error
		code, err = totp.GenerateCode(secret, time.Now().Add(-30*time.Second))
		must(t, err, "compute code")
		must(t, chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.ID("code"), code),
			chromedp.Click(chromedp.CSS(`form[data-testid="totp-confirm-form"] button`)),
		), "confirm code")
		waitJS(t, ctx, `document.querySelectorAll('[data-testid="recovery-codes"] code').length === 10 || document.querySelector('[data-testid="totp-error"]') !== null`)
		if evalString(t, ctx, `String(document.querySelectorAll('[data-testid="recovery-codes"] code').length)`) == "10" {
			break
		}
		if attempt == 3 {
			t.Fatalf("the code was refused three times: %s", textOf(t, ctx, `[data-testid="totp-error"]`))
		}
	}
	shot(t, ctx, "twofactor-2-recovery-codes")

	must(t, chromedp.Do(ctx, chromedp.Navigate(c.URL+"/account")), "account page")
	if got := textOf(t, ctx, `[data-testid="twofactor-status"]`); !strings.HasPrefix(got, "On:") {
		t.Fatalf("status after enrolment %q", got)
	}
	must(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`.account button[type="submit"]`))), "sign out")
	waitJS(t, ctx, `location.pathname === "/login"`)

	must(t, chromedp.Do(ctx,
		chromedp.Navigate(c.URL+"/login?next=/audit"),
		chromedp.WaitVisible(chromedp.CSS(`form[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.ID("email"), adminEmail),
		chromedp.SendKeys(chromedp.ID("password"), adminPass),
		chromedp.Click(chromedp.CSS(`form[data-testid="login-form"] button[type="submit"]`)),
	), "password step")
	waitJS(t, ctx, `location.pathname === "/login/2fa" && document.querySelector('form[data-testid="login-code-form"]') !== null`)
	shot(t, ctx, "twofactor-3-second-step")
	code, err := totp.GenerateCode(secret, time.Now())
	must(t, err, "compute code")
	must(t, chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.CSS(`form[data-testid="login-code-form"] button`)),
	), "code step")
	waitJS(t, ctx, `location.pathname === "/audit" && document.querySelector('[data-testid="current-user"]') !== null`)
	shot(t, ctx, "twofactor-4-signed-in")
	if strings.Contains(c.Output(), secret) {
		t.Fatal("the TOTP secret appeared in the program's output")
	}
}
