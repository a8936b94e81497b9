package cashlink

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
)

// DefaultPeople are seeded when Options.People is empty.
var DefaultPeople = []SeedPerson{
	{Email: "erika.mustermann@example.com", FirstName: "Erika", LastName: "Mustermann"},
	{Email: "max.mustermann@example.com", FirstName: "Max", LastName: "Mustermann"},
	{Email: "jane.doe@example.com", FirstName: "Jane", LastName: "Doe"},
}

// SeedHoldingUnits is the delivered investment every seeded investor
// already holds in the first product, so a redemption right after a credit
// (the guide's last step) finds a balance while the credit is processing.
const SeedHoldingUnits = 1000

type seedProduct struct {
	key, name string
	campaigns []seedCampaign
}

type seedCampaign struct {
	key, name          string
	price, minT, maxT  int64
	active, nat, legal bool
	country, ruleType  string
}

// The products and campaigns (read-only for API users, C-prod). Money is
// EUR with 2 decimals.
var seedProducts = []seedProduct{
	{"green-bond-2030", "Sandbox Green Energy Bond 2030", []seedCampaign{
		{"green-bond-2030/public", "Green Energy Bond 2030 - public offering", 10000, 1, 100000, true, true, true, "DEU", "PUBLIC OFFERING"},
		{"green-bond-2030/tranche-1", "Green Energy Bond 2030 - first tranche (closed)", 9500, 10, 1000, false, true, true, "DEU", "PUBLIC OFFERING"},
	}},
	{"real-estate-note", "Sandbox Real Estate Note", []seedCampaign{
		{"real-estate-note/min-investment", "Real Estate Note - minimum investment", 50000, 20, 2000, true, true, false, "DEU", "MINIMUM INVESTMENT AMOUNT"},
	}},
}

func seededAddress(email string) string {
	s := sha256.Sum256([]byte("cashlink-sandbox:address:" + email))
	return "0x" + hex.EncodeToString(s[:20])
}

// seed inserts what is missing; existing records are left as they are.
func (e *Emulator) seed(ctx context.Context, people []SeedPerson) error {
	tx, err := e.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	now := micros(e.now())
	for _, p := range seedProducts {
		pid := derivedID("product:" + p.key)
		if _, err := tx.ExecContext(ctx, `INSERT INTO cl_products (id, name, currency, decimals) VALUES (?, ?, 'EUR', 2)
			ON CONFLICT (id) DO NOTHING`, pid, p.name); err != nil {
			return err
		}
		for _, c := range p.campaigns {
			if _, err := tx.ExecContext(ctx, `INSERT INTO cl_campaigns (id, product_id, name, price_per_token, min_tokens, max_tokens,
				active, natural_persons_allowed, legal_persons_allowed, country, rule_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (id) DO NOTHING`, derivedID("campaign:"+c.key), pid, c.name, c.price, c.minT, c.maxT,
				c.active, c.nat, c.legal, c.country, c.ruleType); err != nil {
				return err
			}
		}
	}
	holdCampaign := derivedID("campaign:" + seedProducts[0].campaigns[0].key)
	holdProduct := derivedID("product:" + seedProducts[0].key)
	seen := map[string]bool{}
	for _, p := range people {
		email := strings.ToLower(strings.TrimSpace(p.Email))
		if email == "" || seen[email] {
			continue
		}
		seen[email] = true
		inv := derivedID("investor:" + email)
		np := marshal(naturalPerson{Forename: p.FirstName, Surname: p.LastName, Citizenship: "DEU", Country: "DEU"})
		comm := marshal(communication{Email: p.Email, EmailConfirmed: true})
		res, err := tx.ExecContext(ctx, `INSERT INTO cl_investors (id, client_id, email, natural_person, communication, kyc_status, seeded, created_at)
			VALUES (?, ?, ?, ?, ?, 'SUCCESS', 1, ?) ON CONFLICT (id) DO NOTHING`, inv, e.clientID, email, np, comm, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			continue // seeded by an earlier run
		}
		// A seeded person is KYC-complete: it carries the identification a
		// real investor would have posted (A.5), so a credit's identification
		// precondition holds for it as for any identified investor.
		ident := identificationJSON{ID: derivedID("identification:" + email), InvestorID: inv, DocumentType: "IDCARD",
			DocumentID: "SANDBOX-" + strings.ToUpper(derivedID("idcard:" + email)[:8]), DocumentIssuer: "Sandbox",
			DocumentValidTo: "2099-12-31", IdentityProvider: "POSTIDENT", LegitimationProcessID: "sandbox-seed",
			VerifiedAt: formatTime(fromMicros(now)), CreatedAt: formatTime(fromMicros(now))}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cl_identifications (id, investor_id, body, created_at) VALUES (?, ?, ?, ?)`,
			ident.ID, inv, marshal(ident), now); err != nil {
			return fmt.Errorf("identification of %s: %w", email, err)
		}
		addr := seededAddress(email)
		wal := derivedID("wallet:" + email)
		if _, err := tx.ExecContext(ctx, `INSERT INTO cl_wallets (id, investor_id, type, address, address_lc, receiving_enabled, seeded, created_at)
			VALUES (?, ?, 'eth-generic', ?, ?, 1, 1, ?)`, wal, inv, addr, strings.ToLower(addr), now); err != nil {
			return fmt.Errorf("wallet of %s: %w", email, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cl_investments (id, client_id, campaign_id, product_id, investor_id, units, price_per_token,
			wallet_id, signed_at, accepted_at, paid_at, signed_documents, credit_requested_at, deliver_at, seeded, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, (SELECT price_per_token FROM cl_campaigns WHERE id = ?), ?, ?, ?, ?, '[]', ?, ?, 1, ?, ?)`,
			derivedID("holding:"+email), e.clientID, holdCampaign, holdProduct, inv, SeedHoldingUnits, holdCampaign,
			wal, now, now, now, now, now, now, now); err != nil {
			return fmt.Errorf("holding of %s: %w", email, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cl_credits (id, investment_id, wallet_id, units, created_at, deliver_at)
			VALUES (?, ?, ?, ?, ?, ?)`, derivedID("credit:"+email), derivedID("holding:"+email), wal, SeedHoldingUnits, now, now); err != nil {
			return fmt.Errorf("credit of %s: %w", email, err)
		}
	}
	return tx.Commit()
}

// Info is the body of GET /sandbox/cashlink/_info.
type Info struct {
	APIRoot   string         `json:"api_root"`  // the base URL a client is configured with
	TokenURL  string         `json:"token_url"` // api_root + "/oauth/token"
	ClientID  string         `json:"client_id"`
	Scopes    []string       `json:"scopes"`
	Products  []InfoProduct  `json:"products"`
	Campaigns []InfoCampaign `json:"campaigns"`
	Investors []InfoInvestor `json:"investors"`
}

// InfoProduct is a seeded product.
type InfoProduct struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Currency string `json:"currency"`
	Decimals int    `json:"decimals"`
}

// InfoCampaign is a seeded campaign (fields as C-cidp names them).
type InfoCampaign struct {
	ID                    string `json:"id"`
	ProductID             string `json:"product_id"`
	Name                  string `json:"name"`
	PricePerToken         Money  `json:"price_per_token"`
	MinNumberOfTokens     int64  `json:"min_number_of_tokens"`
	MaxNumberOfTokens     int64  `json:"max_number_of_tokens"`
	IsCampaignActive      bool   `json:"is_campaign_active"`
	NaturalPersonsAllowed bool   `json:"natural_persons_allowed"`
	LegalPersonsAllowed   bool   `json:"legal_persons_allowed"`
	Country               string `json:"country"`
	RuleType              string `json:"rule_type"`
}

// InfoInvestor is a seeded investor with its wallets.
type InfoInvestor struct {
	ID        string       `json:"id"`
	Email     string       `json:"email"`
	Forename  string       `json:"forename"`
	Surname   string       `json:"surname"`
	KYCStatus string       `json:"kyc_status"`
	Wallets   []InfoWallet `json:"wallets"`
}

// InfoWallet is a wallet of a seeded investor.
type InfoWallet struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Address string `json:"address"`
}

// Info lists the seeded products, campaigns and investors; apiRoot is
// copied into the answer.
func (e *Emulator) Info(ctx context.Context, apiRoot string) (Info, error) {
	inf := Info{APIRoot: apiRoot, TokenURL: apiRoot + "/oauth/token", ClientID: e.clientID, Scopes: AllScopes,
		Products: []InfoProduct{}, Campaigns: []InfoCampaign{}, Investors: []InfoInvestor{}}
	rows, err := e.db.QueryContext(ctx, `SELECT id, name, currency, decimals FROM cl_products ORDER BY seq`)
	if err != nil {
		return inf, fmt.Errorf("cashlink info: %w", err)
	}
	cur := map[string]InfoProduct{}
	for rows.Next() {
		var p InfoProduct
		if err := rows.Scan(&p.ID, &p.Name, &p.Currency, &p.Decimals); err != nil {
			rows.Close()
			return inf, fmt.Errorf("cashlink info: %w", err)
		}
		inf.Products = append(inf.Products, p)
		cur[p.ID] = p
	}
	rows.Close()
	rows, err = e.db.QueryContext(ctx, `SELECT id, product_id, name, price_per_token, min_tokens, max_tokens, active,
		natural_persons_allowed, legal_persons_allowed, country, rule_type FROM cl_campaigns ORDER BY seq`)
	if err != nil {
		return inf, fmt.Errorf("cashlink info: %w", err)
	}
	for rows.Next() {
		var c InfoCampaign
		var price int64
		if err := rows.Scan(&c.ID, &c.ProductID, &c.Name, &price, &c.MinNumberOfTokens, &c.MaxNumberOfTokens, &c.IsCampaignActive,
			&c.NaturalPersonsAllowed, &c.LegalPersonsAllowed, &c.Country, &c.RuleType); err != nil {
			rows.Close()
			return inf, fmt.Errorf("cashlink info: %w", err)
		}
		p := cur[c.ProductID]
		c.PricePerToken = money(price, p.Decimals, p.Currency)
		inf.Campaigns = append(inf.Campaigns, c)
	}
	rows.Close()
	rows, err = e.db.QueryContext(ctx, `SELECT v.id, v.email, v.natural_person, v.kyc_status, w.id, w.type, w.address
		FROM cl_investors v LEFT JOIN cl_wallets w ON w.investor_id = v.id AND w.seeded = 1
		WHERE v.seeded = 1 ORDER BY v.seq, w.seq`)
	if err != nil {
		return inf, fmt.Errorf("cashlink info: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var iv InfoInvestor
		var np []byte
		var wid, wtype, waddr sql.NullString
		if err := rows.Scan(&iv.ID, &iv.Email, &np, &iv.KYCStatus, &wid, &wtype, &waddr); err != nil {
			return inf, fmt.Errorf("cashlink info: %w", err)
		}
		if n := len(inf.Investors); n > 0 && inf.Investors[n-1].ID == iv.ID {
			inf.Investors[n-1].Wallets = append(inf.Investors[n-1].Wallets, InfoWallet{wid.String, wtype.String, waddr.String})
			continue
		}
		var p naturalPerson
		if err := unmarshalStored(np, &p); err != nil {
			return inf, err
		}
		iv.Forename, iv.Surname = p.Forename, p.Surname
		iv.Wallets = []InfoWallet{}
		if wid.Valid {
			iv.Wallets = append(iv.Wallets, InfoWallet{wid.String, wtype.String, waddr.String})
		}
		inf.Investors = append(inf.Investors, iv)
	}
	return inf, rows.Err()
}

// InfoHandler serves GET /sandbox/cashlink/_info (mount it there, without
// StripPrefix): the seeded ids a client needs, and the API root derived
// from the request's own URL.
func (e *Emulator) InfoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			write(w, detail(http.StatusMethodNotAllowed, fmt.Sprintf("Method %q not allowed.", r.Method)))
			return
		}
		path, _ := requestTarget(r)
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		root := scheme + "://" + r.Host + strings.TrimSuffix(strings.TrimSuffix(path, "/"), "/_info") + "/api/external"
		inf, err := e.Info(r.Context(), root)
		if err != nil {
			write(w, e.failure(r, err))
			return
		}
		write(w, jsonAnswer(http.StatusOK, inf))
	})
}
