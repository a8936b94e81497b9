package importer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/cashlink"
)

// Catalog is what the console knows of the Cashlink installation. The
// Cashlink API lists no products, campaigns or investors, so the console
// keeps them itself (catalog.go): campaigns and products an admin entered
// once (pre-filled from the emulator in sandbox mode), and investors known
// by e-mail (created by the console, or mapped from an Issuance investor
// whose e-mail the console saw).
type Catalog struct {
	Products  []CatalogItem
	Campaigns []CatalogItem // Parent = product id
	Investors []CatalogInvestor
}

// CatalogItem is a product or campaign.
type CatalogItem struct {
	ID, Name, Parent string
	Currency         string // ISO 4217, e.g. EUR; "" = not entered
	PricePerUnit     string // decimal; "" = not entered
	// A campaign's state and units per investment, as entered from Cashlink
	// Studio or seeded by the sandbox (the API exposes no campaign):
	// nil and 0 = not recorded.
	Active             *bool
	MinUnits, MaxUnits int64
}

// CatalogInvestor is a Cashlink investor with its e-mail.
type CatalogInvestor struct {
	ID, Email, Name string
	Wallets         int
}

// MatchByEmail maps rows without a Cashlink investor to the catalog
// investor with the same e-mail (case-insensitive), when exactly one has it.
func MatchByEmail(rows []Row, cat Catalog) map[int64]string {
	byEmail := map[string][]string{}
	for _, inv := range cat.Investors {
		e := strings.ToLower(strings.TrimSpace(inv.Email))
		if e != "" {
			byEmail[e] = append(byEmail[e], inv.ID)
		}
	}
	out := map[int64]string{} // issuance investor → cashlink investor
	for _, r := range rows {
		if r.CashlinkInvestor != "" || r.IssuanceInvestor == 0 {
			continue
		}
		if ids := byEmail[strings.ToLower(strings.TrimSpace(r.InvestorEmail))]; len(ids) == 1 {
			out[r.IssuanceInvestor] = ids[0]
		}
	}
	return out
}

// Problem is why a row cannot be imported as it is.
type Problem struct {
	RowID int64
	What  string
	Fix   string // the step that fixes it
}

// Review is the outcome of validating a job before it runs.
type Review struct {
	JobProblems []string
	Problems    map[int64][]Problem
	Ready       int // rows that will be imported
	Skipped     int
	Documents   int // documents to upload
	Investors   int // distinct Cashlink investors
}

// OK reports whether the job can start (invalid rows must be fixed or skipped).
func (r Review) OK() bool { return len(r.JobProblems) == 0 && len(r.Problems) == 0 && r.Ready > 0 }

// Validate checks every row before anything is sent. With a registry it
// also reads each distinct Cashlink investor's wallets (audited reads): an
// unknown investor or one without a wallet would fail mid-run.
func Validate(ctx context.Context, st *Store, reg Registry, job Job) (Review, error) {
	rows, err := st.Rows(ctx, job.ID)
	if err != nil {
		return Review{}, err
	}
	return validateRows(ctx, st, reg, job, rows)
}

// validateRows is Validate of the job's rows, already read.
func validateRows(ctx context.Context, st *Store, reg Registry, job Job, rows []Row) (Review, error) {
	rv := Review{Problems: map[int64][]Problem{}}
	if strings.TrimSpace(job.CampaignID) == "" {
		rv.JobProblems = append(rv.JobProblems, "No Cashlink campaign chosen (step Mapping).")
	}
	imported, err := st.importedBy(ctx, job.ID)
	if err != nil {
		return rv, err
	}
	docs, err := st.Documents(ctx, job.ID)
	if err != nil {
		return rv, err
	}
	shared := hasShared(docs)
	skipped := map[int64]bool{}
	for _, r := range rows {
		skipped[r.ID] = r.Skip || r.State == RowSkipped
	}
	rowDocs := map[int64]int{}
	for _, d := range docs {
		if d.CashlinkID == "" && !skipped[d.RowID] { // a skipped row's documents are never uploaded
			rv.Documents++
		}
		rowDocs[d.RowID]++
	}
	investors := map[string][]int64{}
	add := func(id int64, what, fix string) {
		rv.Problems[id] = append(rv.Problems[id], Problem{RowID: id, What: what, Fix: fix})
	}
	for _, r := range rows {
		if r.Skip || r.State == RowSkipped {
			rv.Skipped++
			continue
		}
		if r.State == RowDone {
			continue
		}
		if r.CashlinkInvestor == "" {
			add(r.ID, "No Cashlink investor mapped.", "mapping")
		} else {
			investors[r.CashlinkInvestor] = append(investors[r.CashlinkInvestor], r.ID)
		}
		if r.Units <= 0 {
			add(r.ID, "Units must be a positive whole number.", "review")
		}
		if r.SignedAt.IsZero() {
			add(r.ID, "No signing time (signed_at).", "review")
		}
		if rowDocs[r.ID] == 0 && !shared {
			add(r.ID, "No signed document.", "documents")
		}
		if by := imported[r.IssuanceID]; by != 0 && by != job.ID {
			add(r.ID, fmt.Sprintf("Already imported by job %d.", by), "skip")
		}
		rv.Ready++
	}
	rv.Investors = len(investors)
	if reg != nil && len(investors) > 0 {
		ids := make([]string, 0, len(investors))
		for id := range investors {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		var mu sync.Mutex
		var wg sync.WaitGroup
		sem := make(chan struct{}, 4)
		var firstErr error
		for _, id := range ids {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				ws, err := reg.ListWallets(ctx, id)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, apiclient.ErrNotFound):
					for _, row := range investors[id] {
						add(row, "Cashlink does not know the investor "+id+".", "mapping")
					}
				case err != nil:
					if firstErr == nil {
						firstErr = err
					}
				case len(ws) == 0:
					for _, row := range investors[id] {
						add(row, "The Cashlink investor "+id+" has no wallet yet.", "cashlink")
					}
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			rv.JobProblems = append(rv.JobProblems, "The wallets could not be checked: "+FriendlyError(StepWallet, firstErr))
		}
	}
	for id := range rv.Problems {
		if len(rv.Problems[id]) > 0 {
			rv.Ready--
		}
	}
	return rv, nil
}

// CreateInvestor creates a Cashlink natural person for an Issuance
// investor, under the ledger: the key is derived from the Issuance
// investor (not the job), so no two jobs can create the same person twice.
func (e *Engine) CreateInvestor(ctx context.Context, reg interface {
	CreateInvestor(context.Context, cashlink.Key, cashlink.NewInvestor) (cashlink.Investor, error)
}, jobID, issuanceInvestor int64, in cashlink.NewInvestor) (string, error) {
	install, err := e.st.InstallationID(ctx)
	if err != nil {
		return "", err
	}
	key := cashlink.Key(fmt.Sprintf("ic-%s-investor-i%d", install, issuanceInvestor))
	body, err := cashlink.Body(in)
	if err != nil {
		return "", err
	}
	return e.ledgered(ctx, key, jobID, 0, "investor", body, func(k cashlink.Key) (string, error) {
		inv, err := reg.CreateInvestor(ctx, k, in)
		return inv.ID, err
	})
}
