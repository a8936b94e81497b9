// Package db opens the console's SQLite databases and migrates them.
//
// Connection settings live in the DSN, not in PRAGMA statements: database/sql
// pools connections and mattn/go-sqlite3 applies DSN settings to every
// connection it opens, while a PRAGMA sent through Exec reaches only one.
package db

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver (cgo)
)

// Schema is the console's schema: ordered, append-only migration sections.
//
//go:embed schema.sql
var Schema string

// Sync is SQLite's synchronous setting for a database.
type Sync string

const (
	// SyncFull fsyncs the WAL on every commit: a committed row survives a
	// power loss. The console database (audit log, import keys) uses it.
	SyncFull Sync = "FULL"
	// SyncNormal survives a process crash but not an OS crash; enough for
	// data that can be regenerated.
	SyncNormal Sync = "NORMAL"
)

// DSN builds the connection string for a database file. Every pooled
// connection gets WAL, foreign keys, a busy timeout and IMMEDIATE
// transactions (so a read-then-write transaction never deadlocks on upgrade).
func DSN(path string, sync Sync) string {
	if sync == "" {
		sync = SyncFull
	}
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "5000")
	q.Set("_synchronous", string(sync))
	q.Set("_txlock", "immediate")
	q.Set("_cache_size", "-16000") // 16 MB page cache per connection
	return "file:" + esc + "?" + q.Encode()
}

// Open opens (creating if needed) the database at path and applies the
// migrations of the console schema. Other databases (the sandbox's) use
// OpenRaw and then Migrate their own components.
func Open(ctx context.Context, path string, sync Sync, schema string) (*sql.DB, error) {
	migs, err := ParseMigrations(schema)
	if err != nil {
		return nil, err
	}
	d, err := OpenRaw(ctx, path, sync)
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, d, "console", migs); err != nil {
		d.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	return d, nil
}

// OpenRaw opens (creating if needed) the database at path with the pooled
// connection settings of DSN and no migrations.
func OpenRaw(ctx context.Context, path string, sync Sync) (*sql.DB, error) {
	d, err := sql.Open("sqlite3", DSN(path, sync))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d.SetMaxOpenConns(16)
	d.SetMaxIdleConns(4)
	if err := d.PingContext(ctx); err != nil {
		d.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return d, nil
}

// Migration is one numbered section of a schema file.
type Migration struct {
	Version int
	Title   string
	SQL     string
}

var sectionRe = regexp.MustCompile(`(?m)^-- migrate: (\d+) (.+)$`)

// ParseMigrations splits a schema file into its "-- migrate: N title"
// sections. Versions must start at 1 and increase by one.
func ParseMigrations(schema string) ([]Migration, error) {
	locs := sectionRe.FindAllStringSubmatchIndex(schema, -1)
	if len(locs) == 0 {
		return nil, errors.New("schema has no '-- migrate: N title' sections")
	}
	out := make([]Migration, 0, len(locs))
	for i, loc := range locs {
		v, _ := strconv.Atoi(schema[loc[2]:loc[3]])
		if v != i+1 {
			return nil, fmt.Errorf("schema section %d is numbered %d; sections must be numbered 1, 2, 3, …", i+1, v)
		}
		end := len(schema)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		out = append(out, Migration{Version: v, Title: strings.TrimSpace(schema[loc[4]:loc[5]]), SQL: schema[loc[1]:end]})
	}
	return out, nil
}

// ErrTooNew means the database was written by a newer build.
var ErrTooNew = errors.New("database schema is newer than this program")

// Migrate applies, in order and each in its own transaction, every migration
// of component above the version recorded in the schema_version table.
// Existing rows are kept: sections only ever add or alter, and a failed
// section rolls back completely. Several components (the two emulators in
// sandbox.db) can share one database file, each with its own version.
func Migrate(ctx context.Context, d *sql.DB, component string, migs []Migration) error {
	if _, err := d.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		component TEXT PRIMARY KEY, version INTEGER NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("create schema_version: %w", err)
	}
	cur, err := Version(ctx, d, component)
	if err != nil {
		return err
	}
	if cur > len(migs) {
		return fmt.Errorf("%w: %s is at version %d, this build knows %d", ErrTooNew, component, cur, len(migs))
	}
	for _, m := range migs[cur:] {
		if err := apply(ctx, d, component, m); err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.Version, m.Title, err)
		}
	}
	return nil
}

func apply(ctx context.Context, d *sql.DB, component string, m Migration) error {
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version (component, version, applied_at)
		VALUES (?, ?, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
		ON CONFLICT (component) DO UPDATE SET version = excluded.version, applied_at = excluded.applied_at`,
		component, m.Version); err != nil {
		return err
	}
	return tx.Commit()
}

// Version reports a component's schema version (0 before its first migration).
func Version(ctx context.Context, d *sql.DB, component string) (int, error) {
	var v int
	err := d.QueryRowContext(ctx, `SELECT version FROM schema_version WHERE component = ?`, component).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read schema version of %s: %w", component, err)
	}
	return v, nil
}
