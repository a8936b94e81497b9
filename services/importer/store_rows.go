package importer

// Review and mapping at scale: a job's rows classified, counted, paged and
// changed in bulk by SQL, so a page of an offering with thousands of rows
// costs one counting query and one page of rows, whatever the job's size.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ProblemKind is one reason a row cannot be imported as it is. Cond is its
// test over the columns of reviewCTE; the words match Validate's.
type ProblemKind struct {
	Code  string // for filters, URLs and data-code attributes
	Label string // the filter's name
	Fix   string // the step that fixes it
	Cond  string
}

// ProblemKinds lists the problems a row can have, in the order shown.
// Cashlink's own checks (the investor unknown, no wallet) come from one
// wallet list per distinct investor (CashlinkCheck), passed into the query.
var ProblemKinds = []ProblemKind{
	{"unmapped", "No Cashlink investor", "mapping", "p_unmapped"},
	{"units", "Units not positive", "review", "p_units"},
	{"unsigned", "No signing time", "review", "p_unsigned"},
	{"document", "No signed document", "documents", "p_document"},
	{"imported", "Imported by another job", "skip", "imported_by <> 0"},
	{"unknown_investor", "Investor unknown to Cashlink", "mapping", "p_unknown"},
	{"no_wallet", "Investor without a wallet", "cashlink", "p_wallet"},
}

// Row filters besides the problem kinds.
const (
	ShowAll      = "all"
	ShowProblems = "problems"
	ShowReady    = "ready"
	ShowSkipped  = "skipped"
)

// ValidShow reports whether show names a filter (a problem kind or one of
// the Show constants).
func ValidShow(show string) bool {
	_, ok := showCond(show)
	return ok
}

func showCond(show string) (string, bool) {
	switch show {
	case ShowAll, "":
		return "1", true
	case ShowProblems:
		return "k.problem", true
	case ShowReady:
		return "k.active AND NOT k.problem", true
	case ShowSkipped:
		return "k.skipped", true
	}
	for _, p := range ProblemKinds {
		if p.Code == show {
			return "k.active AND (" + p.Cond + ")", true
		}
	}
	return "", false
}

// CashlinkCheck is what Cashlink said about the job's investors: ids it
// does not know, and ids without a wallet.
type CashlinkCheck struct {
	Unknown, NoWallet []string
}

func jsonList(ids []string) string {
	if ids == nil {
		ids = []string{}
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

// reviewCTE classifies each row of job @job: flags per problem kind,
// skipped, finished, and whether it is active (will be sent) and has a
// problem. The rules are Validate's.
const reviewCTE = `WITH flags AS (
	SELECT r.id AS rid,
		(r.skip = 1 OR r.state = 'skipped') AS skipped,
		(r.state = 'done') AS finished,
		(r.cashlink_investor = '') AS p_unmapped,
		(r.units <= 0) AS p_units,
		(r.signed_at IS NULL) AS p_unsigned,
		(NOT EXISTS (SELECT 1 FROM import_documents d WHERE d.job_id = @job AND d.row_id IS NULL) -- not correlated: read once
			AND NOT EXISTS (SELECT 1 FROM import_documents d WHERE d.row_id = r.id)) AS p_document,
		coalesce((SELECT i.job_id FROM imported_investments i WHERE i.issuance_id = r.issuance_id AND i.job_id <> r.job_id), 0) AS imported_by,
		(r.cashlink_investor <> '' AND r.cashlink_investor IN (SELECT value FROM json_each(@unknown))) AS p_unknown,
		(r.cashlink_investor <> '' AND r.cashlink_investor IN (SELECT value FROM json_each(@nowallet))) AS p_wallet
	FROM import_rows r WHERE r.job_id = @job
), k AS (
	SELECT *, (NOT skipped AND NOT finished) AS active,
		(NOT skipped AND NOT finished AND (p_unmapped OR p_units OR p_unsigned OR p_document OR imported_by <> 0 OR p_unknown OR p_wallet)) AS problem
	FROM flags
) `

func reviewArgs(jobID int64, chk CashlinkCheck) []any {
	return []any{sql.Named("job", jobID), sql.Named("unknown", jsonList(chk.Unknown)), sql.Named("nowallet", jsonList(chk.NoWallet))}
}

// RowCounts are a job's rows counted for the review: per filter and per
// problem kind (one query).
type RowCounts struct {
	Total, Ready, Problems, Skipped int
	Kinds                           map[string]int // problem kind → rows
	Investors                       int            // distinct Cashlink investors of the rows to send
	Documents                       int            // documents still to upload (a skipped row's are not)
}

// Of is the number of rows a filter shows.
func (c RowCounts) Of(show string) int {
	switch show {
	case ShowAll, "":
		return c.Total
	case ShowProblems:
		return c.Problems
	case ShowReady:
		return c.Ready
	case ShowSkipped:
		return c.Skipped
	}
	return c.Kinds[show]
}

// ReviewCounts counts a job's rows per filter and problem kind in SQL.
func (s *Store) ReviewCounts(ctx context.Context, jobID int64, chk CashlinkCheck) (RowCounts, error) {
	c := RowCounts{Kinds: map[string]int{}}
	cols := []string{"count(*)", "coalesce(sum(k.active AND NOT k.problem), 0)", "coalesce(sum(k.problem), 0)", "coalesce(sum(k.skipped), 0)"}
	for _, p := range ProblemKinds {
		cols = append(cols, "coalesce(sum(k.active AND ("+p.Cond+")), 0)")
	}
	kinds := make([]int, len(ProblemKinds))
	dst := []any{&c.Total, &c.Ready, &c.Problems, &c.Skipped}
	for i := range kinds {
		dst = append(dst, &kinds[i])
	}
	dst = append(dst, &c.Investors)
	q := reviewCTE + `SELECT ` + strings.Join(cols, ", ") + `,
		(SELECT count(DISTINCT r.cashlink_investor) FROM import_rows r JOIN k k2 ON k2.rid = r.id WHERE k2.active AND r.cashlink_investor <> '')
		FROM k`
	if err := s.db.QueryRowContext(ctx, q, reviewArgs(jobID, chk)...).Scan(dst...); err != nil {
		return c, fmt.Errorf("review counts of job %d: %w", jobID, err)
	}
	for i, p := range ProblemKinds {
		c.Kinds[p.Code] = kinds[i]
	}
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM import_documents d WHERE d.job_id = ? AND d.cashlink_id = ''
		AND (d.row_id IS NULL OR NOT EXISTS (SELECT 1 FROM import_rows r WHERE r.id = d.row_id AND (r.skip = 1 OR r.state = 'skipped')))`, jobID).Scan(&c.Documents)
	if err != nil {
		return c, fmt.Errorf("documents to upload of job %d: %w", jobID, err)
	}
	return c, nil
}

// ReviewedRow is a row with its problems.
type ReviewedRow struct {
	Row
	Problems []Problem
	Kinds    []string // codes of Problems, in order
}

// ReviewRows returns one page of the rows a filter shows, in order, each
// with its problems.
func (s *Store) ReviewRows(ctx context.Context, jobID int64, show string, chk CashlinkCheck, offset, limit int) ([]ReviewedRow, error) {
	cond, ok := showCond(show)
	if !ok {
		return nil, invalid("show", "Unknown filter "+show+".")
	}
	return s.reviewed(ctx, jobID, chk, ` AND `+cond+` ORDER BY r.position LIMIT @limit OFFSET @offset`,
		sql.Named("limit", limit), sql.Named("offset", offset))
}

// ReviewRow returns one row of a job with its problems.
func (s *Store) ReviewRow(ctx context.Context, jobID, rowID int64, chk CashlinkCheck) (ReviewedRow, error) {
	rs, err := s.reviewed(ctx, jobID, chk, ` AND r.id = @row`, sql.Named("row", rowID))
	if err != nil {
		return ReviewedRow{}, err
	}
	if len(rs) == 0 {
		return ReviewedRow{}, ErrNotFound
	}
	return rs[0], nil
}

func (s *Store) reviewed(ctx context.Context, jobID int64, chk CashlinkCheck, rest string, args ...any) ([]ReviewedRow, error) {
	cols := make([]string, 0, len(ProblemKinds)+2)
	for _, p := range ProblemKinds {
		if p.Code == "imported" {
			cols = append(cols, "k.imported_by")
			continue
		}
		cols = append(cols, "k.active AND ("+p.Cond+")")
	}
	cols = append(cols, "k.active")
	q := reviewCTE + `SELECT ` + prefixed("r.", rowCols) + `, ` + strings.Join(cols, ", ") + `
		FROM import_rows r JOIN k ON k.rid = r.id WHERE 1` + rest
	rows, err := s.db.QueryContext(ctx, q, append(reviewArgs(jobID, chk), args...)...)
	if err != nil {
		return nil, fmt.Errorf("review rows of job %d: %w", jobID, err)
	}
	defer rows.Close()
	var out []ReviewedRow
	for rows.Next() {
		var rr ReviewedRow
		flags := make([]int64, len(ProblemKinds))
		var active bool
		scan := &rowScanner{rows: rows, extra: func() []any {
			dst := make([]any, 0, len(flags)+1)
			for i := range flags {
				dst = append(dst, &flags[i])
			}
			return append(dst, &active)
		}()}
		r, err := scanRow(scan)
		if err != nil {
			return nil, err
		}
		rr.Row = r
		for i, p := range ProblemKinds {
			if flags[i] == 0 || !active {
				continue
			}
			rr.Kinds = append(rr.Kinds, p.Code)
			rr.Problems = append(rr.Problems, Problem{RowID: r.ID, What: problemWhat(p.Code, r, flags[i]), Fix: p.Fix})
		}
		out = append(out, rr)
	}
	return out, rows.Err()
}

// problemWhat words a row's problem as Validate does.
func problemWhat(code string, r Row, flag int64) string {
	switch code {
	case "unmapped":
		return "No Cashlink investor mapped."
	case "units":
		return "Units must be a positive whole number."
	case "unsigned":
		return "No signing time (signed_at)."
	case "document":
		return "No signed document."
	case "imported":
		return fmt.Sprintf("Already imported by job %d.", flag)
	case "unknown_investor":
		return "Cashlink does not know the investor " + r.CashlinkInvestor + "."
	case "no_wallet":
		return "The Cashlink investor " + r.CashlinkInvestor + " has no wallet yet."
	}
	return code
}

// rowScanner scans rowCols followed by extra columns.
type rowScanner struct {
	rows  *sql.Rows
	extra []any
}

func (r *rowScanner) Scan(dst ...any) error { return r.rows.Scan(append(dst, r.extra...)...) }

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}

// CashlinkInvestorsToCheck lists the distinct Cashlink investors of a
// job's rows that will be sent.
func (s *Store) CashlinkInvestorsToCheck(ctx context.Context, jobID int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT cashlink_investor FROM import_rows WHERE job_id = ? AND cashlink_investor <> ''
		AND skip = 0 AND state NOT IN ('skipped', 'done') ORDER BY cashlink_investor`, jobID)
	if err != nil {
		return nil, fmt.Errorf("investors of job %d: %w", jobID, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// StaleCountError says a bulk action's filter no longer matches the
// number of rows the admin was shown: nothing was changed.
type StaleCountError struct {
	Shown, Now int
}

func (e *StaleCountError) Error() string {
	return fmt.Sprintf("The list changed: it now holds %d rows, not the %d shown, so nothing was changed. Look at it again and repeat.", e.Now, e.Shown)
}

// BulkEdit applies one edit to every row a filter shows, in one
// transaction, when the filter still matches exactly the expected number
// of rows (what the admin was shown). Rows that have started are left
// alone (guards as EditRow's); it returns how many rows changed.
func (s *Store) BulkEdit(ctx context.Context, jobID int64, show string, chk CashlinkCheck, expect int, e RowEdit) (int, error) {
	cond, ok := showCond(show)
	if !ok {
		return 0, invalid("show", "Unknown filter "+show+".")
	}
	sets, args, act := rowEditSets(s.now(), e)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("bulk edit of job %d: %w", jobID, err)
	}
	defer tx.Rollback()
	if err := draftIn(ctx, tx, jobID, "rows"); err != nil {
		return 0, err
	}
	var n int
	if err := tx.QueryRowContext(ctx, reviewCTE+`SELECT count(*) FROM k WHERE `+cond, reviewArgs(jobID, chk)...).Scan(&n); err != nil {
		return 0, fmt.Errorf("bulk edit of job %d: %w", jobID, err)
	}
	if n != expect {
		return 0, &StaleCountError{Shown: expect, Now: n}
	}
	guard, gargs := rowGuard(act)
	named := make([]any, 0, len(args)+len(gargs))
	var b strings.Builder
	for i, set := range sets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strings.Replace(set, "?", fmt.Sprintf("@s%d", i), 1))
		named = append(named, sql.Named(fmt.Sprintf("s%d", i), args[i]))
	}
	gsql := guard
	for i, g := range gargs {
		gsql = strings.Replace(gsql, "?", fmt.Sprintf("@g%d", i), 1)
		named = append(named, sql.Named(fmt.Sprintf("g%d", i), g))
	}
	res, err := tx.ExecContext(ctx, `UPDATE import_rows SET `+b.String()+`
		WHERE job_id = @job AND step = 'documents' AND `+gsql+`
		AND NOT EXISTS (SELECT 1 FROM import_calls c WHERE c.row_id = import_rows.id)
		AND id IN (`+reviewCTE+`SELECT rid FROM k WHERE `+cond+`)`, append(reviewArgs(jobID, chk), named...)...)
	if err != nil {
		return 0, fmt.Errorf("bulk edit of job %d: %w", jobID, err)
	}
	changed, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("bulk edit of job %d: %w", jobID, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("bulk edit of job %d: %w", jobID, err)
	}
	return int(changed), nil
}

// rowEditSets is the SET list of a row edit (each with one "?"), its
// arguments and the row action it is: one row's (EditRow) or a filtered
// set's (BulkEdit).
func rowEditSets(now time.Time, e RowEdit) ([]string, []any, RowAction) {
	sets := []string{"updated_at = ?"}
	args := []any{now.UnixMilli()}
	if e.CashlinkInvestor != nil {
		sets, args = append(sets, "cashlink_investor = ?"), append(args, strings.TrimSpace(*e.CashlinkInvestor))
	}
	if e.Units != nil {
		sets, args = append(sets, "units = ?"), append(args, *e.Units)
	}
	for _, f := range []struct {
		col string
		t   *time.Time
	}{{"signed_at", e.SignedAt}, {"accepted_at", e.AcceptedAt}, {"paid_at", e.PaidAt}} {
		if f.t != nil {
			sets, args = append(sets, f.col+" = ?"), append(args, ms(*f.t))
		}
	}
	act := RowActEdit
	if e.Skip != nil {
		state := RowPending
		act = RowActUnskip
		if *e.Skip {
			state, act = RowSkipped, RowActSkip
		}
		sets, args = append(sets, "skip = ?", "state = ?"), append(args, *e.Skip, string(state))
	}
	if e.SkipReason != nil {
		sets, args = append(sets, "skip_reason = ?"), append(args, *e.SkipReason)
	}
	return sets, args, act
}

// InvestorGroup is one Issuance investor of a job with its rows.
type InvestorGroup struct {
	IssuanceInvestor int64
	Name, Email      string
	Cashlink         string // "" while any of its rows to send has none
	Source           string // where the remembered mapping came from
	Rows             int
}

// Investor filters of the mapping step.
const (
	InvestorsAll      = "all"
	InvestorsUnmapped = "unmapped"
	InvestorsMapped   = "mapped"
)

// InvestorCounts counts a job's Issuance investors.
type InvestorCounts struct {
	All, Unmapped, Mapped int
	UnlinkedRows          int // rows without a known Issuance investor
}

// Of is the number of investors a filter shows.
func (c InvestorCounts) Of(show string) int {
	switch show {
	case InvestorsUnmapped:
		return c.Unmapped
	case InvestorsMapped:
		return c.Mapped
	}
	return c.All
}

// An investor is unmapped while a row of it that will be sent has no
// Cashlink investor.
const investorGroupsSQL = `SELECT g.inv, g.name, g.email, g.cashlink, g.n, g.unmapped, coalesce(m.source, '') FROM (
	SELECT issuance_investor AS inv, min(investor_name) AS name, min(investor_email) AS email, max(cashlink_investor) AS cashlink,
		count(*) AS n, sum(cashlink_investor = '' AND skip = 0) > 0 AS unmapped, min(position) AS pos
	FROM import_rows WHERE job_id = ? AND issuance_investor <> 0 GROUP BY issuance_investor
) g LEFT JOIN investor_mappings m ON m.issuance_investor = g.inv AND m.cashlink_investor = g.cashlink`

func investorCond(show string) string {
	switch show {
	case InvestorsUnmapped:
		return ` WHERE g.unmapped`
	case InvestorsMapped:
		return ` WHERE NOT g.unmapped`
	}
	return ``
}

// InvestorCounts counts a job's investors per mapping filter.
func (s *Store) InvestorCounts(ctx context.Context, jobID int64) (InvestorCounts, error) {
	var c InvestorCounts
	err := s.db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(unmapped), 0), coalesce(sum(NOT unmapped), 0),
		(SELECT count(*) FROM import_rows WHERE job_id = ? AND issuance_investor = 0) FROM (`+investorGroupsSQL+`)`, jobID, jobID).
		Scan(&c.All, &c.Unmapped, &c.Mapped, &c.UnlinkedRows)
	if err != nil {
		return c, fmt.Errorf("investor counts of job %d: %w", jobID, err)
	}
	return c, nil
}

// InvestorGroups returns one page of a job's Issuance investors (in the
// order of their first row).
func (s *Store) InvestorGroups(ctx context.Context, jobID int64, show string, offset, limit int) ([]InvestorGroup, error) {
	return s.investorGroups(ctx, investorGroupsSQL+investorCond(show)+` ORDER BY g.pos LIMIT ? OFFSET ?`, jobID, limit, offset)
}

// InvestorGroup returns one Issuance investor of a job.
func (s *Store) InvestorGroup(ctx context.Context, jobID, issuanceInvestor int64) (InvestorGroup, error) {
	gs, err := s.investorGroups(ctx, investorGroupsSQL+` WHERE g.inv = ?`, jobID, issuanceInvestor)
	if err != nil {
		return InvestorGroup{}, err
	}
	if len(gs) == 0 {
		return InvestorGroup{}, ErrNotFound
	}
	return gs[0], nil
}

// UnmappedInvestors lists every unmapped Issuance investor of a job.
func (s *Store) UnmappedInvestors(ctx context.Context, jobID int64) ([]InvestorGroup, error) {
	return s.investorGroups(ctx, investorGroupsSQL+investorCond(InvestorsUnmapped)+` ORDER BY g.pos`, jobID)
}

func (s *Store) investorGroups(ctx context.Context, q string, args ...any) ([]InvestorGroup, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("investors: %w", err)
	}
	defer rows.Close()
	var out []InvestorGroup
	for rows.Next() {
		var g InvestorGroup
		var unmapped bool
		if err := rows.Scan(&g.IssuanceInvestor, &g.Name, &g.Email, &g.Cashlink, &g.Rows, &unmapped, &g.Source); err != nil {
			return nil, err
		}
		if unmapped {
			g.Cashlink, g.Source = "", ""
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

// UnlinkedRows returns up to limit rows without a known Issuance investor.
func (s *Store) UnlinkedRows(ctx context.Context, jobID int64, limit int) ([]Row, error) {
	return s.jobRows(ctx, jobID, ` AND issuance_investor = 0 ORDER BY position LIMIT ?`, limit)
}

// RowsWithoutDocument counts a job's rows without a document of their own.
func (s *Store) RowsWithoutDocument(ctx context.Context, jobID int64) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM import_rows r WHERE r.job_id = ? AND r.skip = 0
		AND NOT EXISTS (SELECT 1 FROM import_documents d WHERE d.row_id = r.id)`, jobID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("rows without a document of job %d: %w", jobID, err)
	}
	return n, nil
}

// DocumentRows returns one page of a job's rows for the documents step
// (without: only rows without a document of their own, not skipped).
func (s *Store) DocumentRows(ctx context.Context, jobID int64, without bool, offset, limit int) ([]Row, int, error) {
	cond := ``
	if without {
		cond = ` AND skip = 0 AND NOT EXISTS (SELECT 1 FROM import_documents d WHERE d.row_id = import_rows.id)`
	}
	var total int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM import_rows WHERE job_id = ?`+cond, jobID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("document rows of job %d: %w", jobID, err)
	}
	rows, err := s.jobRows(ctx, jobID, cond+` ORDER BY position LIMIT ? OFFSET ?`, limit, offset)
	return rows, total, err
}

// RowDocuments lists the documents of the given rows.
func (s *Store) RowDocuments(ctx context.Context, jobID int64, rowIDs []int64) ([]Document, error) {
	ids, err := json.Marshal(rowIDs)
	if err != nil {
		return nil, err
	}
	return s.jobDocuments(ctx, jobID, ` AND (row_id IS NULL OR row_id IN (SELECT value FROM json_each(?)))`, string(ids))
}

// RowReferences maps a job's reference ids (upper case) to their rows.
func (s *Store) RowReferences(ctx context.Context, jobID int64) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT upper(reference), id FROM import_rows WHERE job_id = ? AND reference <> ''`, jobID)
	if err != nil {
		return nil, fmt.Errorf("references of job %d: %w", jobID, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var ref string
		var id int64
		if err := rows.Scan(&ref, &id); err != nil {
			return nil, err
		}
		out[ref] = id
	}
	return out, rows.Err()
}
