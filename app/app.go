// Package app wires the console together: configuration in, a running
// server out. cmd/web calls it; the handler tests and the end-to-end tests
// build the same App over a temporary data folder.
package app

import (
	"cmp"
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"issuerconsole/config"
	"issuerconsole/db"
	"issuerconsole/handlers"
	"issuerconsole/sandbox"
	"issuerconsole/sandbox/faults"
	"issuerconsole/services/accounts"
	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
	"issuerconsole/services/cashlink"
	"issuerconsole/services/export"
	"issuerconsole/services/importer"
	"issuerconsole/services/issuance"
	"issuerconsole/services/offerings"
	"issuerconsole/services/searches"
	"issuerconsole/static"
	"issuerconsole/views"
)

// Sandbox credentials: a stable interface (design.md), also used by any
// HTTP client that talks to the emulators.
const (
	SandboxIssuanceKey      = "sandbox-issuance-key"
	SandboxFirebaseToken    = "sandbox-firebase-token"
	SandboxCashlinkClientID = "sandbox-client"
	SandboxCashlinkSecret   = "sandbox-secret"
)

// App is a wired console.
type App struct {
	cfg       config.Config
	log       *slog.Logger
	DB        *sql.DB
	Accounts  *accounts.Service
	Audit     *audit.Store
	Anchor    *audit.Anchor    // signs the audit chain's head into the checkpoint file
	SignIns   *audit.SignIns   // failed and throttled sign-ins, folded
	Issuance  *issuance.Client // nil when not configured
	Cashlink  *cashlink.Client // nil when not configured
	Server    *handlers.Server
	Sandbox   *sandbox.Sandbox       // nil in live mode
	Importer  *importer.Engine       // nil unless both APIs are configured
	exports   *export.Manager        // nil unless Issuance is configured
	counts    *issuance.StatusCounts // nil unless Issuance is configured
	offerings *offerings.Service     // nil unless Issuance is configured; closed with the App
	stop      context.CancelFunc
	BaseURL   string // http(s)://host:port of the listener
	closers   []func() error
	anchorWG  sync.WaitGroup

	// Start-up work that may run after New returns (Options.Background):
	// ready is closed when it has ended, failed too when it went wrong
	// (readyErr says why). Fields it sets (Sandbox, closers) are read after
	// ready.
	ready, failed chan struct{}
	readyErr      error
	readyWait     time.Duration
}

// Options adjust New for tests.
type Options struct {
	BcryptCost    int              // 0 = production cost
	Now           func() time.Time // nil = time.Now
	Throttle      *accounts.ThrottleOptions
	ClientTimeout time.Duration         // per-request timeout of the API clients; 0 = 30 s
	ClientRetry   apiclient.RetryPolicy // zero = each client's default
	Import        importer.Options
	// Background prepares the sandbox (its data set) and the first admin
	// from ADMIN_EMAIL after New returns, so the listener answers at once;
	// pages wait for it (see Handler). cmd/web sets it; tests leave it off
	// to use App.Sandbox as soon as New returns.
	Background bool

	holdStart    <-chan struct{} // tests: background start-up work waits for it
	readyWait    time.Duration   // tests: 0 = defaultReadyWait
	SignInWindow time.Duration   // folding window of failed sign-ins; 0 = 15 minutes
	// OfferingCache tunes the offering pages' shared cache; nil = the
	// default (offerings.DefaultTTL). Benchmarks set their baseline here.
	OfferingCache *offerings.Options
}

// New builds the console for a listener at addr (the resolved address, so
// the setup link and the sandbox base URLs are right even for port 0).
// Messages meant for the person starting the program (the setup link) go to
// console.
func New(ctx context.Context, cfg config.Config, addr net.Addr, log *slog.Logger, console io.Writer, opts Options) (_ *App, err error) {
	// Every error return below leaves the named result nil, so the cleanup
	// closes the local a, not the result (a nil *App would panic and hide err).
	a := &App{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	a.BaseURL = scheme + "://" + addr.String()

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data folder: %w", err)
	}
	if fi, err := os.Stat(cfg.DataDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.Warn("data folder is accessible to other users; consider chmod 700", "path", cfg.DataDir, "mode", fi.Mode().Perm().String())
	}
	keys, err := LoadOrCreateKeys(cfg.DataDir, log)
	if err != nil {
		return nil, err
	}

	a.DB, err = db.Open(ctx, filepath.Join(cfg.DataDir, "console.db"), db.SyncFull, db.Schema)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.DB.Close)

	a.Accounts, err = accounts.New(a.DB, accounts.Options{
		SessionIdle: cfg.SessionIdle, SessionLifetime: cfg.SessionLifetime, BcryptCost: opts.BcryptCost, Now: opts.Now,
		ActorKey: keys.SignInActor, SecretKey: keys.Secrets,
	})
	if err != nil {
		return nil, err
	}
	a.Audit = audit.NewStore(a.DB, opts.Now)
	// Read calls' rows are group-committed in the background (each durable
	// within audit.DefaultFlushDelay); Close writes what is queued before
	// the database closes (closers run in reverse).
	a.Audit.StartWriter(audit.WriterOptions{OnError: func(err error) {
		log.Error("audit log: writing queued rows failed; read calls fail until it works again", "err", err)
	}})
	a.closers = append(a.closers, a.Audit.Close)
	akey, err := LoadOrCreateAuditKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a.Anchor, err = audit.NewAnchor(a.Audit, akey, filepath.Join(cfg.DataDir, audit.CheckpointFile))
	if err != nil {
		return nil, err
	}
	// Anchor the log as found at start: rows written before a crash, or by
	// an older version, are covered from now on.
	if err := a.Anchor.Checkpoint(ctx); err != nil {
		return nil, err
	}
	a.SignIns = audit.NewSignIns(a.Audit, opts.SignInWindow)
	// At close (before the database): close the open windows of failed
	// sign-ins, so no count is lost.
	signIns := a.SignIns
	a.closers = append(a.closers, func() error { return signIns.Flush(context.Background(), true) })
	setup, createAdmin, err := a.bootstrapAdmin(ctx, console)
	if err != nil {
		return nil, err
	}
	conns, err := a.connect(addr, opts.ClientTimeout, opts.ClientRetry)
	if err != nil {
		return nil, err
	}
	thr := accounts.ThrottleOptions{Now: opts.Now}
	if opts.Throttle != nil {
		thr = *opts.Throttle
	}

	var sandboxHandler http.Handler
	if cfg.Mode == config.ModeSandbox {
		if _, err := faults.ParseRules(cfg.SandboxFaults); err != nil {
			return nil, fmt.Errorf("sandbox: -sandbox-faults: %w", err) // a typo fails at once, not after the data set
		}
		// Served only once start-up has ended (Handler), so a.Sandbox is set.
		sandboxHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.Sandbox.Handler().ServeHTTP(w, r) })
	}
	// Background work (exports, imports) lives as long as the App: Close
	// cancels it and waits for it before closing the databases it writes.
	base, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stop = stop
	if cfg.AuditCheckpoint > 0 {
		a.anchorWG.Add(1)
		go func() {
			defer a.anchorWG.Done()
			a.Anchor.Run(base, cfg.AuditCheckpoint, func(err error) { log.Error("audit checkpoint failed", "err", err) })
		}()
	}
	if a.Issuance != nil {
		a.offerings = offeringService(a.Issuance, opts)
		// An export's human columns name the offerings from the shared list,
		// read again at most every 30 s.
		a.exports, err = export.NewManager(base, filepath.Join(cfg.DataDir, "exports"), a.Issuance, handlers.ExportColumns(a.offerings.Namer(base, 30*time.Second)), log)
		if err != nil {
			return nil, err
		}
		// The search page's status counts load in the background too.
		a.counts = issuance.NewStatusCounts(base, a.Issuance, handlers.StatusCountsTTL, opts.Now)
	}
	var imports handlers.ImportDeps
	if a.Issuance != nil && a.Cashlink != nil {
		st := importer.NewStore(a.DB, opts.Now)
		iopt := opts.Import
		iopt.Logger = log.With("component", "importer")
		if iopt.Workers == 0 {
			iopt.Workers = cfg.ImportWorkers
		}
		if iopt.Rate == 0 {
			// Cashlink publishes no rate limit; the engine slows down when it
			// answers 429 or 503 with Retry-After.
			iopt.Rate = rate.Limit(cfg.ImportRate)
		}
		a.Importer = importer.NewEngine(base, st, a.Cashlink, a.Audit, iopt)
		imports = handlers.ImportDeps{Store: st, Engine: a.Importer, Sourcer: &importer.Sourcer{Iss: a.Issuance}}
	}
	assets, err := static.New("/static/")
	if err != nil {
		return nil, err
	}
	a.Server, err = handlers.New(handlers.Deps{
		DB:            a.DB,
		Accounts:      a.Accounts,
		Throttle:      accounts.NewThrottle(thr),
		Setup:         setup,
		Assets:        assets,
		Mode:          string(cfg.Mode),
		SessionKeys:   [2][]byte{keys.SessionHash, keys.SessionBlock},
		CSRFKey:       keys.CSRF,
		SecureCookies: cfg.SecureCookies,
		TLS:           cfg.TLSCert != "",
		Require2FA:    cfg.Require2FA,
		Logger:        log,
		Audit:         a.Audit,
		Anchor:        a.Anchor,
		SignIns:       a.SignIns,
		Issuance:      a.Issuance,
		Cashlink:      a.Cashlink,
		Connections:   conns,
		Sandbox:       sandboxHandler,
		Starting:      a.starting,
		Searches:      searches.New(a.DB, opts.Now),
		Exports:       a.exports,
		Imports:       imports,
		Offerings:     a.offerings,
		Now:           opts.Now,
		StatusCounts:  a.counts,
	})
	if err != nil {
		return nil, err
	}
	a.ready = make(chan struct{})
	if !opts.Background {
		defer close(a.ready)
		if err := a.prepare(ctx, createAdmin); err != nil {
			return nil, err
		}
		return a, nil
	}
	a.failed = make(chan struct{})
	a.readyWait = cmp.Or(opts.readyWait, defaultReadyWait)
	go func() {
		defer close(a.ready)
		if opts.holdStart != nil {
			select {
			case <-opts.holdStart:
			case <-base.Done():
			}
		}
		if err := a.prepare(base, createAdmin); err != nil && base.Err() == nil {
			a.readyErr = err
			log.Error("start-up failed", "err", err)
			close(a.failed)
		}
	}()
	return a, nil
}

// prepare is the start-up work that may take a while: the first admin
// from ADMIN_EMAIL (bcrypt), the sandbox (generating its data set on a
// fresh data folder), then the import jobs that were running.
func (a *App) prepare(ctx context.Context, createAdmin func(context.Context) error) error {
	if createAdmin != nil {
		if err := createAdmin(ctx); err != nil {
			return err
		}
	}
	cfg := a.cfg
	if cfg.Mode == config.ModeSandbox {
		start := time.Now()
		sb, err := sandbox.Open(ctx, sandbox.Config{Dir: cfg.DataDir, Seed: cfg.SandboxSeed, Investments: cfg.SandboxInvestments,
			Fixture: cfg.SandboxFixture, Faults: cfg.SandboxFaults, FaultSeed: cfg.SandboxFaultSeed, Control: cfg.SandboxControl,
			TokenTTL: cfg.SandboxTokenTTL, Logger: a.log}) // real time: tests' fake clocks are for sessions
		if err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		a.Sandbox = sb
		a.closers = append(a.closers, sb.Close)
		a.log.Info("sandbox ready", "took", time.Since(start).Round(time.Millisecond), "issuance", a.Issuance.BaseURL().String(), "cashlink", a.Cashlink.BaseURL().String())
		if a.Importer != nil {
			// The Cashlink API lists no campaigns, products or investors; the
			// console keeps its own. A sandbox console starts with the
			// emulator's seed (once: what an admin changes afterwards stays).
			if cat, err := sandboxCatalog(ctx, a.Sandbox, a.Cashlink.BaseURL().String()); err != nil {
				a.log.Warn("the Cashlink emulator's seed could not be read; enter campaigns and products in Settings", "err", err)
			} else if err := a.Importer.Store().PrefillCatalog(ctx, cat); err != nil {
				return err
			}
		}
	}
	if a.Importer != nil {
		// Jobs that were running when the console stopped continue now.
		if err := a.Importer.Resume(ctx); err != nil {
			return fmt.Errorf("resuming imports: %w", err)
		}
	}
	return nil
}

// starting reports whether start-up work is still running, and its error
// once it failed (the health check shows both).
func (a *App) starting() (bool, error) {
	select {
	case <-a.ready:
		return false, a.readyErr
	default:
		return true, nil
	}
}

// connect builds the API clients: at the embedded emulators in sandbox mode,
// at the configured services in live mode. Both sit on the audit transport.
func (a *App) connect(addr net.Addr, timeout time.Duration, retry apiclient.RetryPolicy) ([]views.Connection, error) {
	cfg := a.cfg
	conns := []views.Connection{
		{API: "issuance", Title: "Issuance issuer API", Mode: "not configured"},
		{API: "cashlink", Title: "Cashlink Registry-as-a-Service API", Mode: "not configured"},
	}
	if cfg.Mode == config.ModeSandbox {
		self := loopbackURL(addr, cfg.TLSCert != "")
		var tr http.RoundTripper
		if cfg.TLSCert != "" {
			// Our own listener on loopback, with the operator's certificate,
			// which need not name 127.0.0.1.
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // loopback to ourselves
			tr = t
		}
		var err error
		a.Issuance, err = issuance.New(issuance.Options{BaseURL: self + "/sandbox/issuance/", APIKey: SandboxIssuanceKey,
			FirebaseToken: SandboxFirebaseToken, AllowHTTP: true, Audit: a.Audit, Transport: tr, Timeout: timeout, Retry: retry})
		if err != nil {
			return nil, err
		}
		a.Cashlink, err = cashlink.New(cashlink.Options{BaseURL: self + "/sandbox/cashlink/api/external",
			ClientID: SandboxCashlinkClientID, ClientSecret: SandboxCashlinkSecret, AllowHTTP: true, Audit: a.Audit, Transport: tr, Timeout: timeout, Retry: retry,
			OnThrottle: a.slowImports})
		if err != nil {
			return nil, err
		}
		conns[0] = views.Connection{API: "issuance", Title: conns[0].Title, Mode: "sandbox", BaseURL: a.Issuance.BaseURL().String(),
			Credentials: [][2]string{{"API key", handlers.Mask(SandboxIssuanceKey)}, {"Firebase token", handlers.Mask(SandboxFirebaseToken)}}}
		conns[1] = views.Connection{API: "cashlink", Title: conns[1].Title, Mode: "sandbox", BaseURL: a.Cashlink.BaseURL().String(),
			Credentials: [][2]string{{"Client id", SandboxCashlinkClientID}, {"Client secret", handlers.Mask(SandboxCashlinkSecret)}}}
		return conns, nil
	}
	// Live clients use the default transport: the system's roots (a company
	// CA can be added with SSL_CERT_FILE).
	if cfg.IssuanceBaseURL != "" {
		var err error
		a.Issuance, err = issuance.New(issuance.Options{BaseURL: cfg.IssuanceBaseURL, APIKeys: cfg.IssuanceAPIKeys,
			FirebaseToken: cfg.IssuanceFirebaseToken, FirebaseAPIKey: cfg.IssuanceFirebaseAPIKey,
			FirebaseRefreshToken: cfg.IssuanceFirebaseRefreshToken, FirebaseTokenURL: cfg.IssuanceFirebaseTokenURL,
			Audit: a.Audit, Timeout: timeout, Retry: retry})
		if err != nil {
			return nil, err
		}
		var creds [][2]string
		for i, k := range cfg.IssuanceAPIKeys {
			label := "API key"
			if len(cfg.IssuanceAPIKeys) > 1 {
				label = fmt.Sprintf("API key %d of %d", i+1, len(cfg.IssuanceAPIKeys))
			}
			creds = append(creds, [2]string{label, handlers.Mask(k)})
		}
		conns[0] = views.Connection{API: "issuance", Title: conns[0].Title, Mode: "live", BaseURL: a.Issuance.BaseURL().String(),
			Credentials: append(creds, firebaseCredentials(cfg)...)}
	}
	if cfg.CashlinkBaseURL != "" {
		var err error
		a.Cashlink, err = cashlink.New(cashlink.Options{BaseURL: cfg.CashlinkBaseURL, ClientID: cfg.CashlinkClientID,
			ClientSecret: cfg.CashlinkClientSecret, Audit: a.Audit, Timeout: timeout, Retry: retry,
			OnThrottle: a.slowImports})
		if err != nil {
			return nil, err
		}
		conns[1] = views.Connection{API: "cashlink", Title: conns[1].Title, Mode: "live", BaseURL: a.Cashlink.BaseURL().String(),
			Credentials: [][2]string{{"Client id", cfg.CashlinkClientID}, {"Client secret", handlers.Mask(cfg.CashlinkClientSecret)}}}
	}
	return conns, nil
}

// sandboxCatalog is the Cashlink emulator's seed as a catalog (amounts in
// minor units become decimals).
func sandboxCatalog(ctx context.Context, sb *sandbox.Sandbox, root string) (importer.Catalog, error) {
	var cat importer.Catalog
	inf, err := sb.Cashlink.Info(ctx, root)
	if err != nil {
		return cat, err
	}
	for _, p := range inf.Products {
		cat.Products = append(cat.Products, importer.CatalogItem{ID: p.ID, Name: p.Name, Currency: p.Currency})
	}
	for _, c := range inf.Campaigns {
		active := c.IsCampaignActive
		cat.Campaigns = append(cat.Campaigns, importer.CatalogItem{ID: c.ID, Name: c.Name, Parent: c.ProductID,
			Currency: c.PricePerToken.Currency, PricePerUnit: minorToDecimal(c.PricePerToken.Amount, c.PricePerToken.Decimals),
			Active: &active, MinUnits: c.MinNumberOfTokens, MaxUnits: c.MaxNumberOfTokens})
	}
	for _, i := range inf.Investors {
		cat.Investors = append(cat.Investors, importer.CatalogInvestor{ID: i.ID, Email: i.Email, Name: i.Forename + " " + i.Surname, Wallets: len(i.Wallets)})
	}
	return cat, nil
}

func minorToDecimal(minor string, decimals int) string {
	if decimals <= 0 || len(minor) == 0 || minor[0] == '-' {
		return minor
	}
	for len(minor) <= decimals {
		minor = "0" + minor
	}
	return minor[:len(minor)-decimals] + "." + minor[len(minor)-decimals:]
}

// slowImports tells the import engine that Cashlink asked any caller to
// slow down (a.Importer is set before the server takes requests).
func (a *App) slowImports(retryAfter time.Duration) {
	if a.Importer != nil {
		a.Importer.SlowDown(retryAfter)
	}
}

// firebaseCredentials describes (masked) how Firebase ID tokens are had.
func firebaseCredentials(cfg config.Config) [][2]string {
	if cfg.IssuanceFirebaseRefreshToken != "" {
		return [][2]string{{"Firebase refresh token", handlers.Mask(cfg.IssuanceFirebaseRefreshToken)},
			{"Firebase token URL", cfg.IssuanceFirebaseTokenURL}}
	}
	return [][2]string{{"Firebase token", handlers.Mask(cfg.IssuanceFirebaseToken)}}
}

// loopbackURL is how the console reaches its own listener: an unspecified
// listen address (0.0.0.0, ::) is reached on loopback.
func loopbackURL(addr net.Addr, tls bool) string {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// bootstrapAdmin prepares the first admin from ADMIN_EMAIL/ADMIN_PASSWORD
// (checked now, created by createAdmin, which hashes the password), or,
// with no user and no such variables, prints a one-time setup link.
func (a *App) bootstrapAdmin(ctx context.Context, console io.Writer) (_ *handlers.SetupToken, createAdmin func(context.Context) error, _ error) {
	n, err := a.Accounts.Count(ctx)
	if err != nil {
		return nil, nil, err
	}
	if n > 0 {
		if a.cfg.AdminEmail != "" {
			a.log.Info("ADMIN_EMAIL ignored: users exist already")
		}
		return nil, nil, nil
	}
	if a.cfg.AdminEmail != "" {
		nu := accounts.NewUser{Email: a.cfg.AdminEmail, Password: a.cfg.AdminPassword, Role: accounts.RoleAdmin}
		if verr := nu.Validate(); verr != nil {
			return nil, nil, fmt.Errorf("ADMIN_EMAIL/ADMIN_PASSWORD: %s", verr.Error())
		}
		return nil, func(ctx context.Context) error {
			u, created, err := a.Accounts.CreateFirstAdmin(ctx, nu)
			if err != nil {
				return fmt.Errorf("ADMIN_EMAIL/ADMIN_PASSWORD: %w", err)
			}
			if created {
				a.log.Info("first admin created from ADMIN_EMAIL", "user_id", u.ID)
			}
			return nil
		}, nil
	}
	tok, raw, err := handlers.NewSetupToken()
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(console, "\nNo user exists yet. Create the first admin here (the link works once, until restart):\n\n    %s/setup?token=%s\n\n", a.BaseURL, raw)
	return tok, nil, nil
}

// defaultReadyWait is how long a request waits for start-up work before
// it gets the "preparing" page instead.
const defaultReadyWait = 3 * time.Second

// Handler serves the whole console. While start-up work runs
// (Options.Background), /healthz and static files answer at once; other
// requests wait for it, up to defaultReadyWait, then get a 503 page that reloads
// itself (Retry-After for API clients).
func (a *App) Handler() http.Handler {
	h := a.Server.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p != "/healthz" && !strings.HasPrefix(p, "/static/") {
			if !a.waitReady(r.Context()) {
				if r.Context().Err() == nil {
					_, err := a.starting()
					preparing(w, err)
				}
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// waitReady waits for start-up work up to a.readyWait; false: not ready (or
// failed, or the request ended).
func (a *App) waitReady(ctx context.Context) bool {
	select {
	case <-a.ready:
		return a.readyErr == nil
	default:
	}
	t := time.NewTimer(a.readyWait)
	defer t.Stop()
	select {
	case <-a.ready:
		return a.readyErr == nil
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func preparing(w http.ResponseWriter, failed error) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if failed != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `<!doctype html><title>Issuer Console</title><p>The console could not start; see its log.</p>`)
		return
	}
	w.Header().Set("Retry-After", "2")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprint(w, `<!doctype html><meta http-equiv="refresh" content="2"><title>Issuer Console: preparing</title><p>Preparing the sandbox data set… this page reloads by itself.</p>`)
}

// Close stops background work and releases the databases.
func (a *App) Close() error {
	if a.stop != nil {
		a.stop()
		a.stop = nil
		if a.ready != nil {
			<-a.ready // start-up work stops with the cancelled context
		}
		if a.Importer != nil {
			a.Importer.Wait()
		}
		if a.exports != nil {
			a.exports.Wait()
		}
		if a.counts != nil {
			a.counts.Close() // their calls write audit rows
		}
		if a.offerings != nil {
			a.offerings.Close() // so do the offering pages' shared loads
		}
		a.anchorWG.Wait()
		// The last rows of the session are anchored before the database closes.
		if err := a.Anchor.Checkpoint(context.Background()); err != nil {
			a.log.Error("audit checkpoint at shutdown failed", "err", err)
		}
	}
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// Serve answers on ln until ctx is cancelled, then stops accepting, lets
// running requests finish (up to 15 s) and returns.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       5 * time.Minute, // uploads of signed documents
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if a.cfg.TLSCert != "" {
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	go a.purgeSessions(ctx)
	go flushSignIns(ctx, a.SignIns, a.log)

	errc := make(chan error, 1)
	go func() {
		if a.cfg.TLSCert != "" {
			errc <- srv.ServeTLS(ln, a.cfg.TLSCert, a.cfg.TLSKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-a.failed: // nil (never) unless start-up work in the background failed
		srv.Close()
		<-errc
		<-a.ready // closed just after failed: /healthz then says the start failed, not "preparing"
		return fmt.Errorf("start-up: %w", a.readyErr)
	case <-ctx.Done():
	}
	a.log.Info("shutting down: finishing running requests")
	if busy, _ := a.starting(); !busy && a.Sandbox != nil {
		a.Sandbox.ReleaseHangs()
	}
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// flushSignIns writes the summaries of failed sign-ins once their window
// has closed, even when no further sign-in comes to trigger it.
func flushSignIns(ctx context.Context, l *audit.SignIns, log *slog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.Flush(ctx, false); err != nil {
				log.Warn("summarising failed sign-ins failed", "err", err)
			}
		}
	}
}

func (a *App) purgeSessions(ctx context.Context) {
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := a.Accounts.PurgeExpiredSessions(ctx); err != nil {
				a.log.Warn("purging expired sessions failed", "err", err)
			} else if n > 0 {
				a.log.Debug("purged expired sessions", "count", n)
			}
		}
	}
}

// offeringService is the offering pages' reader with its shared cache (nil
// without Issuance).
func offeringService(c *issuance.Client, opts Options) *offerings.Service {
	if opts.OfferingCache != nil {
		return offerings.NewWithOptions(c, opts.Now, *opts.OfferingCache)
	}
	return offerings.New(c, opts.Now)
}
