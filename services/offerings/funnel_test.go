package offerings

import (
	"testing"
	"time"

	"issuerconsole/services/issuance"
)

func inv(id int64, status issuance.Status, amount, shares, method string) issuance.Investment {
	return issuance.Investment{ID: id, Status: status, Amount: issuance.Decimal(amount), SharesAmount: issuance.Decimal(shares), PaymentMethod: method}
}

func TestEveryStatusHasAStep(t *testing.T) {
	t.Parallel()
	seen := map[issuance.Status]bool{}
	for _, g := range Grouping {
		for _, s := range g.Statuses {
			if seen[s] {
				t.Errorf("%s grouped twice", s)
			}
			seen[s] = true
			if StepOf(s) != g.Step {
				t.Errorf("StepOf(%s) = %s, Grouping says %s", s, StepOf(s), g.Step)
			}
		}
	}
	for _, s := range issuance.Statuses {
		if !seen[issuance.Status(s.Value)] {
			t.Errorf("status %s is in no step", s.Value)
		}
	}
}

func TestCompute(t *testing.T) {
	t.Parallel()
	o := issuance.Offering{MinimumAmountRaised: issuance.Ptr(issuance.Decimal("1000.00")), MaximumAmountRaised: issuance.Ptr(issuance.Decimal("4000.00"))}
	invs := []issuance.Investment{
		inv(1, issuance.StatusStarted, "105.00", "100.00", "card"),
		inv(2, issuance.StatusNotReceived, "210.00", "200.00", "wire"),
		inv(3, issuance.StatusPaymentFailed, "52.50", "50.00", "card"),
		inv(4, issuance.StatusReceived, "315.00", "300.00", "wire"),
		inv(5, issuance.StatusAccepted, "420.00", "400.00", "other"),
		inv(6, issuance.StatusInvested, "525.00", "500.00", "wire"),
		inv(7, issuance.StatusAcceptedEscrowClosed, "105.01", "100.01", "card"),
		inv(8, issuance.StatusRefunded, "999.00", "999.00", "card"),
		inv(9, issuance.StatusNotApproved, "1.00", "1.00", ""),
	}
	f := Compute(o, invs)
	check := func(name string, got Total, count int, amount, shares string) {
		t.Helper()
		if got.Count != count || got.Amount.FloatString(2) != amount || got.Shares.FloatString(2) != shares {
			t.Errorf("%s: %d / %s / %s, want %d / %s / %s", name, got.Count, got.Amount.FloatString(2), got.Shares.FloatString(2), count, amount, shares)
		}
	}
	check("committed", f.Committed, 5, "1575.01", "1500.01")
	check("payment failed", f.PaymentFailed, 1, "52.50", "50.00")
	check("received", f.Received, 4, "1365.01", "1300.01")
	check("invested", f.Invested, 2, "630.01", "600.01")
	check("started", f.Started, 1, "105.00", "100.00")
	check("lost", f.Lost, 2, "1000.00", "1000.00")
	if len(f.ByStatus) != 11 {
		t.Fatalf("%d status buckets, want all 11", len(f.ByStatus))
	}
	if f.ByPaymentMethod[0].Key != "card" || f.ByPaymentMethod[0].Count != 4 || f.ByPaymentMethod[1].Key != "wire" {
		t.Fatalf("largest payment method %+v", f.ByPaymentMethod[0])
	}
	// Against the committed amount (1,575.01), as the API's summary counts it.
	if f.Targets[0].Percent < 157.5 || f.Targets[0].Percent > 157.51 || f.Targets[1].Percent < 39.37 || f.Targets[1].Percent > 39.38 {
		t.Fatalf("targets %+v", f.Targets)
	}
}

func TestDaysLeft(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 23, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		deadline time.Time
		want     int
	}{
		{time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), 1},
		{time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), 40},
		{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), -20},
	} {
		if got := DaysLeft(tt.deadline, now); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.deadline.Format("2006-01-02"), got, tt.want)
		}
	}
}
