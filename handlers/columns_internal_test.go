package handlers

import (
	"testing"

	"issuerconsole/services/issuance"
	"issuerconsole/services/personal"
)

// Whether a column's cells are masked is settled once per column (public),
// not per cell: it must agree with package personal for every column, and
// a column nobody settled is checked cell by cell (masking fails closed).
func TestColumnMaskingSettledOnce(t *testing.T) {
	t.Parallel()
	inv := issuance.Investment{ID: 1, InvestorIndividualName: "José Okafor", ReferenceID: "INV-1"}
	auditor, admin := personal.For(false), personal.For(true)
	for _, col := range investmentColumns {
		if col.public == personal.IsField(col.key) {
			t.Errorf("column %s: public %t, but package personal says personal %t", col.key, col.public, personal.IsField(col.key))
		}
		if v := col.value(inv); v != "" && !col.public {
			if got := col.cell(inv, nil, auditor).Value; got != personal.Masked {
				t.Errorf("column %s shows %q to an auditor, want it masked", col.key, got)
			}
			if got := col.cell(inv, nil, admin).Value; got == personal.Masked {
				t.Errorf("column %s masked for an admin", col.key)
			}
		}
	}
	unsettled := invColumn{key: "investor_individual_name", value: func(i issuance.Investment) string { return i.InvestorIndividualName }}
	if got := unsettled.cell(inv, nil, auditor).Value; got != personal.Masked {
		t.Errorf("a column built without public shows %q to an auditor, want it masked", got)
	}
}
