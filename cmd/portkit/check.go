package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/lifecycle"
	"github.com/portkit/portkit/ports"
)

// openGrace is how long check waits, after the open timeout, for an
// adapter's Open to return its own error before it gives up on it.
const openGrace = time.Second

// backend is one kind of backend check knows how to open.
type backend struct {
	// name is the connector's name ("redis").
	name string
	// vars are the environment variables of which any one, set and not
	// empty, means the backend is configured.
	vars []string
	// prepare reads the backend's configuration from the environment
	// through lookup. Its error names the variable at fault and shows no
	// secret.
	prepare func(lookup lookupFunc) (prepared, error)
}

// lookupFunc is os.LookupEnv, or a test's environment.
type lookupFunc = func(string) (string, bool)

// prepared is a configured backend, ready to open.
type prepared struct {
	// target describes where the backend is, secrets redacted.
	target string
	// open connects within ctx and logs to logger.
	open func(ctx context.Context, logger *slog.Logger) (ports.Connector, error)
}

// checkOptions are the flags of the check command.
type checkOptions struct {
	timeout time.Duration
	json    bool
	verbose bool
	prefix  string
}

func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer, d deps) int {
	fs := flag.NewFlagSet("portkit check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o checkOptions
	fs.DurationVar(&o.timeout, "timeout", ports.DefaultCheckTimeout, "bound of each backend's connection and check")
	fs.BoolVar(&o.json, "json", false, "print the report as JSON")
	fs.BoolVar(&o.verbose, "v", false, "log the adapters' connection status to stderr")
	fs.StringVar(&o.prefix, "prefix", DefaultPrefix, "`prefix` of the URL variables (SQL_URL, DOC_URL, CACHE_URL, PUBSUB_URL): ORDERS_ for the example's")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "portkit check: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if o.timeout <= 0 {
		fmt.Fprintf(stderr, "portkit check: -timeout must be positive, got %v\n", o.timeout)
		return exitUsage
	}
	if !prefixRE.MatchString(o.prefix) {
		fmt.Fprintf(stderr, "portkit check: -prefix %q: want upper-case letters, digits and '_', ending with '_'\n", o.prefix)
		return exitUsage
	}
	backends := d.backends
	if d.urlBackends != nil {
		backends = append(d.urlBackends(o.prefix), d.backends...)
	}

	// Which backends are configured, and is their configuration valid?
	var (
		names   []string
		targets []prepared
		bad     bool
	)
	for _, b := range backends {
		if !configured(b, d.lookupEnv) {
			continue
		}
		p, err := b.prepare(d.lookupEnv)
		if err != nil {
			// The adapters' errors name the backend and the variable.
			fmt.Fprintf(stderr, "portkit check: %s\n", lifecycle.Redact(err.Error()))
			bad = true
			continue
		}
		names = append(names, b.name)
		targets = append(targets, p)
	}
	if bad {
		return exitUsage
	}
	if len(targets) == 0 {
		fmt.Fprintf(stderr, "portkit check: no backend configured: set one of %s\n", strings.Join(allVars(backends), ", "))
		return exitUsage
	}

	logger := slog.New(slog.DiscardHandler)
	if o.verbose {
		// The adapters redact what they log; the shared redactor runs over
		// every line once more, for driver text they quote.
		logger = slog.New(redact.Handler(slog.NewTextHandler(stderr, nil)))
	}
	g := lifecycle.NewGroup(lifecycle.WithLogger(logger))
	opened := openAll(ctx, names, targets, o.timeout, logger)
	for i, op := range opened {
		g.Add(op.conn, lifecycle.WithTimeout(o.timeout), lifecycle.WithTarget(targets[i].target))
	}
	report := g.Check(ctx)
	for i, op := range opened {
		if op.failed {
			report.Checks[i].Latency = op.latency // the time Open took to fail
		}
	}

	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.timeout)
	defer cancel()
	if err := g.Close(cctx); err != nil {
		fmt.Fprintf(stderr, "portkit check: close: %s\n", lifecycle.Redact(err.Error()))
	}

	if o.json {
		b, err := json.MarshalIndent(report, "", "  ")
		if err != nil {
			fmt.Fprintf(stderr, "portkit check: %v\n", err)
			return exitFailed
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		writeTable(stdout, report)
	}
	if !report.OK() {
		return exitFailed
	}
	return exitOK
}

// configured reports whether one of b's variables is set and not empty.
func configured(b backend, lookupEnv func(string) (string, bool)) bool {
	for _, v := range b.vars {
		if s, ok := lookupEnv(v); ok && s != "" {
			return true
		}
	}
	return false
}

func allVars(bs []backend) []string {
	var vars []string
	for _, b := range bs {
		vars = append(vars, b.vars...)
	}
	return vars
}

// opened is the outcome of one backend's Open.
type opened struct {
	conn    ports.Connector
	failed  bool
	latency time.Duration
}

// openAll opens the backends in parallel, each within timeout. A backend
// that fails to open becomes a connector whose check reports the failure,
// so that it shows in the report like any other.
func openAll(ctx context.Context, names []string, ps []prepared, timeout time.Duration, logger *slog.Logger) []opened {
	out := make([]opened, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() {
			start := time.Now()
			c, err := openWithin(ctx, names[i], p, timeout, logger)
			if err != nil {
				out[i] = opened{conn: failedConn{name: names[i], err: err}, failed: true, latency: time.Since(start)}
				return
			}
			out[i] = opened{conn: c, latency: time.Since(start)}
		})
	}
	wg.Wait()
	return out
}

// openWithin runs p.open with a context bounded by timeout and returns
// once it has returned or, should it ignore its context, openGrace after
// the deadline. A connector that an abandoned Open returns later is closed
// at once.
func openWithin(ctx context.Context, name string, p prepared, timeout time.Duration, logger *slog.Logger) (ports.Connector, error) {
	octx, cancel := context.WithTimeout(ctx, timeout)
	type result struct {
		c   ports.Connector
		err error
	}
	var (
		mu        sync.Mutex
		abandoned bool
	)
	done := make(chan result, 1)
	go func() {
		defer cancel()
		c, err := p.open(octx, logger)
		if err == nil && c == nil {
			err = fmt.Errorf("%s: open returned no connector", name)
		}
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			if c != nil {
				_ = c.Close(octx) // octx has ended: close without flushing
			}
			return
		}
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.c, r.err
	case <-octx.Done():
	}
	grace := time.NewTimer(openGrace)
	defer grace.Stop()
	select {
	case r := <-done:
		return r.c, r.err
	case <-grace.C:
	}
	mu.Lock()
	defer mu.Unlock()
	select {
	case r := <-done: // arrived just now
		return r.c, r.err
	default:
		abandoned = true
	}
	return nil, ports.NewError(name, "open", ports.ErrUnavailable,
		fmt.Errorf("did not return within %v: %w", timeout, context.Cause(octx)))
}

// failedConn stands for a backend that could not be opened: its check
// reports why.
type failedConn struct {
	name string
	err  error
}

func (f failedConn) Name() string                { return f.name }
func (f failedConn) Check(context.Context) error { return f.err }
func (f failedConn) Close(context.Context) error { return nil }

// writeTable prints report as an aligned table and a summary line.
func writeTable(w io.Writer, report lifecycle.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKEND\tSTATUS\tLATENCY\tTARGET\tERROR")
	for _, c := range report.Checks {
		status := "ok"
		if !c.OK {
			status = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(c.Name), status, formatLatency(c.Latency), cell(c.Target), cell(c.Error))
	}
	_ = tw.Flush()
	failed := len(report.Failed())
	if failed == 0 {
		fmt.Fprintf(w, "all %d backends answered\n", len(report.Checks))
	} else {
		fmt.Fprintf(w, "%d of %d backends failed\n", failed, len(report.Checks))
	}
}

// cell makes s fit one table cell: one line, no tab.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(s)
}

// formatLatency rounds d to three significant figures or so: 734µs,
// 12.35ms, 5.001s.
func formatLatency(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}
