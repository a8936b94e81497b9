package cashlink

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"issuerconsole/db"
)

// FuzzAPI sends arbitrary requests (method, path, content type, key,
// body) with a valid token: the emulator must never answer 5xx, and every
// answer must be JSON (or a redirect). Run: go test -fuzz FuzzAPI ./sandbox/cashlink/
func FuzzAPI(f *testing.F) {
	ctx := context.Background()
	d, err := db.OpenRaw(ctx, filepath.Join(f.TempDir(), "sandbox.db"), db.SyncNormal)
	if err != nil {
		f.Fatal(err)
	}
	defer d.Close()
	e, err := Open(ctx, d, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	inf, err := e.Info(ctx, "")
	if err != nil {
		f.Fatal(err)
	}
	h := e.Handler()
	// A token, through the handler itself.
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/external/oauth/token", strings.NewReader("grant_type=client_credentials&client_id=sandbox-client&client_secret=sandbox-secret"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	h.ServeHTTP(rec, req)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); err != nil {
		f.Fatal(err)
	}
	iv, wal := inf.Investors[0].ID, inf.Investors[0].Wallets[0].ID
	js := "application/json"
	doc, docCT := func() ([]byte, string) {
		var b bytes.Buffer
		b.WriteString("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\nContent-Type: application/pdf\r\n\r\nASD\r\n--b--\r\n")
		return b.Bytes(), "multipart/form-data; boundary=b"
	}()
	seeds := []struct {
		method, path, ctype, key string
		body                     []byte
	}{
		{"POST", "/api/external/v2/documents/", docCT, "k1", doc},
		{"POST", "/api/external/v2/investors/", js, "k2", marshal(validInvestor())},
		{"POST", "/api/external/v2/investments/", js, "k3", marshal(map[string]any{"campaign_id": inf.Campaigns[0].ID, "investor_id": iv, "units": "300",
			"signed_at": "2021-03-12 07:14", "paid_at": "2021-03-12T07:14:13,5+0100", "signed_documents": []any{map[string]any{"document_id": iv}}})},
		{"PATCH", "/api/external/v2/investments/" + iv + "/", js, "", []byte(`{"wallet":"` + wal + `"}`)},
		{"POST", "/api/external/v2/investors/" + iv + "/wallets/eth-generic/", js, "k4", []byte(`{"address":"0x00000000000000000000000000000000000000AA","receiving_enabled":"yes"}`)},
		{"POST", "/api/external/v2/redemptions/", js, "k5", marshal(map[string]any{"investor_id": iv, "product_id": inf.Products[0].ID, "wallet_id": wal, "units": 1e3})},
		{"POST", "/api/external/v2/investors/" + iv + "/identifications/", js, "k6", []byte(`{"document_type":"IDCARD","verified_at":"2021-13-01T00:00:00Z"}`)},
		{"GET", "/api/external/v2/investments/?page=last&page_size=-1&investor_id=" + iv, "", "", nil},
		{"POST", "/api/external/oauth/token", "application/x-www-form-urlencoded", "", []byte("grant_type=client_credentials&scope=%00")},
		{"POST", "/api/external/v2/investments/", js, "k7", []byte(`[{"units":1e309}]`)},
		{"GET", "/api/external/v2/investors/" + iv, "", "", nil},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.ctype, s.key, s.body)
	}
	f.Fuzz(func(t *testing.T, method, path, ctype, key string, body []byte) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n?#%") || len(path) > 2000 {
			return
		}
		if m := strings.ToUpper(method); m != "GET" && m != "POST" && m != "PATCH" && m != "PUT" && m != "DELETE" {
			return
		}
		req, err := http.NewRequest(strings.ToUpper(method), "http://sandbox"+path, bytes.NewReader(body))
		if err != nil { // not a request a client could send
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		if ctype != "" && !strings.ContainsAny(ctype, "\r\n") {
			req.Header.Set("Content-Type", ctype)
		}
		if key != "" && !strings.ContainsAny(key, "\r\n\x00") {
			req.Header.Set(IdempotencyHeader, key)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s → %d %s", method, path, rec.Code, rec.Body.Bytes())
		}
		if rec.Code == http.StatusMovedPermanently {
			return
		}
		if !json.Valid(rec.Body.Bytes()) || rec.Header().Get("Content-Type") != "application/json" {
			t.Fatalf("%s %s → %d, not JSON: %q", method, path, rec.Code, rec.Body.Bytes())
		}
	})
}

// FuzzParseDateTime: whatever parses renders to a value that parses back
// to the same instant (to the microsecond).
func FuzzParseDateTime(f *testing.F) {
	for _, s := range []string{"2021-03-12T07:14:13.630308+00:00", "2021-03-12 07:14", "2021-3-1T7:1:1Z", "2021-03-12T07:14:13,123456789-0530", "0001-01-01T00:00:00+01:00", "2021-02-30T00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, ok := parseDateTime(s)
		if !ok {
			return
		}
		back, ok := parseDateTime(formatTime(tm))
		if !ok || !back.Equal(tm.Truncate(1000)) {
			t.Fatalf("%q → %v → %q → %v, %v", s, tm, formatTime(tm), back, ok)
		}
	})
}
