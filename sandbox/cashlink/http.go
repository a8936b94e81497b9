package cashlink

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
)

// Scopes (A.2). A route that needs "x:read" also accepts "x:write".
const (
	ScopeInvestorsRead    = "investors:read"
	ScopeInvestorsWrite   = "investors:write"
	ScopeInvestmentsRead  = "investments:read"
	ScopeInvestmentsWrite = "investments:write"
	ScopeDocumentsWrite   = "documents:write"
)

// AllScopes are the scopes the sandbox client may request (and gets when
// it requests none).
var AllScopes = []string{ScopeInvestorsRead, ScopeInvestorsWrite, ScopeInvestmentsRead, ScopeInvestmentsWrite, ScopeDocumentsWrite}

// Body limits.
const (
	maxJSONBody     = 1 << 20  // 1 MiB for JSON bodies
	MaxDocumentSize = 10 << 20 // 10 MiB per uploaded file
	maxUploadBody   = MaxDocumentSize + 1<<20
)

// answer is a finished response: what the idempotency store keeps.
type answer struct {
	status      int
	body        []byte
	contentType string // "" = application/json
	location    string
}

// apiError is an answer produced as an error by deep helpers.
type apiError struct{ a answer }

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.a.status, e.a.body) }

// request is what an endpoint needs of an HTTP request.
type request struct {
	r        *http.Request
	ctx      context.Context
	clientID string
	ids      []string // the {id} path segments, in order
	body     []byte   // the raw body (already read, capped)
	base     string   // scheme://host + the path as the client sent it, for links
	rawQuery string
}

// handlerFunc serves one method of a route. Creating endpoints get a
// transaction that also commits their stored idempotent answer; the others
// get tx == nil and use e.db.
type handlerFunc func(e *Emulator, tx *sql.Tx, rq *request) (answer, error)

type method struct {
	scope    string
	creating bool // POST that creates: idempotency applies
	maxBody  int64
	serve    handlerFunc
}

type route struct {
	pattern []string // path segments after /api/external; "{id}" matches an id
	methods map[string]method
}

var routes = []route{
	{[]string{"v2", "documents"}, map[string]method{
		"POST": {ScopeDocumentsWrite, true, maxUploadBody, (*Emulator).createDocument}}},
	{[]string{"v2", "investors"}, map[string]method{
		"POST": {ScopeInvestorsWrite, true, maxJSONBody, (*Emulator).createInvestor}}},
	{[]string{"v2", "investors", "{id}"}, map[string]method{
		"GET": {ScopeInvestorsRead, false, 0, (*Emulator).getInvestor}}},
	{[]string{"v2", "investors", "{id}", "identifications"}, map[string]method{
		"POST": {ScopeInvestorsWrite, true, maxJSONBody, (*Emulator).createIdentification}}},
	{[]string{"v2", "investors", "{id}", "wallets"}, map[string]method{
		"GET": {ScopeInvestorsRead, false, 0, (*Emulator).listWallets}}},
	{[]string{"v2", "investors", "{id}", "wallets", "eth-generic"}, map[string]method{
		"POST": {ScopeInvestorsWrite, true, maxJSONBody, (*Emulator).createGenericWallet}}},
	{[]string{"v2", "investors", "{id}", "wallets", "eth-managed"}, map[string]method{
		"POST": {ScopeInvestorsWrite, true, maxJSONBody, (*Emulator).createManagedWallet}}},
	{[]string{"v2", "investments"}, map[string]method{
		"GET":  {ScopeInvestmentsRead, false, 0, (*Emulator).listInvestments},
		"POST": {ScopeInvestmentsWrite, true, maxJSONBody, (*Emulator).createInvestment}}},
	{[]string{"v2", "investments", "{id}"}, map[string]method{
		"GET":   {ScopeInvestmentsRead, false, 0, (*Emulator).getInvestment},
		"PATCH": {ScopeInvestmentsWrite, false, maxJSONBody, (*Emulator).patchInvestment}}},
	{[]string{"v2", "investments", "{id}", "credits"}, map[string]method{
		"POST": {ScopeInvestmentsWrite, true, maxJSONBody, (*Emulator).createCredit}}},
	{[]string{"v2", "redemptions"}, map[string]method{
		"GET":  {ScopeInvestmentsRead, false, 0, (*Emulator).listRedemptions},
		"POST": {ScopeInvestmentsWrite, true, maxJSONBody, (*Emulator).createRedemption}}},
	{[]string{"v2", "redemptions", "{id}"}, map[string]method{
		"GET": {ScopeInvestmentsRead, false, 0, (*Emulator).getRedemption}}},
}

const apiPrefix = "/api/external/"

// match finds the route of a path relative to the mount ("/api/external/v2/...").
func match(path string) (*route, []string, bool) {
	if !strings.HasPrefix(path, apiPrefix) || !strings.HasSuffix(path, "/") {
		return nil, nil, false
	}
	segs := strings.Split(strings.TrimSuffix(strings.TrimPrefix(path, apiPrefix), "/"), "/")
	for i := range routes {
		rt := &routes[i]
		if len(rt.pattern) != len(segs) {
			continue
		}
		var ids []string
		ok := true
		for j, p := range rt.pattern {
			if p == "{id}" {
				if segs[j] == "" || strings.ContainsAny(segs[j], ".") {
					ok = false
					break
				}
				ids = append(ids, segs[j])
			} else if p != segs[j] {
				ok = false
				break
			}
		}
		if ok {
			return rt, ids, true
		}
	}
	return nil, nil, false
}

// Handler serves the API with paths relative to the mount point:
// "/api/external/oauth/token" and "/api/external/v2/...". Mount it with
// http.StripPrefix("/sandbox/cashlink", h); links (next/previous) keep the
// prefix because they are built from r.RequestURI.
func (e *Emulator) Handler() http.Handler { return http.HandlerFunc(e.serveHTTP) }

func (e *Emulator) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", newID())
	if r.URL.Path == "/api/external/oauth/token" || r.URL.Path == "/api/external/oauth/token/" {
		e.token(w, r)
		return
	}
	rt, ids, ok := match(r.URL.Path)
	if !ok {
		// Django's APPEND_SLASH redirects a GET to the path with a slash
		// when that one exists; everything else is a 404.
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasSuffix(r.URL.Path, "/") {
			if _, _, ok := match(r.URL.Path + "/"); ok {
				p, q := requestTarget(r)
				loc := p + "/"
				if q != "" {
					loc += "?" + q
				}
				http.Redirect(w, r, loc, http.StatusMovedPermanently)
				return
			}
		}
		write(w, detail(http.StatusNotFound, "Not found."))
		return
	}
	allow := make([]string, 0, len(rt.methods))
	for _, m := range []string{"GET", "POST", "PATCH"} {
		if _, ok := rt.methods[m]; ok {
			allow = append(allow, m)
		}
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	w.Header().Set("Vary", "Accept, Authorization")
	// DRF's order: authentication, then the method, then permissions.
	clientID, scopes, ok := e.authenticate(w, r)
	if !ok {
		return
	}
	m, ok := rt.methods[r.Method]
	if !ok {
		write(w, detail(http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method)))
		return
	}
	if !hasScope(scopes, m.scope) {
		write(w, detail(http.StatusForbidden, "You do not have permission to perform this action."))
		return
	}
	path, rawQuery := requestTarget(r)
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	rq := &request{r: r, ctx: r.Context(), clientID: clientID, ids: ids, rawQuery: rawQuery,
		base: scheme + "://" + r.Host + path}
	if m.maxBody > 0 {
		b, err := io.ReadAll(io.LimitReader(r.Body, m.maxBody+1))
		if err != nil {
			write(w, detail(http.StatusBadRequest, "Could not read the request body."))
			return
		}
		if int64(len(b)) > m.maxBody {
			write(w, detail(http.StatusRequestEntityTooLarge, fmt.Sprintf("Request body too large: the limit is %d bytes.", m.maxBody)))
			return
		}
		rq.body = b
	}
	if m.creating {
		e.serveIdempotent(w, rq, m)
		return
	}
	a, err := m.serve(e, nil, rq)
	if err != nil {
		a = e.failure(r, err)
	}
	write(w, a)
}

// failure turns an error into its answer: apiErrors are answers, anything
// else is logged and becomes a 500.
func (e *Emulator) failure(r *http.Request, err error) answer {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.a
	}
	e.log.Error("cashlink sandbox: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return detail(http.StatusInternalServerError, "A server error occurred.")
}

// requestTarget is the path and query the client sent (before StripPrefix).
func requestTarget(r *http.Request) (string, string) {
	if r.RequestURI != "" {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil && u.Path != "" {
			return u.EscapedPath(), u.RawQuery
		}
	}
	return r.URL.EscapedPath(), r.URL.RawQuery
}

func hasScope(granted []string, need string) bool {
	if contains(granted, need) {
		return true
	}
	if strings.HasSuffix(need, ":read") {
		return contains(granted, strings.TrimSuffix(need, ":read")+":write")
	}
	return false
}

func write(w http.ResponseWriter, a answer) {
	ct := a.contentType
	if ct == "" {
		ct = "application/json"
	}
	w.Header().Set("Content-Type", ct)
	if a.location != "" {
		w.Header().Set("Location", a.location)
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// marshal renders v compactly, without HTML escaping (like DRF's renderer).
func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("cashlink: rendering %T: %v", v, err)) // only our own types are rendered
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func jsonAnswer(status int, v any) answer { return answer{status: status, body: marshal(v)} }

// detail is DRF's {"detail": "..."} body.
func detail(status int, msg string) answer {
	return jsonAnswer(status, map[string]string{"detail": msg})
}

func notFound() error { return &apiError{detail(http.StatusNotFound, "Not found.")} }

// nonField is a 400 with DRF's non_field_errors.
func nonField(msg string) error {
	return &apiError{jsonAnswer(http.StatusBadRequest, map[string][]string{"non_field_errors": {msg}})}
}

// fieldError is a 400 for one field.
func fieldError(field, msg string) error {
	return &apiError{jsonAnswer(http.StatusBadRequest, map[string][]string{field: {msg}})}
}

// jsonObject parses a JSON request body into an object. An empty body is
// an empty object (DRF's request.data for no content); another content
// type is a 415, malformed JSON a 400 and a non-object a 400.
func jsonObject(rq *request) (map[string]any, error) {
	if len(bytes.TrimSpace(rq.body)) == 0 {
		return map[string]any{}, nil
	}
	ct := rq.r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return nil, &apiError{detail(http.StatusUnsupportedMediaType, fmt.Sprintf("Unsupported media type %q in request.", ct))}
	}
	dec := json.NewDecoder(bytes.NewReader(rq.body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &apiError{detail(http.StatusBadRequest, "JSON parse error - "+err.Error())}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &apiError{detail(http.StatusBadRequest, "JSON parse error - Extra data after the JSON value")}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &apiError{jsonAnswer(http.StatusBadRequest, map[string][]string{
			"non_field_errors": {fmt.Sprintf("Invalid data. Expected a dictionary, but got %s.", pyType(v))}})}
	}
	return obj, nil
}

// requestFingerprint identifies a request's content, not its framing, so a
// client that resends the same upload with a new multipart boundary, or the
// same JSON with other spacing or key order, is recognised as the same
// request: for multipart/form-data, each part's field name, file name,
// content type and bytes, in order; for JSON, the parsed value re-encoded
// canonically (object keys sorted, numbers as written). A body that does not
// parse as its declared type is fingerprinted by its raw bytes.
func requestFingerprint(contentType string, body []byte) []byte {
	mt, params, err := mime.ParseMediaType(contentType)
	if err == nil {
		switch {
		case mt == "multipart/form-data" && params["boundary"] != "":
			if fp, ok := multipartFingerprint(params["boundary"], body); ok {
				return fp
			}
		case mt == "application/json" && len(bytes.TrimSpace(body)) > 0:
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			var v any
			if dec.Decode(&v) == nil {
				if _, err := dec.Token(); err == io.EOF {
					c, err := json.Marshal(v)
					if err == nil {
						return tagged("json", c)
					}
				}
			}
		}
	}
	s := sha256.Sum256(body)
	return s[:]
}

func multipartFingerprint(boundary string, body []byte) ([]byte, bool) {
	h := sha256.New()
	h.Write([]byte("multipart\x00"))
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return h.Sum(nil), true
		}
		if err != nil {
			return nil, false
		}
		content, err := io.ReadAll(p)
		if err != nil {
			return nil, false
		}
		// Length-prefixed fields: no two different part lists hash alike.
		for _, f := range [][]byte{[]byte(p.FormName()), []byte(p.FileName()), []byte(p.Header.Get("Content-Type")), content} {
			var n [8]byte
			binary.BigEndian.PutUint64(n[:], uint64(len(f)))
			h.Write(n[:])
			h.Write(f)
		}
	}
}

func tagged(kind string, b []byte) []byte {
	h := sha256.New()
	h.Write([]byte(kind + "\x00"))
	h.Write(b)
	return h.Sum(nil)
}
