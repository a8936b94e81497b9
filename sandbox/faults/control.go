package faults

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"issuerconsole/sandbox/cashlink"
)

// ControlHandler is the test-only control endpoint; mount it at
// /sandbox/_control/ (with or without StripPrefix: everything up to
// "/_control" is ignored) and only when a flag enables it. Routes:
//
//	GET    /faults                              {"seed", "rules": [...], "syntax": "...", "stats": {...}}
//	PUT    /faults                              JSON {"rules": [...]} or [...], or text/plain in the flag syntax
//	DELETE /faults                              no rules
//	POST   /cashlink/expire-tokens              204: every issued token is expired
//	GET    /cashlink/settings                   the emulator's knobs (cashlink.Settings)
//	PUT    /cashlink/settings                   change the knobs given, e.g. {"redemption_outcome": "failed"}
//	PUT    /cashlink/investments/{id}/status    {"status": "REJECTION"} ("" lifts a forced status); 204
//	PUT    /cashlink/investors/{id}/kyc         {"kyc_status": "PENDING" | "SUCCESS" | "INSUFFICIENT"}; 204
//	GET    /cashlink/counts                     cashlink.Counts
//
// Errors are JSON {"detail": "..."}. cl may be nil (no Cashlink routes).
func (i *Injector) ControlHandler(cl *cashlink.Emulator) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /faults", func(w http.ResponseWriter, r *http.Request) { i.writeFaults(w) })
	mux.HandleFunc("PUT /faults", func(w http.ResponseWriter, r *http.Request) {
		rules, err := readRules(r)
		if err != nil {
			writeDetail(w, http.StatusBadRequest, err.Error())
			return
		}
		i.Set(rules)
		i.writeFaults(w)
	})
	mux.HandleFunc("DELETE /faults", func(w http.ResponseWriter, r *http.Request) {
		i.Set(nil)
		i.writeFaults(w)
	})
	if cl != nil {
		mux.HandleFunc("POST /cashlink/expire-tokens", func(w http.ResponseWriter, r *http.Request) {
			if err := cl.ExpireTokens(r.Context()); err != nil {
				writeDetail(w, http.StatusInternalServerError, err.Error())
				return
			}
			w.WriteHeader(http.StatusNoContent)
		})
		mux.HandleFunc("GET /cashlink/settings", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, http.StatusOK, cl.Settings())
		})
		mux.HandleFunc("PUT /cashlink/settings", func(w http.ResponseWriter, r *http.Request) {
			s := cl.Settings()
			if err := decodeStrict(r, &s); err != nil {
				writeDetail(w, http.StatusBadRequest, err.Error())
				return
			}
			if err := cl.SetSettings(s); err != nil {
				writeDetail(w, http.StatusBadRequest, err.Error())
				return
			}
			writeJSON(w, http.StatusOK, cl.Settings())
		})
		mux.HandleFunc("PUT /cashlink/investments/{id}/status", func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				Status *string `json:"status"`
			}
			if err := decodeStrict(r, &body); err != nil || body.Status == nil {
				writeDetail(w, http.StatusBadRequest, fmt.Sprintf(`want {"status": "REJECTION"} (or "" to lift it): %v`, err))
				return
			}
			knobResult(w, cl.SetInvestmentStatus(r.Context(), r.PathValue("id"), *body.Status))
		})
		mux.HandleFunc("PUT /cashlink/investors/{id}/kyc", func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				KYC string `json:"kyc_status"`
			}
			if err := decodeStrict(r, &body); err != nil {
				writeDetail(w, http.StatusBadRequest, err.Error())
				return
			}
			knobResult(w, cl.SetInvestorKYC(r.Context(), r.PathValue("id"), body.KYC))
		})
		mux.HandleFunc("GET /cashlink/counts", func(w http.ResponseWriter, r *http.Request) {
			c, err := cl.Counts(r.Context())
			if err != nil {
				writeDetail(w, http.StatusInternalServerError, err.Error())
				return
			}
			writeJSON(w, http.StatusOK, c)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if crossSite(r) {
			writeDetail(w, http.StatusForbidden, "Cross-site requests to the control endpoint are refused.")
			return
		}
		p := r.URL.Path
		if k := strings.Index(p, "/_control"); k >= 0 {
			p = p[k+len("/_control"):]
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = p, ""
		h, pattern := mux.Handler(r2)
		if pattern == "" { // not found or wrong method: JSON instead of the mux's text
			rec := &statusOnly{h: http.Header{}}
			h.ServeHTTP(rec, r2)
			if rec.code == http.StatusMethodNotAllowed {
				w.Header().Set("Allow", rec.h.Get("Allow"))
				writeDetail(w, rec.code, fmt.Sprintf("Method %q not allowed.", r.Method))
				return
			}
			writeDetail(w, http.StatusNotFound, "Not found.")
			return
		}
		mux.ServeHTTP(w, r2)
	})
}

// crossSite reports a request a browser sent on behalf of another site: a
// page elsewhere must not change the emulators (faults, KYC, tokens) by a
// form post or fetch. Browsers say so in Sec-Fetch-Site, and older ones in
// Origin; clients that are not browsers send neither and keep working.
func crossSite(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "cross-site", "same-site":
		return true
	case "same-origin", "none":
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return false
	}
	u, err := url.Parse(o)
	return err != nil || u.Host != r.Host
}

func knobResult(w http.ResponseWriter, err error) {
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.Is(err, cashlink.ErrNotFound):
		writeDetail(w, http.StatusNotFound, err.Error())
	case errors.Is(err, cashlink.ErrConflict):
		writeDetail(w, http.StatusConflict, err.Error())
	default:
		writeDetail(w, http.StatusBadRequest, err.Error())
	}
}

type faultsJSON struct {
	Seed   int64          `json:"seed"`
	Rules  []Rule         `json:"rules"`
	Syntax string         `json:"syntax"`
	Stats  map[string]int `json:"stats"`
}

func (i *Injector) writeFaults(w http.ResponseWriter) {
	rules := i.Rules()
	writeJSON(w, http.StatusOK, faultsJSON{Seed: i.seed, Rules: rules, Syntax: FormatRules(rules), Stats: i.Stats()})
}

// readRules reads PUT /faults: the flag syntax as text/plain, else JSON
// {"rules": [...]} or a bare array. Every rule is validated.
func readRules(r *http.Request) ([]Rule, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "text/plain" {
		return ParseRules(string(b))
	}
	var rules []Rule
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) > 0 && trimmed[0] == '[' {
		err = json.Unmarshal(trimmed, &rules)
	} else {
		var env struct {
			Rules []Rule `json:"rules"`
		}
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		err = dec.Decode(&env)
		rules = env.Rules
	}
	if err != nil {
		return nil, fmt.Errorf("faults: want {\"rules\": [...]} or text/plain in the flag syntax: %w", err)
	}
	for n, rule := range rules {
		if err := rule.Validate(); err != nil {
			return nil, fmt.Errorf("faults: rule %d: %w", n+1, err)
		}
	}
	return rules, nil
}

func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad JSON body: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeDetail(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

// statusOnly records the status of the mux's own not-found/405 handlers.
type statusOnly struct {
	h    http.Header
	code int
}

func (s *statusOnly) Header() http.Header         { return s.h }
func (s *statusOnly) Write(b []byte) (int, error) { return len(b), nil }
func (s *statusOnly) WriteHeader(c int)           { s.code = c }
