package issuance

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The differential test runs the same random queries against the emulator
// and against the reference stack itself (djangoref/: Django 3.2, DRF 3.14,
// django-filter 23.1 with the seed's filter sets, over the same fixture) and
// compares status codes, counts, ids in order, next/previous links (modulo
// scheme and host) and error bodies.
//
//	DIFF_QUERIES=2000 go test ./sandbox/issuance/ -run TestDifferentialDjango -count=1 -v
//
// Needs Debian's python3-django, python3-djangorestframework and
// python3-django-filters; skipped without them unless
// REQUIRE_EXTERNAL_TOOLS=1. DIFF_SEED picks another query sequence,
// DIFF_INVESTMENTS another fixture size.

// djangoPython finds a python3 that imports the reference stack.
func djangoPython(t testing.TB) string {
	t.Helper()
	candidates := []string{"/usr/bin/python3"}
	if p, err := exec.LookPath("python3"); err == nil {
		candidates = append(candidates, p)
	}
	for _, p := range candidates {
		out, err := exec.Command(p, "-c", "import django, rest_framework, django_filters; print(django.get_version(), rest_framework.VERSION, django_filters.__version__)").Output()
		if err == nil {
			t.Logf("reference stack: %s (Django, DRF, django-filter) via %s", strings.TrimSpace(string(out)), p)
			return p
		}
	}
	msg := "python3 with Django, DRF and django-filter not found (apt-get install python3-django python3-djangorestframework python3-django-filters)"
	if os.Getenv("REQUIRE_EXTERNAL_TOOLS") == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// startReference starts djangoref/serve.py on a free loopback port.
func startReference(t testing.TB, python, fixture string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, python, filepath.Join("djangoref", "serve.py"), fixture)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1") // no __pycache__ in the source tree
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	lines := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			select {
			case lines <- s.Text():
			default:
			}
		}
	}()
	select {
	case l := <-lines:
		base, ok := strings.CutPrefix(l, "LISTENING ")
		if !ok {
			t.Fatalf("reference server said %q", l)
		}
		return base
	case <-time.After(90 * time.Second):
		t.Fatal("reference server did not start within 90 s")
	}
	return ""
}

func TestDifferentialDjango(t *testing.T) {
	t.Parallel()
	python := djangoPython(t)
	queries := envInt("DIFF_QUERIES", 300)
	seed := int64(envInt("DIFF_SEED", 1))
	size := envInt("DIFF_INVESTMENTS", 400)

	f, err := Generate(11, size)
	if err != nil {
		t.Fatal(err)
	}
	fixture := filepath.Join(t.TempDir(), "fixture.json")
	out, err := os.Create(fixture)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Write(out); err != nil {
		t.Fatal(err)
	}
	out.Close()

	ref := startReference(t, python, fixture)
	e, err := Open(context.Background(), openDB(t), Options{Fixture: fixture, BrokenBoolIn: true})
	if err != nil {
		t.Fatal(err)
	}
	emu := httptest.NewServer(e.Handler())
	defer emu.Close()

	g := newQueryGen(f, e, seed)
	client := &http.Client{Timeout: 60 * time.Second}
	var agree, disagree, nonEmpty, paged int
	statuses := map[string]int{}
	var report []string
	start := time.Now()
	for n := 0; n < queries; n++ {
		target := g.next()
		want := fetch(t, client, ref+target, "")
		got := fetch(t, client, emu.URL+target, keyAuth)
		statuses[strconv.Itoa(want.status)]++
		if want.status == 200 {
			var p struct {
				Count int     `json:"count"`
				Next  *string `json:"next"`
			}
			if json.Unmarshal(want.body, &p) == nil && p.Count > 0 {
				nonEmpty++
				if p.Next != nil {
					paged++
				}
			}
		}
		if diff := compareResponses(want, got); diff != "" {
			disagree++
			if len(report) < 40 {
				report = append(report, fmt.Sprintf("%s\n    %s", target, diff))
			}
			continue
		}
		agree++
	}
	keys := make([]string, 0, len(statuses))
	for k := range statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var mix []string
	for _, k := range keys {
		mix = append(mix, fmt.Sprintf("%s×%d", k, statuses[k]))
	}
	t.Logf("differential: %d queries (seed %d, %d investments) in %s: %d agree, %d disagree; reference statuses %s; %d answers with results, %d with a next page",
		queries, seed, size, time.Since(start).Round(time.Millisecond), agree, disagree, strings.Join(mix, " "), nonEmpty, paged)
	for _, r := range report {
		t.Errorf("disagreement: %s", r)
	}
}

type fetched struct {
	status int
	body   []byte
}

func fetch(t testing.TB, c *http.Client, url, auth string) fetched {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fetched{status: resp.StatusCode, body: b}
}

// compareResponses returns "" when the emulator's answer matches the
// reference's, else what differs.
func compareResponses(want, got fetched) string {
	if want.status != got.status {
		return fmt.Sprintf("status: reference %d %.300s, emulator %d %.300s", want.status, want.body, got.status, got.body)
	}
	switch want.status {
	case 200:
		var w, g struct {
			Count    *int              `json:"count"`
			Next     *string           `json:"next"`
			Previous *string           `json:"previous"`
			Results  []json.RawMessage `json:"results"`
			ID       *int              `json:"id"`
		}
		if err := json.Unmarshal(want.body, &w); err != nil {
			return "reference body: " + err.Error()
		}
		if err := json.Unmarshal(got.body, &g); err != nil {
			return "emulator body: " + err.Error()
		}
		if w.ID != nil || g.ID != nil { // a detail
			if w.ID == nil || g.ID == nil || *w.ID != *g.ID {
				return fmt.Sprintf("detail: reference %s, emulator %.200s", want.body, got.body)
			}
			return ""
		}
		if *w.Count != *g.Count {
			return fmt.Sprintf("count: reference %d, emulator %d", *w.Count, *g.Count)
		}
		if wi, gi := resultIDs(w.Results), resultIDs(g.Results); !reflect.DeepEqual(wi, gi) {
			return fmt.Sprintf("ids: reference %v, emulator %v", wi, gi)
		}
		if a, b := strip(w.Next), strip(g.Next); a != b {
			return fmt.Sprintf("next: reference %s, emulator %s", a, b)
		}
		if a, b := strip(w.Previous), strip(g.Previous); a != b {
			return fmt.Sprintf("previous: reference %s, emulator %s", a, b)
		}
	case 400:
		var w, g map[string][]string
		if json.Unmarshal(want.body, &w) != nil || json.Unmarshal(got.body, &g) != nil || !reflect.DeepEqual(w, g) {
			return fmt.Sprintf("400 body: reference %s, emulator %s", want.body, got.body)
		}
	default:
		if string(want.body) != string(got.body) {
			return fmt.Sprintf("%d body: reference %.200q, emulator %.200q", want.status, want.body, got.body)
		}
	}
	return ""
}

func resultIDs(rs []json.RawMessage) []int {
	out := []int{}
	for _, r := range rs {
		var x struct {
			ID int `json:"id"`
		}
		_ = json.Unmarshal(r, &x)
		out = append(out, x.ID)
	}
	return out
}

// queryGen makes random queries: every filter parameter of the two list
// endpoints, with valid values taken from the fixture and invalid or odd
// ones (Python's parsing corners: whitespace, underscores, Unicode digits,
// exponents, other date formats, case), plus search, ordering, page and
// page_size, unknown and repeated parameters, and detail requests.
type queryGen struct {
	r   *rng
	f   *Fixture
	inv *resource
	off *resource
	v   fixtureValues
}

type fixtureValues struct {
	amounts, shares, quantities, refs, emails, entityEmails, firsts, lasts, offNames, slugs, payment, issues []string
	times                                                                                                    []int64
	investmentIDs, offeringIDs, investorIDs, userIDs, entityIDs, issuerIDs                                   []int
}

func newQueryGen(f *Fixture, e *Emulator, seed int64) *queryGen {
	g := &queryGen{r: newRNG(seed, 99), f: f, inv: e.investments, off: e.offerings}
	v := &g.v
	for _, i := range f.Investments {
		v.amounts = append(v.amounts, i.Amount)
		v.shares = append(v.shares, i.SharesAmount)
		v.quantities = append(v.quantities, strconv.FormatInt(i.Quantity, 10))
		v.refs = append(v.refs, i.ReferenceID)
		v.payment = append(v.payment, i.PaymentMethod)
		if i.ProcessingIssueStatuses != "" {
			v.issues = append(v.issues, i.ProcessingIssueStatuses)
		}
		for _, s := range []*string{&i.CreatedAt, &i.UpdatedAt, i.ProcessedAt} {
			if s != nil {
				t, _ := parseFixtureTime(*s)
				v.times = append(v.times, t)
			}
		}
		v.investmentIDs = append(v.investmentIDs, i.ID)
	}
	for _, u := range f.Users {
		v.emails = append(v.emails, u.Email)
		v.firsts = append(v.firsts, u.FirstName)
		v.lasts = append(v.lasts, u.LastName)
		v.userIDs = append(v.userIDs, u.ID)
	}
	for _, x := range f.Investors {
		v.investorIDs = append(v.investorIDs, x.ID)
		if x.Entity != nil {
			v.entityIDs = append(v.entityIDs, x.Entity.ID)
			v.entityEmails = append(v.entityEmails, x.Entity.Email)
		}
	}
	for _, o := range f.Offerings {
		v.offNames = append(v.offNames, o.Name)
		v.slugs = append(v.slugs, o.Slug)
		v.offeringIDs = append(v.offeringIDs, o.ID)
		t, _ := parseFixtureTime(o.CreatedAt)
		v.times = append(v.times, t)
	}
	for _, x := range f.Issuers {
		v.issuerIDs = append(v.issuerIDs, x.ID)
	}
	return g
}

func (g *queryGen) pick(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[g.r.intn(len(list))]
}

func (g *queryGen) pickInt(list []int) int {
	if len(list) == 0 {
		return 1
	}
	return list[g.r.intn(len(list))]
}

func (g *queryGen) chance(p float64) bool { return g.r.chance(p) }

// next returns a path with a raw query string.
func (g *queryGen) next() string {
	res, path := g.inv, "/api/investments/"
	if g.chance(0.2) {
		res, path = g.off, "/api/offerings/"
	}
	if g.chance(0.06) {
		id := strconv.Itoa(g.pickInt(g.v.investmentIDs))
		if res == g.off {
			id = strconv.Itoa(g.pickInt(g.v.offeringIDs))
		}
		switch g.r.intn(6) {
		case 0:
			id = "99999"
		case 1:
			id = "abc"
		case 2:
			id = "%20" + id
		case 3:
			id = "0" + id
		}
		path += id + "/"
	}
	var parts []string
	add := func(name, value string) {
		parts = append(parts, g.encode(name)+"="+g.encode(value))
	}
	for k := []int{0, 1, 1, 1, 2, 2, 3, 4}[g.r.intn(8)]; k > 0; k-- {
		fd := res.filters[g.r.intn(len(res.filters))]
		add(fd.name, g.value(fd, res))
	}
	if g.chance(0.3) {
		add("search", g.search(res))
	}
	if g.chance(0.4) {
		add("ordering", g.ordering(res))
	}
	if g.chance(0.3) {
		add("page", g.pick([]string{"1", "2", "2", "3", "last", "last", "0", "-1", "abc", "", "99", "２", " 2", "2.0", "+2", "1_0", "Last"}))
	}
	if g.chance(0.45) {
		add("page_size", g.pick([]string{"1", "2", "3", "5", "7", "20", "0", "-1", "abc", "", "100", "101", "1000", " 3", "３", "1e1", "2_0"}))
	}
	if g.chance(0.05) {
		add(g.pick([]string{"zzz", "alpha", "Status", "format"}), g.pick([]string{"1", "", "json", "x y"}))
	}
	if len(parts) > 1 && g.chance(0.08) { // a repeated parameter: the last one wins
		parts = append(parts, parts[g.r.intn(len(parts))])
	}
	g.r.intn(1)
	for i := range parts { // shuffle
		j := g.r.intn(i + 1)
		parts[i], parts[j] = parts[j], parts[i]
	}
	if len(parts) == 0 {
		return path
	}
	return path + "?" + strings.Join(parts, "&")
}

// encode percent-encodes a query component, sometimes leaving the
// characters browsers leave alone (",", ":", "/") and spaces as %20.
func (g *queryGen) encode(s string) string {
	if g.chance(0.6) {
		return strings.ReplaceAll(urlQueryEscape(s), "%2C", ",")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_.~,:/@!$'()*;", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func urlQueryEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

var oddNumbers = []string{"abc", "", " ", "1e2", "1E+3", "1.5", "-0", "+3", " 4 ", "٣", "１２", "1_0", "_1", "1__0",
	"NaN", "inf", "-Infinity", "0x10", "1e", "--1", "1.2.3", ".5", "5.", "1,5", "0.0001", "1e-2", "12345678901234567",
	"1e400", "-1e400", "\x00", "1\x00"}

var oddTexts = []string{"", " ", "  padded  ", "\x00", "a\x00b", "NULL", "%", "_", "O'Brien", "<script>", "ZOË", "é", "\t"}

var dateForms = []string{"2006-01-02", "1/2/2006", "01/02/2006", "01/02/06", "Jan 2 2006", "Jan 2, 2006", "2 Jan 2006",
	"2 Jan, 2006", "January 2 2006", "January 2, 2006", "2 January 2006", "2 January, 2006"}

var dateTimeForms = []string{"2006-01-02T15:04:05Z", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04:05.000000Z",
	"2006-01-02T15:04:05-07:00", "2006-01-02T15:04:05+0100", "2006-1-2T3:4:5", "2006-01-02T15:04:05.123456789Z",
	"2006-01-02T15:04:05,5"}

// value draws a value for a filter: usually plausible, often odd.
func (g *queryGen) value(fd filterDef, res *resource) string {
	if fd.lookup == lkIn {
		n := 1 + g.r.intn(3)
		items := make([]string, n)
		single := fd
		single.lookup = lkExact
		for i := range items {
			items[i] = g.single(single, res)
			if g.chance(0.1) {
				items[i] = ""
			}
		}
		return strings.Join(items, ",")
	}
	return g.single(fd, res)
}

func (g *queryGen) single(fd filterDef, res *resource) string {
	f := fd.f
	odd := g.chance(0.25)
	switch {
	case f.vt == vtBool || fd.lookup == lkIsNull:
		return g.pick([]string{"true", "false", "True", "FALSE", "1", "0", "yes", "maybe", "", " true", "true,false", "0,1"})
	case f.vt == vtDecimal:
		if odd {
			return g.pick(oddNumbers)
		}
		v := g.pick(g.v.amounts)
		if strings.Contains(fd.name, "shares") {
			v = g.pick(g.v.shares)
		}
		switch g.r.intn(6) {
		case 0:
			v = strings.TrimRight(strings.TrimRight(v, "0"), ".")
		case 1:
			v += "1"
		case 2:
			v = v + "e0"
		}
		return v
	case f.vt == vtInteger:
		if odd {
			// Not ±1e400: int() of it overflows SQLite's integers (a 500 on the
			// SQLite reference) where PostgreSQL, which the emulator follows,
			// matches no row.
			v := g.pick(oddNumbers)
			if strings.Contains(v, "e400") {
				v = "1e60"
			}
			return v
		}
		if strings.HasPrefix(fd.name, "quantity") {
			return g.pick(g.v.quantities)
		}
		ids := g.v.investmentIDs
		if res == g.off {
			ids = g.v.offeringIDs
		}
		return strconv.Itoa(g.pickInt(ids))
	case f.vt == vtModel:
		var ids []int
		switch f.fkTable {
		case "iss_offerings":
			ids = g.v.offeringIDs
		case "iss_investors":
			ids = g.v.investorIDs
		case "iss_users":
			ids = g.v.userIDs
		case "iss_entities":
			ids = g.v.entityIDs
		case "iss_issuers":
			ids = g.v.issuerIDs
		}
		if odd {
			return g.pick([]string{"99999", "abc", "1.0", " 2", "+1", "", "0", "-1", "1e1", "٢", "1_0", "9223372036854775807"})
		}
		return strconv.Itoa(g.pickInt(ids))
	case f.vt == vtDateTime:
		t := time.UnixMicro(g.v.times[g.r.intn(len(g.v.times))]).UTC()
		if g.chance(0.3) {
			t = t.Add(time.Duration(g.r.intn(48)-24) * time.Hour)
		}
		if fd.lookup == lkDateGte || fd.lookup == lkDateLte {
			if odd {
				return g.pick([]string{"20240501", "2024-02-30", "2024-13-01", "2024-01-01T00:00:00Z", "Sept 1 2024",
					"sep 1 2024", "SEP  1  2024", "2024-1-1", "٢٠٢٤-01-03", "1/1/2024x", "", "abc", "2024/01/01"})
			}
			return t.Format(g.pick(dateForms))
		}
		if odd {
			return g.pick([]string{"notadate", "2024-01-03", "2024-13-01T00:00", "2024-02-30T00:00", "2024-01-01T24:00",
				"2024-01-01T10:00+25:00", "2024-01-01T10:00+01", "2024-01-01T10:00:00.1234567890123Z", "", " ",
				"2024-01-01T10:00Zjunk", "2024-01-01 10:00:00 Z", "٢٠٢٤-01-03T10:00"})
		}
		s := t.Format(g.pick(dateTimeForms))
		if fd.lookup == lkExact && g.chance(0.5) {
			s = formatISO(t.UnixMicro(), g.chance(0.5)) // an exact stored instant
		}
		return s
	case f.vt == vtChoice && fd.lookup != lkContains:
		if odd {
			return g.pick([]string{"bogus", "Started", " started", "", "OPENED", "reg a", "\x00"})
		}
		return g.pick(f.choices)
	default: // text, and __contains of choice fields
		if odd {
			return g.pick(oddTexts)
		}
		v := g.textFor(fd.name, res, f)
		if fd.lookup == lkContains || fd.lookup == lkStartsWith {
			rs := []rune(v)
			if len(rs) > 2 {
				a := g.r.intn(len(rs) - 1)
				if fd.lookup == lkStartsWith {
					a = 0
				}
				v = string(rs[a : a+1+g.r.intn(len(rs)-a)])
			}
		}
		switch g.r.intn(8) {
		case 0:
			v = strings.ToUpper(v)
		case 1:
			v = " " + v + " "
		}
		return v
	}
}

func (g *queryGen) textFor(name string, res *resource, f field) string {
	switch {
	case strings.Contains(name, "entity__email"):
		return g.pick(g.v.entityEmails)
	case strings.Contains(name, "email"):
		return g.pick(g.v.emails)
	case strings.Contains(name, "first_name"):
		return g.pick(g.v.firsts)
	case strings.Contains(name, "last_name"):
		return g.pick(g.v.lasts)
	case strings.Contains(name, "slug"):
		return g.pick(g.v.slugs)
	case strings.Contains(name, "name"):
		return g.pick(g.v.offNames)
	case strings.HasPrefix(name, "reference_id"):
		return g.pick(g.v.refs)
	case strings.HasPrefix(name, "payment_method"):
		return g.pick(g.v.payment)
	case strings.HasPrefix(name, "processing_issue_statuses"):
		return g.pick(g.v.issues)
	case len(f.choices) > 0:
		return g.pick(f.choices)
	}
	return "x"
}

func (g *queryGen) search(res *resource) string {
	var pool []string
	if res == g.off {
		pool = append(pool, g.v.offNames...)
		pool = append(pool, g.v.slugs...)
	} else {
		pool = append(append(append(append(pool, g.v.refs...), g.v.emails...), g.v.firsts...), g.v.lasts...)
		pool = append(pool, g.v.offNames...)
	}
	var terms []string
	for k := 1 + g.r.intn(3); k > 0; k-- {
		s := g.pick(pool)
		rs := []rune(s)
		if len(rs) > 3 && g.chance(0.7) {
			a := g.r.intn(len(rs) - 2)
			s = string(rs[a : a+2+g.r.intn(len(rs)-a-1)])
		}
		switch g.r.intn(5) {
		case 0:
			s = strings.ToUpper(s)
		case 1:
			s = strings.ToLower(s)
		}
		if g.chance(0.1) {
			s = g.pick([]string{`"quoted term"`, "\x00", ",", "a,b", "%", "_", "  ", "zzz-no-match", "ZOË", "o'brien"})
		}
		terms = append(terms, s)
	}
	return strings.Join(terms, g.pick([]string{" ", ",", "  ", ", ", "\t"}))
}

func (g *queryGen) ordering(res *resource) string {
	names := make([]string, 0, len(res.ordering))
	for n := range res.ordering {
		names = append(names, n)
	}
	sort.Strings(names)
	var terms []string
	for k := 1 + g.r.intn(3); k > 0; k-- {
		t := g.pick(names)
		if g.chance(0.5) {
			t = "-" + t
		}
		if g.chance(0.15) {
			t = g.pick([]string{"bogus", "--amount", "+amount", " -id ", "pk", "investor", "-", "", "name"})
		}
		terms = append(terms, t)
	}
	return strings.Join(terms, ",")
}
