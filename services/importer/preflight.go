package importer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"sync"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/cashlink"
)

// The pre-flight: every check the Cashlink API lets the console make
// before an irreversible credit, run at the Confirm step and again on the
// typed confirmation. Where the API has no answer the pre-flight says so
// (NotChecked) instead of guessing.

// IssuanceCurrency is the currency of Issuance amounts: its API has no
// currency field and its offerings are US offerings (views.DefaultCurrency).
const IssuanceCurrency = "USD"

// InvestorReader is what the pre-flight reads of Cashlink (*cashlink.Client).
type InvestorReader interface {
	GetInvestor(ctx context.Context, id string) (cashlink.Investor, error)
	ListWallets(ctx context.Context, investorID string) ([]cashlink.Wallet, error)
}

// Investor problems, as the pre-flight names them (badges' data-code).
const (
	InvestorUnknown      = "unknown"     // Cashlink does not know the id
	InvestorNoWallet     = "no-wallet"   // a credit needs one
	InvestorNotKYC       = "kyc-pending" // not identified: investments stay KYC_PENDING
	InvestorKYCFailed    = "kyc-failed"  // KYC insufficient: investments end KYC_INSUFFICIENT
	InvestorUnread       = "unread"      // the read failed: nothing known
	InvestorReady        = "ready"       // identified (or not said) and with a wallet
	readsAtOnce          = 8             // Cashlink reads in flight at once
	maxMismatchExamples  = 5             // rows named in a price mismatch
	amountToleranceMinor = 1             // a cent of rounding between units × price and the paid amount
)

// InvestorCheck is one Cashlink investor of the rows to credit.
type InvestorCheck struct {
	ID      string
	Name    string // from the Issuance rows
	Rows    int
	Units   int64
	Wallets int
	KYC     string // Cashlink's kyc_status; "" = not said
	Problem string // one of the Investor* codes
	Detail  string // the failed read, in words
}

// Blocked reports whether the investor stops the credit.
func (c InvestorCheck) Blocked() bool { return c.Problem != InvestorReady }

// CreditTotal is what will be credited in one campaign.
type CreditTotal struct {
	CampaignID, CampaignName string
	Investments              int
	Units                    int64
	Currency                 string   // the campaign's; "" = price not recorded
	Amount                   *big.Rat // units × price; nil = price not recorded
	IssuanceAmount           *big.Rat // what the investors paid on Issuance (IssuanceCurrency)
	Price                    string   // per unit, as recorded
}

// Preflight is the outcome of the checks before the typed confirmation.
type Preflight struct {
	Review     Review // the review's row checks, run again
	Campaign   CatalogItem
	Known      bool // the campaign is in the catalog
	Investors  []InvestorCheck
	Totals     []CreditTotal
	Blockers   []string // job-level reasons the credit cannot start
	RowLimits  []string // rows outside the campaign's units per investment
	Mismatch   []string // examples of rows whose Cashlink amount differs from what was paid (same currency)
	Mismatched int      // how many rows differ
	Currency   *CurrencyDecision
	NotChecked []string // what the API does not let the console check
	Ready      int
	// Fingerprint covers everything the admin confirms: rows, units,
	// investors and their state, the campaign's terms. The typed
	// confirmation carries the one it was shown; another one now means
	// something changed in between.
	Fingerprint string
}

// CurrencyDecision is the explicit decision a currency difference needs:
// the console has no exchange rate, so it cannot say whether the units are
// right; it shows both totals and the rate they imply, and the admin
// decides.
type CurrencyDecision struct {
	From, To    string   // Issuance currency, the campaign's
	Paid, Asked *big.Rat // what the investors paid; what Cashlink will record
	Rate        *big.Rat // Asked / Paid: units of To per unit of From
}

// Code is the decision's form value: it names the currencies and the
// totals, so a decision taken for other figures does not count.
func (d *CurrencyDecision) Code() string {
	if d == nil {
		return ""
	}
	return fmt.Sprintf("%s-%s-%s-%s", d.From, d.To, d.Paid.FloatString(2), d.Asked.FloatString(2))
}

// Blocked counts the investors that stop the credit.
func (p Preflight) Blocked() int {
	n := 0
	for _, c := range p.Investors {
		if c.Blocked() {
			n++
		}
	}
	return n
}

// OK reports whether the credit may start (given the currency decision).
func (p Preflight) OK() bool {
	return p.Review.OK() && len(p.Blockers) == 0 && len(p.RowLimits) == 0 && len(p.Mismatch) == 0 && p.Blocked() == 0
}

// WithoutWallet lists the investors a managed wallet would unblock:
// identified (or not said) and without a wallet.
func (p Preflight) WithoutWallet() []string {
	var out []string
	for _, c := range p.Investors {
		if c.Problem == InvestorNoWallet {
			out = append(out, c.ID)
		}
	}
	return out
}

// preflightNotChecked is said on every pre-flight page: what Cashlink's
// API gives no way to check before the credit.
var preflightNotChecked = []string{
	"Whether the campaign is still open and its units per investment: the Cashlink API has no campaign endpoint. The console checks what its catalog records (Settings → Cashlink campaigns); Cashlink checks again when each investment is created.",
	"The campaign's remaining allocation: Cashlink does not publish how many units are left, so a campaign can still refuse an investment for being over its total.",
	"Which signed documents the product requires, and their categories: configured per product in Cashlink and not readable through the API.",
	"Whether the issuer has accepted and the payment arrived in Cashlink: the investment's status is read after it is created; one without accepted_at and paid_at is not credited.",
	"Cashlink's rate limits: none are published; the import slows down when Cashlink answers 429.",
}

// RunPreflight runs the review's checks and the pre-flight's: each distinct
// Cashlink investor read (at most readsAtOnce at a time, under the engine's
// rate limit), the campaign's state, limits, price and currency from the
// catalog, and the totals per campaign.
func (w *Wizard) RunPreflight(ctx context.Context, reg InvestorReader, jobID int64) (Preflight, error) {
	j, err := w.Store.Job(ctx, jobID)
	if err != nil {
		return Preflight{}, err
	}
	rows, err := w.Store.Rows(ctx, jobID)
	if err != nil {
		return Preflight{}, err
	}
	// Wallets are read below with the investor; the review's own wallet
	// read would double the calls.
	rv, err := validateRows(ctx, w.Store, nil, j, rows)
	if err != nil {
		return Preflight{}, err
	}
	p := Preflight{Review: rv, NotChecked: preflightNotChecked}
	cat, err := w.Store.Catalog(ctx)
	if err != nil {
		return p, err
	}
	for _, c := range cat.Campaigns {
		if c.ID == strings.ToLower(j.CampaignID) {
			p.Campaign, p.Known = c, true
		}
	}
	if !p.Known {
		p.Campaign = CatalogItem{ID: j.CampaignID, Name: j.CampaignID}
	}
	ready := readyRows(rows, rv)
	p.Ready = len(ready)

	// The campaign's terms.
	camp := p.Campaign
	switch {
	case j.CampaignID == "":
	case !p.Known:
		p.NotChecked = append([]string{"This campaign is not in the console's catalog: its state, limits, price and currency are not checked. Add it under Settings → Cashlink campaigns to have them checked."}, p.NotChecked...)
	default:
		if camp.Active != nil && !*camp.Active {
			p.Blockers = append(p.Blockers, fmt.Sprintf("The campaign %s is closed (not active): Cashlink refuses investments in it. Choose an open campaign at Mapping.", camp.Name))
		}
		if camp.Active == nil {
			p.NotChecked = append([]string{"Whether the campaign " + camp.Name + " is open: not recorded in the catalog."}, p.NotChecked...)
		}
	}
	price, priceOK := new(big.Rat).SetString(camp.PricePerUnit)
	if camp.PricePerUnit == "" {
		priceOK = false
	}
	total := CreditTotal{CampaignID: j.CampaignID, CampaignName: camp.Name, Currency: camp.Currency, Price: camp.PricePerUnit,
		IssuanceAmount: new(big.Rat)}
	if priceOK && camp.Currency != "" {
		total.Amount = new(big.Rat)
	} else if j.CampaignID != "" && p.Known {
		p.NotChecked = append([]string{"The campaign's price or currency is not recorded in the catalog: the amount Cashlink will record is not checked against what the investors paid."}, p.NotChecked...)
	}
	paidKnown := true
	askedOfPaid := new(big.Rat) // Cashlink's amount of the rows with an Issuance amount
	for _, r := range ready {
		total.Investments++
		total.Units += r.Units
		if camp.MinUnits > 0 && r.Units < camp.MinUnits || camp.MaxUnits > 0 && r.Units > camp.MaxUnits {
			p.RowLimits = append(p.RowLimits, fmt.Sprintf("%s: %d units, outside the campaign's %d–%d units per investment.", rowName(r), r.Units, camp.MinUnits, camp.MaxUnits))
		}
		// What Cashlink will record counts every row, whether or not
		// Issuance gave an amount to compare it with.
		var asked *big.Rat
		if total.Amount != nil {
			asked = new(big.Rat).Mul(price, new(big.Rat).SetInt64(r.Units))
			total.Amount.Add(total.Amount, asked)
		}
		paid, ok := new(big.Rat).SetString(r.Amount)
		if !ok || r.Amount == "" {
			paidKnown = false
			continue
		}
		total.IssuanceAmount.Add(total.IssuanceAmount, paid)
		if asked != nil {
			askedOfPaid.Add(askedOfPaid, asked)
			if camp.Currency == IssuanceCurrency && !closeEnough(asked, paid) {
				if p.Mismatched++; len(p.Mismatch) < maxMismatchExamples {
					p.Mismatch = append(p.Mismatch, fmt.Sprintf("%s: %d units × %s %s = %s %s, but the investor paid %s %s.", rowName(r), r.Units,
						camp.PricePerUnit, camp.Currency, asked.FloatString(2), camp.Currency, paid.FloatString(2), IssuanceCurrency))
				}
			}
		}
	}
	if !paidKnown {
		p.NotChecked = append([]string{"Some rows carry no Issuance amount (CSV rows without one): their amount is not compared."}, p.NotChecked...)
	}
	if total.Amount != nil && camp.Currency != IssuanceCurrency && total.IssuanceAmount.Sign() > 0 {
		p.Currency = &CurrencyDecision{From: IssuanceCurrency, To: camp.Currency, Paid: total.IssuanceAmount, Asked: total.Amount,
			Rate: new(big.Rat).Quo(askedOfPaid, total.IssuanceAmount)}
	}
	if total.Investments > 0 {
		p.Totals = append(p.Totals, total)
	}

	// The investors, each read once.
	p.Investors, err = w.checkInvestors(ctx, reg, ready)
	if err != nil {
		return p, err
	}
	p.Fingerprint = p.fingerprint(ready)
	return p, nil
}

// readyRows are the rows the run would import: not skipped, not done, no problem.
func readyRows(rows []Row, rv Review) []Row {
	var out []Row
	for _, r := range rows {
		if r.Skip || r.State == RowSkipped || r.State == RowDone || len(rv.Problems[r.ID]) > 0 {
			continue
		}
		out = append(out, r)
	}
	return out
}

func rowName(r Row) string {
	if r.Reference != "" {
		return r.Reference
	}
	return fmt.Sprintf("Investment %d", r.IssuanceID)
}

func closeEnough(a, b *big.Rat) bool {
	d := new(big.Rat).Sub(a, b)
	d.Abs(d)
	return d.Cmp(big.NewRat(amountToleranceMinor, 100)) <= 0
}

// checkInvestors reads every distinct Cashlink investor of the rows (the
// investor, then its wallets) with bounded concurrency. A read that fails
// marks that investor unread; it does not stop the others.
func (w *Wizard) checkInvestors(ctx context.Context, reg InvestorReader, rows []Row) ([]InvestorCheck, error) {
	byID := map[string]*InvestorCheck{}
	var ids []string
	for _, r := range rows {
		c, ok := byID[r.CashlinkInvestor]
		if !ok {
			c = &InvestorCheck{ID: r.CashlinkInvestor, Name: r.InvestorName}
			byID[r.CashlinkInvestor] = c
			ids = append(ids, r.CashlinkInvestor)
		}
		c.Rows++
		c.Units += r.Units
	}
	sort.Strings(ids)
	if reg == nil {
		for _, id := range ids {
			byID[id].Problem, byID[id].Detail = InvestorUnread, "Cashlink is not configured."
		}
	} else {
		sem := make(chan struct{}, readsAtOnce)
		var wg sync.WaitGroup
		for _, id := range ids {
			c := byID[id]
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				w.checkInvestor(ctx, reg, c)
			}()
		}
		wg.Wait()
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]InvestorCheck, 0, len(ids))
	for _, id := range ids {
		out = append(out, *byID[id])
	}
	// Problems first, then by id: the list to work through is on top.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Blocked() && !out[j].Blocked() })
	return out, nil
}

func (w *Wizard) checkInvestor(ctx context.Context, reg InvestorReader, c *InvestorCheck) {
	// Each read goes through the engine's shared Throttle, which learns
	// Cashlink's limit from its answers.
	limited := func(fn func() error) error {
		if w.Engine == nil {
			return fn()
		}
		return w.Engine.call(ctx, fn)
	}
	fail := func(err error) {
		if errors.Is(err, apiclient.ErrNotFound) {
			c.Problem, c.Detail = InvestorUnknown, "Cashlink does not know this investor id."
			return
		}
		c.Problem, c.Detail = InvestorUnread, FriendlyError("investor", err)
	}
	var inv cashlink.Investor
	if err := limited(func() (err error) { inv, err = reg.GetInvestor(ctx, c.ID); return err }); err != nil {
		fail(err)
		return
	}
	c.KYC = inv.KYCStatus()
	var ws []cashlink.Wallet
	if err := limited(func() (err error) { ws, err = reg.ListWallets(ctx, c.ID); return err }); err != nil {
		fail(err)
		return
	}
	c.Wallets = len(ws)
	switch {
	case c.KYC == "PENDING":
		c.Problem = InvestorNotKYC
	case c.KYC == "INSUFFICIENT":
		c.Problem = InvestorKYCFailed
	case c.Wallets == 0:
		c.Problem = InvestorNoWallet
	default:
		c.Problem = InvestorReady
	}
}

// fingerprint hashes what the admin confirms, in a fixed order.
func (p Preflight) fingerprint(ready []Row) string {
	h := sha256.New()
	fmt.Fprintf(h, "campaign %s %s %s %v %d %d\n", p.Campaign.ID, p.Campaign.Currency, p.Campaign.PricePerUnit, p.Campaign.Active != nil && *p.Campaign.Active, p.Campaign.MinUnits, p.Campaign.MaxUnits)
	for _, r := range ready {
		fmt.Fprintf(h, "row %d %s %d %s\n", r.ID, r.CashlinkInvestor, r.Units, r.Amount)
	}
	for _, c := range p.Investors {
		fmt.Fprintf(h, "investor %s %s %s %t\n", c.ID, c.Problem, c.KYC, c.Wallets > 0)
	}
	for _, b := range append(append(append([]string{}, p.Blockers...), p.RowLimits...), p.Mismatch...) {
		fmt.Fprintf(h, "blocker %s\n", b)
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// Confirmation is what the admin submits at the Confirm step.
type Confirmation struct {
	Phrase      string // CREDIT n
	Fingerprint string // the pre-flight that was shown
	Currency    string // the currency decision's Code, when one was needed
}
