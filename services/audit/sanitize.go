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

const maxBody = 16 << 10

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…[truncated]"
}

func itoa(n int) string { return strconv.Itoa(n) }
