package passwords

import (
	"slices"
	"testing"
)

// Expected answers are Django 3.2's validate_password with the default
// validators of a new project, for a user with the given e-mail.
func TestValidate(t *testing.T) {
	t.Parallel()
	const (
		similarMsg = "The password is too similar to the email address."
		shortMsg   = "This password is too short. It must contain at least 8 characters."
		commonMsg  = "This password is too common."
		numericMsg = "This password is entirely numeric."
	)
	tests := []struct {
		password, email string
		want            []string
	}{
		{"abc12", "ops@example.com", []string{shortMsg}},
		{"12345", "ops@example.com", []string{shortMsg, commonMsg, numericMsg}},
		{"password", "ops@example.com", []string{commonMsg}},
		{"PassWord ", "ops@example.com", []string{commonMsg}},
		{"83920174", "ops@example.com", []string{numericMsg}},
		{"jane.doe1", "jane.doe@example.com", nil}, // quick ratios 0.615, 0.5, 0.375, 0.167, 0.552: under 0.7
		{"janedoe", "jane.doe@example.com", []string{similarMsg, shortMsg}},
		{"example.com", "jane@example.com", []string{similarMsg}},
		{"tangerine-rocket-47", "jane@example.com", nil},
		{"correct horse battery staple", "jane@example.com", nil},
		{"", "jane@example.com", []string{shortMsg}},
	}
	for _, tt := range tests {
		if got := Validate(tt.password, tt.email); !slices.Equal(got, tt.want) {
			t.Errorf("Validate(%q, %q) = %q, want %q", tt.password, tt.email, got, tt.want)
		}
	}
}

func TestQuickRatio(t *testing.T) {
	t.Parallel()
	// difflib.SequenceMatcher(a="A", b="A"*10).quick_ratio() == 0.1818…
	if got := quickRatio([]rune("A"), []rune("AAAAAAAAAA")); got < 0.1818 || got > 0.1819 {
		t.Errorf("quickRatio = %v", got)
	}
	if quickRatio([]rune("abc"), []rune("cba")) != 1 {
		t.Error("anagrams have quick ratio 1")
	}
}
