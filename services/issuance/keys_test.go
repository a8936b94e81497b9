package issuance

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"issuerconsole/db"
	emu "issuerconsole/sandbox/issuance"
	"issuerconsole/services/apiclient"
	"issuerconsole/services/audit"
)

// keyedClients serves an Issuance emulator and returns a client with the
// all-seeing key and one with the per-offering keys.
func keyedClients(t *testing.T) (all, merged *Client, keys []emu.KeyScope) {
	t.Helper()
	ctx := context.Background()
	sd, err := db.OpenRaw(ctx, filepath.Join(t.TempDir(), "sandbox.db"), db.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	e, err := emu.Open(ctx, sd, emu.Options{Seed: 5, Investments: 700})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(srv.Close)
	d, err := db.Open(ctx, filepath.Join(t.TempDir(), "console.db"), db.SyncNormal, db.Schema)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	st := audit.NewStore(d, nil)
	keys = e.APIKeys()
	var ks []string
	for _, k := range keys {
		ks = append(ks, k.Key)
	}
	all, err = New(Options{BaseURL: srv.URL + "/", APIKey: emu.DefaultAPIKey, AllowHTTP: true, Audit: st})
	if err != nil {
		t.Fatal(err)
	}
	merged, err = New(Options{BaseURL: srv.URL + "/", APIKeys: ks, AllowHTTP: true, Audit: st})
	if err != nil {
		t.Fatal(err)
	}
	return all, merged, keys
}

func ids[T any](rows []T, id func(T) int64) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = id(r)
	}
	return out
}

// Differential: random searches through the merged per-offering keys give
// the same counts and rows, page by page (also by following next links), as
// the all-seeing key. Where the order asked for involves created_at, which
// the API sorts by but never returns, the merge orders by id instead and
// says so; the all-seeing key is then asked for that same order.
func TestMergedKeysMatchAllSeeingKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	all, merged, keys := keyedClients(t)
	scopes, err := merged.KeyScopes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range scopes {
		if !slices.Equal(s.Offerings, keys[i].Offerings) {
			t.Fatalf("key %d learned offerings %v, the emulator says %v", i, s.Offerings, keys[i].Offerings)
		}
	}
	rng := rand.New(rand.NewPCG(7, 13))
	orderings := []string{"", "id", "-id", "amount", "-amount,id", "quantity", "-shares_amount", "status,-amount", "updated_at",
		"-processed_at", "processed_at", "offering,-id", "reference_id", "-created_at", "created_at,amount", "bogus", "-updated_at"}
	filters := []url.Values{
		{}, {"status": {"accepted"}}, {"status__in": {"invested,accepted,received"}}, {"amount__gte": {"1000"}},
		{"payment_method": {"card"}}, {"search": {"a"}}, {"processed_at__isnull": {"true"}},
		{"offering": {strconv.FormatInt(keys[1].Offerings[0], 10)}},
		{"offering__in": {fmt.Sprintf("%d,%d", keys[0].Offerings[0], keys[2].Offerings[0])}},
		{"amount__lt": {"500"}, "status__in": {"started,cancelled"}},
	}
	sizes := []string{"", "5", "20", "37", "100", "500", "x"}
	// 20 random queries by default keep `make test` quick under -race on a
	// loaded machine; `make difftest` runs 300 (MERGE_QUERIES).
	n := 20
	if v, err := strconv.Atoi(os.Getenv("MERGE_QUERIES")); err == nil && v > 0 {
		n = v
	}
	for i := range n {
		q := url.Values{}
		for k, v := range filters[rng.IntN(len(filters))] {
			q[k] = v
		}
		if o := orderings[rng.IntN(len(orderings))]; o != "" {
			q.Set("ordering", o)
		}
		if s := sizes[rng.IntN(len(sizes))]; s != "" {
			q.Set("page_size", s)
		}
		switch rng.IntN(4) {
		case 1:
			q.Set("page", strconv.Itoa(1+rng.IntN(4)))
		case 2:
			q.Set("page", "last")
		}
		got, gerr := merged.ListInvestmentsQuery(ctx, q)
		ref := url.Values{}
		for k, v := range q {
			ref[k] = v
		}
		terms, substituted := investmentMerge.terms(q)
		ref.Set("ordering", orderingParam(terms))
		want, werr := all.ListInvestmentsQuery(ctx, ref)
		if (gerr == nil) != (werr == nil) {
			t.Fatalf("query %d %s: merged err %v, all-seeing err %v", i, q.Encode(), gerr, werr)
		}
		if werr != nil {
			if !errors.Is(gerr, apiclient.ErrNotFound) || !errors.Is(werr, apiclient.ErrNotFound) {
				t.Fatalf("query %d %s: errors differ: %v / %v", i, q.Encode(), gerr, werr)
			}
			continue
		}
		if got.Count != want.Count || !slices.Equal(ids(got.Results, investmentMerge.id), ids(want.Results, investmentMerge.id)) {
			t.Fatalf("query %d %s:\nmerged   %d %v\nall-seeing %d %v", i, q.Encode(), got.Count, ids(got.Results, investmentMerge.id), want.Count, ids(want.Results, investmentMerge.id))
		}
		if (got.Next == nil) != (want.Next == nil) || (got.Previous == nil) != (want.Previous == nil) {
			t.Fatalf("query %d %s: next/previous differ", i, q.Encode())
		}
		if substituted && len(keysOf(q)) != 1 && got.Note == "" {
			t.Fatalf("query %d %s: an order by created_at across keys without a note", i, q.Encode())
		}
		// Two pages on through the next links.
		for step := 0; step < 2 && got.Next != nil; step++ {
			if got, gerr = merged.InvestmentsPage(ctx, got.Next); gerr != nil {
				t.Fatal(gerr)
			}
			if want, werr = all.InvestmentsPage(ctx, want.Next); werr != nil {
				t.Fatal(werr)
			}
			if !slices.Equal(ids(got.Results, investmentMerge.id), ids(want.Results, investmentMerge.id)) {
				t.Fatalf("query %d %s, next page %d: rows differ", i, q.Encode(), step+1)
			}
		}
	}

	// Offerings: every field the API orders by is returned.
	for _, o := range []string{"", "name", "-opened_at", "status,name", "type,-created_at"} {
		q := url.Values{"ordering": {o}, "page_size": {"2"}, "page": {"2"}}
		got, err1 := merged.ListOfferingsQuery(ctx, q)
		want, err2 := all.ListOfferingsQuery(ctx, q)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if got.Count != want.Count || !slices.Equal(ids(got.Results, offeringMerge.id), ids(want.Results, offeringMerge.id)) {
			t.Fatalf("offerings %q: %v / %v", o, ids(got.Results, offeringMerge.id), ids(want.Results, offeringMerge.id))
		}
	}

	// Every investment, through the iterator, and one by id.
	var n1, n2 int
	for _, err := range merged.AllInvestments(ctx, url.Values{"status": {"accepted"}}, 100) {
		if err != nil {
			t.Fatal(err)
		}
		n1++
	}
	for _, err := range all.AllInvestments(ctx, url.Values{"status": {"accepted"}}, 100) {
		if err != nil {
			t.Fatal(err)
		}
		n2++
	}
	if n1 != n2 || n1 == 0 {
		t.Fatalf("AllInvestments: %d merged, %d all-seeing", n1, n2)
	}
	last, _ := all.ListInvestmentsQuery(ctx, url.Values{"ordering": {"-id"}, "page_size": {"1"}})
	inv, err := merged.GetInvestment(ctx, last.Results[0].ID)
	if err != nil || inv.ID != last.Results[0].ID {
		t.Fatalf("GetInvestment across keys: %v %v", inv.ID, err)
	}
	if _, err := merged.GetInvestment(ctx, 99_999_999); !errors.Is(err, apiclient.ErrNotFound) {
		t.Fatalf("a missing investment: %v", err)
	}
	off, err := merged.GetOffering(ctx, keys[2].Offerings[0])
	if err != nil || off.ID != keys[2].Offerings[0] {
		t.Fatalf("GetOffering: %v %v", off.ID, err)
	}
}

// keysOf is how many offerings a query names (0: all).
func keysOf(q url.Values) []string {
	if v := q.Get("offering"); v != "" {
		return []string{v}
	}
	return nil
}
