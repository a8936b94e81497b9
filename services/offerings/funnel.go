// Package offerings computes an offering's overview from the Issuance API:
// its terms, and the money committed, received and invested, counted live
// from the offering's investments.
package offerings

import (
	"math/big"
	"sort"
	"time"

	"issuerconsole/services/issuance"
)

// Step is where an investment stands in the raise. The API has 11 statuses
// and no documented lifecycle; this grouping follows Issuance's own
// analytics (committed → received → invested) and is stated on the page.
type Step string

const (
	StepStarted   Step = "started"   // begun, not yet committed
	StepCommitted Step = "committed" // signed, money not yet received
	StepReceived  Step = "received"  // money received (and possibly approved or accepted)
	StepInvested  Step = "invested"  // closed into the offering
	StepLost      Step = "lost"      // cancelled, refunded or not approved
	StepFailed    Step = "failed"    // the payment failed: not money expected, not lost either
)

// StepOf groups a status.
func StepOf(s issuance.Status) Step {
	switch s {
	case issuance.StatusStarted:
		return StepStarted
	case issuance.StatusNotReceived:
		return StepCommitted
	case issuance.StatusPaymentFailed:
		return StepFailed
	case issuance.StatusReceived, issuance.StatusApproved, issuance.StatusAccepted:
		return StepReceived
	case issuance.StatusInvested, issuance.StatusAcceptedEscrowClosed:
		return StepInvested
	case issuance.StatusCancelled, issuance.StatusRefunded, issuance.StatusNotApproved:
		return StepLost
	}
	return StepStarted
}

// Grouping explains StepOf in words, for the page.
var Grouping = []struct {
	Step     Step
	Statuses []issuance.Status
}{
	{StepStarted, []issuance.Status{issuance.StatusStarted}},
	{StepCommitted, []issuance.Status{issuance.StatusNotReceived}},
	{StepFailed, []issuance.Status{issuance.StatusPaymentFailed}},
	{StepReceived, []issuance.Status{issuance.StatusReceived, issuance.StatusApproved, issuance.StatusAccepted}},
	{StepInvested, []issuance.Status{issuance.StatusInvested, issuance.StatusAcceptedEscrowClosed}},
	{StepLost, []issuance.Status{issuance.StatusCancelled, issuance.StatusRefunded, issuance.StatusNotApproved}},
}

// Total is a count with its sums.
type Total struct {
	Count  int
	Amount *big.Rat // what investors pay: quantity × price + fees
	Shares *big.Rat // value of the shares: quantity × price
}

func newTotal() Total { return Total{Amount: new(big.Rat), Shares: new(big.Rat)} }

func (t *Total) add(inv issuance.Investment) {
	t.Count++
	t.Amount.Add(t.Amount, inv.Amount.Rat())
	t.Shares.Add(t.Shares, inv.SharesAmount.Rat())
}

// Bucket is one slice of a breakdown.
type Bucket struct {
	Key   string
	Label string
	Total
}

// Target is progress towards one of the offering's amounts.
type Target struct {
	Field   string   // the API field it comes from
	Label   string   // what the page calls it
	Amount  *big.Rat // nil when the offering has none
	Percent float64  // committed amount / Amount × 100 (see Compute)
}

// Funnel is the money of an offering, by step.
type Funnel struct {
	// Cumulative: Committed includes Received and Invested; Received
	// includes Invested. Started and Lost are outside the funnel.
	Committed, Received, Invested Total
	Started, Lost, PaymentFailed  Total
	All                           int
	ByStatus                      []Bucket
	ByPaymentMethod               []Bucket
	Targets                       []Target
}

// Compute builds the funnel of an offering from all its investments.
func Compute(o issuance.Offering, invs []issuance.Investment) Funnel {
	f := Funnel{Committed: newTotal(), Received: newTotal(), Invested: newTotal(), Started: newTotal(), Lost: newTotal(), PaymentFailed: newTotal(), All: len(invs)}
	byStatus := map[string]*Bucket{}
	byMethod := map[string]*Bucket{}
	for _, s := range issuance.Statuses { // every status shows, even at zero
		byStatus[s.Value] = &Bucket{Key: s.Value, Label: s.Label, Total: newTotal()}
	}
	for _, inv := range invs {
		switch StepOf(inv.Status) {
		case StepStarted:
			f.Started.add(inv)
		case StepLost:
			f.Lost.add(inv)
		case StepFailed:
			f.PaymentFailed.add(inv)
		case StepCommitted:
			f.Committed.add(inv)
		case StepReceived:
			f.Committed.add(inv)
			f.Received.add(inv)
		case StepInvested:
			f.Committed.add(inv)
			f.Received.add(inv)
			f.Invested.add(inv)
		}
		b, ok := byStatus[string(inv.Status)]
		if !ok {
			b = &Bucket{Key: string(inv.Status), Label: string(inv.Status), Total: newTotal()}
			byStatus[string(inv.Status)] = b
		}
		b.add(inv)
		m := inv.PaymentMethod
		if m == "" {
			m = "unknown"
		}
		if byMethod[m] == nil {
			byMethod[m] = &Bucket{Key: m, Label: issuance.Label(issuance.PaymentMethods, m), Total: newTotal()}
		}
		byMethod[m].add(inv)
	}
	for _, s := range issuance.Statuses {
		f.ByStatus = append(f.ByStatus, *byStatus[s.Value])
		delete(byStatus, s.Value)
	}
	for _, b := range byStatus { // statuses the reference does not list
		f.ByStatus = append(f.ByStatus, *b)
	}
	for _, b := range byMethod {
		f.ByPaymentMethod = append(f.ByPaymentMethod, *b)
	}
	sort.Slice(f.ByPaymentMethod, func(i, j int) bool {
		return f.ByPaymentMethod[i].Amount.Cmp(f.ByPaymentMethod[j].Amount) > 0
	})
	// Targets compare the committed amount, as the API's summary counts
	// committed money (its total_amount_committed, which the offerings list
	// and the dashboard show), so the page's "raised" figure over the
	// target is the percentage written beside it.
	target := func(field, label string, d *issuance.Decimal) {
		t := Target{Field: field, Label: label}
		if d != nil && *d != "" {
			t.Amount = d.Rat()
			t.Percent = PercentOf(f.Committed.Amount, t.Amount)
		}
		f.Targets = append(f.Targets, t)
	}
	target("minimum_amount_raised", "Minimum to raise", o.MinimumAmountRaised)
	target("maximum_amount_raised", "Maximum to raise", o.MaximumAmountRaised)
	if o.RegCFAmountRaisedTier != nil {
		target("reg_cf_amount_raised_tier", "Reg CF amount raised tier", o.RegCFAmountRaisedTier)
	}
	return f
}

// DaysLeft counts whole days from now to the deadline (negative when past).
func DaysLeft(deadline time.Time, now time.Time) int {
	d := time.Date(deadline.Year(), deadline.Month(), deadline.Day(), 0, 0, 0, 0, time.UTC)
	n := time.Date(now.UTC().Year(), now.UTC().Month(), now.UTC().Day(), 0, 0, 0, 0, time.UTC)
	return int(d.Sub(n).Hours() / 24)
}
