package handlers

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"issuerconsole/routes"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/audit"
	"issuerconsole/services/csvsafe"
	"issuerconsole/services/personal"
	"issuerconsole/views"
)

// auditRow is one row of the log as pv may see it: personal query values
// in the path masked for auditors.
func auditRow(e audit.Entry, pv personal.Viewer) views.AuditRow {
	return views.AuditRow{
		ID: e.ID, At: e.At.Format("2006-01-02 15:04:05.000"), Kind: e.Kind, API: e.API, Method: e.Method,
		Path: pv.Path(e.Path), Status: e.FormatStatus(), Failed: e.Failed(), Duration: strconv.FormatInt(e.Duration.Milliseconds(), 10),
		Attempt: e.Attempt, Key: e.IdempotencyKey, Replayed: e.Replayed, Actor: e.Actor, Job: e.Job, Row: e.Row,
		Event: e.Event, Error: e.Error,
	}
}

func auditFilterView(q url.Values, problems map[string]string) views.AuditFilter {
	return views.AuditFilter{
		API: q.Get("api"), Kind: q.Get("kind"), Method: q.Get("method"), Path: q.Get("path"), Status: q.Get("status"),
		Key: q.Get("key"), Actor: q.Get("actor"), Job: q.Get("job"), Row: q.Get("row"), From: q.Get("from"), To: q.Get("to"),
		ErrorsOnly: q.Get("errors") == "1" || q.Get("errors") == "true", Problems: problems,
	}
}

// auditList is GET /audit: filters in the URL, newest first, keyset pages
// (?before=<id>), the table alone for htmx.
func (s *Server) auditList(c echo.Context) error {
	q := c.QueryParams()
	f, problems := audit.FilterFromQuery(q)
	var before int64
	if b := q.Get("before"); b != "" {
		var err error
		if before, err = strconv.ParseInt(b, 10, 64); err != nil || before < 0 {
			problems["before"] = "Not a row number."
			before = 0
		}
	}
	a := views.AuditList{
		Filter:   auditFilterView(q, problems),
		Methods:  []string{"", "GET", "POST", "PATCH", "PUT", "DELETE"},
		Statuses: append([]string{""}, audit.StatusClasses...),
	}
	p := s.page(c, "Audit log", "audit")
	// An invalid filter never widens the result: the page says what is
	// wrong and lists nothing (and offers no export) until it is fixed.
	if len(problems) > 0 {
		a.Problems = auditProblems(problems)
		return s.render(c, http.StatusOK, view{Title: p.Title, Nav: p.Nav, Content: views.AuditPage(p, a), Fragment: views.AuditResults(a)})
	}
	page, err := s.Audit.List(c.Request().Context(), f, before, 50)
	if err != nil {
		return err
	}
	fq := f.Query()
	// The exports carry exactly the filters of the page (not its position).
	a.ExportCSV = string(routes.AuditExportCSV) + "?" + fq.Encode()
	a.ExportND = string(routes.AuditExportNDJSON) + "?" + fq.Encode()
	if s.Anchor != nil {
		a.SigningKey = hex.EncodeToString(s.Anchor.PublicKey())
	}
	pv := viewer(c)
	for _, e := range page.Entries {
		a.Rows = append(a.Rows, auditRow(e, pv))
	}
	if page.Next != 0 {
		older := f.Query()
		older.Set("before", strconv.FormatInt(page.Next, 10))
		a.OlderURL = string(routes.Audit) + "?" + older.Encode()
	}
	if before != 0 {
		a.NewestURL = string(routes.Audit) + "?" + fq.Encode()
	}
	return s.render(c, http.StatusOK, view{Title: p.Title, Nav: p.Nav, Content: views.AuditPage(p, a), Fragment: views.AuditResults(a)})
}

// auditFilterLabels name the filters as the form labels them.
var auditFilterLabels = map[string]string{"api": "API", "kind": "Kind", "status": "Status", "from": "From", "to": "To", "before": "Page"}

// auditProblems words each invalid filter for the message above the table,
// in the form's order.
func auditProblems(problems map[string]string) []string {
	var out []string
	for _, k := range []string{"api", "kind", "status", "from", "to", "before"} {
		if msg, ok := problems[k]; ok {
			out = append(out, auditFilterLabels[k]+": "+msg)
		}
	}
	return out
}

func prettyJSON(s string) string {
	if s == "" {
		return ""
	}
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(s), "", "  ") != nil {
		return s
	}
	return buf.String()
}

// auditEntry is GET /audit/:id: everything recorded, and every attempt
// made with the same idempotency key.
func (s *Server) auditEntry(c echo.Context) error {
	id, err := pathID(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	e, err := s.Audit.Get(ctx, id)
	if errors.Is(err, audit.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound)
	}
	if err != nil {
		return err
	}
	// Bodies keep their JSON structure; auditors see personal values masked.
	pv := viewer(c)
	d := views.AuditDetail{
		Entry: auditRow(e, pv), Request: prettyJSON(pv.JSON(e.RequestBody)), Response: prettyJSON(pv.JSON(e.ResponseBody)),
		PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash),
	}
	add := func(label, v string) {
		if v != "" {
			d.Fields = append(d.Fields, [2]string{label, v})
		}
	}
	add("Time (UTC)", e.At.Format("2006-01-02 15:04:05.000"))
	add("Kind", e.Kind)
	add("API", e.API)
	add("Event", e.Event)
	add("Detail", e.Detail)
	add("Method", e.Method)
	add("Path", pv.Path(e.Path))
	if e.Kind == audit.KindCall {
		add("Status", e.FormatStatus())
		add("Duration", e.Duration.String())
		add("Attempt", strconv.Itoa(e.Attempt))
	}
	add("Idempotency key", e.IdempotencyKey)
	if e.Replayed {
		add("Replayed", "yes: the API answered with the stored response of an earlier attempt")
	}
	add("Upstream request id", e.UpstreamRequestID)
	add("Error", e.Error)
	add("Actor", e.Actor)
	add("Job", e.Job)
	add("Row", e.Row)
	if e.IdempotencyKey != "" {
		atts, err := s.Audit.Attempts(ctx, e.IdempotencyKey)
		if err != nil {
			return err
		}
		for _, a := range atts {
			d.Attempts = append(d.Attempts, auditRow(a, pv))
		}
	}
	title := fmt.Sprintf("Audit entry #%d", e.ID)
	return s.render(c, http.StatusOK, view{Title: title, Nav: "audit", Content: views.AuditEntryPage(d)})
}

func verifyView(r audit.VerifyResult) views.VerifyView {
	return views.VerifyView{Intact: r.Intact, Rows: r.Rows, BrokenID: r.BrokenID, Reason: r.Reason, HeadID: r.HeadID, Head: hex.EncodeToString(r.Head),
		Anchor: anchorNote(r)}
}

// anchorNote says what the signed checkpoints showed.
func anchorNote(r audit.VerifyResult) string {
	if !r.Anchored {
		return ""
	}
	note := fmt.Sprintf("It matches all %d signed checkpoints", r.Checkpoints)
	if !r.AnchorAt.IsZero() {
		note += fmt.Sprintf(", the last of row #%d at %s", r.AnchorRow, r.AnchorAt.Format("2006-01-02 15:04:05 UTC"))
	}
	note += "."
	if r.BadSigs > 0 {
		note += " " + views.Plural(int64(r.BadSigs), "checkpoint") + " not signed with this console's key " + map[bool]string{true: "was", false: "were"}[r.BadSigs == 1] + " ignored."
	}
	return note
}

// verifyChain recomputes the chain and checks it against the signed
// checkpoints.
func (s *Server) verifyChain(ctx context.Context) (audit.VerifyResult, error) {
	if s.Anchor == nil {
		return s.Audit.Verify(ctx)
	}
	cps, err := s.Anchor.Checkpoints()
	if err != nil {
		return audit.VerifyResult{}, err
	}
	return s.Audit.VerifyAnchored(ctx, cps, s.Anchor.PublicKey())
}

// auditVerify is POST /audit/verify: recompute the chain (auditors may).
func (s *Server) auditVerify(c echo.Context) error {
	res, err := s.verifyChain(c.Request().Context())
	if err != nil {
		return err
	}
	s.lastVerify.Lock()
	s.lastVerify.at, s.lastVerify.result = time.Now(), res
	s.lastVerify.Unlock()
	v := verifyView(res)
	if !isFragment(c) {
		kind, msg := "success", fmt.Sprintf("Chain intact: %s verified. %s", views.Plural(int64(res.Rows), "row"), v.Anchor)
		if !res.Intact {
			kind, msg = "error", fmt.Sprintf("Chain broken at row #%d: %s.", res.BrokenID, res.Reason)
		}
		if err := s.flash(c, kind, msg); err != nil {
			return err
		}
		return redirect(c, string(routes.Audit))
	}
	return s.render(c, http.StatusOK, view{Content: views.VerifyResult(v)})
}

var exportColumns = []string{"id", "at", "kind", "api", "method", "path", "status", "duration_ms", "attempt", "idempotency_key",
	"replayed", "upstream_request_id", "error", "actor", "job", "row", "event", "detail", "request_body", "response_body", "prev_hash", "hash"}

// exportSheet is the CSV export's columns: the numeric ones keep their
// numbers, every other cell is guarded against formulas.
func exportSheet() []csvsafe.Column {
	cols := csvsafe.Names(exportColumns...)
	for i, name := range exportColumns {
		switch name {
		case "id", "status", "duration_ms", "attempt":
			cols[i].Numeric = true
		}
	}
	return cols
}

// exportRecord is one exported row as pv may see it: personal values in
// the path and the bodies masked for auditors (the JSON structure stays).
func exportRecord(e audit.Entry, pv personal.Viewer) []string {
	return []string{strconv.FormatInt(e.ID, 10), e.At.Format(time.RFC3339Nano), e.Kind, e.API, e.Method, pv.Path(e.Path),
		strconv.Itoa(e.Status), strconv.FormatInt(e.Duration.Milliseconds(), 10), strconv.Itoa(e.Attempt), e.IdempotencyKey,
		strconv.FormatBool(e.Replayed), e.UpstreamRequestID, e.Error, e.Actor, e.Job, e.Row, e.Event, e.Detail,
		pv.JSON(e.RequestBody), pv.JSON(e.ResponseBody), hex.EncodeToString(e.PrevHash), hex.EncodeToString(e.Hash)}
}

// auditExport streams the filtered log as CSV or NDJSON in constant memory.
// The chain head at the start of the export is written first, and rows
// appended during the export are left out, so the file is one consistent
// snapshot that can be checked against a later verification.
func (s *Server) auditExport(format string) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx := c.Request().Context()
		f, problems := audit.FilterFromQuery(c.QueryParams())
		if len(problems) > 0 {
			return echo.NewHTTPError(http.StatusBadRequest, "The filter has errors; fix them on the log page first.")
		}
		headID, head, err := s.Audit.Head(ctx)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		name := "audit-" + now.Format("20060102-150405") + "." + format
		h := c.Response().Header()
		h.Set("Content-Disposition", `attachment; filename="`+name+`"`)
		h.Set("X-Audit-Chain-Head", fmt.Sprintf("%d:%x", headID, head))
		h.Set("Cache-Control", "no-store")
		meta := map[string]any{"chain_head": map[string]any{"id": headID, "hash": hex.EncodeToString(head)},
			"exported_at": now.Format(time.RFC3339), "filter": f.Query().Encode()}
		// Every signed checkpoint travels with the export, so a copy kept
		// elsewhere can anchor the log (web audit verify -checkpoints FILE).
		var cps []audit.Checkpoint
		if s.Anchor != nil {
			if cps, err = s.Anchor.Checkpoints(); err != nil {
				return err
			}
			meta["checkpoint_key"] = hex.EncodeToString(s.Anchor.PublicKey())
		}
		pv := viewer(c)
		upTo := func(fn func(audit.Entry) error) error {
			return s.Audit.Each(ctx, f, func(e audit.Entry) error {
				if e.ID > headID {
					return nil
				}
				return fn(e)
			})
		}
		w := c.Response()
		if format == "ndjson" {
			h.Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			enc := json.NewEncoder(w)
			if err := enc.Encode(meta); err != nil {
				return nil
			}
			n := 0
			err := upTo(func(e audit.Entry) error {
				rec := map[string]any{}
				vals := exportRecord(e, pv)
				for i, col := range exportColumns {
					rec[col] = vals[i]
				}
				if n++; n%500 == 0 {
					w.Flush()
				}
				return enc.Encode(rec)
			})
			if err != nil {
				return err
			}
			for _, cp := range cps {
				if err := enc.Encode(map[string]any{"checkpoint": cp}); err != nil {
					return nil
				}
			}
			return nil
		}
		h.Set("Content-Type", "text/csv; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		// The file stays rectangular (one header row, same columns on every
		// row) so spreadsheet and pandas imports work; the chain head comes
		// in a last row whose id is "#chain_head". A file cut short lacks it.
		cw := csvsafe.NewWriter(w, exportSheet())
		cw.WriteHeader()
		n := 0
		err = upTo(func(e audit.Entry) error {
			if n++; n%500 == 0 {
				cw.Flush()
				w.Flush()
			}
			return cw.Write(exportRecord(e, pv))
		})
		if err != nil {
			return err
		}
		for _, cp := range cps {
			line, _ := json.Marshal(cp)
			rec := make([]string, len(exportColumns))
			rec[0], rec[1], rec[17] = "#checkpoint", cp.At.Format(time.RFC3339Nano), string(line)
			rec[20], rec[21] = strconv.FormatInt(cp.Row, 10), cp.Hash
			cw.Write(rec)
		}
		trailer := make([]string, len(exportColumns))
		trailer[0], trailer[1] = "#chain_head", now.Format(time.RFC3339)
		trailer[17] = fmt.Sprintf("chain head #%d at export; %d rows; filter %s", headID, n, f.Query().Encode())
		trailer[20], trailer[21] = strconv.FormatInt(headID, 10), hex.EncodeToString(head)
		cw.Write(trailer)
		cw.Flush()
		return cw.Error()
	}
}
