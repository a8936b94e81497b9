package issuance

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"issuerconsole/services/apiclient"
)

// An issuer holds one API key per offering (seed 002: "their Offering's API
// key"). With several keys the client learns which offerings each key sees
// (GET /api/offerings/ with each key), sends a call about one offering with
// that offering's key, and answers lists that span offerings by asking every
// key and merging the answers in the requested order. Investors, users and
// the summary take a Firebase ID token, a user's credential, so the keys do
// not matter there.

// maxPageSize is the largest page the API serves (DRF max_page_size); merged
// lists read each key in pages of this size.
const maxPageSize = 100

// learnAgainAfter bounds how stale the offering → key map may be when an
// offering is not in it (a new offering, a new key).
const learnAgainAfter = 30 * time.Second

// keyCtx carries the index of the key a call must use.
type keyCtx struct{}

func withKey(ctx context.Context, i int) context.Context { return context.WithValue(ctx, keyCtx{}, i) }

// keyring is the client's API keys and what it learned about them.
type keyring struct {
	keys []string

	mu        sync.Mutex
	learned   time.Time
	offerings map[int64]int // offering id → index of the key that sees it
	scopes    [][]int64     // per key, the offerings it sees
	invKey    map[int64]int // investment id → key index (GetInvestment), bounded
}

// keyFor returns the key a request must carry.
func (c *Client) keyFor(ctx context.Context) string {
	if len(c.ring.keys) == 0 {
		return ""
	}
	if i, ok := ctx.Value(keyCtx{}).(int); ok && i >= 0 && i < len(c.ring.keys) {
		return c.ring.keys[i]
	}
	return c.ring.keys[0]
}

// multi reports whether calls need routing (more than one key).
func (c *Client) multi() bool { return len(c.ring.keys) > 1 }

// KeyScope is one configured key (masked by the caller before display) and
// the offerings it sees.
type KeyScope struct {
	Key       string
	Offerings []int64
}

// KeyScopes learns (or returns what was learned of) the offerings each key
// sees.
func (c *Client) KeyScopes(ctx context.Context) ([]KeyScope, error) {
	if !c.multi() {
		return nil, nil // one key: nothing to route, nothing to learn
	}
	if err := c.learn(ctx, false); err != nil {
		return nil, err
	}
	c.ring.mu.Lock()
	defer c.ring.mu.Unlock()
	out := make([]KeyScope, len(c.ring.keys))
	for i, k := range c.ring.keys {
		out[i] = KeyScope{Key: k, Offerings: append([]int64(nil), c.ring.scopes[i]...)}
	}
	return out, nil
}

// learn lists the offerings of every key (once, or again when force is set
// and the last time is older than learnAgainAfter).
func (c *Client) learn(ctx context.Context, force bool) error {
	c.ring.mu.Lock()
	fresh := !c.ring.learned.IsZero() && (!force || time.Since(c.ring.learned) < learnAgainAfter)
	c.ring.mu.Unlock()
	if fresh {
		return nil
	}
	scopes := make([][]int64, len(c.ring.keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i := range c.ring.keys {
		g.Go(func() error {
			q := url.Values{"ordering": {"id"}, "page_size": {strconv.Itoa(maxPageSize)}}
			for o, err := range all[Offering](withKey(gctx, i), c, c.api.Resolve("api/offerings/", q)) {
				if err != nil {
					return fmt.Errorf("listing the offerings of API key %d of %d: %w", i+1, len(c.ring.keys), err)
				}
				scopes[i] = append(scopes[i], o.ID)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	m := map[int64]int{}
	for i, s := range scopes {
		for _, id := range s {
			if _, dup := m[id]; !dup {
				m[id] = i
			}
		}
	}
	c.ring.mu.Lock()
	c.ring.scopes, c.ring.offerings, c.ring.learned = scopes, m, time.Now()
	c.ring.mu.Unlock()
	return nil
}

// keyOfOffering is the index of the key that sees an offering.
func (c *Client) keyOfOffering(ctx context.Context, id int64) (int, bool, error) {
	for _, force := range []bool{false, true} {
		if err := c.learn(ctx, force); err != nil {
			return 0, false, err
		}
		c.ring.mu.Lock()
		i, ok := c.ring.offerings[id]
		c.ring.mu.Unlock()
		if ok {
			return i, true, nil
		}
	}
	return 0, false, nil
}

// keysFor picks the keys a list must ask: those seeing the offerings named
// by param (exact) or param__in when every one is known, else all of them.
func (c *Client) keysFor(ctx context.Context, q url.Values, param string) ([]int, error) {
	all := make([]int, len(c.ring.keys))
	for i := range all {
		all[i] = i
	}
	var ids []string
	if v, ok := q[param]; ok && len(v) == 1 {
		ids = []string{v[0]}
	} else if v, ok := q[param+"__in"]; ok && len(v) == 1 {
		ids = strings.Split(v[0], ",")
	}
	if len(ids) == 0 {
		return all, nil
	}
	seen := map[int]bool{}
	var out []int
	for _, s := range ids {
		id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return all, nil // the API reports the bad value
		}
		i, ok, err := c.keyOfOffering(ctx, id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return all, nil
		}
		if !seen[i] {
			seen[i] = true
			out = append(out, i)
		}
	}
	return out, nil
}

// orderTerm is one term of the ordering parameter.
type orderTerm struct {
	field string
	desc  bool
}

// mergeSpec says how to list and order one resource across keys.
type mergeSpec[T any] struct {
	path         string
	offeringKey  string // the query parameter naming offerings ("offering", "id")
	fields       []string
	defaultOrder []string
	// substitute maps ordering fields the API sorts by but never returns to
	// the returned field used instead when merging (with a note).
	substitute map[string]string
	compare    func(a, b T, field string) int
	id         func(T) int64
}

var investmentMerge = mergeSpec[Investment]{
	path: "api/investments/", offeringKey: "offering", fields: InvestmentOrderingFields,
	defaultOrder: []string{"-created_at", "-id"},
	substitute:   map[string]string{"created_at": "id"},
	compare:      compareInvestments,
	id:           func(i Investment) int64 { return i.ID },
}

var offeringMerge = mergeSpec[Offering]{
	path: "api/offerings/", offeringKey: "id", fields: OfferingOrderingFields,
	defaultOrder: []string{"-created_at", "-id"},
	compare:      compareOfferings,
	id:           func(o Offering) int64 { return o.ID },
}

// MergedOrderNote explains on screen why rows spanning several keys are not
// in created_at order: the API sorts investments by it but never returns it.
const MergedOrderNote = "These results come from several offering API keys. The API does not return an investment's created_at, so they are merged by id (newer investments have higher ids) where created_at was the order."

// terms parses the ordering as DRF's OrderingFilter does (invalid terms
// dropped, the default when none is left), substitutes fields that cannot be
// merged, and adds the id tie-break in the direction of the last term (the
// emulator's rule; PostgreSQL leaves ties undefined).
func (s mergeSpec[T]) terms(q url.Values) ([]orderTerm, bool) {
	var out []orderTerm
	for _, p := range strings.Split(q.Get("ordering"), ",") {
		p = strings.TrimSpace(p)
		name := strings.TrimPrefix(p, "-")
		if contains(s.fields, name) {
			out = append(out, orderTerm{name, strings.HasPrefix(p, "-")})
		}
	}
	if len(out) == 0 {
		for _, p := range s.defaultOrder {
			out = append(out, orderTerm{strings.TrimPrefix(p, "-"), strings.HasPrefix(p, "-")})
		}
	}
	substituted := false
	for i, t := range out {
		if r, ok := s.substitute[t.field]; ok {
			out[i].field, substituted = r, true
		}
	}
	hasID := false
	for _, t := range out {
		hasID = hasID || t.field == "id"
	}
	if !hasID {
		out = append(out, orderTerm{"id", out[len(out)-1].desc})
	}
	return out, substituted
}

// orderingParam writes terms back as the ordering parameter.
func orderingParam(terms []orderTerm) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = t.field
		if t.desc {
			parts[i] = "-" + t.field
		}
	}
	return strings.Join(parts, ",")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// cursorParam carries, in a merged list's next link, how far each key's
// list was consumed, so following next links costs one or two requests per
// key and page. It never reaches the API.
const cursorParam = "ic_merge"

// pageSizeOf reads page_size as DRF does: default 20, capped at 100
// (mergedList reads page: "last", or 1..n; anything else is the API's 404
// "Invalid page.").
func pageSizeOf(q url.Values) int {
	n, err := strconv.Atoi(strings.TrimSpace(q.Get("page_size")))
	switch {
	case err != nil || n <= 0:
		return 20
	case n > maxPageSize:
		return maxPageSize
	}
	return n
}

func invalidPage(path string) error {
	return &apiclient.Error{API: "issuance", Method: http.MethodGet, Path: path, Status: http.StatusNotFound, Detail: "Invalid page."}
}

// keyList is one key's sorted list, read in pages of maxPageSize.
type keyList[T any] struct {
	key   int
	count int
	pages map[int][]T // 1-based page number → rows
}

// mergedList answers a list across keys. q is the query as the caller
// gave it (page, page_size, ordering, filters); cursor is honoured only in
// the next links this function made.
func mergedList[T any](ctx context.Context, c *Client, s mergeSpec[T], q url.Values, honourCursor bool) (Page[T], error) {
	keys, err := c.keysFor(ctx, q, s.offeringKey)
	if err != nil {
		return Page[T]{}, err
	}
	path := c.api.Resolve(s.path, nil).Path
	cursorRaw := q.Get(cursorParam)
	base := url.Values{}
	for k, v := range q {
		if k != cursorParam && k != "page" && k != "page_size" {
			base[k] = v
		}
	}
	if len(keys) == 1 {
		// One key sees every offering asked for: the API's own answer.
		pq := cloneValues(base)
		if v, ok := q["page"]; ok {
			pq["page"] = v
		}
		if v, ok := q["page_size"]; ok {
			pq["page_size"] = v
		}
		return list[T](withKey(ctx, keys[0]), c, c.api.Resolve(s.path, pq))
	}
	terms, substituted := s.terms(q)
	size := pageSizeOf(q)
	fetchQ := cloneValues(base)
	fetchQ.Set("ordering", orderingParam(terms))
	fetchQ.Set("page_size", strconv.Itoa(maxPageSize))

	lists := make([]*keyList[T], len(keys))
	fetch := func(ctx context.Context, l *keyList[T], page int) error {
		if _, ok := l.pages[page]; ok {
			return nil
		}
		pq := cloneValues(fetchQ)
		if page > 1 {
			pq.Set("page", strconv.Itoa(page))
		}
		p, err := list[T](withKey(ctx, l.key), c, c.api.Resolve(s.path, pq))
		if err != nil {
			return err
		}
		l.count, l.pages[page] = p.Count, p.Results
		return nil
	}
	// The first page of every key gives the counts.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for n, k := range keys {
		lists[n] = &keyList[T]{key: k, pages: map[int][]T{}}
		g.Go(func() error { return fetch(gctx, lists[n], 1) })
	}
	if err := g.Wait(); err != nil {
		return Page[T]{}, err
	}
	total := 0
	for _, l := range lists {
		total += l.count
	}
	numPages := max(1, (total+size-1)/size)
	page := 1
	switch raw := strings.TrimSpace(q.Get("page")); {
	case raw == "":
	case raw == "last":
		page = numPages
	default:
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > numPages {
			return Page[T]{}, invalidPage(path)
		}
		page = n
	}
	// Where each key's list starts for this page: from the cursor of a next
	// link, or from the top, skipping the rows of the pages before.
	offsets := make([]int, len(lists))
	skip := (page - 1) * size
	if honourCursor && cursorRaw != "" {
		if o, ok := parseCursor(cursorRaw, len(lists)); ok {
			offsets, skip = o, 0
		}
	}
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(4)
	for n, l := range lists {
		to := min(l.count, offsets[n]+skip+size)
		g.Go(func() error {
			for p := offsets[n]/maxPageSize + 1; (p-1)*maxPageSize < to; p++ {
				if err := fetch(gctx, l, p); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Page[T]{}, err
	}
	row := func(l *keyList[T], i int) (T, bool) {
		var zero T
		if i >= l.count {
			return zero, false
		}
		rows := l.pages[i/maxPageSize+1]
		if i%maxPageSize >= len(rows) {
			return zero, false
		}
		return rows[i%maxPageSize], true
	}
	less := func(a, b T) bool {
		for _, t := range terms {
			c := s.compare(a, b, t.field)
			if t.desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return false
	}
	var out []T
	for taken := 0; taken < skip+size; taken++ {
		best := -1
		var bestRow T
		for n, l := range lists {
			r, ok := row(l, offsets[n])
			if ok && (best < 0 || less(r, bestRow)) {
				best, bestRow = n, r
			}
		}
		if best < 0 {
			break
		}
		offsets[best]++
		if taken >= skip {
			out = append(out, bestRow)
		}
	}
	res := Page[T]{Count: total, Results: out}
	if substituted {
		res.Note = MergedOrderNote
	}
	link := func(p int, cursor string) *url.URL {
		lq := cloneValues(base)
		if v, ok := q["page_size"]; ok {
			lq["page_size"] = v
		}
		if p > 1 {
			lq.Set("page", strconv.Itoa(p))
		}
		if cursor != "" {
			lq.Set(cursorParam, cursor)
		}
		return c.api.Resolve(s.path, lq)
	}
	if page < numPages {
		res.Next = link(page+1, formatCursor(offsets))
	}
	if page > 1 {
		res.Previous = link(page-1, "")
	}
	return res, nil
}

func parseCursor(raw string, n int) ([]int, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != n {
		return nil, false
	}
	out := make([]int, n)
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 {
			return nil, false
		}
		out[i] = v
	}
	return out, true
}

func formatCursor(offsets []int) string {
	parts := make([]string, len(offsets))
	for i, o := range offsets {
		parts[i] = strconv.Itoa(o)
	}
	return strings.Join(parts, ".")
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// getAcrossKeys reads one record whose offering is unknown: the key that
// found it last time first, then every key until one does not answer 404.
func getAcrossKeys[T any](ctx context.Context, c *Client, id int64, path string) (T, error) {
	var v T
	c.ring.mu.Lock()
	first, known := c.ring.invKey[id]
	c.ring.mu.Unlock()
	order := make([]int, 0, len(c.ring.keys))
	if known {
		order = append(order, first)
	}
	for i := range c.ring.keys {
		if !known || i != first {
			order = append(order, i)
		}
	}
	var err error
	for _, i := range order {
		v = *new(T)
		err = c.get(withKey(ctx, i), path, nil, &v)
		if err == nil {
			c.ring.mu.Lock()
			if len(c.ring.invKey) > 10_000 {
				c.ring.invKey = map[int64]int{}
			}
			c.ring.invKey[id] = i
			c.ring.mu.Unlock()
			return v, nil
		}
		if !errors.Is(err, apiclient.ErrNotFound) {
			return v, err
		}
	}
	return v, err
}

// Comparators of the returned fields the API can order by. Strings compare
// by bytes, as the emulator's SQLite does (a PostgreSQL collation may
// differ on mixed case); NULL sorts after every value, as in PostgreSQL.

func compareInvestments(a, b Investment, field string) int {
	switch field {
	case "id":
		return cmpInt(a.ID, b.ID)
	case "amount":
		return cmpDecimal(a.Amount, b.Amount)
	case "quantity":
		return cmpInt(a.Quantity, b.Quantity)
	case "shares_amount":
		return cmpDecimal(a.SharesAmount, b.SharesAmount)
	case "status":
		return strings.Compare(string(a.Status), string(b.Status))
	case "updated_at":
		return a.UpdatedAt.Compare(b.UpdatedAt)
	case "processed_at":
		return cmpTimePtr(a.ProcessedAt, b.ProcessedAt)
	case "offering":
		return cmpInt(a.Offering, b.Offering)
	case "reference_id":
		return strings.Compare(a.ReferenceID, b.ReferenceID)
	}
	return 0
}

func compareOfferings(a, b Offering, field string) int {
	switch field {
	case "id":
		return cmpInt(a.ID, b.ID)
	case "name":
		return strings.Compare(a.Name, b.Name)
	case "created_at":
		return a.CreatedAt.Compare(b.CreatedAt)
	case "opened_at":
		return cmpTimePtr(a.OpenedAt, b.OpenedAt)
	case "status":
		return strings.Compare(a.Status, b.Status)
	case "type":
		return strings.Compare(a.Type, b.Type)
	}
	return 0
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpDecimal(a, b Decimal) int {
	ra, oka := new(big.Rat).SetString(string(a))
	rb, okb := new(big.Rat).SetString(string(b))
	if !oka || !okb {
		return strings.Compare(string(a), string(b))
	}
	return ra.Cmp(rb)
}

func cmpTimePtr(a, b *time.Time) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return a.Compare(*b)
}

// allMerged iterates every row of a list across keys, following the merged
// next links (one or two requests per key and page).
func allMerged[T any](ctx context.Context, c *Client, s mergeSpec[T], q url.Values) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		q := cloneValues(q)
		q.Set("page_size", strconv.Itoa(maxPageSize))
		cursor := false
		for {
			p, err := mergedList(ctx, c, s, q, cursor)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range p.Results {
				if !yield(it, nil) {
					return
				}
			}
			if p.Next == nil {
				return
			}
			q, cursor = p.Next.Query(), true
		}
	}
}
