package issuance

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// scanIDs is the oracle: the search as a scan of search_u (the form
// before narrowing), in the default order.
func scanIDs(t *testing.T, e *Emulator, search string) []int {
	t.Helper()
	q, _ := newQueryParams("search=" + url.QueryEscape(search))
	cq, verrs, err := e.investments.compileList(context.Background(), q, e, e.filterOpts)
	if err != nil || verrs != nil {
		t.Fatalf("%q: %v %v", search, err, verrs)
	}
	rows, err := e.db.Query("SELECT i.id FROM iss_investments i"+cq.where+" ORDER BY "+cq.order, cq.args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ids := []int{}
	for rows.Next() {
		var id int
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// TestSearchIndexMatchesScan: every search narrowed by the trigram index
// gives the rows the scan of search_u gives (count and first page), for
// substrings of every searched field (hostile names included), several
// terms, short terms, no match, and after a user's e-mail changed.
func TestSearchIndexMatchesScan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e, err := Open(ctx, openDB(t), Options{Seed: 7, Investments: 3000})
	if err != nil {
		t.Fatal(err)
	}
	h := e.Handler()
	// The user with the most investments gets a new e-mail: the index
	// still lists the old one, the user is checked through iss_search_dirty.
	var userID int
	var oldEmail string
	if err := e.db.QueryRow(`SELECT u.id, u.email FROM iss_investments i JOIN iss_investors v ON v.id = i.investor_id
		JOIN iss_users u ON u.id = v.user_id GROUP BY u.id ORDER BY count(*) DESC, u.id LIMIT 1`).Scan(&userID, &oldEmail); err != nil {
		t.Fatal(err)
	}
	r := do(t, h, "PATCH", fmt.Sprintf("/api/users/%d/", userID), tokenAuth, strings.NewReader(`{"email":"Zebra.Quux@Example.org"}`), "application/json")
	if r.status != 200 {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	terms := []string{"zebra", "ZEBRA.QUUX", oldEmail, oldEmail[:5], "quux example", "INV-0000", "INV-0001234", "00012",
		"no such text", "ab", "a", "é", "🚀 R", "%_w", "o'b", "straße", "σίσυφος", "smith example.com", "Ｆｕｌ",
		"a b c d e f g h i", "JO", "&amp;", "<b>", "iv"}
	// Substrings of every searched field of some rows.
	rows, err := e.db.Query(`SELECT search_u FROM iss_investments WHERE id % 97 = 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		for k, f := range strings.Split(s, searchSep) {
			runes := []rune(f)
			if len(runes) < 3 {
				continue
			}
			start := (k * 7) % (len(runes) - 2)
			end := min(len(runes), start+3+k%5)
			terms = append(terms, strings.ToLower(string(runes[start:end])))
		}
	}
	rows.Close()
	narrowed := 0
	for _, term := range terms {
		want := scanIDs(t, e, term)
		p := decodePage(t, get(t, h, "/api/investments/?page_size=100&search="+url.QueryEscape(term)))
		got := p.ids(t)
		if p.Count != len(want) || !reflect.DeepEqual(got, want[:min(100, len(want))]) {
			t.Errorf("search %q: count %d ids %v, want %d %v", term, p.Count, got, len(want), want[:min(100, len(want))])
		}
		if _, ok, err := e.matchTerm(ctx, pgUpper(term)); err != nil {
			t.Fatal(err)
		} else if ok {
			narrowed++
		}
	}
	if narrowed < len(terms)/2 {
		t.Errorf("only %d of %d terms were narrowed by the index", narrowed, len(terms))
	}
	for _, term := range []string{"zebra", oldEmail} {
		if utf8.RuneCountInString(term) >= 3 {
			if _, ok, _ := e.matchTerm(ctx, pgUpper(term)); !ok {
				t.Errorf("%q was not narrowed", term)
			}
		}
	}
	if n := len(scanIDs(t, e, "zebra")); n == 0 {
		t.Error("the changed e-mail finds nothing")
	}
}

// TestSearchIndexRebuiltAtOpen: a data set kept from an earlier start
// without the index (or with an older one) gets it at Open.
func TestSearchIndexRebuiltAtOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := openDB(t)
	if _, err := Open(ctx, d, Options{Seed: 2, Investments: 500}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Exec(`DELETE FROM iss_search_grams; DELETE FROM iss_meta WHERE key = 'search_index'`); err != nil {
		t.Fatal(err)
	}
	e, err := Open(ctx, d, Options{Seed: 2, Investments: 500})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.QueryRow(`SELECT count(*) FROM iss_search_grams`).Scan(&n); err != nil || n == 0 {
		t.Fatalf("%d trigrams after Open (%v)", n, err)
	}
	var last string
	if err := d.QueryRow(`SELECT last_name FROM iss_users WHERE length(last_name) >= 4 ORDER BY id LIMIT 1`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	p := decodePage(t, get(t, e.Handler(), "/api/investments/?search="+url.QueryEscape(last)))
	if want := scanIDs(t, e, last); p.Count != len(want) || p.Count == 0 {
		t.Fatalf("search %q after the rebuild: %d, want %d", last, p.Count, len(want))
	}
}

func TestGrams(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", []string{}},
		{"AB", []string{}},
		{"ABC", []string{"ABC"}},
		{"ABCAB", []string{"ABC", "BCA", "CAB"}},
		{"ÆØÅX", []string{"ÆØÅ", "ØÅX"}},
		{"A🚀B", []string{"A🚀B"}},
	} {
		if got := termGrams(c.in); !reflect.DeepEqual(got, c.want) {
			t.Errorf("termGrams(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	ids := []int64{1, 2, 300, 70000, 70001, 1 << 40}
	got, err := decodeIDs(encodeIDs(ids))
	if err != nil || !reflect.DeepEqual(got, ids) {
		t.Fatalf("decode(encode(%v)) = %v, %v", ids, got, err)
	}
	if _, err := decodeIDs([]byte{0x80}); err == nil {
		t.Fatal("a truncated varint decodes")
	}
}
