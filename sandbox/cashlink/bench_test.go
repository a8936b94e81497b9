package cashlink

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"issuerconsole/db"
)

// benchEnv is an emulator called in-process (no network), with a token and
// n imported investments.
type benchEnv struct {
	h    http.Handler
	tok  string
	body []byte // a valid investment body
	ids  []string
}

func newBenchEnv(b *testing.B, n int) *benchEnv {
	b.Helper()
	ctx := context.Background()
	d, err := db.OpenRaw(ctx, filepath.Join(b.TempDir(), "sandbox.db"), db.SyncNormal)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	e, err := Open(ctx, d, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	inf, err := e.Info(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	be := &benchEnv{h: e.Handler()}
	rec := be.call(b, "POST", "/api/external/oauth/token", "application/x-www-form-urlencoded", "",
		[]byte("grant_type=client_credentials&client_id=sandbox-client&client_secret=sandbox-secret"))
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.Unmarshal(rec.Body.Bytes(), &tok)
	be.tok = tok.AccessToken
	doc := "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\r\n%PDF-1.4\r\n--b--\r\n"
	rec = be.call(b, "POST", "/api/external/v2/documents/", "multipart/form-data; boundary=b", "", []byte(doc))
	var d1 struct{ ID string }
	json.Unmarshal(rec.Body.Bytes(), &d1)
	be.body = marshal(map[string]any{"campaign_id": inf.Campaigns[0].ID, "investor_id": inf.Investors[0].ID, "units": 300,
		"signed_at": "2021-03-12T07:14:13.630308+00:00", "accepted_at": "2021-03-12T07:14:13.630308+00:00",
		"paid_at": "2021-03-12T07:14:13.630308+00:00", "signed_documents": []any{map[string]any{"document_id": d1.ID, "category": "c", "subject": "s"}}})
	for i := range n {
		rec := be.call(b, "POST", "/api/external/v2/investments/", "application/json", fmt.Sprint("setup-", i), be.body)
		var x struct{ ID string }
		json.Unmarshal(rec.Body.Bytes(), &x)
		be.ids = append(be.ids, x.ID)
	}
	return be
}

func (be *benchEnv) call(b *testing.B, method, path, ctype, key string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://sandbox"+path, bytes.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if be.tok != "" {
		req.Header.Set("Authorization", "Bearer "+be.tok)
	}
	if key != "" {
		req.Header.Set(IdempotencyHeader, key)
	}
	rec := httptest.NewRecorder()
	be.h.ServeHTTP(rec, req)
	if rec.Code >= 300 {
		b.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	return rec
}

// BenchmarkAPI: the baseline is a GET of one investment; compare the
// other cases with it in the same run (medians over -count runs).
func BenchmarkAPI(b *testing.B) {
	be := newBenchEnv(b, 2000)
	b.Run("get investment (baseline)", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			be.call(b, "GET", "/api/external/v2/investments/"+be.ids[i%len(be.ids)]+"/", "", "", nil)
		}
	})
	keys := 0 // unique across runs of the sub-benchmark
	b.Run("create investment with a new key", func(b *testing.B) {
		for b.Loop() {
			keys++
			rec := be.call(b, "POST", "/api/external/v2/investments/", "application/json", fmt.Sprint("new-", keys), be.body)
			if rec.Header().Get(ReplayedHeader) != "" {
				b.Fatal("replayed")
			}
		}
	})
	be.call(b, "POST", "/api/external/v2/investments/", "application/json", "replayed", be.body)
	b.Run("replay a stored answer", func(b *testing.B) {
		for b.Loop() {
			rec := be.call(b, "POST", "/api/external/v2/investments/", "application/json", "replayed", be.body)
			if rec.Header().Get(ReplayedHeader) != "true" {
				b.Fatal("not replayed")
			}
		}
	})
	b.Run("list page 50 of 2000+", func(b *testing.B) {
		for b.Loop() {
			rec := be.call(b, "GET", "/api/external/v2/investments/?page=50", "", "", nil)
			if !strings.Contains(rec.Body.String(), `"results":[{`) {
				b.Fatal("empty page")
			}
		}
	})
}
