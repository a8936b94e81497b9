package views

import (
	"context"
	"io"

	"github.com/a-h/templ"
)

// TableCells writes a row's cells exactly as TableCell renders each one
// (TestTableCellsMatchTableCell checks byte for byte). Deliberately not
// templ: a results page has 250 cells or more, and a component per cell
// (two, with cellContent; three with a badge), each with its closure,
// buffer lookup and fmt.Sprint, was half the search results' rendering
// time and most of their garbage (issue 15). TableCell stays the reference
// and the component for the few cells of other pages.
func TableCells(cells []Cell) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		cw := cellWriter{w: w}
		for _, c := range cells {
			cw.cell(c)
		}
		return cw.err
	})
}

type cellWriter struct {
	w   io.Writer
	err error
}

func (cw *cellWriter) put(s string) {
	if cw.err == nil {
		_, cw.err = io.WriteString(cw.w, s)
	}
}

func (cw *cellWriter) cell(c Cell) {
	if c.Num {
		cw.put(`<td class="num">`)
	} else {
		cw.put(`<td>`)
	}
	switch {
	case c.Badge != nil:
		b := c.Badge
		cw.put(`<span class="badge badge-`)
		cw.put(templ.EscapeString(string(b.Meaning)))
		cw.put(`" title="`)
		cw.put(templ.EscapeString(b.Code))
		cw.put(`" data-code="`)
		cw.put(templ.EscapeString(b.Code))
		cw.put(`">`)
		cw.put(templ.EscapeString(b.Label))
		cw.put(`</span>`)
	case c.Href != "":
		cw.put(`<a href="`)
		cw.put(templ.EscapeString(c.Href))
		cw.put(`">`)
		cw.put(templ.EscapeString(c.Value))
		cw.put(`</a> `)
	default:
		cw.put(templ.EscapeString(c.Value))
		cw.put(` `)
	}
	if c.Sub != "" {
		cw.put(`<span class="muted id">`)
		cw.put(templ.EscapeString(c.Sub))
		cw.put(`</span>`)
	}
	cw.put(`</td>`)
}
