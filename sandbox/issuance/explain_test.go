package issuance

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestTypicalQueriesUseIndexes asserts with EXPLAIN QUERY PLAN that each
// typical console query reads iss_investments through the index meant for
// it, never by a full table scan; it fails if someone drops or changes an
// index. (The plans at this size are the ones the 1,000,000-investment
// benchmark logs.)
func TestTypicalQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	e, err := Open(context.Background(), openDB(t), Options{Investments: 20_000})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range typicalQueries(samples(t, e.db)) {
		t.Run(q.name, func(t *testing.T) {
			countPlan, pagePlan := queryPlans(t, e, q.query)
			for _, c := range []struct {
				what  string
				plan  []string
				index string
			}{{"count", countPlan, q.countIndex}, {"page", pagePlan, q.pageIndex}} {
				if c.index == "" {
					continue
				}
				access := investmentAccess(c.plan)
				if access == "" || access == "SCAN i" {
					t.Errorf("%s: a full scan of iss_investments: %q", c.what, c.plan)
					continue
				}
				if !slices.ContainsFunc(strings.Split(c.index, "|"), func(index string) bool {
					return strings.Contains(access, " "+index+" ") || strings.HasSuffix(access, " "+index)
				}) {
					t.Errorf("%s: %q, want index %s (plan %q)", c.what, access, c.index, c.plan)
				}
			}
		})
	}
}
