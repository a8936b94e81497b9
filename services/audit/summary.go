package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
)

// summarize keeps what identifies the records of a response body without
// their content: count, ids and statuses.
//
// It reads the body in one pass without building it: the API client
// decodes the same answer into its own types right after, and a second full
// decode here (into map[string]any, then encoded again) cost as much as the
// client's own (0.41 of the page's 1.5 ms in the API client). Only the few
// values kept (count, ids, status) are decoded. The output is that of
// summarizeDecoded (decoding the body with encoding/json, numbers kept as
// written, and encoding the summary), which FuzzSummarize checks, except
// that lists of keys keep the body's order instead of a random one; what
// the scanner does not take (not JSON, a scalar) goes to summarizeDecoded.
func summarize(b []byte) string {
	sc := jsonScan{b: b}
	sc.ws()
	if sc.i == len(b) {
		return summarizeDecoded(b)
	}
	var out bytes.Buffer
	switch b[sc.i] {
	case '{':
		top, err := sc.object(true)
		if err != nil {
			return summarizeDecoded(b)
		}
		summarizeObject(&out, b, top)
	case '[':
		ids, n, err := sc.idArray()
		if err != nil {
			return summarizeDecoded(b)
		}
		out.WriteString(`{"count":`)
		out.WriteString(strconv.Itoa(n))
		out.WriteString(`,"ids":`)
		writeList(&out, ids)
		out.WriteByte('}')
	default:
		return summarizeDecoded(b)
	}
	return truncate(out.String(), maxBody)
}

// member is one key of an object and where its value lies in the body.
type member struct {
	key        string
	start, end int
	ids        [][]byte // for "results" arrays: each element's id
	idsN       int      // elements of the "results" array (-1: not an array)
	keys       []string // for "data" objects: their keys (nil: not an object)
}

func summarizeObject(out *bytes.Buffer, b []byte, top []member) {
	get := func(k string) *member {
		for i := len(top) - 1; i >= 0; i-- { // the last of duplicate keys wins, as in encoding/json
			if top[i].key == k {
				return &top[i]
			}
		}
		return nil
	}
	if r := get("results"); r != nil && r.idsN >= 0 {
		out.WriteString(`{"count":`)
		writeValue(out, b, get("count"))
		out.WriteString(`,"ids":`)
		writeList(out, r.ids)
		out.WriteByte('}')
		return
	}
	if d := get("data"); d != nil && d.keys != nil {
		out.WriteString(`{"data_keys":`)
		writeStrings(out, d.keys)
		out.WriteString(`,"success":`)
		writeValue(out, b, get("success"))
		out.WriteByte('}')
		return
	}
	id, st := get("id"), get("status")
	switch {
	case id != nil && st != nil:
		out.WriteString(`{"id":`)
		writeValue(out, b, id)
		out.WriteString(`,"status":`)
		writeValue(out, b, st)
		out.WriteByte('}')
	case id != nil:
		out.WriteString(`{"id":`)
		writeValue(out, b, id)
		out.WriteByte('}')
	case st != nil:
		out.WriteString(`{"status":`)
		writeValue(out, b, st)
		out.WriteByte('}')
	default:
		keys := make([]string, 0, len(top))
		for i, m := range top {
			if get(m.key) == &top[i] {
				keys = append(keys, m.key)
			}
		}
		out.WriteString(`{"keys":`)
		writeStrings(out, keys)
		out.WriteByte('}')
	}
}

// writeValue writes a kept value as encoding/json would write it back: a
// number, true, false or null as written; anything else decoded and
// encoded again (strings get encoding/json's escaping). A missing key is null.
func writeValue(out *bytes.Buffer, b []byte, m *member) {
	if m == nil {
		out.WriteString("null")
		return
	}
	out.Write(canonValue(b[m.start:m.end]))
}

func canonValue(raw []byte) []byte {
	switch raw[0] {
	case 't', 'f', 'n', '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return raw
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return []byte("null")
	}
	out, err := json.Marshal(v)
	if err != nil {
		return []byte("null")
	}
	return out
}

func writeList(out *bytes.Buffer, vals [][]byte) {
	out.WriteByte('[')
	for i, v := range vals {
		if i > 0 {
			out.WriteByte(',')
		}
		out.Write(canonValue(v))
	}
	out.WriteByte(']')
}

func writeStrings(out *bytes.Buffer, ss []string) {
	b, _ := json.Marshal(ss)
	out.Write(b)
}

// jsonScan is a validating JSON reader that skips what it does not keep.
type jsonScan struct {
	b []byte
	i int
}

var errSyntax = errors.New("not JSON")

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// value skips one value.
func (s *jsonScan) value(depth int) error {
	if depth > maxDepth {
		return errSyntax
	}
	s.ws()
	if s.i >= len(s.b) {
		return errSyntax
	}
	switch c := s.b[s.i]; {
	case c == '{':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == '}' {
			s.i++
			return nil
		}
		for {
			s.ws()
			if _, err := s.str(); err != nil {
				return err
			}
			if err := s.colon(); err != nil {
				return err
			}
			if err := s.value(depth + 1); err != nil {
				return err
			}
			if done, err := s.next('}'); err != nil || done {
				return err
			}
		}
	case c == '[':
		s.i++
		s.ws()
		if s.i < len(s.b) && s.b[s.i] == ']' {
			s.i++
			return nil
		}
		for {
			if err := s.value(depth + 1); err != nil {
				return err
			}
			if done, err := s.next(']'); err != nil || done {
				return err
			}
		}
	case c == '"':
		_, err := s.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		return s.number()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
				s.i += len(lit)
				return nil
			}
		}
		return errSyntax
	}
}

// next reads a comma (false) or the closing byte (true).
func (s *jsonScan) next(closing byte) (bool, error) {
	s.ws()
	if s.i >= len(s.b) {
		return false, errSyntax
	}
	switch s.b[s.i] {
	case ',':
		s.i++
		return false, nil
	case closing:
		s.i++
		return true, nil
	}
	return false, errSyntax
}

func (s *jsonScan) colon() error {
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return errSyntax
	}
	s.i++
	return nil
}

// str reads a string and returns its raw bytes, quotes included.
func (s *jsonScan) str() ([]byte, error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, errSyntax
	}
	start := s.i
	s.i++
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start:s.i], nil
		case c == '\\':
			if s.i+1 >= len(s.b) {
				return nil, errSyntax
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return nil, errSyntax
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return nil, errSyntax
					}
				}
				s.i += 6
			default:
				return nil, errSyntax
			}
		case c < 0x20:
			return nil, errSyntax
		default:
			s.i++
		}
	}
	return nil, errSyntax
}

func isHex(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func (s *jsonScan) number() error {
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case digits() == 0:
		return errSyntax
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return errSyntax
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return errSyntax
		}
	}
	return nil
}

// key decodes an object key (raw, quotes included).
func key(raw []byte) string {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1])
	}
	var k string
	if json.Unmarshal(raw, &k) != nil {
		return ""
	}
	return k
}

// object reads an object and returns its members; at the top level the
// values of "results" (an array: its elements' ids) and "data" (an
// object: its keys) are looked into.
func (s *jsonScan) object(top bool) ([]member, error) {
	s.i++ // '{'
	var ms []member
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return ms, nil
	}
	for {
		s.ws()
		raw, err := s.str()
		if err != nil {
			return nil, err
		}
		if err := s.colon(); err != nil {
			return nil, err
		}
		s.ws()
		m := member{key: key(raw), start: s.i, idsN: -1}
		switch {
		case top && m.key == "results" && s.i < len(s.b) && s.b[s.i] == '[':
			if m.ids, m.idsN, err = s.idArray(); err != nil {
				return nil, err
			}
		case top && m.key == "data" && s.i < len(s.b) && s.b[s.i] == '{':
			inner, err := s.object(false)
			if err != nil {
				return nil, err
			}
			m.keys = make([]string, 0, len(inner))
			for i, im := range inner {
				if lastIndex(inner, im.key) == i {
					m.keys = append(m.keys, im.key)
				}
			}
		default:
			if err := s.value(1); err != nil {
				return nil, err
			}
		}
		m.end = s.i
		ms = append(ms, m)
		if done, err := s.next('}'); err != nil || done {
			return ms, err
		}
	}
}

func lastIndex(ms []member, k string) int {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].key == k {
			return i
		}
	}
	return -1
}

// idArray reads an array and returns the id of each element that is an
// object (null when it has none) and the number of elements.
func (s *jsonScan) idArray() ([][]byte, int, error) {
	s.i++ // '['
	ids := [][]byte{}
	n := 0
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return ids, 0, nil
	}
	for {
		s.ws()
		n++
		if s.i < len(s.b) && s.b[s.i] == '{' {
			id := []byte("null")
			s.i++
			s.ws()
			if s.i < len(s.b) && s.b[s.i] == '}' {
				s.i++
			} else {
				for {
					s.ws()
					raw, err := s.str()
					if err != nil {
						return nil, 0, err
					}
					if err := s.colon(); err != nil {
						return nil, 0, err
					}
					s.ws()
					start := s.i
					if err := s.value(2); err != nil {
						return nil, 0, err
					}
					if key(raw) == "id" {
						id = s.b[start:s.i]
					}
					done, err := s.next('}')
					if err != nil {
						return nil, 0, err
					}
					if done {
						break
					}
				}
			}
			ids = append(ids, id)
		} else if err := s.value(1); err != nil {
			return nil, 0, err
		}
		if done, err := s.next(']'); err != nil || done {
			return ids, n, err
		}
	}
}

// summarizeDecoded is summarize by decoding the whole body: the fallback
// for what the scanner does not take (a body that is not JSON, a scalar),
// and the reference FuzzSummarize compares summarize with.
func summarizeDecoded(b []byte) string {
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
