package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	gmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/portkit/portkit/internal/gormstore"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

const (
	// stmtCacheSize bounds gorm's prepared-statement cache per pool; the
	// least recently used statement is closed beyond it.
	stmtCacheSize = 512
	// stmtCacheTTL is gorm's own "no expiry" value (internal/lru's
	// noEvictionTTL). With any other TTL gorm starts, per cache, a
	// goroutine that never exits; with this one it starts none. Statements
	// still leave the cache by LRU eviction and are closed with the pool.
	stmtCacheTTL = time.Hour * 24 * 365 * 10
)

// DB is an open MySQL or MariaDB database: a ports.Connector and a
// ports.Transactor, and the factory of stores (NewStore). It is safe for
// concurrent use.
type DB struct {
	core     *gormstore.DB // the gate, transactions, error wrapping
	gorm     *gorm.DB
	primary  *sql.DB
	replicas []*sql.DB
	log      *slog.Logger
	addr     string
	check    time.Duration
	conn     *obs.Instr // Check and Close
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

// WithLogger sets the logger of the connection status, of gorm and of the
// driver (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// Open connects to the database of cfg and to its replicas, pings each
// within cfg.ConnectTimeout (5s by default; ctx may end it sooner) and
// returns the DB. It logs the connection status through log/slog, without
// credentials. An invalid cfg (or a nil ctx) is an error wrapping
// ports.ErrInvalid; refused credentials, ports.ErrPermission; a server
// that does not answer in time, ports.ErrUnavailable.
func Open(ctx context.Context, cfg Config, opts ...Option) (*DB, error) {
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if ctx == nil {
		return nil, ports.NewError(backend, "open", ports.ErrInvalid, errNilContext)
	}
	if err := cfg.Validate(); err != nil {
		return nil, ports.NewError(backend, "open", ports.ErrInvalid, err)
	}
	pc, err := cfg.primaryConfig()
	if err != nil {
		return nil, ports.NewError(backend, "open", ports.ErrInvalid, err)
	}
	rcs, err := cfg.replicaConfigs()
	if err != nil {
		return nil, ports.NewError(backend, "open", ports.ErrInvalid, err)
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.connectTimeout())
	defer cancel()

	d := &DB{log: o.log, addr: pc.Addr, check: cfg.CheckTimeout}
	if d.check <= 0 {
		d.check = ports.DefaultCheckTimeout
	}
	var version string
	d.primary, version, err = openPool(ctx, cfg, pc, o.log)
	if err != nil {
		o.log.Warn("mysql: connect failed", slog.String("addr", pc.Addr), slog.String("error", err.Error()))
		return nil, classifier.Wrap("open "+pc.Addr, err, false)
	}
	for _, rc := range rcs {
		r, _, err := openPool(ctx, cfg, rc, o.log)
		if err != nil {
			d.closePools()
			o.log.Warn("mysql: replica connect failed", slog.String("addr", rc.Addr), slog.String("error", err.Error()))
			return nil, classifier.Wrap("open replica "+rc.Addr, err, false)
		}
		d.replicas = append(d.replicas, r)
	}

	slow := cfg.SlowThreshold
	if slow == 0 {
		slow = DefaultSlowThreshold
	}
	gcfg := &gorm.Config{
		Logger: newSlogLogger(o.log, slow, cfg.LogParams),
		// Every store call is one statement, atomic by itself; CreateMany
		// opens its own transaction when it needs several batches.
		SkipDefaultTransaction: true,
		PrepareStmt:            !cfg.DisablePreparedStmt,
		PrepareStmtMaxSize:     stmtCacheSize,
		PrepareStmtTTL:         stmtCacheTTL,
		// Open has pinged within its deadline already; gorm's own ping
		// takes no context.
		DisableAutomaticPing: true,
		// CreatedAt and UpdatedAt in UTC at the columns' precision
		// (datetime(3)), as the port stores times.
		NowFunc: func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) },
	}
	g, err := gorm.Open(dialector(d.primary, version), gcfg)
	if err != nil {
		d.closePools()
		return nil, ports.NewError(backend, "open", ports.ErrInvalid, err)
	}
	ddl := g
	if len(d.replicas) > 0 {
		// Migrations read the schema (HasTable, ColumnTypes) before they
		// change it: from the primary, not from a replica that may lag.
		ddl, err = gorm.Open(dialector(d.primary, version), &gorm.Config{
			Logger: gcfg.Logger, SkipDefaultTransaction: true, DisableAutomaticPing: true, NowFunc: gcfg.NowFunc,
		})
		if err != nil {
			d.closePools()
			return nil, ports.NewError(backend, "open", ports.ErrInvalid, err)
		}
		rd := make([]gorm.Dialector, len(d.replicas))
		for i, r := range d.replicas {
			rd[i] = dialector(r, version)
		}
		if err := g.Use(dbresolver.Register(dbresolver.Config{Replicas: rd, Policy: dbresolver.RandomPolicy{}})); err != nil {
			d.closePools()
			return nil, ports.NewError(backend, "open replicas", ports.ErrInvalid, err)
		}
	}
	d.gorm = g
	host, port := serverAddress(pc)
	system := ""
	if strings.Contains(version, "MariaDB") {
		system = "mariadb"
	}
	d.core = gormstore.NewDB(gormstore.Config{
		Gorm: g, DDL: ddl, Primary: d.primary, Replicas: len(d.replicas) > 0,
		Dialect:   dialect{logParams: cfg.LogParams},
		Telemetry: o.tel, System: system, ServerAddress: host, ServerPort: port,
	})
	d.conn = d.core.Instr(obs.PortConnector, "")
	o.log.Info("mysql: connected",
		slog.String("addr", pc.Addr),
		slog.String("database", pc.DBName),
		slog.String("user", pc.User),
		slog.String("server", version),
		slog.Int("replicas", len(d.replicas)),
		slog.Bool("prepared_statements", gcfg.PrepareStmt))
	return d, nil
}

// openPool opens a pool for dc, applies the pool settings and pings it
// within ctx; it returns the server version.
func openPool(ctx context.Context, cfg Config, dc *mysqldrv.Config, log *slog.Logger) (*sql.DB, string, error) {
	dc.Logger = driverLogger{log: log}
	// Statements outside gorm's prepared-statement cache (those of a
	// transaction, which runs on a connection of its own, and every
	// statement with DisablePreparedStmt) are sent in one round trip, with
	// the driver's escaping, instead of a prepare, an execute and a close.
	dc.InterpolateParams = true
	conn, err := mysqldrv.NewConnector(dc)
	if err != nil {
		return nil, "", scrubbed(err, dc.Passwd)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(cfg.MaxOpenConns)
	switch {
	case cfg.MaxIdleConns == 0:
		db.SetMaxIdleConns(DefaultMaxIdleConns)
	case cfg.MaxIdleConns > 0:
		db.SetMaxIdleConns(cfg.MaxIdleConns)
	default:
		db.SetMaxIdleConns(0)
	}
	db.SetConnMaxLifetime(cfg.ConnMaxLifetime)
	db.SetConnMaxIdleTime(cfg.ConnMaxIdleTime)
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		_ = db.Close()
		return nil, "", scrubbed(err, dc.Passwd)
	}
	return db, version, nil
}

// scrubbed returns err, or a copy of its text without secret when the
// driver's message contains it.
func scrubbed(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(scrub(err.Error(), secret))
}

// dialector returns gorm's MySQL dialector over an open pool. The server
// version is given, so that gorm sends no unbounded query of its own; the
// flags gorm would derive from it are set the same way.
func dialector(pool *sql.DB, version string) gorm.Dialector {
	c := gmysql.Config{Conn: pool, ServerVersion: version, SkipInitializeWithVersion: true}
	switch {
	case strings.Contains(version, "MariaDB"):
		c.DontSupportRenameIndex = true
		c.DontSupportRenameColumn = true
		c.DontSupportForShareClause = true
		c.DontSupportNullAsDefaultValue = true
	case strings.HasPrefix(version, "5.6."):
		c.DontSupportRenameIndex = true
		c.DontSupportRenameColumn = true
		c.DontSupportForShareClause = true
		c.DontSupportDropConstraint = true
	case strings.HasPrefix(version, "5.7."):
		c.DontSupportRenameColumn = true
		c.DontSupportForShareClause = true
		c.DontSupportDropConstraint = true
	case strings.HasPrefix(version, "5."):
		c.DisableDatetimePrecision = true
		c.DontSupportRenameIndex = true
		c.DontSupportRenameColumn = true
		c.DontSupportForShareClause = true
		c.DontSupportDropConstraint = true
	}
	if strings.Contains(version, "TiDB") {
		c.DontSupportRenameColumnUnique = true
	}
	return gmysql.New(c)
}

// Name returns "mysql".
func (d *DB) Name() string { return backend }

// DB returns the underlying *gorm.DB, the escape hatch for what the ports
// do not cover. Statements made through it do not join a transaction of
// WithinTx; use Conn(ctx) for that.
func (d *DB) DB() *gorm.DB { return d.gorm }

// Check pings the primary and every replica. It returns within ctx and the
// check timeout (Config.CheckTimeout, 5s by default): an error wrapping
// ports.ErrUnavailable when a server does not answer in time (with the
// context's error when ctx ended), ports.ErrPermission when the server
// refuses the credentials, or ports.ErrClosed after Close.
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
	if err := d.primary.PingContext(cctx); err != nil {
		return d.checkErr(ctx, "check "+d.addr, err)
	}
	for i, r := range d.replicas {
		if err := r.PingContext(cctx); err != nil {
			return d.checkErr(ctx, fmt.Sprintf("check replica %d", i), err)
		}
	}
	return nil
}

// checkErr classifies a failed ping: whatever stopped it, the server did
// not answer (ErrUnavailable), unless it refused the credentials.
func (d *DB) checkErr(ctx context.Context, op string, err error) error {
	err = d.core.Wrap(ctx, op, err)
	if k := ports.KindOf(err); k == ports.ErrPermission || k == ports.ErrClosed || k == ports.ErrUnavailable {
		return err
	}
	return ports.NewError(backend, op, ports.ErrUnavailable, errors.Unwrap(err))
}

// Close closes the DB: new calls fail with ports.ErrClosed at once, and
// a transaction still running cannot commit (WithinTx rolls it back and
// returns ports.ErrClosed). Close waits until ctx ends for the calls,
// streams and transactions in flight, then closes the pools; when ctx
// ends first it closes them anyway and returns ports.ErrUnavailable
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
	if err := d.closePools(); err != nil {
		return ports.NewError(backend, "close", ports.ErrUnavailable, err)
	}
	if waitErr != nil {
		return ports.NewError(backend, "close", ports.ErrUnavailable, fmt.Errorf("calls still in flight: %w", waitErr))
	}
	d.log.Info("mysql: closed", slog.String("addr", d.addr))
	return nil
}

// closePools closes the primary and replica pools.
func (d *DB) closePools() error {
	var errs []error
	if d.primary != nil {
		errs = append(errs, d.primary.Close())
	}
	for _, r := range d.replicas {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
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
