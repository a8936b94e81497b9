// Package sandbox mounts the API emulators under /sandbox/ over their own
// SQLite file (sandbox.db in the data folder), so the console, its tests and
// any other HTTP client can work without real accounts:
//
//	/sandbox/issuance/api/...           the Issuance issuer API (Api-Key sandbox-issuance-key)
//	/sandbox/cashlink/api/external/...  Cashlink RaaS (client sandbox-client / sandbox-secret)
//	/sandbox/issuance/_info             the per-offering API keys and the Firebase test credentials
//	/sandbox/firebase/v1/token          Firebase Secure Token refresh-token exchange (ID tokens live TokenTTL)
//	/sandbox/cashlink/_info             the seeded campaigns, products, investors and wallets
//	/sandbox/_control/...               fault injection and knobs, only with -sandbox-control
package sandbox

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"issuerconsole/db"
	"issuerconsole/sandbox/cashlink"
	"issuerconsole/sandbox/faults"
	"issuerconsole/sandbox/firebase"
	"issuerconsole/sandbox/issuance"
)

// Config configures the emulators.
type Config struct {
	Dir         string // data folder; the emulators keep their state in Dir/sandbox.db
	Seed        int64
	Investments int
	Fixture     string
	Faults      string // rules in the flag syntax of faults.ParseRules
	FaultSeed   int64
	Control     bool // mount /sandbox/_control/ (tests and demos only)
	TokenTTL    time.Duration
	CreditDelay time.Duration
	Now         func() time.Time
	Logger      *slog.Logger
}

// Sandbox is the running emulators.
type Sandbox struct {
	DB       *sql.DB
	Issuance *issuance.Emulator
	Cashlink *cashlink.Emulator
	Firebase *firebase.Emulator
	Faults   *faults.Injector
	mux      *http.ServeMux
}

// Open opens sandbox.db and the emulators (generating or loading data on
// first start, keeping it across restarts).
func Open(ctx context.Context, cfg Config) (*Sandbox, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rules, err := faults.ParseRules(cfg.Faults)
	if err != nil {
		return nil, fmt.Errorf("-sandbox-faults: %w", err)
	}
	d, err := db.OpenRaw(ctx, filepath.Join(cfg.Dir, "sandbox.db"), db.SyncNormal)
	if err != nil {
		return nil, err
	}
	s := &Sandbox{DB: d, Firebase: firebase.New(cfg.TokenTTL, cfg.Now)}
	fail := func(err error) (*Sandbox, error) { d.Close(); return nil, err }
	s.Issuance, err = issuance.Open(ctx, d, issuance.Options{
		Seed: cfg.Seed, Investments: cfg.Investments, Fixture: cfg.Fixture, BrokenBoolIn: true, VerifyToken: s.Firebase.Verify,
		Now: cfg.Now, Logger: cfg.Logger.With("emulator", "issuance"),
	})
	if err != nil {
		return fail(fmt.Errorf("issuance emulator: %w", err))
	}
	// Cashlink's seeded investors are Issuance people, so an import can
	// match investors by e-mail.
	people, err := s.Issuance.People(ctx, 40)
	if err != nil {
		return fail(fmt.Errorf("issuance emulator: %w", err))
	}
	seed := make([]cashlink.SeedPerson, len(people))
	for i, p := range people {
		seed[i] = cashlink.SeedPerson{Email: p.Email, FirstName: p.FirstName, LastName: p.LastName}
	}
	// IdentifyOnCreate: investors the console creates are KYC-complete at
	// once (the console has no identification step; the real API wants one).
	s.Cashlink, err = cashlink.Open(ctx, d, cashlink.Options{TokenTTL: cfg.TokenTTL, CreditDelay: cfg.CreditDelay, People: seed,
		IdentifyOnCreate: true, Now: cfg.Now, Logger: cfg.Logger.With("emulator", "cashlink")})
	if err != nil {
		return fail(fmt.Errorf("cashlink emulator: %w", err))
	}
	s.Faults = faults.New(cfg.FaultSeed)
	s.Faults.Set(rules)
	s.Faults.SetTokenExpirer("cashlink", s.Cashlink.ExpireTokens)

	s.mux = http.NewServeMux()
	s.mux.Handle("/sandbox/issuance/", http.StripPrefix("/sandbox/issuance", s.Faults.Wrap("issuance", s.Issuance.Handler())))
	s.mux.Handle("GET /sandbox/issuance/_info", http.HandlerFunc(s.issuanceInfo))
	s.mux.Handle("/sandbox/firebase/", http.StripPrefix("/sandbox/firebase", s.Firebase.Handler()))
	s.mux.Handle("/sandbox/cashlink/_info", s.Cashlink.InfoHandler())
	s.mux.Handle("/sandbox/cashlink/", http.StripPrefix("/sandbox/cashlink", s.Faults.Wrap("cashlink", s.Cashlink.Handler())))
	if cfg.Control {
		s.mux.Handle("/sandbox/_control/", s.Faults.ControlHandler(s.Cashlink))
	}
	return s, nil
}

// Handler serves /sandbox/...
func (s *Sandbox) Handler() http.Handler { return s.mux }

// ReleaseHangs ends requests held by hang faults (before a server shutdown,
// which would otherwise wait for them).
func (s *Sandbox) ReleaseHangs() { s.Faults.Close() }

// Close releases requests held by hang faults and closes sandbox.db.
func (s *Sandbox) Close() error {
	s.Faults.Close()
	return errors.Join(s.DB.Close())
}

// IssuanceInfo is GET /sandbox/issuance/_info: the credentials a client
// needs to talk to the Issuance emulator as a real issuer would.
type IssuanceInfo struct {
	APIKey   string              `json:"api_key"` // sees every offering
	APIKeys  []issuance.KeyScope `json:"api_keys"`
	Firebase FirebaseInfo        `json:"firebase"`
}

// FirebaseInfo is what a client exchanges at /sandbox/firebase/v1/token
// for ID tokens (which live -sandbox-token-ttl).
type FirebaseInfo struct {
	APIKey       string `json:"api_key"`
	RefreshToken string `json:"refresh_token"`
	TokenURL     string `json:"token_url"` // relative to the console's root
}

func (s *Sandbox) issuanceInfo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(IssuanceInfo{APIKey: issuance.DefaultAPIKey, APIKeys: s.Issuance.APIKeys(),
		Firebase: FirebaseInfo{APIKey: firebase.DefaultAPIKey, RefreshToken: firebase.DefaultRefreshToken, TokenURL: "/sandbox/firebase/v1/token"}})
}
