package portstest_test

import (
	"regexp"
	"testing"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/ports/portstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestCaseCounts checks that every suite has at least the number of cases
// the project promises (the README cites these functions), and that case
// names are unique, valid subtest names.
func TestCaseCounts(t *testing.T) {
	valid := regexp.MustCompile(`^[A-Z][A-Za-z0-9]+$`)
	for _, s := range []struct {
		suite string
		names []string
		min   int
	}{
		{"Cache", portstest.CacheCases(), 39},
		{"SQLStore", portstest.SQLStoreCases(), 104},
		{"DocStore", portstest.DocStoreCases(), 105},
		{"PubSub", portstest.PubSubCases(), 35},
		{"Connector", portstest.ConnectorCases(), 11},
		{"ErrorContract", portstest.ErrorContractCases(), 40},
	} {
		if len(s.names) < s.min {
			t.Errorf("%s suite has %d cases, want at least %d", s.suite, len(s.names), s.min)
		}
		seen := map[string]bool{}
		for _, n := range s.names {
			if seen[n] {
				t.Errorf("%s suite has two cases named %q", s.suite, n)
			}
			seen[n] = true
			if !valid.MatchString(n) {
				t.Errorf("%s suite case name %q is not a CamelCase subtest name", s.suite, n)
			}
		}
		t.Logf("%s: %d cases", s.suite, len(s.names))
	}
}
