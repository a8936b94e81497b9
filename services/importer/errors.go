package importer

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"issuerconsole/services/apiclient"
)

// The wizard's typed errors. handlers/errors.go maps each to its answer
// once: ErrNotFound 404, *ConflictError 409, *InvalidError 422 (the form
// kept), *UpstreamError 502, *AuditError 500 saying what did happen.

// ErrNotFound is returned for unknown jobs, rows and documents.
var ErrNotFound = errors.New("not found")

// ConflictError says an action is not allowed in the state the job is in
// (read in the same statement that refused it, so it is the current one).
type ConflictError struct {
	Job    int64
	Action Action
	State  JobState
	Reason string // set where the refusal is not the job's state (a row that has started)
}

func (e *ConflictError) Error() string {
	if e.Reason != "" {
		return e.Reason
	}
	return fmt.Sprintf("This import is %s: it cannot be %s.", e.State, e.Action.verb())
}

// InvalidError is input the wizard refuses, with a message per field ("" for the form).
type InvalidError struct {
	Fields map[string]string
}

func invalid(field, msg string) *InvalidError {
	return &InvalidError{Fields: map[string]string{field: msg}}
}

func (e *InvalidError) Error() string {
	keys := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, e.Fields[k])
	}
	return strings.Join(parts, " ")
}

// UpstreamError is a Cashlink or Issuance call that failed: Refused (a 4xx:
// nothing was done, fix and retry) or unknown (5xx, timeout: it may have
// been done; retried with the same key).
type UpstreamError struct {
	Refused bool
	Message string // for people
	Err     error
}

func (e *UpstreamError) Error() string { return e.Message }
func (e *UpstreamError) Unwrap() error { return e.Err }

// upstream wraps an API error for step ("investor", "investment", …).
func upstream(step string, err error) error {
	if err == nil || isStoreError(err) {
		return err
	}
	return &UpstreamError{Refused: apiclient.Classify(err) == apiclient.Rejected, Message: FriendlyError(step, err), Err: err}
}

// AuditError says an action was done but its audit event could not be
// written: the caller must not claim that nothing changed.
type AuditError struct {
	Done string // what happened, for people
	Err  error
}

func (e *AuditError) Error() string {
	return e.Done + ", but the audit log could not record it: " + e.Err.Error()
}
func (e *AuditError) Unwrap() error { return e.Err }
