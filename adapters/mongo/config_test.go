package mongo

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

const secret = "s3cr3t-Pa55"

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	cfg, err := ConfigFromEnviron(map[string]string{
		"MONGODB_URI":           "mongodb://ann:" + secret + "@db1:27017,db2:27017/app?replicaSet=rs0",
		"MONGODB_DATABASE":      "",
		"MONGODB_CHECK_TIMEOUT": "2s",
	})
	if err != nil {
		t.Fatalf("configFromEnv: %v", err)
	}
	if cfg.database() != "app" {
		t.Errorf("database = %q, want app (from the URI path)", cfg.database())
	}
	if cfg.CheckTimeout != 2*time.Second || cfg.ConnectTimeout != DefaultConnectTimeout || cfg.ServerSelectionTimeout != DefaultServerSelectionTimeout {
		t.Errorf("timeouts = %v %v %v, want 2s and the defaults", cfg.CheckTimeout, cfg.ConnectTimeout, cfg.ServerSelectionTimeout)
	}

	cfg, err = ConfigFromEnviron(map[string]string{
		"MONGODB_URI":      "mongodb+srv://cluster0.example.net/",
		"MONGODB_DATABASE": "orders",
	})
	if err != nil || cfg.database() != "orders" {
		t.Errorf("MONGODB_DATABASE with an SRV URI: %v, %q", err, cfg.database())
	}
}

func TestConfigFromEnvErrors(t *testing.T) {
	t.Parallel()
	uri := "mongodb://ann:" + secret + "@db:27017/app"
	for _, c := range []struct {
		env  map[string]string
		want string // the variable the error must name
	}{
		{map[string]string{}, "MONGODB_URI"},
		{map[string]string{"MONGODB_URI": ""}, "MONGODB_URI"},
		{map[string]string{"MONGODB_URI": "postgres://ann:" + secret + "@db/app"}, "MONGODB_URI"},
		{map[string]string{"MONGODB_URI": "mongodb://ann:" + secret + "@/app"}, "MONGODB_URI"},
		{map[string]string{"MONGODB_URI": "mongodb://ann:" + secret + "@db/a%zzb"}, "MONGODB_URI"},
		{map[string]string{"MONGODB_URI": "mongodb://ann:" + secret + "@db:27017/"}, "MONGODB_DATABASE"},
		{map[string]string{"MONGODB_URI": uri, "MONGODB_CONNECT_TIMEOUT": "soon"}, "MONGODB_CONNECT_TIMEOUT"},
		{map[string]string{"MONGODB_URI": uri, "MONGODB_SERVER_SELECTION_TIMEOUT": "5"}, "MONGODB_SERVER_SELECTION_TIMEOUT"},
		{map[string]string{"MONGODB_URI": uri, "MONGODB_CHECK_TIMEOUT": "-1s"}, "MONGODB_CHECK_TIMEOUT"},
	} {
		_, err := ConfigFromEnviron(c.env)
		if !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("%v: err %v, want ErrInvalid", c.env, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %q does not name %s", c.env, err, c.want)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%v: error %q shows the password", c.env, err)
		}
	}
}

func TestConfigRedacts(t *testing.T) {
	t.Parallel()
	cfg := Config{
		URI:      "mongodb://ann:" + secret + "@db:27017/app?tls=true&tlsCertificateKeyFilePassword=" + secret + "x",
		Database: "app",
	}
	outs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%d", "%x", "%T"} {
		outs[verb] = fmt.Sprintf(verb, cfg)
		outs[verb+" of a pointer"] = fmt.Sprintf(verb, &cfg)
	}
	outs["nested %+v"] = fmt.Sprintf("%+v", struct{ C Config }{cfg})
	outs["String"] = cfg.String()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "config", cfg)
	outs["slog JSON"] = buf.String()
	buf.Reset()
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "config", &cfg)
	outs["slog text of a pointer"] = buf.String()
	for what, out := range outs {
		if strings.Contains(out, secret) {
			t.Errorf("%s shows a secret: %s", what, out)
		}
	}
	if !strings.Contains(outs["%v"], "ann:xxxxx@db:27017/app") {
		t.Errorf("%%v = %s, want the URI with the password redacted", outs["%v"])
	}
	if !strings.Contains(outs["slog JSON"], `"uri":"mongodb://ann:xxxxx@db:27017/app?tls=true&tlsCertificateKeyFilePassword=xxxxx"`) {
		t.Errorf("slog JSON = %s, want the redacted URI", outs["slog JSON"])
	}
}

func TestRedactURI(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                               "",
		"mongodb://db:27017/app":         "mongodb://db:27017/app",
		"mongodb://ann:pw@db/app":        "mongodb://ann:xxxxx@db/app",
		"mongodb://ann@db/app":           "mongodb://ann@db/app",
		"mongodb://ann:p%40w@h1,h2/?w=1": "mongodb://ann:xxxxx@h1,h2/?w=1",
		"mongodb://ann:p@w@db/app":       "mongodb://ann:xxxxx@db/app",
		"mongodb+srv://a:b@c.example/d?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:tok": "mongodb+srv://a:xxxxx@c.example/d?authMechanism=MONGODB-AWS&authMechanismProperties=xxxxx",
		"not a uri with pw": "xxxxx",
		"mongodb://ann:pw@": "mongodb://ann:xxxxx@",
		// An '@' after the first '/' or '?': part of the password may be
		// in the path or the options.
		"mongodb://ann:p?w@db/app":                           "xxxxx",
		"mongodb://ann:p/w@db/app":                           "xxxxx",
		"mongodb://ann:p/w@db":                               "xxxxx",
		"mongodb://an?n:pw@db/app":                           "xxxxx",
		"mongodb://db/app?tlsCertificateKeyFilePassword=a@b": "xxxxx",
		// Options as the driver reads them: split on ';' too, names
		// unescaped and case-insensitive; a stray '?' before a name.
		"mongodb://db/app?w=1;tlsCertificateKeyFilePassword=pw&x=2": "mongodb://db/app?w=1;tlsCertificateKeyFilePassword=xxxxx&x=2",
		"mongodb://db/app?TLSCERTIFICATEKEYFILE%50ASSWORD=pw":       "mongodb://db/app?TLSCERTIFICATEKEYFILE%50ASSWORD=xxxxx",
		"mongodb://u@db?0?tlsCertificateKeyFilePassword=pw":         "mongodb://u@db?0?tlsCertificateKeyFilePassword=xxxxx",
	} {
		if got := RedactURI(in); got != want {
			t.Errorf("RedactURI(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzRedactURI checks that RedactURI's output does not depend on the
// password: a URI and the same URI with another password redact alike.
func FuzzRedactURI(f *testing.F) {
	for _, s := range []string{"mongodb://u:pw@h/db", "mongodb+srv://u:p@w@h/?a=b", "mongodb://u:pw@h/db?tlsCertificateKeyFilePassword=pw2", "mongodb://:pw@h",
		// Found by fuzzing: an empty password, a '#' in the password.
		"mongodb://:@", "mongodb://0:#0@000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		got := RedactURI(uri)
		i := strings.Index(uri, "://")
		if i < 0 {
			if got != "" && got != "xxxxx" {
				t.Fatalf("RedactURI(%q) = %q for a non-URI", uri, got)
			}
			return
		}
		start := i + 3
		authority := uri[start:]
		if j := strings.IndexAny(authority, "/?"); j >= 0 {
			authority = authority[:j]
		}
		at := strings.LastIndex(authority, "@")
		if at < 0 {
			return
		}
		colon := strings.Index(authority[:at], ":")
		if colon < 0 {
			return
		}
		if strings.Contains(authority[colon:at], "#") {
			// The shared redactor reads '#' as the start of a fragment,
			// as url.Parse does (the driver does not): such a URI is
			// replaced whole, whatever the rest of the password.
			if got != "xxxxx" {
				t.Fatalf("RedactURI(%q) = %q, want it replaced whole", uri, got)
			}
			return
		}
		other := uri[:start+colon+1] + "OTHER" + uri[start+at:]
		if got2 := RedactURI(other); got != got2 {
			t.Fatalf("RedactURI depends on the password: %q -> %q, %q -> %q", uri, got, other, got2)
		}
	})
}

func TestScrub(t *testing.T) {
	t.Parallel()
	uri := "mongodb://ann:p%40ss-" + secret + "@db/app"
	cause := errors.New("auth failed for p@ss-" + secret)
	err := scrub(cause, uri)
	if strings.Contains(err.Error(), secret) {
		t.Errorf("scrub kept the password: %v", err)
	}
	if !errors.Is(err, cause) {
		t.Error("scrub lost the cause for errors.Is")
	}
	plain := errors.New("connection refused")
	if scrub(plain, uri) != plain {
		t.Error("scrub wrapped an error without a secret")
	}
}

// TestConfigPasswordSpecialCharacters: a password holding a character
// that ends a part of a URI is either read whole (every rendering then
// redacts it) or rejected with an ErrInvalid naming MONGODB_URI; no error
// and no rendering shows any part of it.
func TestConfigPasswordSpecialCharacters(t *testing.T) {
	t.Parallel()
	const pre, post = "pre-S3CR", "post-S3CR" // the password is pre + special + post
	type tc struct {
		uri   string
		valid bool
	}
	var cases []tc
	for _, ch := range []string{"@", "/", "?", "#", ")", ":", "&", "@/?#"} {
		pw := pre + ch + post
		// Unescaped, '/' and '?' end the authority before the '@'.
		valid := !strings.ContainsAny(ch, "/?")
		cases = append(cases,
			tc{"mongodb://app:" + pw + "@db:27017/app?authSource=admin", valid},
			tc{"mongodb://app:" + pw + "@db1,db2/app", valid},
			tc{"mongodb+srv://app:" + pw + "@cluster.example/app", valid},
			tc{"mongodb://app:" + url.QueryEscape(pw) + "@db:27017/app", true},
		)
	}
	cases = append(cases,
		tc{"mongodb://app:" + pre + "/" + post + "@db", false},
		tc{"mongodb://app:" + pre + "?" + post + "@db", false},
		tc{"mongodb://ap/p:" + pre + post + "@db/app", false},
		tc{"mongodb://ap?p:" + pre + post + "@db/app", false},
		tc{"mongodb://app@db/app?tls=true&tlsCertificateKeyFilePassword=" + pre + "@" + post, false},
		tc{"mongodb://app@db/app?tls=true&tlsCertificateKeyFilePassword=" + pre + "/" + post, true},
	)
	shows := func(s string) bool { return strings.Contains(s, pre) || strings.Contains(s, post) }
	for _, c := range cases {
		cfg, err := ConfigFromEnviron(map[string]string{"MONGODB_URI": c.uri})
		switch {
		case c.valid && err != nil:
			t.Errorf("%s: %v", c.uri, err)
		case !c.valid && err == nil:
			t.Errorf("%s: no error", c.uri)
		case err != nil:
			if !errors.Is(err, ports.ErrInvalid) || !strings.Contains(err.Error(), "MONGODB_URI:") {
				t.Errorf("%s: error %q, want ErrInvalid naming MONGODB_URI", c.uri, err)
			}
			if shows(err.Error()) {
				t.Errorf("%s: error shows the password: %v", c.uri, err)
			}
		}
		byHand := Config{URI: c.uri, Database: "app"}
		if err := byHand.validate(fieldName); (err == nil) != c.valid || (err != nil && shows(err.Error())) {
			t.Errorf("%s: validate = %v, want an error: %v, without the password", c.uri, err, !c.valid)
		}
		for _, cfg := range []Config{cfg, byHand} {
			var b bytes.Buffer
			slog.New(slog.NewJSONHandler(&b, nil)).Info("cfg", "cfg", cfg)
			for _, out := range []string{fmt.Sprintf("%v|%+v|%#v|%s|%q", cfg, cfg, cfg, cfg, cfg), b.String(), RedactURI(cfg.URI)} {
				if shows(out) {
					t.Errorf("%s: rendering shows the password: %s", c.uri, out)
				}
			}
		}
	}
}
