package importer

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// CatalogError is a campaign or product entry the console refuses.
type CatalogError struct{ Field, Msg string }

func (e *CatalogError) Error() string { return e.Field + ": " + e.Msg }

var (
	uuidRe     = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	currencyRe = regexp.MustCompile(`^[A-Z]{3}$`)
	priceRe    = regexp.MustCompile(`^\d{1,12}(\.\d{1,6})?$`)
)

// Catalog reads what the console keeps of Cashlink: campaigns and products,
// and the investors it knows by e-mail.
func (s *Store) Catalog(ctx context.Context) (Catalog, error) {
	var cat Catalog
	rows, err := s.db.QueryContext(ctx, `SELECT kind, id, label, currency, price_per_unit, product_id, active, coalesce(min_units, 0),
		coalesce(max_units, 0) FROM cashlink_catalog ORDER BY kind, rowid` /* in the order entered */)
	if err != nil {
		return cat, fmt.Errorf("catalog: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind string
		var it CatalogItem
		var active sql.NullBool
		if err := rows.Scan(&kind, &it.ID, &it.Name, &it.Currency, &it.PricePerUnit, &it.Parent, &active, &it.MinUnits, &it.MaxUnits); err != nil {
			return cat, err
		}
		if active.Valid {
			it.Active = &active.Bool
		}
		if kind == "campaign" {
			cat.Campaigns = append(cat.Campaigns, it)
		} else {
			cat.Products = append(cat.Products, it)
		}
	}
	if err := rows.Err(); err != nil {
		return cat, err
	}
	// Investors: those recorded, then those mapped from an Issuance
	// investor whose e-mail an import row carried.
	inv, err := s.db.QueryContext(ctx, `SELECT id, email, name, wallets FROM cashlink_investors
		UNION ALL
		SELECT DISTINCT m.cashlink_investor, r.investor_email, r.investor_name, 0 FROM investor_mappings m
		JOIN import_rows r ON r.issuance_investor = m.issuance_investor
		WHERE r.investor_email != '' AND m.cashlink_investor NOT IN (SELECT id FROM cashlink_investors)`)
	if err != nil {
		return cat, fmt.Errorf("catalog: %w", err)
	}
	defer inv.Close()
	seen := map[string]bool{}
	for inv.Next() {
		var ci CatalogInvestor
		if err := inv.Scan(&ci.ID, &ci.Email, &ci.Name, &ci.Wallets); err != nil {
			return cat, err
		}
		if k := ci.ID + "\x00" + strings.ToLower(ci.Email); !seen[k] {
			seen[k] = true
			cat.Investors = append(cat.Investors, ci)
		}
	}
	return cat, inv.Err()
}

// ParseCampaignTerms reads a campaign's state ("open", "closed", "" not
// recorded) and units per investment ("" not recorded) as an admin typed
// them from Cashlink Studio.
func ParseCampaignTerms(it *CatalogItem, state, minUnits, maxUnits string) error {
	switch strings.TrimSpace(state) {
	case "":
	case "open", "closed":
		open := strings.TrimSpace(state) == "open"
		it.Active = &open
	default:
		return &CatalogError{"state", "must be open, closed or not recorded"}
	}
	for _, f := range []struct {
		name, v string
		dst     *int64
	}{{"min_units", minUnits, &it.MinUnits}, {"max_units", maxUnits, &it.MaxUnits}} {
		if strings.TrimSpace(f.v) == "" {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(f.v), 10, 64)
		if err != nil || n <= 0 {
			return &CatalogError{f.name, "must be a positive whole number of units"}
		}
		*f.dst = n
	}
	if it.MinUnits > 0 && it.MaxUnits > 0 && it.MinUnits > it.MaxUnits {
		return &CatalogError{"min_units", "must not exceed the maximum"}
	}
	return nil
}

// SaveCatalogItem adds or replaces a campaign or product ("campaign",
// "product") entered by an admin.
func (s *Store) SaveCatalogItem(ctx context.Context, kind string, it CatalogItem) error {
	it.ID, it.Name = strings.ToLower(strings.TrimSpace(it.ID)), strings.TrimSpace(it.Name)
	it.Currency, it.PricePerUnit = strings.ToUpper(strings.TrimSpace(it.Currency)), strings.TrimSpace(it.PricePerUnit)
	it.Parent = strings.ToLower(strings.TrimSpace(it.Parent))
	switch {
	case kind != "campaign" && kind != "product":
		return &CatalogError{"kind", "must be campaign or product"}
	case !uuidRe.MatchString(it.ID):
		return &CatalogError{"id", "must be a Cashlink id (a UUID such as 3f2b…-…), as Cashlink Studio shows it"}
	case it.Name == "":
		return &CatalogError{"label", "is required"}
	case it.Currency != "" && !currencyRe.MatchString(it.Currency):
		return &CatalogError{"currency", "must be a three-letter code such as EUR"}
	case it.PricePerUnit != "" && !priceRe.MatchString(it.PricePerUnit):
		return &CatalogError{"price_per_unit", "must be a decimal number such as 1.00"}
	case it.Parent != "" && !uuidRe.MatchString(it.Parent):
		return &CatalogError{"product_id", "must be a Cashlink id (a UUID)"}
	}
	return s.putCatalogItem(ctx, s.db, kind, it, "manual")
}

func (s *Store) putCatalogItem(ctx context.Context, x execer, kind string, it CatalogItem, source string) error {
	var active, minU, maxU any
	if it.Active != nil {
		active = *it.Active
	}
	if it.MinUnits > 0 {
		minU = it.MinUnits
	}
	if it.MaxUnits > 0 {
		maxU = it.MaxUnits
	}
	_, err := x.ExecContext(ctx, `INSERT INTO cashlink_catalog (kind, id, label, currency, price_per_unit, product_id, source, created_at,
		active, min_units, max_units)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET label = excluded.label, currency = excluded.currency,
		price_per_unit = excluded.price_per_unit, product_id = excluded.product_id, source = excluded.source,
		active = excluded.active, min_units = excluded.min_units, max_units = excluded.max_units`,
		kind, it.ID, it.Name, it.Currency, it.PricePerUnit, it.Parent, source, s.now().UnixMilli(), active, minU, maxU)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	return nil
}

// ErrNoCatalogItem means there was nothing to delete.
var ErrNoCatalogItem = errors.New("no such campaign or product")

// DeleteCatalogItem removes a campaign or product (jobs keep the id they use).
func (s *Store) DeleteCatalogItem(ctx context.Context, kind, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM cashlink_catalog WHERE kind = ? AND id = ?`, kind, id)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNoCatalogItem
	}
	return nil
}

// RememberInvestor records a Cashlink investor the console created (so
// later imports match it by e-mail).
func (s *Store) RememberInvestor(ctx context.Context, inv CatalogInvestor, source string) error {
	return s.rememberInvestor(ctx, s.db, inv, source)
}

func (s *Store) rememberInvestor(ctx context.Context, x execer, inv CatalogInvestor, source string) error {
	_, err := x.ExecContext(ctx, `INSERT INTO cashlink_investors (id, email, name, wallets, source, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, wallets = excluded.wallets`,
		inv.ID, strings.TrimSpace(inv.Email), inv.Name, inv.Wallets, source, s.now().UnixMilli())
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	return nil
}

// PrefillCatalog stores a catalog once, in one transaction (the sandbox's
// seeded campaigns, products and investors); a console that has any entry
// keeps its own.
func (s *Store) PrefillCatalog(ctx context.Context, cat Catalog) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM cashlink_catalog) + (SELECT count(*) FROM cashlink_investors)`).Scan(&n); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	if n > 0 {
		// The sandbox's campaigns keep their state and limits current (a
		// console prefilled before they were recorded gets them now); what
		// an admin entered stays as entered.
		for _, c := range cat.Campaigns {
			var active any
			if c.Active != nil {
				active = *c.Active
			}
			if _, err := tx.ExecContext(ctx, `UPDATE cashlink_catalog SET active = ?, min_units = nullif(?, 0), max_units = nullif(?, 0)
				WHERE kind = 'campaign' AND id = ? AND source = 'sandbox'`, active, c.MinUnits, c.MaxUnits, c.ID); err != nil {
				return fmt.Errorf("catalog: %w", err)
			}
		}
		return tx.Commit()
	}
	for _, p := range cat.Products {
		if err := s.putCatalogItem(ctx, tx, "product", p, "sandbox"); err != nil {
			return err
		}
	}
	for _, c := range cat.Campaigns {
		if err := s.putCatalogItem(ctx, tx, "campaign", c, "sandbox"); err != nil {
			return err
		}
	}
	for _, i := range cat.Investors {
		if err := s.rememberInvestor(ctx, tx, i, "sandbox"); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("catalog: %w", err)
	}
	return nil
}
