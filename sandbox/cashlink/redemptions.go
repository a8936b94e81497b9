package cashlink

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

type allocationJSON struct {
	InvestmentID string `json:"investment_id"`
	Units        int64  `json:"units"`
}

type redemptionJSON struct {
	ID          string           `json:"id"`
	InvestorID  string           `json:"investor_id"`
	ProductID   string           `json:"product_id"`
	WalletID    string           `json:"wallet_id"`
	Units       int64            `json:"units"`
	Status      string           `json:"status"` // processing, then success, failed or unknown
	Allocations []allocationJSON `json:"allocations"`
	CreatedAt   string           `json:"created_at"`
}

// createRedemption is POST /v2/redemptions/ {"investor_id", "product_id",
// "wallet_id", "units"}: it burns units of the product from the wallet,
// consuming the investor's delivered investments in it first in, first out
// (by creation). An insufficient balance is a 400.
func (e *Emulator) createRedemption(tx *sql.Tx, rq *request) (answer, error) {
	obj, err := jsonObject(rq)
	if err != nil {
		return answer{}, err
	}
	ctx := rq.ctx
	er := newErrs()
	investorID, investorOK := uuidField(obj, "investor_id", true, er)
	if investorOK {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM cl_investors WHERE id = ? AND client_id = ?`, investorID, rq.clientID).Scan(&n); err != nil {
			return answer{}, err
		}
		if n == 0 {
			er.add("investor_id", fmt.Sprintf(msgInvalidPK, investorID))
			investorOK = false
		}
	}
	productID, productOK := uuidField(obj, "product_id", true, er)
	if productOK {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM cl_products WHERE id = ?`, productID).Scan(&n); err != nil {
			return answer{}, err
		}
		if n == 0 {
			er.add("product_id", fmt.Sprintf(msgInvalidPK, productID))
		}
	}
	walletID, ok := uuidField(obj, "wallet_id", true, er)
	if ok {
		if msg, err := e.checkWallet(tx, rq, walletID, investorID, investorOK); err != nil {
			return answer{}, err
		} else if msg != "" {
			er.add("wallet_id", msg)
		}
	}
	units, ok := integer(obj, "units", true, er)
	if ok && units < 1 {
		er.add("units", fmt.Sprintf(msgGreaterEq, 1))
	}
	if err := er.err(); err != nil {
		return answer{}, err
	}
	now := e.now()
	nowUS := micros(now)
	// The wallet's delivered holdings of the product, oldest first.
	rows, err := tx.QueryContext(ctx, `SELECT i.id, i.units - `+redeemedSQL+` FROM cl_investments i
		WHERE i.investor_id = :investor AND i.product_id = :product AND i.wallet_id = :wallet
		AND i.forced_status IS NULL AND i.deliver_at IS NOT NULL AND i.deliver_at <= :now ORDER BY i.seq`,
		sql.Named("investor", investorID), sql.Named("product", productID), sql.Named("wallet", walletID), sql.Named("now", nowUS))
	if err != nil {
		return answer{}, err
	}
	var holdings []allocationJSON
	var balance int64
	for rows.Next() {
		var h allocationJSON
		if err := rows.Scan(&h.InvestmentID, &h.Units); err != nil {
			rows.Close()
			return answer{}, err
		}
		if h.Units > 0 {
			holdings = append(holdings, h)
			balance += h.Units
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return answer{}, err
	}
	if balance < units {
		return answer{}, fieldError("units", fmt.Sprintf("Insufficient balance: the wallet holds %d units of this product.", balance))
	}
	settings := e.Settings()
	red := redemptionJSON{ID: newID(), InvestorID: investorID, ProductID: productID, WalletID: walletID, Units: units,
		Status: "processing", CreatedAt: formatTime(now)}
	resolve := now.Add(time.Duration(settings.CreditDelay))
	if !resolve.After(now) {
		red.Status = settings.RedemptionOutcome
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO cl_redemptions (id, client_id, investor_id, product_id, wallet_id, units, outcome, created_at, resolve_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, red.ID, rq.clientID, investorID, productID, walletID, units, settings.RedemptionOutcome,
		nowUS, micros(resolve)); err != nil {
		return answer{}, fmt.Errorf("insert redemption: %w", err)
	}
	left := units
	for _, h := range holdings {
		if left == 0 {
			break
		}
		take := min(left, h.Units)
		if _, err := tx.ExecContext(ctx, `INSERT INTO cl_redemption_parts (redemption_id, investment_id, units) VALUES (?, ?, ?)`,
			red.ID, h.InvestmentID, take); err != nil {
			return answer{}, fmt.Errorf("insert redemption part: %w", err)
		}
		red.Allocations = append(red.Allocations, allocationJSON{h.InvestmentID, take})
		left -= take
	}
	return jsonAnswer(http.StatusCreated, red), nil
}

const redemptionSelect = `SELECT id, investor_id, product_id, wallet_id, units, outcome, created_at, resolve_at FROM cl_redemptions `

func (e *Emulator) scanRedemption(rq *request, sc interface{ Scan(...any) error }, now int64) (redemptionJSON, error) {
	var r redemptionJSON
	var outcome string
	var created, resolve int64
	if err := sc.Scan(&r.ID, &r.InvestorID, &r.ProductID, &r.WalletID, &r.Units, &outcome, &created, &resolve); err != nil {
		return r, err
	}
	r.Status = "processing"
	if resolve <= now {
		r.Status = outcome
	}
	r.CreatedAt = formatTime(fromMicros(created))
	return r, nil
}

func (e *Emulator) allocations(rq *request, id string) ([]allocationJSON, error) {
	rows, err := e.db.QueryContext(rq.ctx, `SELECT p.investment_id, p.units FROM cl_redemption_parts p
		JOIN cl_investments i ON i.id = p.investment_id WHERE p.redemption_id = ? ORDER BY i.seq`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []allocationJSON{}
	for rows.Next() {
		var a allocationJSON
		if err := rows.Scan(&a.InvestmentID, &a.Units); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// getRedemption is GET /v2/redemptions/{id}/.
func (e *Emulator) getRedemption(_ *sql.Tx, rq *request) (answer, error) {
	id := canonicalUUID(rq.ids[0])
	r, err := e.scanRedemption(rq, e.db.QueryRowContext(rq.ctx, redemptionSelect+`WHERE id = ? AND client_id = ?`, id, rq.clientID), micros(e.now()))
	if errors.Is(err, sql.ErrNoRows) || id == "" {
		return answer{}, notFound()
	}
	if err != nil {
		return answer{}, err
	}
	if r.Allocations, err = e.allocations(rq, r.ID); err != nil {
		return answer{}, err
	}
	return jsonAnswer(http.StatusOK, r), nil
}

// listRedemptions is GET /v2/redemptions/: oldest first, paginated,
// optionally filtered by investor_id and product_id.
func (e *Emulator) listRedemptions(_ *sql.Tx, rq *request) (answer, error) {
	q, _ := url.ParseQuery(rq.rawQuery)
	f, err := uuidFilters(q, "investor_id", "product_id")
	if err != nil {
		return answer{}, err
	}
	where := `WHERE client_id = :client`
	args := []any{sql.Named("client", rq.clientID)}
	for _, col := range []string{"investor_id", "product_id"} {
		if v, ok := f[col]; ok {
			where += ` AND ` + col + ` = :` + col
			args = append(args, sql.Named(col, v))
		}
	}
	var count int
	if err := e.db.QueryRowContext(rq.ctx, `SELECT count(*) FROM cl_redemptions `+where, args...).Scan(&count); err != nil {
		return answer{}, err
	}
	page, size, err := pageOf(q, count)
	if err != nil {
		return answer{}, err
	}
	args = append(args, sql.Named("limit", size), sql.Named("offset", (page-1)*size))
	rows, err := e.db.QueryContext(rq.ctx, redemptionSelect+where+` ORDER BY seq LIMIT :limit OFFSET :offset`, args...)
	if err != nil {
		return answer{}, err
	}
	now := micros(e.now())
	results := []redemptionJSON{}
	for rows.Next() {
		r, err := e.scanRedemption(rq, rows, now)
		if err != nil {
			rows.Close()
			return answer{}, err
		}
		results = append(results, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return answer{}, err
	}
	for i := range results {
		if results[i].Allocations, err = e.allocations(rq, results[i].ID); err != nil {
			return answer{}, err
		}
	}
	next, prev := pageLinks(rq, q, page, size, count)
	return jsonAnswer(http.StatusOK, pageJSON{Count: count, Next: next, Previous: prev, Results: results}), nil
}
