package cashlink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"issuerconsole/db"
)

// The sandbox's credentials (design.md: a stable interface).
const DefaultClientID, DefaultClientSecret = "sandbox-client", "sandbox-secret"

//go:embed schema.sql
var schemaSQL string

// SeedPerson is a natural person to seed as a KYC-complete investor with a
// generic wallet, typically an Issuance investor, so the two emulators can
// be matched by e-mail.
type SeedPerson struct{ Email, FirstName, LastName string }

// Options configure the emulator. Zero values take the defaults.
type Options struct {
	ClientID, ClientSecret string        // "" = DefaultClientID, DefaultClientSecret
	TokenTTL               time.Duration // 0 = 1h
	CreditDelay            time.Duration // time from a credit (or redemption) to its outcome; 0 = 1s
	People                 []SeedPerson  // empty = DefaultPeople
	// IdentifyOnCreate makes investors created through the API KYC-complete
	// at once; by default they stay KYC pending until an identification is
	// posted (POST /v2/investors/{id}/identifications/).
	IdentifyOnCreate bool
	// IdempotencyRetention is how long a stored answer is replayed; 0 = for ever.
	IdempotencyRetention time.Duration
	Now                  func() time.Time
	Logger               *slog.Logger
}

// Redemption outcomes (the status a redemption reaches after processing).
const (
	OutcomeSuccess = "success"
	OutcomeFailed  = "failed"
	OutcomeUnknown = "unknown"
)

// Settings are the emulator's run-time knobs (the control endpoint's
// /cashlink/settings).
type Settings struct {
	// RedemptionOutcome is the status new redemptions reach after
	// processing: "success" (default), "failed" (units are given back) or
	// "unknown" (units stay taken).
	RedemptionOutcome string `json:"redemption_outcome"`
	// IdentifyOnCreate: see Options.
	IdentifyOnCreate bool `json:"identify_on_create"`
	// CreditDelay applies to credits and redemptions requested from now on.
	CreditDelay Duration `json:"credit_delay"`
	// TokenTTL applies to tokens issued from now on.
	TokenTTL Duration `json:"token_ttl"`
}

// Duration is a time.Duration that reads and writes JSON as "1.5s" (a JSON
// number is taken as nanoseconds).
type Duration time.Duration

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1.5s" or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration: want a string like \"1.5s\" or nanoseconds, got %s", b)
	}
	*d = Duration(n)
	return nil
}

// Emulator is the Cashlink Registry-as-a-Service emulator over its cl_*
// tables of the sandbox database.
type Emulator struct {
	db           *sql.DB
	clientID     string
	clientSecret string
	now          func() time.Time
	log          *slog.Logger
	retention    time.Duration

	mu       sync.Mutex
	settings Settings

	// beforeCreate, when set (tests only), runs inside every creating
	// request with a key, after its idempotency marker is written and before
	// the work: it lets a test hold a request in flight deterministically,
	// and an error it returns becomes a 500.
	beforeCreate func(path string) error
}

// Open migrates component "cashlink" in d, clears in-flight idempotency
// markers a crash may have left, and seeds products, campaigns and
// investors (each seeded record once: ids are derived from its name or
// e-mail, so later Opens only add what is new).
func Open(ctx context.Context, d *sql.DB, opts Options) (*Emulator, error) {
	if opts.ClientID == "" {
		opts.ClientID = DefaultClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = DefaultClientSecret
	}
	if opts.TokenTTL <= 0 {
		opts.TokenTTL = time.Hour
	}
	if opts.CreditDelay <= 0 {
		opts.CreditDelay = time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(opts.People) == 0 {
		opts.People = DefaultPeople
	}
	migs, err := db.ParseMigrations(schemaSQL)
	if err != nil {
		return nil, fmt.Errorf("cashlink schema: %w", err)
	}
	if err := db.Migrate(ctx, d, "cashlink", migs); err != nil {
		return nil, fmt.Errorf("cashlink: %w", err)
	}
	e := &Emulator{
		db: d, clientID: opts.ClientID, clientSecret: opts.ClientSecret,
		now: opts.Now, log: opts.Logger, retention: opts.IdempotencyRetention,
		settings: Settings{
			RedemptionOutcome: OutcomeSuccess, IdentifyOnCreate: opts.IdentifyOnCreate,
			CreditDelay: Duration(opts.CreditDelay), TokenTTL: Duration(opts.TokenTTL),
		},
	}
	res, err := d.ExecContext(ctx, `DELETE FROM cl_idempotency WHERE state = 'inflight'`)
	if err != nil {
		return nil, fmt.Errorf("cashlink: clearing in-flight idempotency markers: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		e.log.Warn("cashlink sandbox: cleared idempotency keys left in flight by an earlier run", "keys", n)
	}
	if err := e.seed(ctx, opts.People); err != nil {
		return nil, fmt.Errorf("cashlink: seeding: %w", err)
	}
	return e, nil
}

// Settings returns the current knobs.
func (e *Emulator) Settings() Settings {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.settings
}

// SetSettings replaces the knobs after checking them.
func (e *Emulator) SetSettings(s Settings) error {
	switch s.RedemptionOutcome {
	case OutcomeSuccess, OutcomeFailed, OutcomeUnknown:
	case "":
		s.RedemptionOutcome = OutcomeSuccess
	default:
		return fmt.Errorf("redemption_outcome %q: want success, failed or unknown", s.RedemptionOutcome)
	}
	if s.CreditDelay < 0 || s.TokenTTL <= 0 {
		return fmt.Errorf("credit_delay must be at least 0 and token_ttl above 0")
	}
	e.mu.Lock()
	e.settings = s
	e.mu.Unlock()
	return nil
}

// SetRedemptionOutcome sets the status new redemptions reach ("success",
// "failed" or "unknown").
func (e *Emulator) SetRedemptionOutcome(outcome string) error {
	s := e.Settings()
	s.RedemptionOutcome = outcome
	return e.SetSettings(s)
}

// ExpireTokens makes every token issued so far expired (the token-expiry
// fault); tokens issued afterwards are valid as usual.
func (e *Emulator) ExpireTokens(ctx context.Context) error {
	now := micros(e.now())
	if _, err := e.db.ExecContext(ctx, `UPDATE cl_tokens SET expires_at = ? WHERE expires_at > ?`, now, now); err != nil {
		return fmt.Errorf("cashlink: expiring tokens: %w", err)
	}
	return nil
}

// ErrNotFound is returned by the knob methods for an unknown id.
var ErrNotFound = errors.New("not found")

// KYC states of an investor.
const (
	KYCPending      = "PENDING"
	KYCSuccess      = "SUCCESS"
	KYCInsufficient = "INSUFFICIENT"
)

// SetInvestorKYC forces an investor's KYC state (PENDING, SUCCESS or
// INSUFFICIENT): its open investments then read KYC_PENDING or
// KYC_INSUFFICIENT.
func (e *Emulator) SetInvestorKYC(ctx context.Context, investorID, state string) error {
	switch state {
	case KYCPending, KYCSuccess, KYCInsufficient:
	default:
		return fmt.Errorf("kyc_status %q: want PENDING, SUCCESS or INSUFFICIENT", state)
	}
	res, err := e.db.ExecContext(ctx, `UPDATE cl_investors SET kyc_status = ? WHERE id = ?`, state, investorID)
	if err != nil {
		return fmt.Errorf("cashlink: setting KYC: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("investor %q: %w", investorID, ErrNotFound)
	}
	return nil
}

// ForcibleStatuses are the investment statuses the control endpoint can
// force (the others follow from the data: ACCEPTED, PAID, DELIVERED, ...).
var ForcibleStatuses = []string{StatusKYCPending, StatusReviewPending, StatusWaitingForAcceptance,
	StatusKYCInsufficient, StatusAbortion, StatusRejection, StatusCancellation, StatusPaymentMissing}

// ErrConflict is returned when a knob cannot apply to an object's state.
var ErrConflict = errors.New("conflict")

// SetInvestmentStatus forces an investment's status ("" lifts it). An
// investment whose credit was requested keeps its course.
func (e *Emulator) SetInvestmentStatus(ctx context.Context, investmentID, status string) error {
	if status != "" && !contains(ForcibleStatuses, status) {
		return fmt.Errorf("status %q: want one of %s or \"\"", status, strings.Join(ForcibleStatuses, ", "))
	}
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("cashlink: %w", err)
	}
	defer tx.Rollback()
	var credited sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT credit_requested_at FROM cl_investments WHERE id = ?`, investmentID).Scan(&credited)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("investment %q: %w", investmentID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("cashlink: %w", err)
	}
	if credited.Valid {
		return fmt.Errorf("investment %q: its credit was requested: %w", investmentID, ErrConflict)
	}
	var v any
	if status != "" {
		v = status
	}
	if _, err := tx.ExecContext(ctx, `UPDATE cl_investments SET forced_status = ?, updated_at = ? WHERE id = ?`, v, micros(e.now()), investmentID); err != nil {
		return fmt.Errorf("cashlink: %w", err)
	}
	return tx.Commit()
}

// Counts are what clients created (seeded records are not counted), for
// tests that prove "zero duplicates".
type Counts struct {
	Documents       int                       `json:"documents"`
	Investors       int                       `json:"investors"`
	Identifications int                       `json:"identifications"`
	Wallets         int                       `json:"wallets"`
	Investments     int                       `json:"investments"`
	Credits         int                       `json:"credits"`
	Redemptions     int                       `json:"redemptions"`
	IdempotencyKeys int                       `json:"idempotency_keys"` // stored answers
	PerInvestor     map[string]InvestorCounts `json:"per_investor"`     // investors with at least one of these
}

// InvestorCounts are one investor's created records.
type InvestorCounts struct {
	Wallets     int `json:"wallets"`
	Investments int `json:"investments"`
	Credits     int `json:"credits"`
	Redemptions int `json:"redemptions"`
	// UnitsInvested is the sum of the units of its investments.
	UnitsInvested int64 `json:"units_invested"`
}

// Counts counts the records clients created.
func (e *Emulator) Counts(ctx context.Context) (Counts, error) {
	var c Counts
	err := e.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM cl_documents),
		(SELECT count(*) FROM cl_investors WHERE seeded = 0),
		(SELECT count(*) FROM cl_identifications i JOIN cl_investors v ON v.id = i.investor_id WHERE v.seeded = 0),
		(SELECT count(*) FROM cl_wallets WHERE seeded = 0),
		(SELECT count(*) FROM cl_investments WHERE seeded = 0),
		(SELECT count(*) FROM cl_credits c JOIN cl_investments i ON i.id = c.investment_id WHERE i.seeded = 0),
		(SELECT count(*) FROM cl_redemptions),
		(SELECT count(*) FROM cl_idempotency WHERE state = 'done')`).
		Scan(&c.Documents, &c.Investors, &c.Identifications, &c.Wallets, &c.Investments, &c.Credits, &c.Redemptions, &c.IdempotencyKeys)
	if err != nil {
		return c, fmt.Errorf("cashlink counts: %w", err)
	}
	c.PerInvestor = map[string]InvestorCounts{}
	rows, err := e.db.QueryContext(ctx, `SELECT v.id,
		(SELECT count(*) FROM cl_wallets w WHERE w.investor_id = v.id AND w.seeded = 0),
		(SELECT count(*) FROM cl_investments i WHERE i.investor_id = v.id AND i.seeded = 0),
		(SELECT count(*) FROM cl_credits c JOIN cl_investments i ON i.id = c.investment_id WHERE i.investor_id = v.id AND i.seeded = 0),
		(SELECT count(*) FROM cl_redemptions r WHERE r.investor_id = v.id),
		(SELECT coalesce(sum(units), 0) FROM cl_investments i WHERE i.investor_id = v.id AND i.seeded = 0)
		FROM cl_investors v`)
	if err != nil {
		return c, fmt.Errorf("cashlink counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var ic InvestorCounts
		if err := rows.Scan(&id, &ic.Wallets, &ic.Investments, &ic.Credits, &ic.Redemptions, &ic.UnitsInvested); err != nil {
			return c, fmt.Errorf("cashlink counts: %w", err)
		}
		if ic != (InvestorCounts{}) {
			c.PerInvestor[id] = ic
		}
	}
	return c, rows.Err()
}

// micros is t in microseconds since the epoch (the stored time unit).
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// newID is a random UUID (version 4).
func newID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand: %v", err)) // never fails on Linux
	}
	return formatUUID(b)
}

// derivedID is a stable UUID for a seeded record, so its id is the same in
// every sandbox database.
func derivedID(name string) string {
	sum := sha256.Sum256([]byte("cashlink-sandbox:" + name))
	var b [16]byte
	copy(b[:], sum[:16])
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
