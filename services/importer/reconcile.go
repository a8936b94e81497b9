package importer

import (
	"context"
	"errors"
	"fmt"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/cashlink"
	"issuerconsole/services/issuance"
)

// IssuanceReader reads an Issuance investment (*issuance.Client).
type IssuanceReader interface {
	GetInvestment(ctx context.Context, id int64) (issuance.Investment, error)
}

// Reconciled is an imported investment as both APIs see it now.
type Reconciled struct {
	Imported
	Row         Row
	Issuance    issuance.Investment
	Cashlink    cashlink.Investment
	Differences []string
	Problem     string // a side could not be read: the rest is unset
}

// Reconcile reads one page of the imported investments from both APIs and
// flags what disagrees, and says how many there are.
func (w *Wizard) Reconcile(ctx context.Context, iss IssuanceReader, page, size int) ([]Reconciled, int, error) {
	ims, total, err := w.Store.ImportedInvestments(ctx, (max(page, 1)-1)*size, size)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Reconciled, 0, len(ims))
	for _, im := range ims {
		row, err := w.Store.Row(ctx, im.JobID, im.RowID)
		if err != nil {
			return nil, 0, err
		}
		r := Reconciled{Imported: im, Row: row}
		var ierr, cerr error
		r.Issuance, ierr = iss.GetInvestment(ctx, im.IssuanceID)
		r.Cashlink, cerr = w.Registry.GetInvestment(ctx, im.CashlinkInvestment)
		if ierr != nil || cerr != nil {
			r.Problem = fmt.Sprintf("%s could not be read: %v %v", row.Reference, errOrEmpty(ierr), errOrEmpty(cerr))
		} else {
			r.Differences = Differences(r.Issuance, r.Cashlink, row)
		}
		out = append(out, r)
	}
	return out, total, nil
}

func errOrEmpty(err error) string {
	if err == nil {
		return ""
	}
	if errors.Is(err, apiclient.ErrNotFound) {
		return "(not found)"
	}
	return "(" + err.Error() + ")"
}

// Differences flags what disagrees between an imported investment and its
// Cashlink counterpart.
func Differences(iss issuance.Investment, cl cashlink.Investment, row Row) []string {
	var out []string
	issEnded := iss.Status == issuance.StatusCancelled || iss.Status == issuance.StatusRefunded || iss.Status == issuance.StatusNotApproved
	clEnded := cashlink.Final(cl.Status) && cl.Status != cashlink.StatusDelivered
	switch {
	case issEnded && !clEnded:
		out = append(out, fmt.Sprintf("Issuance says %s, Cashlink says %s: the registry entry may need a correction.", iss.Status, cl.Status))
	case clEnded && !issEnded:
		out = append(out, fmt.Sprintf("Cashlink ended the investment (%s) while Issuance says %s.", cl.Status, iss.Status))
	}
	if cl.Units != row.Units {
		out = append(out, fmt.Sprintf("Units: %d sent, Cashlink has %d.", row.Units, cl.Units))
	}
	if row.Units != iss.Quantity {
		out = append(out, fmt.Sprintf("Units %d differ from the Issuance quantity %d (edited at review?).", row.Units, iss.Quantity))
	}
	if row.Wallet != "" && (cl.Wallet == nil || *cl.Wallet != row.Wallet) {
		out = append(out, "The wallet in Cashlink is not the one set by the import.")
	}
	return out
}
