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

// Service reads offerings and their investments through the Issuance client,
// keeping the answers for a short while (Options.TTL) and sharing one
// load among concurrent requests for the same offering.
type Service struct {
	client *issuance.Client
	now    func() time.Time
	// Parallel bounds concurrent page fetches when loading an offering's
	// investments, and concurrent summaries for a list of offerings.
	Parallel int

	scope     string // the client's visibility: part of every cache key
	offers    *cache[issuance.Offering]
	overviews *cache[Overview]
	summaries *cache[Committed]
	lists     *cache[[]issuance.Offering]
}

// Options tune the cache.
type Options struct {
	// TTL is how long an answer is reused (the page says "as of" when);
	// 0 turns reuse off (concurrent requests still share one load).
	TTL time.Duration
	// MaxOfferings bounds the offerings (and their overviews) kept;
	// summaries are kept for eight times as many.
	MaxOfferings int
	// Unshared turns the sharing of concurrent loads off too, with TTL 0:
	// the benchmarks' baseline, the console before this cache.
	Unshared bool
}

// DefaultTTL is short: the page is a live view, and a refresh is one click.
const DefaultTTL = 30 * time.Second

// New returns a service with the default cache.
func New(client *issuance.Client, now func() time.Time) *Service {
	return NewWithOptions(client, now, Options{TTL: DefaultTTL, MaxOfferings: 256})
}

// NewWithOptions returns a service with the given cache.
func NewWithOptions(client *issuance.Client, now func() time.Time, o Options) *Service {
	if now == nil {
		now = time.Now
	}
	n := max(o.MaxOfferings, 1)
	s := &Service{client: client, now: now, Parallel: 4, scope: client.Visibility(),
		offers: newCache[issuance.Offering](o.TTL, n, now), overviews: newCache[Overview](o.TTL, n, now),
		summaries: newCache[Committed](o.TTL, 8*n, now), lists: newCache[[]issuance.Offering](o.TTL, 1, now)}
	for _, c := range []interface{ setUnshared(bool) }{s.offers, s.overviews, s.summaries, s.lists} {
		c.setUnshared(o.Unshared)
	}
	return s
}

// Close cancels the loads in progress and waits for them (their calls write
// audit rows); none starts afterwards.
func (s *Service) Close() {
	s.offers.close()
	s.overviews.close()
	s.summaries.close()
	s.lists.close()
}

func (s *Service) key(kind string, id any) string { return fmt.Sprintf("%s|%s|%v", s.scope, kind, id) }

// Offering is GET /api/offerings/{id}/, kept like the rest: the page's frame
// and its money share one call.
func (s *Service) Offering(ctx context.Context, id int64) (issuance.Offering, time.Time, error) {
	return s.offers.get(ctx, s.key("offering", id), func(ctx context.Context) (issuance.Offering, error) {
		return s.client.GetOffering(ctx, id)
	})
}

// All is every offering the console's keys see (every page), kept like
// the rest: the dashboard's totals add these up.
func (s *Service) All(ctx context.Context) ([]issuance.Offering, time.Time, error) {
	return s.lists.get(ctx, s.key("all", ""), func(ctx context.Context) ([]issuance.Offering, error) {
		var out []issuance.Offering
		for page := 1; ; page++ {
			q := url.Values{"ordering": {"id"}, "page_size": {strconv.Itoa(pageSize)}, "page": {strconv.Itoa(page)}}
			p, err := s.client.ListOfferingsQuery(ctx, q)
			if err != nil {
				return nil, err
			}
			out = append(out, p.Results...)
			if len(p.Results) == 0 || len(out) >= p.Count {
				return out, nil
			}
		}
	})
}

// TTL is how long answers are kept (0: not kept).
func (s *Service) TTL() time.Duration { return s.offers.ttl }

// MinRefreshAge is the age under which a refresh keeps the answer it has:
// pressed twice, or by several people at once, it costs one load.
const MinRefreshAge = 2 * time.Second

// Refresh drops what is kept about an offering (unless it is younger than
// MinRefreshAge), so the next view reads the API again.
func (s *Service) Refresh(id int64) {
	s.offers.forget(s.key("offering", id), MinRefreshAge)
	s.overviews.forget(s.key("overview", id), MinRefreshAge)
	s.summaries.forget(s.key("committed", id), MinRefreshAge)
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
	AsOf      time.Time // when the API was read (kept answers are older than the page)
	Calls     int       // API calls it took
}

// pageSize for loading every investment of an offering (the API's maximum).
const pageSize = 100

// Overview is an offering with the money counted from all its investments,
// kept for the TTL; concurrent requests share one load.
func (s *Service) Overview(ctx context.Context, id int64) (Overview, error) {
	ov, _, err := s.overviews.get(ctx, s.key("overview", id), func(ctx context.Context) (Overview, error) {
		return s.loadOverview(ctx, id)
	})
	return ov, err
}

// loadOverview reads an offering (kept, so the frame's call serves here
// too), all its investments, and the filtered lists that feed the
// attention list (watchlist hits and failed KYC are not fields of the
// investment, only filters), the three lists at once.
func (s *Service) loadOverview(ctx context.Context, id int64) (Overview, error) {
	asOf := s.now().UTC()
	calls := 1
	if _, _, kept := s.offers.peek(s.key("offering", id)); kept {
		calls = 0
	}
	o, _, err := s.Offering(ctx, id)
	if err != nil {
		return Overview{}, err
	}
	ov := Overview{Offering: o, AsOf: asOf, Calls: calls}
	idq := strconv.FormatInt(id, 10)
	lists := []struct {
		param, value, reason string
		invs                 []issuance.Investment
		calls                int
	}{
		{param: "offering", value: idq},
		{"watchlistentity__has_hits", "true", "watchlist hits", nil, 0},
		{"investor__entity__kyc_status", "failed", "KYC failed", nil, 0},
	}
	g, gctx := errgroup.WithContext(ctx)
	for i := range lists {
		g.Go(func() error {
			q := url.Values{"offering": {idq}}
			q.Set(lists[i].param, lists[i].value)
			var err error
			lists[i].invs, lists[i].calls, err = s.investments(gctx, q)
			return err
		})
	}
	err = g.Wait()
	for _, l := range lists {
		ov.Calls += l.calls
	}
	if err != nil {
		return Overview{}, err
	}
	invs := lists[0].invs
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
	for _, l := range lists[1:] {
		for _, inv := range l.invs {
			if _, ok := byID[inv.ID]; !ok {
				byID[inv.ID] = inv
			}
			reasons[inv.ID] = append(reasons[inv.ID], l.reason)
		}
	}
	for id, rs := range reasons {
		ov.Attention = append(ov.Attention, Attention{Investment: byID[id], Reasons: rs})
	}
	sort.Slice(ov.Attention, func(i, j int) bool { return ov.Attention[i].Investment.ID > ov.Attention[j].Investment.ID })
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
