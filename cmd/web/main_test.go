package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"issuerconsole/config"
	"issuerconsole/db"
	"issuerconsole/services/audit"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func noEnv(string) string { return "" }

func TestRunHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"-h"}, noEnv, &out, &out)
	if !errors.Is(err, config.ErrHelp) || !strings.Contains(out.String(), "-sandbox-investments") {
		t.Fatalf("err = %v, output:\n%s", err, out.String())
	}
}

func TestRunRejectsBadConfigBeforeListening(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := run(context.Background(), []string{"-addr", "127.0.0.1:0", "-sandbox", "perhaps", "-session-idle", "1s"}, noEnv, &out, &out)
	var cerr *config.Error
	if !errors.As(err, &cerr) || len(cerr.Problems) != 2 {
		t.Fatalf("err = %v", err)
	}
}

// run serves until its context is cancelled, then shuts down cleanly.
func TestRunServesAndShutsDown(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-sandbox-investments", "300"}, noEnv, stdout, stderr) // a small data set: starts in seconds on a busy machine
	}()
	// However the test ends, run is stopped and waited for (done is
	// buffered, and read here only when the test did not read it).
	returned := false
	t.Cleanup(func() {
		cancel()
		if !returned {
			select {
			case <-done:
			case <-time.After(time.Minute):
			}
		}
	})
	re := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)
	var base string
	for deadline := time.Now().Add(2 * time.Minute); base == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		}
	}
	if base == "" {
		t.Fatalf("never listened:\n%s\n%s", stdout.String(), stderr.String())
	}
	res, err := http.Get(base + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
	res.Body.Close()
	if !strings.Contains(stderr.String(), "/setup?token=") {
		t.Fatalf("no setup link on stderr:\n%s", stderr.String())
	}
	cancel()
	select {
	case err := <-done:
		returned = true
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(time.Minute): // bounds a failure on a loaded machine
		t.Fatal("run did not return after cancel")
	}
	if !strings.Contains(stdout.String(), "shutting down") {
		t.Fatal("no shutdown log line")
	}
}

func TestAuditVerifyCommand(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(ctx, []string{"audit", "verify", "-data", dir}, noEnv, &out, &out); err == nil {
		t.Fatal("verify of a folder without console.db succeeded")
	}
	d, err := db.Open(ctx, filepath.Join(dir, "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	st := audit.NewStore(d, nil)
	for i := range 5 {
		st.Append(ctx, audit.Entry{API: "issuance", Method: "GET", Path: fmt.Sprintf("/api/offerings/%d/", i), Status: 200})
	}
	out.Reset()
	if err := run(ctx, []string{"audit", "verify", "-data", dir}, noEnv, &out, &out); err != nil || !strings.Contains(out.String(), "intact: 5 rows") {
		t.Fatalf("intact chain: err %v, output %q", err, out.String())
	}
	d.Exec(`UPDATE audit_log SET path = '/api/offerings/99/' WHERE id = 3`)
	d.Close()
	err = run(ctx, []string{"audit", "verify", "-data", dir}, noEnv, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "broken at row 3") {
		t.Fatalf("tampered chain: err %v", err)
	}
}

// -sandbox-export writes a fixture that -sandbox-fixture loads back.
func TestSandboxExportRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var out bytes.Buffer
	file := filepath.Join(t.TempDir(), "fixture.json")
	if err := run(ctx, []string{"-data", t.TempDir(), "-sandbox-investments", "50", "-sandbox-seed", "7", "-sandbox-export", file}, noEnv, &out, &out); err != nil {
		t.Fatalf("export: %v\n%s", err, out.String())
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Size() < 1000 {
		t.Fatalf("fixture %v %v", fi, err)
	}
	file2 := filepath.Join(t.TempDir(), "again.json")
	if err := run(ctx, []string{"-data", t.TempDir(), "-sandbox-fixture", file, "-sandbox-export", file2}, noEnv, &out, &out); err != nil {
		t.Fatalf("loading the export: %v\n%s", err, out.String())
	}
	a, _ := os.ReadFile(file)
	b, _ := os.ReadFile(file2)
	if !bytes.Equal(a, b) {
		t.Fatal("a fixture exported again after loading differs")
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(`{"issuers":[],"offerings":[],"users":[],"investors":[],"investments":[{"id":1,"offering":9}]}`), 0o600)
	err = run(ctx, []string{"-data", t.TempDir(), "-sandbox-fixture", bad, "-sandbox-export", file2}, noEnv, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "investments[0]") {
		t.Fatalf("an inconsistent fixture: %v", err)
	}
}

// TestMain lets a test run the real main in a child process (the test
// binary re-executed with WEB_TEST_RUN_MAIN=1), to see its exit status and
// what it prints, panics included.
func TestMain(m *testing.M) {
	if os.Getenv("WEB_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"web"}, strings.Fields(os.Getenv("WEB_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A start with a broken fixture fails as an error: non-zero exit, the
// fixture's problem on stderr, and no panic (New's cleanup once called
// Close on a nil *App and hid the error behind a panic).
func TestStartWithBrokenFixtureExitsWithItsError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"issuers":[],"offerings":[],"users":[],"investors":[],"investments":[{"id":1,"offering":9}]}`), 0o600)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WEB_TEST_RUN_MAIN=1",
		"WEB_TEST_ARGS=-addr 127.0.0.1:0 -data "+filepath.Join(dir, "data")+" -sandbox-fixture "+bad)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "error: ") || !strings.Contains(stderr.String(), "sandbox: issuance emulator") || !strings.Contains(stderr.String(), "investments[0]") {
		t.Fatalf("stderr lacks the fixture's error:\n%s", stderr.String())
	}
	if all := stdout.String() + stderr.String(); strings.Contains(all, "panic") || strings.Contains(all, "goroutine ") {
		t.Fatalf("a panic:\n%s", all)
	}
}
