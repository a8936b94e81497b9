package handlers_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"issuerconsole/services/audit"
)

// dbBytes is the size of console.db and its WAL.
func (s *testServer) dbBytes(t *testing.T) int64 {
	t.Helper()
	var n int64
	for _, p := range []string{s.consoleDB(t), s.consoleDB(t) + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// 1,000 failed sign-ins with 5 MB "e-mails", from a visitor who is not
// signed in, grow the database (console.db + WAL) by less than 1 MB: the
// typed text is not stored, every audit string is capped, and repeated and
// throttled failures are folded into counted rows.
func TestSignInFloodBounded(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	c := s.client(t)
	c.get("/login")
	before := s.dbBytes(t)
	head, _, _ := s.app.Audit.Head(context.Background())

	// The form is handed to the handler already parsed: parsing 5 GB of
	// form bodies is net/http's work (minutes under the race detector) and
	// not what grows the database. One real 5 MB request goes over the wire.
	emails := make([]string, 10) // ten different typed texts, so ten actors
	for i := range emails {
		emails[i] = string(rune('a'+i)) + strings.Repeat("x", 5<<20)
	}
	wantStatus(t, c.post("/login", url.Values{"email": {emails[0]}, "password": {"whatever password"}}), http.StatusUnauthorized)
	u, _ := url.Parse(s.URL)
	cookies := c.http.Jar.Cookies(u)
	const attempts, workers = 1000, 4
	statuses := map[int]int{http.StatusUnauthorized: 1}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w + 1; i < attempts; i += workers {
				form := url.Values{"email": {emails[i%len(emails)]}, "password": {"whatever password"}, "_csrf": {c.csrf}}
				req := httptest.NewRequest(http.MethodPost, "/login", nil)
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.RemoteAddr = "127.0.0.1:40000"
				req.Form, req.PostForm = form, form
				for _, ck := range cookies {
					req.AddCookie(ck)
				}
				rec := httptest.NewRecorder()
				s.app.Handler().ServeHTTP(rec, req)
				mu.Lock()
				statuses[rec.Code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if statuses[http.StatusUnauthorized]+statuses[http.StatusTooManyRequests] != attempts {
		t.Fatalf("answers %v, want only 401 and 429", statuses)
	}
	if err := s.app.SignIns.Flush(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	grown := s.dbBytes(t) - before
	t.Logf("%d sign-ins (%v) grew console.db+WAL by %d bytes", attempts, statuses, grown)
	if grown >= 1<<20 {
		t.Fatalf("the database grew by %d bytes, want < 1 MB", grown)
	}

	// What was written: a first row per actor, and summaries whose counts
	// add up to every attempt.
	// Per actor: a summary's counts when there is one (they include the
	// first rows), otherwise the first rows themselves.
	var rows int
	first := map[string][2]int{}
	summed := map[string][2]int{}
	err := s.app.Audit.Each(context.Background(), audit.Filter{Kind: audit.KindEvent}, func(e audit.Entry) error {
		if e.ID <= head {
			return nil
		}
		rows++
		if strings.Contains(e.Actor, "xxxx") || len(e.Actor) > 64 {
			t.Errorf("row %d stores the typed text as actor (%d bytes)", e.ID, len(e.Actor))
		}
		n := first[e.Actor]
		switch e.Event {
		case audit.EventLoginFailed:
			n[0]++
		case audit.EventLoginThrottled:
			n[1]++
		case audit.EventLoginSummary:
			var f, th int
			if _, err := sscanCounts(e.Detail, &f, &th); err != nil {
				t.Errorf("summary %q: %v", e.Detail, err)
			}
			summed[e.Actor] = [2]int{f, th}
		}
		first[e.Actor] = n
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var failed, throttled int
	for actor, n := range first {
		if sm, ok := summed[actor]; ok {
			n = sm
		}
		failed, throttled = failed+n[0], throttled+n[1]
	}
	if rows > 30 {
		t.Fatalf("%d audit rows for %d attempts, want them folded", rows, attempts)
	}
	if failed != statuses[http.StatusUnauthorized] || throttled != statuses[http.StatusTooManyRequests] {
		t.Fatalf("summaries count %d failed and %d throttled, answers were %v", failed, throttled, statuses)
	}
	if res, err := s.app.Audit.Verify(context.Background()); err != nil || !res.Intact {
		t.Fatalf("chain after folding: %+v %v", res, err)
	}
}

// A password typed into the e-mail field is never stored: not in the
// database, its WAL, nor the log.
func TestPasswordInEmailFieldNotStored(t *testing.T) {
	t.Parallel()
	s := newTestServer(t)
	const secret = "Tr0ub4dor&3 my real password"
	c := s.client(t)
	c.get("/login")
	for range 5 { // failures, then throttled attempts
		r := c.post("/login", url.Values{"email": {secret}, "password": {"x"}})
		if r.StatusCode != http.StatusUnauthorized && r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("status %d", r.StatusCode)
		}
	}
	if err := s.app.SignIns.Flush(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	e := s.newestEvent(t)
	if !strings.HasPrefix(e.Actor, "unknown e-mail") {
		t.Fatalf("actor of the failed sign-in = %q, want the unknown-e-mail marker", e.Actor)
	}
	for _, p := range []string{s.consoleDB(t), s.consoleDB(t) + "-wal", s.consoleDB(t) + "-shm"} {
		b, err := os.ReadFile(p)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(secret)) || bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(secret))) {
			t.Fatalf("the typed password is in %s", p)
		}
	}
	if strings.Contains(s.logs.String(), secret) {
		t.Fatal("the typed password is in the log")
	}
}

// sscanCounts reads "N failed and M throttled" from a summary's detail.
func sscanCounts(detail string, failed, throttled *int) (int, error) {
	i := strings.Index(detail, "UTC: ")
	if i < 0 {
		return 0, errors.New("no counts")
	}
	return fmt.Sscanf(detail[i+5:], "%d failed and %d throttled", failed, throttled)
}
