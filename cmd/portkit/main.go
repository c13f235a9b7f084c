// Command portkit holds the tools a portkit service's operators run.
//
// Usage:
//
//	portkit check [-timeout 5s] [-json] [-v] [-prefix PORTKIT_]
//	portkit pubsub-emulator [-host 127.0.0.1] [-port 8085]
//
// check opens every backend configured in the environment: one URL per
// port, through package open (PORTKIT_SQL_URL, PORTKIT_DOC_URL,
// PORTKIT_CACHE_URL, PORTKIT_PUBSUB_URL; -prefix ORDERS_ reads the
// example service's ORDERS_SQL_URL...), with the adapters' other
// variables read from the environment as the services read them; and,
// as before, the adapters' own variables (REDIS_URL; MYSQL_DSN, MYSQL_URL
// or MYSQL_HOST and the other MYSQL_ variables; MONGODB_URI;
// PUBSUB_PROJECT_ID and PUBSUB_EMULATOR_HOST). It checks them in parallel
// and prints a table of the results (name, status, latency, target),
// passwords redacted. It exits 0 when every backend answered, 1 when one
// did not, and 2 on a usage or configuration error, or when no backend is
// configured.
//
// pubsub-emulator serves an in-memory Pub/Sub fake (Google's pstest) for
// local development and tests until it receives SIGINT or SIGTERM; point
// the adapter at it with PUBSUB_EMULATOR_HOST.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit codes.
const (
	exitOK     = 0 // every check passed; the emulator stopped cleanly
	exitFailed = 1 // a check failed; the emulator failed
	exitUsage  = 2 // bad arguments, bad configuration, nothing configured
)

const usage = `usage:
  portkit check [-timeout 5s] [-json] [-v] [-prefix PORTKIT_]
      check the backends configured in the environment: one URL per port
      (PORTKIT_SQL_URL, PORTKIT_DOC_URL, PORTKIT_CACHE_URL,
      PORTKIT_PUBSUB_URL; -prefix ORDERS_ for ORDERS_SQL_URL...), and the
      adapters' variables (REDIS_URL, MYSQL_DSN/MYSQL_URL/MYSQL_HOST,
      MONGODB_URI, PUBSUB_EMULATOR_HOST/PUBSUB_PROJECT_ID); exit 0 when
      all answer, 1 when one does not, 2 on a usage or configuration error
  portkit pubsub-emulator [-host 127.0.0.1] [-port 8085]
      serve an in-memory Pub/Sub emulator until SIGINT or SIGTERM
`

// run is main without the process: it runs the subcommand named by args
// and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, stdout, stderr, defaultDeps())
}

// deps is what the subcommands take from the process, so that tests can
// replace it.
type deps struct {
	// lookupEnv is os.LookupEnv.
	lookupEnv func(string) (string, bool)
	// backends are the backends check knows from the adapters' variables.
	backends []backend
	// urlBackends returns the backends of the URL variables of a prefix
	// (nil: none).
	urlBackends func(prefix string) []backend
	// serveEmulator serves the Pub/Sub emulator on addr until ctx ends.
	serveEmulator emulatorFunc
}

func defaultDeps() deps {
	return deps{lookupEnv: os.LookupEnv, backends: adapterBackends(), urlBackends: urlBackends, serveEmulator: serveEmulator}
}

func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, d deps) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "check":
		return runCheck(ctx, args[1:], stdout, stderr, d)
	case "pubsub-emulator":
		return runEmulator(ctx, args[1:], stderr, d)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "portkit: unknown command %q\n%s", args[0], usage)
		return exitUsage
	}
}
