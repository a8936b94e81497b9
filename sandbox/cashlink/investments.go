package cashlink

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Investment statuses (A.7).
const (
	StatusKYCPending           = "KYC_PENDING"
	StatusReviewPending        = "REVIEW_PENDING"
	StatusWaitingForAcceptance = "WAITING_FOR_ACCEPTANCE"
	StatusAccepted             = "ACCEPTED"
	StatusPaid                 = "PAID"
	StatusDelivered            = "DELIVERED"
	StatusKYCInsufficient      = "KYC_INSUFFICIENT"
	StatusAbortion             = "ABORTION"
	StatusRejection            = "REJECTION"
	StatusCancellation         = "CANCELLATION"
	StatusPaymentMissing       = "PAYMENT_MISSING"
)

type signedDoc struct {
	DocumentID string `json:"document_id"`
	Category   string `json:"category"`
	Subject    string `json:"subject"`
}

type investmentJSON struct {
	ID               string      `json:"id"`
	CampaignID       string      `json:"campaign_id"`
	ProductID        string      `json:"product_id"`
	InvestorID       string      `json:"investor_id"`
	Status           string      `json:"status"`
	Units            int64       `json:"units"`
	RemainingUnits   int64       `json:"remaining_units"`
	Wallet           *string     `json:"wallet"`
	SignedAt         string      `json:"signed_at"`
	AcceptedAt       *string     `json:"accepted_at"`
	PaidAt           *string     `json:"paid_at"`
	DeliveredAt      *string     `json:"delivered_at"`
	InvestmentAmount Money       `json:"investment_amount"`
	Disagio          Money       `json:"disagio"`
	PaymentTotal     Money       `json:"payment_total"`
	RemainingAmount  Money       `json:"remaining_amount"`
	SignedDocuments  []signedDoc `json:"signed_documents"`
	CreatedAt        string      `json:"created_at"`
}

// investmentStatus is the lifecycle, evaluated lazily at now: a forced
// status wins; a requested credit reads PAID until deliver_at, DELIVERED
// after; otherwise the investor's KYC, then accepted_at and paid_at decide.
func investmentStatus(forced sql.NullString, kyc string, accepted, paid, creditRequested, deliverAt sql.NullInt64, now int64) string {
	switch {
	case forced.Valid:
		return forced.String
	case creditRequested.Valid && deliverAt.Int64 <= now:
		return StatusDelivered
	case creditRequested.Valid:
		return StatusPaid
	case kyc == KYCPending:
		return StatusKYCPending
	case kyc == KYCInsufficient:
		return StatusKYCInsufficient
	case accepted.Valid && paid.Valid:
		return StatusPaid
	case accepted.Valid:
		return StatusAccepted
	}
	return StatusWaitingForAcceptance
}

// redeemedSQL is the units of investment i taken by redemptions that did
// not fail (a failed redemption gives its units back once it resolves).
const redeemedSQL = `(SELECT coalesce(sum(p.units), 0) FROM cl_redemption_parts p JOIN cl_redemptions r ON r.id = p.redemption_id
	WHERE p.investment_id = i.id AND NOT (r.outcome = 'failed' AND r.resolve_at <= :now))`

const investmentSelect = `SELECT i.id, i.campaign_id, i.product_id, i.investor_id, i.units, i.price_per_token, i.wallet_id,
	i.signed_at, i.accepted_at, i.paid_at, i.signed_documents, i.forced_status, i.credit_requested_at, i.deliver_at, i.created_at,
	p.decimals, p.currency, v.kyc_status, ` + redeemedSQL + `
	FROM cl_investments i JOIN cl_products p ON p.id = i.product_id JOIN cl_investors v ON v.id = i.investor_id `

// investmentRow is an investment as stored, with what its status needs.
type investmentRow struct {
	investmentJSON
	forced                     sql.NullString
	creditRequested, deliverAt sql.NullInt64
	kyc                        string
}

func (e *Emulator) scanInvestment(sc interface{ Scan(...any) error }, now int64) (investmentRow, error) {
	var (
		r               investmentRow
		price           int64
		wallet          sql.NullString
		signed, created int64
		accepted, paid  sql.NullInt64
		docs            []byte
		decimals        int
		currency        string
		redeemed        int64
	)
	if err := sc.Scan(&r.ID, &r.CampaignID, &r.ProductID, &r.InvestorID, &r.Units, &price, &wallet, &signed, &accepted, &paid,
		&docs, &r.forced, &r.creditRequested, &r.deliverAt, &created, &decimals, &currency, &r.kyc, &redeemed); err != nil {
		return r, err
	}
	if wallet.Valid {
		r.Wallet = &wallet.String
	}
	r.SignedAt = formatTime(fromMicros(signed))
	r.AcceptedAt, r.PaidAt = timePtr(accepted), timePtr(paid)
	r.Status = investmentStatus(r.forced, r.kyc, accepted, paid, r.creditRequested, r.deliverAt, now)
	if r.Status == StatusDelivered {
		r.DeliveredAt = timePtr(r.deliverAt)
	}
	r.RemainingUnits = r.Units - redeemed
	r.InvestmentAmount = money(r.Units*price, decimals, currency)
	r.Disagio = money(0, decimals, currency)
	r.PaymentTotal = r.InvestmentAmount
	r.RemainingAmount = money(r.RemainingUnits*price, decimals, currency)
	r.SignedDocuments = []signedDoc{}
	if err := unmarshalStored(docs, &r.SignedDocuments); err != nil {
		return r, err
	}
	r.CreatedAt = formatTime(fromMicros(created))
	return r, nil
}

// loadInvestment reads an investment of the caller's client; unknown → 404.
func (e *Emulator) loadInvestment(tx *sql.Tx, rq *request, rawID string) (investmentRow, error) {
	id := canonicalUUID(rawID)
	now := micros(e.now())
	r, err := e.scanInvestment(e.q(tx).QueryRowContext(rq.ctx, investmentSelect+`WHERE i.id = :id AND i.client_id = :client`,
		sql.Named("now", now), sql.Named("id", id), sql.Named("client", rq.clientID)), now)
	if errors.Is(err, sql.ErrNoRows) || id == "" {
		return r, notFound()
	}
	if err != nil {
		return r, fmt.Errorf("load investment: %w", err)
	}
	return r, nil
}

type campaignRow struct {
	id, productID                 string
	price, minTokens, maxTokens   int64
	active, naturalPersonsAllowed bool
}

// createInvestment is POST /v2/investments/ (A.7): the import of a signed
// investment.
func (e *Emulator) createInvestment(tx *sql.Tx, rq *request) (answer, error) {
	obj, err := jsonObject(rq)
	if err != nil {
		return answer{}, err
	}
	ctx := rq.ctx
	er := newErrs()
	var camp *campaignRow
	if id, ok := uuidField(obj, "campaign_id", true, er); ok {
		c := campaignRow{id: id}
		err := tx.QueryRowContext(ctx, `SELECT product_id, price_per_token, min_tokens, max_tokens, active, natural_persons_allowed
			FROM cl_campaigns WHERE id = ?`, id).Scan(&c.productID, &c.price, &c.minTokens, &c.maxTokens, &c.active, &c.naturalPersonsAllowed)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			er.add("campaign_id", fmt.Sprintf(msgInvalidPK, id))
		case err != nil:
			return answer{}, err
		case !c.active:
			er.add("campaign_id", "The campaign is not active; investments can only be created in an active campaign.")
		case !c.naturalPersonsAllowed:
			er.add("campaign_id", "The campaign does not accept natural persons.")
		default:
			camp = &c
		}
	}
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
	units, ok := integer(obj, "units", true, er)
	if ok {
		switch {
		case units < 1:
			er.add("units", fmt.Sprintf(msgGreaterEq, 1))
		case camp != nil && units < camp.minTokens:
			er.add("units", fmt.Sprintf(msgGreaterEq, camp.minTokens)+" (the campaign's minimum number of tokens)")
		case camp != nil && units > camp.maxTokens:
			er.add("units", fmt.Sprintf(msgLessEq, camp.maxTokens)+" (the campaign's maximum number of tokens)")
		}
	}
	var signedAt time.Time
	if _, present := obj["signed_at"]; !present {
		// C-wbs: omitting signed_at starts a web-based subscription where it
		// is enabled, "else you will receive an error response".
		er.add("signed_at", "This field is required: web-based subscription is not enabled for this platform, so investments must be imported with signed_at.")
	} else {
		signedAt, _ = dateTime(obj, "signed_at", true, er)
	}
	optTime := func(field string) sql.NullInt64 {
		if v, present := obj[field]; !present || v == nil {
			return sql.NullInt64{}
		}
		t, ok := dateTime(obj, field, false, er)
		return sql.NullInt64{Int64: micros(t), Valid: ok}
	}
	acceptedAt, paidAt := optTime("accepted_at"), optTime("paid_at")
	var wallet sql.NullString
	if v, present := obj["wallet"]; present && v != nil {
		if id, ok := uuidField(obj, "wallet", false, er); ok {
			if msg, err := e.checkWallet(tx, rq, id, investorID, investorOK); err != nil {
				return answer{}, err
			} else if msg != "" {
				er.add("wallet", msg)
			} else {
				wallet = sql.NullString{String: id, Valid: true}
			}
		}
	}
	docs, err := e.signedDocuments(tx, rq, obj, er)
	if err != nil {
		return answer{}, err
	}
	if err := er.err(); err != nil {
		return answer{}, err
	}
	id := newID()
	now := micros(e.now())
	if _, err := tx.ExecContext(ctx, `INSERT INTO cl_investments (id, client_id, campaign_id, product_id, investor_id, units, price_per_token,
		wallet_id, signed_at, accepted_at, paid_at, signed_documents, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, rq.clientID, camp.id, camp.productID, investorID, units, camp.price, wallet, micros(signedAt), acceptedAt, paidAt,
		marshal(docs), now, now); err != nil {
		return answer{}, fmt.Errorf("insert investment: %w", err)
	}
	inv, err := e.loadInvestment(tx, rq, id)
	if err != nil {
		return answer{}, err
	}
	return jsonAnswer(http.StatusCreated, inv.investmentJSON), nil
}

// checkWallet says what is wrong with a wallet for an investor ("" = fine).
func (e *Emulator) checkWallet(tx *sql.Tx, rq *request, walletID, investorID string, investorKnown bool) (string, error) {
	var owner string
	err := e.q(tx).QueryRowContext(rq.ctx, `SELECT investor_id FROM cl_wallets WHERE id = ?`, walletID).Scan(&owner)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Sprintf(msgInvalidPK, walletID), nil
	case err != nil:
		return "", err
	case investorKnown && owner != investorID:
		return "The wallet does not belong to the investor.", nil
	}
	return "", nil
}

// signedDocuments validates signed_documents: a non-empty list of
// {document_id, category, subject} referencing this client's documents.
func (e *Emulator) signedDocuments(tx *sql.Tx, rq *request, obj map[string]any, er *errs) ([]signedDoc, error) {
	v, present := obj["signed_documents"]
	if !present {
		er.add("signed_documents", msgRequired)
		return nil, nil
	}
	list, ok := v.([]any)
	switch {
	case v == nil:
		er.add("signed_documents", msgNull)
		return nil, nil
	case !ok:
		er.add("signed_documents", fmt.Sprintf("Expected a list of items but got type %q.", pyType(v)))
		return nil, nil
	case len(list) == 0:
		er.add("signed_documents", msgEmptyList)
		return nil, nil
	}
	items := make([]*errs, len(list))
	docs := make([]signedDoc, 0, len(list))
	failed := false
	for i, it := range list {
		sub := newErrs()
		items[i] = sub
		m, ok := it.(map[string]any)
		if !ok {
			sub.add("non_field_errors", fmt.Sprintf("Invalid data. Expected a dictionary, but got %s.", pyType(it)))
			failed = true
			continue
		}
		var d signedDoc
		if id, ok := uuidField(m, "document_id", true, sub); ok {
			var n int
			if err := tx.QueryRowContext(rq.ctx, `SELECT count(*) FROM cl_documents WHERE id = ? AND client_id = ?`, id, rq.clientID).Scan(&n); err != nil {
				return nil, err
			}
			if n == 0 {
				sub.add("document_id", fmt.Sprintf(msgInvalidPK, id))
			}
			d.DocumentID = id
		}
		d.Category, _ = str(m, "category", true, false, sub)
		d.Subject, _ = str(m, "subject", true, false, sub)
		if !sub.empty() {
			failed = true
		}
		docs = append(docs, d)
	}
	if failed {
		er.set("signed_documents", items)
	}
	return docs, nil
}

// getInvestment is GET /v2/investments/{id}/.
func (e *Emulator) getInvestment(tx *sql.Tx, rq *request) (answer, error) {
	inv, err := e.loadInvestment(tx, rq, rq.ids[0])
	if err != nil {
		return answer{}, err
	}
	return jsonAnswer(http.StatusOK, inv.investmentJSON), nil
}

// Page sizes of the paginated lists (DRF PageNumberPagination).
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

type pageJSON struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  any     `json:"results"`
}

// pageOf reads page and page_size as DRF does: a bad page is a 404
// "Invalid page.", a bad page_size the default, a big one the maximum.
func pageOf(q url.Values, count int) (page, size int, err error) {
	size = DefaultPageSize
	if s, err := strconv.Atoi(q.Get("page_size")); err == nil && s > 0 {
		size = min(s, MaxPageSize)
	}
	pages := max(1, (count+size-1)/size)
	switch p := q.Get("page"); p {
	case "":
		page = 1
	case "last":
		page = pages
	default:
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > pages {
			return 0, 0, &apiError{detail(http.StatusNotFound, "Invalid page.")}
		}
		page = n
	}
	return page, size, nil
}

// pageLinks builds next/previous as DRF's replace_query_param does
// (parameters sorted, page replaced; previous of page 2 drops page).
func pageLinks(rq *request, q url.Values, page, size, count int) (next, prev *string) {
	link := func(p int) *string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = []string{vs[len(vs)-1]}
		}
		if p == 1 {
			v.Del("page")
		} else {
			v.Set("page", strconv.Itoa(p))
		}
		s := rq.base
		if enc := v.Encode(); enc != "" {
			s += "?" + enc
		}
		return &s
	}
	if page*size < count {
		next = link(page + 1)
	}
	if page > 1 {
		prev = link(page - 1)
	}
	return next, prev
}

// uuidFilters reads optional UUID query filters; a bad value is a 400.
func uuidFilters(q url.Values, names ...string) (map[string]string, error) {
	out := map[string]string{}
	er := newErrs()
	for _, n := range names {
		if v := q.Get(n); v != "" {
			if id := canonicalUUID(v); id != "" {
				out[n] = id
			} else {
				er.add(n, msgUUID)
			}
		}
	}
	return out, er.err()
}

// listInvestments is GET /v2/investments/: this client's investments, oldest
// first, paginated, optionally filtered by investor_id, campaign_id and
// product_id.
func (e *Emulator) listInvestments(tx *sql.Tx, rq *request) (answer, error) {
	q, _ := url.ParseQuery(rq.rawQuery)
	f, err := uuidFilters(q, "investor_id", "campaign_id", "product_id")
	if err != nil {
		return answer{}, err
	}
	where := `WHERE i.client_id = :client`
	args := []any{sql.Named("client", rq.clientID)}
	for _, col := range []string{"investor_id", "campaign_id", "product_id"} {
		if v, ok := f[col]; ok {
			where += ` AND i.` + col + ` = :` + col
			args = append(args, sql.Named(col, v))
		}
	}
	var count int
	if err := e.db.QueryRowContext(rq.ctx, `SELECT count(*) FROM cl_investments i `+where, args...).Scan(&count); err != nil {
		return answer{}, err
	}
	page, size, err := pageOf(q, count)
	if err != nil {
		return answer{}, err
	}
	now := micros(e.now())
	args = append(args, sql.Named("now", now), sql.Named("limit", size), sql.Named("offset", (page-1)*size))
	rows, err := e.db.QueryContext(rq.ctx, investmentSelect+where+` ORDER BY i.seq LIMIT :limit OFFSET :offset`, args...)
	if err != nil {
		return answer{}, err
	}
	defer rows.Close()
	results := []investmentJSON{}
	for rows.Next() {
		r, err := e.scanInvestment(rows, now)
		if err != nil {
			return answer{}, err
		}
		results = append(results, r.investmentJSON)
	}
	if err := rows.Err(); err != nil {
		return answer{}, err
	}
	next, prev := pageLinks(rq, q, page, size, count)
	return jsonAnswer(http.StatusOK, pageJSON{Count: count, Next: next, Previous: prev, Results: results}), nil
}

// patchable are the fields PATCH /v2/investments/{id}/ changes; the other
// fields of the investment are refused, unknown fields ignored (DRF).
var immutableInvestmentFields = []string{"id", "campaign_id", "product_id", "investor_id", "units", "remaining_units", "signed_at",
	"signed_documents", "status", "delivered_at", "investment_amount", "disagio", "payment_total", "remaining_amount", "created_at"}

// patchInvestment is PATCH /v2/investments/{id}/: wallet, paid_at and
// accepted_at (the last stands in for the issuer's acceptance in Studio).
func (e *Emulator) patchInvestment(_ *sql.Tx, rq *request) (answer, error) {
	tx, err := e.db.BeginTx(rq.ctx, nil)
	if err != nil {
		return answer{}, err
	}
	defer tx.Rollback()
	inv, err := e.loadInvestment(tx, rq, rq.ids[0])
	if err != nil {
		return answer{}, err
	}
	obj, err := jsonObject(rq)
	if err != nil {
		return answer{}, err
	}
	er := newErrs()
	for _, f := range immutableInvestmentFields {
		if _, ok := obj[f]; ok {
			er.add(f, "This field cannot be changed after the investment was created.")
		}
	}
	if err := er.err(); err != nil {
		return answer{}, err
	}
	switch inv.Status {
	case StatusKYCInsufficient, StatusAbortion, StatusRejection, StatusCancellation, StatusPaymentMissing:
		return answer{}, nonField(fmt.Sprintf("The investment is in the final status %s and can no longer be changed.", inv.Status))
	}
	credited := inv.creditRequested.Valid
	sets := map[string]any{}
	if v, present := obj["wallet"]; present {
		if v == nil {
			er.add("wallet", msgNull)
		} else if id, ok := uuidField(obj, "wallet", true, er); ok {
			switch msg, err := e.checkWallet(tx, rq, id, inv.InvestorID, true); {
			case err != nil:
				return answer{}, err
			case msg != "":
				er.add("wallet", msg)
			case credited && (inv.Wallet == nil || *inv.Wallet != id):
				er.add("wallet", "The wallet cannot be changed after the credit was requested.")
			default:
				sets["wallet_id"] = id
			}
		}
	}
	for _, f := range []struct{ field, col string }{{"accepted_at", "accepted_at"}, {"paid_at", "paid_at"}} {
		v, present := obj[f.field]
		if !present {
			continue
		}
		if credited {
			er.add(f.field, "This date cannot be changed after the credit was requested.")
			continue
		}
		if v == nil {
			sets[f.col] = nil
			continue
		}
		if t, ok := dateTime(obj, f.field, true, er); ok {
			sets[f.col] = micros(t)
		}
	}
	if err := er.err(); err != nil {
		return answer{}, err
	}
	for col, v := range sets { // col is one of our own column names
		if _, err := tx.ExecContext(rq.ctx, `UPDATE cl_investments SET `+col+` = ?, updated_at = ? WHERE id = ?`, v, micros(e.now()), inv.ID); err != nil {
			return answer{}, fmt.Errorf("patch investment: %w", err)
		}
	}
	inv, err = e.loadInvestment(tx, rq, inv.ID)
	if err != nil {
		return answer{}, err
	}
	if err := tx.Commit(); err != nil {
		return answer{}, err
	}
	return jsonAnswer(http.StatusOK, inv.investmentJSON), nil
}

type creditJSON struct {
	ID           string  `json:"id"`
	InvestmentID string  `json:"investment_id"`
	Wallet       string  `json:"wallet"`
	Units        int64   `json:"units"`
	Status       string  `json:"status"` // processing, then success
	CreatedAt    string  `json:"created_at"`
	DeliveredAt  *string `json:"delivered_at"`
}

// createCredit is POST /v2/investments/{id}/credits/ (no body; any body is
// ignored): it mints the investment's units to its wallet. It answers 202:
// the investment reads DELIVERED once the credit delay has passed.
func (e *Emulator) createCredit(tx *sql.Tx, rq *request) (answer, error) {
	inv, err := e.loadInvestment(tx, rq, rq.ids[0])
	if err != nil {
		return answer{}, err
	}
	if inv.creditRequested.Valid {
		if inv.Status == StatusDelivered {
			return answer{}, nonField("The digital securities of this investment have already been credited.")
		}
		return answer{}, nonField("A credit of this investment is already being processed.")
	}
	// The investor must be identified and hold a wallet (A.6, A.8: a credit
	// mints to a wallet, and wallets exist only for identified investors).
	// Said in words before the status, which would only read KYC_PENDING.
	if inv.kyc != KYCSuccess {
		return answer{}, nonField(fmt.Sprintf("The investor has no successful identification (KYC %s): post an identification (POST /v2/investors/{id}/identifications/) before requesting the credit.", inv.kyc))
	}
	var wallets int
	if err := tx.QueryRowContext(rq.ctx, `SELECT count(*) FROM cl_wallets WHERE investor_id = ?`, inv.InvestorID).Scan(&wallets); err != nil {
		return answer{}, err
	}
	if wallets == 0 {
		return answer{}, nonField("The investor has no wallet: create one (POST /v2/investors/{id}/wallets/eth-managed/ or eth-generic/) and set it on the investment before requesting the credit.")
	}
	if inv.Status != StatusPaid {
		return answer{}, nonField(fmt.Sprintf("Only accepted and paid investments can be credited; this investment is %s.", inv.Status))
	}
	if inv.Wallet == nil {
		return answer{}, nonField("The investment has no wallet: set it (PATCH the investment's wallet) before requesting the credit.")
	}
	var receiving bool
	if err := tx.QueryRowContext(rq.ctx, `SELECT receiving_enabled FROM cl_wallets WHERE id = ?`, *inv.Wallet).Scan(&receiving); err != nil {
		return answer{}, err
	}
	if !receiving {
		return answer{}, nonField("The investment's wallet does not accept incoming transfers (receiving_enabled is false).")
	}
	now := e.now()
	deliver := now.Add(time.Duration(e.Settings().CreditDelay))
	cr := creditJSON{ID: newID(), InvestmentID: inv.ID, Wallet: *inv.Wallet, Units: inv.Units, Status: "processing", CreatedAt: formatTime(now)}
	if _, err := tx.ExecContext(rq.ctx, `INSERT INTO cl_credits (id, investment_id, wallet_id, units, created_at, deliver_at) VALUES (?, ?, ?, ?, ?, ?)`,
		cr.ID, inv.ID, cr.Wallet, cr.Units, micros(now), micros(deliver)); err != nil {
		return answer{}, fmt.Errorf("insert credit: %w", err)
	}
	if _, err := tx.ExecContext(rq.ctx, `UPDATE cl_investments SET credit_requested_at = ?, deliver_at = ?, updated_at = ? WHERE id = ?`,
		micros(now), micros(deliver), micros(now), inv.ID); err != nil {
		return answer{}, fmt.Errorf("update investment: %w", err)
	}
	if !deliver.After(now) { // no delay: delivered at once
		cr.Status, cr.DeliveredAt = "success", timePtr(sql.NullInt64{Int64: micros(deliver), Valid: true})
	}
	return jsonAnswer(http.StatusAccepted, cr), nil
}
