package handlers

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/labstack/echo/v4"

	"issuerconsole/routes"
	"issuerconsole/services/audit"
	"issuerconsole/services/importer"
	"issuerconsole/services/issuance"
	"issuerconsole/static"
	"issuerconsole/views"
)

func (s *Server) home(c echo.Context) error {
	n, err := s.Accounts.Count(c.Request().Context())
	if err != nil {
		return err
	}
	h := views.Home{
		Mode:            s.Mode,
		Users:           n,
		SessionIdle:     views.FormatDuration(s.Accounts.SessionIdle()),
		SessionLifetime: views.FormatDuration(s.Accounts.SessionLifetime()),
		HTMXVersion:     static.HTMXVersion,
	}
	s.dashboard(c, &h)
	p := s.page(c, "Start", "")
	return s.render(c, http.StatusOK, view{Title: p.Title, Content: views.HomePage(p, h)})
}

// dashboard fills the home page's numbers, each linking to its list. A
// part whose source cannot answer says so instead of a number.
func (s *Server) dashboard(c echo.Context, h *views.Home) {
	ctx := c.Request().Context()
	now := s.Now()
	if s.Issuance != nil {
		offs, _, err := s.Offerings.All(ctx)
		if err != nil {
			h.IssuanceProblem = "The Issuance API could not answer: " + describeAPIError(err)
		} else {
			byStatus := map[string]int{}
			for _, o := range offs {
				byStatus[o.Status]++
			}
			s.moneyTotals(c, h, offs)
			h.Offerings = append(h.Offerings, views.Stat{Label: "Offerings", Value: views.Count(len(offs)), Href: string(routes.Offerings)})
			for _, st := range issuance.OfferingStatuses {
				if n := byStatus[st.Value]; n > 0 {
					b := views.StatusBadge(views.OfferingStatus, st.Value)
					h.Offerings = append(h.Offerings, views.Stat{Label: b.Label, Value: views.Count(n), Href: string(routes.Offerings) + "?status__in=" + st.Value, Meaning: b.Meaning})
				}
			}
			attention := []struct {
				label   string
				q       url.Values
				meaning views.Meaning
			}{
				{"Investments", url.Values{}, views.MeaningNeutral},
				{"Payment not received", url.Values{"status": {"not_received"}}, views.MeaningWarn},
				{"Payment failed", url.Values{"status": {"payment_failed"}}, views.MeaningBad},
				{"Watchlist hits", url.Values{"watchlistentity__has_hits": {"true"}}, views.MeaningBad},
				{"KYC failed", url.Values{"investor__entity__kyc_status": {"failed"}}, views.MeaningBad},
			}
			// Five independent counts: asked at once, so the page waits for
			// the slowest, not for their sum. A count that fails is left out.
			counts := make([]int, len(attention))
			ok := make([]bool, len(attention))
			var wg sync.WaitGroup
			for i, a := range attention {
				wg.Go(func() {
					q := url.Values{"page_size": {"1"}}
					for k, v := range a.q {
						q[k] = v
					}
					p, err := s.Issuance.ListInvestmentsQuery(ctx, q)
					counts[i], ok[i] = p.Count, err == nil
				})
			}
			wg.Wait()
			for i, a := range attention {
				if ok[i] {
					href := string(routes.Investments) + "?" + a.q.Encode()
					h.Attention = append(h.Attention, views.Stat{Label: a.label, Value: views.Count(counts[i]), Href: href, Meaning: a.meaning})
				}
			}
		}
	}
	if s.requireImports() == nil {
		jobs, err := s.Imports.Store.Jobs(ctx, "")
		if err == nil {
			var running, review, failed int
			for i, j := range jobs {
				switch {
				case j.State == importer.JobRunning || j.State == importer.JobPaused:
					running++
				case j.State == importer.JobDraft && (j.Step == "review" || j.Step == "confirm"):
					review++
				}
				if i < 50 && (j.State == importer.JobDone || j.State == importer.JobCancelled) {
					if p, err := s.Imports.Store.JobProgress(ctx, j.ID); err == nil && p.Failed > 0 {
						failed++
					}
				}
			}
			h.Imports = []views.Stat{
				{Label: "Running or paused", Value: views.Count(running), Href: string(routes.Imports), Meaning: views.MeaningNeutral},
				{Label: "Waiting for review", Value: views.Count(review), Href: string(routes.Imports), Meaning: warnIf(review > 0)},
				{Label: "Finished with failed rows", Value: views.Count(failed), Href: string(routes.Imports), Meaning: badIf(failed > 0)},
			}
		}
		if rs, err := s.Imports.Engine.Redemptions(ctx, 200); err == nil {
			n := 0
			for _, r := range rs {
				if r.NeedsInvestigation() {
					n++
				}
			}
			h.Imports = append(h.Imports, views.Stat{Label: "Redemptions to investigate", Value: views.Count(n), Href: string(routes.Redemptions), Meaning: warnIf(n > 0)})
		}
	}
	if s.Audit != nil {
		s.lastVerify.Lock()
		at, res := s.lastVerify.at, s.lastVerify.result
		s.lastVerify.Unlock()
		switch {
		case at.IsZero():
			h.Verify = views.Stat{Label: "Audit chain", Value: "not verified since the console started", Href: string(routes.Audit), Meaning: views.MeaningWarn}
		case res.Intact:
			h.Verify = views.Stat{Label: "Audit chain", Value: "intact: " + views.Plural(res.Rows, "row") + " verified " + views.Ago(at, now), Href: string(routes.Audit), Meaning: views.MeaningOK}
		default:
			h.Verify = views.Stat{Label: "Audit chain", Value: fmt.Sprintf("broken at row #%d (verified %s)", res.BrokenID, views.Ago(at, now)), Href: string(routes.Audit), Meaning: views.MeaningBad}
		}
		if page, err := s.Audit.List(ctx, audit.Filter{Kind: audit.KindEvent}, 0, 6); err == nil {
			for _, e := range page.Entries {
				h.Events = append(h.Events, views.EventRow{ID: e.ID, At: e.At, Event: views.Humanize(e.Event), Actor: e.Actor, Detail: e.Detail})
			}
		}
		h.Now = now
	}
}

// moneyTotals adds the committed money across offerings to the dashboard:
// all of them, and the open ones, one figure per currency (never added
// across currencies), each linking to the list that shows it per offering.
func (s *Server) moneyTotals(c echo.Context, h *views.Home, offs []issuance.Offering) {
	var open []issuance.Offering
	for _, o := range offs {
		if o.Status == "opened" {
			open = append(open, o)
		}
	}
	for _, part := range []struct {
		label, href string
		offs        []issuance.Offering
	}{
		{"Committed, all offerings", string(routes.Offerings), offs},
		{"Committed, open offerings", string(routes.Offerings) + "?status__in=opened", open},
	} {
		totals, err := s.Offerings.CommittedTotals(c.Request().Context(), part.offs)
		if err != nil {
			h.MoneyProblem = "The committed money could not be read: " + describeAPIError(err)
			return
		}
		for _, t := range totals {
			st := views.Stat{Label: part.label, Value: views.MoneyRat(t.Amount, t.Currency), Href: part.href, Meaning: views.MeaningNeutral,
				Note: views.Plural(int64(t.Offerings), "offering")}
			if len(totals) > 1 {
				st.Label += " (" + t.Currency + ")"
			}
			if t.Amount == nil {
				st.Value, st.Note = views.Dash, "the API withheld the amount"
			}
			h.Money = append(h.Money, st)
		}
	}
}

func warnIf(b bool) views.Meaning {
	if b {
		return views.MeaningWarn
	}
	return views.MeaningNeutral
}

func badIf(b bool) views.Meaning {
	if b {
		return views.MeaningBad
	}
	return views.MeaningNeutral
}
