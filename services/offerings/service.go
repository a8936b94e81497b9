package offerings

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"issuerconsole/services/issuance"
)

// Service reads offerings and their investments through the Issuance client.
type Service struct {
	client *issuance.Client
	now    func() time.Time
	// Parallel bounds concurrent page fetches when loading an offering's
	// investments.
	Parallel int
}

// New returns a service.
func New(client *issuance.Client, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{client: client, now: now, Parallel: 4}
}

// Attention is an investment that needs a look, with the reasons.
type Attention struct {
	Investment issuance.Investment
	Reasons    []string
}

// Overview is everything the offering page shows.
type Overview struct {
	Offering  issuance.Offering
	Funnel    Funnel
	Attention []Attention
	AsOf      time.Time
	Calls     int // API calls it took
}

// pageSize for loading every investment of an offering (the API's maximum).
const pageSize = 100

// Overview loads an offering and all its investments, and the filtered
// lists that feed the attention list (watchlist hits and failed KYC are
// not fields of the investment, only filters).
func (s *Service) Overview(ctx context.Context, id int64) (Overview, error) {
	o, err := s.client.GetOffering(ctx, id)
	if err != nil {
		return Overview{}, err
	}
	ov := Overview{Offering: o, Calls: 1}
	invs, calls, err := s.investments(ctx, url.Values{"offering": {strconv.FormatInt(id, 10)}})
	ov.Calls += calls
	if err != nil {
		return Overview{}, err
	}
	ov.Funnel = Compute(o, invs)

	reasons := map[int64][]string{}
	byID := map[int64]issuance.Investment{}
	for _, inv := range invs {
		byID[inv.ID] = inv
		if inv.ProcessingIssueStatuses != "" {
			reasons[inv.ID] = append(reasons[inv.ID], "processing issues: "+strings.ReplaceAll(inv.ProcessingIssueStatuses, ",", ", "))
		}
		if inv.Status == issuance.StatusPaymentFailed {
			reasons[inv.ID] = append(reasons[inv.ID], "payment failed")
		}
	}
	for _, q := range []struct {
		param, value, reason string
	}{
		{"watchlistentity__has_hits", "true", "watchlist hits"},
		{"investor__entity__kyc_status", "failed", "KYC failed"},
	} {
		hits, calls, err := s.investments(ctx, url.Values{"offering": {strconv.FormatInt(id, 10)}, q.param: {q.value}})
		ov.Calls += calls
		if err != nil {
			return Overview{}, err
		}
		for _, inv := range hits {
			if _, ok := byID[inv.ID]; !ok {
				byID[inv.ID] = inv
			}
			reasons[inv.ID] = append(reasons[inv.ID], q.reason)
		}
	}
	for id, rs := range reasons {
		ov.Attention = append(ov.Attention, Attention{Investment: byID[id], Reasons: rs})
	}
	sort.Slice(ov.Attention, func(i, j int) bool { return ov.Attention[i].Investment.ID > ov.Attention[j].Investment.ID })
	ov.AsOf = s.now().UTC()
	return ov, nil
}

// investments loads every page of a query: the first page gives the count,
// the rest are fetched with bounded concurrency.
func (s *Service) investments(ctx context.Context, q url.Values) ([]issuance.Investment, int, error) {
	q.Set("page_size", strconv.Itoa(pageSize))
	q.Set("ordering", "id")
	first, err := s.client.ListInvestmentsQuery(ctx, q)
	if err != nil {
		return nil, 1, err
	}
	pages := (first.Count + pageSize - 1) / pageSize
	out := make([][]issuance.Investment, max(pages, 1))
	out[0] = first.Results
	var mu sync.Mutex
	calls := 1
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(s.Parallel, 1))
	for p := 2; p <= pages; p++ {
		g.Go(func() error {
			pq := url.Values{}
			for k, v := range q {
				pq[k] = v
			}
			pq.Set("page", strconv.Itoa(p))
			page, err := s.client.ListInvestmentsQuery(gctx, pq)
			mu.Lock()
			calls++
			mu.Unlock()
			if err != nil {
				return fmt.Errorf("page %d of %d: %w", p, pages, err)
			}
			out[p-1] = page.Results
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, calls, err
	}
	var all []issuance.Investment
	for _, p := range out {
		all = append(all, p...)
	}
	return all, calls, nil
}
