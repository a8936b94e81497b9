package cashlink

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"strconv"

	"issuerconsole/services/apiclient"
)

// Cashlink's public API has no balance or holdings endpoint (contracts A.4:
// investors, wallets, investments, credits and redemptions only; "products
// / campaigns endpoints (paths not public)"). The balance a redemption is
// checked against (A.9) can only be read indirectly: an investor's
// delivered investments, each with the part not yet redeemed
// (remaining_amount, which shrinks after redemptions, A.7 and A.9). The
// functions here sum those, and say when they cannot.

// InvestmentFilter narrows GET /v2/investments/. investor_id is sent, and
// every result is checked again here, so an API that ignores the filter
// gives the same sums (only more pages).
type InvestmentFilter struct {
	InvestorID     string
	Page, PageSize int // 0 = the API's defaults
}

// ListInvestmentsWhere is GET /v2/investments/ with filters.
func (c *Client) ListInvestmentsWhere(ctx context.Context, f InvestmentFilter) (InvestmentPage, error) {
	q := url.Values{}
	if f.InvestorID != "" {
		q.Set("investor_id", f.InvestorID)
	}
	if f.Page > 1 {
		q.Set("page", strconv.Itoa(f.Page))
	}
	if f.PageSize > 0 {
		q.Set("page_size", strconv.Itoa(f.PageSize))
	}
	var p InvestmentPage
	_, err := c.api.Do(ctx, apiclient.Request{Method: http.MethodGet, URL: c.api.Resolve("v2/investments/", q), Idempotent: true}, &p)
	return p, err
}

// Holding is what an investor holds in one wallet from one campaign: the
// units of its delivered investments not yet redeemed.
type Holding struct {
	WalletID    string
	CampaignID  string
	ProductID   string // when the API names the product on the investment; else "" (map the campaign)
	Units       int64
	Investments int
}

// ErrHoldingsIncomplete means the investments could not all be read or
// summed, so no balance is known.
var ErrHoldingsIncomplete = errors.New("the balance could not be worked out from the investments Cashlink lists")

// RemainingUnits is the part of a delivered investment not yet redeemed:
// units × remaining_amount ÷ investment_amount (both money objects in the
// same currency and decimals). ok is false when the investment does not
// carry both amounts, or they cannot be compared.
func RemainingUnits(inv Investment) (units int64, ok bool) {
	a, r := inv.InvestmentAmount, inv.RemainingAmount
	if a == nil || r == nil || a.Currency != r.Currency || a.Decimals != r.Decimals {
		return 0, false
	}
	total, ok1 := new(big.Int).SetString(a.Amount, 10)
	left, ok2 := new(big.Int).SetString(r.Amount, 10)
	if !ok1 || !ok2 || total.Sign() <= 0 || left.Sign() < 0 || left.Cmp(total) > 0 {
		return 0, false
	}
	n := new(big.Int).Mul(big.NewInt(inv.Units), left)
	n.Quo(n, total)
	return n.Int64(), true
}

// maxHoldingPages bounds the reads of one balance (100 investments a page).
const maxHoldingPages = 20

// Holdings sums an investor's delivered investments per wallet and
// campaign. It reads GET /v2/investments/ page by page, oldest first; an
// investment it cannot attribute or whose remaining part it cannot work out
// makes the whole answer ErrHoldingsIncomplete rather than a wrong number.
func (c *Client) Holdings(ctx context.Context, investorID string) ([]Holding, error) {
	type key struct{ wallet, campaign, product string }
	sums := map[key]*Holding{}
	var order []key
	for page := 1; ; page++ {
		if page > maxHoldingPages {
			return nil, fmt.Errorf("%w: more than %d pages of investments", ErrHoldingsIncomplete, maxHoldingPages)
		}
		p, err := c.ListInvestmentsWhere(ctx, InvestmentFilter{InvestorID: investorID, Page: page, PageSize: 100})
		if err != nil {
			return nil, err
		}
		for _, inv := range p.Results {
			if inv.InvestorID != "" && inv.InvestorID != investorID {
				continue // a list that ignored the filter
			}
			if inv.Status != StatusDelivered {
				continue // not credited yet, or ended without securities
			}
			if inv.Wallet == nil || *inv.Wallet == "" {
				return nil, fmt.Errorf("%w: delivered investment %s names no wallet", ErrHoldingsIncomplete, inv.ID)
			}
			units, ok := RemainingUnits(inv)
			if !ok {
				return nil, fmt.Errorf("%w: investment %s has no comparable investment and remaining amounts", ErrHoldingsIncomplete, inv.ID)
			}
			product, _ := inv.Fields["product_id"].(string)
			k := key{*inv.Wallet, inv.CampaignID, product}
			h := sums[k]
			if h == nil {
				h = &Holding{WalletID: k.wallet, CampaignID: k.campaign, ProductID: k.product}
				sums[k] = h
				order = append(order, k)
			}
			h.Units += units
			h.Investments++
		}
		if p.Next == nil || *p.Next == "" || len(p.Results) == 0 {
			break
		}
	}
	out := make([]Holding, 0, len(order))
	for _, k := range order {
		out = append(out, *sums[k])
	}
	return out, nil
}
