package issuance

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
)

// authKind is how an endpoint authenticates (seed 002).
type authKind int

const (
	authAPIKey   authKind = iota // "Api Key permission with required prefix Api-Key"
	authFirebase                 // "Token-based authentication using Firebase ID Token"
	authOptional                 // the same, optional (/investments/summary/)
)

// route is one endpoint of the API.
type route struct {
	name    string // DRF's view name, for OPTIONS
	doc     string // the view's description, for OPTIONS
	methods []string
	auth    authKind
	serve   func(e *Emulator, rq *request) error
}

// request is what a handler needs of an HTTP request.
type request struct {
	w        http.ResponseWriter
	r        *http.Request
	q        queryParams
	id       string // the {id} path segment of detail routes
	base     string // scheme://host/path as the client sent it, for links
	rawQuery string
	full     bool // the caller has credentials that see everything (summary)
	// scope is the offerings an offering's API key sees; nil for the
	// all-seeing key and for Firebase tokens (user-level, not per offering).
	scope []int64
}

var (
	listGet   = []string{"GET", "HEAD", "OPTIONS"}
	userList  = []string{"GET", "POST", "HEAD", "OPTIONS"}
	userThing = []string{"GET", "PATCH", "HEAD", "OPTIONS"}
)

// Handler serves the API with paths relative to the mount point
// ("/api/investments/", …). Links (next/previous, redirects) use the URL
// the client sent: the scheme and host of the request and the path of
// r.RequestURI, which http.StripPrefix leaves untouched, so they keep the
// mount prefix.
func (e *Emulator) Handler() http.Handler {
	return http.HandlerFunc(e.serveHTTP)
}

// match finds the route for a path (Django's URL resolver: DRF's router
// regexes, the {id} segment is [^/.]+).
func match(path string) (*route, string, bool) {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if len(parts) < 3 || parts[0] != "api" || parts[len(parts)-1] != "" {
		return nil, "", false
	}
	parts = parts[1 : len(parts)-1]
	key := parts[0]
	switch len(parts) {
	case 1:
		rt, ok := routes[key+"/"]
		return rt, "", ok
	case 2:
		if rt, ok := routes[key+"/"+parts[1]+"/"]; ok {
			return rt, "", true
		}
		if parts[1] == "" || strings.ContainsAny(parts[1], "/.") {
			return nil, "", false
		}
		rt, ok := routes[key+"/{id}/"]
		return rt, parts[1], ok
	}
	return nil, "", false
}

var routes = map[string]*route{
	"investments/": {name: "Investment List", doc: "API endpoint displaying Investments.", methods: listGet, auth: authAPIKey,
		serve: func(e *Emulator, rq *request) error { return e.list(rq, e.investmentList()) }},
	"investments/statuses/": {name: "Investment Statuses", doc: "Return the investment statuses.", methods: listGet, auth: authAPIKey,
		serve: (*Emulator).statuses},
	"investments/summary/": {name: "Investment Summary", doc: "Return an investment summary for the provided filters.", methods: listGet, auth: authOptional,
		serve: (*Emulator).investmentSummary},
	"investments/values/": {name: "Investment Values", doc: "List all the values of the provided fields.", methods: listGet, auth: authAPIKey,
		serve: func(e *Emulator, rq *request) error { return e.values(rq, e.investments, investmentValueFields) }},
	"investments/{id}/": {name: "Investment Instance", doc: "API endpoint displaying Investments.", methods: listGet, auth: authAPIKey,
		serve: func(e *Emulator, rq *request) error { return e.detail(rq, e.investmentList()) }},
	"offerings/": {name: "Offering List", doc: "Management of Offerings.", methods: listGet, auth: authAPIKey,
		serve: func(e *Emulator, rq *request) error { return e.list(rq, e.offeringList()) }},
	"offerings/{id}/": {name: "Offering Instance", doc: "Management of Offerings.", methods: listGet, auth: authAPIKey,
		serve: func(e *Emulator, rq *request) error { return e.detail(rq, e.offeringList()) }},
	"investors/": {name: "Investor List", doc: "Management of Investors.", methods: listGet, auth: authFirebase,
		serve: func(e *Emulator, rq *request) error { return e.list(rq, e.investorList()) }},
	"investors/values/": {name: "Investor Values", doc: "List all the values of the provided fields.", methods: listGet, auth: authFirebase,
		serve: func(e *Emulator, rq *request) error { return e.values(rq, e.investors, investorValueFields) }},
	"investors/{id}/": {name: "Investor Instance", doc: "Management of Investors.", methods: listGet, auth: authFirebase,
		serve: func(e *Emulator, rq *request) error { return e.detail(rq, e.investorList()) }},
	"users/": {name: "User List", doc: "Management of users.", methods: userList, auth: authFirebase,
		serve: (*Emulator).usersList},
	"users/{id}/": {name: "User Instance", doc: "Management of users.", methods: userThing, auth: authFirebase,
		serve: (*Emulator).userInstance},
}

func (e *Emulator) serveHTTP(w http.ResponseWriter, r *http.Request) {
	origPath, rawQuery := requestTarget(r)
	rt, id, ok := match(r.URL.Path)
	if !ok {
		// Django's CommonMiddleware (APPEND_SLASH) redirects to the URL with
		// a slash when that one exists.
		if !strings.HasSuffix(r.URL.Path, "/") {
			if _, _, ok := match(r.URL.Path + "/"); ok {
				loc := escapeURIPath(origPath) + "/"
				if rawQuery != "" {
					loc += "?" + rawQuery
				}
				w.Header().Set("Location", loc)
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(http.StatusMovedPermanently)
				return
			}
		}
		writeHTML(w, http.StatusNotFound, djangoNotFound)
		return
	}
	q, fieldsOK := newQueryParams(rawQuery)
	if !fieldsOK {
		// Django: TooManyFieldsSent (DATA_UPLOAD_MAX_NUMBER_FIELDS) → 400.
		writeHTML(w, http.StatusBadRequest, djangoBadRequest)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	rq := &request{w: w, r: r, q: q, id: id, rawQuery: rawQuery,
		base: scheme + "://" + r.Host + escapeURIPath(origPath)}
	h := w.Header()
	h.Set("Allow", strings.Join(rt.methods, ", "))
	h.Set("Vary", "Accept")
	// DRF's order: content negotiation, authentication, permissions, then
	// the method.
	if f, ok := q.get("format"); ok && f != "" && f != "json" {
		writeDetail(w, http.StatusNotFound, "Not found.")
		return
	}
	if !acceptsJSON(r.Header.Values("Accept")) {
		writeDetail(w, http.StatusNotAcceptable, "Could not satisfy the request Accept header.")
		return
	}
	if !e.authorize(rq, rt.auth) {
		return
	}
	if !contains(rt.methods, r.Method) {
		writeDetail(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method))
		return
	}
	if r.Method == http.MethodOptions {
		var b bytes.Buffer
		o := newObject(&b)
		o.str("name", rt.name)
		o.str("description", rt.doc)
		o.raw("renders", []byte(`["application/json"]`))
		o.raw("parses", []byte(`["application/json","application/x-www-form-urlencoded","multipart/form-data"]`))
		o.end()
		writeJSON(w, http.StatusOK, b.Bytes())
		return
	}
	if err := rt.serve(e, rq); err != nil {
		var broken errBrokenBoolIn
		if errors.As(err, &broken) {
			e.log.Warn("issuance sandbox: reproducing the upstream 500 of a boolean __in filter", "param", broken.param)
		} else {
			e.log.Error("issuance sandbox: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		writeHTML(w, http.StatusInternalServerError, djangoServerError)
	}
}

// requestTarget is the path and query the client sent (before any
// StripPrefix).
func requestTarget(r *http.Request) (string, string) {
	if r.RequestURI != "" {
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
			return u.Path, u.RawQuery
		}
	}
	return r.URL.Path, r.URL.RawQuery
}

// acceptsJSON is DRF's content negotiation with only the JSON renderer.
func acceptsJSON(headers []string) bool {
	if len(headers) == 0 {
		return true
	}
	any := false
	for _, h := range headers {
		for _, part := range strings.Split(h, ",") {
			mt, _, _ := strings.Cut(part, ";")
			mt = strings.ToLower(strings.TrimSpace(mt))
			if mt == "" {
				continue
			}
			any = true
			if mt == "*/*" || mt == "application/*" || mt == "application/json" {
				return true
			}
		}
	}
	return !any
}

// authorize applies the route's authentication and answers 401/403 the
// way DRF does: no usable credentials → NotAuthenticated (401, with the
// token authenticator's WWW-Authenticate), a bad token → AuthenticationFailed
// (401), a valid token on an Api-Key endpoint → PermissionDenied (403).
func (e *Emulator) authorize(rq *request, kind authKind) bool {
	keyword, cred, _ := strings.Cut(rq.r.Header.Get("Authorization"), " ")
	isKey := strings.EqualFold(keyword, "Api-Key") && secretEqual(cred, e.apiKey)
	if !isKey && strings.EqualFold(keyword, "Api-Key") {
		if id, ok := e.offeringKey(cred); ok {
			isKey, rq.scope = true, []int64{id}
		}
	}
	isBearer := strings.EqualFold(keyword, "Bearer")
	tokenOK := isBearer && secretEqual(cred, e.token)
	if isBearer && !tokenOK && e.verify != nil {
		known, valid := e.verify(cred)
		if known && !valid {
			e.unauthorized(rq.w, "Token has expired.")
			return false
		}
		tokenOK = valid
	}
	if isBearer && !tokenOK {
		e.unauthorized(rq.w, "Invalid token.")
		return false
	}
	switch kind {
	case authAPIKey:
		if isKey {
			return true
		}
		if tokenOK {
			writeDetail(rq.w, http.StatusForbidden, "You do not have permission to perform this action.")
			return false
		}
	case authFirebase:
		if tokenOK {
			return true
		}
	case authOptional:
		rq.full = isKey || tokenOK
		return true
	}
	e.unauthorized(rq.w, "Authentication credentials were not provided.")
	return false
}

func (e *Emulator) unauthorized(w http.ResponseWriter, detail string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
	writeDetail(w, http.StatusUnauthorized, detail)
}

func secretEqual(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// djangoPage is Django's default error page (django.views.defaults,
// DEBUG off, no templates).
func djangoPage(title, details string) string {
	return "\n<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>" + title + "</title>\n</head>\n<body>\n  <h1>" +
		title + "</h1><p>" + details + "</p>\n</body>\n</html>\n"
}

var (
	djangoNotFound    = djangoPage("Not Found", "The requested resource was not found on this server.")
	djangoServerError = djangoPage("Server Error (500)", "")
	djangoBadRequest  = djangoPage("Bad Request (400)", "")
)

func writeHTML(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeDetail writes DRF's {"detail": "..."} error body.
func writeDetail(w http.ResponseWriter, status int, detail string) {
	var b bytes.Buffer
	o := newObject(&b)
	o.str("detail", detail)
	o.end()
	writeJSON(w, status, b.Bytes())
}

// listSpec binds a resource to what its rows look like.
type listSpec struct {
	res     *resource
	columns string
	joins   string
	render  func(*sql.Rows, *bytes.Buffer) error
}

func (e *Emulator) investmentList() listSpec {
	return listSpec{res: e.investments, columns: investmentAPIColumns, render: renderInvestment}
}

func (e *Emulator) offeringList() listSpec {
	return listSpec{res: e.offerings, columns: offeringAPIColumns, render: renderOfferingRow}
}

func (e *Emulator) investorList() listSpec {
	return listSpec{res: e.investors, columns: investorAPIColumns, joins: investorAPIJoins, render: renderInvestor}
}

func (e *Emulator) userList() listSpec {
	return listSpec{res: e.users, columns: userAPIColumns, render: renderUser}
}

// compile runs the filter, search and ordering stages and writes the 400
// when the filters are invalid (ok=false). The search is in its
// materialised form; see chooseSearchForm.
func (e *Emulator) compile(rq *request, res *resource) (*compiled, bool, error) {
	cq, verrs, err := res.compileList(rq.r.Context(), rq.q, e, e.filterOpts)
	if err != nil {
		return nil, false, err
	}
	if verrs != nil {
		writeJSON(rq.w, http.StatusBadRequest, verrs.body())
		return nil, false, nil
	}
	if rq.scope != nil {
		// An offering's key sees its offering and that offering's
		// investments; filters still validate against every record (a
		// ModelChoiceFilter's queryset is the model's), so a filter on
		// another offering is an empty answer, not a 400.
		if col, ok := scopeColumn[res.table]; ok {
			cq.filters.parts = append(cq.filters.parts, col+" IN (SELECT value FROM json_each(?))")
			cq.filters.args = append(cq.filters.args, jsonArray(rq.scope))
			cq.use(false)
		}
	}
	return cq, true, nil
}

// compileForSet is compile for queries over the whole filtered set (lists,
// summaries, value lists): the search form is chosen by the set's size.
func (e *Emulator) compileForSet(rq *request, res *resource) (*compiled, bool, error) {
	cq, ok, err := e.compile(rq, res)
	if ok {
		err = e.prepareSet(rq.r.Context(), res, cq)
	}
	return cq, ok && err == nil, err
}

// prepareSet narrows the investments' search through the trigram index
// (searchindex.go), then chooses the search's SQL form.
func (e *Emulator) prepareSet(ctx context.Context, res *resource, cq *compiled) error {
	if res == e.investments || res == e.summary {
		if err := e.narrowSearch(ctx, cq); err != nil {
			return err
		}
	}
	return e.chooseSearchForm(ctx, res, cq)
}

// correlatedBelow is the filtered-row count under which a search through a
// related table (the investors' users) is evaluated per row rather than by
// materialising every matching related row (scanning all users costs about
// 0.1 s at the generator's largest size; a primary-key lookup costs
// microseconds).
const correlatedBelow = 50_000

// chooseSearchForm picks the search's SQL form from the size of the set
// the filters leave (a cached count).
func (e *Emulator) chooseSearchForm(ctx context.Context, res *resource, cq *compiled) error {
	if len(cq.search.in) == 0 || len(cq.filters.parts) == 0 || !res.searchesVia() {
		return nil
	}
	filtersOnly := &compiled{filters: cq.filters}
	filtersOnly.use(false)
	n, err := e.count(ctx, res, filtersOnly)
	if err != nil {
		return err
	}
	cq.use(n < correlatedBelow)
	return nil
}

// searchesVia reports whether a search field is reached through a
// related table (otherwise both search forms are the same SQL).
func (r *resource) searchesVia() bool {
	for _, sf := range r.search {
		if sf.via != "" {
			return true
		}
	}
	return false
}

// list serves a paginated list: filters, search, ordering, then DRF's
// PageNumberPagination.
func (e *Emulator) list(rq *request, ls listSpec) error {
	ctx := rq.r.Context()
	cq, ok, err := e.compileForSet(rq, ls.res)
	if !ok {
		return err
	}
	count, err := e.count(ctx, ls.res, cq)
	if err != nil {
		return err
	}
	size := ls.res.pageSizeFor(rq.q)
	pages := numPages(count, size)
	page, ok := pageNumber(rq.q, pages)
	if !ok {
		writeDetail(rq.w, http.StatusNotFound, "Invalid page.")
		return nil
	}
	bottom := (page - 1) * int64(size)
	top := min(bottom+int64(size), count)
	rows, err := e.fetchPage(ctx, ls, cq, bottom, top, count)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	o := newObject(&b)
	o.int("count", count)
	if page < pages {
		o.str("next", pageLink(rq.base, rq.rawQuery, page+1))
	} else {
		o.null("next")
	}
	if page > 1 {
		o.str("previous", pageLink(rq.base, rq.rawQuery, page-1))
	} else {
		o.null("previous")
	}
	o.key("results")
	b.WriteByte('[')
	for i, row := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(row)
	}
	b.WriteByte(']')
	o.end()
	writeJSON(rq.w, http.StatusOK, b.Bytes())
	return nil
}

// fetchPage reads rows [bottom, top) of the ordered result in two steps:
// the page's ids first (a query SQLite can often answer from an index
// alone, stopping after the page), then those rows by primary key. Pages in
// the second half are read from the end with the reversed order, so
// "page=last" does not skip over a million index entries.
func (e *Emulator) fetchPage(ctx context.Context, ls listSpec, cq *compiled, bottom, top, count int64) ([][]byte, error) {
	if top <= bottom {
		return nil, nil
	}
	order, offset, reverse := cq.order, bottom, false
	if bottom > count/2 {
		order, offset, reverse = cq.reverse, count-top, true
	}
	ids := "SELECT " + ls.res.idExpr + " FROM " + ls.res.table + cq.where + " ORDER BY " + order + " LIMIT ? OFFSET ?"
	q := "SELECT " + ls.columns + " FROM " + ls.res.table + ls.joins + " WHERE " + ls.res.idExpr + " IN (" + ids + ") ORDER BY " + order
	args := append(append([]any{}, cq.args...), top-bottom, offset)
	out, err := e.queryRows(ctx, ls, q, args)
	if err != nil {
		return nil, err
	}
	if reverse {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out, nil
}

func (e *Emulator) queryRows(ctx context.Context, ls listSpec, q string, args []any) ([][]byte, error) {
	rows, err := e.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var b bytes.Buffer
		if err := ls.render(rows, &b); err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
		out = append(out, b.Bytes())
	}
	return out, rows.Err()
}

// detail serves one object. DRF's get_object runs the list's filter
// backends first, so filters in the query string apply (and can 400).
func (e *Emulator) detail(rq *request, ls listSpec) error {
	cq, ok, err := e.compile(rq, ls.res)
	if !ok {
		return err
	}
	cq.use(true) // one row: evaluate the search per row
	id, ok := pyInt(rq.id)
	if !ok || id.Big {
		writeDetail(rq.w, http.StatusNotFound, "Not found.")
		return nil
	}
	where := " WHERE " + ls.res.idExpr + " = ?"
	if cq.where != "" {
		where = cq.where + " AND " + ls.res.idExpr + " = ?"
	}
	rows, err := e.queryRows(rq.r.Context(), ls, "SELECT "+ls.columns+" FROM "+ls.res.table+ls.joins+where,
		append(append([]any{}, cq.args...), id.Val))
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		writeDetail(rq.w, http.StatusNotFound, "Not found.")
		return nil
	}
	writeJSON(rq.w, http.StatusOK, rows[0])
	return nil
}

// pageLink is DRF's replace_query_param / remove_query_param on the
// request's absolute URL: the query is re-parsed with parse_qs, "page" set
// (or removed for page 1), keys sorted, values re-encoded with quote_plus.
func pageLink(base, rawQuery string, page int64) string {
	pairs := parseQSL(rawQuery)
	keys := []string{}
	values := map[string][]string{}
	for _, p := range pairs {
		if _, ok := values[p.Name]; !ok {
			keys = append(keys, p.Name)
		}
		values[p.Name] = append(values[p.Name], p.Value)
	}
	if _, ok := values["page"]; !ok {
		keys = append(keys, "page")
	}
	if page == 1 {
		delete(values, "page")
	} else {
		values["page"] = []string{itoa64(page)}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		for _, v := range values[k] {
			parts = append(parts, pyQuotePlus(k)+"="+pyQuotePlus(v))
		}
	}
	if len(parts) == 0 {
		return base
	}
	return base + "?" + strings.Join(parts, "&")
}
