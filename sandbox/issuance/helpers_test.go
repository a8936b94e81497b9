package issuance

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"issuerconsole/db"
)

const probeFixture = "testdata/probe_fixture.json"

// openDB opens a fresh sandbox database in a temp dir.
func openDB(t testing.TB) *sql.DB {
	t.Helper()
	d, err := db.OpenRaw(context.Background(), filepath.Join(t.TempDir(), "sandbox.db"), db.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// openProbe opens an emulator over the probe fixture (the seven
// investments of drf-probe-transcript.txt, rebuilt).
func openProbe(t testing.TB, broken bool) *Emulator {
	t.Helper()
	e, err := Open(context.Background(), openDB(t), Options{Fixture: probeFixture, BrokenBoolIn: broken})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request through the handler mounted at the root.
func do(t testing.TB, h http.Handler, method, target, auth string, body io.Reader, contentType string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

const keyAuth = "Api-Key " + DefaultAPIKey
const tokenAuth = "Bearer " + DefaultFirebaseToken

func get(t testing.TB, h http.Handler, target string) response {
	t.Helper()
	return do(t, h, "GET", target, keyAuth, nil, "")
}

// page is a decoded list response.
type page struct {
	Count    int               `json:"count"`
	Next     *string           `json:"next"`
	Previous *string           `json:"previous"`
	Results  []json.RawMessage `json:"results"`
}

func (p page) ids(t testing.TB) []int {
	t.Helper()
	out := []int{}
	for _, r := range p.Results {
		var x struct {
			ID int `json:"id"`
		}
		if err := json.Unmarshal(r, &x); err != nil {
			t.Fatal(err)
		}
		out = append(out, x.ID)
	}
	return out
}

func decodePage(t testing.TB, r response) page {
	t.Helper()
	var p page
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return p
}

// strip drops the scheme and host of a link for comparisons.
func strip(s *string) string {
	if s == nil {
		return "null"
	}
	if i := strings.Index(*s, "://"); i >= 0 {
		rest := (*s)[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			return rest[j:]
		}
	}
	return *s
}
