package audit

import "context"

// ActorSystem is the actor of calls no signed-in user triggered (background
// work such as a resumed import).
const ActorSystem = "system"

type ctxKey int

const (
	actorKey ctxKey = iota
	jobKey
	attemptKey
	bodyKey
)

// WithActor marks calls made with ctx as triggered by actor (a user's e-mail).
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey, actor)
}

// ActorFrom returns the actor of ctx, or "system".
func ActorFrom(ctx context.Context) string {
	if a, ok := ctx.Value(actorKey).(string); ok && a != "" {
		return a
	}
	return ActorSystem
}

type jobRef struct{ job, row string }

// WithJob correlates calls made with ctx to an import job and row.
func WithJob(ctx context.Context, job, row string) context.Context {
	return context.WithValue(ctx, jobKey, jobRef{job, row})
}

// JobFrom returns the job and row of ctx ("" when none).
func JobFrom(ctx context.Context) (job, row string) {
	r, _ := ctx.Value(jobKey).(jobRef)
	return r.job, r.row
}

// WithAttempt tells the transport which attempt (1, 2, …) a request is; the
// clients' retry loops set it.
func WithAttempt(ctx context.Context, n int) context.Context {
	return context.WithValue(ctx, attemptKey, n)
}

func attemptFrom(ctx context.Context) int {
	if n, ok := ctx.Value(attemptKey).(int); ok {
		return n
	}
	return 1
}

// BodySink receives the answer the transport read whole, so the client
// need not copy it again from the response (which carries the same bytes).
// One sink per call. The bytes are shared with the audit row's summary,
// taken later by the background writer: whoever receives them reads them
// and never writes to them.
type BodySink struct{ Body []byte }

// WithBodySink asks the transport to hand the answer's bytes to sink too.
func WithBodySink(ctx context.Context, sink *BodySink) context.Context {
	return context.WithValue(ctx, bodyKey, sink)
}

func bodySinkFrom(ctx context.Context) *BodySink {
	s, _ := ctx.Value(bodyKey).(*BodySink)
	return s
}
