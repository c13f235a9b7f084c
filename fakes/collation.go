package fakes

// The weight table (collation_table.go) is data taken from the server, not
// generated from this module's sources, so go generate leaves it alone
// (it runs offline, in CI's mock-freshness step too). With MariaDB at
// MYSQL_DSN, regenerate it with
//
//	go test ./fakes -run '^TestCollationTableMatchesServer$' -args -write-collation-table
//
// and make test checks it against the server on every run.

import (
	"cmp"
	"strings"
	"sync"
	"unicode/utf8"
)

// collation is how a string column compares, sorts and collides in
// unique indexes and primary keys.
type collation uint8

const (
	// collBinary compares bytewise with no padding: PostgreSQL's "C"
	// collation as adapters/postgres creates its tables, and binary
	// columns everywhere.
	collBinary collation = iota
	// collGeneralCI is MariaDB's and MySQL's utf8mb4_general_ci, the
	// collation adapters/mysql creates its tables with: every character
	// of the Basic Multilingual Plane has one 16-bit weight (upper case,
	// accents stripped: a = A = ä, e = é = É), every supplementary
	// character weighs 0xFFFD (so all emoji are equal), and comparison is
	// PAD SPACE: the shorter string compares as if padded with spaces, so
	// trailing spaces are ignored ('abc ' = 'abc') while 'a\t' < 'a'.
	collGeneralCI
)

// String names the collation as the server does.
func (c collation) String() string {
	if c == collGeneralCI {
		return "utf8mb4_general_ci"
	}
	return "binary"
}

// compare orders a and b by the collation: -1, 0 or +1.
func (c collation) compare(a, b string) int {
	if c == collBinary {
		return strings.Compare(a, b)
	}
	return compareGeneralCI(a, b)
}

// key returns the equality key of s: two strings are equal under the
// collation exactly when their keys are equal. Unique indexes and string
// primary keys store keys.
func (c collation) key(s string) string {
	if c == collBinary {
		return s
	}
	s = strings.TrimRight(s, " ")
	w := generalCIWeights()
	b := make([]byte, 0, 2*len(s))
	for _, r := range s {
		x := weightOf(w, r)
		b = append(b, byte(x>>8), byte(x))
	}
	return string(b)
}

// compareGeneralCI compares by utf8mb4_general_ci weights; when one string
// runs out, the rest of the other is compared with spaces byte by byte, as
// MariaDB's strnncollsp does (a control character sorts before the
// padding, anything else after it).
func compareGeneralCI(a, b string) int {
	w := generalCIWeights()
	for len(a) > 0 && len(b) > 0 {
		ca, cb := a[0], b[0]
		if ca < utf8.RuneSelf && cb < utf8.RuneSelf { // ASCII fast path
			if wa, wb := w[ca], w[cb]; wa != wb {
				return cmp.Compare(wa, wb)
			}
			a, b = a[1:], b[1:]
			continue
		}
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if wa, wb := weightOf(w, ra), weightOf(w, rb); wa != wb {
			return cmp.Compare(wa, wb)
		}
		a, b = a[na:], b[nb:]
	}
	switch {
	case len(a) > 0:
		return padCompare(a)
	case len(b) > 0:
		return -padCompare(b)
	}
	return 0
}

// padCompare compares the rest of the longer string with the spaces the
// shorter one is padded with.
func padCompare(rest string) int {
	for i := 0; i < len(rest); i++ {
		switch c := rest[i]; {
		case c < ' ':
			return -1
		case c > ' ':
			return 1
		}
	}
	return 0
}

// weightOf returns the utf8mb4_general_ci weight of r.
func weightOf(w *[0x10000]uint16, r rune) uint16 {
	if r > 0xFFFF || r < 0 {
		return 0xFFFD
	}
	return w[r]
}

// generalCIWeights is the weight of every BMP code point, built once from
// the generated exception list (collation_table.go): a pure function of
// constant data, shared read-only.
var generalCIWeights = sync.OnceValue(func() *[0x10000]uint16 {
	var w [0x10000]uint16
	for i := range w {
		w[i] = uint16(i)
	}
	ex := generalCIExceptions
	for i := 0; i+4 <= len(ex); i += 4 {
		cp := uint16(ex[i])<<8 | uint16(ex[i+1])
		w[cp] = uint16(ex[i+2])<<8 | uint16(ex[i+3])
	}
	return &w
})
