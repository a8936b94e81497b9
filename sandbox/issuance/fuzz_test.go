package issuance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"unicode/utf8"
)

// FuzzQueryParser: any query string either yields a DRF-shaped 400 body
// (or the reproduced upstream 500), or SQL that SQLite accepts, for every
// list endpoint, in both search forms; the handler answers it without
// panicking.
//
//	go test -run '^$' -fuzz FuzzQueryParser -fuzztime 1m -fuzzminimizetime 10s ./sandbox/issuance/
//
// (Each run compiles five filter sets and prepares 30 statements, so the
// default 60 s minimisation of every new input would eat the budget.)
func FuzzQueryParser(f *testing.F) {
	for _, s := range []string{"", "page=2&page_size=3", "status=bogus&id=abc", "id__in=1,,2", "amount__gte=300.5&amount__lte=500.50",
		"created_at__date__gte=01/03/2024", "created_at__gte=2024-01-03T23:30:00%2B01:00", "processed_at__isnull=0",
		"investmentapproval__is_approved__in=true", "search=REF%20Acme&ordering=-amount,bogus", "offering__in=1,99",
		"search=a+b+c+d+e+f+g+h+i+j", "ordering=%20-processed_at%20,id&page=last", "amount=1e999999&quantity__in=1e60",
		"search=%00&page_size=1000", "status__contains=pen&type__in=reg_a", "user=1&user__thirdpartyissueruser__email__in=a,b"} {
		f.Add(s)
	}
	e := openProbe(f, true)
	h := e.Handler()
	ctx := context.Background()
	resources := []*resource{e.investments, e.summary, e.offerings, e.users, e.investors}
	f.Fuzz(func(t *testing.T, raw string) {
		q, ok := newQueryParams(raw)
		if !ok {
			return // more than 1000 fields: Django's 400, no parsing
		}
		for _, res := range resources {
			cq, verrs, err := res.compileList(ctx, q, e, e.filterOpts)
			var broken errBrokenBoolIn
			switch {
			case errors.As(err, &broken):
				continue
			case err != nil:
				t.Fatalf("%q: %v", raw, err)
			case verrs != nil:
				var body map[string][]string
				if err := json.Unmarshal(verrs.body(), &body); err != nil || len(body) == 0 {
					t.Fatalf("%q: 400 body %s: %v", raw, verrs.body(), err)
				}
				for k, msgs := range body {
					if _, known := res.filterIdx[k]; !known || len(msgs) == 0 {
						t.Fatalf("%q: error for %q: %v", raw, k, msgs)
					}
				}
				continue
			}
			for _, correlated := range []bool{false, true} {
				cq.use(correlated)
				for _, s := range []string{
					"SELECT count(*) FROM " + res.table + cq.where,
					"SELECT " + res.idExpr + " FROM " + res.table + cq.where + " ORDER BY " + cq.order + " LIMIT 20 OFFSET 0",
					"SELECT " + res.idExpr + " FROM " + res.table + cq.where + " ORDER BY " + cq.reverse + " LIMIT 20 OFFSET 0",
				} {
					rows, err := e.db.QueryContext(ctx, "EXPLAIN "+s, cq.args...)
					if err != nil {
						t.Fatalf("%q: SQLite refuses %s %v: %v", raw, s, cq.args, err)
					}
					rows.Close()
				}
			}
			if size := res.pageSizeFor(q); size < 1 || size > res.maxPageSize {
				t.Fatalf("%q: page size %d", raw, size)
			}
		}
		req, err := http.NewRequest("GET", "/api/investments/", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.URL.RawQuery = raw
		req.RequestURI = "/api/investments/?" + raw
		req.Header.Set("Authorization", keyAuth)
		rec := newResponseRecorder()
		h.ServeHTTP(rec, req)
		switch rec.status {
		case 200, 400, 404:
			if !json.Valid(rec.body.Bytes()) || !utf8.Valid(rec.body.Bytes()) {
				t.Fatalf("%q: %d with a body that is not JSON: %q", raw, rec.status, rec.body.String())
			}
		case 500:
			if rec.body.String() != djangoServerError {
				t.Fatalf("%q: 500 %s", raw, rec.body.String())
			}
		default:
			t.Fatalf("%q: status %d", raw, rec.status)
		}
	})
}

// FuzzReadFixture: a fixture either loads, and then writes and reads back
// unchanged, or is refused with an error naming where.
func FuzzReadFixture(f *testing.F) {
	for _, s := range []string{`{}`, `{"issuers":[]}`, `{"users":[{"id":1,"email":"a@b.co"}]}`,
		`{"issuers":[{"id":1,"name":"x"}],"offerings":[{"id":1,"issuer":1,"name":"O","slug":"o","type":"reg_a","status":"opened","unit_price":"1","created_at":"2024-01-01T00:00:00Z"}]}`,
		`{"investments":[{"id":1}]}`, `[`, `{"issuers":[{"id":1.5}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		fx, err := ReadFixture(bytes.NewReader(in))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		var a, b bytes.Buffer
		if err := fx.Write(&a); err != nil {
			t.Fatal(err)
		}
		back, err := ReadFixture(bytes.NewReader(a.Bytes()))
		if err != nil {
			t.Fatalf("written fixture does not read back: %v\n%s", err, a.String())
		}
		if err := back.Write(&b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("round trip changed the fixture:\n%s\n%s", a.String(), b.String())
		}
	})
}

// FuzzUserBody: any body to POST /api/users/ gets 201, 400 or 415 with a
// JSON body.
func FuzzUserBody(f *testing.F) {
	f.Add([]byte(`{"email":"a@b.co","password":"x"}`), "application/json")
	f.Add([]byte(`email=a%40b.co&password=x`), "application/x-www-form-urlencoded")
	f.Add([]byte(`{"email":null}`), "application/json")
	f.Add([]byte("--x\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\na@b.co\r\n--x--\r\n"), "multipart/form-data; boundary=x")
	h := openProbe(f, true).Handler()
	f.Fuzz(func(t *testing.T, body []byte, ct string) {
		r := do(t, h, "POST", "/api/users/", tokenAuth, bytes.NewReader(body), ct)
		switch r.status {
		case 201, 400, 415:
			if !json.Valid(r.body) {
				t.Fatalf("%d %q", r.status, r.body)
			}
		default:
			t.Fatalf("status %d %s for %q (%s)", r.status, r.body, body, ct)
		}
	})
}

// responseRecorder is a minimal http.ResponseWriter (httptest's recorder
// also works; this one keeps the fuzz loop allocation-light).
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newResponseRecorder() *responseRecorder {
	return &responseRecorder{header: http.Header{}, status: 200}
}

func (r *responseRecorder) Header() http.Header         { return r.header }
func (r *responseRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *responseRecorder) WriteHeader(status int)      { r.status = status }
