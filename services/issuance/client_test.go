package issuance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"issuerconsole/db"
	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
)

// fakeIssuance pages through 5 investments 2 at a time and builds its next
// links with an internal host, as a Django process behind a proxy does.
func fakeIssuance(t *testing.T) (*httptest.Server, *[]http.Header) {
	var seen []http.Header
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/investments/", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Clone())
		if r.URL.Query().Get("status") == "bogus" {
			w.WriteHeader(400)
			io.WriteString(w, `{"status":["Select a valid choice. bogus is not one of the available choices."]}`)
			return
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		if page == 0 {
			page = 1
		}
		var ids []string
		for id := (page-1)*2 + 1; id <= min(page*2, 5); id++ {
			ids = append(ids, fmt.Sprintf(`{"id":%d,"amount":"100.50","status":"accepted","offering":1}`, id))
		}
		next := "null"
		if page < 3 {
			next = fmt.Sprintf(`"http://10.1.2.3:8000/api/investments/?page=%d&page_size=2"`, page+1)
		}
		fmt.Fprintf(w, `{"count":5,"next":%s,"previous":null,"results":[%s]}`, next, strings.Join(ids, ","))
	})
	mux.HandleFunc("GET /api/investments/{id}/", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "1" {
			w.WriteHeader(404)
			io.WriteString(w, `{"detail":"Not found."}`)
			return
		}
		io.WriteString(w, `{"id":1,"amount":"100.50","price":"10.000000","status":"received","updated_at":"2024-01-01T23:30:00Z","processed_at":null,"net_worth":"5000.00"}`)
	})
	mux.HandleFunc("POST /api/users/", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Clone())
		w.WriteHeader(201)
		io.WriteString(w, `{"id":9,"email":"new@example.com"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &seen
}

func newTestClient(t *testing.T, base string) (*Client, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.db")
	d, err := db.Open(context.Background(), path, db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	c, err := New(Options{BaseURL: base, APIKey: "key-SECRET", FirebaseToken: "fb-SECRET", AllowHTTP: true, Audit: audit.NewStore(d, nil)})
	if err != nil {
		t.Fatal(err)
	}
	return c, path
}

func TestClientPagesAndErrors(t *testing.T) {
	t.Parallel()
	srv, seen := fakeIssuance(t)
	c, dbPath := newTestClient(t, srv.URL+"/")
	ctx := context.Background()

	p, err := c.ListInvestments(ctx, InvestmentFilter{}, PageOpts{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if p.Count != 5 || len(p.Results) != 2 || p.Next == nil || p.Next.Host != strings.TrimPrefix(srv.URL, "http://") {
		t.Fatalf("page 1: %+v (next %v): next must be re-based on the configured host", p, p.Next)
	}
	if got := (*seen)[0].Get("Authorization"); got != "Api-Key key-SECRET" {
		t.Fatalf("Authorization %q", got)
	}
	if ua := (*seen)[0].Get("User-Agent"); !strings.HasPrefix(ua, "IssuerConsole/") {
		t.Fatalf("User-Agent %q", ua)
	}

	var ids []int64
	for inv, err := range c.AllInvestments(ctx, nil, 2) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, inv.ID)
	}
	if fmt.Sprint(ids) != "[1 2 3 4 5]" {
		t.Fatalf("all investments %v", ids)
	}

	inv, err := c.GetInvestment(ctx, 1)
	if err != nil || inv.Price != "10.000000" || inv.NetWorth == nil || *inv.NetWorth != "5000.00" || inv.ProcessedAt != nil {
		t.Fatalf("investment %+v %v", inv, err)
	}
	if _, err := c.GetInvestment(ctx, 2); !errors.Is(err, apiclient.ErrNotFound) {
		t.Fatalf("unknown id: %v", err)
	}
	_, err = c.ListInvestmentsQuery(ctx, map[string][]string{"status": {"bogus"}})
	var apiErr *apiclient.Error
	if !errors.As(err, &apiErr) || !errors.Is(err, apiclient.ErrValidation) || apiErr.Fields["status"][0] != msgChoice("bogus") {
		t.Fatalf("400: %v", err)
	}

	u, err := c.CreateUser(ctx, "new@example.com", "pw-SECRET-123")
	if err != nil || u.ID != 9 {
		t.Fatalf("create user %+v %v", u, err)
	}
	if got := (*seen)[len(*seen)-1].Get("Authorization"); got != "Bearer fb-SECRET" {
		t.Fatalf("users endpoint authorization %q", got)
	}

	raw, _ := os.ReadFile(dbPath)
	wal, _ := os.ReadFile(dbPath + "-wal")
	for _, s := range []string{"key-SECRET", "fb-SECRET", "pw-SECRET-123"} {
		if bytes.Contains(raw, []byte(s)) || bytes.Contains(wal, []byte(s)) {
			t.Errorf("%s reached the database", s)
		}
	}
}

// Issuance detail bodies are personal data too: the audit row of a detail
// read keeps the id (and status), never a name or an e-mail address.
func TestDetailReadsAuditOnlyASummary(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/investments/{id}/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":41,"status":"accepted","amount":"100.50","investor_individual_name":"Jane Q. Private","user_email":"jane.private@example.com","net_worth":"98765.43"}`)
	})
	mux.HandleFunc("GET /api/investors/{id}/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"id":7,"type":"person","user":3,"first_name":"Jane","last_name":"Private","email":"jane.private@example.com","ssn":"123-45-6789"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	dbPath := filepath.Join(t.TempDir(), "console.db")
	d, err := db.Open(context.Background(), dbPath, db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st := audit.NewStore(d, nil)
	c, err := New(Options{BaseURL: srv.URL + "/", APIKey: "k", FirebaseToken: "fb", AllowHTTP: true, Audit: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	inv, err := c.GetInvestment(ctx, 41)
	if err != nil || inv.InvestorIndividualName != "Jane Q. Private" {
		t.Fatalf("investment %+v %v: the caller must still get the full body", inv, err)
	}
	investor, err := c.GetInvestor(ctx, 7)
	if err != nil || investor.Fields["email"] != "jane.private@example.com" {
		t.Fatalf("investor %+v %v", investor, err)
	}

	want := map[string]string{
		"/api/investments/41/": `{"id":41,"status":"accepted"}`,
		"/api/investors/7/":    `{"id":7}`,
	}
	p, err := st.List(ctx, audit.Filter{API: "issuance"}, 0, 10)
	if err != nil || len(p.Entries) != 2 {
		t.Fatalf("%d rows, err %v; want 2", len(p.Entries), err)
	}
	for _, e := range p.Entries {
		full, _ := st.Get(ctx, e.ID)
		if full.ResponseBody != want[full.Path] {
			t.Errorf("%s recorded %q, want the summary %q", full.Path, full.ResponseBody, want[full.Path])
		}
	}
	d.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	raw, _ := os.ReadFile(dbPath)
	wal, _ := os.ReadFile(dbPath + "-wal")
	for _, s := range []string{"Jane", "Private", "jane.private@example.com", "123-45-6789", "98765.43"} {
		if bytes.Contains(raw, []byte(s)) || bytes.Contains(wal, []byte(s)) {
			t.Errorf("%q reached the database", s)
		}
	}
}
