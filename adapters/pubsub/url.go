package pubsub

import (
	"context"
	"strings"

	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/open/driver"
)

// URLScheme is the URL scheme of Google Pub/Sub, as Go CDK names it.
const URLScheme = "gcppubsub"

// Scheme returns the gcppubsub:// scheme of the messaging port (Publisher,
// Subscriber and Admin), for package open:
//
//	gcppubsub://my-project
//	gcppubsub://my-project?emulator_host=127.0.0.1:8085&publish_batch_delay=5ms
//	gcppubsub://            (the project from PUBSUB_PROJECT_ID, GOOGLE_CLOUD_PROJECT or the credentials)
//
// The host is the project (PUBSUB_PROJECT_ID). Each parameter is one of
// the adapter's variables without its PUBSUB_ prefix, in lower case
// (emulator_host, check_timeout, publish_batch_count, publish_timeout,
// receive_streams, shutdown_timeout, ...), and overrides the environment;
// the other variables come from the environment as ConfigFromEnviron reads
// them, so PUBSUB_EMULATOR_HOST set in the environment selects the
// emulator. Credentials are Application Default Credentials, never part
// of the URL: a URL with a user or password, a path, or an unknown
// parameter is ErrInvalid naming what is wrong.
func Scheme() driver.Scheme {
	return driver.Scheme{Names: []string{URLScheme}, Backend: backend, PubSub: openURL}
}

func openURL(ctx context.Context, r driver.Request) (driver.PubSub, error) {
	u := r.URL
	fail := func(format string, args ...any) (driver.PubSub, error) {
		return driver.PubSub{}, driver.Invalid(backend, "open", "gcppubsub:// URL: "+format, args...)
	}
	switch {
	case u.Opaque != "":
		return fail("want gcppubsub://project")
	case u.User != nil:
		return fail("credentials do not go in the URL (Application Default Credentials are used)")
	case u.Port() != "":
		return fail("the host is the project: it takes no port")
	case strings.Trim(u.Path, "/") != "":
		return fail("the host is the project: it takes no path")
	case u.Fragment != "":
		return fail("it takes no fragment")
	}
	project := u.Hostname()
	v := driver.Vars{Prefix: "PUBSUB_", All: envconfig.Vars[Config]()}
	if project != "" {
		v.Replaced = []string{EnvProjectID, EnvGoogleCloudProject}
	}
	env, err := r.Env(v)
	if err != nil {
		return driver.PubSub{}, err
	}
	if len(env.Rest) > 0 {
		return fail("unknown parameter %q (each parameter is a PUBSUB_ variable in lower case, without the prefix: emulator_host, publish_timeout, ...)", env.Rest[0])
	}
	if project != "" {
		env.Vars[EnvProjectID] = project
	}
	cfg, err := ConfigFromEnviron(env.Vars)
	if err != nil {
		return driver.PubSub{}, err
	}
	ps, err := Open(ctx, cfg, WithLogger(r.Logger))
	if err != nil {
		return driver.PubSub{}, err
	}
	target := "projects/" + cfg.ProjectID
	if cfg.ProjectID == "" {
		target = "projects/(from the credentials)"
	}
	if cfg.EmulatorHost != "" {
		target += " on emulator " + cfg.EmulatorHost
	}
	return driver.PubSub{Publisher: ps, Subscriber: ps, Admin: ps, Connector: ps, Target: target}, nil
}
