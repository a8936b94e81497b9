package importer

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"issuerconsole/services/issuance"
)

// Sourcer builds a job's rows from Issuance.
type Sourcer struct {
	Iss *issuance.Client
}

// MaxRows bounds one job.
const MaxRows = 5000

// TimestampRule explains how the Cashlink timestamps are derived from the
// Issuance data (the page shows it; every value stays editable).
const TimestampRule = "signed_at = processed_at (else updated_at); accepted_at = invested_at, else processed_at for accepted or invested investments; paid_at = received_at."

func deriveTimes(inv issuance.Investment) (signed, accepted, paid time.Time) {
	switch {
	case inv.ProcessedAt != nil:
		signed = *inv.ProcessedAt
	default:
		signed = inv.UpdatedAt
	}
	switch {
	case inv.InvestedAt != nil:
		accepted = *inv.InvestedAt
	case inv.ProcessedAt != nil && (inv.Status == issuance.StatusAccepted || inv.Status == issuance.StatusInvested || inv.Status == issuance.StatusAcceptedEscrowClosed):
		accepted = *inv.ProcessedAt
	}
	if inv.ReceivedAt != nil {
		paid = *inv.ReceivedAt
	}
	return signed.UTC(), accepted.UTC(), paid.UTC()
}

func rowOf(inv issuance.Investment) Row {
	s, a, p := deriveTimes(inv)
	return Row{IssuanceID: inv.ID, Reference: inv.ReferenceID, OfferingID: inv.Offering, IssuanceStatus: string(inv.Status),
		Quantity: inv.Quantity, Amount: string(inv.Amount), InvestorName: inv.InvestorIndividualName, Units: inv.Quantity,
		SignedAt: s, AcceptedAt: a, PaidAt: p}
}

// FromQuery loads every investment matching an investment-search query.
func (s *Sourcer) FromQuery(ctx context.Context, q url.Values) ([]Row, []string, error) {
	if c := issuance.CheckQuery(issuance.InvestmentParams, q); !c.OK() {
		return nil, nil, fmt.Errorf("the search has errors: fix them on the investment search first")
	}
	var rows []Row
	for inv, err := range s.Iss.AllInvestments(ctx, q, 100) {
		if err != nil {
			return nil, nil, fmt.Errorf("reading the investments from Issuance: %w", err)
		}
		rows = append(rows, rowOf(inv))
		if len(rows) > MaxRows {
			return nil, nil, fmt.Errorf("the search matches more than %d investments: narrow it down (one offering, some statuses)", MaxRows)
		}
	}
	if len(rows) == 0 {
		return nil, nil, fmt.Errorf("the search matches no investment")
	}
	warns, err := s.resolveInvestors(ctx, rows)
	return rows, warns, err
}

// resolveInvestors finds each row's Issuance investor. The investment
// object names its investor only by name, so: list the investors, take
// those whose name matches, and confirm each candidate with one filtered
// query (investor=<id>&id__in=<the rows>), so a shared name can never
// attach a row to the wrong person.
func (s *Sourcer) resolveInvestors(ctx context.Context, rows []Row) ([]string, error) {
	byName := map[string][]issuance.Investor{}
	q := url.Values{"page_size": {"100"}}
	page, err := s.Iss.ListInvestorsQuery(ctx, q)
	for {
		if err != nil {
			return []string{"Investors could not be read from Issuance (" + err.Error() + "); map them by hand or by CSV."}, nil
		}
		for _, inv := range page.Results {
			name := strings.TrimSpace(fmt.Sprint(inv.Fields["first_name"]) + " " + fmt.Sprint(inv.Fields["last_name"]))
			byName[name] = append(byName[name], inv)
		}
		if page.Next == nil {
			break
		}
		nq := page.Next.Query()
		page, err = s.Iss.ListInvestorsQuery(ctx, nq)
	}
	// Candidate investor → the rows that name it.
	cand := map[int64][]int{}
	investors := map[int64]issuance.Investor{}
	for i, r := range rows {
		for _, inv := range byName[strings.TrimSpace(r.InvestorName)] {
			cand[inv.ID] = append(cand[inv.ID], i)
			investors[inv.ID] = inv
		}
	}
	ids := make([]int64, 0, len(cand))
	for id := range cand {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(a, b int) bool { return ids[a] < ids[b] })
	for _, invID := range ids {
		idx := cand[invID]
		list := make([]string, len(idx))
		for k, i := range idx {
			list[k] = strconv.FormatInt(rows[i].IssuanceID, 10)
		}
		confirmed := map[int64]bool{}
		for inv, err := range s.Iss.AllInvestments(ctx, url.Values{"investor": {strconv.FormatInt(invID, 10)}, "id__in": {strings.Join(list, ",")}}, 100) {
			if err != nil {
				return nil, fmt.Errorf("confirming the investor of investments: %w", err)
			}
			confirmed[inv.ID] = true
		}
		for _, i := range idx {
			if confirmed[rows[i].IssuanceID] {
				rows[i].IssuanceInvestor = invID
				if e, ok := investors[invID].Fields["email"].(string); ok {
					rows[i].InvestorEmail = e
				}
			}
		}
	}
	var warns []string
	missing := 0
	for _, r := range rows {
		if r.IssuanceInvestor == 0 {
			missing++
		}
	}
	if missing > 0 {
		warns = append(warns, fmt.Sprintf("%d investments could not be tied to an Issuance investor; map their Cashlink investor per row.", missing))
	}
	return warns, nil
}

// CSVRow is one line of an import CSV (see CSVColumns).
type CSVRow struct {
	Line             int
	IssuanceID       int64
	CashlinkInvestor string
	Units            int64 // 0 = the investment's quantity
	SignedAt         time.Time
	AcceptedAt       time.Time
	PaidAt           time.Time
}

// maxInvestorID caps a Cashlink investor id (a UUID is 36 characters).
const maxInvestorID = 100

// checkInvestorID explains what is wrong with a cashlink_investor_id cell,
// or returns "": ids are short, valid UTF-8 and printable (no NUL, no
// control characters), as they end up in requests, pages and the audit log.
func checkInvestorID(v string) string {
	switch {
	case len(v) > maxInvestorID:
		return fmt.Sprintf("longer than %d characters (%d bytes): not a Cashlink investor id", maxInvestorID, len(v))
	case !utf8.ValidString(v):
		return "not valid UTF-8 text"
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return fmt.Sprintf("contains the control or invisible character %U", r)
		}
	}
	return ""
}

// CSVColumns are the import CSV's columns; only the first is required.
var CSVColumns = []string{"issuance_investment_id", "cashlink_investor_id", "units", "signed_at", "accepted_at", "paid_at"}

// TemplateExample is the example line of the downloadable template (whose
// header is CSVColumns).
var TemplateExample = []string{"1042", "3fa85f64-5717-4562-b3fc-2c963f66afa6", "300", "2026-03-12T07:14:13Z", "2026-03-12T07:14:13Z", "2026-03-13T09:00:00Z"}

// MaxCSVSize caps an import CSV.
const MaxCSVSize = 10 << 20

// ErrTooLarge is returned by a CapReader past its cap.
var ErrTooLarge = errors.New("the file is larger than the limit")

// CapReader reads at most max bytes of r and fails with ErrTooLarge if r
// holds more: a file cut off at the cap could still parse, its last line
// truncated into another value (investment 1234 read as 12).
func CapReader(r io.Reader, max int64) io.Reader { return &capReader{r: r, left: max} }

type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	if c.left -= int64(n); c.left < 0 {
		return 0, ErrTooLarge
	}
	return n, err
}

// CSVError names the line and column of a bad value.
type CSVError struct {
	Line   int
	Column string
	Msg    string
}

func (e *CSVError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
	}
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Msg)
}

// ParseCSV reads an import CSV: a header naming the columns (any order,
// unknown columns refused), one investment per line. Every problem is
// returned, with its line, and nothing is imported while there is one.
func ParseCSV(r io.Reader) ([]CSVRow, []error) {
	cr := csv.NewReader(CapReader(r, MaxCSVSize))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	tooLarge := &CSVError{Line: 1, Msg: fmt.Sprintf("the file is larger than %d MB: split it", MaxCSVSize>>20)}
	header, err := cr.Read()
	if errors.Is(err, ErrTooLarge) {
		return nil, []error{tooLarge}
	}
	if err != nil {
		return nil, []error{&CSVError{Line: 1, Msg: "no header line: expected " + strings.Join(CSVColumns, ",")}}
	}
	col := map[string]int{}
	var errs []error
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		known := false
		for _, c := range CSVColumns {
			known = known || c == h
		}
		if !known {
			errs = append(errs, &CSVError{Line: 1, Column: h, Msg: "unknown column; the columns are " + strings.Join(CSVColumns, ", ")})
			continue
		}
		if _, dup := col[h]; dup {
			errs = append(errs, &CSVError{Line: 1, Column: h, Msg: "column given twice"})
		}
		col[h] = i
	}
	if _, ok := col["issuance_investment_id"]; !ok {
		errs = append(errs, &CSVError{Line: 1, Column: "issuance_investment_id", Msg: "required column missing"})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	var out []CSVRow
	seen := map[int64]int{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, ErrTooLarge) {
			return nil, []error{tooLarge}
		}
		if err != nil {
			errs = append(errs, &CSVError{Line: line, Msg: "not valid CSV: " + err.Error()})
			break
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		get := func(name string) string {
			i, ok := col[name]
			if !ok || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
		row := CSVRow{Line: line, CashlinkInvestor: get("cashlink_investor_id")}
		if msg := checkInvestorID(row.CashlinkInvestor); msg != "" {
			errs = append(errs, &CSVError{Line: line, Column: "cashlink_investor_id", Msg: msg})
			row.CashlinkInvestor = ""
		}
		id, err := strconv.ParseInt(get("issuance_investment_id"), 10, 64)
		if err != nil || id <= 0 {
			errs = append(errs, &CSVError{Line: line, Column: "issuance_investment_id", Msg: "not a positive whole number"})
		} else if prev, dup := seen[id]; dup {
			errs = append(errs, &CSVError{Line: line, Column: "issuance_investment_id", Msg: fmt.Sprintf("investment %d is already on line %d", id, prev)})
		} else {
			row.IssuanceID, seen[id] = id, line
		}
		if u := get("units"); u != "" {
			n, err := strconv.ParseInt(u, 10, 64)
			if err != nil || n <= 0 {
				errs = append(errs, &CSVError{Line: line, Column: "units", Msg: "not a positive whole number"})
			}
			row.Units = n
		}
		for _, tc := range []struct {
			name string
			dst  *time.Time
		}{{"signed_at", &row.SignedAt}, {"accepted_at", &row.AcceptedAt}, {"paid_at", &row.PaidAt}} {
			if v := get(tc.name); v != "" {
				t, err := time.Parse(time.RFC3339, v)
				if err != nil {
					errs = append(errs, &CSVError{Line: line, Column: tc.name, Msg: "not a date-time like 2026-03-12T07:14:13Z"})
				}
				*tc.dst = t.UTC()
			}
		}
		out = append(out, row)
		if len(out) > MaxRows {
			errs = append(errs, &CSVError{Line: line, Msg: fmt.Sprintf("more than %d rows: split the file", MaxRows)})
			break
		}
	}
	if len(out) == 0 && len(errs) == 0 {
		errs = append(errs, &CSVError{Line: 2, Msg: "no investment in the file"})
	}
	return out, errs
}

// FromCSV loads the CSV's investments from Issuance (100 at a time) and
// applies the file's values over the derived ones.
func (s *Sourcer) FromCSV(ctx context.Context, lines []CSVRow) ([]Row, []string, error) {
	byID := map[int64]issuance.Investment{}
	for i := 0; i < len(lines); i += 100 {
		var ids []string
		for _, l := range lines[i:min(i+100, len(lines))] {
			ids = append(ids, strconv.FormatInt(l.IssuanceID, 10))
		}
		for inv, err := range s.Iss.AllInvestments(ctx, url.Values{"id__in": {strings.Join(ids, ",")}}, 100) {
			if err != nil {
				return nil, nil, fmt.Errorf("reading the investments from Issuance: %w", err)
			}
			byID[inv.ID] = inv
		}
	}
	var rows []Row
	var missing []string
	for _, l := range lines {
		inv, ok := byID[l.IssuanceID]
		if !ok {
			missing = append(missing, fmt.Sprintf("line %d: investment %d", l.Line, l.IssuanceID))
			continue
		}
		r := rowOf(inv)
		r.CashlinkInvestor = l.CashlinkInvestor
		if l.Units > 0 {
			r.Units = l.Units
		}
		for _, p := range []struct{ src, dst *time.Time }{{&l.SignedAt, &r.SignedAt}, {&l.AcceptedAt, &r.AcceptedAt}, {&l.PaidAt, &r.PaidAt}} {
			if !p.src.IsZero() {
				*p.dst = *p.src
			}
		}
		rows = append(rows, r)
	}
	if len(missing) > 0 {
		return nil, nil, fmt.Errorf("the Issuance API does not know these investments (or they belong to another issuer): %s", strings.Join(missing, "; "))
	}
	warns, err := s.resolveInvestors(ctx, rows)
	return rows, warns, err
}
