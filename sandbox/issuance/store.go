package issuance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"issuerconsole/db"
)

//go:embed schema.sql
var schemaSQL string

// DefaultAPIKey is the sandbox's Issuance API key:
// "Authorization: Api-Key sandbox-issuance-key".
const DefaultAPIKey = "sandbox-issuance-key"

// DefaultFirebaseToken is accepted where the API documents a Firebase ID
// token: "Authorization: Bearer sandbox-firebase-token".
const DefaultFirebaseToken = "sandbox-firebase-token"

// DefaultInvestments is the generator's default size.
const DefaultInvestments = 5000

// Options configure the emulator.
type Options struct {
	Seed                  int64  // generator seed (flag -sandbox-seed); 0 means 1, the flag's default
	Investments           int    // generator size (flag -sandbox-investments); 0 means DefaultInvestments
	Fixture               string // path of a fixture file; when set it replaces the generator
	APIKey, FirebaseToken string // "" = DefaultAPIKey, DefaultFirebaseToken
	// VerifyToken checks a Bearer token other than FirebaseToken: an ID
	// token of the Firebase emulator (known: it issued it; valid: not
	// expired). nil = only FirebaseToken is accepted.
	VerifyToken  func(tok string) (known, valid bool)
	BrokenBoolIn bool // reproduce the upstream 500 of the boolean __in filters
	// Now is the clock (nil = time.Now). Nothing reads it today: the data
	// set's timeline is fixed, so that a seed always gives the same data,
	// and users carry no timestamps.
	Now    func() time.Time
	Logger *slog.Logger
}

// Emulator serves the Issuance API over its tables in the sandbox database.
type Emulator struct {
	db         *sql.DB
	log        *slog.Logger
	apiKey     string
	token      string
	verify     func(string) (bool, bool)
	filterOpts filterOptions

	investments, summary, offerings, users, investors *resource

	cache *resultCache
	// offeringKeys are the per-offering API keys (key → offering id); the
	// data set's offerings never change after the load.
	offeringKeys map[string]int64
	// userSearch is the users' searched text in memory (searchindex.go).
	userSearch userSearchCache
	// noCache makes every count and aggregate hit the database (benchmarks).
	noCache bool
}

// Open migrates component "issuance" in d and loads data: from the fixture
// if given, else from the generator. Data already in d that came from the
// same source (same fixture content hash, or same seed+size and generator
// version) is kept as it is, so writes (users created through the API)
// survive restarts; a different source replaces the data set.
func Open(ctx context.Context, d *sql.DB, opts Options) (*Emulator, error) {
	if opts.Seed == 0 {
		opts.Seed = 1
	}
	if opts.Investments == 0 {
		opts.Investments = DefaultInvestments
	}
	if opts.Investments < 0 || opts.Investments > MaxInvestments {
		return nil, fmt.Errorf("issuance: %d investments is outside 1 to %d", opts.Investments, MaxInvestments)
	}
	e := &Emulator{db: d, log: opts.Logger, apiKey: opts.APIKey, token: opts.FirebaseToken, verify: opts.VerifyToken,
		filterOpts:  filterOptions{brokenBoolIn: opts.BrokenBoolIn},
		investments: newInvestmentResource(), summary: newSummaryResource(), offerings: newOfferingResource(),
		users: newUserResource(), investors: newInvestorResource(), cache: newResultCache(4096)}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.apiKey == "" {
		e.apiKey = DefaultAPIKey
	}
	if e.token == "" {
		e.token = DefaultFirebaseToken
	}
	migs, err := db.ParseMigrations(schemaSQL)
	if err != nil {
		return nil, fmt.Errorf("issuance: %w", err)
	}
	if err := db.Migrate(ctx, d, "issuance", migs); err != nil {
		return nil, fmt.Errorf("issuance: migrate: %w", err)
	}
	// A load interrupted after dropping the bulk-load indexes leaves them
	// missing; put them back before anything else.
	if err := ensureInvestmentIndexes(ctx, d); err != nil {
		return nil, err
	}
	var src dataSource
	if opts.Fixture != "" {
		content, err := os.ReadFile(opts.Fixture)
		if err != nil {
			return nil, fmt.Errorf("issuance: fixture: %w", err)
		}
		sum := sha256.Sum256(content)
		src.id = "fixture sha256:" + hex.EncodeToString(sum[:])
		src.fixture = func() (*Fixture, error) {
			f, err := ReadFixture(bytes.NewReader(content))
			if err != nil {
				return nil, fmt.Errorf("fixture %s: %w", opts.Fixture, err)
			}
			for _, w := range f.Warnings {
				e.log.Warn("issuance sandbox: fixture data breaks a relation the API does not document; loaded as it is", "fixture", opts.Fixture, "record", w)
			}
			if f.MoreWarnings > 0 {
				e.log.Warn("issuance sandbox: more fixture records break undocumented relations", "fixture", opts.Fixture, "count", f.MoreWarnings)
			}
			return f, nil
		}
	} else {
		src.id = fmt.Sprintf("generator v%d seed %d investments %d", generatorVersion, opts.Seed, opts.Investments)
		src.seed, src.n = opts.Seed, opts.Investments
	}
	var current string
	err = d.QueryRowContext(ctx, `SELECT value FROM iss_meta WHERE key = 'source'`).Scan(&current)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("issuance: read data source: %w", err)
	}
	if current == src.id {
		e.log.Info("issuance sandbox: keeping data set", "source", src.id)
		if err := ensureSearchIndex(ctx, d); err != nil {
			return nil, fmt.Errorf("issuance: %w", err)
		}
		return e, e.loadOfferingKeys(ctx)
	}
	start := time.Now()
	if err := e.load(ctx, src); err != nil {
		return nil, fmt.Errorf("issuance: load %s: %w", src.id, err)
	}
	e.log.Info("issuance sandbox: loaded data set", "source", src.id, "took", time.Since(start).Round(time.Millisecond))
	return e, e.loadOfferingKeys(ctx)
}

// dataSource is a fixture or a generator run.
type dataSource struct {
	id      string
	fixture func() (*Fixture, error)
	seed    int64
	n       int
}

// investmentIndexRe finds the schema's indexes of iss_investments, which a
// bulk load drops and recreates (building an index once is much faster
// than updating it per row).
var investmentIndexRe = regexp.MustCompile(`(?m)^CREATE INDEX (\w+) ON iss_investments \((.*)\);`)

// droppedIndexRe finds indexes a later migration dropped.
var droppedIndexRe = regexp.MustCompile(`(?m)^DROP INDEX IF EXISTS (\w+);`)

// investmentIndexes are the current indexes of iss_investments: name and
// columns.
func investmentIndexes() [][]string {
	dropped := map[string]bool{}
	for _, m := range droppedIndexRe.FindAllStringSubmatch(schemaSQL, -1) {
		dropped[m[1]] = true
	}
	var out [][]string
	for _, m := range investmentIndexRe.FindAllStringSubmatch(schemaSQL, -1) {
		if !dropped[m[1]] {
			out = append(out, m[1:])
		}
	}
	return out
}

func ensureInvestmentIndexes(ctx context.Context, d *sql.DB) error {
	for _, m := range investmentIndexes() {
		if _, err := d.ExecContext(ctx, fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON iss_investments (%s)", m[0], m[1])); err != nil {
			return fmt.Errorf("issuance: create index %s: %w", m[0], err)
		}
	}
	return nil
}

// load replaces the data set. The source marker is removed first and set
// last, so an interrupted load is redone at the next start.
func (e *Emulator) load(ctx context.Context, src dataSource) error {
	var f *Fixture
	var g *generator
	var err error
	if src.fixture != nil {
		if f, err = src.fixture(); err != nil {
			return err
		}
	} else if g, err = newGenerator(src.seed, src.n); err != nil {
		return err
	} else {
		f = &Fixture{Issuers: g.issuers, Offerings: g.offerings, Users: g.users, Investors: g.investors}
		v := newValidator()
		// The generator's records go through the fixture checks too.
		for n, x := range f.Offerings {
			if err := v.offering(x); err != nil {
				return fmt.Errorf("generator: offerings[%d]: %w", n, err)
			}
		}
		for _, x := range f.Investors {
			_ = v.investor(x)
		}
	}
	e.cache.invalidate()
	if err := e.clear(ctx); err != nil {
		return err
	}
	for _, m := range investmentIndexes() {
		if _, err := e.db.ExecContext(ctx, "DROP INDEX IF EXISTS "+m[0]); err != nil {
			return fmt.Errorf("drop index %s: %w", m[0], err)
		}
	}
	if err := e.insertSmallTables(ctx, f); err != nil {
		return err
	}
	ins, err := e.newInvestmentInserter(ctx, newSearchTexts(f))
	if err != nil {
		return err
	}
	if g != nil {
		err = g.eachInvestment(func(i Investment) error {
			if err := checkInvestment(i); err != nil {
				return fmt.Errorf("generator: investment %d: %w", i.ID, err)
			}
			return ins.add(ctx, i)
		})
	} else {
		for _, i := range f.Investments {
			if err = ins.add(ctx, i); err != nil {
				break
			}
		}
	}
	if err != nil {
		ins.abort()
		return err
	}
	if err := ins.finish(); err != nil {
		return err
	}
	if err := ensureInvestmentIndexes(ctx, e.db); err != nil {
		return err
	}
	// Planner statistics; analysis_limit keeps ANALYZE quick on big tables.
	if _, err := e.db.ExecContext(ctx, "PRAGMA analysis_limit = 2000; ANALYZE"); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	if err := buildSearchIndex(ctx, e.db); err != nil {
		return err
	}
	if _, err := e.db.ExecContext(ctx, `INSERT INTO iss_meta (key, value) VALUES ('source', ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, src.id); err != nil {
		return fmt.Errorf("record data source: %w", err)
	}
	_, _ = e.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	return nil
}

func (e *Emulator) clear(ctx context.Context) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, t := range []string{"iss_meta", "iss_search_grams", "iss_search_dirty", "iss_investments", "iss_investors", "iss_entities", "iss_users", "iss_offerings", "iss_issuers"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return fmt.Errorf("clear %s: %w", t, err)
		}
	}
	return tx.Commit()
}

func (e *Emulator) insertSmallTables(ctx context.Context, f *Fixture) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, x := range f.Issuers {
		if _, err := tx.ExecContext(ctx, `INSERT INTO iss_issuers (id, name, archived) VALUES (?, ?, ?)`, x.ID, x.Name, x.Archived); err != nil {
			return fmt.Errorf("issuer %d: %w", x.ID, err)
		}
	}
	for _, o := range f.Offerings {
		created, _ := parseFixtureTime(o.CreatedAt)
		var opened *int64
		if o.OpenedAt != nil {
			t, _ := parseFixtureTime(*o.OpenedAt)
			opened = &t
		}
		fx := marshalRecord(o.record(), offeringFixtureOrder)
		if _, err := tx.ExecContext(ctx, `INSERT INTO iss_offerings (id, issuer_id, name, name_u, slug, slug_u, type,
			status, archived, created_at, opened_at, fixture, api) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			o.ID, o.Issuer, o.Name, pgUpper(o.Name), o.Slug, pgUpper(o.Slug), o.Type, o.Status, o.Archived,
			created, opened, string(fx), string(renderOffering(o))); err != nil {
			return fmt.Errorf("offering %d: %w", o.ID, err)
		}
	}
	userStmt, err := tx.PrepareContext(ctx, insertUserSQL)
	if err != nil {
		return err
	}
	defer userStmt.Close()
	for _, u := range f.Users {
		if _, err := userStmt.ExecContext(ctx, userArgs(u, nil)...); err != nil {
			return fmt.Errorf("user %d: %w", u.ID, err)
		}
	}
	entityStmt, err := tx.PrepareContext(ctx, `INSERT INTO iss_entities (id, email, kyc_status) VALUES (?, ?, ?)`)
	if err != nil {
		return err
	}
	defer entityStmt.Close()
	investorStmt, err := tx.PrepareContext(ctx, `INSERT INTO iss_investors (id, type, user_id, entity_id) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer investorStmt.Close()
	entities := map[int]bool{}
	for _, v := range f.Investors {
		var entityID *int
		if v.Entity != nil {
			entityID = &v.Entity.ID
			if !entities[v.Entity.ID] {
				entities[v.Entity.ID] = true
				if _, err := entityStmt.ExecContext(ctx, v.Entity.ID, v.Entity.Email, v.Entity.KYCStatus); err != nil {
					return fmt.Errorf("entity %d: %w", v.Entity.ID, err)
				}
			}
		}
		if _, err := investorStmt.ExecContext(ctx, v.ID, v.Type, v.User, entityID); err != nil {
			return fmt.Errorf("investor %d: %w", v.ID, err)
		}
	}
	return tx.Commit()
}

const insertUserSQL = `INSERT INTO iss_users (id, email, email_u, first_name, first_name_u, last_name, last_name_u,
	password_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

func userArgs(u User, passwordHash *string) []any {
	return []any{u.ID, u.Email, pgUpper(u.Email), u.FirstName, pgUpper(u.FirstName), u.LastName, pgUpper(u.LastName), passwordHash}
}

// refreshSearch rebuilds search_u of a user's investments after the user
// changed (inside the caller's transaction).
func refreshSearch(ctx context.Context, tx *sql.Tx, userID int64) error {
	var u User
	if err := tx.QueryRowContext(ctx, `SELECT email, first_name, last_name FROM iss_users WHERE id = ?`, userID).Scan(&u.Email, &u.FirstName, &u.LastName); err != nil {
		return fmt.Errorf("refresh search of user %d: %w", userID, err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT i.id, i.reference_id, o.name_u FROM iss_investments i
		JOIN iss_offerings o ON o.id = i.offering_id
		WHERE i.investor_id IN (SELECT id FROM iss_investors WHERE user_id = ?)`, userID)
	if err != nil {
		return fmt.Errorf("refresh search of user %d: %w", userID, err)
	}
	type change struct {
		id     int64
		search string
	}
	var changes []change
	for rows.Next() {
		var id int64
		var ref, offering string
		if err := rows.Scan(&id, &ref, &offering); err != nil {
			rows.Close()
			return fmt.Errorf("refresh search of user %d: %w", userID, err)
		}
		changes = append(changes, change{id, searchText(ref, offering, userSearchText(u))})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("refresh search of user %d: %w", userID, err)
	}
	for _, c := range changes {
		if _, err := tx.ExecContext(ctx, `UPDATE iss_investments SET search_u = ? WHERE id = ?`, c.search, c.id); err != nil {
			return fmt.Errorf("refresh search of user %d: %w", userID, err)
		}
	}
	return markSearchDirty(ctx, tx, userID)
}

func insertUser(ctx context.Context, tx *sql.Tx, u User, passwordHash *string) error {
	if _, err := tx.ExecContext(ctx, insertUserSQL, userArgs(u, passwordHash)...); err != nil {
		return fmt.Errorf("user %d: %w", u.ID, err)
	}
	return nil
}

// investmentInserter writes investments in transactions of batchSize rows
// through one prepared statement.
type investmentInserter struct {
	db     *sql.DB
	tx     *sql.Tx
	stmt   *sql.Stmt
	count  int
	search searchTexts
}

// searchTexts builds iss_investments.search_u: the upper-cased search
// fields joined by U+001F.
type searchTexts struct {
	offerings map[int]string // offering id → upper-cased name
	investors map[int]string // investor id → upper-cased "email␟first␟last"
	types     map[int]string // investor id → type (iss_investments.investor_type)
}

const searchSep = "\x1f"

func newSearchTexts(f *Fixture) searchTexts {
	s := searchTexts{offerings: map[int]string{}, investors: map[int]string{}, types: map[int]string{}}
	for _, o := range f.Offerings {
		s.offerings[o.ID] = pgUpper(o.Name)
	}
	users := map[int]User{}
	for _, u := range f.Users {
		users[u.ID] = u
	}
	for _, v := range f.Investors {
		s.types[v.ID] = v.Type
		if v.User != nil {
			s.investors[v.ID] = userSearchText(users[*v.User])
		}
	}
	return s
}

func userSearchText(u User) string {
	return pgUpper(u.Email) + searchSep + pgUpper(u.FirstName) + searchSep + pgUpper(u.LastName)
}

func searchText(reference, offeringName, user string) string {
	return pgUpper(reference) + searchSep + offeringName + searchSep + user
}

const batchSize = 10_000

const insertInvestmentSQL = `INSERT INTO iss_investments (id, offering_id, investor_id, reference_id, search_u,
	status, quantity, price, price_fees, price_payment_processing_fees, amount, shares_amount, payment_method,
	requested_payment_method, processing_issue_statuses, has_investor_signed, is_approved, watchlist_has_hits,
	created_at, updated_at, processed_at, received_at, refunded_at, invested_at, payment_intent_id, extra, investor_type)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func (e *Emulator) newInvestmentInserter(ctx context.Context, search searchTexts) (*investmentInserter, error) {
	ins := &investmentInserter{db: e.db, search: search}
	return ins, ins.begin(ctx)
}

func (ins *investmentInserter) begin(ctx context.Context) error {
	tx, err := ins.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	stmt, err := tx.PrepareContext(ctx, insertInvestmentSQL)
	if err != nil {
		tx.Rollback()
		return err
	}
	ins.tx, ins.stmt = tx, stmt
	return nil
}

func (ins *investmentInserter) add(ctx context.Context, i Investment) error {
	x, err := parseInvestmentValues(i)
	if err != nil {
		return fmt.Errorf("investment %d: %w", i.ID, err)
	}
	search := searchText(i.ReferenceID, ins.search.offerings[i.Offering], ins.search.investors[i.Investor])
	processed := int64(nullSentinel)
	if x.processed != nil {
		processed = *x.processed
	}
	var extra *string
	if len(i.Extra) > 0 {
		s := string(marshalRecord(record(i.Extra), investmentExtraSpecs))
		extra = &s
	}
	if _, err := ins.stmt.ExecContext(ctx, i.ID, i.Offering, i.Investor, i.ReferenceID, search, i.Status, i.Quantity,
		x.price, x.fees, x.ppf, x.amount, x.shares, i.PaymentMethod, i.RequestedPaymentMethod,
		i.ProcessingIssueStatuses, i.HasInvestorSigned, i.IsApproved, i.WatchlistHasHits, x.created, x.updated,
		processed, x.received, x.refunded, x.invested, i.PaymentIntentID, extra, ins.search.types[i.Investor]); err != nil {
		return fmt.Errorf("investment %d: %w", i.ID, err)
	}
	ins.count++
	if ins.count%batchSize == 0 {
		if err := ins.commit(); err != nil {
			return err
		}
		return ins.begin(ctx)
	}
	return nil
}

func (ins *investmentInserter) commit() error {
	ins.stmt.Close()
	return ins.tx.Commit()
}

func (ins *investmentInserter) abort() {
	ins.stmt.Close()
	ins.tx.Rollback()
}

func (ins *investmentInserter) finish() error { return ins.commit() }

// allExist implements fkChecker over the sandbox tables.
func (e *Emulator) allExist(ctx context.Context, table string, ids []int64) (bool, error) {
	switch table {
	case "iss_investors", "iss_entities", "iss_users", "iss_offerings", "iss_issuers":
	default:
		return false, fmt.Errorf("no such table %q", table)
	}
	distinct := map[int64]bool{}
	for _, id := range ids {
		distinct[id] = true
	}
	var n int
	var err error
	if len(ids) == 1 {
		err = e.db.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE id = ?", ids[0]).Scan(&n)
	} else {
		err = e.db.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE id IN (SELECT value FROM json_each(?))", jsonArray(ids)).Scan(&n)
	}
	if err != nil {
		return false, fmt.Errorf("check %s ids: %w", table, err)
	}
	return n == len(distinct), nil
}

// resultCache memoises counts and aggregates. The investments and
// offerings never change after a load; user writes invalidate it (they move
// the e-mail and name filters and searches).
type resultCache struct {
	mu    sync.Mutex
	max   int
	items map[string]any
	gen   atomic.Int64
}

func newResultCache(max int) *resultCache { return &resultCache{max: max, items: map[string]any{}} }

func cacheKey(kind, query string, args []any) string {
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte(0)
	b.WriteString(query)
	for _, a := range args {
		fmt.Fprintf(&b, "\x00%T:%v", a, a)
	}
	if b.Len() > 512 {
		// Narrowed searches carry long id lists: keep the key small.
		sum := sha256.Sum256([]byte(b.String()))
		return kind + "\x00sha256:" + hex.EncodeToString(sum[:])
	}
	return b.String()
}

func (c *resultCache) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.items[key]
	return v, ok
}

func (c *resultCache) put(key string, v any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.items) >= c.max {
		c.items = map[string]any{} // crude but bounded; the working set is small
	}
	c.items[key] = v
}

func (c *resultCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.items = map[string]any{}
	c.gen.Add(1)
}

// count runs a COUNT(*) through the cache.
func (e *Emulator) count(ctx context.Context, r *resource, cq *compiled) (int64, error) {
	q := "SELECT count(*) FROM " + r.table + cq.where
	key := cacheKey("count", q, cq.args)
	if !e.noCache {
		if v, ok := e.cache.get(key); ok {
			return v.(int64), nil
		}
	}
	var n int64
	if err := e.db.QueryRowContext(ctx, q, cq.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count: %w", err)
	}
	if !e.noCache {
		e.cache.put(key, n)
	}
	return n, nil
}

// Export writes the current data set (including users created through the
// API) as a fixture.
func (e *Emulator) Export(ctx context.Context, w io.Writer) error {
	fw := newFixtureWriter(w)
	each := func(section, q string, scan func(*sql.Rows) (json.RawMessage, error)) error {
		fw.section(section)
		rows, err := e.db.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("export %s: %w", section, err)
		}
		defer rows.Close()
		for rows.Next() {
			b, err := scan(rows)
			if err != nil {
				return fmt.Errorf("export %s: %w", section, err)
			}
			fw.item(b)
		}
		return rows.Err()
	}
	err := each("issuers", `SELECT id, name, archived FROM iss_issuers ORDER BY id`, func(rows *sql.Rows) (json.RawMessage, error) {
		var x Issuer
		err := rows.Scan(&x.ID, &x.Name, &x.Archived)
		return marshalRecord(x.record(), issuerFields), err
	})
	if err == nil {
		err = each("offerings", `SELECT fixture FROM iss_offerings ORDER BY id`, func(rows *sql.Rows) (json.RawMessage, error) {
			var s string
			err := rows.Scan(&s)
			return json.RawMessage(s), err
		})
	}
	if err == nil {
		err = each("users", `SELECT id, email, first_name, last_name FROM iss_users ORDER BY id`, func(rows *sql.Rows) (json.RawMessage, error) {
			var u User
			err := rows.Scan(&u.ID, &u.Email, &u.FirstName, &u.LastName)
			return marshalRecord(u.record(), userFields), err
		})
	}
	if err == nil {
		err = each("investors", `SELECT v.id, v.type, v.user_id, e.id, e.email, e.kyc_status FROM iss_investors v
			LEFT JOIN iss_entities e ON e.id = v.entity_id ORDER BY v.id`, func(rows *sql.Rows) (json.RawMessage, error) {
			var v Investor
			var eid sql.NullInt64
			var email, kyc sql.NullString
			var uid sql.NullInt64
			if err := rows.Scan(&v.ID, &v.Type, &uid, &eid, &email, &kyc); err != nil {
				return nil, err
			}
			if uid.Valid {
				u := int(uid.Int64)
				v.User = &u
			}
			if eid.Valid {
				v.Entity = &Entity{ID: int(eid.Int64), Email: email.String, KYCStatus: kyc.String}
			}
			return marshalRecord(v.record(), investorFields), nil
		})
	}
	if err == nil {
		err = each("investments", `SELECT `+investmentExportColumns+` FROM iss_investments i ORDER BY i.id`, func(rows *sql.Rows) (json.RawMessage, error) {
			i, err := scanExportInvestment(rows)
			return marshalRecord(i.record(), investmentFields), err
		})
	}
	if err != nil {
		return err
	}
	return fw.close()
}

const investmentExportColumns = `i.id, i.offering_id, i.investor_id, i.reference_id, i.status, i.quantity, i.price,
	i.price_fees, i.price_payment_processing_fees, i.amount, i.shares_amount, i.payment_method,
	i.requested_payment_method, i.processing_issue_statuses, i.has_investor_signed, i.is_approved,
	i.watchlist_has_hits, i.created_at, i.updated_at, i.processed_at, i.received_at, i.refunded_at, i.invested_at,
	i.payment_intent_id, i.extra`

func scanExportInvestment(rows *sql.Rows) (Investment, error) {
	var i Investment
	var price, fees, ppf, amount, shares, created, updated, processed int64
	var received, refunded, invested sql.NullInt64
	var approved, hits sql.NullBool
	var extra sql.NullString
	if err := rows.Scan(&i.ID, &i.Offering, &i.Investor, &i.ReferenceID, &i.Status, &i.Quantity, &price, &fees, &ppf,
		&amount, &shares, &i.PaymentMethod, &i.RequestedPaymentMethod, &i.ProcessingIssueStatuses,
		&i.HasInvestorSigned, &approved, &hits, &created, &updated, &processed, &received, &refunded, &invested,
		&i.PaymentIntentID, &extra); err != nil {
		return i, err
	}
	i.Price, i.PriceFees, i.PricePaymentProcessingFees = formatFixed(price, 6), formatFixed(fees, 2), formatFixed(ppf, 2)
	i.Amount, i.SharesAmount = formatFixed(amount, 2), formatFixed(shares, 2)
	i.CreatedAt, i.UpdatedAt = formatISO(created, false), formatISO(updated, false)
	if approved.Valid {
		i.IsApproved = &approved.Bool
	}
	if hits.Valid {
		i.WatchlistHasHits = &hits.Bool
	}
	opt := func(v sql.NullInt64) *string {
		if !v.Valid {
			return nil
		}
		return ptr(formatISO(v.Int64, false))
	}
	if processed != nullSentinel {
		i.ProcessedAt = ptr(formatISO(processed, false))
	}
	i.ReceivedAt, i.RefundedAt, i.InvestedAt = opt(received), opt(refunded), opt(invested)
	if extra.Valid {
		if err := json.Unmarshal([]byte(extra.String), &i.Extra); err != nil {
			return i, fmt.Errorf("investment %d extra: %w", i.ID, err)
		}
	}
	return i, nil
}

// Person is a natural person (investor type "person" with a user) the
// Cashlink emulator seeds as its own investor, so an import can match the
// two by e-mail.
type Person struct {
	InvestorID, UserID         int
	Email, FirstName, LastName string
}

// People returns up to limit natural persons in investor id order (all of
// them when limit <= 0).
func (e *Emulator) People(ctx context.Context, limit int) ([]Person, error) {
	if limit <= 0 {
		limit = -1
	}
	rows, err := e.db.QueryContext(ctx, `SELECT v.id, u.id, u.email, u.first_name, u.last_name FROM iss_investors v
		JOIN iss_users u ON u.id = v.user_id WHERE v.type = 'person' ORDER BY v.id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("issuance: people: %w", err)
	}
	defer rows.Close()
	var out []Person
	for rows.Next() {
		var p Person
		if err := rows.Scan(&p.InvestorID, &p.UserID, &p.Email, &p.FirstName, &p.LastName); err != nil {
			return nil, fmt.Errorf("issuance: people: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}
