package gormstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/plugin/dbresolver"

	"github.com/portkit/portkit/internal/errclass"
	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// DB is the dialect-neutral core of an SQL adapter's database handle: the
// closed-state gate every call passes, error wrapping through the
// dialect's classifier, transactions (WithinTx) and the gorm handle store
// calls use. The adapter opens the pools and gorm, and hands them over
// with NewDB. It is safe for concurrent use.
type DB struct {
	g        *gorm.DB // store calls; may route reads to replicas
	ddl      *gorm.DB // Migrate: the primary, without replica routing
	primary  *sql.DB  // transactions take a connection of their own from it
	replicas bool
	dialect  Dialect
	class    *errclass.Classifier
	backend  string
	gate     gate.Gate
	obs      obs.Backend  // the backend as its instrumentation names it
	tel      obs.Settings // the providers
	tx       *obs.Instr   // WithinTx
}

// Config is what NewDB needs.
type Config struct {
	// Gorm is the handle of every store call. Its Config.NowFunc sets
	// CreatedAt and UpdatedAt (in UTC, at the column's precision).
	Gorm *gorm.DB
	// DDL is the handle of Migrate, on the primary (nil: Gorm).
	DDL *gorm.DB
	// Primary is the primary's pool, where transactions run.
	Primary *sql.DB
	// Replicas is set when Gorm routes reads to replicas (dbresolver).
	Replicas bool
	// Dialect describes the backend.
	Dialect Dialect
	// Telemetry holds the OpenTelemetry providers of the spans and
	// metrics of every store call and transaction (the zero value: the
	// global providers).
	Telemetry obs.Settings
	// System is db.system.name ("": the semantic conventions' name of
	// the dialect's backend).
	System string
	// ServerAddress and ServerPort are the primary's host and port, as
	// the spans record them (server.address, server.port).
	ServerAddress string
	ServerPort    int
}

// NewDB returns the core over c's handles.
func NewDB(c Config) *DB {
	ddl := c.DDL
	if ddl == nil {
		ddl = c.Gorm
	}
	class := c.Dialect.Classifier()
	d := &DB{
		g: c.Gorm, ddl: ddl, primary: c.Primary, replicas: c.Replicas,
		dialect: c.Dialect, class: class, backend: class.Backend,
		obs: obs.Backend{Name: class.Backend, System: c.System, ServerAddress: c.ServerAddress, ServerPort: c.ServerPort},
		tel: c.Telemetry,
	}
	d.tx = d.Instr(obs.PortTx, "")
	return d
}

// Instr returns the instrumentation of port on collection ("" for
// none) of this database: what its stores, its transactions and the
// adapter's Connector methods record through.
func (d *DB) Instr(port obs.Port, collection string) *obs.Instr {
	b := d.obs
	b.Port, b.Collection = port, collection
	return obs.New(b, d.tel)
}

// Gorm returns the gorm handle of store calls outside a transaction.
func (d *DB) Gorm() *gorm.DB { return d.g }

// Backend returns the backend's name, as errors carry it.
func (d *DB) Backend() string { return d.backend }

// Enter applies the entry rules of a call of op (ErrClosed after Close,
// ErrInvalid for a nil ctx, ErrUnavailable for a done one) and counts the
// call in flight until release, so that Close waits for it.
func (d *DB) Enter(ctx context.Context, op string) (release func(), err error) {
	return d.gate.Enter(ctx, d.backend, op)
}

// Acquire is Enter for hot paths: the call must call Release, exactly
// once, when it ends.
func (d *DB) Acquire(ctx context.Context, op string) error {
	return d.gate.Acquire(ctx, d.backend, op)
}

// Release ends a call counted by Acquire.
func (d *DB) Release() { d.gate.Release() }

// Closed reports whether Close has begun.
func (d *DB) Closed() bool { return d.gate.Closed() }

// BeginClose closes the gate: every later call returns ErrClosed. It
// returns false when Close had been called already.
func (d *DB) BeginClose() bool { return d.gate.Close() }

// WaitIdle waits, after BeginClose, until no call or transaction is in
// flight, or ctx ends (then it returns ctx's error).
func (d *DB) WaitIdle(ctx context.Context) error { return d.gate.Wait(ctx) }

// Wrap returns err as the *ports.OpError of op, with exactly one sentinel
// (the dialect's classifier, after Redact); nil stays nil. When ctx has
// ended and err is the lost connection that followed, the context's error
// is joined, so that errors.Is(err, context.Canceled) (or
// DeadlineExceeded) holds.
func (d *DB) Wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	closed := d.gate.Closed()
	if ctx != nil && ctx.Err() != nil && !ports.IsContextError(err) && ports.KindOf(err) == nil &&
		d.class.KindOf(err, closed) == ports.ErrUnavailable {
		err = errors.Join(ctx.Err(), err)
	}
	return d.class.Wrap(op, d.dialect.Redact(err), closed)
}

// Invalid returns the ErrInvalid of op: a bad argument, refused before
// anything is sent.
func (d *DB) Invalid(op string, cause error) error { return d.class.Invalid(op, unwrapOp(cause)) }

// unwrapOp returns the cause of a ports.OpError of another layer (the
// ports.Schema validators), so that the error reads "mysql: op: invalid
// argument: <why>" once.
func unwrapOp(err error) error {
	var oe *ports.OpError
	if errors.As(err, &oe) && oe.Err != nil && oe.Kind == ports.ErrInvalid {
		return oe.Err
	}
	return err
}

// now returns gorm's current time (NowFunc), as CreatedAt and UpdatedAt
// get it.
func (d *DB) now() time.Time { return d.g.NowFunc() }

// primaryKey is the context key of ReadFromPrimary.
type primaryKey struct{}

// ReadFromPrimary returns a context whose reads go to the primary even
// when replicas are configured.
func ReadFromPrimary(ctx context.Context) context.Context {
	return context.WithValue(ctx, primaryKey{}, true)
}

// Conn returns the gorm handle that store calls made with ctx use: the
// transaction of WithinTx when ctx carries one of d's, else d's pool (the
// primary for a ReadFromPrimary context). A nil ctx is taken as
// context.Background().
func (d *DB) Conn(ctx context.Context) *gorm.DB {
	if ctx == nil {
		ctx = context.Background()
	}
	if st := d.txOf(ctx); st != nil {
		return st.g.WithContext(ctx)
	}
	g := d.g.WithContext(ctx)
	if d.replicas && ctx.Value(primaryKey{}) != nil {
		g = g.Clauses(dbresolver.Write)
	}
	return g
}

// pool returns the connection pool of a statement the store runs itself
// (Get's plan): the transaction of ctx, else the primary's pool; nil when
// reads must go through gorm to be routed to a replica.
func (d *DB) pool(ctx context.Context) gorm.ConnPool {
	if st := d.txOf(ctx); st != nil {
		return st.g.Statement.ConnPool
	}
	if d.replicas {
		return nil
	}
	return d.g.Statement.ConnPool
}
