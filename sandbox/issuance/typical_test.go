package issuance

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// typicalQuery is a list query the console sends (2–4 filters with an
// ordering), with the index its count and its page should use.
type typicalQuery struct {
	name       string
	query      string
	countIndex string // "" = don't check the count; "a|b": either
	pageIndex  string
}

// sampleValues are data-dependent values for the typical queries.
type sampleValues struct {
	offering int    // the offering with the most investments
	email    string // the user e-mail of the investor with the most investments
	lastName string // that user's last name, for a search
	ref      string // a reference id
}

func samples(t testing.TB, d *sql.DB) sampleValues {
	t.Helper()
	var s sampleValues
	err := d.QueryRow(`SELECT offering_id FROM iss_investments GROUP BY offering_id ORDER BY count(*) DESC, offering_id LIMIT 1`).Scan(&s.offering)
	if err == nil {
		err = d.QueryRow(`SELECT u.email, u.last_name FROM iss_investments i JOIN iss_investors v ON v.id = i.investor_id
			JOIN iss_users u ON u.id = v.user_id GROUP BY u.id ORDER BY count(*) DESC, u.id LIMIT 1`).Scan(&s.email, &s.lastName)
	}
	if err == nil {
		err = d.QueryRow(`SELECT reference_id FROM iss_investments WHERE id = (SELECT max(id) / 2 FROM iss_investments)`).Scan(&s.ref)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func typicalQueries(s sampleValues) []typicalQuery {
	q := url.QueryEscape
	return []typicalQuery{
		{"offering+status_in, -created_at", fmt.Sprintf("offering=%d&status__in=accepted,invested&ordering=-created_at", s.offering),
			"iss_inv_offering_status_created", "iss_inv_offering_created"},
		{"status+created range, -amount", "status=accepted&created_at__date__gte=2025-01-01&created_at__date__lte=2025-06-30&ordering=-amount",
			"iss_inv_status_created_amount", "iss_inv_status_created_amount"},
		{"offering+payment+amount_gte, -amount", fmt.Sprintf("offering=%d&payment_method=wire&amount__gte=1000&ordering=-amount", s.offering),
			"iss_inv_offering_payment_amount", "iss_inv_offering_payment_amount"},
		{"processed range, -processed_at", "processed_at__isnull=false&processed_at__date__gte=2026-01-01&processed_at__date__lte=2026-03-31&ordering=-processed_at",
			"iss_inv_processed", "iss_inv_processed"},
		{"method+status+updated_gte, updated_at", "requested_payment_method=card&status=started&updated_at__gte=2026-06-01T00:00:00Z&ordering=updated_at",
			"iss_inv_status_updated_method", "iss_inv_status_updated|iss_inv_status_updated_method"},
		{"investor e-mail, default order", "investor__user__email=" + q(s.email), "iss_inv_investor_created", "iss_inv_investor_created"},
		{"reference id", "reference_id=" + q(s.ref), "iss_inv_reference", "iss_inv_reference"},
		{"offering+search, -amount", fmt.Sprintf("offering=%d&search=%s&ordering=-amount", s.offering, q(s.lastName)),
			"iss_inv_offering_investor|iss_inv_investor_created", "iss_inv_offering_investor|iss_inv_investor_created"},
		// The search narrowed by the trigram index (searchindex.go) to the
		// investors of the users it matches.
		{"search, default order", "search=" + q(s.lastName), "iss_inv_investor_created", ""},
		{"investor type+status, default order", "investor__type=trust&status=accepted",
			"iss_inv_type_status_created", "iss_inv_type_status_created"},
		{"status_in+date, default order, page=last", "status__in=accepted,invested,accepted_escrow_closed&created_at__date__gte=2026-01-01&page=last",
			"iss_inv_status_created_amount", "iss_inv_created"},
		// Counting everything reads a whole index (once: counts are cached).
		{"no filter, default order", "", "", "iss_inv_created"},
	}
}

// queryPlans returns SQLite's plans for a list query's count and page.
func queryPlans(t testing.TB, e *Emulator, raw string) (countPlan, pagePlan []string) {
	t.Helper()
	ctx := context.Background()
	q, _ := newQueryParams(raw)
	cq, verrs, err := e.investments.compileList(ctx, q, e, e.filterOpts)
	if err != nil || verrs != nil {
		t.Fatalf("%s: %v %v", raw, err, verrs)
	}
	if err := e.prepareSet(ctx, e.investments, cq); err != nil {
		t.Fatal(err)
	}
	countPlan = explain(t, e.db, "SELECT count(*) FROM iss_investments i"+cq.where, cq.args)
	// The page's ids (fetchPage then reads those rows by primary key).
	pagePlan = explain(t, e.db, "SELECT i.id FROM iss_investments i"+cq.where+" ORDER BY "+cq.order+" LIMIT 20 OFFSET 0", cq.args)
	return countPlan, pagePlan
}

func explain(t testing.TB, d *sql.DB, q string, args []any) []string {
	t.Helper()
	rows, err := d.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		out = append(out, detail)
	}
	return out
}

// investmentAccess is the plan line that reads iss_investments (alias i).
func investmentAccess(plan []string) string {
	for _, l := range plan {
		if strings.HasPrefix(l, "SEARCH i ") || strings.HasPrefix(l, "SCAN i ") || l == "SCAN i" {
			return l
		}
	}
	return ""
}
