package cashlink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime/multipart"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// creating is one creating endpoint with a valid body: a fresh request
// each call (prepare runs once per subtest).
type creating struct {
	name    string
	prepare func(v *env) (path string, body []byte, ctype string)
	count   func(c Counts) int
	// other is a different valid body for the same path (nil: the
	// endpoint takes no body, so any other body is "different").
	other []byte
}

func creatingEndpoints(t *testing.T) []creating {
	doc, docCT := multipartBody(t, "file", "a.pdf", "application/pdf", []byte("%PDF-1.4 a"))
	doc2, _ := multipartBody(t, "file", "b.pdf", "application/pdf", []byte("%PDF-1.4 b"))
	js := func(v any) []byte { return marshal(v) }
	newInvestor := func(v *env, identified bool) string {
		r := v.post("/v2/investors/", "", validInvestor())
		id := r.obj(t)["id"].(string)
		if identified {
			if err := v.e.SetInvestorKYC(t.Context(), id, KYCSuccess); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	ident := map[string]any{"document_type": "IDCARD", "document_id": "X1", "document_valid_to": "2031-01-01",
		"identity_provider": "POSTIDENT", "verified_at": "2026-03-01T10:00:00Z"}
	ident2 := map[string]any{"document_type": "PASSPORT", "document_id": "X2", "document_valid_to": "2031-01-01",
		"identity_provider": "POSTIDENT", "verified_at": "2026-03-01T10:00:00Z"}
	return []creating{
		{"document", func(v *env) (string, []byte, string) { return "/v2/documents/", doc, docCT },
			func(c Counts) int { return c.Documents }, doc2},
		{"investor", func(v *env) (string, []byte, string) {
			return "/v2/investors/", js(validInvestor()), "application/json"
		},
			func(c Counts) int { return c.Investors }, js(editInvestor(func(_, np map[string]any) { np["forename"] = "Other" }))},
		{"identification", func(v *env) (string, []byte, string) {
			return "/v2/investors/" + newInvestor(v, false) + "/identifications/", js(ident), "application/json"
		}, func(c Counts) int { return c.Identifications }, js(ident2)},
		{"generic wallet", func(v *env) (string, []byte, string) {
			return "/v2/investors/" + newInvestor(v, true) + "/wallets/eth-generic/", js(map[string]any{"address": "0x" + strings.Repeat("ee", 20)}), "application/json"
		}, func(c Counts) int { return c.Wallets }, js(map[string]any{"address": "0x" + strings.Repeat("ef", 20)})},
		{"managed wallet", func(v *env) (string, []byte, string) {
			return "/v2/investors/" + newInvestor(v, true) + "/wallets/eth-managed/", nil, ""
		}, func(c Counts) int { return c.Wallets }, nil},
		{"investment", func(v *env) (string, []byte, string) {
			return "/v2/investments/", js(v.investmentBody(300, v.upload("", []byte("x")))), "application/json"
		}, func(c Counts) int { return c.Investments }, nil},
		{"credit", func(v *env) (string, []byte, string) {
			id := v.createInvestment(10, map[string]any{"wallet": v.investor().Wallets[0].ID})["id"].(string)
			return "/v2/investments/" + id + "/credits/", nil, ""
		}, func(c Counts) int { return c.Credits }, nil},
		{"redemption", func(v *env) (string, []byte, string) {
			iv := v.investor()
			return "/v2/redemptions/", js(map[string]any{"investor_id": iv.ID, "product_id": v.product(), "wallet_id": iv.Wallets[0].ID, "units": 7}), "application/json"
		}, func(c Counts) int { return c.Redemptions }, js(map[string]any{"investor_id": "x"})},
	}
}

func (v *env) send(path string, body []byte, ctype, key string) resp {
	v.t.Helper()
	h := map[string]string{}
	if ctype != "" {
		h["Content-Type"] = ctype
	}
	if key != "" {
		h[IdempotencyHeader] = key
	}
	return v.do("POST", path, v.tok, body, h)
}

func TestIdempotencyReplay(t *testing.T) {
	t.Parallel()
	for _, ep := range creatingEndpoints(t) {
		t.Run(ep.name, func(t *testing.T) {
			v := newEnv(t, Options{})
			path, body, ctype := ep.prepare(v)
			before := ep.count(v.counts())
			first := v.send(path, body, ctype, "key-1")
			if first.status >= 300 {
				t.Fatalf("first: %s", first)
			}
			if first.header.Get(ReplayedHeader) != "" {
				t.Fatal("a first answer must not be marked replayed")
			}
			v.clk.Advance(30 * time.Minute) // a replay is the stored answer, not a re-render
			again := v.send(path, body, ctype, "key-1")
			if again.status != first.status || !bytes.Equal(again.body, first.body) {
				t.Fatalf("replay %s, want %s", again, first)
			}
			if again.header.Get(ReplayedHeader) != "true" || again.header.Get("Content-Type") != first.header.Get("Content-Type") {
				t.Fatalf("replay headers %v", again.header)
			}
			if n := ep.count(v.counts()) - before; n != 1 {
				t.Fatalf("%d records created by two calls with one key, want 1", n)
			}
			t.Run("different body → 422", func(t *testing.T) {
				other := ep.other
				if other == nil {
					other = []byte(`{"different": true}`)
				}
				r := v.send(path, other, ctype, "key-1")
				wantErrBody(t, r, 422, "already used with a different request body")
				if r.header.Get(ReplayedHeader) != "" {
					t.Error("a 422 is not a replay")
				}
			})
			t.Run("the key is per path", func(t *testing.T) {
				r := v.send("/v2/investments/", []byte(`{}`), "application/json", "key-1")
				if path != "/v2/investments/" {
					wantErrBody(t, r, 400, msgRequired) // processed as a new request
				}
			})
			if n := ep.count(v.counts()) - before; n != 1 {
				t.Fatalf("%d records after the 422, want 1", n)
			}
			t.Run("persisted across a restart", func(t *testing.T) {
				v.reopen()
				r := v.send(path, body, ctype, "key-1")
				if r.status != first.status || !bytes.Equal(r.body, first.body) || r.header.Get(ReplayedHeader) != "true" {
					t.Fatalf("after reopen %s, want the stored %s", r, first)
				}
			})
		})
	}
}

func TestIdempotencyRules(t *testing.T) {
	t.Parallel()
	t.Run("no key: processed every time, nothing stored", func(t *testing.T) {
		v := newEnv(t, Options{})
		body, ct := multipartBody(t, "file", "a.pdf", "application/pdf", []byte("a"))
		a, b := v.send("/v2/documents/", body, ct, ""), v.send("/v2/documents/", body, ct, "")
		if a.status != 201 || b.status != 201 || bytes.Equal(a.body, b.body) {
			t.Fatalf("%s / %s", a, b)
		}
		if c := v.counts(); c.Documents != 2 || c.IdempotencyKeys != 0 {
			t.Fatalf("counts %+v", c)
		}
	})
	t.Run("a 4xx is stored and replayed", func(t *testing.T) {
		v := newEnv(t, Options{})
		first := v.send("/v2/investments/", []byte(`{"units": 0}`), "application/json", "k4")
		again := v.send("/v2/investments/", []byte(`{"units": 0}`), "application/json", "k4")
		if first.status != 400 || again.status != 400 || !bytes.Equal(first.body, again.body) || again.header.Get(ReplayedHeader) != "true" {
			t.Fatalf("%s / %s %v", first, again, again.header)
		}
	})
	t.Run("a 5xx is not stored: the retry does the work", func(t *testing.T) {
		v := newEnv(t, Options{})
		body, ct := multipartBody(t, "file", "a.pdf", "application/pdf", []byte("a"))
		v.e.beforeCreate = func(string) error { return errors.New("injected storage failure") }
		wantErrBody(t, v.send("/v2/documents/", body, ct, "k5"), 500, "A server error occurred.")
		v.e.beforeCreate = nil
		r := v.send("/v2/documents/", body, ct, "k5")
		if r.status != 201 || r.header.Get(ReplayedHeader) != "" {
			t.Fatalf("retry after a 500: %s %v", r, r.header)
		}
		if c := v.counts(); c.Documents != 1 {
			t.Fatalf("documents %d, want 1", c.Documents)
		}
	})
	t.Run("same key while in flight → 409; other keys proceed", func(t *testing.T) {
		v := newEnv(t, Options{})
		body, ct := multipartBody(t, "file", "a.pdf", "application/pdf", []byte("a"))
		entered, release := make(chan struct{}), make(chan struct{})
		var mu sync.Mutex
		held := false
		v.e.beforeCreate = func(string) error {
			mu.Lock()
			first := !held
			held = true
			mu.Unlock()
			if first { // only the first request is held; sync.Once would block the others too
				close(entered)
				<-release
			}
			return nil
		}
		done := make(chan resp)
		go func() { done <- v.send("/v2/documents/", body, ct, "k9") }()
		<-entered // the first request holds its marker
		wantErrBody(t, v.send("/v2/documents/", body, ct, "k9"), 409, "still being processed")
		other, _ := multipartBody(t, "file", "b.pdf", "application/pdf", []byte("b"))
		wantErrBody(t, v.send("/v2/documents/", other, ct, "k9"), 422, "different request body")
		if r := v.send("/v2/documents/", body, ct, "k10"); r.status != 201 {
			t.Fatalf("another key while k9 is in flight: %s", r)
		}
		close(release)
		first := <-done
		if first.status != 201 {
			t.Fatalf("first: %s", first)
		}
		again := v.send("/v2/documents/", body, ct, "k9")
		if !bytes.Equal(again.body, first.body) || again.header.Get(ReplayedHeader) != "true" {
			t.Fatalf("after the first finished: %s", again)
		}
	})
	t.Run("a marker left by a crash is cleared at Open", func(t *testing.T) {
		v := newEnv(t, Options{})
		body, ct := multipartBody(t, "file", "a.pdf", "application/pdf", []byte("a"))
		if _, err := v.d.Exec(`INSERT INTO cl_idempotency (client_id, method, path, key, fingerprint, state, created_at)
			VALUES (?, 'POST', '/api/external/v2/documents/', 'crashed', ?, 'inflight', 0)`, DefaultClientID, requestFingerprint(ct, body)); err != nil {
			t.Fatal(err)
		}
		wantErrBody(t, v.send("/v2/documents/", body, ct, "crashed"), 409)
		v.reopen()
		if r := v.send("/v2/documents/", body, ct, "crashed"); r.status != 201 || r.header.Get(ReplayedHeader) != "" {
			t.Fatalf("after reopen: %s", r)
		}
	})
	t.Run("retention", func(t *testing.T) {
		v := newEnv(t, Options{IdempotencyRetention: 24 * time.Hour})
		body, ct := multipartBody(t, "file", "a.pdf", "application/pdf", []byte("a"))
		first := v.send("/v2/documents/", body, ct, "kr")
		v.clk.Advance(24 * time.Hour)
		v.tok = v.token()
		if r := v.send("/v2/documents/", body, ct, "kr"); !bytes.Equal(r.body, first.body) {
			t.Fatal("replay within the retention expected")
		}
		v.clk.Advance(time.Microsecond)
		if r := v.send("/v2/documents/", body, ct, "kr"); r.status != 201 || bytes.Equal(r.body, first.body) {
			t.Fatalf("after the retention: %s", r)
		}
	})
	t.Run("bad keys", func(t *testing.T) {
		v := newEnv(t, Options{})
		wantErrBody(t, v.send("/v2/investments/", []byte(`{}`), "application/json", strings.Repeat("k", 256)), 400, IdempotencyHeader)
		if r := v.send("/v2/investments/", []byte(`{}`), "application/json", strings.Repeat("k", 255)); r.status != 400 || !strings.Contains(string(r.body), "campaign_id") {
			t.Fatalf("a 255-character key: %s", r)
		}
	})
	t.Run("PATCH ignores keys: setting a value is idempotent by itself", func(t *testing.T) {
		v := newEnv(t, Options{})
		id := v.createInvestment(5, nil)["id"].(string)
		w := v.investor().Wallets[0].ID
		h := map[string]string{IdempotencyHeader: "p1"}
		a := v.do("PATCH", "/v2/investments/"+id+"/", v.tok, map[string]any{"wallet": w}, h)
		b := v.do("PATCH", "/v2/investments/"+id+"/", v.tok, map[string]any{"paid_at": nil}, h)
		if a.status != 200 || b.status != 200 || b.header.Get(ReplayedHeader) != "" || !strings.Contains(string(b.body), `"status":"ACCEPTED"`) {
			t.Fatalf("%s / %s", a, b)
		}
	})
}

// Many clients racing with one key create exactly one record; every other
// answer is the replay or a 409.
func TestIdempotencyConcurrent(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	body := marshal(v.investmentBody(300, v.upload("", []byte("x"))))
	const n = 12
	var wg sync.WaitGroup
	results := make([]resp, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = v.send("/v2/investments/", body, "application/json", "race")
		}()
	}
	wg.Wait()
	var created []byte
	statuses := map[int]int{}
	for _, r := range results {
		statuses[r.status]++
		if r.status == 201 {
			if created != nil && !bytes.Equal(created, r.body) {
				t.Fatalf("two different 201 bodies for one key:\n%s\n%s", created, r.body)
			}
			created = r.body
		} else if r.status != 409 {
			t.Fatalf("unexpected answer %s", r)
		}
	}
	if c := v.counts(); c.Investments != 1 {
		t.Fatalf("investments = %d, want 1 (statuses %v)", c.Investments, statuses)
	}
	if statuses[201] < 1 {
		t.Fatalf("no 201 at all: %v", fmt.Sprint(statuses))
	}
}

// The fingerprint is the content, not the framing: the same upload under a
// new multipart boundary (as Python requests draws one per attempt) and the
// same JSON with other spacing and key order are replays; another file, file
// name, field or content type under the key is a 422.
func TestIdempotencyComparesContentNotFraming(t *testing.T) {
	upload := func(boundary, field, filename, ctype string, content []byte) ([]byte, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		if err := mw.SetBoundary(boundary); err != nil {
			t.Fatal(err)
		}
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename))
		h.Set("Content-Type", ctype)
		w, _ := mw.CreatePart(h)
		w.Write(content)
		mw.Close()
		return b.Bytes(), mw.FormDataContentType()
	}
	v := newEnv(t, Options{})
	body, ct := upload("first-boundary-1111", "file", "a.pdf", "application/pdf", []byte("%PDF-1.4 a"))
	first := v.send("/v2/documents/", body, ct, "doc-1")
	if first.status != 201 {
		t.Fatalf("first: %s", first)
	}
	body2, ct2 := upload("another-boundary-2222", "file", "a.pdf", "application/pdf", []byte("%PDF-1.4 a"))
	if bytes.Equal(body, body2) {
		t.Fatal("the bodies should differ in framing")
	}
	again := v.send("/v2/documents/", body2, ct2, "doc-1")
	if again.status != 201 || !bytes.Equal(again.body, first.body) || again.header.Get(ReplayedHeader) != "true" {
		t.Fatalf("same upload, new boundary: %s", again)
	}
	for name, other := range map[string][3]string{
		"another file":         {"file", "a.pdf", "%PDF-1.4 b"},
		"another file name":    {"file", "b.pdf", "%PDF-1.4 a"},
		"another field":        {"upload", "a.pdf", "%PDF-1.4 a"},
		"another content type": {"file", "a.pdf", "%PDF-1.4 a"},
	} {
		ctype := "application/pdf"
		if name == "another content type" {
			ctype = "application/octet-stream"
		}
		b, c := upload("third-boundary-3333", other[0], other[1], ctype, []byte(other[2]))
		wantErrBody(t, v.send("/v2/documents/", b, c, "doc-1"), 422, "different request body")
	}
	if c := v.counts(); c.Documents != 1 {
		t.Fatalf("documents = %d, want 1", c.Documents)
	}

	inv := v.investmentBody(300, v.upload("", []byte("x")))
	compact := marshal(inv)
	var spaced bytes.Buffer
	json.Indent(&spaced, compact, "", "   ")
	created := v.send("/v2/investments/", compact, "application/json", "inv-1")
	if created.status != 201 {
		t.Fatalf("investment: %s", created)
	}
	replay := v.send("/v2/investments/", spaced.Bytes(), "application/json; charset=utf-8", "inv-1")
	if !bytes.Equal(replay.body, created.body) || replay.header.Get(ReplayedHeader) != "true" {
		t.Fatalf("same JSON, other spacing: %s", replay)
	}
	inv["units"] = 301
	wantErrBody(t, v.send("/v2/investments/", marshal(inv), "application/json", "inv-1"), 422, "different request body")
}
