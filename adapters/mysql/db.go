package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	gmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

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
	gorm     *gorm.DB
	ddl      *gorm.DB // on the primary only, without replica routing: Migrate
	primary  *sql.DB
	replicas []*sql.DB
	log      *slog.Logger
	addr     string
	check    time.Duration
	closed   atomic.Bool
}

var (
	_ ports.Connector  = (*DB)(nil)
	_ ports.Transactor = (*DB)(nil)
)

// Option configures Open.
type Option func(*options)

type options struct {
	log *slog.Logger
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
// credentials. An invalid cfg is an error wrapping ports.ErrInvalid; a
// server that does not answer in time, ports.ErrUnavailable.
func Open(ctx context.Context, cfg Config, opts ...Option) (*DB, error) {
	o := options{log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
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
		return nil, ports.NewError(backend, "open "+pc.Addr, ports.ErrUnavailable, err)
	}
	for _, rc := range rcs {
		r, _, err := openPool(ctx, cfg, rc, o.log)
		if err != nil {
			d.closePools()
			o.log.Warn("mysql: replica connect failed", slog.String("addr", rc.Addr), slog.String("error", err.Error()))
			return nil, ports.NewError(backend, "open replica "+rc.Addr, ports.ErrUnavailable, err)
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
	}
	g, err := gorm.Open(dialector(d.primary, version), gcfg)
	if err != nil {
		d.closePools()
		return nil, ports.NewError(backend, "open", nil, err)
	}
	d.ddl = g
	if len(d.replicas) > 0 {
		// Migrations read the schema (HasTable, ColumnTypes) before they
		// change it: from the primary, not from a replica that may lag.
		d.ddl, err = gorm.Open(dialector(d.primary, version), &gorm.Config{
			Logger: gcfg.Logger, SkipDefaultTransaction: true, DisableAutomaticPing: true,
		})
		if err != nil {
			d.closePools()
			return nil, ports.NewError(backend, "open", nil, err)
		}
		rd := make([]gorm.Dialector, len(d.replicas))
		for i, r := range d.replicas {
			rd[i] = dialector(r, version)
		}
		if err := g.Use(dbresolver.Register(dbresolver.Config{Replicas: rd, Policy: dbresolver.RandomPolicy{}})); err != nil {
			d.closePools()
			return nil, ports.NewError(backend, "open replicas", nil, err)
		}
	}
	d.gorm = g
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
// ports.ErrUnavailable when a server does not answer in time, or
// ports.ErrClosed after Close.
func (d *DB) Check(ctx context.Context) error {
	if d.closed.Load() {
		return errClosed("check")
	}
	ctx, cancel := context.WithTimeout(ctx, d.check)
	defer cancel()
	if err := d.primary.PingContext(ctx); err != nil {
		return d.checkErr("check "+d.addr, err)
	}
	for i, r := range d.replicas {
		if err := r.PingContext(ctx); err != nil {
			return d.checkErr(fmt.Sprintf("check replica %d", i), err)
		}
	}
	return nil
}

func (d *DB) checkErr(op string, err error) error {
	if d.closed.Load() {
		return ports.NewError(backend, op, ports.ErrClosed, err)
	}
	// Whatever stopped the ping, the server did not answer.
	return ports.NewError(backend, op, ports.ErrUnavailable, err)
}

// Close closes the connection pools: new calls fail with ports.ErrClosed at
// once, and Close waits for the statements in flight until ctx ends. Every
// call after the first returns an error wrapping ports.ErrClosed.
func (d *DB) Close(ctx context.Context) error {
	if !d.closed.CompareAndSwap(false, true) {
		return errClosed("close")
	}
	done := make(chan error, 1)
	go func() { done <- d.closePools() }()
	select {
	case err := <-done:
		if err != nil {
			return wrap("close", err)
		}
		d.log.Info("mysql: closed", slog.String("addr", d.addr))
		return nil
	case <-ctx.Done():
		return ports.NewError(backend, "close", ports.ErrUnavailable, ctx.Err())
	}
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
