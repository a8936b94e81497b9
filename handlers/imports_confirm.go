// The confirm step of the import wizard: the pre-flight, readying
// investors for their credit, and the typed confirmation.

package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"issuerconsole/routes"
	"issuerconsole/services/importer"
	"issuerconsole/services/personal"
	"issuerconsole/views"
)

var investorCheckWords = map[string]views.Badge{
	importer.InvestorReady:     {Label: "ready", Meaning: views.MeaningOK},
	importer.InvestorNoWallet:  {Label: "no wallet", Meaning: views.MeaningBad},
	importer.InvestorNotKYC:    {Label: "not identified", Meaning: views.MeaningBad},
	importer.InvestorKYCFailed: {Label: "identification insufficient", Meaning: views.MeaningBad},
	importer.InvestorUnknown:   {Label: "unknown to Cashlink", Meaning: views.MeaningBad},
	importer.InvestorUnread:    {Label: "could not be read", Meaning: views.MeaningWarn},
}

// confirmView runs the pre-flight (in services/importer) and shapes it.
func (s *Server) confirmView(c echo.Context, j importer.Job) (views.ConfirmView, error) {
	h, err := s.jobHeader(c, j, "confirm")
	if err != nil {
		return views.ConfirmView{}, err
	}
	p, err := s.wizard().RunPreflight(c.Request().Context(), s.Cashlink, j.ID)
	if err != nil {
		return views.ConfirmView{}, err
	}
	return preflightView(h, p, viewer(c)), nil
}

// preflightView shows the pre-flight; investors' names follow the
// personal-data rule (masked for auditors).
func preflightView(h views.JobHeader, p importer.Preflight, pv personal.Viewer) views.ConfirmView {
	v := views.ConfirmView{H: h, ReviewProblems: len(p.Review.Problems), Blockers: append(append([]string{}, p.Review.JobProblems...), p.Blockers...),
		RowLimits: p.RowLimits, Mismatch: p.Mismatch, Mismatched: p.Mismatched, NotChecked: p.NotChecked, OK: p.OK(), Ready: p.Ready,
		Phrase: importer.ConfirmPhrase(p.Ready), Fingerprint: p.Fingerprint, Blocked: p.Blocked(), WithoutWallet: len(p.WithoutWallet()),
		DocumentTypes: importer.IdentificationDocumentTypes}
	for _, ic := range p.Investors {
		b := investorCheckWords[ic.Problem]
		b.Code = ic.Problem
		v.Investors = append(v.Investors, views.ConfirmInvestor{ID: ic.ID, Name: pv.Value(ic.Name), Rows: ic.Rows, Units: ic.Units, Wallets: ic.Wallets,
			KYC: ic.KYC, Status: b, Detail: ic.Detail, CanWallet: ic.Problem == importer.InvestorNoWallet,
			CanIdentify: ic.Problem == importer.InvestorNotKYC})
	}
	for _, t := range p.Totals {
		ct := views.ConfirmTotal{Campaign: t.CampaignName, Investments: t.Investments, Units: t.Units, Price: views.Dash, Amount: views.Dash,
			Paid: views.MoneyRat(t.IssuanceAmount, importer.IssuanceCurrency)}
		if t.Amount != nil {
			ct.Price, ct.Amount = views.Money(t.Price, t.Currency), views.MoneyRat(t.Amount, t.Currency)
		}
		v.Totals = append(v.Totals, ct)
	}
	if d := p.Currency; d != nil {
		v.Currency = &views.ConfirmCurrency{Code: d.Code(), From: d.From, To: d.To, Paid: views.MoneyRat(d.Paid, d.From),
			Asked: views.MoneyRat(d.Asked, d.To), Rate: fmt.Sprintf("%s %s per 1 %s", d.Rate.FloatString(2), d.To, d.From)}
	}
	return v
}

func (s *Server) importConfirm(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	if j.State != importer.JobDraft {
		return c.Redirect(http.StatusSeeOther, routes.ImportRun.Path(j.ID))
	}
	// The stepper marks how far an admin got (an auditor looking moves nothing).
	if u, _ := currentUser(c); u.IsAdmin() {
		if err := s.Imports.Store.Advance(c.Request().Context(), j.ID, "confirm"); err != nil {
			return err
		}
	}
	v, err := s.confirmView(c, j)
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.ConfirmStep(v)})
}

// startImport hands the typed confirmation to the wizard, which runs the
// pre-flight again and refuses, keeping what was typed, if anything changed.
func (s *Server) startImport(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	in := importer.Confirmation{Phrase: c.FormValue("confirm"), Fingerprint: c.FormValue("preflight"), Currency: c.FormValue("currency")}
	p, err := s.wizard().Confirm(c.Request().Context(), s.Cashlink, j.ID, actor(c), in)
	var invalid *importer.InvalidError
	if errors.As(err, &invalid) {
		h, herr := s.jobHeader(c, j, "confirm")
		if herr != nil {
			return herr
		}
		v := preflightView(h, p, viewer(c))
		v.Error, v.Typed = invalid.Error(), in.Phrase
		if v.Currency != nil {
			v.Currency.Checked = in.Currency == v.Currency.Code
		}
		return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.ConfirmStep(v)})
	}
	if err != nil {
		return err
	}
	return redirect(c, routes.ImportRun.Path(j.ID))
}

// createWallets creates a managed wallet for each chosen investor, or a
// generic one with the typed address.
func (s *Server) createWallets(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return err
	}
	address := ""
	if c.FormValue("kind") == "generic" {
		address = strings.TrimSpace(c.FormValue("address"))
	}
	res, err := s.wizard().CreateWallets(c.Request().Context(), s.Cashlink, j.ID, form["investor"], address)
	var invalid *importer.InvalidError
	if errors.As(err, &invalid) {
		return s.confirmAgain(c, j, invalid.Error(), views.IdentificationForm{})
	}
	if err != nil {
		return err
	}
	var ok int
	var failed []string
	for _, r := range res {
		if r.Err != nil {
			failed = append(failed, r.Investor+": "+r.Err.Error())
			continue
		}
		ok++
	}
	if len(failed) > 0 {
		return s.confirmAgain(c, j, fmt.Sprintf("%s created; %d refused: %s", views.Plural(int64(ok), "wallet"), len(failed), strings.Join(failed, "; ")), views.IdentificationForm{})
	}
	return s.confirmDone(c, j, views.Plural(int64(ok), "wallet")+" created in Cashlink.")
}

// identifyInvestor posts an identification; a refusal keeps the form.
func (s *Server) identifyInvestor(c echo.Context) error {
	j, err := s.loadJob(c)
	if err != nil {
		return err
	}
	f := func(k string) string { return strings.TrimSpace(c.FormValue(k)) }
	form := views.IdentificationForm{Investor: f("investor"), DocumentType: f("document_type"), DocumentID: f("document_id"),
		DocumentIssuer: f("document_issuer"), ValidFrom: f("valid_from"), ValidTo: f("valid_to"), Provider: f("provider"),
		ProcessID: f("process_id"), VerifiedAt: f("verified_at")}
	in := importer.IdentificationInput{DocumentType: form.DocumentType, DocumentID: form.DocumentID, DocumentIssuer: form.DocumentIssuer,
		ValidFrom: form.ValidFrom, ValidTo: form.ValidTo, Provider: form.Provider, ProcessID: form.ProcessID, VerifiedAt: form.VerifiedAt}
	_, err = s.wizard().CreateIdentification(c.Request().Context(), s.Cashlink, j.ID, form.Investor, in)
	var invalid *importer.InvalidError
	var up *importer.UpstreamError
	switch {
	case errors.As(err, &invalid):
		form.Errors = invalid.Fields
		return s.confirmAgain(c, j, "The identification was not sent: "+invalid.Error(), form)
	case errors.As(err, &up):
		return s.confirmAgain(c, j, "Cashlink refused the identification: "+up.Message, form)
	case err != nil:
		return err
	}
	return s.confirmDone(c, j, "Identification recorded in Cashlink for "+form.Investor+".")
}

// confirmDone shows the pre-flight, run again, with what was done (a job
// that has started: its remap page, where failed rows are fixed).
func (s *Server) confirmDone(c echo.Context, j importer.Job, msg string) error {
	if j.State != importer.JobDraft {
		v, err := s.remapView(c, j, nil, nil)
		if err != nil {
			return err
		}
		v.Msg = msg + " Re-run the failed rows to credit them."
		return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.RemapStep(v)})
	}
	v, err := s.confirmView(c, j)
	if err != nil {
		return err
	}
	v.Msg = msg
	return s.render(c, http.StatusOK, view{Title: j.Name, Nav: "imports", Content: views.ConfirmStep(v)})
}

// confirmAgain shows the pre-flight with a message and the kept form (422;
// a job that has started: its remap page).
func (s *Server) confirmAgain(c echo.Context, j importer.Job, msg string, form views.IdentificationForm) error {
	if j.State != importer.JobDraft {
		v, err := s.remapView(c, j, nil, nil)
		if err != nil {
			return err
		}
		v.Error = msg
		return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.RemapStep(v)})
	}
	v, err := s.confirmView(c, j)
	if err != nil {
		return err
	}
	v.Error, v.Ident = msg, form
	for i := range v.Investors {
		v.Investors[i].IdentifyOpened = v.Investors[i].ID == form.Investor
	}
	return s.render(c, http.StatusUnprocessableEntity, view{Title: j.Name, Nav: "imports", Content: views.ConfirmStep(v)})
}
