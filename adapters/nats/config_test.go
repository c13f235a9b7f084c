package nats_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/ports"
)

func TestConfigFromEnviron(t *testing.T) {
	t.Parallel()
	cfg, err := nats.ConfigFromEnviron(map[string]string{
		nats.EnvURL: "nats://a:4222, nats://b:4222", nats.EnvPrefix: "svc_1", nats.EnvCheckTimeout: "2s",
		nats.EnvStorage: "memory", nats.EnvReplicas: "3", nats.EnvMaxAge: "1h", nats.EnvPublishTimeout: "3s",
		nats.EnvPublishMaxPending: "100", nats.EnvReceiveGoroutines: "4", nats.EnvReceivePoll: "500ms",
		nats.EnvShutdownTimeout: "5s", nats.EnvUnavailableTimeout: "1m", nats.EnvUser: "app", nats.EnvPassword: "pw",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := nats.Config{URL: "nats://a:4222, nats://b:4222", User: "app", Password: "pw", Prefix: "svc_1", CheckTimeout: 2 * time.Second,
		Storage: "memory", Replicas: 3, MaxAge: time.Hour,
		Publish: nats.PublishConfig{Timeout: 3 * time.Second, MaxPending: 100},
		Receive: nats.ReceiveConfig{Goroutines: 4, Poll: 500 * time.Millisecond, ShutdownTimeout: 5 * time.Second, UnavailableTimeout: time.Minute}}
	if cfg != want {
		t.Errorf("ConfigFromEnviron = %+v, want %+v", cfg, want)
	}
	bad := map[string]map[string]string{
		"nothing set":                   {},
		"a bad duration":                {nats.EnvURL: "nats://h:4222", nats.EnvCheckTimeout: "soon"},
		"a negative duration":           {nats.EnvURL: "nats://h:4222", nats.EnvPublishTimeout: "-1s"},
		"a bad prefix":                  {nats.EnvURL: "nats://h:4222", nats.EnvPrefix: "a.b"},
		"a bad storage":                 {nats.EnvURL: "nats://h:4222", nats.EnvStorage: "disk"},
		"too many replicas":             {nats.EnvURL: "nats://h:4222", nats.EnvReplicas: "7"},
		"a short poll":                  {nats.EnvURL: "nats://h:4222", nats.EnvReceivePoll: "1ms"},
		"another scheme":                {nats.EnvURL: "http://h:4222"},
		"a path":                        {nats.EnvURL: "nats://h:4222/x"},
		"a query":                       {nats.EnvURL: "nats://h:4222?x=1"},
		"no host":                       {nats.EnvURL: "nats://"},
		"two ways to authenticate":      {nats.EnvURL: "nats://u:p@h:4222", nats.EnvToken: "t"},
		"a password without a user":     {nats.EnvURL: "nats://h:4222", nats.EnvPassword: "p"},
		"a certificate without its key": {nats.EnvURL: "nats://h:4222", nats.EnvCert: "c.pem"},
	}
	for name, env := range bad {
		_, err := nats.ConfigFromEnviron(env)
		testutil.CheckConfigError(t, err, "\x00no secret\x00", envconfig.Vars[nats.Config]())
		if t.Failed() {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if _, err := nats.Open(t.Context(), nats.Config{}); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("Open of a zero Config = %v, want ErrInvalid", err)
	}
}

// TestSecretsNeverShown: for every form of credential of the corpus (and
// the variables of this adapter), the Config never prints it, a refused
// URL's error does not quote it, and neither Open's error nor its log
// lines show it.
func TestSecretsNeverShown(t *testing.T) {
	t.Parallel()
	addr := faults.ClosedPort(t)
	forms := testutil.SecretForms(addr)
	forms = append(forms,
		testutil.SecretForm{Backend: "nats", Name: "NATS_PASSWORD", Env: map[string]string{nats.EnvURL: "nats://" + addr, nats.EnvUser: "app", nats.EnvPassword: testutil.SecretPassword}},
		testutil.SecretForm{Backend: "nats", Name: "NATS_TOKEN", Env: map[string]string{nats.EnvURL: "nats://" + addr, nats.EnvToken: testutil.SecretPassword}},
	)
	checked := 0
	for _, f := range forms {
		if f.Backend != "nats" {
			continue
		}
		checked++
		cfg, err := nats.ConfigFromEnviron(f.Env)
		if err != nil {
			testutil.CheckConfigError(t, err, testutil.SecretMarker, envconfig.Vars[nats.Config]())
			continue
		}
		testutil.CheckRendered(t, f.Name, cfg, testutil.SecretMarker)
		if strings.Contains(cfg.RedactedURL(), testutil.SecretMarker) {
			t.Errorf("%s: RedactedURL shows the secret: %s", f.Name, cfg.RedactedURL())
		}
		logger, logs := testutil.CaptureLogger()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		_, err = nats.Open(ctx, cfg, nats.WithLogger(logger))
		cancel()
		if err == nil {
			t.Fatalf("%s: Open of a closed port succeeded", f.Name)
		}
		if s := err.Error() + logs.String(); strings.Contains(s, testutil.SecretMarker) {
			t.Errorf("%s: Open's error or log shows the secret: %s", f.Name, s)
		}
		if !errors.Is(err, ports.ErrUnavailable) {
			t.Errorf("%s: Open of a closed port = %v, want ErrUnavailable", f.Name, err)
		}
	}
	if checked < 6 {
		t.Fatalf("only %d NATS credential forms in the corpus", checked)
	}
}
