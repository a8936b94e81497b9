package issuance

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"unicode/utf8"
)

// The investments' search (DRF's icontains over reference_id, offering
// name, user e-mail, first and last name) scans search_u of every row
// unless something narrows it. A term of three or more characters is
// narrowed by a trigram index built in Go (no FTS5: that needs a build
// tag, which would recompile the cgo SQLite): iss_search_grams holds, per
// kind and trigram of the upper-cased text, the sorted ids whose text has
// it ('r': investments by reference_id, 'u': users by e-mail, first and
// last name) as delta varints. Offerings are few and are matched by a scan.
//
// A term found in a field has every trigram of that field, so the ids
// having all of the term's trigrams are a superset of the matches; each
// candidate is then checked exactly (instr over the same upper-cased
// field), and the term becomes "investment's reference, offering or
// investor among the exact matches", the same rows search_u would give
// (search_u is those fields joined by U+001F, which no term contains).
// Users written through the API after the index was built are kept in
// iss_search_dirty and always checked.

// searchIndexVersion is recorded in iss_meta; another value (or none)
// rebuilds the index at Open.
const searchIndexVersion = "1"

// Bounds past which a term is not narrowed but scanned: a term matching
// that many rows costs about as much either way.
const (
	maxGramCandidates = 100_000 // ids of one kind after intersecting the trigrams
	maxPrefilterIDs   = 60_000  // investors or investments a narrowed term lists
)

// grams returns the distinct trigrams (of characters) of s.
func grams(s string, into map[string]struct{}) {
	if utf8.RuneCountInString(s) < 3 {
		return
	}
	var starts [3]int
	n := 0
	for i := range s {
		if n >= 3 {
			into[s[starts[n%3]:i]] = struct{}{}
		}
		starts[n%3] = i
		n++
	}
	into[s[starts[n%3]:]] = struct{}{}
}

// termGrams returns the trigrams of a term, nil when it has fewer than
// three characters.
func termGrams(t string) []string {
	set := map[string]struct{}{}
	grams(t, set)
	out := make([]string, 0, len(set))
	for g := range set {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// postings collects the ids per trigram of one kind; ids arrive in
// ascending order.
type postings map[string][]int64

func (p postings) add(id int64, texts ...string) {
	set := map[string]struct{}{}
	for _, t := range texts {
		grams(t, set)
	}
	for g := range set {
		p[g] = append(p[g], id)
	}
}

func encodeIDs(ids []int64) []byte {
	b := make([]byte, 0, len(ids)*2)
	prev := int64(0)
	for _, id := range ids {
		b = binary.AppendUvarint(b, uint64(id-prev))
		prev = id
	}
	return b
}

func decodeIDs(b []byte) ([]int64, error) {
	out := make([]int64, 0, len(b))
	prev := int64(0)
	for len(b) > 0 {
		d, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("corrupt trigram posting list")
		}
		prev += int64(d)
		out = append(out, prev)
		b = b[n:]
	}
	return out, nil
}

// buildSearchIndex rebuilds iss_search_grams from the tables.
func buildSearchIndex(ctx context.Context, d *sql.DB) error {
	refs, users := postings{}, postings{}
	if err := eachRow(ctx, d, `SELECT id, reference_id FROM iss_investments ORDER BY id`, func(rows *sql.Rows) error {
		var id int64
		var ref string
		if err := rows.Scan(&id, &ref); err != nil {
			return err
		}
		refs.add(id, pgUpper(ref))
		return nil
	}); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	if err := eachRow(ctx, d, `SELECT id, email_u, first_name_u, last_name_u FROM iss_users ORDER BY id`, func(rows *sql.Rows) error {
		var id int64
		var email, first, last string
		if err := rows.Scan(&id, &email, &first, &last); err != nil {
			return err
		}
		users.add(id, email, first, last)
		return nil
	}); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range []string{`DELETE FROM iss_search_grams`, `DELETE FROM iss_search_dirty`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("search index: %w", err)
		}
	}
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO iss_search_grams (kind, gram, n, ids) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	defer stmt.Close()
	for kind, p := range map[string]postings{"r": refs, "u": users} {
		for g, ids := range p {
			if _, err := stmt.ExecContext(ctx, kind, g, len(ids), encodeIDs(ids)); err != nil {
				return fmt.Errorf("search index: %w", err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO iss_meta (key, value) VALUES ('search_index', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, searchIndexVersion); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	return tx.Commit()
}

// ensureSearchIndex builds the index when the data set has none (an older
// database, or a load that stopped before it).
func ensureSearchIndex(ctx context.Context, d *sql.DB) error {
	var v string
	err := d.QueryRowContext(ctx, `SELECT value FROM iss_meta WHERE key = 'search_index'`).Scan(&v)
	if err == nil && v == searchIndexVersion {
		return nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("search index: %w", err)
	}
	return buildSearchIndex(ctx, d)
}

// markSearchDirty records that a user's searched text changed after the
// index was built (inside the writer's transaction).
func markSearchDirty(ctx context.Context, tx *sql.Tx, userID int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO iss_search_dirty (user_id) VALUES (?)`, userID); err != nil {
		return fmt.Errorf("search index: %w", err)
	}
	return nil
}

func eachRow(ctx context.Context, d *sql.DB, q string, f func(*sql.Rows) error, args ...any) error {
	rows, err := d.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := f(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// gramCandidates returns the ids of a kind having every trigram of the
// term (ok=false: more than maxGramCandidates, not worth narrowing).
// Lists are intersected from the shortest; once few candidates remain the
// exact check is cheaper than decoding the long lists.
func gramCandidates(ctx context.Context, d *sql.DB, kind string, gs []string) (ids []int64, ok bool, err error) {
	type list struct {
		gram string
		n    int
	}
	var lists []list
	if err := eachRow(ctx, d, `SELECT gram, n FROM iss_search_grams WHERE kind = ? AND gram IN (SELECT value FROM json_each(?))`,
		func(rows *sql.Rows) error {
			var l list
			err := rows.Scan(&l.gram, &l.n)
			lists = append(lists, l)
			return err
		}, kind, jsonArray(gs)); err != nil {
		return nil, false, fmt.Errorf("search index: %w", err)
	}
	if len(lists) < len(gs) {
		return nil, true, nil // a trigram no text has: no candidate
	}
	slices.SortFunc(lists, func(a, b list) int { return a.n - b.n })
	if lists[0].n > maxGramCandidates {
		return nil, false, nil
	}
	for i, l := range lists {
		if i > 0 && len(ids) <= 256 {
			break
		}
		var b []byte
		if err := d.QueryRowContext(ctx, `SELECT ids FROM iss_search_grams WHERE kind = ? AND gram = ?`, kind, l.gram).Scan(&b); err != nil {
			return nil, false, fmt.Errorf("search index: %w", err)
		}
		next, err := decodeIDs(b)
		if err != nil {
			return nil, false, err
		}
		if i == 0 {
			ids = next
		} else {
			ids = intersectSorted(ids, next)
		}
		if len(ids) == 0 {
			return nil, true, nil
		}
	}
	return ids, true, nil
}

func intersectSorted(a, b []int64) []int64 {
	out := a[:0]
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// termMatch is a narrowed term: the exact investments matching it by
// reference, offerings by name, and investors by their user.
type termMatch struct {
	investments, offerings, investors []int64
}

// matchTerm narrows one upper-cased term (ok=false: not narrowed, scan).
func (e *Emulator) matchTerm(ctx context.Context, term string) (m termMatch, ok bool, err error) {
	gs := termGrams(term)
	if len(gs) == 0 {
		return m, false, nil
	}
	key := cacheKey("term", term, nil)
	if v, hit := e.cache.get(key); hit && !e.noCache {
		c := v.(termCache)
		return c.m, c.ok, nil
	}
	m, ok, err = e.resolveTerm(ctx, term, gs)
	if err != nil {
		return m, false, err
	}
	e.cache.put(key, termCache{m, ok})
	return m, ok, nil
}

type termCache struct {
	m  termMatch
	ok bool
}

func (e *Emulator) resolveTerm(ctx context.Context, term string, gs []string) (m termMatch, ok bool, err error) {
	refs, ok, err := gramCandidates(ctx, e.db, "r", gs)
	if err != nil || !ok {
		return m, false, err
	}
	users, ok, err := gramCandidates(ctx, e.db, "u", gs)
	if err != nil || !ok {
		return m, false, err
	}
	if err := eachRow(ctx, e.db, `SELECT user_id FROM iss_search_dirty`, func(rows *sql.Rows) error {
		var id int64
		err := rows.Scan(&id)
		users = append(users, id)
		return err
	}); err != nil {
		return m, false, fmt.Errorf("search index: %w", err)
	}
	scanIDs := func(q string, args ...any) ([]int64, error) {
		var out []int64
		err := eachRow(ctx, e.db, q, func(rows *sql.Rows) error {
			var id int64
			err := rows.Scan(&id)
			out = append(out, id)
			return err
		}, args...)
		if err != nil {
			return nil, fmt.Errorf("search index: %w", err)
		}
		return out, nil
	}
	if len(refs) > 0 {
		// The reference's upper-cased form is search_u up to its first U+001F.
		if m.investments, err = scanIDs(`SELECT id FROM iss_investments WHERE id IN (SELECT value FROM json_each(?))
			AND instr(substr(search_u, 1, instr(search_u, char(31)) - 1), ?) > 0 ORDER BY id`, jsonArray(refs), term); err != nil {
			return m, false, err
		}
	}
	if m.offerings, err = scanIDs(`SELECT id FROM iss_offerings WHERE instr(name_u, ?) > 0 ORDER BY id`, term); err != nil {
		return m, false, err
	}
	if len(users) > 0 {
		us, err := e.userSearch.get(ctx, e.db, e.cache.gen.Load())
		if err != nil {
			return m, false, err
		}
		for _, id := range users {
			// The text holds e-mail, first and last name joined by U+001F,
			// which no term contains: a match is a match in one field.
			if strings.Contains(us.texts[id], term) {
				m.investors = append(m.investors, us.investors[id]...)
			}
		}
		slices.Sort(m.investors)
		m.investors = slices.Compact(m.investors)
	}
	if len(m.investments) > maxPrefilterIDs || len(m.investors) > maxPrefilterIDs {
		return m, false, nil
	}
	return m, true, nil
}

// narrowSearch replaces the investments' search terms that the index can
// narrow by their exact matches (see the top of this file). Terms it cannot
// narrow keep their scan over search_u.
func (e *Emulator) narrowSearch(ctx context.Context, cq *compiled) error {
	s := &cq.search
	if len(s.terms) == 0 {
		return nil
	}
	var in []string
	var args []any
	for k, t := range s.terms {
		m, ok, err := e.matchTerm(ctx, t)
		if err != nil {
			return err
		}
		if !ok {
			in = append(in, s.in[k])
			args = append(args, t)
			continue
		}
		var ors []string
		for _, p := range []struct {
			expr string
			ids  []int64
		}{{"i.id", m.investments}, {"i.offering_id", m.offerings}, {"i.investor_id", m.investors}} {
			switch len(p.ids) {
			case 0:
			case 1:
				ors = append(ors, p.expr+" = ?")
				args = append(args, p.ids[0])
			default:
				ors = append(ors, p.expr+" IN (SELECT value FROM json_each(?))")
				args = append(args, jsonArray(p.ids))
			}
		}
		if len(ors) == 0 {
			in = append(in, "0")
			continue
		}
		in = append(in, "("+strings.Join(ors, " OR ")+")")
	}
	s.in, s.correlated, s.args = in, in, args
	cq.use(false)
	return nil
}

// userSearchCache holds every user's searched text (upper-cased e-mail,
// first and last name joined by U+001F) and investors, read once and again
// after a user write (the result cache's generation changes): checking the
// index's candidates here is much cheaper than looking each up in SQLite.
type userSearchCache struct {
	mu  sync.Mutex
	gen int64
	u   *userSearchTable
}

type userSearchTable struct {
	texts     map[int64]string
	investors map[int64][]int64
}

func (c *userSearchCache) get(ctx context.Context, d *sql.DB, gen int64) (*userSearchTable, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.u != nil && c.gen == gen {
		return c.u, nil
	}
	u := &userSearchTable{texts: map[int64]string{}, investors: map[int64][]int64{}}
	err := eachRow(ctx, d, `SELECT id, email_u, first_name_u, last_name_u FROM iss_users`, func(rows *sql.Rows) error {
		var id int64
		var email, first, last string
		err := rows.Scan(&id, &email, &first, &last)
		u.texts[id] = email + searchSep + first + searchSep + last
		return err
	})
	if err == nil {
		err = eachRow(ctx, d, `SELECT id, user_id FROM iss_investors WHERE user_id IS NOT NULL ORDER BY id`, func(rows *sql.Rows) error {
			var id, user int64
			err := rows.Scan(&id, &user)
			u.investors[user] = append(u.investors[user], id)
			return err
		})
	}
	if err != nil {
		return nil, fmt.Errorf("search index: users: %w", err)
	}
	c.u, c.gen = u, gen
	return u, nil
}
