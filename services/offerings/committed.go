package offerings

import (
	"context"
	"math/big"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"issuerconsole/services/issuance"
)

// Currency is the currency of an offering's money. The Issuance API has no
// currency field (its offerings are US offerings), so it is USD; totals
// are still kept per currency, never added across two.
func Currency(issuance.Offering) string { return "USD" }

// Committed is an offering's committed money as the API's summary
// (GET /api/investments/summary/?offering=…) counts it: the statuses
// not_received, received, approved, accepted, invested and
// accepted_escrow_closed, which is the funnel's Committed step (committed,
// received and invested), so the list, the dashboard and the offering's
// page show the same figure. One call per offering instead of reading
// every investment.
type Committed struct {
	OfferingID int64
	Currency   string
	Amount     *big.Rat // nil: the API withheld it ("sanitized") and no count is kept
	Investors  int64    // -1: not given
	Minimum    *big.Rat // the offering's minimum_amount_raised; nil when it has none
	Percent    float64  // Amount / Minimum × 100
	AsOf       time.Time
}

// PercentOf is amount / target × 100, 0 without a positive target.
func PercentOf(amount, target *big.Rat) float64 {
	if amount == nil || target == nil || target.Sign() <= 0 {
		return 0
	}
	p, _ := new(big.Rat).Quo(amount, target).Float64()
	return p * 100
}

// summary is the investment summary of q (one offering, or several in one
// currency), kept for the TTL under key.
func (s *Service) summary(ctx context.Context, key string, q url.Values, cur string) (Committed, time.Time, error) {
	return s.summaries.get(ctx, key, func(ctx context.Context) (Committed, error) {
		at := s.now().UTC()
		sum, err := s.client.InvestmentSummary(ctx, q)
		if err != nil {
			return Committed{}, err
		}
		c := Committed{Currency: cur, Investors: sum.Investors(), AsOf: at}
		c.Amount, _ = sum.CommittedAmount()
		return c, nil
	})
}

// Committed is the offering's committed money, kept for the TTL.
func (s *Service) Committed(ctx context.Context, o issuance.Offering) (Committed, error) {
	c, _, err := s.summary(ctx, s.key("committed", o.ID), url.Values{"offering": {strconv.FormatInt(o.ID, 10)}}, Currency(o))
	c.OfferingID = o.ID
	if err != nil {
		return Committed{}, err
	}
	if c.Amount == nil { // withheld: the offering's page may have counted it
		if ov, _, ok := s.overviews.peek(s.key("overview", o.ID)); ok {
			c.Amount, c.AsOf = ov.Funnel.Committed.Amount, ov.AsOf
		}
	}
	if o.MinimumAmountRaised != nil && *o.MinimumAmountRaised != "" {
		c.Minimum = o.MinimumAmountRaised.Rat()
		c.Percent = PercentOf(c.Amount, c.Minimum)
	}
	return c, nil
}

// CommittedOf is one offering's committed money or why it is missing.
type CommittedOf struct {
	Committed
	Err error
}

// CommittedEach reads the committed money of several offerings (a list's
// page), at most Parallel at a time, each kept and shared like Committed.
// One offering failing leaves the others.
func (s *Service) CommittedEach(ctx context.Context, offs []issuance.Offering) []CommittedOf {
	out := make([]CommittedOf, len(offs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(s.Parallel, 1))
	for i, o := range offs {
		g.Go(func() error {
			c, err := s.Committed(gctx, o)
			out[i] = CommittedOf{Committed: c, Err: err}
			return nil
		})
	}
	_ = g.Wait() // every error is kept per offering
	return out
}

// CurrencyTotal is committed money across offerings in one currency.
type CurrencyTotal struct {
	Currency  string
	Amount    *big.Rat // nil when the API withheld an amount
	Offerings int
	AsOf      time.Time // the oldest answer it adds up
}

// summaryChunk bounds the offering ids sent in one summary call
// (offering__in), keeping the URL short.
const summaryChunk = 50

// CommittedTotals adds up the committed money of the given offerings (the
// ones the console's keys see), per currency: one summary call per
// currency and 50 offerings (offering__in), kept for the TTL. The summary
// is asked with the user's Firebase token, which may see offerings the
// keys do not, so the offerings are always named.
func (s *Service) CommittedTotals(ctx context.Context, offs []issuance.Offering) ([]CurrencyTotal, error) {
	ids := map[string][]int64{}
	for _, o := range offs {
		ids[Currency(o)] = append(ids[Currency(o)], o.ID)
	}
	var out []CurrencyTotal
	for cur, list := range ids {
		sort.Slice(list, func(i, j int) bool { return list[i] < list[j] })
		t := CurrencyTotal{Currency: cur, Amount: new(big.Rat), Offerings: len(list)}
		for from := 0; from < len(list); from += summaryChunk {
			chunk := list[from:min(from+summaryChunk, len(list))]
			parts := make([]string, len(chunk))
			for i, id := range chunk {
				parts[i] = strconv.FormatInt(id, 10)
			}
			in := strings.Join(parts, ",")
			c, at, err := s.summary(ctx, s.key("committed-in", in), url.Values{"offering__in": {in}}, cur)
			if err != nil {
				return nil, err
			}
			if t.AsOf.IsZero() || at.Before(t.AsOf) {
				t.AsOf = at
			}
			if c.Amount == nil || t.Amount == nil {
				t.Amount = nil
				continue
			}
			t.Amount.Add(t.Amount, c.Amount)
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Currency < out[j].Currency })
	return out, nil
}
