// Command web is the Issuer Console: one binary serving the console, and in
// sandbox mode the emulators of the Issuance and Cashlink APIs.
package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"issuerconsole/app"
	"issuerconsole/config"
	"issuerconsole/db"
	"issuerconsole/sandbox"
	"issuerconsole/services/audit"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, config.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// run is the whole program, with the process's fundamentals passed in so
// tests can call it. Logs go to stdout; messages for the person at the
// terminal (the one-time setup link) go to stderr.
func run(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) error {
	if len(args) >= 2 && args[0] == "audit" && args[1] == "verify" {
		return auditVerify(ctx, args[2:], getenv, stdout, stderr)
	}
	cfg, err := config.Parse(args, getenv, stderr)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	if cfg.SandboxExport != "" {
		return exportFixture(ctx, cfg, log, stdout)
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()

	// The sandbox's data set and the first admin are prepared while the
	// listener already answers (see app.Options.Background).
	a, err := app.New(ctx, cfg, ln.Addr(), log, stderr, app.Options{Background: true})
	if err != nil {
		return err
	}
	defer a.Close()

	log.Info("listening", "url", a.BaseURL, "mode", string(cfg.Mode), "data", cfg.DataDir)
	return a.Serve(ctx, ln)
}

// exportFixture writes the Issuance emulator's current data set (the
// generated one, or the fixture it started from, with users created
// through the API) as a fixture file, then exits.
func exportFixture(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return err
	}
	sb, err := sandbox.Open(ctx, sandbox.Config{Dir: cfg.DataDir, Seed: cfg.SandboxSeed, Investments: cfg.SandboxInvestments,
		Fixture: cfg.SandboxFixture, Logger: log})
	if err != nil {
		return err
	}
	defer sb.Close()
	tmp := cfg.SandboxExport + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("-sandbox-export: %w", err)
	}
	if err := sb.Issuance.Export(ctx, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("-sandbox-export: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, cfg.SandboxExport); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote the sandbox's Issuance data set to %s\n", cfg.SandboxExport)
	return nil
}

// auditVerify recomputes the audit log's hash chain of a data folder
// without changing anything, and checks it against the signed checkpoints;
// an error (non-zero exit) names the first broken row, or the first row
// after the last checkpoint that still matches.
func auditVerify(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("web audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := getenv("DATA_DIR")
	if def == "" {
		def = "./data"
	}
	dir := fs.String("data", def, "data folder holding console.db (env DATA_DIR)")
	cpFile := fs.String("checkpoints", "", "signed checkpoints to check against: the checkpoint file or an NDJSON audit export (default DATA/"+audit.CheckpointFile+")")
	pubHex := fs.String("public-key", "", "hex Ed25519 public key the checkpoints must be signed with, as recorded from the audit page (default: the data folder's key)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path := filepath.Join(*dir, "console.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no console database at %s: %w", path, err)
	}
	pub, err := checkpointKey(*dir, *pubHex)
	if err != nil {
		return err
	}
	d, err := db.OpenRaw(ctx, path, db.SyncFull)
	if err != nil {
		return err
	}
	defer d.Close()
	st := audit.NewStore(d, nil)
	var res audit.VerifyResult
	if pub == nil {
		fmt.Fprintf(stdout, "no checkpoint key in %s: only the chain itself is checked (a cut-off tail or a recomputed chain cannot be detected)\n", *dir)
		res, err = st.Verify(ctx)
	} else {
		fmt.Fprintf(stdout, "checkpoint key (Ed25519): %x\n", []byte(pub))
		if *cpFile == "" {
			*cpFile = filepath.Join(*dir, audit.CheckpointFile)
		}
		var cps []audit.Checkpoint
		if cps, err = audit.LoadCheckpoints(*cpFile); err != nil {
			return err
		}
		res, err = st.VerifyAnchored(ctx, cps, pub)
	}
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if !res.Intact {
		return fmt.Errorf("audit chain broken at row %d: %s (%d rows read)", res.BrokenID, res.Reason, res.Rows)
	}
	fmt.Fprintf(stdout, "audit chain intact: %d rows; head row %d, hash %x\n", res.Rows, res.HeadID, res.Head)
	if res.Anchored {
		fmt.Fprintf(stdout, "matches %d signed checkpoints; the last covers row %d (%s)\n", res.Checkpoints, res.AnchorRow, res.AnchorAt.Format(time.RFC3339))
		if res.BadSigs > 0 {
			fmt.Fprintf(stdout, "warning: %d checkpoints are not signed with this key and were ignored\n", res.BadSigs)
		}
	}
	return nil
}

// checkpointKey is the public key to check checkpoints with: the one given,
// which must then match the data folder's, or the data folder's (nil when
// the folder has none).
func checkpointKey(dir, given string) (ed25519.PublicKey, error) {
	var pub ed25519.PublicKey
	if given != "" {
		b, err := hex.DecodeString(strings.TrimSpace(given))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("-public-key: want %d bytes in hex", ed25519.PublicKeySize)
		}
		pub = b
	}
	key, err := app.ReadAuditKey(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return pub, nil
	case err != nil:
		return nil, err
	case pub != nil && !pub.Equal(key.Public()):
		return nil, fmt.Errorf("the data folder's checkpoint key %x is not the one given: the key file was replaced", []byte(key.Public().(ed25519.PublicKey)))
	}
	return key.Public().(ed25519.PublicKey), nil
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel)))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
