package importer

import (
	"context"
	"fmt"
	"strings"

	"issuerconsole/services/audit"
)

// RemapChange is a new mapping for a stopped job's failed rows.
type RemapChange struct {
	Campaign string           // "" or the current one: unchanged
	Rows     map[int64]string // failed row → Cashlink investor ("" or unchanged: left alone)
}

// Remap changes the mapping of a stopped job's failed rows whose Cashlink
// investment was refused or never sent (ActRemap in the transition table),
// so that "Re-run failed rows" sends them with the new mapping instead of
// repeating the refused request. Rows that cannot change are an
// *InvalidError naming each; nothing changes then.
func (w *Wizard) Remap(ctx context.Context, jobID int64, by Actor, ch RemapChange) (string, error) {
	j, err := w.Store.Job(ctx, jobID)
	if err != nil {
		return "", err
	}
	if _, ok := j.State.Next(ActRemap); !ok {
		return "", &ConflictError{Job: jobID, Action: ActRemap, State: j.State}
	}
	if w.Engine != nil && w.Engine.Running(jobID) {
		return "", &ConflictError{Job: jobID, Action: ActRemap, State: j.State, Reason: "This import is still finishing rows in flight; wait until it has stopped."}
	}
	failed, _, err := w.Store.FailedRows(ctx, jobID)
	if err != nil {
		return "", err
	}
	byID := map[int64]RemapRow{}
	for _, r := range failed {
		byID[r.ID] = r
	}
	bad := map[string]string{}
	rows := map[int64]string{}
	var remember []Mapping
	for id, inv := range ch.Rows {
		inv = strings.ToLower(strings.TrimSpace(inv))
		r, ok := byID[id]
		switch {
		case inv == "" || ok && inv == r.CashlinkInvestor:
			continue
		case !ok:
			bad[fmt.Sprint("row-", id)] = fmt.Sprintf("Row %d has not failed; its mapping stays.", id)
		case !r.Fixable:
			bad[fmt.Sprint("row-", id)] = fmt.Sprintf("%s: a Cashlink investment exists (or may exist) for it; its investor can no longer change.", rowName(r.Row))
		case !uuidRe.MatchString(inv):
			bad[fmt.Sprint("row-", id)] = fmt.Sprintf("%s: %q is not a Cashlink investor id (a UUID).", rowName(r.Row), inv)
		default:
			rows[id] = inv
			if r.IssuanceInvestor != 0 {
				remember = append(remember, Mapping{IssuanceInvestor: r.IssuanceInvestor, CashlinkInvestor: inv, Source: "manual"})
			}
		}
	}
	campaign := strings.ToLower(strings.TrimSpace(ch.Campaign))
	if campaign != "" && !uuidRe.MatchString(campaign) {
		bad["campaign_id"] = "The campaign is a Cashlink id (a UUID)."
	}
	if len(bad) > 0 {
		return "", &InvalidError{Fields: bad}
	}
	if campaign == strings.ToLower(j.CampaignID) {
		campaign = ""
	}
	if len(rows) == 0 && campaign == "" {
		return "Nothing changed.", nil
	}
	refused, err := w.Store.RemapFailed(ctx, jobID, campaign, rows, remember, by.ID)
	if err != nil {
		return "", err
	}
	if len(refused) > 0 {
		for _, id := range refused {
			bad[fmt.Sprint("row-", id)] = fmt.Sprintf("Row %d changed meanwhile; nothing was saved. Reload and try again.", id)
		}
		return "", &InvalidError{Fields: bad}
	}
	what := fmt.Sprintf("%d failed rows re-mapped", len(rows))
	if campaign != "" {
		what += ", campaign changed to " + campaign
	}
	msg := fmt.Sprintf("Saved: %s. Re-run the failed rows to import them with the new mapping.", what)
	return msg, w.event(ctx, fmt.Sprintf("Import %d re-mapped", jobID), audit.EventImportRemapped, by, fmt.Sprintf("job %d: %s", jobID, what))
}

// NeedsWallet reports whether a failed row stopped for want of a wallet
// (the engine's refusal at the wallet step): a wallet created for its
// investor lets a re-run credit it.
func NeedsWallet(r Row) bool {
	return r.State == RowFailed && r.Step == StepWallet && r.Wallet == "" && strings.Contains(r.Error, "has no wallet")
}
