package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// BodyPolicy decides what is kept of a response body.
type BodyPolicy func(req *http.Request, status int, body []byte) string

// SummaryOnly keeps a summary (count, ids, status) of successful answers and
// the error body of failed ones. For APIs whose payloads are personal data.
func SummaryOnly(_ *http.Request, status int, body []byte) string {
	if status >= 400 {
		return describeBody("application/json", body)
	}
	return summarize(body)
}

// WritesInFull keeps the (sanitised, capped) body of answers to writes and
// of errors, and a summary of answers to reads.
func WritesInFull(req *http.Request, status int, body []byte) string {
	if status >= 400 || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		return describeBody("application/json", body)
	}
	return summarize(body)
}

// Transport is the http.RoundTripper under every API client: it records one
// row per attempt before the client sees the answer (a read's row is handed
// to the background writer, durable within its flush delay). If the row
// cannot be written, the attempt fails: an unaudited call is worse than a
// failed one.
type Transport struct {
	Base   http.RoundTripper // nil = http.DefaultTransport
	Store  *Store
	API    string // "issuance" or "cashlink"
	Policy BodyPolicy
	Now    func() time.Time
}

// maxResponse caps what is buffered of a response (the clients' pages and
// objects are far smaller).
const maxResponse = 32 << 20

// A read's answer up to maxDeferredBody is summarised by the background
// writer; a larger one at once, and so is any answer while the queued rows
// already hold maxDeferredBytes of answers (Store.Enqueue): the queue's
// memory stays small whatever the backlog.
const (
	maxDeferredBody  = 64 << 10
	maxDeferredBytes = 8 << 20
)

// RoundTrip performs the request and appends its audit row.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	now := t.Now
	if now == nil {
		now = time.Now
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	ctx := req.Context()
	job, row := JobFrom(ctx)
	e := Entry{
		Kind: KindCall, API: t.API, Method: req.Method, Path: PathWithQuery(req.URL),
		Attempt: attemptFrom(ctx), IdempotencyKey: req.Header.Get("X-Idempotency-Key"),
		Actor: ActorFrom(ctx), Job: job, Row: row,
	}
	if req.GetBody != nil && req.ContentLength != 0 {
		if rc, err := req.GetBody(); err == nil {
			b, _ := io.ReadAll(io.LimitReader(rc, maxResponse))
			rc.Close()
			e.RequestBody = describeBody(req.Header.Get("Content-Type"), b)
		}
	}

	start := now()
	res, err := base.RoundTrip(req)
	var body []byte
	if err == nil {
		body, err = readBody(res)
		res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			err = fmt.Errorf("reading the response: %w", err)
		} else if sink := bodySinkFrom(ctx); sink != nil {
			sink.Body = body
		}
	}
	e.At = start
	e.Duration = now().Sub(start)
	if err != nil {
		e.Error = describeError(ctx, err)
	}
	if res != nil {
		e.Status = res.StatusCode
		e.Replayed = res.Header.Get("Idempotent-Replayed") == "true"
		e.UpstreamRequestID = firstHeader(res.Header, "X-Request-Id", "X-Request-ID", "X-Amzn-Trace-Id")
	}
	// A read's row is queued for the background writer (writer.go): the
	// page needs no commit of its own, nor the summary of its answer, which
	// the writer takes (unless the answer is large: queued rows stay small).
	// Every other call's row, summary included, is durable before the
	// client sees the answer.
	read := req.Method == http.MethodGet || req.Method == http.MethodHead
	if res != nil && t.Policy != nil {
		if policy, status := t.Policy, res.StatusCode; read && len(body) <= maxDeferredBody {
			// Only what the policies read of the request is kept (not its
			// headers or context); body is never written to after this.
			r := &http.Request{Method: req.Method, URL: req.URL}
			e.describeResponse = func() string { return policy(r, status, body) }
			e.deferredBytes = cap(body)
		} else {
			e.ResponseBody = policy(req, status, body)
		}
	}
	var aerr error
	if read {
		aerr = t.Store.Enqueue(ctx, e)
	} else {
		_, aerr = t.Store.Append(ctx, e)
	}
	if aerr != nil {
		return nil, &AuditError{Err: aerr}
	}
	if err != nil {
		return nil, err
	}
	return res, nil
}

// readBody reads an answer whole into a buffer sized from its announced
// length (at most 1 MB ahead of what arrives: the length is the upstream's
// word), instead of io.ReadAll's growth from 512 bytes. A HEAD answer
// announces a length and has no body: it reads as empty.
func readBody(res *http.Response) ([]byte, error) {
	var buf bytes.Buffer
	if n := res.ContentLength; n > 0 {
		buf.Grow(int(min(n, 1<<20)))
	}
	_, err := buf.ReadFrom(io.LimitReader(res.Body, maxResponse))
	return buf.Bytes(), err
}

// AuditError means the call could not be recorded and therefore failed.
type AuditError struct{ Err error }

func (e *AuditError) Error() string {
	return "the call could not be recorded in the audit log, so it is treated as failed: " + e.Err.Error()
}
func (e *AuditError) Unwrap() error { return e.Err }

func describeError(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded:
		return "timeout: " + err.Error()
	case errors.Is(err, context.Canceled):
		return "cancelled: " + err.Error()
	}
	return err.Error()
}

func firstHeader(h http.Header, names ...string) string {
	for _, n := range names {
		if v := h.Get(n); v != "" {
			return truncate(v, 200)
		}
	}
	return ""
}
