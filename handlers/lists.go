package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"issuerconsole/services/apiclient"
	"issuerconsole/services/issuance"
	"issuerconsole/views"
)

// The list screens (offerings, investments, investors) share one idea: the
// page's URL is the API query. These helpers keep it that way.

// canonicalQuery drops empty values (an empty value means "no filter"
// upstream, so nothing changes), joins repeated values of comma-list
// parameters (a multi-select submits one value per option) and keeps the
// last value of other repeated parameters (what the API would use).
func canonicalQuery(params []issuance.Param, q url.Values) url.Values {
	out := url.Values{}
	for name, vals := range q {
		var keep []string
		for _, v := range vals {
			if v != "" {
				keep = append(keep, v)
			}
		}
		if len(keep) == 0 {
			continue
		}
		p, known := issuance.FindParam(params, name)
		if known && p.In {
			out.Set(name, strings.Join(keep, ","))
		} else {
			out.Set(name, keep[len(keep)-1])
		}
	}
	return out
}

// canonicalRedirect sends a plain request with a non-canonical query to the
// canonical URL (303); for htmx it sets HX-Push-Url, so the address bar
// shows the canonical query too. It reports whether it answered.
func canonicalRedirect(c echo.Context, path string, q url.Values) (bool, error) {
	canon := path
	if enc := q.Encode(); enc != "" {
		canon += "?" + enc
	}
	// Only a different meaning warrants a redirect, not another order.
	if raw, err := url.ParseQuery(c.Request().URL.RawQuery); err == nil && reflect.DeepEqual(raw, q) {
		return false, nil
	}
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Push-Url", canon)
		return false, nil
	}
	return true, c.Redirect(http.StatusSeeOther, canon)
}

// fieldSpec places one parameter in a form; zero fields take defaults from
// the parameter's kind.
type fieldSpec struct {
	name, label, hint, widget string
	options                   []views.Option
}

type groupSpec struct {
	title  string
	fields []fieldSpec
}

var lookupWords = map[string]string{
	"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": "any of", "contains": "contains",
	"startswith": "starts with", "isnull": "is empty",
}

// autoLabel turns a parameter name into a readable label.
func autoLabel(name string) string {
	parts := strings.Split(name, "__")
	var words, tail []string
	for i, p := range parts {
		if w, ok := lookupWords[p]; ok && i > 0 {
			tail = append(tail, w)
			continue
		}
		if p == "date" && i > 0 {
			tail = append(tail, "date")
			continue
		}
		words = append(words, strings.ReplaceAll(p, "_", " "))
	}
	s := strings.Join(words, " ")
	if len(tail) > 0 {
		s += " " + strings.Join(tail, " ")
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func choiceOptions(choices []issuance.Choice, anyLabel string) []views.Option {
	var out []views.Option
	if anyLabel != "" {
		out = append(out, views.Option{Value: "", Label: anyLabel})
	}
	for _, c := range choices {
		out = append(out, views.Option{Value: c.Value, Label: c.Label + " (" + c.Value + ")"})
	}
	return out
}

func stringOptions(vals []string, anyLabel string) []views.Option {
	var out []views.Option
	if anyLabel != "" {
		out = append(out, views.Option{Value: "", Label: anyLabel})
	}
	for _, v := range vals {
		out = append(out, views.Option{Value: v, Label: v})
	}
	return out
}

var boolOptions = []views.Option{{Value: "", Label: "any"}, {Value: "true", Label: "yes"}, {Value: "false", Label: "no"}}

// buildField makes the form field of a parameter with its value, its local
// or API error and its note.
func buildField(p issuance.Param, spec fieldSpec, q url.Values, errs map[string][]string, notes map[string]string) views.FilterField {
	f := views.FilterField{Name: p.Name, Label: spec.label, Hint: spec.hint, Widget: spec.widget, Value: q.Get(p.Name), Note: notes[p.Name]}
	if f.Label == "" {
		f.Label = autoLabel(p.Name)
	}
	if msgs := errs[p.Name]; len(msgs) > 0 {
		f.Error = strings.Join(msgs, " ")
	}
	if f.Widget == "" {
		switch {
		case p.Broken:
			f.Widget, f.Hint = "text", "Broken upstream: use the plain yes/no filter."
		case p.Kind == issuance.KChoice:
			f.Widget = "select"
		case p.In && len(p.Choices) > 0:
			f.Widget = "checks" // visible choices, not a Ctrl-click multi-select
		case p.Kind == issuance.KBool:
			f.Widget = "bool"
		case p.Kind == issuance.KDate:
			f.Widget = "date"
		case p.Kind == issuance.KDateTime && !p.In:
			f.Widget = "datetime"
		case p.Kind == issuance.KSearch:
			f.Widget = "search"
		case (p.Kind == issuance.KDecimal || p.Kind == issuance.KInteger || p.Kind == issuance.KPK) && !p.In:
			f.Widget = "number"
		default:
			f.Widget = "text"
		}
		if p.In && f.Hint == "" && f.Widget == "text" {
			f.Hint = "Comma-separated."
		}
	}
	opts := spec.options
	switch {
	case opts != nil:
	case f.Widget == "bool":
		opts = boolOptions
	case f.Widget == "select":
		opts = choiceOptions(p.Labels, "any")
	case f.Widget == "multi" || f.Widget == "checks":
		opts = choiceOptions(p.Labels, "")
	}
	selected := map[string]bool{}
	if f.Widget == "multi" || f.Widget == "checks" {
		for _, v := range strings.Split(f.Value, ",") {
			selected[strings.TrimSpace(v)] = true
		}
	} else {
		selected[f.Value] = true
	}
	for _, o := range opts {
		o.Selected = selected[o.Value]
		f.Options = append(f.Options, o)
	}
	// A value the options do not offer stays visible rather than lost.
	if (f.Widget == "select" || f.Widget == "bool") && f.Value != "" && !slices.ContainsFunc(opts, func(o views.Option) bool { return o.Value == f.Value }) {
		f.Options = append(f.Options, views.Option{Value: f.Value, Label: f.Value + " (not a known value)", Selected: true})
	}
	return f
}

// buildForm lays out every parameter of params: the specs first, then any
// parameter the specs forgot, in a last group, so nothing is left out.
func buildForm(id, action, target string, params []issuance.Param, top []fieldSpec, groups []groupSpec, q url.Values, errs map[string][]string, notes map[string]string) views.FilterForm {
	f := views.FilterForm{ID: id, Action: action, Target: target, Top: make([]views.FilterField, 0, len(top)), Groups: make([]views.FilterGroup, 0, len(groups)+1)}
	placed := make(map[string]bool, len(params))
	placed["page"] = true
	field := func(s fieldSpec) (views.FilterField, bool) {
		p, ok := issuance.FindParam(params, s.name)
		if !ok {
			return views.FilterField{}, false
		}
		placed[s.name] = true
		fl := buildField(p, s, q, errs, notes)
		fl.Linked = s.name == "ordering" // the column headers set it too
		return fl, true
	}
	for _, s := range top {
		if fl, ok := field(s); ok {
			f.Top = append(f.Top, fl)
		}
	}
	for _, g := range groups {
		fg := views.FilterGroup{Title: g.title, Fields: make([]views.FilterField, 0, len(g.fields))}
		for _, s := range g.fields {
			if fl, ok := field(s); ok {
				fg.Fields = append(fg.Fields, fl)
				if fl.Value != "" || fl.Error != "" || fl.Note != "" {
					fg.Open = true
				}
			}
		}
		f.Groups = append(f.Groups, fg)
	}
	var rest views.FilterGroup
	for _, p := range params {
		if !placed[p.Name] {
			fl := buildField(p, fieldSpec{}, q, errs, notes)
			rest.Fields = append(rest.Fields, fl)
			if fl.Value != "" {
				rest.Open = true
			}
		}
	}
	if len(rest.Fields) > 0 {
		rest.Title = "More filters"
		f.Groups = append(f.Groups, rest)
	}
	for _, g := range f.Groups {
		f.AdvancedOpen = f.AdvancedOpen || g.Open
	}
	for name := range q {
		if _, ok := issuance.FindParam(params, name); !ok {
			f.Ignored = append(f.Ignored, name+"="+q.Get(name))
		}
	}
	sort.Strings(f.Ignored)
	return f
}

// apiFieldErrors separates an API's 400 field errors from other failures.
func apiFieldErrors(err error) (map[string][]string, bool) {
	var e *apiclient.Error
	if errors.As(err, &e) && e.Status == http.StatusBadRequest && len(e.Fields) > 0 {
		return e.Fields, true
	}
	return nil, false
}

// pager builds page links: first, last, and two around the current page.
func pager(path string, q url.Values, page, count, size int, target string) views.Pager {
	pages := max((count+size-1)/size, 1)
	p := views.Pager{Page: page, Pages: pages, Count: count, Target: target}
	link := func(n int) string {
		lq := url.Values{}
		for k, v := range q {
			lq[k] = v
		}
		lq.Del("page")
		if n > 1 {
			lq.Set("page", strconv.Itoa(n))
		}
		if enc := lq.Encode(); enc != "" {
			return path + "?" + enc
		}
		return path
	}
	if page > 1 {
		p.Links = append(p.Links, views.PageLink{Label: "‹ Previous", Href: link(page - 1), Rel: "prev"})
	}
	last := 0
	for n := 1; n <= pages; n++ {
		if n == 1 || n == pages || (n >= page-2 && n <= page+2) {
			if last != 0 && n > last+1 {
				p.Links = append(p.Links, views.PageLink{Gap: true})
			}
			p.Links = append(p.Links, views.PageLink{Label: strconv.Itoa(n), Href: link(n), Current: n == page})
			last = n
		}
	}
	if page < pages {
		p.Links = append(p.Links, views.PageLink{Label: "Next ›", Href: link(page + 1), Rel: "next"})
	}
	return p
}

// sortHeader makes a column header that toggles ordering on field.
func sortHeader(path string, q url.Values, label, field string, sortable []string, target string, num bool) views.SortHeader {
	h := views.SortHeader{Label: label, Target: target, Num: num}
	if !slices.Contains(sortable, field) {
		return h
	}
	cur := strings.TrimSpace(strings.Split(q.Get("ordering"), ",")[0])
	next := field
	switch cur {
	case field:
		h.Dir, next = "asc", "-"+field
	case "-" + field:
		h.Dir = "desc"
	}
	lq := url.Values{}
	for k, v := range q {
		lq[k] = v
	}
	lq.Del("page")
	lq.Set("ordering", next)
	h.Href = path + "?" + lq.Encode()
	return h
}

// pageOf reads the page number of a query (1 for none or "last").
func pageOf(q url.Values, count, size int) int {
	switch v := q.Get("page"); v {
	case "":
		return 1
	case "last":
		return max((count+size-1)/size, 1)
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return 1
		}
		return n
	}
}

// pageSizeOf reads page_size as the API does: invalid → default, clamped.
func pageSizeOf(q url.Values, def int) int {
	n, err := strconv.Atoi(q.Get("page_size"))
	if err != nil || n < 1 {
		return def
	}
	return min(n, 100)
}

// activeFilters lists the filters of q as removable chips: each links to
// the same list without it (one chip per value of a comma list). Paging,
// page size and order are not filters. words names a value for people
// (a status label, an offering name); nil shows values as they are.
func activeFilters(path string, q url.Values, f views.FilterForm, words func(param, value string) string) []views.Chip {
	labels := map[string]string{}
	for _, fl := range f.Top {
		labels[fl.Name] = fl.Label
	}
	for _, g := range f.Groups {
		for _, fl := range g.Fields {
			labels[fl.Name] = fl.Label
		}
	}
	without := func(name, value string) string {
		lq := url.Values{}
		for k, v := range q {
			lq[k] = v
		}
		lq.Del("page")
		if value == "" {
			lq.Del(name)
		} else {
			var keep []string
			for _, v := range strings.Split(q.Get(name), ",") {
				if strings.TrimSpace(v) != value {
					keep = append(keep, v)
				}
			}
			if len(keep) == 0 {
				lq.Del(name)
			} else {
				lq.Set(name, strings.Join(keep, ","))
			}
		}
		if enc := lq.Encode(); enc != "" {
			return path + "?" + enc
		}
		return path
	}
	names := make([]string, 0, len(q))
	for name := range q {
		switch name {
		case "page", "page_size", "ordering":
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var out []views.Chip
	for _, name := range names {
		label := labels[name]
		if label == "" {
			label = autoLabel(name)
		}
		show := func(v string) string {
			if words != nil {
				if w := words(name, v); w != "" {
					return w
				}
			}
			return v
		}
		if strings.HasSuffix(name, "__in") {
			for _, v := range strings.Split(q.Get(name), ",") {
				if v = strings.TrimSpace(v); v != "" {
					out = append(out, views.Chip{Label: label, Value: show(v), Remove: without(name, v)})
				}
			}
			continue
		}
		out = append(out, views.Chip{Label: label, Value: show(q.Get(name)), Remove: without(name, "")})
	}
	return out
}
