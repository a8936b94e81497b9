// Package config turns the command line and the environment into a
// validated Config. Every flag has an environment variable; the flag wins.
// All problems are reported at once, so a user fixes them in one go.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Mode says whether the console talks to the embedded emulators or to the
// real services.
type Mode string

const (
	ModeSandbox Mode = "sandbox"
	ModeLive    Mode = "live"
)

// Config is everything the program needs to start.
type Config struct {
	Addr    string
	DataDir string

	// Sandbox is the resolved mode; SandboxSetting is what the user asked
	// for ("auto", "true", "false").
	Mode           Mode
	SandboxSetting string

	SandboxFixture     string
	SandboxExport      string
	SandboxSeed        int64
	SandboxInvestments int
	SandboxFaults      string
	SandboxFaultSeed   int64
	SandboxControl     bool
	SandboxTokenTTL    time.Duration

	IssuanceBaseURL       string
	IssuanceAPIKey        string   // ISSUANCE_API_KEY, kept for one-key setups
	IssuanceAPIKeys       []string // every key: ISSUANCE_API_KEYS (comma-separated) and ISSUANCE_API_KEY
	IssuanceFirebaseToken string   // for the endpoints documented with a Firebase ID token (investors, users)
	// A Firebase refresh token and web API key: ID tokens are obtained and
	// renewed at IssuanceFirebaseTokenURL (replaces the fixed token).
	IssuanceFirebaseAPIKey       string
	IssuanceFirebaseRefreshToken string
	IssuanceFirebaseTokenURL     string
	CashlinkBaseURL              string
	CashlinkClientID             string
	CashlinkClientSecret         string

	AdminEmail    string
	AdminPassword string

	TLSCert       string
	TLSKey        string
	SecureCookies bool // also set when TLS is on
	Require2FA    bool // admins must enrol a TOTP second factor

	SessionIdle     time.Duration
	SessionLifetime time.Duration
	// AuditCheckpoint is how often the audit chain's head is signed into
	// the checkpoint file (when it moved); one more is written at shutdown.
	AuditCheckpoint time.Duration

	// The import engine's throughput (importer.DefaultWorkers/DefaultRate
	// are the same numbers).
	ImportWorkers int
	ImportRate    float64 // Cashlink calls per second across workers

	LogFormat string // "text" or "json"
	LogLevel  string
}

// Secrets returns the configured secret values, so callers can check that
// none of them ends up in a log line, a page or the database.
func (c Config) Secrets() []string {
	var out []string
	for _, s := range append([]string{c.IssuanceAPIKey, c.IssuanceFirebaseToken, c.IssuanceFirebaseAPIKey, c.IssuanceFirebaseRefreshToken, c.CashlinkClientSecret, c.AdminPassword}, c.IssuanceAPIKeys...) {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Import throughput defaults (measured: README, BenchmarkImport; why:
// importer.DefaultWorkers). 16 workers: at 100 ms per Cashlink request they
// import 1,000 rows more than 10× faster than the guide's sequential flow
// (8 gave about 7×); the rate is a ceiling the engine stays under while it
// finds Cashlink's limit.
const (
	DefaultImportWorkers = 16
	DefaultImportRate    = 200.0
)

// Getenv is os.Getenv's signature, injected so tests control the environment.
type Getenv func(string) string

// ErrHelp is returned when -h was asked for; the usage has been printed.
var ErrHelp = flag.ErrHelp

// Parse reads args (without the program name) and the environment. Usage
// and -h output go to out.
func Parse(args []string, getenv Getenv, out io.Writer) (Config, error) {
	var c Config
	fs := flag.NewFlagSet("web", flag.ContinueOnError)
	fs.SetOutput(out)

	var problems []error
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	envDuration := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s=%q is not a duration (examples: 30m, 12h)", name, v))
			return def
		}
		return d
	}
	envBool := func(name string, def bool) bool {
		v := getenv(name)
		if v == "" {
			return def
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s=%q is not true or false", name, v))
			return def
		}
		return b
	}
	envFloat := func(name string, def float64) float64 {
		v := getenv(name)
		if v == "" {
			return def
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s=%q is not a number", name, v))
			return def
		}
		return f
	}
	envInt := func(name string, def int64) int64 {
		v := getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s=%q is not a whole number", name, v))
			return def
		}
		return n
	}

	fs.StringVar(&c.Addr, "addr", env("ADDR", "127.0.0.1:8080"), "listen address (env ADDR); port 0 picks a free port")
	fs.StringVar(&c.DataDir, "data", env("DATA_DIR", "./data"), "folder for console.db, sandbox.db and key files, created 0700 (env DATA_DIR)")
	fs.StringVar(&c.SandboxSetting, "sandbox", env("SANDBOX", "auto"), "auto, true or false: mount the API emulators and point the clients at them; auto = on when no upstream credentials are set (env SANDBOX)")
	fs.StringVar(&c.SandboxFixture, "sandbox-fixture", env("SANDBOX_FIXTURE", ""), "start the Issuance emulator from this fixture file instead of the generator (env SANDBOX_FIXTURE)")
	fs.StringVar(&c.SandboxExport, "sandbox-export", env("SANDBOX_EXPORT", ""), "write the emulator's Issuance data set as a fixture to this file and exit (env SANDBOX_EXPORT)")
	fs.Int64Var(&c.SandboxSeed, "sandbox-seed", envInt("SANDBOX_SEED", 1), "generator seed for the Issuance emulator's data (env SANDBOX_SEED)")
	investments := fs.Int64("sandbox-investments", envInt("SANDBOX_INVESTMENTS", 5000), "number of generated investments, 1 to 1000000 (env SANDBOX_INVESTMENTS)")
	fs.StringVar(&c.SandboxFaults, "sandbox-faults", env("SANDBOX_FAULTS", ""), `fault injection rules for the emulators, e.g. "cashlink 5xx=0.1 latency=50ms; issuance 429=0.05 retry-after=2s" (env SANDBOX_FAULTS)`)
	fs.Int64Var(&c.SandboxFaultSeed, "sandbox-fault-seed", envInt("SANDBOX_FAULT_SEED", 1), "seed of the fault injector (env SANDBOX_FAULT_SEED)")
	fs.BoolVar(&c.SandboxControl, "sandbox-control", envBool("SANDBOX_CONTROL", false), "mount the test-only control endpoint /sandbox/_control/ (env SANDBOX_CONTROL)")
	fs.DurationVar(&c.SandboxTokenTTL, "sandbox-token-ttl", envDuration("SANDBOX_TOKEN_TTL", time.Hour), "lifetime of access tokens issued by the Cashlink emulator (env SANDBOX_TOKEN_TTL)")
	fs.StringVar(&c.TLSCert, "tls-cert", env("TLS_CERT_FILE", ""), "serve HTTPS with this certificate file (env TLS_CERT_FILE)")
	fs.StringVar(&c.TLSKey, "tls-key", env("TLS_KEY_FILE", ""), "private key for -tls-cert (env TLS_KEY_FILE)")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", envBool("SECURE_COOKIES", false), "mark cookies Secure even without -tls-cert, e.g. behind a TLS proxy (env SECURE_COOKIES)")
	fs.BoolVar(&c.Require2FA, "require-2fa", envBool("REQUIRE_2FA", false), "admins must set up two-factor sign-in (TOTP) before using the console (env REQUIRE_2FA)")
	fs.DurationVar(&c.SessionIdle, "session-idle", envDuration("SESSION_IDLE_TIMEOUT", 30*time.Minute), "sign out after this long without a request (env SESSION_IDLE_TIMEOUT)")
	fs.DurationVar(&c.SessionLifetime, "session-lifetime", envDuration("SESSION_LIFETIME", 12*time.Hour), "sign out this long after sign-in, whatever the activity (env SESSION_LIFETIME)")
	fs.IntVar(&c.ImportWorkers, "import-workers", int(envInt("IMPORT_WORKERS", DefaultImportWorkers)), "import rows processed at once, 1 to 64 (env IMPORT_WORKERS)")
	fs.Float64Var(&c.ImportRate, "import-rate", envFloat("IMPORT_RATE", DefaultImportRate), "Cashlink calls per second an import makes across its workers, at most; below it the engine finds Cashlink's own limit (429/503 with Retry-After, latency) and stays just under it (env IMPORT_RATE)")
	fs.DurationVar(&c.AuditCheckpoint, "audit-checkpoint", envDuration("AUDIT_CHECKPOINT_INTERVAL", 5*time.Minute), "sign the audit chain's head into DATA_DIR/audit-checkpoints.jsonl this often when it moved, and at shutdown (env AUDIT_CHECKPOINT_INTERVAL)")
	fs.StringVar(&c.LogFormat, "log-format", env("LOG_FORMAT", "text"), "text or json (env LOG_FORMAT)")
	fs.StringVar(&c.LogLevel, "log-level", env("LOG_LEVEL", "info"), "debug, info, warn or error (env LOG_LEVEL)")

	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Issuer Console: look after Issuance offerings and import signed investments into Cashlink.

Usage:
  web [flags]                  start the console
  web audit verify -data DIR   recompute the audit log's hash chain and check it against the signed checkpoints

Flags:
`)
		fs.PrintDefaults()
		fmt.Fprintf(fs.Output(), `
Environment only (never put secrets on the command line):
  ISSUANCE_BASE_URL, ISSUANCE_API_KEYS                         live Issuance issuer API; one key per offering, comma-separated
                                                               (ISSUANCE_API_KEY, one key, is still accepted)
  ISSUANCE_FIREBASE_API_KEY, ISSUANCE_FIREBASE_REFRESH_TOKEN   optional: Firebase web API key and refresh token; ID tokens for
                                                               Issuance investors, users and summary are obtained and renewed
  ISSUANCE_FIREBASE_TOKEN_URL                                  Secure Token endpoint (default https://securetoken.googleapis.com/v1/token)
  ISSUANCE_FIREBASE_TOKEN                                      optional: a fixed Firebase ID token instead (expires after an hour)
  CASHLINK_BASE_URL, CASHLINK_CLIENT_ID, CASHLINK_CLIENT_SECRET live Cashlink API (base ends in /api/external)
  ADMIN_EMAIL, ADMIN_PASSWORD                                  create the first admin when no user exists
`)
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Errorf("unexpected argument %q (flags start with -; see -h)", fs.Arg(0)))
	}
	c.SandboxInvestments = int(*investments)

	c.IssuanceBaseURL = strings.TrimSpace(getenv("ISSUANCE_BASE_URL"))
	c.IssuanceAPIKey = strings.TrimSpace(getenv("ISSUANCE_API_KEY"))
	for _, k := range append([]string{c.IssuanceAPIKey}, strings.Split(getenv("ISSUANCE_API_KEYS"), ",")...) {
		if k = strings.TrimSpace(k); k != "" && !slices.Contains(c.IssuanceAPIKeys, k) {
			c.IssuanceAPIKeys = append(c.IssuanceAPIKeys, k)
		}
	}
	c.IssuanceFirebaseToken = getenv("ISSUANCE_FIREBASE_TOKEN")
	c.IssuanceFirebaseAPIKey = strings.TrimSpace(getenv("ISSUANCE_FIREBASE_API_KEY"))
	c.IssuanceFirebaseRefreshToken = strings.TrimSpace(getenv("ISSUANCE_FIREBASE_REFRESH_TOKEN"))
	c.IssuanceFirebaseTokenURL = strings.TrimSpace(getenv("ISSUANCE_FIREBASE_TOKEN_URL"))
	if c.IssuanceFirebaseTokenURL == "" {
		c.IssuanceFirebaseTokenURL = "https://securetoken.googleapis.com/v1/token"
	}
	c.CashlinkBaseURL = strings.TrimSpace(getenv("CASHLINK_BASE_URL"))
	c.CashlinkClientID = getenv("CASHLINK_CLIENT_ID")
	c.CashlinkClientSecret = getenv("CASHLINK_CLIENT_SECRET")
	c.AdminEmail = strings.TrimSpace(getenv("ADMIN_EMAIL"))
	c.AdminPassword = getenv("ADMIN_PASSWORD")

	problems = append(problems, c.resolve()...)
	if len(problems) > 0 {
		return c, &Error{Problems: problems}
	}
	return c, nil
}

// Error lists every configuration problem found.
type Error struct{ Problems []error }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d configuration problem(s):", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() []error { return e.Problems }

func (c *Config) resolve() []error {
	var problems []error
	add := func(format string, a ...any) { problems = append(problems, fmt.Errorf(format, a...)) }

	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		add("-addr %q is not host:port (example: 127.0.0.1:8080)", c.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		add("-addr %q has no valid port", c.Addr)
	}
	if strings.TrimSpace(c.DataDir) == "" {
		add("-data must name a folder")
	} else {
		c.DataDir = filepath.Clean(c.DataDir)
		if fi, err := os.Stat(c.DataDir); err == nil && !fi.IsDir() {
			add("-data %q exists and is not a folder", c.DataDir)
		}
	}

	issuanceAny := c.IssuanceBaseURL != "" || len(c.IssuanceAPIKeys) > 0
	cashlinkAny := c.CashlinkBaseURL != "" || c.CashlinkClientID != "" || c.CashlinkClientSecret != ""
	switch strings.ToLower(c.SandboxSetting) {
	case "auto", "":
		c.SandboxSetting = "auto"
		if issuanceAny || cashlinkAny {
			c.Mode = ModeLive
		} else {
			c.Mode = ModeSandbox
		}
	case "true", "1", "on", "yes":
		c.SandboxSetting, c.Mode = "true", ModeSandbox
	case "false", "0", "off", "no":
		c.SandboxSetting, c.Mode = "false", ModeLive
	default:
		add("-sandbox %q must be auto, true or false", c.SandboxSetting)
	}

	if c.Mode == ModeLive {
		if !issuanceAny && !cashlinkAny {
			add("live mode (-sandbox=false) needs ISSUANCE_BASE_URL + ISSUANCE_API_KEYS and/or CASHLINK_BASE_URL + CASHLINK_CLIENT_ID + CASHLINK_CLIENT_SECRET")
		}
		if issuanceAny {
			if len(c.IssuanceAPIKeys) == 0 {
				add("ISSUANCE_BASE_URL is set but ISSUANCE_API_KEYS (or ISSUANCE_API_KEY) is empty")
			}
			problems = append(problems, checkLiveURL("ISSUANCE_BASE_URL", c.IssuanceBaseURL)...)
			if (c.IssuanceFirebaseAPIKey == "") != (c.IssuanceFirebaseRefreshToken == "") {
				add("ISSUANCE_FIREBASE_API_KEY and ISSUANCE_FIREBASE_REFRESH_TOKEN must be set together")
			}
			if c.IssuanceFirebaseRefreshToken != "" {
				problems = append(problems, checkLiveURL("ISSUANCE_FIREBASE_TOKEN_URL", c.IssuanceFirebaseTokenURL)...)
			}
		}
		if cashlinkAny {
			if c.CashlinkClientID == "" || c.CashlinkClientSecret == "" {
				add("Cashlink needs CASHLINK_CLIENT_ID and CASHLINK_CLIENT_SECRET together with CASHLINK_BASE_URL")
			}
			problems = append(problems, checkLiveURL("CASHLINK_BASE_URL", c.CashlinkBaseURL)...)
		}
	}

	if c.SandboxInvestments < 1 || c.SandboxInvestments > 1_000_000 {
		add("-sandbox-investments %d must be between 1 and 1000000", c.SandboxInvestments)
	}
	if c.SandboxFixture != "" {
		if _, err := os.Stat(c.SandboxFixture); err != nil {
			add("-sandbox-fixture %q cannot be read: %v", c.SandboxFixture, errors.Unwrap(err))
		}
	}
	if (c.SandboxExport != "" || c.SandboxFixture != "" || c.SandboxControl || c.SandboxFaults != "") && c.Mode != ModeSandbox {
		add("-sandbox-export, -sandbox-fixture, -sandbox-faults and -sandbox-control only apply in sandbox mode")
	}
	if c.SandboxTokenTTL < time.Second {
		add("-sandbox-token-ttl %s must be at least 1s", c.SandboxTokenTTL)
	}

	if (c.AdminEmail == "") != (c.AdminPassword == "") {
		add("ADMIN_EMAIL and ADMIN_PASSWORD must be set together")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		add("-tls-cert and -tls-key must be given together")
	}
	// Checked now, with the other problems, rather than by ServeTLS after
	// the console has already started.
	for _, f := range []struct{ flag, path string }{{"-tls-cert", c.TLSCert}, {"-tls-key", c.TLSKey}} {
		if f.path == "" {
			continue
		}
		if err := readableFile(f.path); err != nil {
			add("%s %q cannot be read: %v", f.flag, f.path, err)
		}
	}
	if c.TLSCert != "" {
		c.SecureCookies = true
	}
	if c.SessionIdle < time.Minute {
		add("-session-idle %s must be at least 1m", c.SessionIdle)
	}
	if c.AuditCheckpoint < time.Second {
		add("-audit-checkpoint %s must be at least 1s", c.AuditCheckpoint)
	}
	if c.SessionLifetime < c.SessionIdle {
		add("-session-lifetime %s must not be shorter than -session-idle %s", c.SessionLifetime, c.SessionIdle)
	}
	if c.ImportWorkers < 1 || c.ImportWorkers > 64 {
		add("-import-workers %d must be between 1 and 64", c.ImportWorkers)
	}
	if !(c.ImportRate >= 0.1 && c.ImportRate <= 10000) {
		add("-import-rate %g must be between 0.1 and 10000 calls per second", c.ImportRate)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		add("-log-format %q must be text or json", c.LogFormat)
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		add("-log-level %q must be debug, info, warn or error", c.LogLevel)
	}
	return problems
}

// readableFile reports why path is not a file this process can open.
func readableFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return errors.New("it is a folder")
	}
	return nil
}

// checkLiveURL requires an absolute HTTPS URL: live credentials never travel
// in clear text. (Only the embedded sandbox is reached over plain HTTP.)
func checkLiveURL(name, raw string) []error {
	if raw == "" {
		return []error{fmt.Errorf("%s is empty", name)}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return []error{fmt.Errorf("%s %q is not an absolute URL", name, raw)}
	}
	if u.Scheme != "https" {
		return []error{fmt.Errorf("%s %q must use https", name, raw)}
	}
	return nil
}
