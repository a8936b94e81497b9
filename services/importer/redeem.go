package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
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
