package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/cashlink"
)

// Redemption is a redemption requested through the console.
type Redemption struct {
	ID                      int64
	Investor, Product       string
	Wallet                  string
	Units                   int64
	RequestedBy             int64
	RequestedAt, UpdatedAt  time.Time
	CashlinkID, Status, Err string
}

// NeedsInvestigation reports the outcomes a person must look into in
// Cashlink: never retried blindly.
func (r Redemption) NeedsInvestigation() bool {
	return r.Status == cashlink.RedemptionUnknown || r.Status == "no_answer"
}

// Redeemer is what redemptions need of Cashlink.
type Redeemer interface {
	CreateRedemption(ctx context.Context, key cashlink.Key, in cashlink.NewRedemption) (cashlink.Redemption, error)
}

// RequestRedemption records the request, then sends it once under the
// ledger with a key derived from the request's id. A 5xx or timeout is
// retried by the client with the same key; if no answer comes at all, the
// request is marked "no_answer": check again (same key, same body) or
// investigate, but never send a new request for the same units.
func (e *Engine) RequestRedemption(ctx context.Context, reg Redeemer, by int64, in cashlink.NewRedemption) (Redemption, error) {
	if strings.TrimSpace(in.InvestorID) == "" || strings.TrimSpace(in.ProductID) == "" || strings.TrimSpace(in.WalletID) == "" || in.Units <= 0 {
		return Redemption{}, fmt.Errorf("investor, product, wallet and a positive number of units are required")
	}
	now := e.opt.Now().UnixMilli()
	res, err := e.st.db.ExecContext(ctx, `INSERT INTO redemptions (investor, product, wallet, units, requested_by, requested_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, in.InvestorID, in.ProductID, in.WalletID, in.Units, by, now, now)
	if err != nil {
		return Redemption{}, fmt.Errorf("record redemption: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return Redemption{}, fmt.Errorf("record redemption: %w", err)
	}
	return e.SendRedemption(ctx, reg, id)
}

// SendRedemption sends (or re-sends, with the same key and body) a
// recorded redemption and stores what Cashlink answered.
func (e *Engine) SendRedemption(ctx context.Context, reg Redeemer, id int64) (Redemption, error) {
	r, err := e.Redemption(ctx, id)
	if err != nil {
		return r, err
	}
	if r.Status != "requested" && r.Status != "no_answer" {
		return r, fmt.Errorf("redemption %d has an answer already (%s); it is not sent again", id, r.Status)
	}
	install, err := e.st.InstallationID(ctx)
	if err != nil {
		return r, err
	}
	in := cashlink.NewRedemption{InvestorID: r.Investor, ProductID: r.Product, WalletID: r.Wallet, Units: r.Units}
	body, err := cashlink.Body(in)
	if err != nil {
		return r, err
	}
	key := cashlink.Key(fmt.Sprintf("ic-%s-redemption%d", install, id))
	var red cashlink.Redemption
	_, err = e.ledgered(ctx, key, 0, 0, "redemption", body, func(k cashlink.Key) (string, error) {
		var err error
		red, err = reg.CreateRedemption(ctx, k, in)
		return red.ID, err
	})
	status, msg := red.Status, ""
	switch {
	case err == nil && status == "":
		status = cashlink.RedemptionProcessing
	case err != nil && apiclient.Classify(err) == apiclient.Rejected:
		status, msg = "rejected", FriendlyError("redemption", err)
	case err != nil:
		status, msg = "no_answer", "No answer from Cashlink ("+err.Error()+"). The redemption may or may not exist: check in Cashlink before anything else; \"Check again\" re-sends the same request with the same key, which cannot redeem twice."
	}
	_, dberr := e.st.db.ExecContext(context.WithoutCancel(ctx), `UPDATE redemptions SET cashlink_id = ?, status = ?, error = ?, updated_at = ? WHERE id = ?`,
		red.ID, status, msg, e.opt.Now().UnixMilli(), id)
	if dberr != nil {
		return r, dberr
	}
	out, gerr := e.Redemption(ctx, id)
	if gerr != nil {
		return out, gerr
	}
	return out, err
}

// RedemptionReader reads a redemption back from Cashlink.
type RedemptionReader interface {
	GetRedemption(ctx context.Context, id string) (cashlink.Redemption, error)
}

// maxRefresh bounds the reads one page view makes.
const maxRefresh = 20

// RefreshRedemptions reads back the redemptions Cashlink is still
// processing and stores how they ended. It only reads: a redemption
// without an answer ("no_answer") is left for a person to check again.
// It returns the redemptions whose status changed; a failed read leaves
// the stored status as it was and is returned as the error.
func (e *Engine) RefreshRedemptions(ctx context.Context, reg RedemptionReader) ([]Redemption, error) {
	ids, err := e.redemptionIDs(ctx, `SELECT id FROM redemptions WHERE status = ? AND cashlink_id != '' ORDER BY id LIMIT ?`,
		cashlink.RedemptionProcessing, maxRefresh)
	if err != nil {
		return nil, err
	}
	var changed []Redemption
	var errs []error
	for _, id := range ids {
		r, err := e.Redemption(ctx, id)
		if err != nil {
			return changed, err
		}
		got, err := reg.GetRedemption(ctx, r.CashlinkID)
		if err != nil {
			errs = append(errs, fmt.Errorf("redemption %d: %w", id, err))
			continue
		}
		if got.Status == r.Status || got.Status == "" {
			continue
		}
		msg := ""
		switch got.Status {
		case cashlink.RedemptionFailed:
			msg = "Cashlink reports the redemption failed: the units were not redeemed."
		case cashlink.RedemptionUnknown:
			msg = "Cashlink cannot tell whether the redemption happened. Do not redeem again: contact Cashlink support with the Cashlink id."
		}
		if _, err := e.st.db.ExecContext(ctx, `UPDATE redemptions SET status = ?, error = ?, updated_at = ? WHERE id = ? AND status = ?`,
			got.Status, msg, e.opt.Now().UnixMilli(), id, r.Status); err != nil {
			return changed, fmt.Errorf("store redemption %d status: %w", id, err)
		}
		r.Status, r.Err = got.Status, msg
		changed = append(changed, r)
	}
	return changed, errors.Join(errs...)
}

// Redemption returns one recorded redemption.
func (e *Engine) Redemption(ctx context.Context, id int64) (Redemption, error) {
	var r Redemption
	var req, upd int64
	err := e.st.db.QueryRowContext(ctx, `SELECT id, investor, product, wallet, units, requested_by, requested_at, cashlink_id, status, error, updated_at
		FROM redemptions WHERE id = ?`, id).Scan(&r.ID, &r.Investor, &r.Product, &r.Wallet, &r.Units, &r.RequestedBy, &req, &r.CashlinkID, &r.Status, &r.Err, &upd)
	if errors.Is(err, sql.ErrNoRows) {
		return r, ErrNotFound
	}
	r.RequestedAt, r.UpdatedAt = time.UnixMilli(req).UTC(), time.UnixMilli(upd).UTC()
	return r, err
}

// Redemptions lists the latest redemptions.
func (e *Engine) Redemptions(ctx context.Context, limit int) ([]Redemption, error) {
	ids, err := e.redemptionIDs(ctx, `SELECT id FROM redemptions ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	var out []Redemption
	for _, id := range ids {
		r, err := e.Redemption(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// redemptionIDs runs a query of redemption ids (read whole before the
// caller queries again: SQLite holds a connection per open result).
func (e *Engine) redemptionIDs(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := e.st.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list redemptions: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// --- Choosing what to redeem

// FindInvestors returns the Cashlink investors the console knows (the
// API lists none, see Catalog) whose name or e-mail contains q, ignoring
// case, at most limit of them. A q that is a Cashlink id matches that id.
func (e *Engine) FindInvestors(ctx context.Context, q string, limit int) ([]CatalogInvestor, error) {
	q = strings.ToLower(strings.TrimSpace(q))
	if q == "" {
		return nil, nil
	}
	cat, err := e.st.Catalog(ctx)
	if err != nil {
		return nil, err
	}
	var out []CatalogInvestor
	seen := map[string]bool{}
	for _, inv := range cat.Investors {
		if seen[inv.ID] {
			continue // the same investor under a second e-mail: the first is enough
		}
		if strings.Contains(strings.ToLower(inv.Name), q) || strings.Contains(strings.ToLower(inv.Email), q) || strings.EqualFold(inv.ID, q) {
			seen[inv.ID] = true
			out = append(out, inv)
			if len(out) == limit {
				break
			}
		}
	}
	return out, nil
}

// HoldingsReader is what choosing a redemption needs of Cashlink.
type HoldingsReader interface {
	GetInvestor(ctx context.Context, id string) (cashlink.Investor, error)
	ListWallets(ctx context.Context, investorID string) ([]cashlink.Wallet, error)
	Holdings(ctx context.Context, investorID string) ([]cashlink.Holding, error)
}

// RedeemChoice is one product in one of the investor's wallets.
type RedeemChoice struct {
	ProductID, ProductName string
	Wallet                 cashlink.Wallet
	Units                  int64 // the balance, when Known
	Known                  bool  // false: it could not be read; Cashlink checks it when the redemption is sent
}

// Value identifies the choice in a form ("product wallet").
func (c RedeemChoice) Value() string { return c.ProductID + " " + c.Wallet.ID }

// RedeemOptions is what an investor can redeem.
type RedeemOptions struct {
	Investor CatalogInvestor
	Choices  []RedeemChoice // with a balance first
	// BalanceErr says why no balance is known (Choices then all !Known).
	BalanceErr error
}

// Choice finds a choice by its form value.
func (o RedeemOptions) Choice(value string) (RedeemChoice, bool) {
	for _, c := range o.Choices {
		if c.Value() == value {
			return c, true
		}
	}
	return RedeemChoice{}, false
}

// ErrUnknownInvestor means Cashlink does not know the investor id.
var ErrUnknownInvestor = errors.New("cashlink does not know this investor")

// RedeemOptionsFor reads the investor's wallets and holdings from Cashlink
// and names the products from the console's catalog: one choice per
// product in each wallet. Cashlink has no balance endpoint: the balance is
// the sum of the delivered investments' remaining parts
// (cashlink.Holdings); when that cannot be read, every choice says the
// balance is unknown and BalanceErr says why, rather than showing a guess.
func (e *Engine) RedeemOptionsFor(ctx context.Context, reg HoldingsReader, investorID string) (RedeemOptions, error) {
	var o RedeemOptions
	cat, err := e.st.Catalog(ctx)
	if err != nil {
		return o, err
	}
	for _, inv := range cat.Investors {
		if strings.EqualFold(inv.ID, investorID) {
			o.Investor = inv
			break
		}
	}
	if o.Investor.ID == "" {
		got, err := reg.GetInvestor(ctx, investorID)
		if errors.Is(err, apiclient.ErrNotFound) {
			return o, ErrUnknownInvestor
		}
		if err != nil {
			return o, err
		}
		o.Investor = CatalogInvestor{ID: got.ID}
		if np := got.NaturalPerson; np != nil {
			o.Investor.Name = strings.TrimSpace(np.Forename + " " + np.Surname)
		}
		if got.Communication != nil {
			o.Investor.Email = got.Communication.Email
		}
	}
	wallets, err := reg.ListWallets(ctx, o.Investor.ID)
	if err != nil {
		return o, err
	}
	productName := map[string]string{}
	var products []string
	for _, p := range cat.Products {
		productName[p.ID] = p.Name
		products = append(products, p.ID)
	}
	campaignProduct := map[string]string{}
	for _, c := range cat.Campaigns {
		campaignProduct[c.ID] = c.Parent
	}
	held := map[string]int64{} // "product wallet" → units
	holdings, herr := reg.Holdings(ctx, o.Investor.ID)
	if herr == nil {
		for _, h := range holdings {
			p := h.ProductID
			if p == "" {
				p = campaignProduct[h.CampaignID]
			}
			if p == "" {
				herr = fmt.Errorf("%w: the console does not know the product of campaign %s (add it in Settings → Cashlink campaigns and products)",
					cashlink.ErrHoldingsIncomplete, h.CampaignID)
				break
			}
			if _, ok := productName[p]; !ok {
				productName[p] = ""
				products = append(products, p)
			}
			held[p+" "+h.WalletID] += h.Units
		}
	}
	o.BalanceErr = herr
	for _, w := range wallets {
		for _, p := range products {
			c := RedeemChoice{ProductID: p, ProductName: productName[p], Wallet: w, Known: herr == nil}
			if c.Known {
				c.Units = held[c.Value()]
			}
			o.Choices = append(o.Choices, c)
		}
	}
	sort.SliceStable(o.Choices, func(i, j int) bool { return o.Choices[i].Units > o.Choices[j].Units })
	return o, nil
}

// RedemptionInputError is a redemption refused before anything is sent;
// Field names the input ("investor", "holding", "units", "confirm").
type RedemptionInputError struct{ Field, Msg string }

func (e *RedemptionInputError) Error() string { return e.Field + ": " + e.Msg }

// BalanceError is a redemption of more units than the wallet holds.
type BalanceError struct {
	Asked, Balance int64
	Choice         RedeemChoice
}

func (e *BalanceError) Error() string {
	return fmt.Sprintf("%d units asked, the wallet holds %d of the product", e.Asked, e.Balance)
}

// CheckRedemption checks a redemption against what the investor holds,
// before it is sent: the product and wallet must be one of the investor's
// choices, and the units within its balance when the balance is known
// (when it is not, Cashlink's own check is the only one).
func CheckRedemption(o RedeemOptions, value string, units int64) (cashlink.NewRedemption, error) {
	c, ok := o.Choice(value)
	switch {
	case !ok:
		return cashlink.NewRedemption{}, &RedemptionInputError{"holding", "Choose a product and wallet of this investor."}
	case units <= 0:
		return cashlink.NewRedemption{}, &RedemptionInputError{"units", "Units must be a positive whole number."}
	case c.Known && units > c.Units:
		return cashlink.NewRedemption{}, &BalanceError{Asked: units, Balance: c.Units, Choice: c}
	}
	return cashlink.NewRedemption{InvestorID: o.Investor.ID, ProductID: c.ProductID, WalletID: c.Wallet.ID, Units: units}, nil
}

// RejectedInput names the input a refusal by Cashlink is about, from its
// field errors ("" = the request as a whole).
func RejectedInput(err error) string {
	var ae *apiclient.Error
	if !errors.As(err, &ae) {
		return ""
	}
	switch {
	case len(ae.Fields["units"]) > 0:
		return "units"
	case len(ae.Fields["wallet_id"]) > 0, len(ae.Fields["product_id"]) > 0:
		return "holding"
	case len(ae.Fields["investor_id"]) > 0:
		return "investor"
	}
	return ""
}
