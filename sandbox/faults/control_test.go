package faults

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"issuerconsole/db"
	"issuerconsole/sandbox/cashlink"
)

// sandbox is the Cashlink emulator behind the injector and the control
// endpoint, mounted as the lead mounts them.
type sandbox struct {
	t    *testing.T
	cl   *cashlink.Emulator
	inj  *Injector
	srv  *httptest.Server
	root string
	tok  string
	info cashlink.Info
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	ctx := context.Background()
	d, err := db.OpenRaw(ctx, filepath.Join(t.TempDir(), "sandbox.db"), db.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	cl, err := cashlink.Open(ctx, d, cashlink.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	inj := New(1)
	inj.SetTokenExpirer("cashlink", cl.ExpireTokens)
	mux := http.NewServeMux()
	mux.Handle("/sandbox/cashlink/", http.StripPrefix("/sandbox/cashlink", inj.Wrap("cashlink", cl.Handler())))
	mux.Handle("/sandbox/cashlink/_info", cl.InfoHandler())
	mux.Handle("/sandbox/_control/", inj.ControlHandler(cl))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { inj.Close(); srv.Close() })
	s := &sandbox{t: t, cl: cl, inj: inj, srv: srv, root: srv.URL + "/sandbox/cashlink/api/external"}
	s.info, err = cl.Info(ctx, s.root)
	if err != nil {
		t.Fatal(err)
	}
	s.tok = s.token()
	return s
}

func (s *sandbox) token() string {
	s.t.Helper()
	res, err := http.PostForm(s.root+"/oauth/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {cashlink.DefaultClientID}, "client_secret": {cashlink.DefaultClientSecret}})
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&tok)
	return tok.AccessToken
}

type answer struct {
	status int
	header http.Header
	body   string
}

func (s *sandbox) do(method, u, ctype string, body []byte, hdr map[string]string) answer {
	s.t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return answer{res.StatusCode, res.Header, string(b)}
}

func (s *sandbox) api(method, path string, body any, key string) answer {
	s.t.Helper()
	var b []byte
	ctype := ""
	if body != nil {
		b, _ = json.Marshal(body)
		ctype = "application/json"
	}
	h := map[string]string{"Authorization": "Bearer " + s.tok}
	if key != "" {
		h[cashlink.IdempotencyHeader] = key
	}
	return s.do(method, s.root+path, ctype, b, h)
}

func (s *sandbox) control(method, path, ctype, body string) answer {
	s.t.Helper()
	return s.do(method, s.srv.URL+"/sandbox/_control"+path, ctype, []byte(body), nil)
}

func (s *sandbox) counts() cashlink.Counts {
	c, err := s.cl.Counts(context.Background())
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

func (s *sandbox) investmentBody() map[string]any {
	s.t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	w, _ := mw.CreateFormFile("file", "signed.pdf")
	w.Write([]byte("%PDF-1.4"))
	mw.Close()
	r := s.do("POST", s.root+"/v2/documents/", mw.FormDataContentType(), b.Bytes(), map[string]string{"Authorization": "Bearer " + s.tok})
	var doc struct{ ID string }
	json.Unmarshal([]byte(r.body), &doc)
	return map[string]any{"campaign_id": s.info.Campaigns[0].ID, "investor_id": s.info.Investors[0].ID, "units": 300,
		"signed_at": "2021-03-12T07:14:13.630308+00:00", "accepted_at": "2021-03-12T07:14:13.630308+00:00",
		"paid_at": "2021-03-12T07:14:13.630308+00:00", "signed_documents": []any{map[string]any{"document_id": doc.ID, "category": "c", "subject": "s"}}}
}

// The case idempotency keys exist for: the work is done, the answer lost;
// the retry with the same key gets the stored answer, and nothing twice.
func TestIdempotencyUnderFaults(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	body := s.investmentBody()
	path := "/api/external/v2/investments/"
	t.Run("5xx after: done once, replayed on retry", func(t *testing.T) {
		s.inj.Set([]Rule{{API: "cashlink", Method: "POST", Path: path, Error5xxAfter: 1}})
		if r := s.api("POST", "/v2/investments/", body, "after-1"); r.status != 503 {
			t.Fatalf("first attempt %d %s", r.status, r.body)
		}
		if c := s.counts(); c.Investments != 1 {
			t.Fatalf("investments after a lost answer = %d, want 1", c.Investments)
		}
		s.inj.Set(nil)
		r := s.api("POST", "/v2/investments/", body, "after-1")
		if r.status != 201 || r.header.Get(cashlink.ReplayedHeader) != "true" {
			t.Fatalf("retry %d %v %s", r.status, r.header, r.body)
		}
		if c := s.counts(); c.Investments != 1 {
			t.Fatalf("investments after the retry = %d, want 1", c.Investments)
		}
	})
	t.Run("5xx before: not done; the retry does it", func(t *testing.T) {
		s.inj.Set([]Rule{{API: "cashlink", Method: "POST", Path: path, Error5xx: 1, Status: 502}})
		if r := s.api("POST", "/v2/investments/", body, "before-1"); r.status != 502 {
			t.Fatalf("first attempt %d", r.status)
		}
		if c := s.counts(); c.Investments != 1 {
			t.Fatalf("investments = %d, want still 1", c.Investments)
		}
		s.inj.Set(nil)
		r := s.api("POST", "/v2/investments/", body, "before-1")
		if r.status != 201 || r.header.Get(cashlink.ReplayedHeader) != "" {
			t.Fatalf("retry %d %v", r.status, r.header)
		}
		if c := s.counts(); c.Investments != 2 {
			t.Fatalf("investments = %d, want 2", c.Investments)
		}
	})
	t.Run("token expiry: the emulator refuses the old token", func(t *testing.T) {
		s.inj.Set([]Rule{{API: "cashlink", ExpireTokens: 1}})
		r := s.api("GET", "/v2/investments/", nil, "")
		if r.status != 401 || !strings.Contains(r.body, "Token has expired.") {
			t.Fatalf("%d %s", r.status, r.body)
		}
		s.inj.Set(nil)
		if r := s.api("GET", "/v2/investments/", nil, ""); r.status != 401 {
			t.Fatalf("the expired token works again: %d", r.status)
		}
		s.tok = s.token()
		if r := s.api("GET", "/v2/investments/", nil, ""); r.status != 200 {
			t.Fatalf("a new token: %d", r.status)
		}
	})
}

func TestControlHandler(t *testing.T) {
	t.Parallel()
	s := newSandbox(t)
	inv := s.api("POST", "/v2/investments/", s.investmentBody(), "").body
	var created struct{ ID string }
	json.Unmarshal([]byte(inv), &created)
	tests := []struct {
		name, method, path, ctype, body string
		status                          int
		fragments                       []string
		check                           func(t *testing.T)
	}{
		{"no rules", "GET", "/faults", "", "", 200, []string{`"seed":1`, `"rules":[]`}, nil},
		{"set JSON rules", "PUT", "/faults", "application/json", `{"rules":[{"api":"issuance","latency":"5ms","rate_limit":0.5,"retry_after":"2s"}]}`, 200,
			[]string{`"syntax":"issuance latency=5ms 429=0.5 retry-after=2s"`}, func(t *testing.T) {
				if r := s.inj.Rules(); len(r) != 1 || r[0].RateLimit != 0.5 {
					t.Fatalf("%+v", r)
				}
			}},
		{"set a bare JSON array", "PUT", "/faults", "application/json", `[{"api":"cashlink","hang":0.1}]`, 200, []string{`"hang":0.1`}, nil},
		{"set the flag syntax", "PUT", "/faults", "text/plain", "cashlink GET 5xx=0.25; issuance hang=0.1", 200, []string{`"syntax":"cashlink GET 5xx=0.25; issuance hang=0.1"`}, nil},
		{"bad flag syntax names the token", "PUT", "/faults", "text/plain", "cashlink 5xx=lots", 400, []string{`token \"5xx=lots\"`}, nil},
		{"bad JSON rule", "PUT", "/faults", "application/json", `{"rules":[{"api":"cashlink","error_5xx":3}]}`, 400, []string{"rule 1", "between 0 and 1"}, nil},
		{"unknown JSON field", "PUT", "/faults", "application/json", `{"rules":[{"api":"cashlink","eror_5xx":1}]}`, 400, []string{"unknown field"}, nil},
		{"the rules were kept after errors", "GET", "/faults", "", "", 200, []string{`cashlink GET 5xx=0.25`}, nil},
		{"delete", "DELETE", "/faults", "", "", 200, []string{`"rules":[]`}, nil},
		{"settings", "GET", "/cashlink/settings", "", "", 200, []string{`"redemption_outcome":"success"`, `"credit_delay":"1s"`, `"token_ttl":"1h0m0s"`}, nil},
		{"change one knob", "PUT", "/cashlink/settings", "application/json", `{"redemption_outcome":"failed","credit_delay":"250ms"}`, 200,
			[]string{`"redemption_outcome":"failed"`, `"credit_delay":"250ms"`, `"token_ttl":"1h0m0s"`}, nil},
		{"bad knob", "PUT", "/cashlink/settings", "application/json", `{"redemption_outcome":"maybe"}`, 400, []string{"maybe"}, nil},
		{"force a status", "PUT", "/cashlink/investments/" + created.ID + "/status", "application/json", `{"status":"PAYMENT_MISSING"}`, 204, nil, func(t *testing.T) {
			if r := s.api("GET", "/v2/investments/"+created.ID+"/", nil, ""); !strings.Contains(r.body, `"status":"PAYMENT_MISSING"`) {
				t.Fatal(r.body)
			}
		}},
		{"force a status of an unknown investment", "PUT", "/cashlink/investments/6f1d2a33-0000-4000-8000-000000000000/status", "application/json", `{"status":"REJECTION"}`, 404, nil, nil},
		{"force a bad status", "PUT", "/cashlink/investments/" + created.ID + "/status", "application/json", `{"status":"DELIVERED"}`, 400, nil, nil},
		{"status missing", "PUT", "/cashlink/investments/" + created.ID + "/status", "application/json", `{}`, 400, nil, nil},
		{"set KYC", "PUT", "/cashlink/investors/" + s.info.Investors[0].ID + "/kyc", "application/json", `{"kyc_status":"PENDING"}`, 204, nil, func(t *testing.T) {
			if r := s.api("GET", "/v2/investors/"+s.info.Investors[0].ID+"/", nil, ""); !strings.Contains(r.body, `"kyc_status":"PENDING"`) {
				t.Fatal(r.body)
			}
		}},
		{"counts", "GET", "/cashlink/counts", "", "", 200, []string{`"investments":1`, `"documents":1`}, nil},
		{"expire tokens", "POST", "/cashlink/expire-tokens", "", "", 204, nil, func(t *testing.T) {
			if r := s.api("GET", "/v2/investments/", nil, ""); r.status != 401 {
				t.Fatalf("after expire-tokens: %d", r.status)
			}
		}},
		{"unknown route", "GET", "/nothing", "", "", 404, []string{`"detail":"Not found."`}, nil},
		{"wrong method", "POST", "/faults", "", "", 405, []string{`Method \"POST\" not allowed.`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.control(tt.method, tt.path, tt.ctype, tt.body)
			if r.status != tt.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tt.status)
			}
			for _, f := range tt.fragments {
				if !strings.Contains(r.body, f) {
					t.Errorf("body %s does not contain %q", r.body, f)
				}
			}
			if tt.check != nil {
				tt.check(t)
			}
		})
	}
	t.Run("cross-site browser requests refused", func(t *testing.T) {
		h := New(2).ControlHandler(nil)
		for _, tt := range []struct {
			headers []string
			want    int
		}{
			{nil, 200}, // curl, Go, Python: no browser headers
			{[]string{"Sec-Fetch-Site", "cross-site"}, 403},
			{[]string{"Sec-Fetch-Site", "same-site"}, 403},
			{[]string{"Sec-Fetch-Site", "same-origin", "Origin", "http://example.com"}, 200},
			{[]string{"Origin", "http://evil.example"}, 403},
			{[]string{"Origin", "null"}, 403},
			{[]string{"Origin", "http://example.com"}, 200}, // httptest's Host
		} {
			req := httptest.NewRequest("DELETE", "/faults", nil)
			for i := 0; i+1 < len(tt.headers); i += 2 {
				req.Header.Set(tt.headers[i], tt.headers[i+1])
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("headers %v: %d, want %d", tt.headers, rec.Code, tt.want)
			}
		}
	})
	t.Run("without a Cashlink emulator", func(t *testing.T) {
		h := New(2).ControlHandler(nil)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("POST", "/cashlink/expire-tokens", nil))
		if rec.Code != 404 {
			t.Fatalf("%d", rec.Code)
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/faults", nil)) // mounted with StripPrefix
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"seed":2`) {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
}
