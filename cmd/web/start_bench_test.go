package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkColdStart starts the built binary as a person would and reports
// the median of 5 starts, for a fresh data folder (with ADMIN_EMAIL, so the
// first admin is created too) and for an existing one:
//
//	go test -run '^$' -bench ColdStart -benchtime 1x ./cmd/web/
//
// serving: from exec to the first 200 from /healthz (the listener answers
// and the console database works); ready: to the first /healthz without
// "state": "preparing" (the sandbox's data set and the first admin exist,
// so every page answers without waiting).
func BenchmarkColdStart(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "web")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	for _, c := range []struct {
		name  string
		fresh bool
	}{{"fresh", true}, {"existing", false}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				existing := b.TempDir()
				if !c.fresh {
					startOnce(b, bin, existing) // creates the data folder
				}
				var serving, ready []time.Duration
				for range 5 {
					dir := existing
					if c.fresh {
						dir = b.TempDir()
					}
					s, r := startOnce(b, bin, dir)
					serving, ready = append(serving, s), append(ready, r)
				}
				ms, mr := median(serving), median(ready)
				fmt.Printf("cold start, %s data folder: serving %s, ready %s (medians of 5; serving %v)\n",
					c.name, ms.Round(time.Millisecond), mr.Round(time.Millisecond), rounded(serving))
				b.ReportMetric(float64(ms.Milliseconds()), "serving-ms")
				b.ReportMetric(float64(mr.Milliseconds()), "ready-ms")
			}
		})
	}
}

// startOnce runs the binary on dir until /healthz says it is ready, then
// stops it with SIGINT.
func startOnce(b *testing.B, bin, dir string) (serving, ready time.Duration) {
	b.Helper()
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-data", dir)
	cmd.Env = append(os.Environ(), "ADMIN_EMAIL=admin@example.com", "ADMIN_PASSWORD=correct horse battery")
	stdout := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, io.Discard
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}()
	re := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var base string
	for base == "" {
		if ctx.Err() != nil {
			b.Fatal("the console never logged its address")
		}
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
		} else {
			time.Sleep(time.Millisecond) // polling a process from outside: nothing to wait on
		}
	}
	for ready == 0 {
		if ctx.Err() != nil {
			b.Fatal("the console never became ready")
		}
		body, ok := health(ctx, base)
		switch {
		case !ok:
			time.Sleep(2 * time.Millisecond) // polling a process from outside: nothing to wait on
			continue
		case serving == 0:
			serving = time.Since(start)
		}
		if !strings.Contains(body, `"preparing"`) {
			ready = time.Since(start)
		} else {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return serving, ready
}

func health(ctx context.Context, base string) (string, bool) {
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/healthz", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", false
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return string(body), res.StatusCode == http.StatusOK
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration{}, ds...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	return s[len(s)/2]
}

func rounded(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
