package importer

// The wizard's actions on many rows at once: review filters and bulk
// edits, matching and creating investors for a whole offering.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/cashlink"
	"issuerconsole/services/issuance"
)

// checkConcurrency bounds the Cashlink reads and writes one bulk action
// makes at once (the engine's rate limit applies to the writes as well).
const checkConcurrency = 4

// CheckCashlink reads each given Cashlink investor's wallets (audited
// reads, a few at a time): ids Cashlink does not know and ids without a
// wallet. A read that fails for another reason is said in the returned
// problem (for people) after all reads, with what the others found.
func (w *Wizard) CheckCashlink(ctx context.Context, ids []string) (CashlinkCheck, string) {
	var chk CashlinkCheck
	if w.Registry == nil || len(ids) == 0 {
		return chk, ""
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	sem := make(chan struct{}, checkConcurrency)
	for _, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ws, err := w.Registry.ListWallets(ctx, id)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, apiclient.ErrNotFound):
				chk.Unknown = append(chk.Unknown, id)
			case err != nil:
				if firstErr == nil {
					firstErr = err
				}
			case len(ws) == 0:
				chk.NoWallet = append(chk.NoWallet, id)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return chk, "The wallets could not be checked: " + FriendlyError(StepWallet, firstErr)
	}
	return chk, ""
}

// BulkAction is an edit of every row a review filter shows.
type BulkAction string

// The bulk actions of the review.
const (
	BulkSkip   BulkAction = "skip"
	BulkUnskip BulkAction = "unskip"
	BulkDates  BulkAction = "dates"
)

// BulkEdit applies a bulk action to the rows the filter show matches,
// when they are still expect rows (the number the admin was shown). For
// BulkDates, nil times are left alone. It returns how many rows changed.
func (w *Wizard) BulkEdit(ctx context.Context, jobID int64, show string, expect int, act BulkAction, dates RowEdit) (int, error) {
	// The answers the admin saw (cached): the filter then matches the rows shown.
	chk, problem, _, err := w.CheckJobCached(ctx, jobID, false)
	if err != nil {
		return 0, err
	}
	if problem != "" && (show == "unknown_investor" || show == "no_wallet" || show == ShowProblems || show == ShowReady) {
		// The filter depends on Cashlink's answer, which is missing.
		return 0, invalid("show", problem)
	}
	var e RowEdit
	switch act {
	case BulkSkip, BulkUnskip:
		skip := act == BulkSkip
		reason := "skipped at review"
		if !skip {
			reason = ""
		}
		e = RowEdit{Skip: &skip, SkipReason: &reason}
	case BulkDates:
		if dates.SignedAt == nil && dates.AcceptedAt == nil && dates.PaidAt == nil {
			return 0, invalid("dates", "Give at least one date-time to set.")
		}
		e = RowEdit{SignedAt: dates.SignedAt, AcceptedAt: dates.AcceptedAt, PaidAt: dates.PaidAt}
	default:
		return 0, invalid("action", "Unknown action "+string(act)+".")
	}
	return w.Store.BulkEdit(ctx, jobID, show, chk, expect, e)
}

// MatchByEmail maps every unmapped investor of a draft job to the Cashlink
// investor the console knows with the same e-mail (remembered for later
// jobs). It returns how many investors it mapped.
func (w *Wizard) MatchByEmail(ctx context.Context, jobID int64, by Actor) (int, error) {
	rows, err := w.Store.Rows(ctx, jobID)
	if err != nil {
		return 0, err
	}
	cat, err := w.Store.Catalog(ctx)
	if err != nil {
		return 0, err
	}
	matched := MatchByEmail(rows, cat)
	mm := make([]Mapping, 0, len(matched))
	for inv, cl := range matched {
		mm = append(mm, Mapping{IssuanceInvestor: inv, CashlinkInvestor: cl, Source: "email"})
	}
	if err := w.Store.MapInvestors(ctx, jobID, matched, mm, by.ID); err != nil {
		return 0, err
	}
	return len(matched), nil
}

// MapInvestor maps one Issuance investor of a draft job ("" clears it),
// remembered for later jobs when set.
func (w *Wizard) MapInvestor(ctx context.Context, jobID, issuanceInvestor int64, cashlinkID string, by Actor) error {
	if _, err := w.Store.InvestorGroup(ctx, jobID, issuanceInvestor); err != nil {
		return err
	}
	cashlinkID = strings.TrimSpace(cashlinkID)
	if msg := checkInvestorID(cashlinkID); cashlinkID != "" && msg != "" {
		return invalid("cashlink", "The Cashlink investor id is "+msg+".")
	}
	var remember []Mapping
	if cashlinkID != "" {
		remember = []Mapping{{IssuanceInvestor: issuanceInvestor, CashlinkInvestor: cashlinkID, Source: "manual"}}
	}
	return w.Store.MapInvestors(ctx, jobID, map[int64]string{issuanceInvestor: cashlinkID}, remember, by.ID)
}

// IssuanceInvestorReader reads an Issuance investor (*issuance.Client).
type IssuanceInvestorReader interface {
	GetInvestor(ctx context.Context, id int64) (issuance.Investor, error)
}

// Created is the outcome of creating one Issuance investor in Cashlink.
type Created struct {
	IssuanceInvestor int64
	Name             string
	CashlinkID       string // "" when not created
	Error            string // why not, or what failed after creating
}

// CreateUnmapped creates in Cashlink every unmapped Issuance investor of a
// draft job that Issuance says is a natural person, from Issuance's data
// (first and last name, e-mail), and maps it; when the job still has
// expect unmapped investors (the number the admin was shown). A few at a
// time; each with the key derived from its Issuance investor (as one
// created by hand), so a repeat after a failure creates nobody twice. Each
// investor's outcome is returned, in order; none is left out.
func (w *Wizard) CreateUnmapped(ctx context.Context, reg InvestorCreator, iss IssuanceInvestorReader, jobID int64, expect int, notUSTax bool, by Actor) ([]Created, error) {
	if !notUSTax {
		return nil, invalid("not_us_tax", "Confirm that none of these investors is subject to US tax: Cashlink cannot hold investors who are, and the console cannot tell.")
	}
	j, err := w.Store.Job(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if j.State != JobDraft {
		return nil, &ConflictError{Job: jobID, State: j.State, Reason: "This import has started; its mapping can no longer change."}
	}
	groups, err := w.Store.UnmappedInvestors(ctx, jobID)
	if err != nil {
		return nil, err
	}
	if len(groups) != expect {
		return nil, &StaleCountError{Shown: expect, Now: len(groups)}
	}
	out := make([]Created, len(groups))
	var wg sync.WaitGroup
	sem := make(chan struct{}, checkConcurrency)
	for i, g := range groups {
		out[i] = Created{IssuanceInvestor: g.IssuanceInvestor, Name: g.Name}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i].CashlinkID, out[i].Error = w.createOne(ctx, reg, iss, jobID, g, by)
		}()
	}
	wg.Wait()
	return out, ctx.Err()
}

func (w *Wizard) createOne(ctx context.Context, reg InvestorCreator, iss IssuanceInvestorReader, jobID int64, g InvestorGroup, by Actor) (string, string) {
	inv, err := iss.GetInvestor(ctx, g.IssuanceInvestor)
	if err != nil {
		return "", "Issuance did not give the investor: " + err.Error()
	}
	str := func(k string) string { s, _ := inv.Fields[k].(string); return strings.TrimSpace(s) }
	if inv.Type != "person" {
		return "", fmt.Sprintf("Not a natural person in Issuance (%s): Cashlink's API creates natural persons only; map it by hand.", inv.Type)
	}
	first, last, email := str("first_name"), str("last_name"), str("email")
	if first == "" || last == "" {
		return "", "Issuance has no first and last name for this investor: create it with the form."
	}
	in := cashlink.NewInvestor{NaturalPerson: cashlink.NaturalPerson{Forename: first, Surname: last}, IsBeneficiary: true}
	if email != "" {
		in.Communication = &cashlink.Communication{Email: email}
	}
	id, err := w.CreateInvestor(ctx, reg, jobID, g.IssuanceInvestor, in, true, by) // declared for all by CreateUnmapped's caller
	var up *UpstreamError
	switch {
	case errors.As(err, &up):
		return "", up.Message
	case err != nil && id != "":
		return id, "Created, but the mapping was not saved: run this again (the same key returns the same investor)."
	case err != nil:
		return "", err.Error()
	}
	return id, ""
}

// checkCache keeps Cashlink's answers for a set of investors for a short
// while: the review's page, its row swaps and its bulk actions would
// otherwise read every investor's wallets on every click (audited reads,
// one per investor). The set is the key, so a changed mapping is checked
// afresh; the pre-flight before the credit (RunPreflight) never uses it.
var checkCache = struct {
	sync.Mutex
	m map[checkKey]checkEntry
}{m: map[checkKey]checkEntry{}}

type checkKey struct {
	st  *Store
	ids string
}

type checkEntry struct {
	chk CashlinkCheck
	at  time.Time
}

// CheckTTL is how long Cashlink's answers about a set of investors are reused.
const CheckTTL = time.Minute

// CheckJobCached reads what Cashlink says of the job's investors (whether
// it knows them, their wallets; CheckCashlink), with answers up to
// CheckTTL old (fresh: read again now).
func (w *Wizard) CheckJobCached(ctx context.Context, jobID int64, fresh bool) (CashlinkCheck, string, time.Time, error) {
	ids, err := w.Store.CashlinkInvestorsToCheck(ctx, jobID)
	if err != nil {
		return CashlinkCheck{}, "", time.Time{}, err
	}
	key := checkKey{w.Store, strings.Join(ids, "\x00")}
	now := w.Store.now()
	checkCache.Lock()
	e, ok := checkCache.m[key]
	checkCache.Unlock()
	if ok && !fresh && now.Sub(e.at) < CheckTTL {
		return e.chk, "", e.at, nil
	}
	chk, problem := w.CheckCashlink(ctx, ids)
	if problem != "" {
		return chk, problem, now, nil // not kept: the next look tries again
	}
	checkCache.Lock()
	for k, old := range checkCache.m {
		if now.Sub(old.at) >= CheckTTL {
			delete(checkCache.m, k)
		}
	}
	checkCache.m[key] = checkEntry{chk, now}
	checkCache.Unlock()
	return chk, "", now, nil
}
