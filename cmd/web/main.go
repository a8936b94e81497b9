// Command web is the Issuer Console: one binary serving the console, and in
// sandbox mode the emulators of the Issuance and Cashlink APIs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"issuerconsole/app"
	"issuerconsole/config"
	"issuerconsole/db"
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

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	defer ln.Close()

	a, err := app.New(ctx, cfg, ln.Addr(), log, stderr, app.Options{})
	if err != nil {
		return err
	}
	defer a.Close()

	log.Info("listening", "url", a.BaseURL, "mode", string(cfg.Mode), "data", cfg.DataDir)
	return a.Serve(ctx, ln)
}

// auditVerify recomputes the audit log's hash chain of a data folder
// without changing anything; an error (non-zero exit) names the first
// broken row.
func auditVerify(ctx context.Context, args []string, getenv config.Getenv, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("web audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	def := getenv("DATA_DIR")
	if def == "" {
		def = "./data"
	}
	dir := fs.String("data", def, "data folder holding console.db (env DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	path := filepath.Join(*dir, "console.db")
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no console database at %s: %w", path, err)
	}
	d, err := db.OpenRaw(ctx, path, db.SyncFull)
	if err != nil {
		return err
	}
	defer d.Close()
	res, err := audit.NewStore(d, nil).Verify(ctx)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if !res.Intact {
		return fmt.Errorf("audit chain broken at row %d: %s (%d rows read)", res.BrokenID, res.Reason, res.Rows)
	}
	fmt.Fprintf(stdout, "audit chain intact: %d rows; head row %d, hash %x\n", res.Rows, res.HeadID, res.Head)
	return nil
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
