// Package csvsafe is the one CSV writer of the console: every CSV file it
// produces (audit export, investment export, import report, template) goes
// through it, so every text cell is guarded against spreadsheet formulas
// (OWASP "CSV injection"). Values in the data can be hostile: a failed
// sign-in's e-mail, an investor's name, an upstream API's answer.
package csvsafe

import (
	"encoding/csv"
	"io"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Column is one column of a file. A numeric column's cells are left alone
// when they are real numbers (so a spreadsheet still sums them); anything
// else in it is guarded like text.
type Column struct {
	Name    string
	Numeric bool
}

// Writer writes guarded records with a fixed set of columns.
type Writer struct {
	csv  *csv.Writer
	cols []Column
}

// NewWriter returns a writer for cols; call WriteHeader first.
func NewWriter(w io.Writer, cols []Column) *Writer {
	return &Writer{csv: csv.NewWriter(w), cols: cols}
}

// Names is a shorthand for all-text columns.
func Names(names ...string) []Column {
	out := make([]Column, len(names))
	for i, n := range names {
		out[i] = Column{Name: n}
	}
	return out
}

// WriteHeader writes the column names.
func (w *Writer) WriteHeader() error {
	rec := make([]string, len(w.cols))
	for i, c := range w.cols {
		rec[i] = c.Name
	}
	return w.Write(rec)
}

// Write writes one record, guarding every cell that is not a number in a
// numeric column. The record is not changed.
func (w *Writer) Write(rec []string) error {
	out := make([]string, len(rec))
	for i, v := range rec {
		if i < len(w.cols) && w.cols[i].Numeric && number.MatchString(v) {
			out[i] = v
			continue
		}
		out[i] = Guard(v)
	}
	return w.csv.Write(out)
}

// Flush writes buffered data to the underlying writer.
func (w *Writer) Flush() { w.csv.Flush() }

// Error reports any error of a previous Write or Flush.
func (w *Writer) Error() error { return w.csv.Error() }

var number = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$`)

// triggers start a formula in Excel, LibreOffice or Google Sheets (with
// their full-width forms, which some locales accept too).
const triggers = "=+-@\t\r\n＝＋－＠"

// Guard makes a text cell inert: a cell whose first character, after any
// leading white space, could start a formula gets a leading apostrophe,
// which spreadsheets show as text and do not display.
func Guard(v string) string {
	t := strings.TrimLeftFunc(v, func(r rune) bool { return unicode.IsSpace(r) && r != '\t' && r != '\r' && r != '\n' })
	if t == "" {
		return v
	}
	r, _ := utf8.DecodeRuneInString(t)
	if strings.ContainsRune(triggers, r) {
		return "'" + v
	}
	return v
}
