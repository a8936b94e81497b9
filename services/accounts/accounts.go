// Package accounts holds the console's users, their roles and passwords, and
// the server-side bookkeeping of their sessions.
//
// Sessions: the browser holds a random session id inside an encrypted,
// signed cookie; the database holds only its SHA-256 with the user, the
// start time and the last activity. Every request resolves the id here, so
// disabling a user, an idle timeout or the absolute lifetime end a session at
// once, whatever the cookie says.
package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Role is what a user may do. Admins change things; auditors read, verify
// and export.
type Role string

const (
	RoleAdmin   Role = "admin"
	RoleAuditor Role = "auditor"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleAdmin || r == RoleAuditor }

// Roles lists the roles in display order.
var Roles = []Role{RoleAdmin, RoleAuditor}

// User is a console account. The password hash never leaves this package.
type User struct {
	ID        int64
	Email     string
	Name      string
	Role      Role
	Disabled  bool
	CreatedAt time.Time
	LastSeen  time.Time // latest session activity; zero if never signed in
	// MustChangePassword is set by an admin's reset: the user changes the
	// password before anything else.
	MustChangePassword bool
	TwoFactor          bool // a TOTP second factor is enrolled
}

// IsAdmin reports whether the user may change things.
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

// Display is the name to show, falling back to the e-mail address.
func (u User) Display() string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

var (
	ErrNotFound       = errors.New("user not found")
	ErrBadCredentials = errors.New("e-mail or password is wrong")
	ErrNoSession      = errors.New("not signed in")
	ErrSessionExpired = errors.New("session expired")
	ErrLastAdmin      = errors.New("this is the last active admin: make another user admin first")
	ErrSelf           = errors.New("you cannot disable or demote your own account")
)

// ValidationError maps form fields to what is wrong with them.
type ValidationError struct{ Fields map[string]string }

func (e *ValidationError) Error() string {
	parts := make([]string, 0, len(e.Fields))
	for k, v := range e.Fields {
		parts = append(parts, k+": "+v)
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Options configure the service.
type Options struct {
	SessionIdle     time.Duration // sign out after this long without activity
	SessionLifetime time.Duration // sign out this long after sign-in
	BcryptCost      int           // 0 = bcrypt.DefaultCost+2 (12)
	Now             func() time.Time
	// ActorKey keys the hash that stands for an unknown e-mail in the
	// audit log (SignInActor). Required outside tests.
	ActorKey []byte
	// SecretKey seals TOTP secrets in the database (AES-256-GCM, 32 bytes).
	SecretKey []byte
}

// Service manages users and sessions in console.db.
type Service struct {
	db        *sql.DB
	idle      time.Duration
	lifetime  time.Duration
	cost      int
	now       func() time.Time
	dummyHash func() []byte // compared against for unknown e-mails, so timing does not reveal accounts
	actorKey  []byte
	secretKey []byte

	// resolve is ResolveSession's query, prepared on first use and kept:
	// every request resolves its session, and preparing the join each
	// time was half of the query's cost.
	resolveMu sync.Mutex
	resolve   *sql.Stmt
}

const resolveQuery = `SELECT s.created_at, s.last_seen_at, ` + userCols + `
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = ?`

func (s *Service) resolveStmt(ctx context.Context) (*sql.Stmt, error) {
	s.resolveMu.Lock()
	defer s.resolveMu.Unlock()
	if s.resolve == nil {
		st, err := s.db.PrepareContext(ctx, resolveQuery)
		if err != nil {
			return nil, err
		}
		s.resolve = st
	}
	return s.resolve, nil
}

// dummyPassword and defaultDummyHash: a bcrypt hash at the production cost
// of a password nobody has, computed once ahead of time so that starting
// the console costs no bcrypt work. Other costs (tests) hash on first use.
const (
	dummyPassword    = "not a real password, timing only"
	defaultDummyHash = "$2a$12$K3ORvWvpIRklLbfq4RRyDO14UTIOp/y/s1k.QyFu6yVjjcZPCV/li"
)

// New returns a Service over the console database.
func New(db *sql.DB, opts Options) (*Service, error) {
	s := &Service{db: db, idle: opts.SessionIdle, lifetime: opts.SessionLifetime, cost: opts.BcryptCost, now: opts.Now, actorKey: opts.ActorKey, secretKey: opts.SecretKey}
	if s.cost == 0 {
		s.cost = bcrypt.DefaultCost + 2
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.idle <= 0 {
		s.idle = 30 * time.Minute
	}
	if s.lifetime <= 0 {
		s.lifetime = 12 * time.Hour
	}
	if s.cost < bcrypt.MinCost || s.cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("accounts: bcrypt cost %d is outside %d to %d", s.cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if c, _ := bcrypt.Cost([]byte(defaultDummyHash)); c == s.cost {
		s.dummyHash = func() []byte { return []byte(defaultDummyHash) }
	} else {
		s.dummyHash = sync.OnceValue(func() []byte {
			h, _ := bcrypt.GenerateFromPassword([]byte(dummyPassword), s.cost) // the cost was checked above
			return h
		})
	}
	return s, nil
}

// SessionIdle and SessionLifetime expose the configured limits (shown to users).
func (s *Service) SessionIdle() time.Duration     { return s.idle }
func (s *Service) SessionLifetime() time.Duration { return s.lifetime }

// NewUser is the input for Create.
type NewUser struct {
	Email    string
	Name     string
	Role     Role
	Password string
}

// PasswordRules explains the policy to users.
const PasswordRules = "at least 12 characters, at most 72 bytes"

func checkPassword(p string) string {
	switch {
	case utf8.RuneCountInString(p) < 12:
		return "Use at least 12 characters."
	case len(p) > 72:
		return "Use at most 72 bytes (bcrypt ignores anything longer)."
	}
	return ""
}

func normalizeEmail(e string) (string, string) {
	e = strings.TrimSpace(e)
	if e == "" {
		return "", "Enter an e-mail address."
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return e, "Enter an e-mail address like name@example.com."
	}
	return e, ""
}

// Validate checks a NewUser and returns field problems (nil when valid).
func (n *NewUser) Validate() *ValidationError {
	f := map[string]string{}
	var msg string
	if n.Email, msg = normalizeEmail(n.Email); msg != "" {
		f["email"] = msg
	}
	n.Name = strings.TrimSpace(n.Name)
	if utf8.RuneCountInString(n.Name) > 100 {
		f["name"] = "Use at most 100 characters."
	}
	if !n.Role.Valid() {
		f["role"] = "Choose admin or auditor."
	}
	if m := checkPassword(n.Password); m != "" {
		f["password"] = m
	}
	if len(f) == 0 {
		return nil
	}
	return &ValidationError{Fields: f}
}

func ms(t time.Time) int64 { return t.UTC().UnixMilli() }

func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

// Create adds a user. A duplicate e-mail is a validation error on "email".
func (s *Service) Create(ctx context.Context, n NewUser) (User, error) {
	if verr := n.Validate(); verr != nil {
		return User{}, verr
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(n.Password), s.cost)
	if err != nil {
		return User{}, fmt.Errorf("hash password: %w", err)
	}
	now := ms(s.now())
	res, err := s.db.ExecContext(ctx, `INSERT INTO users (email, name, password_hash, role, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`, n.Email, n.Name, string(hash), string(n.Role), now, now)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE constraint failed: users.email") {
			return User{}, &ValidationError{Fields: map[string]string{"email": "A user with this e-mail already exists."}}
		}
		return User{}, fmt.Errorf("create user: %w", err)
	}
	id, _ := res.LastInsertId()
	return s.Get(ctx, id)
}

// Count returns the number of users.
func (s *Service) Count(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM users`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// CreateFirstAdmin creates an admin only while no user exists, atomically,
// so two racing setup requests cannot both succeed. It reports false when a
// user already existed.
func (s *Service) CreateFirstAdmin(ctx context.Context, n NewUser) (User, bool, error) {
	n.Role = RoleAdmin
	if verr := n.Validate(); verr != nil {
		return User{}, false, verr
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(n.Password), s.cost)
	if err != nil {
		return User{}, false, fmt.Errorf("hash password: %w", err)
	}
	now := ms(s.now())
	res, err := s.db.ExecContext(ctx, `INSERT INTO users (email, name, password_hash, role, created_at, updated_at)
		SELECT ?, ?, ?, 'admin', ?, ? WHERE NOT EXISTS (SELECT 1 FROM users)`, n.Email, n.Name, string(hash), now, now)
	if err != nil {
		return User{}, false, fmt.Errorf("create first admin: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return User{}, false, nil
	}
	id, _ := res.LastInsertId()
	u, err := s.Get(ctx, id)
	return u, err == nil, err
}

const userCols = `u.id, u.email, u.name, u.role, u.disabled_at, u.created_at,
	(SELECT max(last_seen_at) FROM sessions s WHERE s.user_id = u.id), u.must_change_password, u.totp_secret <> ''`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var role string
	var disabled, lastSeen sql.NullInt64
	var created int64
	if err := row.Scan(&u.ID, &u.Email, &u.Name, &role, &disabled, &created, &lastSeen, &u.MustChangePassword, &u.TwoFactor); err != nil {
		return User{}, err
	}
	u.Role = Role(role)
	u.Disabled = disabled.Valid
	u.CreatedAt = time.UnixMilli(created).UTC()
	u.LastSeen = fromMS(lastSeen)
	return u, nil
}

// Get returns one user.
func (s *Service) Get(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %d: %w", id, err)
	}
	return u, nil
}

// List returns every user, admins first, then by e-mail.
func (s *Service) List(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users u ORDER BY u.role = 'admin' DESC, u.email`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// Authenticate checks an e-mail and password. Unknown e-mails, wrong
// passwords and disabled accounts all give ErrBadCredentials after the same
// bcrypt work, so the answer does not reveal which accounts exist.
func (s *Service) Authenticate(ctx context.Context, email, password string) (User, error) {
	email = strings.TrimSpace(email)
	var id int64
	var hash string
	var disabled sql.NullInt64
	err := s.db.QueryRowContext(ctx, `SELECT id, password_hash, disabled_at FROM users WHERE email = ?`, email).Scan(&id, &hash, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(password))
		return User{}, ErrBadCredentials
	}
	if err != nil {
		return User{}, fmt.Errorf("authenticate: %w", err)
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || disabled.Valid {
		return User{}, ErrBadCredentials
	}
	return s.Get(ctx, id)
}

// UnknownEmail starts the audit actor of a failed sign-in whose e-mail names
// no user.
const UnknownEmail = "unknown e-mail"

// maxEmail is the longest e-mail address a user can have (RFC 5321 path).
const maxEmail = 254

// SignInActor is what the audit log records as the actor of a failed
// sign-in: the user's e-mail when what was typed names an existing user,
// otherwise a marker and a keyed hash (HMAC-SHA256, key from keys.json) of
// the typed text. Repeated attempts with the same text can then be
// correlated, but a password typed into the e-mail field, or 5 MB of junk,
// is never stored. known reports whether the e-mail names a user.
func (s *Service) SignInActor(ctx context.Context, typed string) (actor string, known bool) {
	typed = strings.TrimSpace(typed)
	if typed != "" && len(typed) <= maxEmail {
		var email string
		if err := s.db.QueryRowContext(ctx, `SELECT email FROM users WHERE email = ?`, typed).Scan(&email); err == nil {
			return email, true
		}
	}
	m := hmac.New(sha256.New, s.actorKey)
	if len(typed) <= maxEmail {
		m.Write([]byte(strings.ToLower(typed))) // the same address in any case is one actor
	} else {
		// No e-mail is this long: its first KB and length identify the junk
		// well enough, and hashing megabytes per request would be a lever.
		fmt.Fprintf(m, "%d:%s", len(typed), typed[:1024])
	}
	return UnknownEmail + " #" + hex.EncodeToString(m.Sum(nil)[:8]), false
}

// SetRole changes a user's role. The last active admin cannot be demoted and
// nobody demotes themselves (so an admin cannot lock the console by accident).
func (s *Service) SetRole(ctx context.Context, actorID, id int64, role Role) (User, error) {
	if !role.Valid() {
		return User{}, &ValidationError{Fields: map[string]string{"role": "Choose admin or auditor."}}
	}
	if actorID == id && role != RoleAdmin {
		return User{}, ErrSelf
	}
	return s.update(ctx, id, func(tx *sql.Tx, u User) error {
		if u.Role == RoleAdmin && role != RoleAdmin && !u.Disabled {
			if err := s.requireOtherAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE users SET role = ?, updated_at = ? WHERE id = ?`, string(role), ms(s.now()), id)
		return err
	})
}

// SetDisabled disables or re-enables a user. Disabling ends every session
// of the user in the same transaction.
func (s *Service) SetDisabled(ctx context.Context, actorID, id int64, disabled bool) (User, error) {
	if actorID == id && disabled {
		return User{}, ErrSelf
	}
	return s.update(ctx, id, func(tx *sql.Tx, u User) error {
		now := ms(s.now())
		if !disabled {
			_, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = NULL, updated_at = ? WHERE id = ?`, now, id)
			return err
		}
		if u.Role == RoleAdmin && !u.Disabled {
			if err := s.requireOtherAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET disabled_at = coalesce(disabled_at, ?), updated_at = ? WHERE id = ?`, now, now, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id)
		return err
	})
}

func (s *Service) requireOtherAdmin(ctx context.Context, tx *sql.Tx, id int64) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> ?`, id).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return ErrLastAdmin
	}
	return nil
}

func (s *Service) update(ctx context.Context, id int64, fn func(*sql.Tx, User) error) (User, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return User{}, fmt.Errorf("update user %d: %w", id, err)
	}
	defer tx.Rollback()
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, ErrNotFound
	}
	if err != nil {
		return User{}, fmt.Errorf("update user %d: %w", id, err)
	}
	if err := fn(tx, u); err != nil {
		if errors.Is(err, ErrLastAdmin) {
			return User{}, err
		}
		return User{}, fmt.Errorf("update user %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return User{}, fmt.Errorf("update user %d: %w", id, err)
	}
	return s.Get(ctx, id)
}

// Session describes a signed-in session.
type Session struct {
	UserID    int64
	CreatedAt time.Time
	LastSeen  time.Time
}

func hashID(raw string) []byte {
	h := sha256.Sum256([]byte(raw))
	return h[:]
}

// StartSession records a new session for the user and returns its id, to be
// kept only in the encrypted cookie. Each sign-in gets a fresh id.
func (s *Service) StartSession(ctx context.Context, userID int64, clientAddr, userAgent string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("session id: %w", err)
	}
	raw := base64.RawURLEncoding.EncodeToString(b)
	if len(userAgent) > 300 {
		userAgent = userAgent[:300]
	}
	now := ms(s.now())
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (id_hash, user_id, created_at, last_seen_at, client_addr, user_agent)
		VALUES (?, ?, ?, ?, ?, ?)`, hashID(raw), userID, now, now, clientAddr, userAgent)
	if err != nil {
		return "", fmt.Errorf("start session: %w", err)
	}
	return raw, nil
}

// touchEvery limits last-activity writes to one a minute per session.
const touchEvery = time.Minute

// ResolveSession returns the user of a session id, checking the idle timeout,
// the absolute lifetime and that the user is still enabled. An expired
// session is deleted and reported as ErrSessionExpired.
func (s *Service) ResolveSession(ctx context.Context, raw string) (User, Session, error) {
	if raw == "" {
		return User{}, Session{}, ErrNoSession
	}
	id := hashID(raw)
	var sess Session
	var created, seen int64
	// The session and its user in one query: every request resolves one.
	st, err := s.resolveStmt(ctx)
	if err != nil {
		return User{}, Session{}, fmt.Errorf("resolve session: %w", err)
	}
	u, err := scanUser(prefixScan{st.QueryRowContext(ctx, id), []any{&created, &seen}})
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, Session{}, ErrNoSession
	}
	if err != nil {
		return User{}, Session{}, fmt.Errorf("resolve session: %w", err)
	}
	sess.UserID = u.ID
	sess.CreatedAt, sess.LastSeen = time.UnixMilli(created).UTC(), time.UnixMilli(seen).UTC()
	now := s.now()
	if u.Disabled {
		s.EndSession(ctx, raw)
		return User{}, Session{}, ErrNoSession
	}
	// last_seen_at is written at most once per touchEvery, so the last
	// request may have come up to touchEvery after it: the idle limit
	// counts from there, and never ends an active session early (at most
	// touchEvery late instead).
	if now.Sub(sess.LastSeen) > s.idle+touchEvery || now.Sub(sess.CreatedAt) > s.lifetime {
		s.EndSession(ctx, raw)
		return User{}, Session{}, ErrSessionExpired
	}
	if now.Sub(sess.LastSeen) >= touchEvery {
		if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?`, ms(now), id); err != nil {
			return User{}, Session{}, fmt.Errorf("touch session: %w", err)
		}
		sess.LastSeen = now
		if now.UnixMilli() > u.LastSeen.UnixMilli() {
			u.LastSeen = time.UnixMilli(ms(now)).UTC()
		}
	}
	return u, sess, nil
}

// prefixScan scans leading columns into pre, the rest into Scan's dest.
type prefixScan struct {
	row *sql.Row
	pre []any
}

func (p prefixScan) Scan(dest ...any) error { return p.row.Scan(append(p.pre, dest...)...) }

// EndSession deletes a session (sign-out). Unknown ids are ignored.
func (s *Service) EndSession(ctx context.Context, raw string) error {
	if raw == "" {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, hashID(raw)); err != nil {
		return fmt.Errorf("end session: %w", err)
	}
	return nil
}

// PurgeExpiredSessions deletes sessions past their idle or absolute limit.
func (s *Service) PurgeExpiredSessions(ctx context.Context) (int64, error) {
	now := s.now()
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE last_seen_at < ? OR created_at < ?`,
		ms(now.Add(-s.idle-touchEvery)), ms(now.Add(-s.lifetime)))
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	return res.RowsAffected()
}
