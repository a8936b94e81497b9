package personal

import (
	"strings"
	"testing"
)

func TestIsField(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"investor_individual_name": true, "net_worth": true, "investor__user__email": true, "Email": true,
		"investor__user__entity__entityperson__first_name__in": true, "natural_person": true,
		"id": false, "amount": false, "status__in": false, "campaign_id": false, "units": false, "address": false,
	} {
		if got := IsField(name); got != want {
			t.Errorf("IsField(%q) = %v", name, got)
		}
	}
}

func TestJSONKeepsStructure(t *testing.T) {
	t.Parallel()
	body := `{"natural_person":{"forename":"Ada","birth_date":"1911-11-11","is_pep":false,"phone":null},"communication":{"email":"ada@example.org"},` +
		`"campaign_id":"c-1","units":300,"wallets":[{"id":"w-1","address":"0xabc"}],"tax_information":{"tax_identification_number":"DE123"}}`
	admin, auditor := For(true), For(false)
	if admin.JSON(body) != body {
		t.Fatal("admins see bodies as they are")
	}
	got := auditor.JSON(body)
	for _, secret := range []string{"Ada", "1911-11-11", "ada@example.org", "DE123", "false"} {
		if strings.Contains(got, secret) {
			t.Errorf("%q left in %s", secret, got)
		}
	}
	for _, kept := range []string{`"forename":"[personal data]"`, `"phone":null`, `"campaign_id":"c-1"`, `"units":300`, `"address":"0xabc"`} {
		if !strings.Contains(got, kept) {
			t.Errorf("%s missing in %s", kept, got)
		}
	}
	if auditor.JSON("not json Ada") != Masked || auditor.JSON("") != "" {
		t.Error("a body that is not JSON is masked whole")
	}
}

func TestPathAndValues(t *testing.T) {
	t.Parallel()
	auditor := For(false)
	got := auditor.Path("/api/investments/?investor__user__email=ada%40example.org&search=Ada+Lovelace&status=paid")
	if strings.Contains(got, "ada") || strings.Contains(got, "Ada") || !strings.Contains(got, "status=paid") {
		t.Fatalf("path %q", got)
	}
	if auditor.Value("Ada") != Masked || auditor.Value("") != "" || auditor.Field("units", "3") != "3" || auditor.Field("net_worth", "3") != Masked {
		t.Fatal("values")
	}
	if For(true).Field("net_worth", "3") != "3" || For(true).Path("/x?search=Ada") != "/x?search=Ada" {
		t.Fatal("admins see everything")
	}
}
