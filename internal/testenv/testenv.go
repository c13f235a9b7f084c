// Package testenv holds what portkit's own tests share: the rule that a
// missing backend skips a test, unless PORTKIT_REQUIRE_BACKENDS=1 (set by
// CI) makes it fail, and unique names for tables, keys and topics.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

// RequireBackendsVar is the environment variable that turns a missing
// backend from a skip into a failure.
const RequireBackendsVar = "PORTKIT_REQUIRE_BACKENDS"

// Required reports whether missing backends must fail tests.
func Required() bool {
	v := os.Getenv(RequireBackendsVar)
	return v == "1" || strings.EqualFold(v, "true")
}

// Missing reports a backend that is not configured or not reachable: the
// test is skipped with a one-line reason, or fails when backends are
// required.
func Missing(t testing.TB, backend, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s backend required (%s=1) but unavailable: %s", backend, RequireBackendsVar, reason)
	}
	t.Skipf("%s backend unavailable: %s", backend, reason)
}

// Env returns the value of the environment variable name, or calls Missing
// for backend when it is unset.
func Env(t testing.TB, backend, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		Missing(t, backend, name+" is not set")
	}
	return v
}

// UniqueName returns prefix followed by an underscore and 12 random hex
// characters: a table, collection, key prefix or topic no other test uses.
func UniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "_" + hex.EncodeToString(b[:])
}
