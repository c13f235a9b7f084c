package fakes

import (
	"bytes"
	"context"
	"database/sql"
	"flag"
	"fmt"
	"go/format"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/portkit/portkit/internal/testenv"
)

// The utf8mb4_general_ci weight table of collation_table.go is generated
// from the server itself: with MYSQL_DSN set (a MariaDB with the SEQUENCE
// engine),
//
//	go test -run ^TestCollationTableMatchesServer$ ./fakes -args -write-collation-table
//
// rewrites it (by hand: go generate does not, as it needs the server);
// without the flag the test checks the committed table, and the comparison
// rules built on it, against the server.
var writeCollationTable = flag.Bool("write-collation-table", false, "rewrite fakes/collation_table.go from the server at MYSQL_DSN")

func openCollationServer(t *testing.T) *sql.DB {
	t.Helper()
	dsn := testenv.Env(t, "mysql", "MYSQL_DSN")
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("MYSQL_DSN: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		testenv.Missing(t, "mysql", err.Error())
	}
	return db
}

// serverWeights asks the server for the utf8mb4_general_ci weight of every
// Unicode scalar value, one query per plane.
func serverWeights(t *testing.T, db *sql.DB) (weights []uint16, version string) {
	t.Helper()
	ctx := t.Context()
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	weights = make([]uint16, 0x110000)
	seen := 0
	for lo := 0; lo < 0x110000; lo += 0x10000 {
		q := fmt.Sprintf("SELECT seq, WEIGHT_STRING(CONVERT(CHAR(seq USING utf32) USING utf8mb4) COLLATE utf8mb4_general_ci)"+
			" FROM seq_%d_to_%d WHERE seq NOT BETWEEN 55296 AND 57343", lo, lo+0xFFFF)
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatalf("weights of plane %d: %v", lo>>16, err)
		}
		for rows.Next() {
			var cp int
			var w []byte
			if err := rows.Scan(&cp, &w); err != nil {
				t.Fatal(err)
			}
			if len(w) != 2 {
				t.Fatalf("U+%04X: weight of %d bytes, the table holds 2", cp, len(w))
			}
			weights[cp] = uint16(w[0])<<8 | uint16(w[1])
			seen++
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if want := 0x110000 - 0x800; seen != want {
		t.Fatalf("server gave %d weights, want %d", seen, want)
	}
	return weights, version
}

func TestCollationTableMatchesServer(t *testing.T) {
	db := openCollationServer(t)
	weights, version := serverWeights(t, db)
	for cp := 0x10000; cp < len(weights); cp++ {
		if weights[cp] != 0xFFFD {
			t.Fatalf("U+%X weighs %#04x on the server; the fake weighs every supplementary character 0xFFFD", cp, weights[cp])
		}
	}
	if *writeCollationTable {
		writeTable(t, weights[:0x10000], version)
		return
	}
	w := generalCIWeights()
	bad := 0
	for cp := range 0x10000 {
		if cp >= 0xD800 && cp <= 0xDFFF {
			continue
		}
		if w[cp] != weights[cp] {
			if bad++; bad <= 10 {
				t.Errorf("U+%04X: table weight %#04x, server %#04x", cp, w[cp], weights[cp])
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d weights differ from the server (%s): regenerate with -write-collation-table", bad, version)
	}
	checkComparisons(t, db)
}

// checkComparisons compares random strings of tricky characters on the
// server (STRCMP under utf8mb4_general_ci) and with the fake's rules.
func checkComparisons(t *testing.T, db *sql.DB) {
	alphabet := []string{"a", "A", "ä", "b", "B", "é", "e", "É", "f", "Z", "z", " ", "\t", "\x01", "\u00a0",
		"ß", "s", "😀", "😁", "\ufffd", "中", "~", "_", "0", "Ω", "ω", "Σ", "ς"}
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		var b strings.Builder
		for range rng.IntN(5) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	const batch, batches = 100, 20
	for range batches {
		pairs := make([][2]string, batch)
		var q strings.Builder
		q.WriteString("SELECT ")
		args := make([]any, 0, 2*batch)
		for i := range pairs {
			a, b := word(), word()
			if i%5 == 0 { // trailing spaces and controls
				b = a + []string{" ", "  ", "\t", "\x01", "\u00a0"}[rng.IntN(5)]
			}
			pairs[i] = [2]string{a, b}
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("STRCMP(CONVERT(? USING utf8mb4) COLLATE utf8mb4_general_ci, CONVERT(? USING utf8mb4) COLLATE utf8mb4_general_ci)")
			args = append(args, a, b)
		}
		got := make([]int, batch)
		ptrs := make([]any, batch)
		for i := range got {
			ptrs[i] = &got[i]
		}
		if err := db.QueryRowContext(t.Context(), q.String(), args...).Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, p := range pairs {
			if fake := collGeneralCI.compare(p[0], p[1]); fake != got[i] {
				t.Errorf("compare(%+q, %+q) = %d, server says %d", p[0], p[1], fake, got[i])
			}
			if eq := collGeneralCI.key(p[0]) == collGeneralCI.key(p[1]); eq != (got[i] == 0) {
				t.Errorf("keys of %+q and %+q equal = %v, server compares %d", p[0], p[1], eq, got[i])
			}
		}
	}
}

// writeTable writes collation_table.go: the BMP code points whose weight is
// not the code point itself, as a constant string of 4-byte entries.
func writeTable(t *testing.T, weights []uint16, version string) {
	var body bytes.Buffer
	n := 0
	for cp, w := range weights {
		if cp >= 0xD800 && cp <= 0xDFFF || int(w) == cp {
			continue
		}
		if n%8 == 0 {
			if n > 0 {
				body.WriteString("\" +\n")
			}
			body.WriteString("\t\"")
		}
		fmt.Fprintf(&body, "\\x%02x\\x%02x\\x%02x\\x%02x", cp>>8, cp&0xFF, w>>8, w&0xFF)
		n++
	}
	body.WriteString("\"\n")
	src := fmt.Sprintf(`// Code generated by TestCollationTableMatchesServer -write-collation-table; DO NOT EDIT.

package fakes

// generalCISource is the server the weights were read from.
const generalCISource = %q

// generalCIExceptions lists the %d code points of the Basic Multilingual
// Plane whose utf8mb4_general_ci weight (WEIGHT_STRING on the server) is not
// the code point itself: 4 bytes each, the code point then its weight, big
// endian, in code point order. Every other BMP code point weighs itself;
// every supplementary character weighs 0xFFFD.
const generalCIExceptions = "" +
%s`, version, n, body.String())
	out, err := format.Source([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("collation_table.go", out, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote collation_table.go: %d exceptions from %s", n, version)
}
