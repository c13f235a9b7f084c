package mongo

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/ports"
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
			msg := err.Error()
			if strings.Contains(msg, envFuzzMarker) || strings.Contains(fmt.Sprintf("%+v", err), envFuzzMarker) {
				t.Fatalf("ConfigFromEnv error shows the password: %s", msg)
			}
			if !errors.Is(err, ports.ErrInvalid) {
				t.Fatalf("ConfigFromEnv error %q does not wrap ErrInvalid", msg)
			}
			for _, k := range envconfig.Vars[Config]() {
				if strings.Contains(msg, k) {
					return
				}
			}
			t.Fatalf("ConfigFromEnv error %q names no variable", msg)
		}
		var b bytes.Buffer
		slog.New(slog.NewJSONHandler(&b, nil)).Info("cfg", "cfg", cfg)
		slog.New(slog.NewTextHandler(&b, nil)).Info("cfg", "cfg", cfg)
		for _, out := range []string{fmt.Sprintf("%v %+v %#v %s %q", cfg, cfg, cfg, cfg, cfg), b.String(), RedactURI(cfg.URI)} {
			if strings.Contains(out, envFuzzMarker) {
				t.Fatalf("Config from %q shows the password: %s", uri, out)
			}
		}
	})
}
