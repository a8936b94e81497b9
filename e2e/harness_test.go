// Package e2e drives the real binary in headless Chromium (Debian's
// chromium, through chromedp). The tests skip when Chromium is missing,
// unless REQUIRE_EXTERNAL_TOOLS=1 (set by .ci/run), which makes that a failure.
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

var binary string // built once in TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "issuer-console-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "web")
	build := exec.Command("go", "build", "-o", binary, "./cmd/web")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the binary:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// chromiumPath finds the browser or skips (fails under REQUIRE_EXTERNAL_TOOLS=1).
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("REQUIRE_EXTERNAL_TOOLS") == "1" {
		t.Fatal("Chromium is required (REQUIRE_EXTERNAL_TOOLS=1) but not installed: apt-get install chromium")
	}
	t.Skip("Chromium not installed; the end-to-end tests need it (apt-get install chromium)")
	return ""
}

// console is the real binary running on a free loopback port.
type console struct {
	URL     string
	DataDir string
	cmd     *exec.Cmd
	mu      sync.Mutex
	out     strings.Builder // stdout + stderr
	done    chan error
}

func (c *console) Output() string { c.mu.Lock(); defer c.mu.Unlock(); return c.out.String() }

var listening = regexp.MustCompile(`msg=listening url=(https?://127\.0\.0\.1:\d+)`)

// startConsole runs the binary with the given extra arguments and
// environment (KEY=VALUE), and waits until it listens.
func startConsole(t *testing.T, dataDir string, args []string, env ...string) *console {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	c := &console{DataDir: dataDir, done: make(chan error, 1)}
	c.cmd = exec.Command(binary, append([]string{"-addr", "127.0.0.1:0", "-data", dataDir}, args...)...)
	c.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	c.cmd.Stdout, c.cmd.Stderr = pw, pw
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.out.WriteString(line + "\n")
			c.mu.Unlock()
			if m := listening.FindStringSubmatch(line); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
	}()
	go func() { c.done <- c.cmd.Wait(); pw.Close() }()
	select {
	case c.URL = <-urlc:
	case err := <-c.done:
		t.Fatalf("console exited before listening: %v\n%s", err, c.Output())
	case <-time.After(60 * time.Second):
		c.cmd.Process.Kill()
		t.Fatalf("console did not start in 60 s:\n%s", c.Output())
	}
	t.Cleanup(func() { c.Stop(t) })
	return c
}

// Stop sends SIGTERM and expects a graceful exit with status 0.
func (c *console) Stop(t *testing.T) {
	if c.cmd.ProcessState != nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.done:
		if err != nil {
			t.Errorf("console exited with %v after SIGTERM\n%s", err, c.Output())
		}
	case <-time.After(20 * time.Second):
		c.cmd.Process.Kill()
		t.Errorf("console did not stop within 20 s of SIGTERM")
	}
}

// newBrowser starts headless Chromium with the flags this machine needs (no
// sandbox as root, no background network: the network is closed).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	return newBrowserFor(t, 90*time.Second)
}

// newBrowserFor is newBrowser for a walk that may take up to limit.
func newBrowserFor(t *testing.T, limit time.Duration) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, limit)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx
}

// shot saves a full-page screenshot to e2e/screenshots/NAME.png, for people
// to look at; the directory is ignored by git.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// A page still being laid out (a redirect just landed) has no size yet,
	// and one amid an htmx request or swap is half old, half new: wait until
	// neither holds before taking the picture.
	waitJS(t, ctx, `document.readyState === "complete" && document.documentElement.scrollWidth > 0 && document.documentElement.scrollHeight > 0 && !document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling")`)
	var png []byte
	var err error
	// A window with a classic scrollbar (headless Chromium's, 15 px) gives
	// a full-page capture as wide as the window less the scrollbar (375 of
	// 390 px), while the capture lays the page out again at the full width
	// (the window grows to the page's height, the scrollbar goes): the
	// picture lost 15 px on the right that the page does not overflow.
	// Captured as a phone would show it (overlay scrollbars, mobile
	// emulation), both widths are the window's; the window comes back after.
	if w, cw, h := evalInt(t, ctx, `innerWidth`), evalInt(t, ctx, `document.documentElement.clientWidth`), evalInt(t, ctx, `innerHeight`); w != cw {
		must(t, chromedp.Do(ctx, chromedp.EmulateViewport(int64(w), int64(h), chromedp.EmulateMobile)), "overlay scrollbars")
		defer func() { must(t, chromedp.Do(ctx, chromedp.EmulateViewport(int64(w), int64(h))), "window back") }()
	}
	for try := 0; try < 3; try++ { // the page may still be replaced once (an htmx swap, a redirect)
		if png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100) /* 100 = PNG */); err == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll("screenshots", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("screenshots", name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitJS waits until a JavaScript condition is true. It evaluates in a loop
// rather than with chromedp.Poll, because a navigation in between destroys
// the page a Poll runs in.
func waitJS(t *testing.T, ctx context.Context, cond string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // bounds a failure on a loaded machine
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(function(){ try { return !!(`+cond+`) } catch (e) { return false } })()`))
		if err == nil && ok {
			return
		}
		if ctx.Err() != nil {
			break
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("waiting for %s: timed out (last error: %v)", cond, lastErr)
}

// textOf waits for the first element matching css and reads its text in
// one evaluation, so an htmx swap cannot remove the node between finding it
// and reading it (chromedp's TextContent does those in two steps).
func textOf(t *testing.T, ctx context.Context, css string) string {
	t.Helper()
	sel := strconv.Quote(css)
	waitJS(t, ctx, `document.querySelector(`+sel+`) !== null`)
	s := evalString(t, ctx, `(function(){ const e = document.querySelector(`+sel+`); return e ? e.textContent : "" })()`)
	return strings.Join(strings.Fields(s), " ")
}

// click clicks the element css selects, with the mouse like a person.
// Right after a page load chromedp can resolve the selector in the
// document it saw last, whose nodes the new one replaced ("Could not find
// node with given id"): the click is then tried again on the page as it
// is, at most three times.
func click(t *testing.T, ctx context.Context, css, what string) {
	t.Helper()
	var err error
	for range 3 {
		waitJS(t, ctx, `document.querySelector(`+strconv.Quote(css)+`) !== null`)
		if err = chromedp.Do(ctx, chromedp.Click(chromedp.CSS(css))); err == nil || !strings.Contains(err.Error(), "Could not find node with given id") {
			break
		}
	}
	must(t, err, what)
}

// signIn fills the sign-in form like a person would.
func signIn(t *testing.T, ctx context.Context, base, email, password string) {
	t.Helper()
	must(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`form[data-testid="login-form"]`)),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`form[data-testid="login-form"] button[type="submit"]`)),
	), "sign in")
	waitJS(t, ctx, `document.querySelector('[data-testid="current-user"]') !== null`)
}

type contextT = context.Context
