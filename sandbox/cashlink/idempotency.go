package cashlink

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// IdempotencyHeader is the request header that carries the key.
const IdempotencyHeader = "X-Idempotency-Key"

// ReplayedHeader marks a replayed answer.
const ReplayedHeader = "Idempotent-Replayed"

const maxKeyLen = 255

// serveIdempotent runs a creating endpoint under its idempotency key:
//
//   - no key: the request is processed and nothing is stored;
//   - a new key: an in-flight marker is committed, then the work and the
//     stored answer commit in one transaction (so a crash can never leave
//     work done without its answer); a 5xx rolls both back and drops the
//     marker, so a retry can succeed;
//   - a known key with another request content (requestFingerprint: the
//     parts of an upload, the parsed JSON value; not the framing): 422; with the same body while the
//     first request is still in flight: 409; once done: the stored answer,
//     byte-for-byte, with Idempotent-Replayed: true.
func (e *Emulator) serveIdempotent(w http.ResponseWriter, rq *request, m method) {
	r := rq.r
	key := r.Header.Get(IdempotencyHeader)
	if key == "" {
		write(w, e.run(rq, m, nil))
		return
	}
	if len(key) > maxKeyLen || strings.TrimSpace(key) != key {
		write(w, detail(http.StatusBadRequest, fmt.Sprintf("%s must be 1 to %d characters without leading or trailing spaces.", IdempotencyHeader, maxKeyLen)))
		return
	}
	ctx := rq.ctx
	id := idemID{client: rq.clientID, method: r.Method, path: r.URL.Path, key: key}
	fp := requestFingerprint(r.Header.Get("Content-Type"), rq.body)
	stored, claimed, err := e.claimKey(ctx, id, fp)
	if err != nil {
		write(w, e.failure(r, err))
		return
	}
	if !claimed {
		switch {
		case !bytes.Equal(stored.fingerprint, fp):
			write(w, detail(http.StatusUnprocessableEntity, fmt.Sprintf(
				"This %s was already used with a different request body; use a new key for a different request.", IdempotencyHeader)))
		case stored.state == "inflight":
			write(w, detail(http.StatusConflict, fmt.Sprintf(
				"A request with this %s is still being processed; retry later.", IdempotencyHeader)))
		default:
			w.Header().Set(ReplayedHeader, "true")
			write(w, stored.answer)
		}
		return
	}
	done := false
	defer func() {
		if !done { // a panic or a 5xx: the key is free again
			if _, err := e.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM cl_idempotency
				WHERE client_id = ? AND method = ? AND path = ? AND key = ? AND state = 'inflight'`,
				id.client, id.method, id.path, id.key); err != nil {
				e.log.Error("cashlink sandbox: releasing an idempotency key", "err", err)
			}
		}
	}()
	var a answer
	if e.beforeCreate != nil {
		if err := e.beforeCreate(r.URL.Path); err != nil {
			a = e.failure(r, err)
		}
	}
	if a.status == 0 {
		a = e.run(rq, m, &id)
	}
	done = a.status < 500
	write(w, a)
}

type idemID struct{ client, method, path, key string }

type storedAnswer struct {
	fingerprint []byte
	state       string
	answer
}

// claimKey writes the in-flight marker for a new key (claimed) or returns
// the stored row of a known one. An expired stored answer is dropped first.
func (e *Emulator) claimKey(ctx context.Context, id idemID, fp []byte) (storedAnswer, bool, error) {
	now := micros(e.now())
	if e.retention > 0 {
		if _, err := e.db.ExecContext(ctx, `DELETE FROM cl_idempotency WHERE client_id = ? AND method = ? AND path = ? AND key = ?
			AND state = 'done' AND created_at < ?`, id.client, id.method, id.path, id.key, now-e.retention.Microseconds()); err != nil {
			return storedAnswer{}, false, fmt.Errorf("idempotency: %w", err)
		}
	}
	res, err := e.db.ExecContext(ctx, `INSERT INTO cl_idempotency (client_id, method, path, key, fingerprint, state, created_at)
		VALUES (?, ?, ?, ?, ?, 'inflight', ?) ON CONFLICT DO NOTHING`, id.client, id.method, id.path, id.key, fp, now)
	if err != nil {
		return storedAnswer{}, false, fmt.Errorf("idempotency: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return storedAnswer{}, true, nil
	}
	var s storedAnswer
	err = e.db.QueryRowContext(ctx, `SELECT fingerprint, state, status, content_type, location, body FROM cl_idempotency
		WHERE client_id = ? AND method = ? AND path = ? AND key = ?`, id.client, id.method, id.path, id.key).
		Scan(&s.fingerprint, &s.state, &s.status, &s.contentType, &s.location, &s.body)
	if errors.Is(err, sql.ErrNoRows) { // released between the two statements: try once more
		return e.claimKey(ctx, id, fp)
	}
	if err != nil {
		return storedAnswer{}, false, fmt.Errorf("idempotency: %w", err)
	}
	return s, false, nil
}

// run does the work of a creating endpoint in one transaction; with an
// idempotency id the answer (unless 5xx) is stored in the same transaction.
func (e *Emulator) run(rq *request, m method, id *idemID) answer {
	tx, err := e.db.BeginTx(rq.ctx, nil)
	if err != nil {
		return e.failure(rq.r, err)
	}
	defer tx.Rollback()
	a, err := m.serve(e, tx, rq)
	if err != nil {
		a = e.failure(rq.r, err)
	}
	if a.status >= 500 {
		return a
	}
	if id != nil {
		if _, err := tx.ExecContext(rq.ctx, `UPDATE cl_idempotency SET state = 'done', status = ?, content_type = ?, location = ?, body = ?
			WHERE client_id = ? AND method = ? AND path = ? AND key = ?`,
			a.status, a.contentType, a.location, a.body, id.client, id.method, id.path, id.key); err != nil {
			return e.failure(rq.r, fmt.Errorf("storing the idempotent answer: %w", err))
		}
	}
	if err := tx.Commit(); err != nil {
		return e.failure(rq.r, fmt.Errorf("commit: %w", err))
	}
	return a
}
