package cashlink

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"regexp"
	"strings"
)

type naturalPerson struct {
	Salutation       string `json:"salutation"`
	Forename         string `json:"forename"`
	Surname          string `json:"surname"`
	BirthDate        string `json:"birth_date"`
	BirthPlace       string `json:"birth_place"`
	Citizenship      string `json:"citizenship"`
	Street           string `json:"street"`
	City             string `json:"city"`
	Zip              string `json:"zip"`
	Country          string `json:"country"`
	Phone            string `json:"phone"`
	IsPEP            bool   `json:"is_pep"`
	IsSubjectToUSTax bool   `json:"is_subject_to_us_tax"`
}

type communication struct {
	Email          string `json:"email"`
	EmailConfirmed bool   `json:"email_confirmed"`
}

type bankAccount struct {
	AccountHolder string `json:"account_holder"`
	IBAN          string `json:"iban"`
	BIC           string `json:"bic"`
	Bank          string `json:"bank"`
	Country       string `json:"country"`
	Currency      string `json:"currency"`
}

type taxInformation struct {
	TaxIdentificationNumber  string `json:"tax_identification_number"`
	NonAssessmentCertificate bool   `json:"non_assessment_certificate"`
}

type investorExtra struct {
	BankAccount    *bankAccount    `json:"bank_account,omitempty"`
	TaxInformation *taxInformation `json:"tax_information,omitempty"`
}

// investorJSON is the investor object the API returns (is_beneficiary is
// write-only, C-gist).
type investorJSON struct {
	ID             string          `json:"id"`
	NaturalPerson  naturalPerson   `json:"natural_person"`
	Communication  *communication  `json:"communication"`
	BankAccount    *bankAccount    `json:"bank_account"`
	TaxInformation *taxInformation `json:"tax_information"`
	KYCStatus      string          `json:"kyc_status"`
	CreatedAt      string          `json:"created_at"`
}

var (
	emailRe   = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s.]+$`)
	alpha3Re  = regexp.MustCompile(`^[A-Z]{3}$`)
	addressRe = regexp.MustCompile(`^0x[0-9a-fA-F]{40}$`)
	bicRe     = regexp.MustCompile(`^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$`)
	ibanRe    = regexp.MustCompile(`^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$`)
)

// Salutations accepted (the real enum is not public).
var Salutations = []string{"MR", "MS", "MX"}

func unmarshalStored(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("cashlink: reading a stored record: %w", err)
	}
	return nil
}

// nested reads a nested serializer's object; a wrong type is reported on
// the field.
func nested(obj map[string]any, field string, required bool, er *errs) (map[string]any, bool) {
	v, present := obj[field]
	if !present {
		if required {
			er.add(field, msgRequired)
		}
		return nil, false
	}
	if v == nil {
		if required {
			er.add(field, msgNull)
		}
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		sub := newErrs()
		sub.add("non_field_errors", fmt.Sprintf("Invalid data. Expected a dictionary, but got %s.", pyType(v)))
		er.set(field, sub)
		return nil, false
	}
	return m, true
}

func validIBAN(s string) bool {
	if !ibanRe.MatchString(s) {
		return false
	}
	r := s[4:] + s[:4]
	var digits strings.Builder
	for _, c := range r {
		if c >= 'A' && c <= 'Z' {
			fmt.Fprintf(&digits, "%d", c-'A'+10)
		} else {
			digits.WriteRune(c)
		}
	}
	n, _ := new(big.Int).SetString(digits.String(), 10)
	return new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}

func parseNaturalPerson(m map[string]any) (naturalPerson, *errs) {
	er := newErrs()
	var p naturalPerson
	if s, ok := str(m, "salutation", false, true, er); ok && s != "" {
		if !contains(Salutations, s) {
			er.add("salutation", fmt.Sprintf(msgNotAChoice, s))
		}
		p.Salutation = s
	}
	p.Forename, _ = str(m, "forename", true, false, er)
	p.Surname, _ = str(m, "surname", true, false, er)
	if s, ok := str(m, "birth_date", false, true, er); ok && s != "" {
		if !validDate(s) {
			er.add("birth_date", msgDate)
		}
		p.BirthDate = s
	}
	p.BirthPlace, _ = str(m, "birth_place", false, true, er)
	for _, f := range []struct {
		name string
		dst  *string
	}{{"citizenship", &p.Citizenship}, {"country", &p.Country}} {
		if s, ok := str(m, f.name, false, true, er); ok && s != "" {
			if !alpha3Re.MatchString(s) {
				er.add(f.name, fmt.Sprintf(msgNotAChoice, s))
			}
			*f.dst = s
		}
	}
	p.Street, _ = str(m, "street", false, true, er)
	p.City, _ = str(m, "city", false, true, er)
	p.Zip, _ = str(m, "zip", false, true, er)
	p.Phone, _ = str(m, "phone", false, true, er)
	p.IsPEP, _ = boolean(m, "is_pep", false, er)
	if us, ok := boolean(m, "is_subject_to_us_tax", true, er); ok && us {
		er.add("is_subject_to_us_tax", "Investors who are subject to US tax cannot be created.")
	}
	return p, er
}

// createInvestor is POST /v2/investors/ (a natural person, A.5).
func (e *Emulator) createInvestor(tx *sql.Tx, rq *request) (answer, error) {
	obj, err := jsonObject(rq)
	if err != nil {
		return answer{}, err
	}
	er := newErrs()
	var np naturalPerson
	if m, ok := nested(obj, "natural_person", true, er); ok {
		var sub *errs
		np, sub = parseNaturalPerson(m)
		if !sub.empty() {
			er.set("natural_person", sub)
		}
	}
	if _, present := obj["legal_person"]; present {
		er.add("legal_person", "Legal persons are not supported by the sandbox; create a natural person.")
	}
	boolean(obj, "is_beneficiary", true, er)
	var comm *communication
	if m, ok := nested(obj, "communication", false, er); ok {
		sub := newErrs()
		c := communication{}
		if s, ok := str(m, "email", true, false, sub); ok {
			if !emailRe.MatchString(s) {
				sub.add("email", "Enter a valid email address.")
			}
			c.Email = s
		}
		c.EmailConfirmed, _ = boolean(m, "email_confirmed", false, sub)
		if !sub.empty() {
			er.set("communication", sub)
		}
		comm = &c
	}
	var extra investorExtra
	if m, ok := nested(obj, "bank_account", false, er); ok {
		sub := newErrs()
		b := bankAccount{}
		b.AccountHolder, _ = str(m, "account_holder", false, true, sub)
		if s, ok := str(m, "iban", true, false, sub); ok {
			s = strings.ToUpper(strings.ReplaceAll(s, " ", ""))
			if !validIBAN(s) {
				sub.add("iban", "Enter a valid IBAN.")
			}
			b.IBAN = s
		}
		if s, ok := str(m, "bic", true, false, sub); ok {
			if !bicRe.MatchString(s) {
				sub.add("bic", "Enter a valid BIC.")
			}
			b.BIC = s
		}
		b.Bank, _ = str(m, "bank", false, true, sub)
		b.Country, _ = str(m, "country", false, true, sub)
		if s, ok := str(m, "currency", true, false, sub); ok {
			if s != "EUR" {
				sub.add("currency", fmt.Sprintf(msgNotAChoice, s))
			}
			b.Currency = s
		}
		if !sub.empty() {
			er.set("bank_account", sub)
		}
		extra.BankAccount = &b
	}
	if m, ok := nested(obj, "tax_information", false, er); ok {
		sub := newErrs()
		t := taxInformation{}
		t.TaxIdentificationNumber, _ = str(m, "tax_identification_number", false, true, sub)
		t.NonAssessmentCertificate, _ = boolean(m, "non_assessment_certificate", false, sub)
		if !sub.empty() {
			er.set("tax_information", sub)
		}
		extra.TaxInformation = &t
	}
	if err := er.err(); err != nil {
		return answer{}, err
	}
	id := newID()
	now := e.now()
	kyc := KYCPending
	if e.Settings().IdentifyOnCreate {
		kyc = KYCSuccess
	}
	var commJSON any
	email := ""
	if comm != nil {
		commJSON = marshal(comm)
		email = strings.ToLower(comm.Email)
	}
	if _, err := tx.ExecContext(rq.ctx, `INSERT INTO cl_investors (id, client_id, email, natural_person, communication, extra, kyc_status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, rq.clientID, email, marshal(np), commJSON, marshal(extra), kyc, micros(now)); err != nil {
		return answer{}, fmt.Errorf("insert investor: %w", err)
	}
	inv, err := e.loadInvestor(tx, rq, id)
	if err != nil {
		return answer{}, err
	}
	return jsonAnswer(http.StatusCreated, inv), nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// q is the transaction when there is one, else the database.
func (e *Emulator) q(tx *sql.Tx) querier {
	if tx != nil {
		return tx
	}
	return e.db
}

// loadInvestor reads an investor of the caller's client; unknown → 404.
func (e *Emulator) loadInvestor(tx *sql.Tx, rq *request, rawID string) (investorJSON, error) {
	id := canonicalUUID(rawID)
	var inv investorJSON
	var np, extra []byte
	var comm []byte
	var created int64
	err := e.q(tx).QueryRowContext(rq.ctx, `SELECT id, natural_person, communication, extra, kyc_status, created_at
		FROM cl_investors WHERE id = ? AND client_id = ?`, id, rq.clientID).Scan(&inv.ID, &np, &comm, &extra, &inv.KYCStatus, &created)
	if errors.Is(err, sql.ErrNoRows) || id == "" {
		return inv, notFound()
	}
	if err != nil {
		return inv, fmt.Errorf("load investor: %w", err)
	}
	if err := unmarshalStored(np, &inv.NaturalPerson); err != nil {
		return inv, err
	}
	if comm != nil {
		inv.Communication = &communication{}
		if err := unmarshalStored(comm, inv.Communication); err != nil {
			return inv, err
		}
	}
	var x investorExtra
	if err := unmarshalStored(extra, &x); err != nil {
		return inv, err
	}
	inv.BankAccount, inv.TaxInformation = x.BankAccount, x.TaxInformation
	inv.CreatedAt = formatTime(fromMicros(created))
	return inv, nil
}

// getInvestor is GET /v2/investors/{id}/.
func (e *Emulator) getInvestor(tx *sql.Tx, rq *request) (answer, error) {
	inv, err := e.loadInvestor(tx, rq, rq.ids[0])
	if err != nil {
		return answer{}, err
	}
	return jsonAnswer(http.StatusOK, inv), nil
}

// Identification document types accepted (IDCARD from C-np-copy; PASSPORT INF).
var DocumentTypes = []string{"IDCARD", "PASSPORT"}

type identificationJSON struct {
	ID                     string  `json:"id"`
	InvestorID             string  `json:"investor_id"`
	DocumentType           string  `json:"document_type"`
	DocumentID             string  `json:"document_id"`
	DocumentIssuer         string  `json:"document_issuer"`
	DocumentValidFrom      *string `json:"document_valid_from"`
	DocumentValidTo        string  `json:"document_valid_to"`
	IdentityProvider       string  `json:"identity_provider"`
	LegitimationProcessID  string  `json:"legitimation_process_id"`
	LegitimationProtocolID *string `json:"legitimation_protocol_id"`
	VerifiedAt             string  `json:"verified_at"`
	CreatedAt              string  `json:"created_at"`
}

// createIdentification is POST /v2/investors/{id}/identifications/: it
// completes the investor's KYC.
func (e *Emulator) createIdentification(tx *sql.Tx, rq *request) (answer, error) {
	inv, err := e.loadInvestor(tx, rq, rq.ids[0])
	if err != nil {
		return answer{}, err
	}
	obj, err := jsonObject(rq)
	if err != nil {
		return answer{}, err
	}
	er := newErrs()
	out := identificationJSON{ID: newID(), InvestorID: inv.ID}
	if s, ok := str(obj, "document_type", true, false, er); ok {
		if !contains(DocumentTypes, s) {
			er.add("document_type", fmt.Sprintf(msgNotAChoice, s))
		}
		out.DocumentType = s
	}
	out.DocumentID, _ = str(obj, "document_id", true, false, er)
	out.DocumentIssuer, _ = str(obj, "document_issuer", false, true, er)
	if s, ok := str(obj, "document_valid_from", false, true, er); ok && s != "" {
		if !validDate(s) {
			er.add("document_valid_from", msgDate)
		}
		out.DocumentValidFrom = &s
	}
	if s, ok := str(obj, "document_valid_to", true, false, er); ok {
		if !validDate(s) {
			er.add("document_valid_to", msgDate)
		} else if s < e.now().UTC().Format("2006-01-02") {
			er.add("document_valid_to", "The identity document has expired.")
		}
		out.DocumentValidTo = s
	}
	out.IdentityProvider, _ = str(obj, "identity_provider", true, false, er)
	out.LegitimationProcessID, _ = str(obj, "legitimation_process_id", false, true, er)
	if id, ok := uuidField(obj, "legitimation_protocol_id", false, er); ok {
		var n int
		if err := tx.QueryRowContext(rq.ctx, `SELECT count(*) FROM cl_documents WHERE id = ? AND client_id = ?`, id, rq.clientID).Scan(&n); err != nil {
			return answer{}, err
		}
		if n == 0 {
			er.add("legitimation_protocol_id", fmt.Sprintf(msgInvalidPK, id))
		}
		out.LegitimationProtocolID = &id
	}
	if t, ok := dateTime(obj, "verified_at", true, er); ok {
		out.VerifiedAt = formatTime(t)
	}
	if err := er.err(); err != nil {
		return answer{}, err
	}
	now := e.now()
	out.CreatedAt = formatTime(now)
	if _, err := tx.ExecContext(rq.ctx, `INSERT INTO cl_identifications (id, investor_id, body, created_at) VALUES (?, ?, ?, ?)`,
		out.ID, inv.ID, marshal(out), micros(now)); err != nil {
		return answer{}, fmt.Errorf("insert identification: %w", err)
	}
	if _, err := tx.ExecContext(rq.ctx, `UPDATE cl_investors SET kyc_status = 'SUCCESS' WHERE id = ?`, inv.ID); err != nil {
		return answer{}, fmt.Errorf("update KYC: %w", err)
	}
	return jsonAnswer(http.StatusCreated, out), nil
}

type walletJSON struct {
	ID               string `json:"id"`
	InvestorID       string `json:"investor_id"`
	Type             string `json:"type"`
	Address          string `json:"address"`
	ReceivingEnabled bool   `json:"receiving_enabled"`
	CreatedAt        string `json:"created_at"`
}

const walletColumns = `id, investor_id, type, address, receiving_enabled, created_at`

func scanWallet(sc interface{ Scan(...any) error }) (walletJSON, error) {
	var w walletJSON
	var created int64
	if err := sc.Scan(&w.ID, &w.InvestorID, &w.Type, &w.Address, &w.ReceivingEnabled, &created); err != nil {
		return w, err
	}
	w.CreatedAt = formatTime(fromMicros(created))
	return w, nil
}

// listWallets is GET /v2/investors/{id}/wallets/: a bare JSON array, oldest
// first (the seed's script reads len(r.json()) and [0]['id']).
func (e *Emulator) listWallets(tx *sql.Tx, rq *request) (answer, error) {
	inv, err := e.loadInvestor(tx, rq, rq.ids[0])
	if err != nil {
		return answer{}, err
	}
	rows, err := e.db.QueryContext(rq.ctx, `SELECT `+walletColumns+` FROM cl_wallets WHERE investor_id = ? ORDER BY seq`, inv.ID)
	if err != nil {
		return answer{}, err
	}
	defer rows.Close()
	list := []walletJSON{}
	for rows.Next() {
		w, err := scanWallet(rows)
		if err != nil {
			return answer{}, err
		}
		list = append(list, w)
	}
	if err := rows.Err(); err != nil {
		return answer{}, err
	}
	return jsonAnswer(http.StatusOK, list), nil
}

// walletInvestor loads the investor of a wallet creation and checks its KYC.
func (e *Emulator) walletInvestor(tx *sql.Tx, rq *request) (investorJSON, error) {
	inv, err := e.loadInvestor(tx, rq, rq.ids[0])
	if err != nil {
		return inv, err
	}
	if inv.KYCStatus != KYCSuccess {
		return inv, nonField("The investor has no successful KYC; wallets can only be created for identified investors.")
	}
	return inv, nil
}

func (e *Emulator) insertWallet(tx *sql.Tx, rq *request, investorID, typ, address string, receiving bool) (answer, error) {
	id := newID()
	if _, err := tx.ExecContext(rq.ctx, `INSERT INTO cl_wallets (id, investor_id, type, address, address_lc, receiving_enabled, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, id, investorID, typ, address, strings.ToLower(address), receiving, micros(e.now())); err != nil {
		return answer{}, fmt.Errorf("insert wallet: %w", err)
	}
	w, err := scanWallet(tx.QueryRowContext(rq.ctx, `SELECT `+walletColumns+` FROM cl_wallets WHERE id = ?`, id))
	if err != nil {
		return answer{}, err
	}
	return jsonAnswer(http.StatusCreated, w), nil
}

// createGenericWallet is POST /v2/investors/{id}/wallets/eth-generic/
// {"address": "0x…", "receiving_enabled": true}.
func (e *Emulator) createGenericWallet(tx *sql.Tx, rq *request) (answer, error) {
	inv, err := e.walletInvestor(tx, rq)
	if err != nil {
		return answer{}, err
	}
	obj, err := jsonObject(rq)
	if err != nil {
		return answer{}, err
	}
	er := newErrs()
	addr, ok := str(obj, "address", true, false, er)
	if ok && !addressRe.MatchString(addr) {
		er.add("address", "Enter a valid Ethereum address: 0x followed by 40 hexadecimal digits.")
		ok = false
	}
	if ok {
		var n int
		if err := tx.QueryRowContext(rq.ctx, `SELECT count(*) FROM cl_wallets WHERE address_lc = ?`, strings.ToLower(addr)).Scan(&n); err != nil {
			return answer{}, err
		}
		if n > 0 {
			er.add("address", "A wallet with this address already exists; an address belongs to one investor.")
		}
	}
	receiving := true
	if b, ok := boolean(obj, "receiving_enabled", false, er); ok {
		receiving = b
	}
	if err := er.err(); err != nil {
		return answer{}, err
	}
	return e.insertWallet(tx, rq, inv.ID, "eth-generic", addr, receiving)
}

// createManagedWallet is POST /v2/investors/{id}/wallets/eth-managed/ (no
// body; any body is ignored): at most one per investor, address generated.
func (e *Emulator) createManagedWallet(tx *sql.Tx, rq *request) (answer, error) {
	inv, err := e.walletInvestor(tx, rq)
	if err != nil {
		return answer{}, err
	}
	var n int
	if err := tx.QueryRowContext(rq.ctx, `SELECT count(*) FROM cl_wallets WHERE investor_id = ? AND type = 'eth-managed'`, inv.ID).Scan(&n); err != nil {
		return answer{}, err
	}
	if n > 0 {
		return answer{}, nonField("The investor already has a managed wallet; an investor can have at most one.")
	}
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return answer{}, err
	}
	return e.insertWallet(tx, rq, inv.ID, "eth-managed", "0x"+hex.EncodeToString(b[:]), true)
}
