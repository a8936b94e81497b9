package handlers

import (
	"net/url"
	"strings"
	"testing"
)

func TestSafeNext(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/users", "/users"},
		{"/investments?status=paid&ordering=-created_at", "/investments?status=paid&ordering=-created_at"},
		{"/audit?actor=a%40b.c#top", "/audit?actor=a%40b.c#top"},
		{"", "/"},
		{"users", "/"},
		{"//evil.example", "/"},
		{"/\t/evil.example", "/"},
		{"/\n/evil.example", "/"},
		{"/\r/evil.example", "/"},
		{"/\x00/evil.example", "/"},
		{"/\x7f/evil.example", "/"},
		{"/\u0085/evil.example", "/"},
		{"/\u2028/evil.example", "/"},
		{"/\\evil.example", "/"},
		{"/\\/evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"/%2F/evil.example", "/"},
		{"https://evil.example/", "/"},
		{"http:/evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{" /users", "/"},
		{"/" + strings.Repeat("a", 3000), "/"},
	}
	for _, tt := range tests {
		if got := safeNext(tt.in); got != tt.want {
			t.Errorf("safeNext(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Whatever is given, the result resolved the way a browser resolves a
// Location header stays on this origin.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/users", "/\t/evil.example", "//evil.example", "/\\evil", "/a?b=c#d", "https://x", "/%2f%2fx", "/.//x"} {
		f.Add(s)
	}
	base, _ := url.Parse("http://console.local:8080/login")
	f.Fuzz(func(t *testing.T, in string) {
		got := safeNext(in)
		if got == "/" {
			return
		}
		if got != in {
			t.Fatalf("safeNext(%q) = %q: a kept value must be kept unchanged", in, got)
		}
		// Browsers remove ASCII tab and newlines and read "\\" as "/"
		// before resolving: none may be left to remove.
		if strings.ContainsAny(got, "\t\r\n\\") || !strings.HasPrefix(got, "/") || strings.HasPrefix(got, "//") {
			t.Fatalf("safeNext(%q) = %q", in, got)
		}
		u, err := base.Parse(got)
		if err != nil {
			t.Fatalf("safeNext(%q) = %q does not parse: %v", in, got, err)
		}
		if u.Scheme != base.Scheme || u.Host != base.Host || u.User != nil {
			t.Fatalf("safeNext(%q) = %q leaves the site: %s", in, got, u)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("safeNext(%q) = %q keeps control character %q", in, got, r)
			}
		}
	})
}
