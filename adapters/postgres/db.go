package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	gpostgres "gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/ports"
)

// DB is an open PostgreSQL database: a ports.Connector and a
// ports.Transactor, and the factory of stores (NewStore). It is safe for
// concurrent use.
type DB struct {
	core  *gormstore.DB // the gate, transactions, error wrapping
	conn  *obs.Instr    // Check and Close
	gorm  *gorm.DB
	pool  *sql.DB
	log   *slog.Logger
	addr  string
	check time.Duration
}

var (
	_ ports.Connector  = (*DB)(nil)
	_ ports.Transactor = (*DB)(nil)
)

// Option configures Open.
type Option func(*options)

type options struct {
	log *slog.Logger
	tel obs.Settings
}

// WithLogger sets the logger of the connection status, and of gorm
// (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// Open connects to the database of cfg, runs a first query within
// cfg.ConnectTimeout (5s by default; ctx may end it sooner) and returns
// the DB. It logs the connection status through log/slog, without
// credentials. An invalid cfg (or a nil ctx) is an error wrapping
// ports.ErrInvalid; refused credentials or a role without the CONNECT
// privilege, ports.ErrPermission; a database that does not exist,
// ports.ErrInvalid; a server that does not answer in time,
// ports.ErrUnavailable.
func Open(ctx context.Context, cfg Config, opts ...Option) (*DB, error) {
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if ctx == nil {
		return nil, ports.NewError(backend, "open", ports.ErrInvalid, errNilContext)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cc, err := cfg.connConfig()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout())
	defer cancel()

	addr := address(cc)
	d := &DB{log: o.log, addr: addr, check: cfg.CheckTimeout}
	if d.check <= 0 {
		d.check = ports.DefaultCheckTimeout
	}
	secrets := []string{cc.Password, cfg.Password, cfg.SSLPassword}
	d.pool = stdlib.OpenDB(*cc)
	d.pool.SetMaxOpenConns(cfg.MaxOpenConns)
	switch {
	case cfg.MaxIdleConns == 0:
		d.pool.SetMaxIdleConns(DefaultMaxIdleConns)
	case cfg.MaxIdleConns > 0:
		d.pool.SetMaxIdleConns(cfg.MaxIdleConns)
	default:
		d.pool.SetMaxIdleConns(0)
	}
	d.pool.SetConnMaxLifetime(cfg.ConnMaxLifetime)
	d.pool.SetConnMaxIdleTime(cfg.ConnMaxIdleTime)
	var version string
	if err := d.pool.QueryRowContext(ctx, "SHOW server_version").Scan(&version); err != nil {
		_ = d.pool.Close()
		err = redact.Error(err, secrets...)
		o.log.Warn("postgres: connect failed", slog.String("addr", addr), slog.String("error", err.Error()))
		return nil, classifier.Wrap("open "+addr, err, false)
	}

	slow := cfg.SlowThreshold
	if slow == 0 {
		slow = DefaultSlowThreshold
	}
	gcfg := &gorm.Config{
		Logger: gormstore.NewLogger(o.log, backend, slow, cfg.LogParams, serverText),
		// Every store call is one statement, atomic by itself; CreateMany
		// opens its own transaction when it needs several batches.
		SkipDefaultTransaction: true,
		// pgx prepares and caches every statement itself (its default
		// query exec mode, cache_statement): gorm's cache would prepare
		// each statement a second time.
		PrepareStmt: false,
		// Open has queried within its deadline already.
		DisableAutomaticPing: true,
		// CreatedAt and UpdatedAt in UTC at the columns' precision
		// (timestamptz: microseconds), as the port stores times.
		NowFunc: func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	g, err := gorm.Open(gpostgres.New(gpostgres.Config{Conn: d.pool}), gcfg)
	if err != nil {
		_ = d.pool.Close()
		return nil, ports.NewError(backend, "open", ports.ErrInvalid, err)
	}
	ddl, err := gorm.Open(ddlDialector{gpostgres.Dialector{Config: &gpostgres.Config{Conn: uncachedPool{d.pool}}}}, &gorm.Config{
		Logger: gcfg.Logger, SkipDefaultTransaction: true, DisableAutomaticPing: true, NowFunc: gcfg.NowFunc,
	})
	if err != nil {
		_ = d.pool.Close()
		return nil, ports.NewError(backend, "open", ports.ErrInvalid, err)
	}
	d.gorm = g
	host, port := serverAddress(cc)
	d.core = gormstore.NewDB(gormstore.Config{
		Gorm: g, DDL: ddl, Primary: d.pool,
		Dialect:   newDialect(cfg.LogParams, cc.DefaultQueryExecMode),
		Telemetry: o.tel, ServerAddress: host, ServerPort: port,
	})
	d.conn = d.core.Instr(obs.PortConnector, "")
	o.log.Info("postgres: connected",
		slog.String("addr", addr),
		slog.String("database", cc.Database),
		slog.String("user", cc.User),
		slog.String("server", version))
	return d, nil
}

// address renders the server pgx connects to first, host:port (a Unix
// socket as its directory).
func address(cc *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d", cc.Host, cc.Port)
}

// serverText renders a server error for a log line without its message,
// which may quote a value: severity and SQLSTATE.
func serverText(err error) (string, bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return "", false
	}
	return fmt.Sprintf("%s (SQLSTATE %s)", pe.Severity, pe.Code), true
}

// Name returns "postgres".
func (d *DB) Name() string { return backend }

// DB returns the underlying *gorm.DB, the escape hatch for what the ports
// do not cover. Statements made through it do not join a transaction of
// WithinTx; use Conn(ctx) for that.
func (d *DB) DB() *gorm.DB { return d.gorm }

// Check queries the server. It returns within ctx and the check timeout
// (Config.CheckTimeout, 5s by default): an error wrapping
// ports.ErrUnavailable when the server does not answer in time (with the
// context's error when ctx ended), ports.ErrPermission when it refuses
// the credentials, or ports.ErrClosed after Close.
func (d *DB) Check(ctx context.Context) error {
	ctx, sp := d.conn.Start(ctx, obs.OpCheck)
	err := d.doCheck(ctx)
	sp.End(err)
	return err
}

func (d *DB) doCheck(ctx context.Context) error {
	release, err := d.core.Enter(ctx, "check")
	if err != nil {
		return err
	}
	defer release()
	cctx, cancel := context.WithTimeout(ctx, d.check)
	defer cancel()
	if err := d.pool.PingContext(cctx); err != nil {
		err = d.core.Wrap(ctx, "check "+d.addr, err)
		if k := ports.KindOf(err); k == ports.ErrPermission || k == ports.ErrClosed || k == ports.ErrUnavailable {
			return err
		}
		return ports.NewError(backend, "check "+d.addr, ports.ErrUnavailable, errors.Unwrap(err))
	}
	return nil
}

// Close closes the DB: new calls fail with ports.ErrClosed at once, and
// a transaction still running cannot commit (WithinTx rolls it back and
// returns ports.ErrClosed). Close waits until ctx ends for the calls,
// streams and transactions in flight, then closes the pool; when ctx
// ends first it closes it anyway and returns ports.ErrUnavailable
// wrapping ctx's error. Every call after the first returns an error
// wrapping ports.ErrClosed; a nil ctx is ports.ErrInvalid (the DB stays
// open).
func (d *DB) Close(ctx context.Context) error {
	ctx, sp := d.conn.Start(ctx, obs.OpClose)
	err := d.close(ctx)
	sp.End(err)
	return err
}

func (d *DB) close(ctx context.Context) error {
	if d.core.Closed() {
		return errClosed("close")
	}
	if ctx == nil {
		return ports.NewError(backend, "close", ports.ErrInvalid, errNilContext)
	}
	if !d.core.BeginClose() {
		return errClosed("close")
	}
	waitErr := d.core.WaitIdle(ctx)
	if err := d.pool.Close(); err != nil {
		return ports.NewError(backend, "close", ports.ErrUnavailable, err)
	}
	if waitErr != nil {
		return ports.NewError(backend, "close", ports.ErrUnavailable, fmt.Errorf("calls still in flight: %w", waitErr))
	}
	d.log.Info("postgres: closed", slog.String("addr", d.addr))
	return nil
}

var errNilContext = errors.New("nil context.Context")

// errClosed is what every method returns after Close.
func errClosed(op string) error {
	return ports.NewError(backend, op, ports.ErrClosed, nil)
}

// errInvalid reports a bad argument detected before anything is sent.
func errInvalid(op string, cause error) error {
	return ports.NewError(backend, op, ports.ErrInvalid, cause)
}
