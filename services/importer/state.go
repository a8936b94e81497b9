package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// JobState is where an import job is in its life.
type JobState string

// Job states.
const (
	JobDraft     JobState = "draft"
	JobRunning   JobState = "running"
	JobPaused    JobState = "paused"
	JobCancelled JobState = "cancelled"
	JobDone      JobState = "done"
)

// JobStates lists every job state.
var JobStates = []JobState{JobDraft, JobRunning, JobPaused, JobCancelled, JobDone}

func (s JobState) String() string { return string(s) }

// Final reports whether nothing more happens to the job unless someone re-runs it.
func (s JobState) Final() bool { return s == JobDone || s == JobCancelled }

// Action is something done to a job: by an admin or by the engine.
type Action string

// Actions on a job.
const (
	ActStart  Action = "start"  // the typed confirmation
	ActPause  Action = "pause"  // an admin, or the engine when a shared document is refused
	ActResume Action = "resume" // an admin
	ActCancel Action = "cancel" // an admin
	ActFinish Action = "finish" // the engine, when every row is final
	ActRerun  Action = "rerun"  // an admin: failed rows again
	ActRemap  Action = "remap"  // an admin: another mapping for failed rows, before a re-run
)

// Actions lists every action, in the order buttons show them.
var Actions = []Action{ActStart, ActResume, ActPause, ActCancel, ActRerun, ActFinish}

// Transition is one line of the job's transition table.
type Transition struct {
	From []JobState
	To   JobState
}

// transitions is the one table of what may happen to a job. Every state
// change goes through Store.transition, whose UPDATE is guarded by From:
// a pause or cancel racing the engine's finish cannot both win, and a done
// job never leaves done except by an explicit re-run.
var transitions = map[Action]Transition{
	ActStart:  {From: []JobState{JobDraft}, To: JobRunning},
	ActPause:  {From: []JobState{JobRunning}, To: JobPaused},
	ActResume: {From: []JobState{JobPaused}, To: JobRunning},
	ActCancel: {From: []JobState{JobRunning, JobPaused}, To: JobCancelled},
	ActFinish: {From: []JobState{JobRunning}, To: JobDone},
	ActRerun:  {From: []JobState{JobDone, JobCancelled}, To: JobRunning},
	// Remapping keeps the state (To ""): only a stopped job's failed rows
	// change, and only while the engine does not run it.
	ActRemap: {From: []JobState{JobPaused, JobDone, JobCancelled}},
}

// Next returns the state an action leads to from s, and whether it is allowed.
func (s JobState) Next(a Action) (JobState, bool) {
	t, ok := transitions[a]
	if !ok {
		return s, false
	}
	for _, f := range t.From {
		if f == s {
			if t.To == "" {
				return s, true
			}
			return t.To, true
		}
	}
	return s, false
}

// Actions lists what an admin may do to a job in this state from the run
// and result pages (start is the review's typed confirmation; finish is
// the engine's).
func (s JobState) Actions() []Action {
	var out []Action
	for _, a := range Actions {
		if a == ActStart || a == ActFinish || a == ActRemap {
			continue
		}
		if _, ok := s.Next(a); ok {
			out = append(out, a)
		}
	}
	return out
}

// Label is the action's button text.
func (a Action) Label() string {
	return map[Action]string{ActStart: "Start", ActPause: "Pause", ActResume: "Resume", ActCancel: "Cancel…",
		ActFinish: "Finish", ActRerun: "Re-run failed rows", ActRemap: "Fix the mapping of failed rows"}[a]
}

// verb words the action for messages ("… cannot be paused").
func (a Action) verb() string {
	return map[Action]string{ActStart: "started", ActPause: "paused", ActResume: "resumed", ActCancel: "cancelled",
		ActFinish: "finished", ActRerun: "re-run", ActRemap: "re-mapped"}[a]
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

// transition moves a job by an action with one guarded UPDATE: only from
// the table's From states. extra are more "col = ?" assignments with their
// arguments. No row changed: ErrNotFound or a *ConflictError with the state
// the job was in.
func (s *Store) transition(ctx context.Context, x execQuerier, id int64, a Action, extra []string, extraArgs ...any) error {
	t, ok := transitions[a]
	if !ok {
		return fmt.Errorf("unknown action %q", a)
	}
	now := s.now().UnixMilli()
	sets := append([]string{"state = ?", "updated_at = ?"}, extra...)
	args := append([]any{string(t.To), now}, extraArgs...)
	if t.To == "" { // the state stays
		sets, args = append([]string{"updated_at = ?"}, extra...), append([]any{now}, extraArgs...)
	}
	switch t.To {
	case JobDone, JobCancelled:
		sets, args = append(sets, "finished_at = ?"), append(args, now)
	case JobRunning:
		sets = append(sets, "finished_at = NULL")
	}
	args = append(args, id)
	for _, f := range t.From {
		args = append(args, string(f))
	}
	res, err := x.ExecContext(ctx, `UPDATE import_jobs SET `+strings.Join(sets, ", ")+` WHERE id = ? AND state IN (`+placeholders(len(t.From))+`)`, args...)
	if err != nil {
		return fmt.Errorf("job %d: %s: %w", id, a, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("job %d: %s: %w", id, a, err)
	}
	if n == 1 {
		return nil
	}
	var cur string
	err = x.QueryRowContext(ctx, `SELECT state FROM import_jobs WHERE id = ?`, id).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("job %d: %w", id, err)
	}
	return &ConflictError{Job: id, Action: a, State: JobState(cur)}
}

// draftIn checks, inside tx, that the job exists and is still a draft:
// what of it changes (its mapping, rows, documents) is then written in
// the same transaction, so a job that has started is never changed.
func draftIn(ctx context.Context, tx *sql.Tx, jobID int64, what string) error {
	var state string
	if err := tx.QueryRowContext(ctx, `SELECT state FROM import_jobs WHERE id = ?`, jobID).Scan(&state); errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	} else if err != nil {
		return fmt.Errorf("job %d: %w", jobID, err)
	}
	if JobState(state) != JobDraft {
		return &ConflictError{Job: jobID, State: JobState(state), Reason: "This import has started; its " + what + " can no longer change."}
	}
	return nil
}

type execQuerier interface {
	execer
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Transition moves a job by an action (see the transition table).
func (s *Store) Transition(ctx context.Context, id int64, a Action) error {
	return s.transition(ctx, s.db, id, a, nil)
}

// RowState is where a row is in the engine's work.
type RowState string

// Row states.
const (
	RowPending RowState = "pending"
	RowRunning RowState = "running"
	RowUnknown RowState = "unknown" // the last call's outcome is unknown: retried with the same key
	RowWaiting RowState = "waiting" // credited, waiting for DELIVERED
	RowDone    RowState = "done"
	RowFailed  RowState = "failed"
	RowSkipped RowState = "skipped"
)

// RowStates lists every row state.
var RowStates = []RowState{RowPending, RowRunning, RowUnknown, RowWaiting, RowDone, RowFailed, RowSkipped}

func (s RowState) String() string { return string(s) }

// Active reports whether the engine still has work on a row in this state.
func (s RowState) Active() bool {
	return s == RowPending || s == RowRunning || s == RowUnknown || s == RowWaiting
}

// RowAction is something done to a row.
type RowAction string

// Row actions.
const (
	RowActSkip     RowAction = "skip"     // an admin at review
	RowActUnskip   RowAction = "unskip"   // an admin at review
	RowActEdit     RowAction = "edit"     // an admin at review: values, not the state
	RowActWork     RowAction = "work"     // the engine saves its progress (to any state)
	RowActRequeue  RowAction = "requeue"  // a re-run: failed and unknown rows again
	RowActStopped  RowAction = "stopped"  // a re-run of a cancelled job: rows it stopped stay out
	RowActReadBack RowAction = "readback" // Cashlink's answer read back after a pause or cancel
	RowActRemap    RowAction = "remap"    // an admin: another Cashlink investor for a failed row
)

// rowTransitions is the rows' table: the states a row may be in for each
// action. To is empty where the action sets the state itself (edit keeps
// it; the engine's work sets the state it reached).
var rowTransitions = map[RowAction]struct {
	From []RowState
	To   RowState
}{
	RowActSkip:     {From: []RowState{RowPending, RowSkipped}, To: RowSkipped},
	RowActUnskip:   {From: []RowState{RowPending, RowSkipped}, To: RowPending},
	RowActEdit:     {From: []RowState{RowPending, RowSkipped}},
	RowActWork:     {From: []RowState{RowPending, RowRunning, RowUnknown, RowWaiting}},
	RowActRequeue:  {From: []RowState{RowFailed, RowUnknown}, To: RowPending},
	RowActStopped:  {From: []RowState{RowPending}, To: RowSkipped},
	RowActReadBack: {From: []RowState{RowWaiting, RowUnknown, RowFailed}},
	RowActRemap:    {From: []RowState{RowFailed}},
}

// Allows reports whether a row in state s may take action a.
func (a RowAction) Allows(s RowState) bool {
	for _, f := range rowTransitions[a].From {
		if f == s {
			return true
		}
	}
	return false
}

// rowGuard is the SQL condition and arguments of a row action's From states.
func rowGuard(a RowAction) (string, []any) {
	from := rowTransitions[a].From
	args := make([]any, len(from))
	for i, f := range from {
		args[i] = string(f)
	}
	return `state IN (` + placeholders(len(from)) + `)`, args
}

// readBack records Cashlink's answer for a stopped row: only while the row
// is still as it was read and its job is paused or cancelled (a resumed
// engine owns its rows again).
func (s *Store) readBack(ctx context.Context, was, now Row) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE import_rows SET state = ?, step = ?, error = ?, final_status = ?, updated_at = ?
		WHERE id = ? AND state = ? AND step = ? AND (SELECT state FROM import_jobs WHERE id = import_rows.job_id) IN (?, ?)`,
		string(now.State), now.Step, now.Error, now.FinalStatus, s.now().UnixMilli(), was.ID, string(was.State), was.Step,
		string(JobPaused), string(JobCancelled))
	if err != nil {
		return false, fmt.Errorf("row %d: record Cashlink's status: %w", was.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("row %d: record Cashlink's status: %w", was.ID, err)
	}
	return n == 1, nil
}
