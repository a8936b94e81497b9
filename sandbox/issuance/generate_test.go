package issuance

import (
	"bytes"
	"strings"
	"testing"
)

func TestGenerateDeterministic(t *testing.T) {
	t.Parallel()
	write := func(seed int64, n int) []byte {
		f, err := Generate(seed, n)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := f.Write(&b); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	a, b, c := write(5, 400), write(5, 400), write(6, 400)
	if !bytes.Equal(a, b) {
		t.Fatal("the same seed gave different data")
	}
	if bytes.Equal(a, c) {
		t.Fatal("another seed gave the same data")
	}
	// The generator's output is a valid fixture.
	if _, err := ReadFixture(bytes.NewReader(a)); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateLimits(t *testing.T) {
	t.Parallel()
	for _, n := range []int{-1, MaxInvestments + 1} {
		if _, err := Generate(1, n); err == nil {
			t.Errorf("Generate(1, %d): no error", n)
		}
	}
	f, err := Generate(1, 0)
	if err != nil || len(f.Investments) != 0 || len(f.Offerings) == 0 {
		t.Fatalf("empty data set: %v %d", err, len(f.Investments))
	}
}

// TestGenerateCoverage: every enumeration value appears, amounts add up,
// timelines are ordered, names are hostile.
func TestGenerateCoverage(t *testing.T) {
	t.Parallel()
	f, err := Generate(1, DefaultInvestments)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Investments) != DefaultInvestments {
		t.Fatalf("%d investments", len(f.Investments))
	}
	seen := map[string]bool{}
	mark := func(kind, v string) { seen[kind+":"+v] = true }
	for _, o := range f.Offerings {
		mark("offering type", o.Type)
		mark("offering status", o.Status)
	}
	for _, v := range f.Investors {
		mark("investor type", v.Type)
		if v.Entity == nil {
			mark("entity", "none")
		} else {
			mark("kyc", v.Entity.KYCStatus)
		}
	}
	hostile := 0
	for _, u := range f.Users {
		if strings.ContainsAny(u.FirstName+u.LastName, `'"<>%_\`) || !isASCII(u.FirstName+u.LastName) {
			hostile++
		}
	}
	prev := ""
	for _, i := range f.Investments {
		mark("status", i.Status)
		mark("requested payment method", i.RequestedPaymentMethod)
		mark("payment method", i.PaymentMethod)
		if err := checkInvestment(i); err != nil {
			t.Fatalf("investment %d: %v", i.ID, err)
		}
		if i.CreatedAt <= prev {
			t.Fatalf("investment %d: created_at %s not after the previous %s", i.ID, i.CreatedAt, prev)
		}
		prev = i.CreatedAt
		if (i.ReceivedAt != nil) != contains([]string{"received", "invested", "approved", "not_approved", "accepted", "accepted_escrow_closed", "refunded"}, i.Status) {
			t.Fatalf("investment %d (%s): received_at %v", i.ID, i.Status, i.ReceivedAt)
		}
		if (i.RefundedAt != nil) != (i.Status == "refunded") {
			t.Fatalf("investment %d (%s): refunded_at %v", i.ID, i.Status, i.RefundedAt)
		}
	}
	var want []string
	for _, v := range offeringTypes {
		want = append(want, "offering type:"+v)
	}
	for _, v := range offeringStatuses {
		want = append(want, "offering status:"+v)
	}
	for _, v := range investorTypes {
		want = append(want, "investor type:"+v)
	}
	for _, v := range kycStatuses {
		want = append(want, "kyc:"+v)
	}
	for _, v := range investmentStatusValues {
		want = append(want, "status:"+v)
	}
	for _, v := range requestedPaymentMethods {
		want = append(want, "requested payment method:"+v)
	}
	for _, v := range []string{"card", "wire", "ach", "ira", "crypto"} {
		want = append(want, "payment method:"+v)
	}
	want = append(want, "entity:none")
	for _, w := range want {
		if !seen[w] {
			t.Errorf("the default data set has no %s", w)
		}
	}
	if hostile < 10 {
		t.Errorf("only %d users with hostile or non-ASCII names", hostile)
	}
	offHostile := 0
	for _, o := range f.Offerings {
		if strings.ContainsAny(o.Name, `'"<>%_`) || !isASCII(o.Name) {
			offHostile++
		}
	}
	if offHostile == 0 {
		t.Error("no offering with a hostile name")
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
