// Package routes names the console's routes. A Route is the Echo path
// pattern the server registers, and Path fills its parameters, so a link in a
// view or a redirect in a handler cannot drift from the route table.
package routes

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// Route is an Echo path pattern such as "/imports/:id/mapping".
type Route string

// Path fills the pattern's :parameters in order with args (integers or
// strings, path-escaped). It panics on a wrong number of arguments: that is
// a programming error, caught by the first test that renders the link.
func (r Route) Path(args ...any) string {
	segs := strings.Split(string(r), "/")
	n := 0
	for i, s := range segs {
		if !strings.HasPrefix(s, ":") {
			continue
		}
		if n >= len(args) {
			panic(fmt.Sprintf("routes: %s needs more than %d arguments", r, len(args)))
		}
		segs[i] = arg(args[n])
		n++
	}
	if n != len(args) {
		panic(fmt.Sprintf("routes: %s takes %d arguments, got %d", r, n, len(args)))
	}
	return strings.Join(segs, "/")
}

func arg(a any) string {
	switch v := a.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	case int32:
		return strconv.FormatInt(int64(v), 10)
	case uint64:
		return strconv.FormatUint(v, 10)
	case string:
		return url.PathEscape(v)
	default:
		panic(fmt.Sprintf("routes: unsupported argument %T", a))
	}
}

// The import wizard, its steps and its actions.
const (
	Imports          Route = "/imports"
	ImportTemplate   Route = "/imports/template.csv"
	ImportJob        Route = "/imports/:id"
	ImportSource     Route = "/imports/:id/source"
	ImportMapping    Route = "/imports/:id/mapping"
	ImportMappingCSV Route = "/imports/:id/mapping/csv"
	ImportInvestor   Route = "/imports/:id/mapping/create"
	ImportDocuments  Route = "/imports/:id/documents"
	ImportDocMeta    Route = "/imports/:id/documents/meta"
	ImportDocDelete  Route = "/imports/:id/documents/:doc/delete"
	ImportReview     Route = "/imports/:id/review"
	ImportRow        Route = "/imports/:id/rows/:row"
	ImportRowSkip    Route = "/imports/:id/rows/:row/skip"
	ImportConfirm    Route = "/imports/:id/confirm"
	ImportWallets    Route = "/imports/:id/confirm/wallets"
	ImportIdentify   Route = "/imports/:id/confirm/identification"
	ImportStart      Route = "/imports/:id/start"
	ImportRun        Route = "/imports/:id/run"
	ImportResult     Route = "/imports/:id/result"
	ImportProgress   Route = "/imports/:id/progress"
	ImportReport     Route = "/imports/:id/report.csv"
	ImportPause      Route = "/imports/:id/pause"
	ImportResume     Route = "/imports/:id/resume"
	ImportCancel     Route = "/imports/:id/cancel"
	ImportRerun      Route = "/imports/:id/rerun"
	ImportRemap      Route = "/imports/:id/remap"

	// Review and mapping at scale: bulk actions on a filtered set, the
	// review's counts (refreshed after a row swap), one investor mapped or
	// created in place, many PDFs matched before they are stored.
	ImportReviewBulk     Route = "/imports/:id/review/bulk"
	ImportReviewCounts   Route = "/imports/:id/review/counts"
	ImportMappingCounts  Route = "/imports/:id/mapping/counts"
	ImportMatch          Route = "/imports/:id/mapping/match"
	ImportMapInvestor    Route = "/imports/:id/mapping/investors/:inv"
	ImportCreateAll      Route = "/imports/:id/mapping/create-all"
	ImportDocBatch       Route = "/imports/:id/documents/batch"
	ImportDocBatchStore  Route = "/imports/:id/documents/batch/store"
	ImportDocBatchCancel Route = "/imports/:id/documents/batch/discard"
)

// importSteps maps a wizard step's key to its page.
var importSteps = map[string]Route{
	"source": ImportSource, "mapping": ImportMapping, "documents": ImportDocuments,
	"review": ImportReview, "confirm": ImportConfirm, "run": ImportRun, "result": ImportResult,
}

// ImportStep is the page of one wizard step ("source" … "result").
func ImportStep(id int64, step string) string {
	r, ok := importSteps[step]
	if !ok {
		panic("routes: unknown import step " + step)
	}
	return r.Path(id)
}

// Redemptions and the reconciliation of imported investments.
const (
	Redemptions     Route = "/imports/redeem"
	RedemptionCheck Route = "/imports/redeem/:id/check"
	Reconcile       Route = "/imports/reconcile"
	// RedemptionInvestors is the investor search's list of matches (the
	// fragment htmx asks for while typing).
	RedemptionInvestors Route = "/imports/redeem/investors"
)

// All lists every named route, so a test can check each one is served.
var All = []Route{
	Imports, ImportTemplate, ImportJob, ImportSource, ImportMapping, ImportMappingCSV, ImportInvestor,
	ImportDocuments, ImportDocMeta, ImportDocDelete, ImportReview, ImportRow, ImportRowSkip, ImportStart,
	ImportRun, ImportResult, ImportProgress, ImportReport, ImportPause, ImportResume, ImportCancel, ImportRerun,
	Redemptions, RedemptionCheck, Reconcile, RedemptionInvestors,
	ImportConfirm, ImportWallets, ImportIdentify, ImportRemap,
	ImportReviewBulk, ImportReviewCounts, ImportMappingCounts, ImportMatch, ImportMapInvestor, ImportCreateAll,
	ImportDocBatch, ImportDocBatchStore, ImportDocBatchCancel,
	Home, Setup, Login, Login2FA, Logout, Account, AccountPassword, Account2FA, Account2FAConfirm,
	Account2FARemove, Users, UserRole, UserDisabled, UserPassword, Offerings, Offering, OfferingMoney, OfferingRefresh,
	Investments, Investment, InvestmentColumns, InvestmentExport, InvestmentExportJob, InvestmentExportDownload,
	SavedSearches, SavedSearchDelete, StatusCounts, Investors, Investor, IssuanceUsers, IssuanceUser,
	Audit, AuditEntry, AuditExportCSV, AuditExportNDJSON, AuditVerify, Settings, SettingsCatalog, SettingsTest,
}

// The rest of the console: sign-in and accounts, the Issuance screens, the
// audit log and settings. Machine routes (/healthz, /static/*, the
// sandbox emulators) keep their literal paths in the route table.
const (
	Home              Route = "/"
	Setup             Route = "/setup"
	Login             Route = "/login"
	Login2FA          Route = "/login/2fa"
	Logout            Route = "/logout"
	Account           Route = "/account"
	AccountPassword   Route = "/account/password"
	Account2FA        Route = "/account/2fa"
	Account2FAConfirm Route = "/account/2fa/confirm"
	Account2FARemove  Route = "/account/2fa/remove"
	Users             Route = "/users"
	UserRole          Route = "/users/:id/role"
	UserDisabled      Route = "/users/:id/disabled"
	UserPassword      Route = "/users/:id/password"

	Offerings       Route = "/offerings"
	Offering        Route = "/offerings/:id"
	OfferingMoney   Route = "/offerings/:id/money"
	OfferingRefresh Route = "/offerings/:id/refresh"

	Investments              Route = "/investments"
	Investment               Route = "/investments/:id"
	InvestmentColumns        Route = "/investments/columns"
	InvestmentExport         Route = "/investments/export"
	InvestmentExportJob      Route = "/investments/exports/:job"
	InvestmentExportDownload Route = "/investments/exports/:job/download"
	SavedSearches            Route = "/investments/saved"
	SavedSearchDelete        Route = "/investments/saved/:id/delete"
	StatusCounts             Route = "/investments/status-counts"
	Investors                Route = "/investors"
	Investor                 Route = "/investors/:id"
	IssuanceUsers            Route = "/issuance-users"
	IssuanceUser             Route = "/issuance-users/:id"

	Audit             Route = "/audit"
	AuditEntry        Route = "/audit/:id"
	AuditExportCSV    Route = "/audit/export.csv"
	AuditExportNDJSON Route = "/audit/export.ndjson"
	AuditVerify       Route = "/audit/verify"

	Settings        Route = "/settings"
	SettingsCatalog Route = "/settings/catalog"
	SettingsTest    Route = "/settings/test/:api"
)
