package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(kv map[string]string) Getenv { return func(k string) string { return kv[k] } }

// pemFiles writes stand-ins for a certificate and key (only their
// readability is checked at configuration time).
func pemFiles(t *testing.T) (cert, key string) {
	t.Helper()
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("-----BEGIN X-----\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key
}

func TestParse(t *testing.T) {
	t.Parallel()
	cert, key := pemFiles(t)
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c Config)
	}{
		{
			name: "defaults are sandbox on loopback",
			check: func(t *testing.T, c Config) {
				if c.Mode != ModeSandbox || c.Addr != "127.0.0.1:8080" || c.DataDir != "data" || c.SandboxInvestments != 5000 || c.SandboxSeed != 1 {
					t.Errorf("got mode=%s addr=%s data=%s inv=%d seed=%d", c.Mode, c.Addr, c.DataDir, c.SandboxInvestments, c.SandboxSeed)
				}
				if c.SessionIdle != 30*time.Minute || c.SessionLifetime != 12*time.Hour || c.SecureCookies {
					t.Errorf("session idle=%s lifetime=%s secure=%v", c.SessionIdle, c.SessionLifetime, c.SecureCookies)
				}
			},
		},
		{
			name: "environment sets values",
			env:  map[string]string{"ADDR": "127.0.0.1:9000", "DATA_DIR": "/tmp/x", "SESSION_IDLE_TIMEOUT": "5m", "SANDBOX_INVESTMENTS": "42"},
			check: func(t *testing.T, c Config) {
				if c.Addr != "127.0.0.1:9000" || c.DataDir != "/tmp/x" || c.SessionIdle != 5*time.Minute || c.SandboxInvestments != 42 {
					t.Errorf("got %+v", c)
				}
			},
		},
		{
			name: "flag wins over environment",
			args: []string{"-addr", "127.0.0.1:7000", "-sandbox-investments", "7"},
			env:  map[string]string{"ADDR": "127.0.0.1:9000", "SANDBOX_INVESTMENTS": "42"},
			check: func(t *testing.T, c Config) {
				if c.Addr != "127.0.0.1:7000" || c.SandboxInvestments != 7 {
					t.Errorf("addr=%s investments=%d", c.Addr, c.SandboxInvestments)
				}
			},
		},
		{
			name: "credentials switch auto to live",
			env:  map[string]string{"ISSUANCE_BASE_URL": "https://api.issuance.com/", "ISSUANCE_API_KEY": "k"},
			check: func(t *testing.T, c Config) {
				if c.Mode != ModeLive {
					t.Errorf("mode = %s, want live", c.Mode)
				}
			},
		},
		{
			name: "explicit sandbox wins over credentials",
			args: []string{"-sandbox=true"},
			env:  map[string]string{"ISSUANCE_BASE_URL": "https://api.issuance.com/", "ISSUANCE_API_KEY": "k"},
			check: func(t *testing.T, c Config) {
				if c.Mode != ModeSandbox {
					t.Errorf("mode = %s, want sandbox", c.Mode)
				}
			},
		},
		{
			name: "TLS implies secure cookies",
			args: []string{"-tls-cert", cert, "-tls-key", key},
			check: func(t *testing.T, c Config) {
				if !c.SecureCookies {
					t.Error("SecureCookies = false with TLS")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse(tt.args, env(tt.env), &bytes.Buffer{})
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// Every problem is reported in one error, not just the first.
func TestParseReportsAllProblems(t *testing.T) {
	t.Parallel()
	_, err := Parse(
		[]string{"-addr", "nonsense", "-sandbox", "maybe", "-sandbox-investments", "0", "-session-idle", "10s", "extra"},
		env(map[string]string{"ADMIN_EMAIL": "a@example.com", "SESSION_LIFETIME": "soon"}),
		&bytes.Buffer{})
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("err = %v, want *config.Error", err)
	}
	msg := err.Error()
	for _, want := range []string{"-addr \"nonsense\"", "-sandbox \"maybe\"", "-sandbox-investments 0", "-session-idle 10s", "ADMIN_EMAIL and ADMIN_PASSWORD", "SESSION_LIFETIME=\"soon\"", "unexpected argument \"extra\""} {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not mention %s:\n%s", want, msg)
		}
	}
	if len(cerr.Problems) != 7 {
		t.Errorf("%d problems, want 7:\n%s", len(cerr.Problems), msg)
	}
}

func TestLiveCredentialProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"plain http refused", map[string]string{"ISSUANCE_BASE_URL": "http://api.issuance.com/", "ISSUANCE_API_KEY": "k"}, "must use https"},
		{"key missing", map[string]string{"ISSUANCE_BASE_URL": "https://api.issuance.com/"}, "ISSUANCE_API_KEYS (or ISSUANCE_API_KEY) is empty"},
		{"cashlink secret missing", map[string]string{"CASHLINK_BASE_URL": "https://demo.cashlink.de/api/external", "CASHLINK_CLIENT_ID": "id"}, "CASHLINK_CLIENT_SECRET"},
		{"relative url", map[string]string{"CASHLINK_BASE_URL": "/api", "CASHLINK_CLIENT_ID": "id", "CASHLINK_CLIENT_SECRET": "s"}, "not an absolute URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(nil, env(tt.env), &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// Missing or unreadable TLS files are configuration problems, reported with
// the others, not a failure after the console has started.
func TestTLSFileProblems(t *testing.T) {
	t.Parallel()
	cert, key := pemFiles(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	locked := filepath.Join(dir, "locked.pem")
	if err := os.WriteFile(locked, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string // every problem, in order
	}{
		{"both readable", []string{"-tls-cert", cert, "-tls-key", key}, nil, nil},
		{"cert missing", []string{"-tls-cert", missing, "-tls-key", key}, nil,
			[]string{`-tls-cert "` + missing + `" cannot be read: no such file or directory`}},
		{"key missing, from the environment", nil, map[string]string{"TLS_CERT_FILE": cert, "TLS_KEY_FILE": missing},
			[]string{`-tls-key "` + missing + `" cannot be read: no such file or directory`}},
		{"both missing", []string{"-tls-cert", missing, "-tls-key", missing + "2"}, nil,
			[]string{`-tls-cert "` + missing + `"`, `-tls-key "` + missing + `2"`}},
		{"key is a folder", []string{"-tls-cert", cert, "-tls-key", dir}, nil,
			[]string{`-tls-key "` + dir + `" cannot be read: it is a folder`}},
		{"cert without key", []string{"-tls-cert", cert}, nil,
			[]string{"-tls-cert and -tls-key must be given together"}},
		{"missing key without cert, and other problems", []string{"-tls-key", missing, "-addr", "nonsense", "-session-idle", "1s"}, nil,
			[]string{`-addr "nonsense"`, "-tls-cert and -tls-key must be given together", `-tls-key "` + missing + `"`, "-session-idle 1s"}},
		{"unreadable cert", []string{"-tls-cert", locked, "-tls-key", key}, nil,
			[]string{`-tls-cert "` + locked + `" cannot be read: permission denied`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "unreadable cert" && os.Geteuid() == 0 {
				t.Skip("root reads files whatever their mode")
			}
			_, err := Parse(tt.args, env(tt.env), &bytes.Buffer{})
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) != len(tt.want) {
				t.Fatalf("err = %v, want %d problems", err, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(cerr.Problems[i].Error(), w) {
					t.Errorf("problem %d = %q, want it to contain %q", i+1, cerr.Problems[i], w)
				}
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	_, err := Parse([]string{"-h"}, env(nil), &out)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v, want ErrHelp", err)
	}
	for _, want := range []string{"-addr", "-data", "-sandbox-fixture", "ISSUANCE_API_KEY", "CASHLINK_CLIENT_SECRET", "audit verify"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help does not mention %s", want)
		}
	}
}

// ISSUANCE_API_KEYS takes one key per offering; ISSUANCE_API_KEY is still
// accepted and comes first; blanks and repeats are dropped; every key is a
// secret.
func TestIssuanceAPIKeys(t *testing.T) {
	c, err := Parse(nil, env(map[string]string{"ISSUANCE_BASE_URL": "https://api.issuance.com/",
		"ISSUANCE_API_KEY": "k0", "ISSUANCE_API_KEYS": " k1, ,k2,k0"}), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.IssuanceAPIKeys, "|"); got != "k0|k1|k2" || c.Mode != ModeLive {
		t.Fatalf("keys %q, mode %s", got, c.Mode)
	}
	if s := strings.Join(c.Secrets(), "|"); !strings.Contains(s, "k1") || !strings.Contains(s, "k2") {
		t.Fatalf("secrets %q", s)
	}
}

// -import-workers and -import-rate: flags with environment variables,
// documented defaults, checked ranges.
func TestImportThroughput(t *testing.T) {
	c, err := Parse(nil, env(nil), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.ImportWorkers != DefaultImportWorkers || c.ImportRate != DefaultImportRate {
		t.Fatalf("defaults %d, %v", c.ImportWorkers, c.ImportRate)
	}
	c, err = Parse([]string{"-import-workers", "3"}, env(map[string]string{"IMPORT_WORKERS": "9", "IMPORT_RATE": "12.5"}), &bytes.Buffer{})
	if err != nil || c.ImportWorkers != 3 || c.ImportRate != 12.5 {
		t.Fatalf("flag over env: %d %v %v", c.ImportWorkers, c.ImportRate, err)
	}
	_, err = Parse([]string{"-import-workers", "0"}, env(map[string]string{"IMPORT_RATE": "fast"}), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "-import-workers 0") || !strings.Contains(err.Error(), `IMPORT_RATE="fast"`) {
		t.Fatalf("bad values: %v", err)
	}
}

// The checkpoint interval has a default, an environment variable and a floor.
func TestAuditCheckpointInterval(t *testing.T) {
	t.Parallel()
	c, err := Parse(nil, env(map[string]string{"AUDIT_CHECKPOINT_INTERVAL": "90s"}), &bytes.Buffer{})
	if err != nil || c.AuditCheckpoint != 90*time.Second {
		t.Fatalf("interval %v, err %v", c.AuditCheckpoint, err)
	}
	if c, _ := Parse(nil, env(nil), &bytes.Buffer{}); c.AuditCheckpoint != 5*time.Minute {
		t.Fatalf("default %v", c.AuditCheckpoint)
	}
	if _, err := Parse([]string{"-audit-checkpoint", "10ms"}, env(nil), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-audit-checkpoint 10ms") {
		t.Fatalf("err %v", err)
	}
}
