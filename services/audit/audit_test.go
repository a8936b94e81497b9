package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"issuerconsole/db"
)

func newStore(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.db")
	d, err := db.Open(context.Background(), path, db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return NewStore(d, nil), path
}

func TestChainVerifiesAndCatchesTampering(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name   string
		tamper string // SQL run after 10 rows
		broken int64
	}{
		{"intact", "", 0},
		{"changed status", "UPDATE audit_log SET status = 500 WHERE id = 4", 4},
		{"changed actor", "UPDATE audit_log SET actor = 'someone-else' WHERE id = 7", 7},
		{"deleted row", "DELETE FROM audit_log WHERE id = 5", 6},
		{"re-hashed row without relinking", "UPDATE audit_log SET hash = zeroblob(32) WHERE id = 3", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			for i := range 10 {
				if _, err := s.Append(ctx, Entry{API: "cashlink", Method: "POST", Path: fmt.Sprintf("/v2/x/%d", i), Status: 201}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.tamper != "" {
				if _, err := s.db.Exec(tt.tamper); err != nil {
					t.Fatal(err)
				}
			}
			res, err := s.Verify(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.broken == 0 {
				if !res.Intact || res.Rows != 10 || res.HeadID != 10 {
					t.Fatalf("intact chain reported %+v", res)
				}
				return
			}
			if res.Intact || res.BrokenID != tt.broken || res.Reason == "" {
				t.Fatalf("got %+v, want broken at %d", res, tt.broken)
			}
		})
	}
}

// fakeAPI answers like the upstream APIs do, for the transport tests.
func fakeAPI(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"tok-SECRET-123","expires_in":3600,"token_type":"Bearer","scope":"documents:write"}`)
	})
	mux.HandleFunc("POST /v2/documents/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-42")
		w.Header().Set("Idempotent-Replayed", "true")
		w.WriteHeader(201)
		io.WriteString(w, `{"id":"doc-1","password":"pw-in-response"}`)
	})
	mux.HandleFunc("GET /api/investments/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"count":2,"next":null,"previous":null,"results":[{"id":11,"investor_individual_name":"Jane Doe"},{"id":12,"investor_individual_name":"John Roe"}]}`)
	})
	mux.HandleFunc("GET /api/investments/bad/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		io.WriteString(w, `{"status":["Select a valid choice. bogus is not one of the available choices."]}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestTransportRecordsAttemptsWithoutSecrets(t *testing.T) {
	t.Parallel()
	s, dbPath := newStore(t)
	api := fakeAPI(t)
	cl := &http.Client{Transport: &Transport{Store: s, API: "cashlink", Policy: WritesInFull}}
	ctx := WithJob(WithActor(context.Background(), "admin@example.com"), "job-7", "row-3")

	// 1. token request: a form with the client secret, an answer with the token.
	req, _ := http.NewRequestWithContext(ctx, "POST", api.URL+"/oauth/token?client_secret=qs-SECRET",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {"cid"}, "client_secret": {"cs-SECRET"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Basic YXV0aC1TRUNSRVQ=")
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if !strings.Contains(string(body), "tok-SECRET-123") {
		t.Fatal("the transport changed the body the client reads")
	}

	// 2. multipart upload with an idempotency key, on attempt 2.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("file", "signed.pdf")
	fw.Write([]byte("%PDF-1.4 file-content-SECRET"))
	mw.Close()
	req, _ = http.NewRequestWithContext(WithAttempt(ctx, 2), "POST", api.URL+"/v2/documents/", bytes.NewReader(mp.Bytes()))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("X-Idempotency-Key", "imp-7-3-doc-0")
	req.Header.Set("Authorization", "Bearer tok-SECRET-123")
	if _, err := cl.Do(req); err != nil {
		t.Fatal(err)
	}

	// 3. Issuance read: summary only.
	icl := &http.Client{Transport: &Transport{Store: s, API: "issuance", Policy: SummaryOnly}}
	req, _ = http.NewRequestWithContext(context.Background(), "GET", api.URL+"/api/investments/?search=Jane", nil)
	req.Header.Set("Authorization", "Api-Key key-SECRET")
	if _, err := icl.Do(req); err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("GET", api.URL+"/api/investments/bad/", nil)
	if _, err := icl.Do(req); err != nil {
		t.Fatal(err)
	}

	// 4. no answer at all.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	req, _ = http.NewRequest("GET", "http://"+dead+"/api/offerings/", nil)
	if _, err := icl.Do(req); err == nil {
		t.Fatal("call to a closed port succeeded")
	}

	page, err := s.List(context.Background(), Filter{}, 0, 10)
	if err != nil || len(page.Entries) != 5 {
		t.Fatalf("%d rows, err %v; want 5", len(page.Entries), err)
	}
	full := func(id int64) Entry { e, _ := s.Get(context.Background(), id); return e }

	tok := full(1)
	if tok.Actor != "admin@example.com" || tok.Job != "job-7" || tok.Row != "row-3" || tok.Attempt != 1 || tok.Status != 200 {
		t.Errorf("token row %+v", tok)
	}
	if !strings.Contains(tok.RequestBody, "client_secret=REDACTED") || !strings.Contains(tok.Path, "client_secret=REDACTED") || !strings.Contains(tok.ResponseBody, `"access_token":"REDACTED"`) {
		t.Errorf("token row keeps a secret: path %q req %q res %q", tok.Path, tok.RequestBody, tok.ResponseBody)
	}
	doc := full(2)
	var mpDesc struct {
		Multipart []struct {
			Name, Filename, SHA256 string
			Size                   int
		}
	}
	json.Unmarshal([]byte(doc.RequestBody), &mpDesc)
	if len(mpDesc.Multipart) != 1 || mpDesc.Multipart[0].Filename != "signed.pdf" || mpDesc.Multipart[0].Size != 28 || len(mpDesc.Multipart[0].SHA256) != 64 {
		t.Errorf("multipart description %q", doc.RequestBody)
	}
	if doc.Attempt != 2 || doc.IdempotencyKey != "imp-7-3-doc-0" || !doc.Replayed || doc.UpstreamRequestID != "req-42" || doc.Status != 201 {
		t.Errorf("document row %+v", doc)
	}
	if !strings.Contains(doc.ResponseBody, `"id":"doc-1"`) || strings.Contains(doc.ResponseBody, "pw-in-response") {
		t.Errorf("document response %q", doc.ResponseBody)
	}
	list := full(3)
	if list.Actor != ActorSystem || list.ResponseBody != `{"count":2,"ids":[11,12]}` {
		t.Errorf("issuance list row: actor %q body %q", list.Actor, list.ResponseBody)
	}
	if bad := full(4); bad.Status != 400 || !strings.Contains(bad.ResponseBody, "Select a valid choice") {
		t.Errorf("error row %+v", bad)
	}
	if down := full(5); down.Status != 0 || down.Error == "" || !down.Failed() {
		t.Errorf("no-answer row %+v", down)
	}

	// Nothing secret anywhere in the database file (WAL included).
	s.db.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	raw, _ := os.ReadFile(dbPath)
	wal, _ := os.ReadFile(dbPath + "-wal")
	for _, secret := range []string{"tok-SECRET-123", "cs-SECRET", "qs-SECRET", "YXV0aC1TRUNSRVQ", "key-SECRET", "file-content-SECRET", "pw-in-response", "Jane Doe"} {
		if bytes.Contains(raw, []byte(secret)) || bytes.Contains(wal, []byte(secret)) {
			t.Errorf("%q found in the database file", secret)
		}
	}
	if res, _ := s.Verify(context.Background()); !res.Intact {
		t.Fatalf("chain broken: %+v", res)
	}
}

func TestFailedAuditWriteFailsTheCall(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	api := fakeAPI(t)
	s.db.Close() // the audit store can no longer write
	cl := &http.Client{Transport: &Transport{Store: s, API: "issuance", Policy: SummaryOnly}}
	res, err := cl.Get(api.URL + "/api/investments/")
	var aerr *AuditError
	if !errors.As(err, &aerr) {
		t.Fatalf("err = %v (response %v), want an AuditError", err, res)
	}
}

func TestListFiltersAndKeysetPages(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for i := range 30 {
		e := Entry{At: base.Add(time.Duration(i) * time.Hour), API: []string{"issuance", "cashlink"}[i%2], Method: "GET", Path: fmt.Sprintf("/p/%d", i), Status: 200, Actor: "a@example.com"}
		switch {
		case i%10 == 3:
			e.Status = 503
		case i%10 == 7:
			e.Status, e.Error = 0, "timeout"
		case i%5 == 0:
			e.Method, e.IdempotencyKey, e.Job = "POST", fmt.Sprintf("key-%d", i/10), "job-1"
		}
		if _, err := s.Append(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	s.Event(WithActor(ctx, "b@example.com"), EventLogin, "", "")

	tests := []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 31},
		{"cashlink", Filter{API: "cashlink"}, 15},
		{"events", Filter{Kind: KindEvent}, 1},
		{"5xx", Filter{StatusClass: "5xx"}, 3},
		{"no answer", Filter{StatusClass: "none"}, 3},
		{"errors only", Filter{ErrorsOnly: true}, 6},
		{"idempotency key", Filter{IdemKey: "key-1"}, 2},
		{"actor", Filter{Actor: "b@example.com"}, 1},
		{"job", Filter{Job: "job-1"}, 6},
		{"method", Filter{Method: "POST"}, 6},
		{"path contains", Filter{PathContains: "/p/2"}, 11},
		{"time range", Filter{From: base.Add(10 * time.Hour), To: base.Add(20 * time.Hour)}, 10},
		{"combined", Filter{API: "cashlink", ErrorsOnly: true}, 6},
		{"combined, none", Filter{API: "issuance", ErrorsOnly: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int64
			var before int64
			for pages := 0; ; pages++ {
				p, err := s.List(ctx, tt.f, before, 4)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range p.Entries {
					if len(got) > 0 && e.ID >= got[len(got)-1] {
						t.Fatalf("not newest first: %d after %d", e.ID, got[len(got)-1])
					}
					got = append(got, e.ID)
				}
				if p.Next == 0 {
					break
				}
				before = p.Next
			}
			if len(got) != tt.want {
				t.Fatalf("%d rows over all pages, want %d", len(got), tt.want)
			}
			n := 0
			s.Each(ctx, tt.f, func(Entry) error { n++; return nil })
			if n != tt.want {
				t.Fatalf("export has %d rows, the pages %d", n, tt.want)
			}
		})
	}
}

// A clock that steps back does not make the log's times go backwards.
func TestTimesAreMonotonic(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	s.Append(ctx, Entry{At: t0, API: "issuance"})
	e, _ := s.Append(ctx, Entry{At: t0.Add(-time.Hour), API: "issuance"})
	if !e.At.Equal(t0) {
		t.Fatalf("second row at %v, want %v (not before the first)", e.At, t0)
	}
	if res, _ := s.Verify(ctx); !res.Intact {
		t.Fatal("chain broken")
	}
}

func TestFilterFromQuery(t *testing.T) {
	t.Parallel()
	f, problems := FilterFromQuery(url.Values{"api": {"cashlink"}, "status": {"5xx"}, "from": {"2026-11-01"}, "to": {"2026-11-02T12:00"}, "errors": {"1"}, "key": {"k"}})
	if len(problems) != 0 || f.API != "cashlink" || f.StatusClass != "5xx" || !f.ErrorsOnly || f.To.Hour() != 12 {
		t.Fatalf("%+v %v", f, problems)
	}
	if back, _ := FilterFromQuery(f.Query()); back != f {
		t.Fatalf("round trip: %+v != %+v", back, f)
	}
	_, problems = FilterFromQuery(url.Values{"api": {"stripe"}, "status": {"6xx"}, "from": {"yesterday"}, "kind": {"x"}})
	if len(problems) != 4 {
		t.Fatalf("problems %v", problems)
	}
}

// The log page's filters use indexes, not a scan of the table: a test that
// fails if an index is dropped or a query stops matching it.
func TestFilterQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	tests := []struct {
		f     Filter
		index string
	}{
		{Filter{API: "cashlink"}, "audit_api"},
		{Filter{IdemKey: "k"}, "audit_idem"},
		{Filter{Actor: "a@example.com"}, "audit_actor"},
		{Filter{Job: "job1"}, "audit_job"},
		{Filter{StatusClass: "5xx"}, "audit_class"},
		{Filter{From: time.Unix(1, 0)}, "audit_at"},
	}
	for _, tt := range tests {
		where, args := tt.f.where()
		rows, err := s.db.Query(`EXPLAIN QUERY PLAN SELECT `+listCols+` FROM audit_log WHERE `+where+` AND id < ? ORDER BY id DESC LIMIT 51`, append(args, 1000)...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			rows.Scan(&id, &parent, &notused, &detail)
			plan = append(plan, detail)
		}
		rows.Close()
		if !strings.Contains(strings.Join(plan, " | "), tt.index) {
			t.Errorf("%+v: plan %q does not use %s", tt.f, plan, tt.index)
		}
	}
}
