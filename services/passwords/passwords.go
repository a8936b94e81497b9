// Package passwords checks a new Issuance user password the way Django's
// default validators do (the AUTH_PASSWORD_VALIDATORS of a new Django 3.2
// project: user attribute similarity, minimum length 8, common passwords,
// entirely numeric), with Django's messages, before it is sent. The
// Issuance API documents no password rule of its own, so these are the
// floor; whatever else the API refuses is shown from its 400 answer.
package passwords

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"regexp"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Django's list of 20,000 common passwords (lowercased), copied from
// Debian's python3-django 3.2.25, django/contrib/auth/common-passwords.txt.gz
// (BSD licence, list by Royce Williams).
//
//go:embed common-passwords.txt.gz
var commonGz []byte

var common = sync.OnceValue(func() map[string]bool {
	zr, err := gzip.NewReader(bytes.NewReader(commonGz))
	if err != nil {
		panic("passwords: embedded list: " + err.Error())
	}
	set := make(map[string]bool, 20000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		set[strings.TrimSpace(sc.Text())] = true
	}
	return set
})

// MinLength is Django's default minimum.
const MinLength = 8

const maxSimilarity = 0.7

var nonWord = regexp.MustCompile(`\W+`)

// Validate returns every problem with password for a user with this
// e-mail, in Django's order and words; none means it may be sent.
func Validate(password, email string) []string {
	var out []string
	if similar(password, email) {
		out = append(out, "The password is too similar to the email address.")
	}
	if utf8.RuneCountInString(password) < MinLength {
		out = append(out, "This password is too short. It must contain at least 8 characters.")
	}
	if common()[strings.ToLower(strings.TrimSpace(password))] {
		out = append(out, "This password is too common.")
	}
	if numeric(password) {
		out = append(out, "This password is entirely numeric.")
	}
	return out
}

// similar is UserAttributeSimilarityValidator for the e-mail: the whole
// address and each of its parts, compared with difflib's quick_ratio.
func similar(password, email string) bool {
	if email == "" {
		return false
	}
	pw := []rune(strings.ToLower(password))
	v := strings.ToLower(email)
	for _, part := range append(nonWord.Split(v, -1), v) {
		p := []rune(part)
		// exceeds_maximum_length_ratio: a much longer password cannot be similar.
		if len(pw) >= 10*len(p) && float64(len(p)) < maxSimilarity/2*float64(len(pw)) {
			continue
		}
		if quickRatio(pw, p) >= maxSimilarity {
			return true
		}
	}
	return false
}

// quickRatio is difflib.SequenceMatcher.quick_ratio: twice the size of the
// multiset intersection of the characters over the total length.
func quickRatio(a, b []rune) float64 {
	if len(a)+len(b) == 0 {
		return 1
	}
	avail := map[rune]int{}
	for _, r := range b {
		avail[r]++
	}
	matches := 0
	for _, r := range a {
		if avail[r] > 0 {
			avail[r]--
			matches++
		}
	}
	return 2 * float64(matches) / float64(len(a)+len(b))
}

// numeric is Python's str.isdigit for a non-empty string.
func numeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !unicode.IsDigit(r) {
			return false
		}
	}
	return true
}
