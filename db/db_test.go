package db

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

func TestEveryPooledConnectionHasPragmas(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "with space?and#hash.db"), SyncFull, Schema)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()

	// Hold several connections at once so the pool has to open distinct ones.
	const n = 5
	conns := make([]*sql.Conn, n)
	for i := range conns {
		c, err := d.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	for i, c := range conns {
		var fk, busy, sync int
		var mode string
		if err := c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil {
			t.Fatal(err)
		}
		if fk != 1 || busy != 5000 || mode != "wal" || sync != 2 {
			t.Errorf("connection %d: foreign_keys=%d busy_timeout=%d journal_mode=%s synchronous=%d; want 1, 5000, wal, 2 (FULL)", i, fk, busy, mode, sync)
		}
	}
	// And the foreign keys are really enforced on a connection of the pool.
	_, err = conns[n-1].ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at) VALUES (x'01', 999, 0, 0)`)
	if err == nil || !strings.Contains(err.Error(), "FOREIGN KEY") {
		t.Fatalf("insert with a dangling user_id: err = %v, want a FOREIGN KEY failure", err)
	}
}

func TestParseMigrations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		schema  string
		want    []int
		wantErr string
	}{
		{"embedded schema", Schema, nil, ""},
		{"two sections", "-- header\n-- migrate: 1 a\nCREATE TABLE a(x);\n-- migrate: 2 b\nCREATE TABLE b(x);\n", []int{1, 2}, ""},
		{"gap", "-- migrate: 1 a\nSELECT 1;\n-- migrate: 3 c\nSELECT 1;\n", nil, "numbered 3"},
		{"none", "CREATE TABLE a(x);", nil, "no '-- migrate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			migs, err := ParseMigrations(tt.schema)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil {
				if len(migs) == 0 {
					t.Fatal("embedded schema has no sections")
				}
				return
			}
			var got []int
			for _, m := range migs {
				got = append(got, m.Version)
			}
			if len(got) != len(tt.want) || got[0] != tt.want[0] || got[1] != tt.want[1] {
				t.Fatalf("versions = %v, want %v", got, tt.want)
			}
		})
	}
}

// An existing database at version 1 with data is migrated to version 2
// without losing rows, and re-opening applies nothing twice.
func TestMigrateKeepsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "console.db")
	v1 := "-- migrate: 1 notes\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n"
	v2 := v1 + "-- migrate: 2 note titles\nALTER TABLE notes ADD COLUMN title TEXT NOT NULL DEFAULT 'untitled';\nCREATE INDEX notes_title ON notes (title);\n"

	d, err := Open(ctx, path, SyncNormal, v1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ExecContext(ctx, `INSERT INTO notes (body) VALUES ('kept'), ('also kept')`); err != nil {
		t.Fatal(err)
	}
	d.Close()

	for range 2 { // the second open must be a no-op
		d, err = Open(ctx, path, SyncNormal, v2)
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := Version(ctx, d, "console"); v != 2 {
			t.Fatalf("user_version = %d, want 2", v)
		}
		var n int
		var title string
		if err := d.QueryRowContext(ctx, `SELECT count(*), min(title) FROM notes`).Scan(&n, &title); err != nil {
			t.Fatal(err)
		}
		if n != 2 || title != "untitled" {
			t.Fatalf("after migration: %d rows, title %q; want 2 rows titled untitled", n, title)
		}
		d.Close()
	}
}

func TestMigrateFailureRollsBackSection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "console.db")
	bad := "-- migrate: 1 ok\nCREATE TABLE a (x);\n-- migrate: 2 broken\nCREATE TABLE b (x);\nINSERT INTO nowhere VALUES (1);\n"
	if _, err := Open(ctx, path, SyncNormal, bad); err == nil || !strings.Contains(err.Error(), "migration 2 (broken)") {
		t.Fatalf("err = %v, want migration 2 to fail", err)
	}
	d, err := sql.Open("sqlite3", DSN(path, SyncNormal))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if v, _ := Version(ctx, d, "console"); v != 1 {
		t.Fatalf("user_version = %d, want 1 (section 2 rolled back)", v)
	}
	var n int
	d.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'b'`).Scan(&n)
	if n != 0 {
		t.Fatal("table b of the failed section exists")
	}
}

func TestRefusesNewerDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "console.db")
	two := "-- migrate: 1 a\nCREATE TABLE a (x);\n-- migrate: 2 b\nCREATE TABLE b (x);\n"
	d, err := Open(ctx, path, SyncNormal, two)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	_, err = Open(ctx, path, SyncNormal, "-- migrate: 1 a\nCREATE TABLE a (x);\n")
	if !errors.Is(err, ErrTooNew) {
		t.Fatalf("err = %v, want ErrTooNew", err)
	}
}

// Two components in one file migrate independently.
func TestComponentsAreIndependent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := OpenRaw(ctx, filepath.Join(t.TempDir(), "sandbox.db"), SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a, _ := ParseMigrations("-- migrate: 1 a\nCREATE TABLE a1 (x);\n-- migrate: 2 a\nCREATE TABLE a2 (x);\n")
	b, _ := ParseMigrations("-- migrate: 1 b\nCREATE TABLE b1 (x);\n")
	if err := Migrate(ctx, d, "a", a); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, d, "b", b); err != nil {
		t.Fatal(err)
	}
	va, _ := Version(ctx, d, "a")
	vb, _ := Version(ctx, d, "b")
	if va != 2 || vb != 1 {
		t.Fatalf("versions a=%d b=%d, want 2 and 1", va, vb)
	}
}
