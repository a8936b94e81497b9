package importer

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"issuerconsole/services/audit"
	"issuerconsole/services/cashlink"
)

// Wizard is the import wizard's use cases, each one transition of the job
// (see the transition table in state.go), its audit event and the engine's
// start. Handlers parse the request, call one method and render; they hold
// no rule of their own.
type Wizard struct {
	Store    *Store
	Engine   *Engine
	Audit    *audit.Store // nil: no events recorded (a console without an audit log)
	Registry Registry     // Cashlink: checks at review, the read-back after a pause or cancel
}

// Actor is who acts: the signed-in admin.
type Actor struct {
	ID    int64
	Email string
}

// event records an audit event; an error says the action happened all the same.
func (w *Wizard) event(ctx context.Context, done, name string, by Actor, detail string) error {
	if w.Audit == nil {
		return nil
	}
	if err := w.Audit.Event(ctx, name, by.Email, detail); err != nil {
		return &AuditError{Done: done, Err: err}
	}
	return nil
}

// SourceOffering is the source kind of rows loaded from one offering.
const SourceOffering = "an offering"

// SetSource replaces a draft job's rows with the ones read from its source,
// applying the remembered investor mappings, and moves the wizard on.
func (w *Wizard) SetSource(ctx context.Context, jobID int64, kind, query string, rows []Row) error {
	maps, err := w.Store.Mappings(ctx)
	if err != nil {
		return err
	}
	for i := range rows {
		if m, ok := maps[rows[i].IssuanceInvestor]; ok && rows[i].CashlinkInvestor == "" && rows[i].IssuanceInvestor != 0 {
			rows[i].CashlinkInvestor = m.CashlinkInvestor
		}
	}
	if err := w.Store.ReplaceRows(ctx, jobID, rows); err != nil {
		return err
	}
	src := map[string]string{"offering": SourceOffering, "search": "a search", "csv": "a CSV file"}[kind]
	if err := w.Store.UpdateJob(ctx, jobID, JobUpdate{SourceKind: &src, SourceQuery: &query}); err != nil {
		return err
	}
	return w.Store.Advance(ctx, jobID, "mapping")
}

// InvestorCreator is what creating an investor needs of Cashlink (*cashlink.Client).
type InvestorCreator interface {
	CreateInvestor(context.Context, cashlink.Key, cashlink.NewInvestor) (cashlink.Investor, error)
}

// errUSTaxUndeclared refuses to create an investor nobody declared free of
// US tax: Cashlink's API requires is_subject_to_us_tax false (it cannot
// hold US taxpayers), the console does not know it, and these are US
// offerings, so sending false is the admin's statement, never a default.
var errUSTaxUndeclared = invalid("not_us_tax", "Confirm that the investor is not subject to US tax: Cashlink cannot hold investors who are, and the console cannot tell.")

// CreateInvestor creates a natural person in Cashlink for an Issuance
// investor of a draft job and maps it (remembered for later jobs). A
// refusal or a lost answer is an *UpstreamError; a mapping that could not
// be saved after Cashlink created the person says so (the same key gives
// the same person when the admin submits again).
func (w *Wizard) CreateInvestor(ctx context.Context, reg InvestorCreator, jobID, issuanceInvestor int64, in cashlink.NewInvestor, notUSTax bool, by Actor) (string, error) {
	if !notUSTax {
		return "", errUSTaxUndeclared
	}
	j, err := w.Store.Job(ctx, jobID)
	if err != nil {
		return "", err
	}
	if j.State != JobDraft {
		return "", &ConflictError{Job: jobID, State: j.State, Reason: "This import has started; its mapping can no longer change."}
	}
	id, err := w.Engine.CreateInvestor(ctx, reg, jobID, issuanceInvestor, in)
	if err != nil {
		return "", upstream("investor", err)
	}
	// Known from now on by its e-mail ("Match by e-mail" in later jobs).
	known := CatalogInvestor{ID: id, Name: strings.TrimSpace(in.NaturalPerson.Forename + " " + in.NaturalPerson.Surname)}
	if in.Communication != nil {
		known.Email = in.Communication.Email
	}
	if err := w.Store.RememberInvestor(ctx, known, "created"); err != nil {
		return id, fmt.Errorf("investor %s created in Cashlink, but the console could not record it: %w", id, err)
	}
	m := Mapping{IssuanceInvestor: issuanceInvestor, CashlinkInvestor: id, Source: "created"}
	if err := w.Store.MapInvestors(ctx, jobID, map[int64]string{issuanceInvestor: id}, []Mapping{m}, by.ID); err != nil {
		return id, fmt.Errorf("investor %s created in Cashlink, but the console could not save the mapping: %w", id, err)
	}
	return id, nil
}

// ConfirmPhrase is what an admin types to start crediting n investments.
func ConfirmPhrase(n int) string { return fmt.Sprintf("CREDIT %d", n) }

// Confirm runs the pre-flight again, refuses when anything changed since
// the admin saw it (the fingerprint), when a check fails, when a currency
// difference was not decided, or when the typed phrase is wrong; then it
// starts the job (draft → running), records who confirmed what, and starts
// the engine. The fresh pre-flight is returned for the page either way.
func (w *Wizard) Confirm(ctx context.Context, reg InvestorReader, jobID int64, by Actor, in Confirmation) (Preflight, error) {
	j, err := w.Store.Job(ctx, jobID)
	if err != nil {
		return Preflight{}, err
	}
	if _, ok := j.State.Next(ActStart); !ok {
		return Preflight{}, &ConflictError{Job: jobID, Action: ActStart, State: j.State}
	}
	p, err := w.RunPreflight(ctx, reg, jobID)
	if err != nil {
		return p, err
	}
	switch {
	case !p.OK():
		return p, invalid("confirm", "The import cannot start: the pre-flight found problems. Fix them (or skip their rows at Review) first.")
	case in.Fingerprint != p.Fingerprint:
		return p, invalid("confirm", "Something changed since this page was shown (rows, investors, wallets or the campaign): nothing was started. Check the pre-flight below and confirm again.")
	case p.Currency != nil && in.Currency != p.Currency.Code():
		return p, invalid("currency", fmt.Sprintf("Decide on the currency first: the campaign is priced in %s, the investors paid in %s.", p.Currency.To, p.Currency.From))
	}
	if want := ConfirmPhrase(p.Ready); strings.TrimSpace(in.Phrase) != want {
		return p, invalid("confirm", fmt.Sprintf("The confirmation does not match: type %s exactly.", want))
	}
	if err := w.Store.Confirm(ctx, jobID, by.ID); err != nil {
		return p, err
	}
	w.Engine.Start(jobID, by.Email)
	done := fmt.Sprintf("Import %d started", jobID)
	detail := fmt.Sprintf("typed %q for job %d", ConfirmPhrase(p.Ready), j.ID)
	if p.Currency != nil {
		detail += fmt.Sprintf("; accepted the campaign's %s price against %s payments (%s %s for %s %s paid)", p.Currency.To, p.Currency.From,
			p.Currency.Asked.FloatString(2), p.Currency.To, p.Currency.Paid.FloatString(2), p.Currency.From)
	}
	return p, errors.Join(
		w.event(ctx, done, audit.EventImportStarted, by, fmt.Sprintf("job %d (%s): %d investments into campaign %s", j.ID, j.Name, p.Ready, j.CampaignID)),
		w.event(ctx, done, audit.EventCreditConfirmed, by, detail))
}

// Pause stops the job before its next row (rows in flight finish their step).
func (w *Wizard) Pause(ctx context.Context, jobID int64, by Actor) error {
	if err := w.Store.Transition(ctx, jobID, ActPause); err != nil {
		return err
	}
	w.Engine.Wake(jobID)
	return w.event(ctx, fmt.Sprintf("Import %d paused", jobID), audit.EventImportPaused, by, fmt.Sprintf("job %d paused", jobID))
}

// Resume sets a paused job running again.
func (w *Wizard) Resume(ctx context.Context, jobID int64, by Actor) error {
	if err := w.Store.Transition(ctx, jobID, ActResume); err != nil {
		return err
	}
	w.Engine.Start(jobID, by.Email)
	return w.event(ctx, fmt.Sprintf("Import %d resumed", jobID), audit.EventImportStarted, by, fmt.Sprintf("job %d resumed", jobID))
}

// Cancel ends a running or paused job for good once the admin confirmed
// it: rows that have not started are never imported.
func (w *Wizard) Cancel(ctx context.Context, jobID int64, by Actor, confirmed bool) error {
	if !confirmed {
		j, err := w.Store.Job(ctx, jobID)
		if err != nil {
			return err
		}
		if _, ok := j.State.Next(ActCancel); !ok {
			return &ConflictError{Job: jobID, Action: ActCancel, State: j.State}
		}
		return invalid("confirm", "Tick the box to confirm that the rows not yet started will not be imported.")
	}
	if err := w.Store.Transition(ctx, jobID, ActCancel); err != nil {
		return err
	}
	w.Engine.Wake(jobID)
	return w.event(ctx, fmt.Sprintf("Import %d cancelled", jobID), audit.EventImportCancelled, by, fmt.Sprintf("job %d cancelled", jobID))
}

// Rerun puts a finished job's failed rows back in the queue and runs it.
func (w *Wizard) Rerun(ctx context.Context, jobID int64, by Actor) error {
	n, err := w.Store.Rerun(ctx, jobID)
	if err != nil {
		return err
	}
	w.Engine.Start(jobID, by.Email)
	return w.event(ctx, fmt.Sprintf("Import %d re-run", jobID), audit.EventImportStarted, by,
		fmt.Sprintf("job %d: re-run of %d failed rows with their keys", jobID, n))
}

// JobActions are the buttons of the run and result pages: the state's
// actions, without a re-run when no row failed.
func JobActions(state JobState, p Progress) []Action {
	var out []Action
	for _, a := range state.Actions() {
		if a == ActRerun && p.Failed+p.Unknown == 0 {
			continue
		}
		out = append(out, a)
	}
	return out
}

// ProgressPage is one poll of the run page: the counts and one page of rows.
type ProgressPage struct {
	Job     Job
	Counts  Progress
	Rows    []Row
	Page    int
	Pages   int
	Actions []Action
}

// Progress reads the job, its counts (one GROUP BY) and the rows of one
// page (keyset on position): a poll costs the same for 5,000 rows as for 50.
// A paused or cancelled job's rows on the page that were credited but not
// seen delivered are read back from Cashlink first.
func (w *Wizard) Progress(ctx context.Context, jobID int64, page, size int) (ProgressPage, error) {
	j, err := w.Store.Job(ctx, jobID)
	if err != nil {
		return ProgressPage{}, err
	}
	p, err := w.Store.JobProgress(ctx, jobID)
	if err != nil {
		return ProgressPage{}, err
	}
	pages := max((p.Total+size-1)/size, 1)
	page = min(max(page, 1), pages)
	rows, err := w.Store.RowsAfter(ctx, jobID, (page-1)*size, size)
	if err != nil {
		return ProgressPage{}, err
	}
	if (j.State == JobPaused || j.State == JobCancelled) && w.Registry != nil && !w.Engine.Running(jobID) {
		changed, err := w.readBack(ctx, rows)
		if err != nil {
			return ProgressPage{}, err
		}
		if changed {
			if p, err = w.Store.JobProgress(ctx, jobID); err != nil {
				return ProgressPage{}, err
			}
		}
	}
	return ProgressPage{Job: j, Counts: p, Rows: rows, Page: page, Pages: pages, Actions: JobActions(j.State, p)}, nil
}

// readBack asks Cashlink how each credited row that was stopped before it
// saw DELIVERED ended, and records the answer (a row delivered is done).
// A read that fails leaves the row as it was.
func (w *Wizard) readBack(ctx context.Context, rows []Row) (bool, error) {
	changed := false
	for i, r := range rows {
		if r.CashlinkInvestment == "" || r.Step != StepStatus || !RowActReadBack.Allows(r.State) {
			continue
		}
		inv, err := w.Registry.GetInvestment(ctx, r.CashlinkInvestment)
		if err != nil {
			continue // shown as it was; the next look tries again
		}
		if inv.Status == r.FinalStatus && inv.Status != cashlink.StatusDelivered {
			continue
		}
		next := r
		next.FinalStatus = inv.Status
		if inv.Status == cashlink.StatusDelivered {
			next.State, next.Step, next.Error = RowDone, StepDone, ""
		}
		ok, err := w.Store.readBack(ctx, r, next)
		if err != nil {
			return changed, err
		}
		if ok {
			rows[i], changed = next, true
		}
	}
	return changed, nil
}

// MappingChange is what the Mapping step saves.
type MappingChange struct {
	CampaignID, ProductID string
	// Match maps every unmapped investor to the Cashlink investor the
	// console knows with the same e-mail (Store.Catalog, in both modes);
	// Investors and Rows are then unused.
	Match     bool
	Investors map[int64]string // Issuance investor → Cashlink investor ("" clears)
	Rows      map[int64]string // row without an Issuance investor → Cashlink investor
}

// SaveMapping saves a draft job's campaign, product and investor mappings
// (remembering the ones the admin typed or matched for later jobs) and
// moves the wizard on. It returns what to tell the admin; rows that could
// not change are an *InvalidError naming each.
func (w *Wizard) SaveMapping(ctx context.Context, jobID int64, by Actor, ch MappingChange) (string, error) {
	if err := w.Store.UpdateJob(ctx, jobID, JobUpdate{CampaignID: &ch.CampaignID, ProductID: &ch.ProductID}); err != nil {
		return "", err
	}
	rows, err := w.Store.Rows(ctx, jobID)
	if err != nil {
		return "", err
	}
	remember := func(maps map[int64]string, source string) []Mapping {
		out := make([]Mapping, 0, len(maps))
		for inv, cl := range maps {
			out = append(out, Mapping{IssuanceInvestor: inv, CashlinkInvestor: cl, Source: source})
		}
		return out
	}
	msg := "Mapping saved."
	if ch.Match {
		cat, err := w.Store.Catalog(ctx)
		if err != nil {
			return "", err
		}
		matched := MatchByEmail(rows, cat)
		if err := w.Store.MapInvestors(ctx, jobID, matched, remember(matched, "email"), by.ID); err != nil {
			return "", err
		}
		msg = fmt.Sprintf("Matched %d investors by e-mail.", len(matched))
	} else {
		current := map[int64]string{}
		for _, r := range rows {
			current[r.IssuanceInvestor] = r.CashlinkInvestor
		}
		changed := map[int64]string{}
		for inv, cl := range ch.Investors {
			if cl != "" && cl != current[inv] { // a changed value is the admin's own
				changed[inv] = cl
			}
		}
		if err := w.Store.MapInvestors(ctx, jobID, ch.Investors, remember(changed, "manual"), by.ID); err != nil {
			return "", err
		}
		refused := map[string]string{}
		for row, cl := range ch.Rows {
			var conflict *ConflictError
			if err := w.Store.EditRow(ctx, jobID, row, RowEdit{CashlinkInvestor: &cl}); errors.As(err, &conflict) {
				refused[fmt.Sprint("row-", row)] = err.Error()
			} else if errors.Is(err, ErrNotFound) {
				refused[fmt.Sprint("row-", row)] = fmt.Sprintf("Row %d is not part of this import.", row)
			} else if err != nil {
				return "", err
			}
		}
		if len(refused) > 0 {
			return "", &InvalidError{Fields: refused}
		}
	}
	return msg, w.Store.Advance(ctx, jobID, "documents")
}
