package mongo

import (
	"strings"
	"testing"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/testutil"
)

// envFuzzMarker starts the password FuzzConfigFromEnv puts in MONGODB_URI
// (the fuzzed rest of the password follows it, unescaped, as a user may
// paste it); no output may show it.
const envFuzzMarker = "s3cr3t-P4ss"

// FuzzConfigFromEnv sets every variable ConfigFromEnv reads from fuzzed
// text, with a password starting with a known marker in MONGODB_URI
// (wherever the fuzzed parts around it move it), and in a secret URI
// option: ConfigFromEnviron never panics; its error wraps ErrInvalid, names a
// variable and never shows the password; a Config it returns shows no
// password when printed or logged.
func FuzzConfigFromEnv(f *testing.F) {
	f.Add("mongodb", "app", "!word", "db:27017", "/app", "", "10s", "5s", "1s", false)
	f.Add("mongodb+srv", "app", "", "cluster.example.com", "/?authSource=admin", "app", "", "", "", true)
	f.Add("mongodb", "", "", "db1,db2:27018", "/?replicaSet=rs0", "app", "-1s", "x", "", false)
	f.Add("mongo", "u@x", "/w", "db", "", "", "", "", "", false)
	f.Add("mongodb", "app", "?word", "db", "/app", "", "", "", "", false)
	f.Add("mongodb", "app", "@word", "db", "/a.b", "", "", "", "", false)
	f.Add("mongodb", "app", "%zz", "", "/%zz", "", "", "", "", true)
	f.Fuzz(func(t *testing.T, scheme, user, pwTail, hosts, rest, db, connect, selection, check string, secretOption bool) {
		for _, p := range []string{scheme, user, pwTail, hosts, rest, db, connect, selection, check} {
			if strings.Contains(p, "\x00") || strings.Contains(p, "3cr3t") || strings.Contains(p, "P4ss") {
				t.Skip("a variable cannot hold NUL; the marker must come from the password only")
			}
		}
		password := envFuzzMarker + pwTail
		uri := scheme + "://" + user + ":" + password + "@" + hosts + rest
		if secretOption {
			sep := "?"
			if strings.Contains(rest, "?") {
				sep = "&"
			}
			uri = scheme + "://" + user + "@" + hosts + rest + sep + "tlsCertificateKeyFilePassword=" + password
		}
		env := map[string]string{
			"MONGODB_URI":                      uri,
			"MONGODB_DATABASE":                 db,
			"MONGODB_CONNECT_TIMEOUT":          connect,
			"MONGODB_SERVER_SELECTION_TIMEOUT": selection,
			"MONGODB_CHECK_TIMEOUT":            check,
		}
		cfg, err := ConfigFromEnviron(env)
		if err != nil {
			testutil.CheckConfigError(t, err, envFuzzMarker, envconfig.Vars[Config]())
			return
		}
		testutil.CheckRendered(t, "Config", cfg, envFuzzMarker)
		if strings.Contains(RedactURI(cfg.URI), envFuzzMarker) {
			t.Fatalf("RedactURI(%q) shows the password", uri)
		}
	})
}
