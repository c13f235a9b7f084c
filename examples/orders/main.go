// Command orders is portkit's example hexagonal service: a small orders API
// whose domain and application code import only package ports (and the
// small typed helpers), wired from one URL per port through package open.
//
//	go run ./examples/orders      # every port on its in-memory fake (mem://)
//	ORDERS_SQL_URL='mysql://root@127.0.0.1:3306/test' \
//	ORDERS_CACHE_URL=redis://127.0.0.1:6379/0 go run ./examples/orders   # real SQL and cache, fake documents and pub/sub
//
// It prints the URL it listens on and a curl line to try. Flags:
//
//	-addr host:port   listen address (default $ADDR, else 127.0.0.1:8080; port 0 picks a free one)
//
// The variables (ORDERS_SQL_URL, ORDERS_DOC_URL, ORDERS_CACHE_URL,
// ORDERS_PUBSUB_URL and the service's own settings) are listed in package
// wiring. POST /orders writes the order and its order.created event in
// one SQL transaction (the transactional outbox); the outbox relay
// publishes the event; the projector consumes it into the read model
// under messaging's middleware; GET /orders/{id} reads through a
// cache-aside loader. GET /metrics serves the metrics in Prometheus'
// format; the standard OTEL_* variables (OTEL_EXPORTER_OTLP_ENDPOINT...)
// export traces and metrics over OTLP (see packages wiring and observe).
//
// SIGINT or SIGTERM shuts the service down gracefully: the HTTP server
// drains (an order whose POST got its 201 is committed with its event),
// the relay publishes what the outbox still holds, then the projector,
// the relay and the backends close in the reverse order they were opened,
// all within SHUTDOWN_TIMEOUT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/portkit/portkit/examples/orders/app"
	"github.com/portkit/portkit/examples/orders/httpapi"
	"github.com/portkit/portkit/examples/orders/observe"
	"github.com/portkit/portkit/examples/orders/wiring"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, a second one kills the process at once
		// instead of waiting for the graceful shutdown.
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		stop()
		os.Exit(1)
	}
}

// run is the whole service: it parses args and environ (os.Environ's
// "KEY=value" form), sets up the telemetry (with obsOpts, a test's span
// exporter), wires the ports, serves until ctx ends, then shuts down
// within the configured bound. Logs and the start-up banner go to
// stdout.
func run(ctx context.Context, args, environ []string, stdout io.Writer, obsOpts ...observe.Option) error {
	cfg, err := wiring.ConfigFromEnviron(environ)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet("orders", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen `address` (host:port); overrides $ADDR")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: cfg.LogLevel}))

	// Before Build: the adapters it opens record through the providers
	// this installs.
	tel, err := wiring.Observability(ctx, cfg.Environ, log, obsOpts...)
	if err != nil {
		return err
	}
	p, err := wiring.Build(ctx, cfg, log)
	if err != nil {
		return errors.Join(err, closeWithin(ctx, cfg.ShutdownTimeout, tel.Shutdown))
	}
	svc, err := app.New(app.Config{
		Orders: p.Orders, Lines: p.Lines, Tx: p.Tx, Audits: p.Audits, Views: p.Views,
		Cache: p.Cache, Publisher: p.Publisher,
		Topic: p.Names.Topic, KeyPrefix: p.Names.KeyPrefix, CacheTTL: cfg.CacheTTL,
		Logger: log,
	})
	if err != nil {
		return errors.Join(err, closeWithin(ctx, cfg.ShutdownTimeout, func(ctx context.Context) error {
			return errors.Join(p.Group.Close(ctx), tel.Shutdown(ctx))
		}))
	}
	// closeAll stops the service's cache refreshes, then the group: the
	// projector, the relay, then the backends, in reverse order; then
	// waits for the workers to return.
	closeAll := func(ctx context.Context) error {
		return errors.Join(svc.Close(ctx), p.Group.Close(ctx), p.Wait(ctx), tel.Shutdown(ctx))
	}
	// From here on every exit path closes everything.
	if _, err := p.Start(svc.HandleOrderCreated); err != nil {
		return errors.Join(err, closeWithin(ctx, cfg.ShutdownTimeout, closeAll))
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return errors.Join(fmt.Errorf("listen on %s: %w", cfg.Addr, err), closeWithin(ctx, cfg.ShutdownTimeout, closeAll))
	}
	var handler http.Handler = httpapi.New(svc, httpapi.Options{Ready: p.Group.Handler(), Logger: log})
	if tel.Metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", tel.Metrics)
		mux.Handle("/", handler)
		handler = mux
	}
	srv := &http.Server{
		Handler:           tel.Wrap(handler),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()

	url := "http://" + displayAddr(ln.Addr())
	// One write, so that a reader never sees the URL without the curl line.
	fmt.Fprintf(stdout, "listening on %s\n"+
		"try: curl -sS -X POST %s/orders -H 'Content-Type: application/json' -d '{\"customer\":\"ada\",\"lines\":[{\"sku\":\"book-1\",\"qty\":2,\"price_cents\":1250}]}'\n"+
		"then: curl -sS %s/orders/ID (the \"id\" it answers), %s/customers/ada/orders, %s/readyz\n",
		url, url, url, url, url)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("orders: shutting down", "cause", context.Cause(ctx))
	case err := <-serveErr:
		runErr = fmt.Errorf("serve: %w", err)
		log.Error("orders: server failed; shutting down", "error", err)
	}
	return errors.Join(runErr, shutdown(ctx, cfg.ShutdownTimeout, srv, p.DrainOutbox, closeAll, log))
}

// closeWithin runs close with a context of its own bounded by budget,
// for the exits before the service runs.
func closeWithin(ctx context.Context, budget time.Duration, closeFn func(context.Context) error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), budget)
	defer cancel()
	return closeFn(cctx)
}

// shutdown drains the server (half of the budget), lets the relay publish
// what the outbox holds (until three quarters of it) and closes the rest
// (the projector, the relay, the backends) with what is left, so that the
// whole takes at most budget.
func shutdown(ctx context.Context, budget time.Duration, srv *http.Server, drainOutbox, closeAll func(context.Context) error, log *slog.Logger) error {
	start := time.Now()
	base := context.WithoutCancel(ctx)
	var errs []error

	drainCtx, cancel := context.WithTimeout(base, budget/2)
	if err := srv.Shutdown(drainCtx); err != nil {
		// In-flight requests that did not finish are cut: their clients
		// get no 201, and their transactions roll back.
		errs = append(errs, fmt.Errorf("drain HTTP server: %w", err))
		_ = srv.Close()
	}
	cancel()

	// Every accepted order's event is in the outbox; let the relay send
	// them before it stops (on a real database the rows would wait for
	// the next start; on mem:// they would be lost).
	outboxCtx, cancel := context.WithTimeout(base, max(budget*3/4-time.Since(start), 0))
	if err := drainOutbox(outboxCtx); err != nil {
		errs = append(errs, err)
	}
	cancel()

	closeCtx, cancel := context.WithTimeout(base, max(budget-time.Since(start), 0))
	defer cancel()
	if err := closeAll(closeCtx); err != nil {
		errs = append(errs, fmt.Errorf("close: %w", err))
	}
	err := errors.Join(errs...)
	if err != nil {
		log.Error("orders: shutdown finished with errors", "error", err, "took", time.Since(start))
	} else {
		log.Info("orders: shutdown complete", "took", time.Since(start))
	}
	return err
}

// displayAddr turns a listener address into one a client can dial: an
// unspecified host (":8080", "[::]:8080") becomes localhost.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
