package searches

import (
	"context"
	"path/filepath"
	"testing"

	"issuerconsole/db"
)

// A user's preference is read from the database once, then kept until it
// is set again (every search page reads the user's columns).
func TestPrefsAreKeptUntilSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Exec(`INSERT INTO users (id, email, name, role, password_hash, created_at, updated_at) VALUES (1, 'a@example.com', 'A', 'admin', 'x', 0, 0)`); err != nil {
		t.Fatal(err)
	}
	s := New(d, nil)
	if v, err := s.Pref(ctx, 1, "cols"); err != nil || v != "" {
		t.Fatalf("unset pref: %q %v", v, err)
	}
	if err := s.SetPref(ctx, 1, "cols", "id,amount"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Pref(ctx, 1, "cols"); err != nil || v != "id,amount" {
		t.Fatalf("pref after set: %q %v", v, err)
	}
	// Written through to the database.
	other := New(d, nil)
	if v, _ := other.Pref(ctx, 1, "cols"); v != "id,amount" {
		t.Fatalf("another store reads %q", v)
	}
	if _, err := d.Exec(`UPDATE user_prefs SET value = 'changed behind its back'`); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Pref(ctx, 1, "cols"); err != nil || v != "id,amount" {
		t.Fatalf("the kept pref was read again: %q %v", v, err)
	}
	if err := s.SetPref(ctx, 1, "cols", "id"); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Pref(ctx, 1, "cols"); v != "id" {
		t.Fatalf("pref after a second set: %q", v)
	}
}
