// Package importer is the engine of the Cashlink import wizard: import jobs
// and their rows in SQLite, a per-row state machine over the guide's steps
// (documents → investment → wallet → credit → status), idempotency keys
// derived from our own ids and recorded with the request's fingerprint
// before each call, and a runner that resumes after a crash.
package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Wizard steps, in order.
var Steps = []string{"source", "mapping", "documents", "review", "confirm", "run", "result"}

// Row steps, in order (the guide's sequence).
const (
	StepDocuments  = "documents"
	StepInvestment = "investment"
	StepWallet     = "wallet"
	StepCredit     = "credit"
	StepStatus     = "status"
	StepDone       = "done"
)

// Job is an import job.
type Job struct {
	ID          int64
	Name        string
	CreatedBy   int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Step        string
	State       JobState
	SourceKind  string
	SourceQuery string
	CampaignID  string
	ProductID   string
	DocCategory string
	DocSubject  string
	ConfirmedBy int64
	ConfirmedAt time.Time
	FinishedAt  time.Time
}

// Row is one investment of a job.
type Row struct {
	ID                 int64
	JobID              int64
	Position           int
	IssuanceID         int64
	Reference          string
	OfferingID         int64
	IssuanceStatus     string
	Quantity           int64
	Amount             string
	IssuanceInvestor   int64
	InvestorName       string
	InvestorEmail      string
	CashlinkInvestor   string
	Units              int64
	SignedAt           time.Time
	AcceptedAt         time.Time
	PaidAt             time.Time
	Skip               bool
	SkipReason         string
	State              RowState
	Step               string
	Error              string
	Tries              int
	CashlinkInvestment string
	Wallet             string
	FinalStatus        string
	UpdatedAt          time.Time
}

// Document is a signed PDF of a row, or shared by the job (RowID 0).
type Document struct {
	ID         int64
	JobID      int64
	RowID      int64
	Filename   string
	Size       int64
	SHA256     string
	Category   string
	Subject    string
	CashlinkID string
	CreatedAt  time.Time
}

// Store persists jobs, rows, documents, the call ledger and mappings.
type Store struct {
	db  *sql.DB
	now func() time.Time

	installMu sync.Mutex
	install   string // the installation id, once read (it never changes)
}

// NewStore returns a store over console.db.
func NewStore(db *sql.DB, now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{db: db, now: now}
}

func ms(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().UnixMilli()
}

func fromMS(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

// InstallationID is this console's id, prefixing every idempotency key.
func (s *Store) InstallationID(ctx context.Context) (string, error) {
	s.installMu.Lock()
	defer s.installMu.Unlock()
	if s.install != "" { // read once: every step of every row names it in its key
		return s.install, nil
	}
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'installation_id'`).Scan(&s.install)
	if err != nil {
		return "", fmt.Errorf("installation id: %w", err)
	}
	return s.install, nil
}

// CreateJob starts a draft job.
func (s *Store) CreateJob(ctx context.Context, name string, by int64) (Job, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		name = "Import " + s.now().UTC().Format("2006-01-02 15:04")
	}
	now := s.now().UnixMilli()
	res, err := s.db.ExecContext(ctx, `INSERT INTO import_jobs (name, created_by, created_at, updated_at) VALUES (?, ?, ?, ?)`, name, by, now, now)
	if err != nil {
		return Job{}, fmt.Errorf("create job: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return Job{}, fmt.Errorf("create job: %w", err)
	}
	return s.Job(ctx, id)
}

const jobCols = `id, name, created_by, created_at, updated_at, step, state, source_kind, source_query, campaign_id, product_id,
	doc_category, doc_subject, confirmed_by, confirmed_at, finished_at`

func scanJob(r interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var created, updated int64
	var confirmedBy, confirmedAt, finished sql.NullInt64
	err := r.Scan(&j.ID, &j.Name, &j.CreatedBy, &created, &updated, &j.Step, &j.State, &j.SourceKind, &j.SourceQuery,
		&j.CampaignID, &j.ProductID, &j.DocCategory, &j.DocSubject, &confirmedBy, &confirmedAt, &finished)
	j.CreatedAt, j.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	j.ConfirmedBy, j.ConfirmedAt, j.FinishedAt = confirmedBy.Int64, fromMS(confirmedAt), fromMS(finished)
	return j, err
}

// Job returns a job.
func (s *Store) Job(ctx context.Context, id int64) (Job, error) {
	j, err := scanJob(s.db.QueryRowContext(ctx, `SELECT `+jobCols+` FROM import_jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrNotFound
	}
	if err != nil {
		return Job{}, fmt.Errorf("job %d: %w", id, err)
	}
	return j, nil
}

// Jobs lists jobs, newest first.
func (s *Store) Jobs(ctx context.Context, state JobState) ([]Job, error) {
	q := `SELECT ` + jobCols + ` FROM import_jobs`
	var args []any
	if state != "" {
		q += ` WHERE state = ?`
		args = append(args, string(state))
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id DESC`, args...)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// JobUpdate changes a draft job's settings; nil fields are left alone.
type JobUpdate struct {
	Name, SourceKind, SourceQuery, CampaignID, ProductID, DocCategory, DocSubject *string
}

// UpdateJob saves a draft job's settings (a job that has started keeps them).
func (s *Store) UpdateJob(ctx context.Context, id int64, up JobUpdate) error {
	sets := []string{"updated_at = ?"}
	args := []any{s.now().UnixMilli()}
	for _, f := range []struct {
		col string
		v   *string
	}{{"name", up.Name}, {"source_kind", up.SourceKind}, {"source_query", up.SourceQuery}, {"campaign_id", up.CampaignID},
		{"product_id", up.ProductID}, {"doc_category", up.DocCategory}, {"doc_subject", up.DocSubject}} {
		if f.v != nil {
			sets = append(sets, f.col+" = ?")
			args = append(args, strings.TrimSpace(*f.v))
		}
	}
	return s.draftUpdate(ctx, id, sets, args)
}

// draftUpdate changes a job while it is a draft, or says why not.
func (s *Store) draftUpdate(ctx context.Context, id int64, sets []string, args []any) error {
	args = append(args, id)
	res, err := s.db.ExecContext(ctx, `UPDATE import_jobs SET `+strings.Join(sets, ", ")+` WHERE id = ? AND state = 'draft'`, args...)
	if err != nil {
		return fmt.Errorf("update job %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	j, err := s.Job(ctx, id)
	if err != nil {
		return err
	}
	return &ConflictError{Job: id, State: j.State, Reason: "This import has started; its source, mapping and documents can no longer change."}
}

// Advance records the furthest wizard step a draft job reached (never back).
func (s *Store) Advance(ctx context.Context, id int64, step string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE import_jobs SET step = ?, updated_at = ? WHERE id = ? AND state = 'draft'
		AND (CASE step `+stepOrderSQL()+` END) < (CASE ? `+stepOrderSQL()+` END)`, step, s.now().UnixMilli(), id, step)
	if err != nil {
		return fmt.Errorf("job %d: step %s: %w", id, step, err)
	}
	return nil
}

func stepOrderSQL() string {
	var b strings.Builder
	for i, st := range Steps {
		fmt.Fprintf(&b, "WHEN '%s' THEN %d ", st, i)
	}
	return b.String()
}

// Confirm records the typed confirmation and starts the job.
func (s *Store) Confirm(ctx context.Context, id, by int64) error {
	return s.transition(ctx, s.db, id, ActStart, []string{"step = 'run'", "confirmed_by = ?", "confirmed_at = ?"}, by, s.now().UnixMilli())
}

const rowCols = `id, job_id, position, issuance_id, reference, offering_id, issuance_status, quantity, amount, issuance_investor,
	investor_name, investor_email, cashlink_investor, units, signed_at, accepted_at, paid_at, skip, skip_reason, state, step,
	error, tries, cashlink_investment, wallet, final_status, updated_at`

func scanRow(r interface{ Scan(...any) error }) (Row, error) {
	var w Row
	var signed, accepted, paid sql.NullInt64
	var updated int64
	err := r.Scan(&w.ID, &w.JobID, &w.Position, &w.IssuanceID, &w.Reference, &w.OfferingID, &w.IssuanceStatus, &w.Quantity, &w.Amount,
		&w.IssuanceInvestor, &w.InvestorName, &w.InvestorEmail, &w.CashlinkInvestor, &w.Units, &signed, &accepted, &paid, &w.Skip,
		&w.SkipReason, &w.State, &w.Step, &w.Error, &w.Tries, &w.CashlinkInvestment, &w.Wallet, &w.FinalStatus, &updated)
	w.SignedAt, w.AcceptedAt, w.PaidAt = fromMS(signed), fromMS(accepted), fromMS(paid)
	w.UpdatedAt = time.UnixMilli(updated).UTC()
	return w, err
}

// ReplaceRows sets a draft job's rows (a new source).
func (s *Store) ReplaceRows(ctx context.Context, jobID int64, rows []Row) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var state string
	if err := tx.QueryRowContext(ctx, `SELECT state FROM import_jobs WHERE id = ?`, jobID).Scan(&state); err != nil {
		return fmt.Errorf("job %d: %w", jobID, err)
	}
	if JobState(state) != JobDraft {
		return &ConflictError{Job: jobID, State: JobState(state), Reason: "The source of an import that has started cannot change."}
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM import_rows WHERE job_id = ?`, jobID); err != nil {
		return err
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO import_rows (job_id, position, issuance_id, reference, offering_id, issuance_status,
		quantity, amount, issuance_investor, investor_name, investor_email, cashlink_investor, units, signed_at, accepted_at, paid_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	now := s.now().UnixMilli()
	for i, r := range rows {
		if _, err := st.ExecContext(ctx, jobID, i+1, r.IssuanceID, r.Reference, r.OfferingID, r.IssuanceStatus, r.Quantity, r.Amount,
			r.IssuanceInvestor, r.InvestorName, r.InvestorEmail, r.CashlinkInvestor, r.Units, ms(r.SignedAt), ms(r.AcceptedAt), ms(r.PaidAt), now); err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				return invalid("source", fmt.Sprintf("Investment %d appears twice in the source.", r.IssuanceID))
			}
			return err
		}
	}
	return tx.Commit()
}

// Rows returns a job's rows in order.
func (s *Store) Rows(ctx context.Context, jobID int64) ([]Row, error) {
	return s.jobRows(ctx, jobID, ` ORDER BY position`)
}

// jobRows reads a job's rows; rest follows "WHERE job_id = ?" (more
// conditions, the order, a limit) with its arguments.
func (s *Store) jobRows(ctx context.Context, jobID int64, rest string, args ...any) ([]Row, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+rowCols+` FROM import_rows WHERE job_id = ?`+rest, append([]any{jobID}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("rows of job %d: %w", jobID, err)
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// Row returns one row of a job.
func (s *Store) Row(ctx context.Context, jobID, rowID int64) (Row, error) {
	r, err := scanRow(s.db.QueryRowContext(ctx, `SELECT `+rowCols+` FROM import_rows WHERE job_id = ? AND id = ?`, jobID, rowID))
	if errors.Is(err, sql.ErrNoRows) {
		return Row{}, ErrNotFound
	}
	return r, err
}

// RowEdit changes what a draft row will send; nil fields are left alone.
type RowEdit struct {
	CashlinkInvestor             *string
	Units                        *int64
	SignedAt, AcceptedAt, PaidAt *time.Time
	Skip                         *bool
	SkipReason                   *string
}

// EditRow changes a row that has not started (its calls would otherwise
// go out with another body than before).
func (s *Store) EditRow(ctx context.Context, jobID, rowID int64, e RowEdit) error {
	sets, args, act := rowEditSets(s.now(), e)
	guard, gargs := rowGuard(act)
	args = append(append(args, jobID, rowID), gargs...)
	// The job's state is part of the guard: a row cannot change while the
	// job starts, whatever a handler read just before.
	res, err := s.db.ExecContext(ctx, `UPDATE import_rows SET `+strings.Join(sets, ", ")+`
		WHERE job_id = ? AND id = ? AND step = 'documents' AND `+guard+`
		AND (SELECT state FROM import_jobs WHERE id = import_rows.job_id) = 'draft'
		AND NOT EXISTS (SELECT 1 FROM import_calls c WHERE c.row_id = import_rows.id)`, args...)
	if err != nil {
		return fmt.Errorf("edit row %d: %w", rowID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	if _, err := s.Row(ctx, jobID, rowID); err != nil {
		return err
	}
	return &ConflictError{Job: jobID, Reason: fmt.Sprintf("Row %d has started; it can no longer change.", rowID)}
}

// saveRow stores the engine's progress on a row. Only a row the engine
// still works on changes (RowActWork's From states).
func (s *Store) saveRow(ctx context.Context, r Row) error { return s.saveRowIn(ctx, s.db, r) }

// saveRowIn is saveRow inside x (the engine's group-committed batch).
func (s *Store) saveRowIn(ctx context.Context, x execer, r Row) error {
	guard, gargs := rowGuard(RowActWork)
	res, err := x.ExecContext(ctx, `UPDATE import_rows SET state = ?, step = ?, error = ?, tries = ?, cashlink_investment = ?,
		wallet = ?, final_status = ?, updated_at = ? WHERE id = ? AND `+guard,
		append([]any{string(r.State), r.Step, r.Error, r.Tries, r.CashlinkInvestment, r.Wallet, r.FinalStatus, s.now().UnixMilli(), r.ID}, gargs...)...)
	if err != nil {
		return fmt.Errorf("save row %d: %w", r.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("save row %d: %w", r.ID, err)
	}
	if n == 0 {
		return &ConflictError{Job: r.JobID, Reason: fmt.Sprintf("Row %d is no longer being imported; its progress was not saved.", r.ID)}
	}
	return nil
}

// Rerun puts failed and unknown rows of a finished job back in the queue,
// at the step where they stopped (see begin for the keys they use), and
// sets the job running: one transaction, guarded by the transition table.
// In a cancelled job, rows that never started stay out: the cancellation
// stopped them, and a re-run of failed rows must not import them.
func (s *Store) Rerun(ctx context.Context, jobID int64) (int64, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("rerun job %d: %w", jobID, err)
	}
	defer tx.Rollback()
	var state string
	if err := tx.QueryRowContext(ctx, `SELECT state FROM import_jobs WHERE id = ?`, jobID).Scan(&state); errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	} else if err != nil {
		return 0, fmt.Errorf("rerun job %d: %w", jobID, err)
	}
	if err := s.transition(ctx, tx, jobID, ActRerun, nil); err != nil {
		return 0, err
	}
	now := s.now().UnixMilli()
	if JobState(state) == JobCancelled {
		guard, gargs := rowGuard(RowActStopped)
		if _, err := tx.ExecContext(ctx, `UPDATE import_rows SET state = ?, error = ?, updated_at = ?
			WHERE job_id = ? AND step = 'documents' AND `+guard+`
			AND NOT EXISTS (SELECT 1 FROM import_calls c WHERE c.row_id = import_rows.id)`,
			append([]any{string(rowTransitions[RowActStopped].To), "Not imported: the import was cancelled before this row started.", now, jobID}, gargs...)...); err != nil {
			return 0, fmt.Errorf("rerun job %d: %w", jobID, err)
		}
	}
	guard, gargs := rowGuard(RowActRequeue)
	res, err := tx.ExecContext(ctx, `UPDATE import_rows SET state = ?, error = '', tries = 0, updated_at = ?
		WHERE job_id = ? AND `+guard+` AND skip = 0`, append([]any{string(rowTransitions[RowActRequeue].To), now, jobID}, gargs...)...)
	if err != nil {
		return 0, fmt.Errorf("rerun job %d: %w", jobID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("rerun job %d: %w", jobID, err)
	}
	if n == 0 {
		// Refused, and nothing changed: the transaction is rolled back.
		return 0, &ConflictError{Job: jobID, Action: ActRerun, State: JobState(state), Reason: NothingToRerun}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("rerun job %d: %w", jobID, err)
	}
	return n, nil
}

// NothingToRerun is the refusal of a re-run of a job with no failed row.
const NothingToRerun = "Nothing to re-run: no row of this import failed or has an unknown outcome."

// AddDocument stores a signed PDF for a row (rowID 0: shared by the job).
// The same file twice in one job is refused.
func (s *Store) AddDocument(ctx context.Context, d Document, content []byte) (Document, error) {
	var row any
	if d.RowID != 0 {
		row = d.RowID
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO import_documents (job_id, row_id, filename, size, sha256, content, category, subject, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.JobID, row, d.Filename, len(content), d.SHA256, content, d.Category, d.Subject, s.now().UnixMilli())
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			var other sql.NullInt64
			if err := s.db.QueryRowContext(ctx, `SELECT row_id FROM import_documents WHERE job_id = ? AND sha256 = ?`, d.JobID, d.SHA256).Scan(&other); err != nil {
				return Document{}, fmt.Errorf("store document: %w", err)
			}
			return Document{}, &DuplicateError{RowID: other.Int64}
		}
		return Document{}, fmt.Errorf("store document: %w", err)
	}
	if d.ID, err = res.LastInsertId(); err != nil {
		return Document{}, fmt.Errorf("store document: %w", err)
	}
	d.Size = int64(len(content))
	return d, nil
}

// DuplicateError says an identical file is already part of the job.
type DuplicateError struct{ RowID int64 }

func (e *DuplicateError) Error() string {
	if e.RowID == 0 {
		return "this file is already the job's shared document"
	}
	return fmt.Sprintf("the same file (same SHA-256) is already attached to row %d", e.RowID)
}

// RemoveDocument deletes a document that has not been uploaded yet.
func (s *Store) RemoveDocument(ctx context.Context, jobID, docID int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM import_documents WHERE job_id = ? AND id = ? AND cashlink_id = ''
		AND (SELECT state FROM import_jobs WHERE id = ?) = 'draft'`, jobID, docID, jobID)
	if err != nil {
		return fmt.Errorf("remove document %d: %w", docID, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1 FROM import_documents WHERE job_id = ? AND id = ?`, jobID, docID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("remove document %d: %w", docID, err)
	}
	return &ConflictError{Job: jobID, Reason: fmt.Sprintf("Document %d is part of an import that has started; it stays.", docID)}
}

const docCols = `id, job_id, coalesce(row_id, 0), filename, size, sha256, category, subject, cashlink_id, created_at`

// Documents lists a job's documents (shared first, then by row).
func (s *Store) Documents(ctx context.Context, jobID int64) ([]Document, error) {
	return s.jobDocuments(ctx, jobID, ``)
}

// rowDocuments lists what one row sends: the job's shared documents and
// the row's own (the engine reads these per row, not the whole job's).
func (s *Store) rowDocuments(ctx context.Context, jobID, rowID int64) ([]Document, error) {
	return s.jobDocuments(ctx, jobID, ` AND (row_id IS NULL OR row_id = ?)`, rowID)
}

// jobDocuments reads a job's documents; rest adds conditions after
// "WHERE job_id = ?" with its arguments.
func (s *Store) jobDocuments(ctx context.Context, jobID int64, rest string, args ...any) ([]Document, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+docCols+` FROM import_documents WHERE job_id = ?`+rest+` ORDER BY coalesce(row_id, 0), id`, append([]any{jobID}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("documents: %w", err)
	}
	defer rows.Close()
	var out []Document
	for rows.Next() {
		var d Document
		var created int64
		if err := rows.Scan(&d.ID, &d.JobID, &d.RowID, &d.Filename, &d.Size, &d.SHA256, &d.Category, &d.Subject, &d.CashlinkID, &created); err != nil {
			return nil, err
		}
		d.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *Store) documentContent(ctx context.Context, id int64) ([]byte, error) {
	var b []byte
	err := s.db.QueryRowContext(ctx, `SELECT content FROM import_documents WHERE id = ?`, id).Scan(&b)
	return b, err
}

func (s *Store) setDocumentUploaded(ctx context.Context, x execer, id int64, cashlinkID string) error {
	if _, err := x.ExecContext(ctx, `UPDATE import_documents SET cashlink_id = ? WHERE id = ?`, cashlinkID, id); err != nil {
		return fmt.Errorf("document %d uploaded as %s: %w", id, cashlinkID, err)
	}
	return nil
}

// Mapping is a remembered Issuance → Cashlink investor mapping.
type Mapping struct {
	IssuanceInvestor int64
	CashlinkInvestor string
	Source           string
}

// Mappings returns the remembered mappings of the given investors.
func (s *Store) Mappings(ctx context.Context) (map[int64]Mapping, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT issuance_investor, cashlink_investor, source FROM investor_mappings`)
	if err != nil {
		return nil, fmt.Errorf("mappings: %w", err)
	}
	defer rows.Close()
	out := map[int64]Mapping{}
	for rows.Next() {
		var m Mapping
		if err := rows.Scan(&m.IssuanceInvestor, &m.CashlinkInvestor, &m.Source); err != nil {
			return nil, err
		}
		out[m.IssuanceInvestor] = m
	}
	return out, rows.Err()
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) rememberMapping(ctx context.Context, x execer, m Mapping, by int64) error {
	_, err := x.ExecContext(ctx, `INSERT INTO investor_mappings (issuance_investor, cashlink_investor, source, updated_by, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (issuance_investor) DO UPDATE SET cashlink_investor = excluded.cashlink_investor,
		source = excluded.source, updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
		m.IssuanceInvestor, strings.TrimSpace(m.CashlinkInvestor), m.Source, by, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("remember the mapping of investor %d: %w", m.IssuanceInvestor, err)
	}
	return nil
}

func (s *Store) applyMapping(ctx context.Context, x execer, jobID, issuanceInvestor int64, cashlinkInvestor string) (int64, error) {
	guard, gargs := rowGuard(RowActEdit)
	res, err := x.ExecContext(ctx, `UPDATE import_rows SET cashlink_investor = ?, updated_at = ?
		WHERE job_id = ? AND issuance_investor = ? AND step = 'documents' AND `+guard,
		append([]any{strings.TrimSpace(cashlinkInvestor), s.now().UnixMilli(), jobID, issuanceInvestor}, gargs...)...)
	if err != nil {
		return 0, fmt.Errorf("map investor %d: %w", issuanceInvestor, err)
	}
	return res.RowsAffected()
}

// MapInvestors applies mappings to a job's rows (Issuance investor →
// Cashlink investor; "" clears) and remembers some for later jobs, in one
// transaction: a failure leaves no mapping half-saved.
func (s *Store) MapInvestors(ctx context.Context, jobID int64, apply map[int64]string, remember []Mapping, by int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("map investors: %w", err)
	}
	defer tx.Rollback()
	if err := draftIn(ctx, tx, jobID, "mapping"); err != nil {
		return err
	}
	for inv, cl := range apply {
		if _, err := s.applyMapping(ctx, tx, jobID, inv, cl); err != nil {
			return err
		}
	}
	for _, m := range remember {
		if err := s.rememberMapping(ctx, tx, m, by); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// ImportedBy returns the job that imported an Issuance investment (0: none).
func (s *Store) ImportedBy(ctx context.Context, issuanceID int64) (int64, error) {
	var job int64
	err := s.db.QueryRowContext(ctx, `SELECT job_id FROM imported_investments WHERE issuance_id = ?`, issuanceID).Scan(&job)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return job, err
}

// importedBy maps the job's Issuance investments that a job has imported
// to that job: one query for the whole job, not one per row.
func (s *Store) importedBy(ctx context.Context, jobID int64) (map[int64]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT i.issuance_id, i.job_id FROM imported_investments i
		WHERE i.issuance_id IN (SELECT issuance_id FROM import_rows WHERE job_id = ?)`, jobID)
	if err != nil {
		return nil, fmt.Errorf("imported investments of job %d: %w", jobID, err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var inv, job int64
		if err := rows.Scan(&inv, &job); err != nil {
			return nil, err
		}
		out[inv] = job
	}
	return out, rows.Err()
}

// Imported lists every imported investment (for reconciliation).
type Imported struct {
	IssuanceID         int64
	JobID, RowID       int64
	CashlinkInvestment string
	ImportedAt         time.Time
}

// ImportedInvestments lists a page of the imported investments, newest
// first, and how many there are.
func (s *Store) ImportedInvestments(ctx context.Context, offset, limit int) ([]Imported, int, error) {
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM imported_investments WHERE cashlink_investment <> ''`).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("imported investments: %w", err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT issuance_id, job_id, row_id, cashlink_investment, imported_at FROM imported_investments
		WHERE cashlink_investment <> '' ORDER BY imported_at DESC, issuance_id LIMIT ? OFFSET ?`, limit, offset)
	if err != nil {
		return nil, 0, fmt.Errorf("imported investments: %w", err)
	}
	defer rows.Close()
	var out []Imported
	for rows.Next() {
		var im Imported
		var at int64
		if err := rows.Scan(&im.IssuanceID, &im.JobID, &im.RowID, &im.CashlinkInvestment, &at); err != nil {
			return nil, 0, err
		}
		im.ImportedAt = time.UnixMilli(at).UTC()
		out = append(out, im)
	}
	return out, total, rows.Err()
}

// reserve claims an Issuance investment for a row before its Cashlink
// investment is created, so two jobs can never both import it. It returns
// the job holding it when that is another job.
func (s *Store) reserve(ctx context.Context, x execQuerier, r Row) (int64, error) {
	_, err := x.ExecContext(ctx, `INSERT INTO imported_investments (issuance_id, job_id, row_id, cashlink_investment, imported_at)
		VALUES (?, ?, ?, '', ?) ON CONFLICT (issuance_id) DO NOTHING`, r.IssuanceID, r.JobID, r.ID, s.now().UnixMilli())
	if err != nil {
		return 0, err
	}
	var job, row int64
	if err := x.QueryRowContext(ctx, `SELECT job_id, row_id FROM imported_investments WHERE issuance_id = ?`, r.IssuanceID).Scan(&job, &row); err != nil {
		return 0, err
	}
	if job != r.JobID || row != r.ID {
		return job, nil
	}
	return 0, nil
}

// release gives up a row's reservation of an Issuance investment whose
// Cashlink investment was refused (never while one may exist).
func (s *Store) release(ctx context.Context, x execer, r Row) error {
	_, err := x.ExecContext(ctx, `DELETE FROM imported_investments WHERE issuance_id = ? AND job_id = ? AND row_id = ? AND cashlink_investment = ''`,
		r.IssuanceID, r.JobID, r.ID)
	if err != nil {
		return fmt.Errorf("release investment %d: %w", r.IssuanceID, err)
	}
	return nil
}

func (s *Store) setImported(ctx context.Context, x execer, r Row) error {
	_, err := x.ExecContext(ctx, `UPDATE imported_investments SET cashlink_investment = ?, imported_at = ? WHERE issuance_id = ? AND row_id = ?`,
		r.CashlinkInvestment, s.now().UnixMilli(), r.IssuanceID, r.ID)
	if err != nil {
		return fmt.Errorf("record the import of investment %d: %w", r.IssuanceID, err)
	}
	return nil
}

// Progress counts a job's rows by state.
type Progress struct {
	Total, Pending, Running, Unknown, Waiting, Done, Failed, Skipped int
}

// Finished counts rows in a final state.
func (p Progress) Finished() int { return p.Done + p.Failed + p.Skipped }

// JobProgress counts a job's rows by state: one GROUP BY over the
// (job_id, state) index, whatever the job's size.
func (s *Store) JobProgress(ctx context.Context, jobID int64) (Progress, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, count(*) FROM import_rows WHERE job_id = ? GROUP BY state`, jobID)
	if err != nil {
		return Progress{}, fmt.Errorf("progress of job %d: %w", jobID, err)
	}
	defer rows.Close()
	var p Progress
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return p, err
		}
		p.Total += n
		switch RowState(st) {
		case RowPending:
			p.Pending = n
		case RowRunning:
			p.Running = n
		case RowUnknown:
			p.Unknown = n
		case RowWaiting:
			p.Waiting = n
		case RowDone:
			p.Done = n
		case RowFailed:
			p.Failed = n
		case RowSkipped:
			p.Skipped = n
		}
	}
	return p, rows.Err()
}

// RowsAfter returns up to limit rows of a job after a position, in order
// (keyset paging over the (job_id, position) index: page p of size n
// starts after position (p-1)·n, since positions run 1, 2, 3, …).
func (s *Store) RowsAfter(ctx context.Context, jobID int64, after, limit int) ([]Row, error) {
	return s.jobRows(ctx, jobID, ` AND position > ? ORDER BY position LIMIT ?`, after, limit)
}
