// Package sandbox mounts the API emulators under /sandbox/ over their own
// SQLite file (sandbox.db in the data folder), so the console, its tests and
// any other HTTP client can work without real accounts.
package sandbox

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"issuerconsole/db"
	"issuerconsole/sandbox/issuance"
)

// Config configures the emulators.
type Config struct {
	Dir         string // data folder; the emulators keep their state in Dir/sandbox.db
	Seed        int64
	Investments int
	Fixture     string
	Now         func() time.Time
	Logger      *slog.Logger
}

// Sandbox is the running emulators.
type Sandbox struct {
	DB       *sql.DB
	Issuance *issuance.Emulator
	mux      *http.ServeMux
}

// Open opens sandbox.db and the emulators (generating or loading data on
// first start, keeping it across restarts).
func Open(ctx context.Context, cfg Config) (*Sandbox, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d, err := db.OpenRaw(ctx, filepath.Join(cfg.Dir, "sandbox.db"), db.SyncNormal)
	if err != nil {
		return nil, err
	}
	s := &Sandbox{DB: d}
	s.Issuance, err = issuance.Open(ctx, d, issuance.Options{
		Seed: cfg.Seed, Investments: cfg.Investments, Fixture: cfg.Fixture, BrokenBoolIn: true,
		Now: cfg.Now, Logger: cfg.Logger.With("emulator", "issuance"),
	})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("issuance emulator: %w", err)
	}
	s.mux = http.NewServeMux()
	s.mux.Handle("/sandbox/issuance/", http.StripPrefix("/sandbox/issuance", s.Issuance.Handler()))
	return s, nil
}

// Handler serves /sandbox/...
func (s *Sandbox) Handler() http.Handler { return s.mux }

// Close closes sandbox.db.
func (s *Sandbox) Close() error { return s.DB.Close() }
