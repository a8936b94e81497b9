package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
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
		if rr.Row, err = scanRow(&rowScanner{rows: rows, extra: []any{&rr.Fixable}}); err != nil {
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

// SourceSummary is what the Source step shows right after loading: the
// counts of the loaded rows, the first rows, and the rows an earlier job
// imported already (flagged here, not three steps later at Review).
type SourceSummary struct {
	Total    int
	ByStatus []StatusCount // Issuance statuses, most frequent first
	Quantity int64
	Amount   *big.Rat // sum of the Issuance amounts (IssuanceCurrency); nil when a row has none
	Mapped   int      // rows with a Cashlink investor already (remembered mappings, CSV)
	First    []Row
	Imported int           // rows an earlier job imported
	Earlier  []ImportedRow // the first of them
}

// StatusCount is the number of loaded rows with one Issuance status.
type StatusCount struct {
	Status string
	Count  int
}

// ImportedRow is a loaded row whose investment another job imported.
type ImportedRow struct {
	RowID, IssuanceID, JobID int64
	Reference                string
}

// SourcePreview reads a job's summary for the Source step: counts by SQL,
// the first rows, and up to limit rows imported by another job.
func (s *Store) SourcePreview(ctx context.Context, jobID int64, limit int) (SourceSummary, error) {
	var out SourceSummary
	st, err := s.db.QueryContext(ctx, `SELECT issuance_status, count(*), coalesce(sum(quantity), 0), sum(cashlink_investor <> '')
		FROM import_rows WHERE job_id = ? GROUP BY issuance_status ORDER BY count(*) DESC, issuance_status`, jobID)
	if err != nil {
		return out, fmt.Errorf("source preview of job %d: %w", jobID, err)
	}
	for st.Next() {
		var sc StatusCount
		var q int64
		var mapped int
		if err := st.Scan(&sc.Status, &sc.Count, &q, &mapped); err != nil {
			st.Close()
			return out, err
		}
		out.ByStatus = append(out.ByStatus, sc)
		out.Total += sc.Count
		out.Quantity += q
		out.Mapped += mapped
	}
	st.Close()
	if err := st.Err(); err != nil {
		return out, err
	}
	amounts, err := s.db.QueryContext(ctx, `SELECT amount FROM import_rows WHERE job_id = ?`, jobID)
	if err != nil {
		return out, fmt.Errorf("source preview of job %d: %w", jobID, err)
	}
	sum := new(big.Rat)
	complete := true
	for amounts.Next() {
		var a string
		if err := amounts.Scan(&a); err != nil {
			amounts.Close()
			return out, err
		}
		if v, ok := new(big.Rat).SetString(a); ok && a != "" {
			sum.Add(sum, v)
		} else {
			complete = false
		}
	}
	amounts.Close()
	if err := amounts.Err(); err != nil {
		return out, err
	}
	if complete && out.Total > 0 {
		out.Amount = sum
	}
	if out.First, err = s.RowsAfter(ctx, jobID, 0, limit); err != nil {
		return out, err
	}
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM import_rows r JOIN imported_investments i ON i.issuance_id = r.issuance_id
		WHERE r.job_id = ? AND i.job_id <> r.job_id`, jobID).Scan(&out.Imported); err != nil {
		return out, fmt.Errorf("source preview of job %d: %w", jobID, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.issuance_id, i.job_id, r.reference FROM import_rows r
		JOIN imported_investments i ON i.issuance_id = r.issuance_id WHERE r.job_id = ? AND i.job_id <> r.job_id
		ORDER BY r.position LIMIT ?`, jobID, limit)
	if err != nil {
		return out, fmt.Errorf("source preview of job %d: %w", jobID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var ir ImportedRow
		if err := rows.Scan(&ir.RowID, &ir.IssuanceID, &ir.JobID, &ir.Reference); err != nil {
			return out, err
		}
		out.Earlier = append(out.Earlier, ir)
	}
	return out, rows.Err()
}
