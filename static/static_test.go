package static

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestAssets(t *testing.T) {
	t.Parallel()
	a, err := New("/static/")
	if err != nil {
		t.Fatal(err)
	}
	p := a.Path("js/htmx.min.js")
	if !strings.HasPrefix(p, "/static/js/htmx.min.js?v=") {
		t.Fatalf("path %q", p)
	}
	tests := []struct {
		name, url    string
		status       int
		cacheControl string
		contentType  string
	}{
		{"current hash is immutable", p, 200, "public, max-age=31536000, immutable", "text/javascript; charset=utf-8"},
		{"old hash revalidates", "/static/js/htmx.min.js?v=old", 200, "no-cache", "text/javascript; charset=utf-8"},
		{"css", a.Path("css/app.css"), 200, "public, max-age=31536000, immutable", "text/css; charset=utf-8"},
		{"missing", "/static/nope.js", 404, "", ""},
		{"no escaping the folder", "/static/../static.go", 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.url, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d", rec.Code)
			}
			if tt.status != 200 {
				return
			}
			if got := rec.Header().Get("Cache-Control"); got != tt.cacheControl {
				t.Errorf("Cache-Control %q", got)
			}
			if got := rec.Header().Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type %q", got)
			}
		})
	}
	// A conditional request with the ETag gets 304.
	rec := httptest.NewRecorder()
	a.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
	req := httptest.NewRequest(http.MethodGet, p, nil)
	req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
	rec = httptest.NewRecorder()
	a.ServeHTTP(rec, req)
	if rec.Code != http.StatusNotModified {
		t.Fatalf("conditional GET: %d", rec.Code)
	}
}

func TestPathPanicsOnUnknownAsset(t *testing.T) {
	t.Parallel()
	a, _ := New("/static/")
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for a missing asset")
		}
	}()
	a.Path("css/typo.css")
}

// The vendored htmx is the pinned 2.x release.
func TestVendoredHTMXVersion(t *testing.T) {
	t.Parallel()
	b, err := files.ReadFile("js/htmx.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `version:"`+HTMXVersion+`"`) {
		t.Fatalf("static/js/htmx.min.js is not htmx %s", HTMXVersion)
	}
}
