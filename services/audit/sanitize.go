package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/url"
	"strconv"
	"strings"
)

// Redacted replaces the value of a secret field.
const Redacted = "REDACTED"

// secretFields are field names whose values never reach the log, in query
// strings, forms and JSON bodies alike (compared case-insensitively).
var secretFields = map[string]bool{
	"password": true, "new_password": true, "client_secret": true, "access_token": true, "refresh_token": true,
	"id_token": true, "token": true, "api_key": true, "apikey": true, "secret": true, "authorization": true,
	"key": true, "private_key": true,
}

func isSecret(name string) bool { return secretFields[strings.ToLower(name)] }

// SanitizeQuery returns a query string with secret values replaced.
func SanitizeQuery(raw string) string {
	if raw == "" {
		return ""
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "[unparseable query removed]"
	}
	for k := range q {
		if isSecret(k) {
			q[k] = []string{Redacted}
		}
	}
	return q.Encode()
}

// PathWithQuery is how a URL is logged: path and sanitised query, no host
// and no userinfo.
func PathWithQuery(u *url.URL) string {
	p := u.EscapedPath()
	if q := SanitizeQuery(u.RawQuery); q != "" {
		p += "?" + q
	}
	return p
}

// SanitizeJSON removes secret fields at any depth. Bodies that are not JSON
// are not returned (they could hold anything).
func SanitizeJSON(b []byte) (string, bool) {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return "", false
	}
	v = scrub(v)
	out, err := json.Marshal(v)
	if err != nil {
		return "", false
	}
	return string(out), true
}

func scrub(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			if isSecret(k) {
				t[k] = Redacted
			} else {
				t[k] = scrub(val)
			}
		}
	case []any:
		for i := range t {
			t[i] = scrub(t[i])
		}
	}
	return v
}

// sanitizeForm redacts secret fields of an urlencoded body.
func sanitizeForm(b []byte) string {
	return SanitizeQuery(string(b))
}

// describeMultipart lists the parts of a multipart body: form fields with
// their (sanitised) values, files as name, filename, size and SHA-256, never
// their content.
func describeMultipart(contentType string, b []byte) string {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		return `{"multipart":"unparseable"}`
	}
	type part struct {
		Name     string `json:"name"`
		Filename string `json:"filename,omitempty"`
		Type     string `json:"content_type,omitempty"`
		Size     int64  `json:"size"`
		SHA256   string `json:"sha256,omitempty"`
		Value    string `json:"value,omitempty"`
	}
	var parts []part
	r := multipart.NewReader(bytes.NewReader(b), params["boundary"])
	for {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		h := sha256.New()
		var val bytes.Buffer
		var w io.Writer = h
		if p.FileName() == "" {
			w = io.MultiWriter(h, &val)
		}
		n, _ := io.Copy(w, io.LimitReader(p, 64<<20))
		pt := part{Name: p.FormName(), Filename: p.FileName(), Type: p.Header.Get("Content-Type"), Size: n}
		if p.FileName() != "" {
			pt.SHA256 = hex.EncodeToString(h.Sum(nil))
		} else if isSecret(p.FormName()) {
			pt.Value = Redacted
		} else {
			pt.Value = truncate(val.String(), 200)
		}
		parts = append(parts, pt)
	}
	out, _ := json.Marshal(map[string]any{"multipart": parts})
	return string(out)
}

// describeBody records a request body according to its content type.
func describeBody(contentType string, b []byte) string {
	if len(b) == 0 {
		return ""
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/x-www-form-urlencoded":
		return sanitizeForm(b)
	case strings.HasPrefix(mt, "multipart/"):
		return describeMultipart(contentType, b)
	default:
		if s, ok := SanitizeJSON(b); ok {
			return truncate(s, maxBody)
		}
		sum := sha256.Sum256(b)
		return `{"body":"not JSON, not recorded","size":` + itoa(len(b)) + `,"sha256":"` + hex.EncodeToString(sum[:]) + `"}`
	}
}

// summarize keeps what identifies the records of a response body without
// their content: count, ids and statuses.
func summarize(b []byte) string {
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		if len(b) == 0 {
			return ""
		}
		return `{"summary":"not JSON","size":` + itoa(len(b)) + `}`
	}
	out := map[string]any{}
	pick := func(m map[string]any) map[string]any {
		r := map[string]any{}
		for _, k := range []string{"id", "status"} {
			if x, ok := m[k]; ok {
				r[k] = x
			}
		}
		return r
	}
	switch t := v.(type) {
	case map[string]any:
		if res, ok := t["results"].([]any); ok {
			out["count"] = t["count"]
			ids := make([]any, 0, len(res))
			for _, r := range res {
				if m, ok := r.(map[string]any); ok {
					ids = append(ids, m["id"])
				}
			}
			out["ids"] = ids
		} else if data, ok := t["data"].(map[string]any); ok {
			keys := make([]string, 0, len(data))
			for k := range data {
				keys = append(keys, k)
			}
			out["success"], out["data_keys"] = t["success"], keys
		} else {
			out = pick(t)
			if len(out) == 0 {
				keys := make([]string, 0, len(t))
				for k := range t {
					keys = append(keys, k)
				}
				out["keys"] = keys
			}
		}
	case []any:
		out["count"] = len(t)
		ids := make([]any, 0, len(t))
		for _, r := range t {
			if m, ok := r.(map[string]any); ok {
				ids = append(ids, m["id"])
			}
		}
		out["ids"] = ids
	default:
		out["summary"] = "scalar"
	}
	s, _ := json.Marshal(out)
	return truncate(string(s), maxBody)
}

const maxBody = 16 << 10

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…[truncated]"
}

func itoa(n int) string { return strconv.Itoa(n) }
