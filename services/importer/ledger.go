package importer

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/cashlink"
)

// Key derives the idempotency key of a creating call from our own ids:
// installation, job, row (0 for job-level calls), step and an index (the
// document's number). No personal data, stable across restarts, and the
// same for every retry. Example: "ic-3f9a1c2b7e-j12-r345-investment".
func Key(install string, job, row int64, step string, index int) cashlink.Key {
	k := fmt.Sprintf("ic-%s-j%d", install, job)
	if row != 0 {
		k += fmt.Sprintf("-r%d", row)
	}
	k += "-" + step
	if index > 0 || step == "doc" {
		k += fmt.Sprintf("%d", index)
	}
	return cashlink.Key(k)
}

// Fingerprint is the SHA-256 of a request body as sent.
func Fingerprint(body []byte) string {
	s := sha256.Sum256(body)
	return hex.EncodeToString(s[:])
}

// ErrBodyChanged means a key would go out with another body than the one
// recorded for it: never sent.
var ErrBodyChanged = errors.New("this request differs from the one first sent with its idempotency key; it was not sent again (needs manual investigation)")

// call is one ledger entry.
type call struct {
	Key         string
	Fingerprint string
	State       string
	ResultID    string
}

func (s *Store) getCall(ctx context.Context, x execQuerier, key cashlink.Key) (call, bool, error) {
	var c call
	err := x.QueryRowContext(ctx, `SELECT key, fingerprint, state, result_id FROM import_calls WHERE key = ?`, string(key)).
		Scan(&c.Key, &c.Fingerprint, &c.State, &c.ResultID)
	if errors.Is(err, sql.ErrNoRows) {
		return call{}, false, nil
	}
	if err != nil {
		return call{}, false, fmt.Errorf("ledger: %w", err)
	}
	return c, true, nil
}

// begin records a call before it is made (durably: console.db runs with
// synchronous=FULL), or checks that a repeat carries the same body. A key
// Cashlink refused for good (a 4xx: nothing was created, and Cashlink stores
// that answer against the key and replays it) is never sent again: a later
// attempt (a re-run after the cause was fixed) takes the next key of the
// sequence K, K-try2, K-try3, ... which is as stable across restarts as K.
// The returned call's Key is the one to send.
func (s *Store) begin(ctx context.Context, key cashlink.Key, job, row int64, step string, body []byte) (call, error) {
	return s.beginIn(ctx, s.db, key, job, row, step, body)
}

// beginIn is begin inside x (the engine's group-committed batch).
func (s *Store) beginIn(ctx context.Context, x execQuerier, key cashlink.Key, job, row int64, step string, body []byte) (call, error) {
	fp := Fingerprint(body)
	for n := 1; ; n++ {
		k := key
		if n > 1 {
			k = cashlink.Key(fmt.Sprintf("%s-try%d", key, n))
		}
		c, found, err := s.getCall(ctx, x, k)
		if err != nil {
			return call{}, err
		}
		if found && c.State == "rejected" {
			continue
		}
		if found {
			if c.Fingerprint != fp {
				return c, ErrBodyChanged
			}
			_, err := x.ExecContext(ctx, `UPDATE import_calls SET attempts = attempts + 1, updated_at = ? WHERE key = ?`, s.now().UnixMilli(), string(k))
			return c, err
		}
		var rowArg, jobArg any
		if row != 0 {
			rowArg = row
		}
		if job != 0 {
			jobArg = job
		}
		now := s.now().UnixMilli()
		_, err = x.ExecContext(ctx, `INSERT INTO import_calls (key, job_id, row_id, step, fingerprint, attempts, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, 1, ?, ?)`, string(k), jobArg, rowArg, step, fp, now, now)
		if err != nil {
			return call{}, fmt.Errorf("ledger: %w", err)
		}
		return call{Key: string(k), Fingerprint: fp, State: "pending"}, nil
	}
}

// finish records a call's outcome.
func (s *Store) finish(ctx context.Context, key cashlink.Key, resultID string, err error) error {
	return s.finishIn(ctx, s.db, key, resultID, err)
}

// finishIn is finish inside x (the engine's group-committed batch).
func (s *Store) finishIn(ctx context.Context, x execer, key cashlink.Key, resultID string, err error) error {
	state, status, msg := "done", 0, ""
	if err != nil {
		msg = err.Error()
		switch apiclient.Classify(err) {
		case apiclient.Rejected:
			state = "rejected"
		default:
			state = "unknown"
		}
		var ae *apiclient.Error
		if errors.As(err, &ae) {
			status = ae.Status
		}
	}
	_, dberr := x.ExecContext(context.WithoutCancel(ctx), `UPDATE import_calls SET state = ?, result_id = ?, status = ?, error = ?, updated_at = ? WHERE key = ?`,
		state, resultID, status, msg, s.now().UnixMilli(), string(key))
	return dberr
}

// Call is a ledger entry as the result page shows it.
type Call struct {
	Key, Step, State, ResultID, Error string
	Status, Attempts                  int
}

// Calls lists a row's ledger entries (job-level ones for row 0).
func (s *Store) Calls(ctx context.Context, jobID, rowID int64) ([]Call, error) {
	q := `SELECT key, step, state, result_id, error, status, attempts FROM import_calls WHERE job_id = ? AND `
	args := []any{jobID}
	if rowID == 0 {
		q += `row_id IS NULL`
	} else {
		q += `row_id = ?`
		args = append(args, rowID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY created_at, key`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Call
	for rows.Next() {
		var c Call
		if err := rows.Scan(&c.Key, &c.Step, &c.State, &c.ResultID, &c.Error, &c.Status, &c.Attempts); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// FriendlyError words an API refusal for the result page.
func FriendlyError(step string, err error) string {
	var ae *apiclient.Error
	if errors.As(err, &ae) {
		what := map[string]string{StepDocuments: "the signed document", StepInvestment: "the investment", StepWallet: "the wallet",
			StepCredit: "the credit", StepStatus: "the status"}[step]
		if what == "" {
			what = "the request"
		}
		detail := ae.Detail
		if len(ae.Fields) > 0 {
			detail = ae.FieldSummary()
		}
		switch {
		case ae.Status == 401 || ae.Status == 403:
			return fmt.Sprintf("Cashlink refused the credentials for %s (HTTP %d): %s. Check the client id, secret and scopes.", what, ae.Status, detail)
		case ae.Status == 404:
			return fmt.Sprintf("Cashlink does not know an id used for %s (HTTP 404): check the mapped investor, campaign or wallet.", what)
		case ae.Status >= 500:
			return fmt.Sprintf("Cashlink failed while handling %s (HTTP %d); the outcome is unknown and the same key will be retried.", what, ae.Status)
		}
		return fmt.Sprintf("Cashlink refused %s (HTTP %d): %s", what, ae.Status, strings.TrimSuffix(detail, "."))
	}
	if errors.Is(err, ErrBodyChanged) {
		return err.Error()
	}
	return "No answer from Cashlink (" + err.Error() + "); the outcome is unknown and the same key will be retried."
}
