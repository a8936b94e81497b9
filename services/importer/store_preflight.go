package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// createdSQL is true for a row whose Cashlink investment exists or may
// exist: its creating call was made and not refused. Such a row's mapping
// is part of what Cashlink holds and cannot change; a refused one (or one
// never sent) can, and its re-run sends the next key of the sequence with
// the new body (see Store.begin).
const createdSQL = `EXISTS (SELECT 1 FROM import_calls c WHERE c.row_id = import_rows.id AND c.step = 'investment'
	AND c.state IN ('pending', 'unknown', 'done'))`

// RemapRow is a failed row as the remap page shows it.
type RemapRow struct {
	Row
	Fixable bool // no Cashlink investment exists or may exist for it
}

// FailedRows lists a job's failed rows, and whether any row of the job has
// (or may have) a Cashlink investment (then the campaign stays).
func (s *Store) FailedRows(ctx context.Context, jobID int64) ([]RemapRow, bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+rowCols+`, cashlink_investment = '' AND NOT `+createdSQL+`
		FROM import_rows WHERE job_id = ? AND state = ? ORDER BY position`, jobID, string(RowFailed))
	if err != nil {
		return nil, false, fmt.Errorf("failed rows of job %d: %w", jobID, err)
	}
	defer rows.Close()
	var out []RemapRow
	for rows.Next() {
		var rr RemapRow
		if rr.Row, err = scanRow(scanWrap{rows, &rr.Fixable}); err != nil {
			return nil, false, err
		}
		out = append(out, rr)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	var created int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM import_rows WHERE job_id = ? AND (cashlink_investment <> '' OR `+createdSQL+`)`,
		jobID).Scan(&created); err != nil {
		return nil, false, fmt.Errorf("failed rows of job %d: %w", jobID, err)
	}
	return out, created > 0, nil
}

// RemapFailed changes the Cashlink investor of failed rows of a stopped
// job, and its campaign while no investment of it exists, in one
// transaction guarded by the transition table (ActRemap, RowActRemap):
// only rows whose investment was refused or never sent change. The rows'
// error says what changed; a re-run sends them with the new mapping.
// It returns the ids of rows that could not change.
func (s *Store) RemapFailed(ctx context.Context, jobID int64, campaign string, rows map[int64]string, remember []Mapping, by int64) ([]int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("remap job %d: %w", jobID, err)
	}
	defer tx.Rollback()
	var cur string
	if err := tx.QueryRowContext(ctx, `SELECT campaign_id FROM import_jobs WHERE id = ?`, jobID).Scan(&cur); errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	} else if err != nil {
		return nil, fmt.Errorf("remap job %d: %w", jobID, err)
	}
	var extra []string
	var extraArgs []any
	campaign = strings.ToLower(strings.TrimSpace(campaign))
	if campaign != "" && campaign != cur {
		var created int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM import_rows WHERE job_id = ? AND (cashlink_investment <> '' OR `+createdSQL+`)`,
			jobID).Scan(&created); err != nil {
			return nil, fmt.Errorf("remap job %d: %w", jobID, err)
		}
		if created > 0 {
			return nil, &ConflictError{Job: jobID, Action: ActRemap, Reason: fmt.Sprintf(
				"%d investments of this import exist (or may exist) in campaign %s: its campaign can no longer change. Start a new import for the failed rows instead.", created, cur)}
		}
		extra, extraArgs = []string{"campaign_id = ?"}, []any{campaign}
	}
	if err := s.transition(ctx, tx, jobID, ActRemap, extra, extraArgs...); err != nil {
		return nil, err
	}
	guard, gargs := rowGuard(RowActRemap)
	now := s.now().UnixMilli()
	var refused []int64
	for row, inv := range rows {
		inv = strings.TrimSpace(inv)
		res, err := tx.ExecContext(ctx, `UPDATE import_rows SET cashlink_investor = ?, error = ?, updated_at = ?
			WHERE job_id = ? AND id = ? AND cashlink_investment = '' AND NOT `+createdSQL+` AND `+guard,
			append([]any{inv, "Mapping changed to Cashlink investor " + inv + "; re-run to import it.", now, jobID, row}, gargs...)...)
		if err != nil {
			return nil, fmt.Errorf("remap row %d: %w", row, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, fmt.Errorf("remap row %d: %w", row, err)
		} else if n == 0 {
			refused = append(refused, row)
		}
	}
	if len(extra) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE import_rows SET error = ?, updated_at = ? WHERE job_id = ? AND state = ?`,
			"Campaign changed to "+campaign+"; re-run to import it.", now, jobID, string(RowFailed)); err != nil {
			return nil, fmt.Errorf("remap job %d: %w", jobID, err)
		}
	}
	for _, m := range remember {
		if err := s.rememberMapping(ctx, tx, m, by); err != nil {
			return nil, err
		}
	}
	if len(refused) > 0 {
		return refused, nil // rolled back: all or nothing
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("remap job %d: %w", jobID, err)
	}
	return nil, nil
}

// scanWrap reads a row followed by one more boolean column.
type scanWrap struct {
	rows *sql.Rows
	fix  *bool
}

func (w scanWrap) Scan(dest ...any) error { return w.rows.Scan(append(dest, w.fix)...) }
