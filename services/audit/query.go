package audit

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Filter selects log rows. The zero Filter selects everything.
type Filter struct {
	API          string // issuance, cashlink
	Kind         string // call, event
	Method       string
	PathContains string
	StatusClass  string // 2xx, 3xx, 4xx, 5xx, none (no answer)
	IdemKey      string
	Actor        string
	Job          string
	Row          string
	From, To     time.Time // [From, To)
	ErrorsOnly   bool
}

// StatusClasses lists the accepted StatusClass values.
var StatusClasses = []string{"2xx", "3xx", "4xx", "5xx", "none"}

// FilterFromQuery reads a filter from URL parameters (the log page's URL is
// its state). Problems are returned per parameter; the rest still applies.
func FilterFromQuery(q url.Values) (Filter, map[string]string) {
	f := Filter{
		API: q.Get("api"), Kind: q.Get("kind"), Method: strings.ToUpper(q.Get("method")),
		PathContains: q.Get("path"), StatusClass: q.Get("status"), IdemKey: q.Get("key"),
		Actor: q.Get("actor"), Job: q.Get("job"), Row: q.Get("row"), ErrorsOnly: q.Get("errors") == "1" || q.Get("errors") == "true",
	}
	problems := map[string]string{}
	switch f.API {
	case "", "issuance", "cashlink":
	default:
		problems["api"] = "Choose issuance or cashlink."
		f.API = ""
	}
	switch f.Kind {
	case "", KindCall, KindEvent:
	default:
		problems["kind"] = "Choose call or event."
		f.Kind = ""
	}
	if f.StatusClass != "" && !contains(StatusClasses, f.StatusClass) {
		problems["status"] = "Choose 2xx, 3xx, 4xx, 5xx or none."
		f.StatusClass = ""
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		t, err := parseTime(v)
		if err != nil {
			problems[p.name] = "Enter a date (2026-11-21) or a date and time in UTC (2026-11-21T14:30)."
			continue
		}
		*p.dst = t
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.To.After(f.From) {
		problems["to"] = "Must be after From."
		f.To = time.Time{}
	}
	return f, problems
}

func parseTime(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("not a time: %q", v)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Query returns the filter as URL parameters (the inverse of FilterFromQuery).
func (f Filter) Query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("api", f.API)
	set("kind", f.Kind)
	set("method", f.Method)
	set("path", f.PathContains)
	set("status", f.StatusClass)
	set("key", f.IdemKey)
	set("actor", f.Actor)
	set("job", f.Job)
	set("row", f.Row)
	if !f.From.IsZero() {
		q.Set("from", f.From.UTC().Format("2006-01-02T15:04"))
	}
	if !f.To.IsZero() {
		q.Set("to", f.To.UTC().Format("2006-01-02T15:04"))
	}
	if f.ErrorsOnly {
		q.Set("errors", "1")
	}
	return q
}

func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, a ...any) {
		conds = append(conds, cond)
		args = append(args, a...)
	}
	if f.API != "" {
		add("api = ?", f.API)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.Method != "" {
		add("method = ?", f.Method)
	}
	if f.PathContains != "" {
		add("instr(path, ?) > 0", f.PathContains)
	}
	// status / 100 matches the expression index audit_class: an equality,
	// so a keyset page is one index walk in id order.
	switch f.StatusClass {
	case "none":
		add("status / 100 = 0 AND kind = 'call'")
	case "2xx", "3xx", "4xx", "5xx":
		add("status / 100 = ?", int(f.StatusClass[0]-'0'))
	}
	// The repeated "<> ''" lets SQLite use the partial indexes (it cannot
	// prove that a bound parameter is not empty).
	if f.IdemKey != "" {
		add("idem_key = ? AND idem_key <> ''", f.IdemKey)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Job != "" {
		add("job = ? AND job <> ''", f.Job)
	}
	if f.Row != "" {
		add("row_ref = ?", f.Row)
	}
	// at never decreases with id (Append keeps it monotonic), so a time
	// range is an id range found with two index lookups.
	const none = "(SELECT coalesce(max(id), 0) + 1 FROM audit_log)"
	const first = "(SELECT id FROM audit_log INDEXED BY audit_at WHERE at >= ? ORDER BY at LIMIT 1)"
	if !f.From.IsZero() {
		add("id >= coalesce("+first+", "+none+")", f.From.UnixMilli())
	}
	if !f.To.IsZero() {
		add("id < coalesce("+first+", "+none+")", f.To.UnixMilli())
	}
	if f.ErrorsOnly {
		add("((kind = 'call' AND (status = 0 OR status >= 400)) OR error <> '')")
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}

// listCols leaves out the bodies and hashes: a page needs none of them.
const listCols = `id, at, kind, api, method, path, status, duration_ms, attempt, idem_key, replayed,
	upstream_request_id, error, actor, job, row_ref, event, detail`

// Page is one page of the log, newest first.
type Page struct {
	Entries []Entry
	Next    int64 // pass as before for the next (older) page; 0 = no more
}

// List returns up to limit rows matching f with id < before (0 = newest),
// newest first: keyset pagination, never OFFSET.
func (s *Store) List(ctx context.Context, f Filter, before int64, limit int) (Page, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	if err := s.flushForRead(ctx); err != nil {
		return Page{}, err
	}
	where, args := f.where()
	if before > 0 {
		where += " AND id < ?"
		args = append(args, before)
	}
	args = append(args, limit+1)
	rows, err := s.db.QueryContext(ctx, `SELECT `+listCols+` FROM audit_log WHERE `+where+` ORDER BY id DESC LIMIT ?`, args...)
	if err != nil {
		return Page{}, fmt.Errorf("audit list: %w", err)
	}
	defer rows.Close()
	var p Page
	for rows.Next() {
		var e Entry
		var at, dur int64
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.API, &e.Method, &e.Path, &e.Status, &dur, &e.Attempt, &e.IdempotencyKey,
			&e.Replayed, &e.UpstreamRequestID, &e.Error, &e.Actor, &e.Job, &e.Row, &e.Event, &e.Detail); err != nil {
			return Page{}, fmt.Errorf("audit list: %w", err)
		}
		e.At, e.Duration = time.UnixMilli(at).UTC(), time.Duration(dur)*time.Millisecond
		p.Entries = append(p.Entries, e)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("audit list: %w", err)
	}
	if len(p.Entries) > limit {
		p.Entries = p.Entries[:limit]
		p.Next = p.Entries[limit-1].ID
	}
	return p, nil
}

// Attempts returns every row made with an idempotency key, oldest first.
func (s *Store) Attempts(ctx context.Context, key string) ([]Entry, error) {
	if key == "" {
		return nil, nil
	}
	if err := s.flushForRead(ctx); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+entryCols+` FROM audit_log WHERE idem_key = ? AND idem_key <> '' ORDER BY id`, key)
	if err != nil {
		return nil, fmt.Errorf("audit attempts: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Each streams every row matching f, newest first, to fn (constant memory:
// for exports). It stops at fn's first error.
func (s *Store) Each(ctx context.Context, f Filter, fn func(Entry) error) error {
	if err := s.flushForRead(ctx); err != nil {
		return err
	}
	where, args := f.where()
	rows, err := s.db.QueryContext(ctx, `SELECT `+entryCols+` FROM audit_log WHERE `+where+` ORDER BY id DESC`, args...)
	if err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return fmt.Errorf("audit export: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// FormatStatus shows a call's status, or what happened instead.
func (e Entry) FormatStatus() string {
	switch {
	case e.Kind == KindEvent:
		return "event"
	case e.Status == 0:
		return "no answer"
	}
	return strconv.Itoa(e.Status)
}
