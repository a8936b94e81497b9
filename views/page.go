// Package views holds the console's templ components and the view models
// they format. Views never fetch data: handlers build a view model and pass it.
package views

import (
	"encoding/json"
	"fmt"
	"time"
)

// Page is what the layout needs on every full page.
type Page struct {
	Title     string
	Nav       string // key of the active navigation item
	User      *User  // nil when signed out
	Mode      string // "sandbox" or "live"
	CSRFToken string
	Flashes   []Flash
	Asset     func(name string) string // content-hashed URL of a static file
}

// User is the signed-in user as the layout shows them.
type User struct {
	ID      int64
	Email   string
	Display string
	Role    string
	IsAdmin bool
}

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Kind    string // info, success, warning, error
	Message string
}

// NavItem is one entry of the main navigation.
type NavItem struct {
	Key, Label, Href string
	AdminOnly        bool
}

// Nav lists the areas in order.
var Nav = []NavItem{
	{Key: "offerings", Label: "Offerings", Href: "/offerings"},
	{Key: "investments", Label: "Investments", Href: "/investments"},
	{Key: "imports", Label: "Imports", Href: "/imports"},
	{Key: "audit", Label: "Audit log", Href: "/audit"},
	{Key: "users", Label: "Users", Href: "/users", AdminOnly: true},
	{Key: "settings", Label: "Settings", Href: "/settings", AdminOnly: true},
}

func (p Page) visibleNav() []NavItem {
	out := make([]NavItem, 0, len(Nav))
	for _, n := range Nav {
		if n.AdminOnly && (p.User == nil || !p.User.IsAdmin) {
			continue
		}
		out = append(out, n)
	}
	return out
}

// htmxConfig keeps htmx inside the CSP: no eval, no injected indicator
// styles, no script tags in swapped content. Error answers (4xx/5xx) are
// swapped too: the server always sends them with a target (HX-Retarget to
// #flash, or a form re-rendered with its errors), so nothing is lost.
const htmxConfig = `{"allowEval":false,"allowScriptTags":false,"includeIndicatorStyles":false,"selfRequestsOnly":true,"historyCacheSize":0,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"[45]..","swap":true,"error":true},{"code":"...","swap":false}]}`

func csrfHeaders(token string) string {
	b, _ := json.Marshal(map[string]string{"X-CSRF-Token": token})
	return string(b)
}

func pageTitle(p Page) string {
	if p.Title == "" {
		return "Issuer Console"
	}
	return p.Title + " · Issuer Console"
}

func modeLabel(mode string) string {
	if mode == "live" {
		return "Live"
	}
	return "Sandbox"
}

func modeTitle(mode string) string {
	if mode == "live" {
		return "Live: calls go to the real Issuance and Cashlink services"
	}
	return "Sandbox: calls go to the embedded emulators; no real data is touched"
}

// FormatTime shows a time in UTC, to the minute.
func FormatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// FormatDuration shows a whole-minute or whole-hour duration in words.
func FormatDuration(d time.Duration) string {
	switch {
	case d%time.Hour == 0:
		return plural(int(d/time.Hour), "hour")
	case d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	}
	return d.String()
}

func plural(n int, unit string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", unit)
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

func itoa64(n int64) string { return fmt.Sprint(n) }

func barWidth(v, maxV float64, width int) int {
	if maxV <= 0 || v <= 0 {
		return 0
	}
	w := int(v / maxV * float64(width))
	return max(min(w, width), 1)
}

func maxBar(bars []Bar) float64 {
	m := 0.0
	for _, b := range bars {
		m = max(m, b.Value)
	}
	return m
}

func formatPercent(p float64) string {
	if p >= 10 {
		return fmt.Sprintf("%.0f %%", p)
	}
	return fmt.Sprintf("%.1f %%", p)
}

func joinWords(ws []string) string {
	out := ""
	for i, w := range ws {
		if i > 0 {
			out += ", "
		}
		out += w
	}
	return out
}

func firstWord(s string) string {
	for i, r := range s {
		if r == ' ' {
			return s[:i]
		}
	}
	return s
}

func restWords(s string) string {
	for i, r := range s {
		if r == ' ' {
			return s[i+1:]
		}
	}
	return ""
}
