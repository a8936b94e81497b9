package importer

// Many signed PDFs at once: each file is matched to its row by the
// reference id in its name and shown before anything is stored. The files
// wait in import_pending_documents (console.db), one set per job, because
// a browser cannot keep a file selection across a page load: without
// JavaScript the admin would have to choose hundreds of files again to
// confirm. The set is bounded: one upload's size (the route's body cap),
// replaced by the next preview of the job, emptied on store or discard, and
// any set older than PendingTTL is removed by the next preview of any job,
// so abandoned previews cannot pile up.

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
	"unicode"
)

// PendingTTL is how long an abandoned preview's files are kept at most.
const PendingTTL = 24 * time.Hour

// UploadedFile is one file of a multi-file upload as the handler read it;
// Problem is set when it could not be read whole (too large).
type UploadedFile struct {
	Name    string
	Content []byte
	Size    int64
	Problem string
}

// PendingDocument is a file of the preview.
type PendingDocument struct {
	ID       int64
	RowID    int64 // 0: not matched (or refused)
	Ref      string
	Investor string
	Filename string
	Size     int64
	Problem  string // why it will not be stored ("" when matched)
}

// Preview is the preview of a multi-file upload.
type Preview struct {
	Files     []PendingDocument
	Matched   int
	Unmatched int // files with no row or refused
	Created   time.Time
	// Token names the matched files exactly (see previewToken): the store
	// form carries it, and StorePending stores nothing when the pending
	// set is no longer the one shown.
	Token string
}

// previewToken is a digest of a preview's matched files: each one's id,
// row, content hash and name, in id order. A count would not do: another
// upload (a second tab, another admin) replacing the preview with as many
// matched files would be stored unseen. The id alone would not do either
// (ids of a replaced set can be reused), nor the hashes alone (the same
// file matched to another row, or stored under another name).
func previewToken(files []pendingKey) string {
	slices.SortFunc(files, func(a, b pendingKey) int { return cmp.Compare(a.id, b.id) })
	h := sha256.New()
	for _, f := range files {
		fmt.Fprintf(h, "%d\x00%d\x00%s\x00%s\n", f.id, f.row, f.sha, f.name)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// pendingKey is what previewToken takes of a matched pending file.
type pendingKey struct {
	id, row   int64
	sha, name string
}

// MatchFile finds the row whose reference id is a word of the file name
// (letters, digits, "-" and "_" make words; case does not matter): both
// "INV-000123.pdf" and "signed INV-000123 (1).pdf" match INV-000123.
func MatchFile(name string, refs map[string]int64) (int64, string) {
	base := strings.TrimSuffix(path.Base(strings.ReplaceAll(name, `\`, "/")), path.Ext(name))
	up := strings.ToUpper(base)
	if id, ok := refs[up]; ok {
		return id, up
	}
	words := strings.FieldsFunc(up, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_' })
	for _, w := range words {
		if id, ok := refs[w]; ok {
			return id, w
		}
		// "INV-000123_signed": the reference before an underscore.
		for _, part := range strings.Split(w, "_") {
			if id, ok := refs[part]; ok {
				return id, part
			}
		}
	}
	return 0, ""
}

// IsPDF says whether content starts as every PDF does.
func IsPDF(content []byte) bool { return bytes.HasPrefix(content, []byte("%PDF-")) }

// CleanFilename keeps a file name printable and free of path and quote
// characters.
func CleanFilename(name string) string {
	return strings.Map(func(r rune) rune {
		if r < 32 || r == '/' || r == '\\' || r == '"' {
			return '_'
		}
		return r
	}, name)
}

// PreviewDocuments matches the files of one upload to a draft job's rows
// and keeps them as the job's pending set (replacing the previous one).
// Files that are no PDF, too large, identical to a stored document or to
// another file of the upload, or match no row are listed with the reason
// and kept without content.
func (w *Wizard) PreviewDocuments(ctx context.Context, jobID int64, files []UploadedFile) (Preview, error) {
	j, err := w.Store.Job(ctx, jobID)
	if err != nil {
		return Preview{}, err
	}
	if j.State != JobDraft {
		return Preview{}, &ConflictError{Job: jobID, State: j.State, Reason: "This import has started; its documents can no longer change."}
	}
	refs, err := w.Store.RowReferences(ctx, jobID)
	if err != nil {
		return Preview{}, err
	}
	stored, err := w.Store.documentHashes(ctx, jobID)
	if err != nil {
		return Preview{}, err
	}
	seen := map[string]string{}
	pend := make([]pendingFile, 0, len(files))
	for _, f := range files {
		p := pendingFile{Filename: CleanFilename(f.Name), Size: f.Size, Problem: f.Problem}
		if p.Problem == "" && !IsPDF(f.Content) {
			p.Problem = "not a PDF (it does not start with %PDF-)"
		}
		if p.Problem == "" {
			sum := sha256.Sum256(f.Content)
			p.SHA256 = hex.EncodeToString(sum[:])
			if row, ok := stored[p.SHA256]; ok {
				p.Problem = "already stored in this import"
				if row != 0 {
					p.RowID = row
				}
			} else if other, ok := seen[p.SHA256]; ok {
				p.Problem = "the same file as " + other
			}
			seen[p.SHA256] = p.Filename
		}
		if p.Problem == "" {
			if p.RowID, _ = MatchFile(f.Name, refs); p.RowID == 0 {
				p.Problem = "no investment of this import has a reference id in the file name"
			} else {
				p.Content = f.Content
			}
		}
		if p.Problem != "" && p.RowID != 0 && p.Content == nil {
			p.RowID = 0 // refused files are listed, not tied to a row
		}
		pend = append(pend, p)
	}
	if err := w.Store.replacePending(ctx, jobID, pend); err != nil {
		return Preview{}, err
	}
	return w.Store.Pending(ctx, jobID)
}

type pendingFile struct {
	RowID    int64
	Filename string
	Size     int64
	SHA256   string
	Content  []byte
	Problem  string
}

func (s *Store) documentHashes(ctx context.Context, jobID int64) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT sha256, coalesce(row_id, 0) FROM import_documents WHERE job_id = ?`, jobID)
	if err != nil {
		return nil, fmt.Errorf("documents of job %d: %w", jobID, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var sha string
		var row int64
		if err := rows.Scan(&sha, &row); err != nil {
			return nil, err
		}
		out[sha] = row
	}
	return out, rows.Err()
}

// replacePending sets a draft job's pending files, and removes every set
// older than PendingTTL.
func (s *Store) replacePending(ctx context.Context, jobID int64, files []pendingFile) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("pending documents: %w", err)
	}
	defer tx.Rollback()
	if err := draftIn(ctx, tx, jobID, "documents"); err != nil {
		return err
	}
	now := s.now()
	if _, err := tx.ExecContext(ctx, `DELETE FROM import_pending_documents WHERE job_id = ? OR created_at < ?`, jobID, now.Add(-PendingTTL).UnixMilli()); err != nil {
		return fmt.Errorf("pending documents: %w", err)
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO import_pending_documents (job_id, row_id, filename, size, sha256, content, problem, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("pending documents: %w", err)
	}
	defer st.Close()
	for _, f := range files {
		var row any
		if f.RowID != 0 {
			row = f.RowID
		}
		if _, err := st.ExecContext(ctx, jobID, row, f.Filename, f.Size, f.SHA256, f.Content, f.Problem, now.UnixMilli()); err != nil {
			return fmt.Errorf("pending documents: %w", err)
		}
	}
	return tx.Commit()
}

// Pending returns a job's pending files: matched ones first in row order,
// then the others by name.
func (s *Store) Pending(ctx context.Context, jobID int64) (Preview, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT p.id, coalesce(p.row_id, 0), coalesce(r.reference, ''), coalesce(r.investor_name, ''),
		p.filename, p.size, p.problem, p.created_at, p.sha256
		FROM import_pending_documents p LEFT JOIN import_rows r ON r.id = p.row_id
		WHERE p.job_id = ? ORDER BY p.problem <> '', r.position, p.filename, p.id`, jobID)
	if err != nil {
		return Preview{}, fmt.Errorf("pending documents: %w", err)
	}
	defer rows.Close()
	var pv Preview
	var matched []pendingKey
	for rows.Next() {
		var d PendingDocument
		var created int64
		var sha string
		if err := rows.Scan(&d.ID, &d.RowID, &d.Ref, &d.Investor, &d.Filename, &d.Size, &d.Problem, &created, &sha); err != nil {
			return pv, err
		}
		if d.Problem == "" {
			pv.Matched++
		} else {
			pv.Unmatched++
		}
		if d.Problem == "" && d.RowID != 0 { // as StorePending reads them
			matched = append(matched, pendingKey{id: d.ID, row: d.RowID, sha: sha, name: d.Filename})
		}
		pv.Created = time.UnixMilli(created).UTC()
		pv.Files = append(pv.Files, d)
	}
	pv.Token = previewToken(matched)
	return pv, rows.Err()
}

// StorePending stores a draft job's matched pending files as its
// documents (category and subject as set for the job), when they are
// still exactly the files shown (token: the Preview's Token; a
// *StaleCountError otherwise, nothing stored), and empties the pending
// set: one transaction, so no upload can slip in between the check and
// the copy. expect is the number shown, for the error's words.
func (s *Store) StorePending(ctx context.Context, jobID int64, expect int, token string) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store documents: %w", err)
	}
	defer tx.Rollback()
	var state, cat, subj string
	if err := tx.QueryRowContext(ctx, `SELECT state, doc_category, doc_subject FROM import_jobs WHERE id = ?`, jobID).Scan(&state, &cat, &subj); errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	} else if err != nil {
		return 0, fmt.Errorf("store documents: %w", err)
	}
	if JobState(state) != JobDraft {
		return 0, &ConflictError{Job: jobID, State: JobState(state), Reason: "This import has started; its documents can no longer change."}
	}
	matched, err := pendingKeys(ctx, tx, jobID)
	if err != nil {
		return 0, fmt.Errorf("store documents: %w", err)
	}
	if len(matched) != expect || previewToken(matched) != token {
		return 0, &StaleCountError{Shown: expect, Now: len(matched)}
	}
	res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO import_documents (job_id, row_id, filename, size, sha256, content, category, subject, created_at)
		SELECT job_id, row_id, filename, size, sha256, content, ?, ?, ? FROM import_pending_documents
		WHERE job_id = ? AND row_id IS NOT NULL AND problem = '' ORDER BY id`, cat, subj, s.now().UnixMilli(), jobID)
	if err != nil {
		return 0, fmt.Errorf("store documents: %w", err)
	}
	stored, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store documents: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM import_pending_documents WHERE job_id = ?`, jobID); err != nil {
		return 0, fmt.Errorf("store documents: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store documents: %w", err)
	}
	return int(stored), nil
}

// pendingKeys reads a job's matched pending files for previewToken.
func pendingKeys(ctx context.Context, x *sql.Tx, jobID int64) ([]pendingKey, error) {
	rows, err := x.QueryContext(ctx, `SELECT id, row_id, sha256, filename FROM import_pending_documents
		WHERE job_id = ? AND row_id IS NOT NULL AND problem = ''`, jobID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pendingKey
	for rows.Next() {
		var k pendingKey
		if err := rows.Scan(&k.id, &k.row, &k.sha, &k.name); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// DiscardPending empties a job's pending set.
func (s *Store) DiscardPending(ctx context.Context, jobID int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM import_pending_documents WHERE job_id = ?`, jobID); err != nil {
		return fmt.Errorf("discard pending documents of job %d: %w", jobID, err)
	}
	return nil
}

// RowsLeftWithoutDocument counts a job's rows to send that have no
// document of their own and no file in the pending set, with the
// reference ids of the first limit of them.
func (s *Store) RowsLeftWithoutDocument(ctx context.Context, jobID int64, limit int) (int, []string, error) {
	const cond = ` FROM import_rows r WHERE r.job_id = ? AND r.skip = 0 AND r.state <> 'skipped'
		AND NOT EXISTS (SELECT 1 FROM import_documents d WHERE d.row_id = r.id)
		AND NOT EXISTS (SELECT 1 FROM import_pending_documents p WHERE p.row_id = r.id AND p.problem = '')`
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*)`+cond, jobID).Scan(&n); err != nil {
		return 0, nil, fmt.Errorf("rows without a document of job %d: %w", jobID, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT r.reference`+cond+` ORDER BY r.position LIMIT ?`, jobID, limit)
	if err != nil {
		return 0, nil, fmt.Errorf("rows without a document of job %d: %w", jobID, err)
	}
	defer rows.Close()
	var refs []string
	for rows.Next() {
		var ref string
		if err := rows.Scan(&ref); err != nil {
			return 0, nil, err
		}
		refs = append(refs, ref)
	}
	return n, refs, rows.Err()
}
