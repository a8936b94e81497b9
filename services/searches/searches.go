// Package searches keeps the investment search's shared saved searches and
// each user's preferences (the table's columns).
package searches

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Saved is a named search shared by every user of the console.
type Saved struct {
	ID        int64
	Name      string
	OwnerID   int64
	Owner     string // e-mail
	Query     string
	CreatedAt time.Time
}

// Store reads and writes saved searches and preferences.
type Store struct {
	db  *sql.DB
	now func() time.Time

	// prefs caches user_prefs (written only through SetPref): the search
	// reads the user's columns on every request.
	prefsMu sync.Mutex
	prefs   map[prefKey]string
}

type prefKey struct {
	user int64
	key  string
}

// New returns a store over console.db.
func New(db *sql.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now, prefs: map[prefKey]string{}}
}

var (
	ErrNotFound   = errors.New("saved search not found")
	ErrNotOwner   = errors.New("only its owner or an admin can delete a saved search")
	ErrBadName    = errors.New("give the search a name of 1 to 80 characters")
	ErrEmptyQuery = errors.New("there is nothing to save: choose some filters first")
)

// Save stores a search under a name.
func (s *Store) Save(ctx context.Context, owner int64, name, query string) (Saved, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 80 {
		return Saved{}, ErrBadName
	}
	if strings.TrimSpace(query) == "" {
		return Saved{}, ErrEmptyQuery
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO saved_searches (name, owner_id, query, created_at) VALUES (?, ?, ?, ?)`,
		name, owner, query, s.now().UnixMilli())
	if err != nil {
		return Saved{}, fmt.Errorf("save search: %w", err)
	}
	id, _ := res.LastInsertId()
	return Saved{ID: id, Name: name, OwnerID: owner, Query: query}, nil
}

// List returns every saved search, by name.
func (s *Store) List(ctx context.Context) ([]Saved, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT s.id, s.name, s.owner_id, u.email, s.query, s.created_at
		FROM saved_searches s JOIN users u ON u.id = s.owner_id ORDER BY s.name COLLATE NOCASE, s.id`)
	if err != nil {
		return nil, fmt.Errorf("list saved searches: %w", err)
	}
	defer rows.Close()
	var out []Saved
	for rows.Next() {
		var sv Saved
		var at int64
		if err := rows.Scan(&sv.ID, &sv.Name, &sv.OwnerID, &sv.Owner, &sv.Query, &at); err != nil {
			return nil, err
		}
		sv.CreatedAt = time.UnixMilli(at).UTC()
		out = append(out, sv)
	}
	return out, rows.Err()
}

// Delete removes a saved search; only its owner or an admin may.
func (s *Store) Delete(ctx context.Context, id, actor int64, isAdmin bool) error {
	var owner int64
	err := s.db.QueryRowContext(ctx, `SELECT owner_id FROM saved_searches WHERE id = ?`, id).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete saved search: %w", err)
	}
	if owner != actor && !isAdmin {
		return ErrNotOwner
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM saved_searches WHERE id = ?`, id)
	return err
}

// Pref returns a user's preference ("" when unset).
func (s *Store) Pref(ctx context.Context, user int64, key string) (string, error) {
	k := prefKey{user, key}
	s.prefsMu.Lock()
	v, ok := s.prefs[k]
	s.prefsMu.Unlock()
	if ok {
		return v, nil
	}
	err := s.db.QueryRowContext(ctx, `SELECT value FROM user_prefs WHERE user_id = ? AND key = ?`, user, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		v, err = "", nil
	}
	if err != nil {
		return "", err
	}
	s.prefsMu.Lock()
	s.prefs[k] = v
	s.prefsMu.Unlock()
	return v, nil
}

// SetPref stores a user's preference.
func (s *Store) SetPref(ctx context.Context, user int64, key, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO user_prefs (user_id, key, value) VALUES (?, ?, ?)
		ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value`, user, key, value)
	s.prefsMu.Lock()
	if err == nil {
		s.prefs[prefKey{user, key}] = value
	} else {
		delete(s.prefs, prefKey{user, key}) // read it again next time
	}
	s.prefsMu.Unlock()
	return err
}
