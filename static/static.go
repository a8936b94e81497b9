// Package static embeds the stylesheet, htmx and the console's small
// scripts, and serves them with content-hash URLs so browsers may cache them
// for a year and still never run a stale file.
package static

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed css js img
var files embed.FS

// HTMXVersion is the vendored htmx release (npm htmx.org), see scripts/vendor-htmx.sh.
const HTMXVersion = "2.0.11"

// Assets serves the embedded files under a prefix.
type Assets struct {
	prefix string
	hashes map[string]string // "css/app.css" → short content hash
	data   map[string][]byte
}

// New indexes the embedded files; prefix is where they are mounted ("/static/").
func New(prefix string) (*Assets, error) {
	a := &Assets{prefix: prefix, hashes: map[string]string{}, data: map[string][]byte{}}
	err := fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a.hashes[p] = hex.EncodeToString(sum[:6])
		a.data[p] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("index static files: %w", err)
	}
	return a, nil
}

// Path returns the URL of an asset with its content hash, e.g.
// "/static/css/app.css?v=1a2b3c4d5e6f". It panics on an unknown name, which
// the page tests catch: a typo must not ship as a broken link.
func (a *Assets) Path(name string) string {
	h, ok := a.hashes[name]
	if !ok {
		panic("static: no asset " + name)
	}
	return a.prefix + name + "?v=" + h
}

// ServeHTTP serves an asset. A request carrying the current hash may be
// cached forever; others revalidate with the ETag.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(path.Clean("/"+strings.TrimPrefix(r.URL.Path, a.prefix)), "/")
	b, ok := a.data[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	h := a.hashes[name]
	w.Header().Set("ETag", `"`+h+`"`)
	if r.URL.Query().Get("v") == h {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}
