package audit

import (
	"strconv"
	"unicode/utf8"
)

// Caps on every stored string of a row. They are applied in one place,
// Append, whatever wrote the row (API calls, security events, sign-in
// summaries), so no caller — and no unauthenticated visitor typing into a
// form — can make a row larger than about 40 KB.
const (
	capShort = 256      // api, method, kind, actor, event, keys, job, row, upstream id
	capPath  = 2 << 10  // path and query
	capText  = 2 << 10  // error and detail
	capBody  = 16 << 10 // request and response bodies (sanitize.go already keeps them this short)
)

// capFields cuts every string field of e to its cap.
func capFields(e *Entry) {
	for _, f := range []struct {
		v *string
		n int
	}{
		{&e.Kind, capShort}, {&e.API, capShort}, {&e.Method, capShort}, {&e.IdempotencyKey, capShort},
		{&e.UpstreamRequestID, capShort}, {&e.Actor, capShort}, {&e.Job, capShort}, {&e.Row, capShort},
		{&e.Event, capShort}, {&e.Path, capPath}, {&e.Error, capText}, {&e.Detail, capText},
		{&e.RequestBody, capBody + 64}, {&e.ResponseBody, capBody + 64},
	} {
		*f.v = capString(*f.v, f.n)
	}
}

// capString returns s whole when it fits in n bytes; otherwise its longest
// prefix that ends on a UTF-8 boundary and, with a note of what was cut,
// stays within n bytes.
func capString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	note := "…[cut " + strconv.Itoa(len(s)) + " bytes]"
	end := max(n-len(note), 0)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + note
}
