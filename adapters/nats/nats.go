package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/internal/subscribe"
	"github.com/portkit/portkit/ports"
)

// Interface checks.
var (
	_ ports.Publisher  = (*NATS)(nil)
	_ ports.Subscriber = (*NATS)(nil)
	_ ports.Connector  = (*NATS)(nil)
	_ ports.Admin      = (*NATS)(nil)
)

// How the connection reconnects after losing the server: every 250ms
// (±100ms), forever; a lost server is noticed within 15s by pings when
// the network drops packets silently.
const (
	reconnectWait   = 250 * time.Millisecond
	reconnectJitter = 100 * time.Millisecond
	pingInterval    = 5 * time.Second
	maxPingsOut     = 3
)

// closeGrace bounds how long Close waits, after its context has ended and
// it has hurried the running Subscribe calls, for them to return.
const closeGrace = subscribe.AbandonDelay + time.Second

// flushTimeout bounds the flush of the last acks and publishes, at the end
// of Subscribe and in Close.
const flushTimeout = 2 * time.Second

// errClosing is the cancellation cause Close gives running Subscribe calls.
var errClosing = errors.New("nats adapter closing")

// NATS is a [ports.Publisher], [ports.Subscriber], [ports.Admin] and
// [ports.Connector] over one NATS connection with JetStream. It is safe
// for concurrent use. Create it with [Open]; release it with Close.
type NATS struct {
	cfg     Config // defaults applied
	lay     layout
	nc      *nats.Conn
	js      jetstream.JetStream
	logger  *slog.Logger
	secrets []string
	dialer  *dialer

	gate  gate.Gate // closed state; counts Publish and admin calls in flight
	perms permWatch

	// mu guards subs, the running Subscribe calls, against Close.
	mu   sync.Mutex
	subs map[*subscriptionEntry]struct{}
	bg   sync.WaitGroup // running Subscribe calls

	streams sync.Map // names of the streams known to exist → struct{}

	kvMu sync.Mutex
	kv   jetstream.KeyValue // the registry, once opened

	closed chan struct{} // closed once Close has closed the connection

	acksMu sync.Mutex
	acks   map[*nats.Msg]tracked // messages handed to the client, until their callback

	pub, sub, admin, conn *obs.Instr // spans and metrics
}

// Option configures [Open].
type Option func(*options)

type options struct {
	logger   *slog.Logger
	natsOpts []nats.Option
	tel      obs.Settings
}

// WithLogger sets the logger of connection status, handler panics and
// failed dead-letter forwards (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithNATSOptions passes options to nats.Connect after the adapter's own
// (they take precedence), for what Config does not cover.
func WithNATSOptions(opts ...nats.Option) Option {
	return func(o *options) { o.natsOpts = append(o.natsOpts, opts...) }
}

// Open connects to the server, checks within cfg.CheckTimeout (and ctx)
// that JetStream answers, and logs the outcome. It returns an error
// wrapping ports.ErrInvalid for a bad Config (or a nil ctx),
// ports.ErrPermission when the server refuses the credentials, and
// ports.ErrUnavailable when the server does not answer: at once, naming
// the cause, when the port refuses connections or the host does not
// resolve; else once the bound has passed (the check timeout, or ctx's
// deadline when sooner), naming that bound.
//
// The connection reconnects forever, every 250ms (±100ms), once
// established; messages published meanwhile are buffered by the client
// (8 MiB) and sent on reconnection.
func Open(ctx context.Context, cfg Config, opts ...Option) (*NATS, error) {
	const op = "open"
	if ctx == nil {
		return nil, ports.NewError(backend, op, ports.ErrInvalid, gate.ErrNilContext)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	n := &NATS{
		cfg:     cfg,
		lay:     layout{prefix: cfg.Prefix},
		logger:  o.logger.With(slog.String("backend", backend)),
		secrets: cfg.secrets(),
		dialer:  &dialer{timeout: cfg.CheckTimeout},
		subs:    map[*subscriptionEntry]struct{}{},
		closed:  make(chan struct{}),
		acks:    map[*nats.Msg]tracked{},
	}
	n.instrument(o.tel)
	nopts, err := n.natsOptions()
	if err != nil {
		return nil, err
	}
	nopts = append(nopts, o.natsOpts...)
	servers, _ := cfg.servers()
	if err := gate.CheckContext(ctx, backend, op); err != nil {
		return nil, err
	}
	bound, what := n.bound(ctx)

	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(strings.Join(servers, ","), nopts...)
		done <- result{nc, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		go func() { // the dial is bounded by the check timeout
			if r := <-done; r.nc != nil {
				r.nc.Close()
			}
		}()
		err := fmt.Errorf("no answer within %s (%s): %w", roundBound(bound), what, ctx.Err())
		n.logger.LogAttrs(ctx, slog.LevelError, "nats unavailable", slog.Any("config", cfg), slog.Any("error", err))
		return nil, ports.NewError(backend, op, ports.ErrUnavailable, err)
	}
	if res.err != nil {
		err := n.connectError(op, res.err, bound, what)
		n.logger.LogAttrs(ctx, slog.LevelError, "nats unavailable", slog.Any("config", cfg), slog.Any("error", err))
		return nil, err
	}
	n.nc = res.nc
	n.js, err = jetstream.New(n.nc,
		jetstream.WithPublishAsyncMaxPending(cfg.Publish.MaxPending),
		jetstream.WithPublishAsyncTimeout(cfg.Publish.Timeout),
		jetstream.WithPublishAsyncAckHandler(n.onAck),
		jetstream.WithPublishAsyncErrHandler(n.onError))
	if err != nil {
		n.nc.Close()
		return nil, ports.NewError(backend, op, ports.ErrInvalid, err)
	}
	cctx, sp := n.conn.Start(ctx, obs.OpCheck)
	err = n.check(cctx, op)
	sp.End(err)
	if err != nil {
		n.logger.LogAttrs(ctx, slog.LevelError, "nats unavailable", slog.Any("config", cfg), slog.Any("error", err))
		n.nc.Close()
		return nil, err
	}
	n.logger.LogAttrs(ctx, slog.LevelInfo, "nats connected", slog.Any("config", cfg),
		slog.String("server_version", n.nc.ConnectedServerVersion()), slog.Int64("max_payload", n.nc.MaxPayload()))
	return n, nil
}

// natsOptions are the options of nats.Connect that cfg asks for.
func (n *NATS) natsOptions() ([]nats.Option, error) {
	c := n.cfg
	opts := []nats.Option{
		nats.Name("portkit"),
		nats.Timeout(c.CheckTimeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitter),
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOut),
		nats.SetCustomDialer(n.dialer),
		nats.ErrorHandler(n.asyncError),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if n.gate.Closed() {
				return
			}
			attrs := []slog.Attr{}
			if err != nil {
				attrs = append(attrs, slog.Any("error", n.scrub(err)))
			}
			n.logger.LogAttrs(context.Background(), slog.LevelWarn, "nats disconnected; reconnecting", attrs...)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			n.logger.LogAttrs(context.Background(), slog.LevelInfo, "nats reconnected",
				slog.String("server_version", nc.ConnectedServerVersion()))
		}),
	}
	switch {
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.CredsFile != "":
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, configError(fmt.Errorf("%s: %w", EnvNKey, err))
		}
		opts = append(opts, o)
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	if c.CertFile != "" {
		opts = append(opts, nats.ClientCert(c.CertFile, c.KeyFile))
	}
	return opts, nil
}

// asyncError receives the errors the server reports on the connection
// (permissions violations among them) and those of the client's
// subscriptions.
func (n *NATS) asyncError(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		n.perms.report(err)
	}
	n.logger.LogAttrs(context.Background(), slog.LevelWarn, "nats: error reported on the connection",
		slog.Any("error", n.scrub(err)))
}

// scrub removes the configuration's secrets from err's text.
func (n *NATS) scrub(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s", n.scrubText(err.Error()))
}

func (n *NATS) scrubText(s string) string { return redact.Scrub(s, n.secrets...) }

// connectError is the error of a failed nats.Connect.
func (n *NATS) connectError(op string, err error, bound time.Duration, what string) error {
	if last := n.dialer.lastError(); last != nil && errors.Is(err, nats.ErrNoServers) {
		if refusedOrUnknownHost(last) {
			return ports.NewError(backend, op, ports.ErrUnavailable, fmt.Errorf("%s: %w", describeDial(last), last))
		}
		var ne net.Error
		if errors.As(last, &ne) && ne.Timeout() {
			return ports.NewError(backend, op, ports.ErrUnavailable,
				fmt.Errorf("no answer within %s (%s): %w", roundBound(bound), what, last))
		}
		return n.classify(op, fmt.Errorf("%w: %w", err, last))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ports.NewError(backend, op, ports.ErrUnavailable,
			fmt.Errorf("no answer within %s (%s): %w", roundBound(bound), what, err))
	}
	return n.classify(op, err)
}

// bound is the bound of a call made with ctx: the check timeout, or ctx's
// deadline when sooner, and which of the two it is.
func (n *NATS) bound(ctx context.Context) (time.Duration, string) {
	bound, what := n.cfg.CheckTimeout, "the check timeout"
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < bound {
		bound, what = time.Until(dl), "the context's deadline"
	}
	return bound, what
}

// roundBound rounds a bound for a message: to 100ms from 1s on, else to
// the millisecond.
func roundBound(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}

// dialer dials the servers and remembers the outcome of the last dial, so
// that Open can tell a refused port or an unknown host from a slow
// network (nats.Connect reports only "no servers available").
type dialer struct {
	timeout time.Duration
	mu      sync.Mutex
	last    error
}

// Dial implements nats.CustomDialer.
func (d *dialer) Dial(network, address string) (net.Conn, error) {
	nd := net.Dialer{Timeout: d.timeout}
	c, err := nd.Dial(network, address)
	d.mu.Lock()
	d.last = err
	d.mu.Unlock()
	return c, err
}

func (d *dialer) lastError() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last
}

// Conn returns the underlying connection, for what the ports do not
// cover. Its lifetime is the adapter's: do not close it yourself.
func (n *NATS) Conn() *nats.Conn { return n.nc }

// JetStream returns the JetStream context of the connection.
func (n *NATS) JetStream() jetstream.JetStream { return n.js }

// Name returns "nats".
func (n *NATS) Name() string { return backend }

// Check asks the server for the account's JetStream information, bounded
// by the check timeout and ctx: nil when JetStream answers (a user not
// allowed to ask gets its permissions violation, which proves the server
// answers, and Check returns nil too). It returns ports.ErrUnavailable at
// once when the connection is down (the client is reconnecting) and when
// no answer comes within its bound (the error names it), and
// ports.ErrClosed after Close.
func (n *NATS) Check(ctx context.Context) error {
	ctx, sp := n.conn.Start(ctx, obs.OpCheck)
	err := n.doCheck(ctx)
	sp.End(err)
	return err
}

func (n *NATS) doCheck(ctx context.Context) error {
	const op = "check"
	release, err := n.gate.Enter(ctx, backend, op)
	if err != nil {
		return err
	}
	defer release()
	return n.check(ctx, op)
}

func (n *NATS) check(ctx context.Context, op string) error {
	if st := n.nc.Status(); st != nats.CONNECTED {
		cause := fmt.Errorf("not connected to the server (%s)", strings.ToLower(st.String()))
		if last := n.nc.LastError(); last != nil {
			cause = fmt.Errorf("%w: %w", cause, n.scrub(last))
		}
		if st == nats.CLOSED && n.gate.Closed() {
			return closedErr(op)
		}
		return ports.NewError(backend, op, ports.ErrUnavailable, cause)
	}
	bound, what := n.bound(ctx)
	cctx, cancel := context.WithTimeout(ctx, n.cfg.CheckTimeout)
	defer cancel()
	wctx, stop := n.perms.watchContext(cctx, apiSubject)
	defer stop()
	_, err := n.js.AccountInfo(wctx)
	if err == nil {
		return nil
	}
	if cause := context.Cause(wctx); cause != nil && errors.Is(cause, nats.ErrPermissionViolation) {
		return nil // the server answered; this user may not read account information
	}
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return n.wrap(ctx, op, err) // the caller gave up
	}
	if errors.Is(cctx.Err(), context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
		if n.gate.Closed() {
			return closedErr(op)
		}
		return ports.NewError(backend, op, ports.ErrUnavailable,
			fmt.Errorf("no answer within %s (%s): %w", roundBound(bound), what, err))
	}
	return n.wrap(ctx, op, err)
}

// Close stops accepting calls (they return ErrClosed), ends running
// Subscribe calls (which return ErrClosed once their handlers have
// returned, within their shutdown grace), and waits until every Publish
// call in flight has its acknowledgements, until ctx ends. It then
// flushes what the client still holds to the server (the messages of
// Publish calls that gave up waiting among them; their acknowledgements
// are not awaited) and closes the connection.
//
// When ctx ends first with calls in flight, Close returns an error
// wrapping ErrUnavailable that says how many; those calls return with
// their unacknowledged messages unconfirmed (they may or may not have
// been stored). Subscribe calls still stopping then have their handlers'
// contexts cancelled at once (and are abandoned a second later; their
// unacked messages are redelivered). A second Close returns ErrClosed.
func (n *NATS) Close(ctx context.Context) error {
	ctx, sp := n.conn.Start(ctx, obs.OpClose)
	err := n.doClose(ctx)
	sp.End(err)
	return err
}

func (n *NATS) doClose(ctx context.Context) error {
	const op = "close"
	if n.gate.Closed() {
		return closedErr(op)
	}
	if ctx == nil {
		return ports.NewError(backend, op, ports.ErrInvalid, gate.ErrNilContext)
	}
	n.mu.Lock()
	if !n.gate.Close() {
		n.mu.Unlock()
		return closedErr(op)
	}
	subs := make([]*subscriptionEntry, 0, len(n.subs))
	for s := range n.subs {
		subs = append(subs, s)
		s.cancel(errClosing)
	}
	n.mu.Unlock()

	var errs []error
	subsDone := make(chan struct{})
	go func() {
		n.bg.Wait()
		close(subsDone)
	}()
	callsErr := n.gate.Wait(ctx)
	select {
	case <-subsDone:
	case <-ctx.Done():
	}
	if ctx.Err() != nil {
		select {
		case <-subsDone:
		default:
			for _, s := range subs {
				s.hurry()
			}
			t := time.NewTimer(closeGrace)
			select {
			case <-subsDone:
			case <-t.C:
				errs = append(errs, fmt.Errorf("subscribe calls still stopping after %s", closeGrace))
			}
			t.Stop()
		}
	}
	if callsErr != nil {
		errs = append(errs, fmt.Errorf("%d calls still in flight; the messages they published may or may not have been stored: %w",
			n.gate.InFlight(), ctx.Err()))
	}
	if n.nc.Status() == nats.CONNECTED {
		_ = n.nc.FlushTimeout(flushTimeout)
	}
	n.nc.Close()
	close(n.closed)
	if len(errs) > 0 {
		return ports.NewError(backend, op, ports.ErrUnavailable, errors.Join(errs...))
	}
	return nil
}
