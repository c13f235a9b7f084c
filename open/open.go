package open

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/open/driver"
	"github.com/portkit/portkit/ports"
)

// Backend is the Backend of the errors package open returns itself.
const Backend = "open"

// Scheme is what an adapter provides: the URL schemes it serves and the
// openers of its ports (see package driver).
type Scheme = driver.Scheme

// SQL is an open SQL database: a ports.Transactor and a ports.Connector,
// with its redacted Target; make its stores with [NewSQLStore].
type SQL = driver.SQL

// Doc is an open document database: a ports.Transactor and a
// ports.Connector, with its redacted Target; make its stores with
// [NewDocStore].
type Doc = driver.Doc

// Cache is an open cache: a ports.Cache and its ports.Connector, with its
// redacted Target.
type Cache = driver.Cache

// PubSub is an open messaging backend: a ports.Publisher,
// ports.Subscriber and ports.Admin, and its ports.Connector, with its
// redacted Target.
type PubSub = driver.PubSub

// Mux opens ports from URLs with the schemes it was made with. It holds no
// connection and is safe for concurrent use; make it once with [New].
type Mux struct {
	byName map[string]*driver.Scheme
	names  []string // sorted
	err    error    // a configuration error New found, returned by every Open
}

var schemeRE = regexp.MustCompile(`^[a-z][a-z0-9+.\-]*$`)

// New returns the Mux of the given schemes — typically fakes.Schemes()
// and the Scheme() of each adapter the application links:
//
//	m := open.New(fakes.Schemes(), mysql.Scheme(), redis.Scheme())
//
// A scheme name given twice, or one that is not a valid lower-case URL
// scheme, makes every Open of the Mux fail with ErrInvalid naming it.
func New(schemes ...Scheme) *Mux {
	m := &Mux{byName: map[string]*driver.Scheme{}}
	var errs []error
	for i := range schemes {
		s := &schemes[i]
		if len(s.Names) == 0 {
			errs = append(errs, fmt.Errorf("scheme %d (%s) has no name", i, s.Backend))
		}
		for _, n := range s.Names {
			switch {
			case !schemeRE.MatchString(n):
				errs = append(errs, fmt.Errorf("scheme name %q is not a lower-case URL scheme", n))
			case m.byName[n] != nil:
				errs = append(errs, fmt.Errorf("scheme %s:// is provided twice (by %s and %s)", n, m.byName[n].Backend, s.Backend))
			default:
				m.byName[n] = s
				m.names = append(m.names, n)
			}
		}
	}
	slices.Sort(m.names)
	if len(errs) > 0 {
		m.err = ports.NewError(Backend, "new", ports.ErrInvalid, errors.Join(errs...))
	}
	return m
}

// Schemes returns the scheme names m opens, sorted.
func (m *Mux) Schemes() []string {
	if m == nil {
		return nil
	}
	return slices.Clone(m.names)
}

// Option configures one Open call.
type Option func(*options)

type options struct {
	environ map[string]string
	logger  *slog.Logger
}

// WithEnviron makes the opener read the adapter's variables from environ
// (variable → value) instead of the process environment. The map is read,
// never modified.
func WithEnviron(environ map[string]string) Option {
	return func(o *options) { o.environ = environ }
}

// WithLogger makes the opened adapter log through l instead of
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// The ports, as errors name them.
const (
	portSQL    = "sql"
	portDoc    = "doc"
	portCache  = "cache"
	portPubSub = "pubsub"
)

// OpenSQL opens the SQL database rawURL names: mem:// (the fake; add
// ?dialect=postgres for PostgreSQL's semantics), mysql:// (or mariadb://),
// postgres://, or any scheme m was given. Close the handle's Connector
// when done (a lifecycle.Group does).
func (m *Mux) OpenSQL(ctx context.Context, rawURL string, opts ...Option) (SQL, error) {
	h, err := openPort(ctx, m, portSQL, rawURL, opts, func(s *driver.Scheme) opener[SQL] { return s.SQL })
	if err != nil {
		return SQL{}, err
	}
	if h.Transactor == nil || h.Connector == nil {
		return SQL{}, incomplete(ctx, h.Connector, portSQL, h.Scheme)
	}
	return h, nil
}

// OpenDoc opens the document database rawURL names: mem:// (the fake),
// mongodb:// or mongodb+srv://, or any scheme m was given.
func (m *Mux) OpenDoc(ctx context.Context, rawURL string, opts ...Option) (Doc, error) {
	h, err := openPort(ctx, m, portDoc, rawURL, opts, func(s *driver.Scheme) opener[Doc] { return s.Doc })
	if err != nil {
		return Doc{}, err
	}
	if h.Transactor == nil || h.Connector == nil {
		return Doc{}, incomplete(ctx, h.Connector, portDoc, h.Scheme)
	}
	return h, nil
}

// OpenCache opens the cache rawURL names: mem:// (the fake; add
// ?key_prefix=p: to prefix every key), redis:// or rediss://, or any
// scheme m was given.
func (m *Mux) OpenCache(ctx context.Context, rawURL string, opts ...Option) (Cache, error) {
	h, err := openPort(ctx, m, portCache, rawURL, opts, func(s *driver.Scheme) opener[Cache] { return s.Cache })
	if err != nil {
		return Cache{}, err
	}
	if h.Cache == nil || h.Connector == nil {
		return Cache{}, incomplete(ctx, h.Connector, portCache, h.Scheme)
	}
	return h, nil
}

// OpenPubSub opens the messaging backend rawURL names: mem:// (the fake),
// gcppubsub://project (Google Pub/Sub; its emulator when
// PUBSUB_EMULATOR_HOST is set), nats://, or any scheme m was given.
func (m *Mux) OpenPubSub(ctx context.Context, rawURL string, opts ...Option) (PubSub, error) {
	h, err := openPort(ctx, m, portPubSub, rawURL, opts, func(s *driver.Scheme) opener[PubSub] { return s.PubSub })
	if err != nil {
		return PubSub{}, err
	}
	if h.Publisher == nil || h.Subscriber == nil || h.Admin == nil || h.Connector == nil {
		return PubSub{}, incomplete(ctx, h.Connector, portPubSub, h.Scheme)
	}
	return h, nil
}

type opener[H any] = func(context.Context, driver.Request) (H, error)

// handle is what openPort sets on every handle.
type handle interface {
	driver.SQL | driver.Doc | driver.Cache | driver.PubSub
}

// openPort parses rawURL, finds its scheme's opener of port, and calls it.
func openPort[H handle](ctx context.Context, m *Mux, port, rawURL string, opts []Option, pick func(*driver.Scheme) opener[H]) (H, error) {
	var zero H
	op := "open " + port
	if err := gate.CheckContext(ctx, Backend, op); err != nil {
		return zero, err
	}
	if m == nil {
		return zero, ports.NewError(Backend, op, ports.ErrInvalid, errors.New("nil Mux: make one with open.New"))
	}
	if m.err != nil {
		return zero, m.err
	}
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.environ == nil {
		o.environ = env.ToMap(os.Environ())
	}
	scheme, u, err := m.parse(op, port, rawURL)
	if err != nil {
		return zero, err
	}
	s := m.byName[scheme]
	open := pick(s)
	if open == nil {
		return zero, ports.NewError(Backend, op, ports.ErrInvalid,
			fmt.Errorf("scheme %s:// (%s) does not serve the %s port; schemes that do: %s", scheme, s.Backend, port, m.serving(port)))
	}
	h, err := open(ctx, driver.Request{Scheme: scheme, URL: u, Raw: rawURL, Environ: o.environ, Logger: o.logger})
	if err != nil {
		// The adapters' errors hold no secret; scrub the URL's once more
		// anyway, keeping the chain for errors.Is and errors.As.
		return zero, fmt.Errorf("%s %s://: %w", op, scheme, redact.Error(err, redact.Secrets(rawURL)...))
	}
	switch p := any(&h).(type) {
	case *driver.SQL:
		p.Scheme = scheme
	case *driver.Doc:
		p.Scheme = scheme
	case *driver.Cache:
		p.Scheme = scheme
	case *driver.PubSub:
		p.Scheme = scheme
	}
	return h, nil
}

// prefixRE finds the scheme of a string that may not parse as a URL.
var prefixRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.\-]*)://`)

// parse returns rawURL's scheme, known to m, and the parsed URL; its
// errors name the scheme and the schemes known, never the URL.
func (m *Mux) parse(op, port, rawURL string) (string, *url.URL, error) {
	fail := func(format string, args ...any) (string, *url.URL, error) {
		return "", nil, ports.NewError(Backend, op, ports.ErrInvalid, fmt.Errorf(format, args...))
	}
	if rawURL == "" {
		return fail("empty URL; want scheme://..., with one of the schemes %s", m.serving(port))
	}
	match := prefixRE.FindStringSubmatch(rawURL)
	if match == nil {
		return fail("not a URL (want scheme://..., with one of the schemes %s)", m.serving(port))
	}
	scheme := strings.ToLower(match[1])
	if m.byName[scheme] == nil {
		return fail("unknown scheme %s://; known schemes: %s (for the %s port: %s)", scheme, m.known(), port, m.serving(port))
	}
	u, err := url.Parse(rawURL)
	if err != nil && m.byName[scheme].OwnParser {
		return scheme, nil, nil // the opener reads the raw URL itself
	}
	if err != nil {
		// url.Parse quotes the whole URL: say nothing of it.
		return fail("%s:// URL is malformed (percent-encode '%%', '/', '?', '#' and '@' in the user name and password)", scheme)
	}
	return scheme, u, nil
}

func (m *Mux) known() string {
	if len(m.names) == 0 {
		return "none (give open.New the schemes, e.g. fakes.Schemes())"
	}
	return strings.Join(m.names, ", ")
}

// serving lists the schemes that serve port.
func (m *Mux) serving(port string) string {
	var out []string
	for _, n := range m.names {
		s := m.byName[n]
		if (port == portSQL && s.SQL != nil) || (port == portDoc && s.Doc != nil) ||
			(port == portCache && s.Cache != nil) || (port == portPubSub && s.PubSub != nil) {
			out = append(out, n+"://")
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ", ")
}

// closeTimeout bounds the Close of a handle open gives up on.
const closeTimeout = 5 * time.Second

// incomplete closes what an opener returned without every part of its
// handle, and reports the opener's bug.
func incomplete(ctx context.Context, c ports.Connector, port, scheme string) error {
	if c != nil {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
		defer cancel()
		_ = c.Close(cctx)
	}
	return ports.NewError(Backend, "open "+port, ports.ErrInvalid,
		fmt.Errorf("the opener of scheme %s:// returned an incomplete %s handle", scheme, port))
}
