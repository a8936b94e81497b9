package importer

import (
	"context"
	"fmt"
)

// RowOfJob is an import row with the job it belongs to.
type RowOfJob struct {
	Row
	JobName  string
	JobState string
}

// RowsFor lists every import row of an Issuance investment, newest job
// first: at most one of them created a Cashlink investment (the others
// were skipped, failed or refused as already imported).
func (s *Store) RowsFor(ctx context.Context, issuanceID int64) ([]RowOfJob, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.id, r.job_id, j.name, j.state FROM import_rows r JOIN import_jobs j ON j.id = r.job_id
		WHERE r.issuance_id = ? ORDER BY r.job_id DESC`, issuanceID)
	if err != nil {
		return nil, fmt.Errorf("import rows of investment %d: %w", issuanceID, err)
	}
	type ref struct {
		id, job     int64
		name, state string
	}
	var refs []ref
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.id, &r.job, &r.name, &r.state); err != nil {
			rows.Close()
			return nil, err
		}
		refs = append(refs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]RowOfJob, 0, len(refs))
	for _, r := range refs {
		row, err := s.Row(ctx, r.job, r.id)
		if err != nil {
			return nil, fmt.Errorf("import row %d: %w", r.id, err)
		}
		out = append(out, RowOfJob{Row: row, JobName: r.name, JobState: r.state})
	}
	return out, nil
}
