package importer

import (
	"reflect"
	"testing"

	"issuerconsole/services/cashlink"
	"issuerconsole/services/issuance"
)

// The differences the reconciliation flags, including the ones the
// emulator cannot produce after a credit (a changed wallet, an investment
// cancelled on one side only).
func TestDifferences(t *testing.T) {
	t.Parallel()
	w1, w2 := "wallet-1", "wallet-2"
	row := Row{Units: 10, Wallet: w1}
	tests := []struct {
		name  string
		iss   issuance.Status
		qty   int64
		cl    string
		units int64
		wal   *string
		row   Row
		want  []string
	}{
		{"all agree", issuance.StatusInvested, 10, cashlink.StatusDelivered, 10, &w1, row, nil},
		{"still being delivered", issuance.StatusAccepted, 10, cashlink.StatusPaid, 10, &w1, row, nil},
		{"cancelled in Issuance only", issuance.StatusCancelled, 10, cashlink.StatusDelivered, 10, &w1, row,
			[]string{"Issuance says cancelled, Cashlink says DELIVERED: the registry entry may need a correction."}},
		{"ended on both sides", issuance.StatusRefunded, 10, cashlink.StatusCancellation, 10, &w1, row, nil},
		{"ended in Cashlink only", issuance.StatusInvested, 10, cashlink.StatusRejection, 10, &w1, row,
			[]string{"Cashlink ended the investment (REJECTION) while Issuance says invested."}},
		{"Cashlink units differ", issuance.StatusInvested, 10, cashlink.StatusDelivered, 9, &w1, row,
			[]string{"Units: 10 sent, Cashlink has 9."}},
		{"edited at review", issuance.StatusInvested, 12, cashlink.StatusDelivered, 10, &w1, row,
			[]string{"Units 10 differ from the Issuance quantity 12 (edited at review?)."}},
		{"other wallet", issuance.StatusInvested, 10, cashlink.StatusDelivered, 10, &w2, row,
			[]string{"The wallet in Cashlink is not the one set by the import."}},
		{"no wallet in Cashlink", issuance.StatusInvested, 10, cashlink.StatusDelivered, 10, nil, row,
			[]string{"The wallet in Cashlink is not the one set by the import."}},
		{"no wallet set yet", issuance.StatusInvested, 10, cashlink.StatusAccepted, 10, nil, Row{Units: 10}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Differences(issuance.Investment{Status: tt.iss, Quantity: tt.qty},
				cashlink.Investment{Status: tt.cl, Units: tt.units, Wallet: tt.wal}, tt.row)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
