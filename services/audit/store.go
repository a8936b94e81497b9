// Package audit records every outbound API call the console makes, and the
// security events of the console itself, in an append-only, hash-chained
// table of console.db; it reads them back for the log page, the export and
// the chain verification.
//
// What is never stored, by construction: request and response headers other
// than a short allow-list (so no Authorization, cookies or tokens); secret
// fields of query strings, forms and JSON (see sanitize.go); the content of
// uploaded files (name, size and SHA-256 only); and Issuance read bodies,
// which are personal data (a summary of count and ids instead).
package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Kinds of rows.
const (
	KindCall  = "call"
	KindEvent = "event"
)

// Entry is one row of the log.
type Entry struct {
	ID                int64
	At                time.Time
	Kind              string
	API               string
	Method            string
	Path              string
	Status            int
	Duration          time.Duration
	Attempt           int
	IdempotencyKey    string
	Replayed          bool
	UpstreamRequestID string
	Error             string
	Actor             string
	Job               string
	Row               string
	Event             string
	Detail            string
	RequestBody       string
	ResponseBody      string
	PrevHash          []byte
	Hash              []byte
	// describeResponse, when set, gives ResponseBody as the row is written:
	// a read's answer is summarised by the background writer, off the
	// request's path (Transport). deferredBytes is the memory it holds.
	describeResponse func() string
	deferredBytes    int
}

// describe sets ResponseBody from describeResponse now. A policy that
// panics costs the row its summary, not the writer goroutine (which holds
// the writer lock) or the process.
func (e *Entry) describe() {
	if e.describeResponse == nil {
		return
	}
	f := e.describeResponse
	e.describeResponse, e.deferredBytes = nil, 0
	defer func() {
		if r := recover(); r != nil {
			e.ResponseBody = `{"summary":"failed"}`
		}
	}()
	e.ResponseBody = f()
}

// Failed reports whether a call got no answer or an error status.
func (e Entry) Failed() bool {
	return e.Kind == KindCall && (e.Status == 0 || e.Status >= 400) || e.Error != ""
}

// Store reads and appends log rows.
type Store struct {
	db  *sql.DB
	now func() time.Time
	mu  sync.Mutex // one writer at a time keeps the chain linear

	qmu sync.Mutex // guards q (writer.go)
	q   queue
}

// NewStore returns a store over console.db (already migrated).
func NewStore(db *sql.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

// genesis is the prev_hash of the first row.
var genesis = make([]byte, sha256.Size)

// canonical is the byte string a row's hash covers: every field, in a fixed
// order, each as name:length:value, so no two different rows encode alike.
func canonical(e *Entry) []byte {
	var b bytes.Buffer
	f := func(name, v string) {
		b.WriteString(name)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(len(v)))
		b.WriteByte(':')
		b.WriteString(v)
		b.WriteByte('\n')
	}
	i := func(name string, v int64) { f(name, strconv.FormatInt(v, 10)) }
	i("id", e.ID)
	i("at", e.At.UnixMilli())
	f("kind", e.Kind)
	f("api", e.API)
	f("method", e.Method)
	f("path", e.Path)
	i("status", int64(e.Status))
	i("duration_ms", e.Duration.Milliseconds())
	i("attempt", int64(e.Attempt))
	f("idem_key", e.IdempotencyKey)
	f("replayed", strconv.FormatBool(e.Replayed))
	f("upstream_request_id", e.UpstreamRequestID)
	f("error", e.Error)
	f("actor", e.Actor)
	f("job", e.Job)
	f("row_ref", e.Row)
	f("event", e.Event)
	f("detail", e.Detail)
	f("request_body", e.RequestBody)
	f("response_body", e.ResponseBody)
	return b.Bytes()
}

func chainHash(prev []byte, e *Entry) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(canonical(e))
	return h.Sum(nil)
}

// Append writes e as the next row of the chain, durably (the database runs
// with synchronous=FULL), after the rows queued before it (writer.go), and
// returns it with its id and hashes. The caller treats an error as "this
// call is not audited" and fails the call.
func (s *Store) Append(ctx context.Context, e Entry) (Entry, error) {
	// The row must be written even when the request's context is gone (a
	// timeout is exactly what needs recording), but not wait forever.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		e, err = s.appendTx(ctx, tx, e)
		return err
	})
	return e, err
}

// appendTx links e to the chain head inside tx (the caller holds s.mu).
func (s *Store) appendTx(ctx context.Context, tx *sql.Tx, e Entry) (Entry, error) {
	out, err := s.appendRows(ctx, tx, []Entry{e})
	if err != nil {
		return e, err
	}
	return out[0], nil
}

// appendRows links es, in order, to the chain head inside tx (the caller
// holds s.mu): the head is read once and the insert prepared once, however
// many rows a group commit brings. Every string field is capped first
// (limits.go). es is updated in place and returned.
func (s *Store) appendRows(ctx context.Context, tx *sql.Tx, es []Entry) ([]Entry, error) {
	var lastID, lastAt int64
	prev := genesis
	err := tx.QueryRowContext(ctx, `SELECT id, at, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&lastID, &lastAt, &prev)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return es, fmt.Errorf("audit append: read chain head: %w", err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO audit_log (id, at, kind, api, method, path, status, duration_ms, attempt,
		idem_key, replayed, upstream_request_id, error, actor, job, row_ref, event, detail, request_body, response_body, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return es, fmt.Errorf("audit append: %w", err)
	}
	defer ins.Close()
	for i := range es {
		e := &es[i]
		if e.At.IsZero() {
			e.At = s.now()
		}
		e.At = e.At.UTC().Truncate(time.Millisecond)
		if e.Kind == "" {
			e.Kind = KindCall
		}
		if e.Actor == "" {
			e.Actor = ActorSystem
		}
		if e.describeResponse != nil {
			s.q.deferred.Add(-int64(e.deferredBytes))
			e.describe()
		}
		capFields(e)
		// Times never go backwards in the log, even if the clock does: a
		// time range can then be searched as an id range.
		if e.At.UnixMilli() < lastAt {
			e.At = time.UnixMilli(lastAt).UTC()
		}
		e.ID = lastID + 1
		e.PrevHash = prev
		e.Hash = chainHash(prev, e)
		_, err = ins.ExecContext(ctx, e.ID, e.At.UnixMilli(), e.Kind, e.API, e.Method, e.Path, e.Status, e.Duration.Milliseconds(), e.Attempt,
			e.IdempotencyKey, e.Replayed, e.UpstreamRequestID, e.Error, e.Actor, e.Job, e.Row, e.Event, e.Detail,
			e.RequestBody, e.ResponseBody, e.PrevHash, e.Hash)
		if err != nil {
			return es, fmt.Errorf("audit append: %w", err)
		}
		lastID, lastAt, prev = e.ID, e.At.UnixMilli(), e.Hash
	}
	return es, nil
}

// Security events.
const (
	EventLogin            = "login"
	EventLoginFailed      = "login_failed"
	EventLoginThrottled   = "login_throttled"
	EventLoginSummary     = "login_failed_summary" // folded failed and throttled sign-ins of a window (signins.go)
	EventLogout           = "logout"
	EventUserCreated      = "user_created"
	EventRoleChanged      = "role_changed"
	EventUserDisabled     = "user_disabled"
	EventUserEnabled      = "user_enabled"
	EventSetupCompleted   = "setup_completed"
	EventImportStarted    = "import_started"
	EventCreditConfirmed  = "credit_confirmed"
	EventImportPaused     = "import_paused"
	EventImportCancelled  = "import_cancelled"
	EventImportRemapped   = "import_remapped"
	EventRedemption       = "redemption"
	EventConnectionTested = "connection_tested"
	EventPasswordChanged  = "password_changed"
	EventPasswordReset    = "password_reset"
	Event2FAEnrolled      = "2fa_enrolled"
	Event2FARemoved       = "2fa_removed"
	EventRecoveryCodeUsed = "recovery_code_used"
)

// Security events about Issuance users changed from the console (the
// passwords themselves are never recorded).
const (
	EventIssuanceUserCreated         = "issuance_user_created"
	EventIssuanceUserEmailChanged    = "issuance_user_email_changed"
	EventIssuanceUserPasswordChanged = "issuance_user_password_changed"
)

// Event records a security event. The actor is taken from ctx unless given.
func (s *Store) Event(ctx context.Context, event, actor, detail string) error {
	if actor == "" {
		actor = ActorFrom(ctx)
	}
	job, row := JobFrom(ctx)
	_, err := s.Append(ctx, Entry{Kind: KindEvent, Event: event, Actor: actor, Detail: detail, Job: job, Row: row})
	return err
}

const entryCols = `id, at, kind, api, method, path, status, duration_ms, attempt, idem_key, replayed,
	upstream_request_id, error, actor, job, row_ref, event, detail, request_body, response_body, prev_hash, hash`

func scanEntry(row interface{ Scan(...any) error }) (Entry, error) {
	var e Entry
	var at, dur int64
	err := row.Scan(&e.ID, &at, &e.Kind, &e.API, &e.Method, &e.Path, &e.Status, &dur, &e.Attempt, &e.IdempotencyKey,
		&e.Replayed, &e.UpstreamRequestID, &e.Error, &e.Actor, &e.Job, &e.Row, &e.Event, &e.Detail,
		&e.RequestBody, &e.ResponseBody, &e.PrevHash, &e.Hash)
	e.At = time.UnixMilli(at).UTC()
	e.Duration = time.Duration(dur) * time.Millisecond
	return e, err
}

// ErrNotFound is returned for an unknown row id.
var ErrNotFound = errors.New("audit entry not found")

// Get returns one row.
func (s *Store) Get(ctx context.Context, id int64) (Entry, error) {
	if err := s.flushForRead(ctx); err != nil {
		return Entry{}, err
	}
	e, err := scanEntry(s.db.QueryRowContext(ctx, `SELECT `+entryCols+` FROM audit_log WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, ErrNotFound
	}
	if err != nil {
		return Entry{}, fmt.Errorf("audit get %d: %w", id, err)
	}
	return e, nil
}

// Head returns the newest row's id and hash (0 and the genesis hash when empty).
func (s *Store) Head(ctx context.Context) (int64, []byte, error) {
	if err := s.flushForRead(ctx); err != nil {
		return 0, nil, err
	}
	var id int64
	h := genesis
	err := s.db.QueryRowContext(ctx, `SELECT id, hash FROM audit_log ORDER BY id DESC LIMIT 1`).Scan(&id, &h)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, nil, fmt.Errorf("audit head: %w", err)
	}
	return id, h, nil
}

// VerifyResult is the outcome of recomputing the chain.
type VerifyResult struct {
	Rows     int64
	Intact   bool
	BrokenID int64  // first row whose hash or link does not match, or the first row after the last good checkpoint
	Reason   string // what did not match
	HeadID   int64
	Head     []byte

	// Against signed checkpoints (VerifyAnchored):
	Anchored    bool      // checkpoints were checked with a public key
	Checkpoints int       // checkpoints with a good signature
	BadSigs     int       // checkpoints whose signature does not verify (ignored)
	AnchorRow   int64     // row of the last checkpoint that matches the chain
	AnchorAt    time.Time // and when it was written
}

// Verify recomputes every row's hash from the first row on, streaming (so it
// runs in constant memory), and names the first row that does not match.
// Deleting the newest rows, or rewriting a row and recomputing every hash
// after it, cannot be seen from inside the chain: VerifyAnchored checks
// against signed checkpoints too.
func (s *Store) Verify(ctx context.Context) (VerifyResult, error) {
	res, _, err := s.verify(ctx, nil)
	return res, err
}

// VerifyAnchored verifies the chain, then checks it against every
// checkpoint signed with pub (others are counted and ignored): each one's
// row must exist and have the signed hash. A missing row means the tail was
// cut off; another hash means the chain was rewritten. Either way the first
// row after the last checkpoint that still matches is named.
func (s *Store) VerifyAnchored(ctx context.Context, cps []Checkpoint, pub ed25519.PublicKey) (VerifyResult, error) {
	var good []Checkpoint
	want := map[int64]bool{}
	bad := 0
	for _, c := range cps {
		if !c.Valid(pub) {
			bad++
			continue
		}
		good = append(good, c)
		want[c.Row] = true
	}
	res, seen, err := s.verify(ctx, want)
	if err != nil {
		return res, err
	}
	res.Anchored, res.Checkpoints, res.BadSigs = true, len(good), bad
	if !res.Intact {
		return res, nil
	}
	if len(good) == 0 && res.Rows > 0 {
		// The console anchors the log from its first start on: a log with
		// rows and no checkpoint signed by its key lost its checkpoint file.
		res.Intact, res.BrokenID = false, 1
		res.Reason = "no checkpoint signed with this key was found (the checkpoint file was deleted or replaced): a cut-off tail or a rewritten chain cannot be ruled out"
		return res, nil
	}
	for _, c := range good {
		h, ok := seen[c.Row]
		if c.Row == 0 {
			h, ok = genesis, true
		}
		at := c.At.Format("2006-01-02 15:04:05 UTC")
		switch {
		case !ok:
			res.Intact, res.BrokenID = false, res.AnchorRow+1
			res.Reason = fmt.Sprintf("the log ends at row %d, but the checkpoint signed %s saw row %d: rows were removed from the end after row %d (the last good checkpoint)",
				res.HeadID, at, c.Row, res.AnchorRow)
		case hex.EncodeToString(h) != c.Hash:
			res.Intact, res.BrokenID = false, res.AnchorRow+1
			res.Reason = fmt.Sprintf("row %d's hash differs from the one signed %s: the chain was rewritten after row %d (the last good checkpoint)",
				c.Row, at, res.AnchorRow)
		}
		if !res.Intact {
			return res, nil
		}
		res.AnchorRow, res.AnchorAt = c.Row, c.At
	}
	return res, nil
}

// verify walks the chain and keeps the hashes of the rows in want.
func (s *Store) verify(ctx context.Context, want map[int64]bool) (VerifyResult, map[int64][]byte, error) {
	if err := s.flushForRead(ctx); err != nil {
		return VerifyResult{}, nil, err
	}
	seen := map[int64][]byte{}
	rows, err := s.db.QueryContext(ctx, `SELECT `+entryCols+` FROM audit_log ORDER BY id`)
	if err != nil {
		return VerifyResult{}, nil, fmt.Errorf("audit verify: %w", err)
	}
	defer rows.Close()
	res := VerifyResult{Intact: true, Head: genesis}
	prev := genesis
	var prevID int64
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return res, nil, fmt.Errorf("audit verify: %w", err)
		}
		res.Rows++
		switch {
		case e.ID != prevID+1:
			res.Intact, res.BrokenID, res.Reason = false, e.ID, fmt.Sprintf("row %d follows row %d: rows are missing", e.ID, prevID)
		case !bytes.Equal(e.PrevHash, prev):
			res.Intact, res.BrokenID, res.Reason = false, e.ID, "its link to the previous row does not match (a row before it was changed or removed)"
		case !bytes.Equal(e.Hash, chainHash(prev, &e)):
			res.Intact, res.BrokenID, res.Reason = false, e.ID, "its content does not match its hash (the row was changed)"
		}
		if !res.Intact {
			return res, seen, nil
		}
		if want[e.ID] {
			seen[e.ID] = e.Hash
		}
		prev, prevID = e.Hash, e.ID
		res.HeadID, res.Head = e.ID, e.Hash
	}
	return res, seen, rows.Err()
}
