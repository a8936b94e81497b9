// Package handlers is the console's HTTP layer: routes, middleware, and thin
// handlers that call services and render views. Every route and the role it
// needs is listed in routes(); nothing registers routes anywhere else.
package handlers

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/csrf"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"issuerconsole/routes"
	"issuerconsole/services/accounts"
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

// Deps are the handlers' dependencies, built by package app.
type Deps struct {
	DB            *sql.DB // for the health check only
	Accounts      *accounts.Service
	Throttle      *accounts.Throttle
	Setup         *SetupToken // nil once a user exists at start
	Assets        *static.Assets
	Mode          string // "sandbox" or "live"
	SessionKeys   [2][]byte
	CSRFKey       []byte
	SecureCookies bool
	TLS           bool
	Require2FA    bool // admins must enrol a second factor before using the console
	Logger        *slog.Logger
	// Sandbox serves /sandbox/... in sandbox mode (nil otherwise). It does its
	// own authentication, as the real APIs do.
	Sandbox http.Handler
	// Starting reports start-up work still running after the listener
	// opened (the sandbox's data set, the first admin), and its error once
	// it failed; nil when there is none. See healthz.
	Starting func() (bool, error)

	Audit       *audit.Store
	Anchor      *audit.Anchor    // signed checkpoints of the audit chain
	SignIns     *audit.SignIns   // failed and throttled sign-ins, folded per window
	Issuance    *issuance.Client // nil when not configured
	Cashlink    *cashlink.Client // nil when not configured
	Connections []views.Connection
	Searches    *searches.Store
	Exports     *export.Manager // nil without Issuance
	Imports     ImportDeps
	// Offerings reads offerings, their money and summaries, kept briefly
	// and shared (nil without Issuance).
	Offerings *offerings.Service
	Now       func() time.Time // nil = time.Now
	// StatusCounts is the search page's status counts cache, whose loads
	// the App cancels and awaits on Close (nil: made on first use).
	StatusCounts *issuance.StatusCounts
}

// Server holds the wired Echo instance.
type Server struct {
	Deps
	echo     *echo.Echo
	sessions *sessions.CookieStore
	devices  *securecookie.SecureCookie // device cookies (device.go)
	csrf     http.Handler
	routes   []route

	// lastVerify is the audit chain's latest verification since start,
	// for the home page.
	lastVerify struct {
		sync.Mutex
		at     time.Time
		result audit.VerifyResult
	}

	// offeringCache: the options and names built from Offerings.All's
	// list, read at at (investments.go).
	offeringCache struct {
		sync.Mutex
		opts  []views.Option
		names map[int64]string
		at    time.Time
	}
}

// access is who may use a route.
type access int

const (
	public    access = iota // anyone, no session needed (sign-in, health, sandbox APIs)
	signedIn                // any signed-in user: admin or auditor
	adminOnly               // admins only
)

func (a access) String() string {
	return [...]string{"public", "signed-in", "admin"}[a]
}

type route struct {
	method, path string
	access       access
	handler      echo.HandlerFunc
}

const sessionCookie = "ic_session"

// New wires the Echo instance with every route and middleware.
func New(d Deps) (*Server, error) {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Offerings == nil && d.Issuance != nil {
		d.Offerings = offerings.New(d.Issuance, d.Now)
	}
	if d.StatusCounts == nil && d.Issuance != nil {
		// Without the App's (whose loads it stops and awaits on Close): one
		// that lives as long as the process.
		d.StatusCounts = issuance.NewStatusCounts(context.Background(), d.Issuance, StatusCountsTTL, nil)
	}
	s := &Server{Deps: d, echo: echo.New()}
	e := s.echo
	e.HideBanner, e.HidePort = true, true
	// The console runs on the admin's own machine, usually without a proxy:
	// take the peer address as is and never trust X-Forwarded-For, which any
	// client could set to dodge the sign-in throttle.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = s.handleError

	store := sessions.NewCookieStore(d.SessionKeys[0], d.SessionKeys[1])
	lifetime := int(d.Accounts.SessionLifetime() / time.Second)
	store.Options = &sessions.Options{
		Path: "/", MaxAge: lifetime, HttpOnly: true, Secure: d.SecureCookies || d.TLS, SameSite: http.SameSiteLaxMode,
	}
	store.MaxAge(lifetime)
	s.sessions = store
	s.devices = securecookie.New(d.SessionKeys[0], d.SessionKeys[1]).MaxAge(int(deviceLifetime / time.Second))
	s.csrf = s.newCSRF()

	e.Use(middleware.RequestID())
	e.Use(s.recoverPanics)
	e.Use(s.logRequests)
	e.Use(s.securityHeaders)

	s.routes = s.routeTable()
	appMW := []echo.MiddlewareFunc{limitForm, s.loadSession, s.checkCSRF, s.auditActor}
	app := e.Group("", appMW...)
	for _, r := range s.routes {
		var role []echo.MiddlewareFunc
		switch r.access {
		case public:
			if r.path == "/healthz" || r.path == "/static/*" || r.path == "/favicon.ico" || isSandboxPath(r.path) {
				e.Add(r.method, r.path, r.handler) // no session, no CSRF: machine clients
				continue
			}
		case signedIn:
			role = append(role, s.requireRole(accounts.RoleAdmin, accounts.RoleAuditor))
		case adminOnly:
			role = append(role, s.requireRole(accounts.RoleAdmin))
		}
		if limit, ok := uploadLimits[r.method+" "+r.path]; ok {
			// The cap comes first, then the role: nobody signed out or
			// without the role makes the server parse a body (the CSRF
			// check parses a multipart body whole, up to 32 MB in memory
			// and the rest on disk, and a batch of PDFs may be 257 MB).
			// The form is read before the CSRF check, so a body Go cannot
			// parse (a NUL in a file name) is a 400 that says so, not a
			// missing token ("Form expired").
			mw := append([]echo.MiddlewareFunc{middleware.BodyLimit(strconv.FormatInt(limit, 10)), s.loadSession}, role...)
			e.Add(r.method, r.path, r.handler, append(mw, s.readUpload, s.checkCSRF, s.auditActor)...)
			continue
		}
		app.Add(r.method, r.path, r.handler, role...)
	}
	return s, nil
}

// Handler returns the http.Handler serving everything.
func (s *Server) Handler() http.Handler { return s.echo }

func isSandboxPath(p string) bool { return len(p) >= 9 && p[:9] == "/sandbox/" }

// uploadSlack is what a multipart form may add to its file (boundaries,
// part headers, the other fields): a file just over its cap still reaches
// the handler, which names the file and the cap.
const uploadSlack = 1 << 20

// uploadLimits caps the bodies of the upload routes (method and path as in
// the route table) before any middleware reads them.
var uploadLimits = map[string]int64{
	"POST " + string(routes.ImportSource):     importer.MaxCSVSize + uploadSlack,
	"POST " + string(routes.ImportMappingCSV): maxMappingCSVSize + uploadSlack,
	"POST " + string(routes.ImportDocuments):  MaxDocumentSize + uploadSlack,
	"POST " + string(routes.ImportDocBatch):   MaxDocumentBatch + uploadSlack,
}

// routeTable lists every route with the role it needs. The route-walk test
// checks that Echo serves exactly these and that each enforces its access.
func (s *Server) routeTable() []route {
	rs := []route{
		{http.MethodGet, "/healthz", public, s.healthz},
		{http.MethodGet, "/static/*", public, echo.WrapHandler(s.Assets)},
		{http.MethodGet, "/favicon.ico", public, s.favicon},
		{http.MethodHead, "/static/*", public, echo.WrapHandler(s.Assets)},

		{http.MethodGet, string(routes.Login), public, s.loginForm},
		{http.MethodPost, string(routes.Login), public, s.login},
		{http.MethodPost, string(routes.Logout), public, s.logout},
		{http.MethodGet, string(routes.Login2FA), public, s.loginCodeForm},
		{http.MethodPost, string(routes.Login2FA), public, s.loginCode},
		{http.MethodGet, string(routes.Setup), public, s.setupForm},
		{http.MethodPost, string(routes.Setup), public, s.setup},

		{http.MethodGet, string(routes.Home), signedIn, s.home},
		{http.MethodGet, string(routes.Account), signedIn, s.account},
		{http.MethodPost, string(routes.AccountPassword), signedIn, s.changePassword},
		{http.MethodPost, string(routes.Account2FA), signedIn, s.startTOTP},
		{http.MethodPost, string(routes.Account2FAConfirm), signedIn, s.confirmTOTP},
		{http.MethodPost, string(routes.Account2FARemove), signedIn, s.removeTOTP},
		{http.MethodGet, string(routes.Offerings), signedIn, s.offeringsList},
		{http.MethodGet, string(routes.Offering), signedIn, s.offeringDetail},
		{http.MethodGet, string(routes.OfferingMoney), signedIn, s.offeringMoney},
		{http.MethodPost, string(routes.OfferingRefresh), signedIn, s.refreshOffering},
		{http.MethodGet, string(routes.Investments), signedIn, s.investmentsSearch},
		{http.MethodGet, string(routes.StatusCounts), signedIn, s.investmentStatusCounts},
		{http.MethodGet, string(routes.Investment), signedIn, s.investmentDetail},
		{http.MethodPost, string(routes.InvestmentColumns), signedIn, s.setColumns},
		{http.MethodPost, string(routes.SavedSearches), signedIn, s.saveSearch},
		{http.MethodPost, string(routes.SavedSearchDelete), signedIn, s.deleteSearch},
		{http.MethodPost, string(routes.InvestmentExport), signedIn, s.startExport},
		{http.MethodGet, string(routes.InvestmentExportJob), signedIn, s.exportStatus},
		{http.MethodGet, string(routes.InvestmentExportDownload), signedIn, s.exportDownload},
		{http.MethodGet, string(routes.Imports), signedIn, s.importsList},
		{http.MethodPost, string(routes.Imports), adminOnly, s.createImport},
		{http.MethodGet, string(routes.ImportTemplate), signedIn, s.importTemplate},
		{http.MethodGet, string(routes.Reconcile), signedIn, s.reconcile},
		{http.MethodGet, string(routes.Redemptions), signedIn, s.redeemPage},
		{http.MethodPost, string(routes.Redemptions), adminOnly, s.redeem},
		{http.MethodPost, string(routes.RedemptionCheck), adminOnly, s.recheckRedemption},
		{http.MethodGet, string(routes.RedemptionInvestors), adminOnly, s.redeemInvestors},
		{http.MethodGet, string(routes.ImportJob), signedIn, s.importJob},
		{http.MethodGet, string(routes.ImportSource), signedIn, s.importSource},
		{http.MethodPost, string(routes.ImportSource), adminOnly, s.setImportSource},
		{http.MethodGet, string(routes.ImportMapping), signedIn, s.importMapping},
		{http.MethodPost, string(routes.ImportMapping), adminOnly, s.setImportMapping},
		{http.MethodPost, string(routes.ImportMappingCSV), adminOnly, s.uploadMappings},
		{http.MethodPost, string(routes.ImportInvestor), adminOnly, s.createCashlinkInvestor},
		{http.MethodGet, string(routes.ImportDocuments), signedIn, s.importDocuments},
		{http.MethodPost, string(routes.ImportDocuments), adminOnly, s.uploadDocument},
		{http.MethodPost, string(routes.ImportDocMeta), adminOnly, s.setDocumentMeta},
		{http.MethodPost, string(routes.ImportDocDelete), adminOnly, s.deleteDocument},
		{http.MethodGet, string(routes.ImportReview), signedIn, s.importReview},
		{http.MethodPost, string(routes.ImportRow), adminOnly, s.editImportRow},
		{http.MethodPost, string(routes.ImportRowSkip), adminOnly, s.skipImportRow},
		{http.MethodGet, string(routes.ImportConfirm), signedIn, s.importConfirm},
		{http.MethodPost, string(routes.ImportWallets), adminOnly, s.createWallets},
		{http.MethodPost, string(routes.ImportIdentify), adminOnly, s.identifyInvestor},
		{http.MethodPost, string(routes.ImportStart), adminOnly, s.startImport},
		{http.MethodGet, string(routes.ImportRun), signedIn, s.importRun(false)},
		{http.MethodGet, string(routes.ImportResult), signedIn, s.importRun(true)},
		{http.MethodGet, string(routes.ImportProgress), signedIn, s.importProgress},
		{http.MethodGet, string(routes.ImportReport), signedIn, s.importReport},
		{http.MethodPost, string(routes.ImportPause), adminOnly, s.importAction(importer.ActPause)},
		{http.MethodPost, string(routes.ImportResume), adminOnly, s.importAction(importer.ActResume)},
		{http.MethodGet, string(routes.ImportCancel), adminOnly, s.confirmCancel},
		{http.MethodPost, string(routes.ImportCancel), adminOnly, s.importAction(importer.ActCancel)},
		{http.MethodPost, string(routes.ImportRerun), adminOnly, s.importAction(importer.ActRerun)},
		{http.MethodGet, string(routes.ImportRemap), adminOnly, s.importRemap},
		{http.MethodPost, string(routes.ImportRemap), adminOnly, s.remapImport},
		{http.MethodPost, string(routes.ImportReviewBulk), adminOnly, s.reviewBulk},
		{http.MethodGet, string(routes.ImportReviewCounts), signedIn, s.reviewCounts},
		{http.MethodGet, string(routes.ImportMappingCounts), signedIn, s.mappingCounts},
		{http.MethodPost, string(routes.ImportMatch), adminOnly, s.matchByEmail},
		{http.MethodPost, string(routes.ImportMapInvestor), adminOnly, s.mapInvestor},
		{http.MethodPost, string(routes.ImportCreateAll), adminOnly, s.createAllInvestors},
		{http.MethodPost, string(routes.ImportDocBatch), adminOnly, s.previewDocuments},
		{http.MethodPost, string(routes.ImportDocBatchStore), adminOnly, s.storeDocuments},
		{http.MethodPost, string(routes.ImportDocBatchCancel), adminOnly, s.discardDocuments},
		{http.MethodGet, string(routes.Audit), signedIn, s.auditList},
		{http.MethodGet, string(routes.AuditExportCSV), signedIn, s.auditExport("csv")},
		{http.MethodGet, string(routes.AuditExportNDJSON), signedIn, s.auditExport("ndjson")},
		{http.MethodGet, string(routes.AuditEntry), signedIn, s.auditEntry},
		{http.MethodPost, string(routes.AuditVerify), signedIn, s.auditVerify},

		{http.MethodGet, string(routes.Investors), adminOnly, s.investorsList},
		{http.MethodGet, string(routes.Investor), adminOnly, s.investorDetail},
		{http.MethodGet, string(routes.IssuanceUsers), adminOnly, s.issuanceUsers},
		{http.MethodPost, string(routes.IssuanceUsers), adminOnly, s.createIssuanceUser},
		{http.MethodPost, string(routes.IssuanceUser), adminOnly, s.updateIssuanceUser},

		{http.MethodGet, string(routes.Users), adminOnly, s.listUsers},
		{http.MethodPost, string(routes.Users), adminOnly, s.createUser},
		{http.MethodPost, string(routes.UserRole), adminOnly, s.setUserRole},
		{http.MethodPost, string(routes.UserDisabled), adminOnly, s.setUserDisabled},
		{http.MethodPost, string(routes.UserPassword), adminOnly, s.resetPassword},
		{http.MethodGet, string(routes.Settings), adminOnly, s.settings},
		{http.MethodPost, string(routes.SettingsTest), adminOnly, s.testConnection},
		{http.MethodGet, string(routes.SettingsCatalog), adminOnly, s.catalog},
		{http.MethodPost, string(routes.SettingsCatalog), adminOnly, s.saveCatalog},
	}
	if s.Sandbox != nil {
		h := echo.WrapHandler(s.Sandbox)
		for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			rs = append(rs, route{m, "/sandbox/*", public, h})
		}
	}
	return rs
}

// favicon answers browsers that ask for /favicon.ico whatever the page
// says (the layout links the hashed asset too).
func (s *Server) favicon(c echo.Context) error {
	r := c.Request().Clone(c.Request().Context())
	r.URL.Path, r.URL.RawQuery = "/static/img/favicon.ico", ""
	s.Assets.ServeHTTP(c.Response(), r)
	return nil
}

func (s *Server) healthz(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	c.Response().Header().Set("Cache-Control", "no-store")
	var one int
	if err := s.DB.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		s.Logger.Error("health check: database unusable", "err", err)
		return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "mode": s.Mode, "error": "database unusable"})
	}
	// While the sandbox's data set is generated the console is up (pages
	// wait for it): 200 with "state": "preparing"; if that work failed the
	// process is stopping: 503.
	if s.Starting != nil {
		busy, err := s.Starting()
		if err != nil {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "mode": s.Mode, "error": "start-up failed"})
		}
		if busy {
			return c.JSON(http.StatusOK, map[string]string{"status": "ok", "mode": s.Mode, "state": "preparing"})
		}
	}
	return c.JSON(http.StatusOK, map[string]string{"status": "ok", "mode": s.Mode})
}

// newCSRF builds gorilla/csrf once. Its inner handler continues the Echo
// chain carried in the request context; its error handler records the
// failure there, so the Echo error handler renders the 403 like any other.
func (s *Server) newCSRF() http.Handler {
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := r.Context().Value(csrfStateKey{}).(*csrfState)
		st.c.SetRequest(r)
		st.err = st.next(st.c)
	})
	failed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := r.Context().Value(csrfStateKey{}).(*csrfState)
		st.failure = csrf.FailureReason(r)
		if st.failure == nil {
			st.failure = fmt.Errorf("csrf check failed")
		}
	})
	return csrf.Protect(s.CSRFKey,
		csrf.CookieName("ic_csrf"),
		csrf.FieldName("_csrf"),
		csrf.RequestHeader("X-CSRF-Token"),
		csrf.Path("/"),
		csrf.HttpOnly(true),
		csrf.Secure(s.SecureCookies || s.TLS),
		csrf.SameSite(csrf.SameSiteLaxMode),
		csrf.MaxAge(int(s.Accounts.SessionLifetime()/time.Second)),
		csrf.ErrorHandler(failed),
	)(inner)
}

type csrfStateKey struct{}

type csrfState struct {
	c       echo.Context
	next    echo.HandlerFunc
	err     error
	failure error
}

// RouteInfo describes one route for tests and docs.
type RouteInfo struct {
	Method, Path string
	Access       string // public, signed-in, admin
}

// Routes lists the route table with each route's access rule.
func (s *Server) Routes() []RouteInfo {
	out := make([]RouteInfo, len(s.routes))
	for i, r := range s.routes {
		out[i] = RouteInfo{r.method, r.path, r.access.String()}
	}
	return out
}

// Registered lists what Echo actually serves (method and path), so a test
// can prove that no route bypasses the table.
func (s *Server) Registered() []RouteInfo {
	var out []RouteInfo
	for _, r := range s.echo.Routes() {
		out = append(out, RouteInfo{Method: r.Method, Path: r.Path})
	}
	return out
}
