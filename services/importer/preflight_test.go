package importer

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/cashlink"
)

// fakeInvestors answers the pre-flight's reads and counts them.
type fakeInvestors struct {
	mu               sync.Mutex
	inflight, most   int
	reads            map[string]int
	kyc              map[string]string
	noWallet, absent map[string]bool
}

func (f *fakeInvestors) enter(id string) {
	f.mu.Lock()
	f.inflight++
	f.most = max(f.most, f.inflight)
	f.reads[id]++
	f.mu.Unlock()
	time.Sleep(200 * time.Microsecond) // the latency of a call, so reads overlap
}

func (f *fakeInvestors) leave() { f.mu.Lock(); f.inflight--; f.mu.Unlock() }

func (f *fakeInvestors) GetInvestor(_ context.Context, id string) (cashlink.Investor, error) {
	f.enter(id)
	defer f.leave()
	if f.absent[id] {
		return cashlink.Investor{}, &apiclient.Error{Status: 404, Detail: "Not found."}
	}
	return cashlink.Investor{ID: id, Fields: map[string]any{"kyc_status": f.kyc[id]}}, nil
}

func (f *fakeInvestors) ListWallets(_ context.Context, id string) ([]cashlink.Wallet, error) {
	f.enter(id)
	defer f.leave()
	if f.noWallet[id] {
		return nil, nil
	}
	return []cashlink.Wallet{{ID: "w-" + id}}, nil
}

// TestPreflightReadsEachInvestorOnceBounded: 300 rows of 300 investors are
// read at most readsAtOnce at a time, each investor once (investor and
// wallets), and each problem is named; the pre-flight then refuses.
func TestPreflightReadsEachInvestorOnceBounded(t *testing.T) {
	t.Parallel()
	e := setup(t, 300)
	ctx := context.Background()
	if _, err := e.st.db.Exec(`UPDATE import_jobs SET state = 'draft' WHERE id = ?`, e.job.ID); err != nil {
		t.Fatal(err)
	}
	f := &fakeInvestors{reads: map[string]int{}, kyc: map[string]string{}, noWallet: map[string]bool{}, absent: map[string]bool{}}
	for i, r := range e.rows {
		id := fmt.Sprintf("inv-%03d", i)
		if _, err := e.st.db.Exec(`UPDATE import_rows SET cashlink_investor = ? WHERE id = ?`, id, r.ID); err != nil {
			t.Fatal(err)
		}
		f.kyc[id] = "SUCCESS"
		switch i % 50 {
		case 1:
			f.kyc[id] = "PENDING"
		case 2:
			f.noWallet[id] = true
		case 3:
			f.absent[id] = true
		}
	}
	w := &Wizard{Store: e.st}
	p, err := w.RunPreflight(ctx, f, e.job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if f.most > readsAtOnce || f.most < 2 {
		t.Fatalf("at most %d reads in flight, want 2..%d", f.most, readsAtOnce)
	}
	if len(f.reads) != 300 {
		t.Fatalf("%d investors read, want 300", len(f.reads))
	}
	for id, n := range f.reads {
		if want := 2; n != want && !f.absent[id] || f.absent[id] && n != 1 {
			t.Fatalf("investor %s read %d times", id, n)
		}
	}
	got := map[string]int{}
	for _, c := range p.Investors {
		got[c.Problem]++
	}
	want := map[string]int{InvestorReady: 282, InvestorNotKYC: 6, InvestorNoWallet: 6, InvestorUnknown: 6}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("investor checks %v, want %v", got, want)
	}
	if !p.Investors[0].Blocked() || p.OK() || len(p.WithoutWallet()) != 6 || p.Ready != 300 {
		t.Fatalf("problems first %v, OK %v, without wallet %d, ready %d", p.Investors[0].Blocked(), p.OK(), len(p.WithoutWallet()), p.Ready)
	}
	// The campaign is not in the catalog: said, not guessed.
	if p.Known || len(p.NotChecked) == len(preflightNotChecked) {
		t.Fatal("an unknown campaign is not reported as unchecked")
	}
}

// The total Cashlink will record counts every ready row, also those
// without an Issuance amount (CSV rows); the implied rate compares only
// the rows that have one.
func TestPreflightTotalCountsRowsWithoutAmount(t *testing.T) {
	t.Parallel()
	e := setup(t, 4)
	ctx := context.Background()
	const camp = "6f1c2b9e-1d2a-4c3b-9e8f-0a1b2c3d4e5f"
	if err := e.st.SaveCatalogItem(ctx, "campaign", CatalogItem{ID: camp, Name: "Bond", Currency: "EUR", PricePerUnit: "100.00"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.db.Exec(`UPDATE import_jobs SET state = 'draft', campaign_id = ? WHERE id = ?`, camp, e.job.ID); err != nil {
		t.Fatal(err)
	}
	for i, r := range e.rows[:2] { // two rows paid 10.00 USD each; two have no amount
		if _, err := e.st.db.Exec(`UPDATE import_rows SET amount = '10.00' WHERE id = ?`, r.ID); err != nil {
			t.Fatal(i, err)
		}
	}
	f := &fakeInvestors{reads: map[string]int{}, kyc: map[string]string{"cl-inv-1": "SUCCESS"}, noWallet: map[string]bool{}, absent: map[string]bool{}}
	p, err := (&Wizard{Store: e.st}).RunPreflight(ctx, f, e.job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Totals) != 1 || p.Totals[0].Amount == nil {
		t.Fatalf("totals %+v", p.Totals)
	}
	if got := p.Totals[0].Amount.FloatString(2); got != "4000.00" { // 4 rows × 10 units × 100 EUR
		t.Fatalf("Cashlink will record %s EUR, want 4000.00", got)
	}
	if p.Currency == nil || p.Currency.Rate.FloatString(2) != "100.00" { // 2,000 EUR for the 20 USD paid
		t.Fatalf("currency decision %+v", p.Currency)
	}
}
