package mongo

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/mongo/readpref"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/mongostore"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// backend is the Backend of every error and the Name of every Store.
const backend = "mongo"

// Store is an open MongoDB connection pool bound to one database. It is the
// [ports.Connector] and the [ports.Transactor] of its DocStores; make a
// DocStore with [NewDocStore]. A Store is safe for concurrent use.
type Store struct {
	cfg    Config
	client *mongo.Client
	core   *mongostore.DB // the database, and the closed state and entry checks of every call
	log    *slog.Logger

	server       string // "MongoDB 7.0.14", "FerretDB v1.24.2 (MongoDB 7.0.77)"
	transactions bool

	tel  obs.Settings
	obs  obs.Backend // the backend as the spans name it
	tx   *obs.Instr  // WithinTx
	conn *obs.Instr  // Check and Close
}

// Compile-time checks.
var (
	_ ports.Connector  = (*Store)(nil)
	_ ports.Transactor = (*Store)(nil)
)

// Option configures Open.
type Option func(*openOptions)

type openOptions struct {
	logger     *slog.Logger
	clientOpts []*options.ClientOptions
	tel        obs.Settings
}

// WithLogger makes the Store log through l instead of slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *openOptions) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithClientOptions applies driver options (TLS, monitors, pool sizes, a
// BSON registry, ...) after those derived from the Config, which they
// override.
func WithClientOptions(opts ...*options.ClientOptions) Option {
	return func(o *openOptions) { o.clientOpts = append(o.clientOpts, opts...) }
}

// Open connects to MongoDB and pings it within cfg.ConnectTimeout (or ctx's
// earlier deadline). The driver connects lazily, so without the ping a dead
// server would look healthy: Open returns an error wrapping
// ports.ErrUnavailable when no server answers, and ports.ErrInvalid for a
// bad Config. It logs the outcome with the URI redacted.
func Open(ctx context.Context, cfg Config, opts ...Option) (*Store, error) {
	o := openOptions{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if err := gate.CheckContext(ctx, backend, "open"); err != nil {
		return nil, err
	}
	if err := cfg.validate(fieldName); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := o.logger.With(slog.String("backend", backend))

	co := options.Client().
		ApplyURI(cfg.URI).
		SetConnectTimeout(cfg.ConnectTimeout).
		SetServerSelectionTimeout(cfg.ServerSelectionTimeout)
	if err := co.Validate(); err != nil {
		err = ports.NewError(backend, "open", ports.ErrInvalid, scrub(err, cfg.URI))
		log.LogAttrs(ctx, slog.LevelError, "mongo: invalid configuration", slog.Any("config", cfg), slog.Any("error", err))
		return nil, err
	}
	all := append([]*options.ClientOptions{co}, o.clientOpts...)

	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	client, err := mongo.Connect(cctx, all...)
	if err == nil {
		err = client.Ping(cctx, readpref.Primary())
		if err != nil {
			_ = client.Disconnect(context.WithoutCancel(ctx))
		}
	}
	if err != nil {
		err = ports.NewError(backend, "open", openKind(err), scrub(err, cfg.URI))
		log.LogAttrs(ctx, slog.LevelError, "mongo: connect failed",
			slog.Any("config", cfg), slog.Duration("elapsed", time.Since(start)), slog.Any("error", err))
		return nil, err
	}

	s := &Store{
		cfg:    cfg,
		client: client,
		log:    log,
	}
	s.tel = o.tel
	s.obs.Name = backend
	s.obs.ServerAddress, s.obs.ServerPort = serverAddress(co.Hosts)
	s.tx, s.conn = s.instr(obs.PortTx, ""), s.instr(obs.PortConnector, "")
	s.server, s.transactions = probe(cctx, client)
	s.core = mongostore.NewDB(client.Database(cfg.database()), strings.HasPrefix(s.server, "FerretDB"))
	s.core.Instr = func(collection string) *obs.Instr { return s.instr(obs.PortDoc, collection) }
	log.LogAttrs(ctx, slog.LevelInfo, "mongo: connected",
		slog.String("uri", RedactURI(cfg.URI)),
		slog.String("database", s.core.Database.Name()),
		slog.String("server", s.server),
		slog.Bool("transactions", s.transactions),
		slog.Duration("elapsed", time.Since(start)))
	return s, nil
}

// probe asks the server what it is (buildInfo) and whether it supports
// transactions (hello: a replica set member or a mongos, and not FerretDB,
// which reports a replica set name when configured with one but has no
// transactions). Failures only make it answer "unknown" and false.
func probe(ctx context.Context, client *mongo.Client) (server string, transactions bool) {
	admin := client.Database("admin")
	var info struct {
		Version         string `bson:"version"`
		FerretDBVersion string `bson:"ferretdbVersion"`
	}
	server = "unknown"
	if err := admin.RunCommand(ctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err == nil {
		server = "MongoDB " + info.Version
		if info.FerretDBVersion != "" {
			server = "FerretDB " + info.FerretDBVersion + " (MongoDB " + info.Version + ")"
		}
	}
	var hello struct {
		SetName string `bson:"setName"`
		Msg     string `bson:"msg"`
		Session *int64 `bson:"logicalSessionTimeoutMinutes"`
	}
	if err := admin.RunCommand(ctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		return server, false
	}
	transactions = info.FerretDBVersion == "" && hello.Session != nil &&
		(hello.SetName != "" || hello.Msg == "isdbgrid")
	return server, transactions
}

// Name returns "mongo".
func (s *Store) Name() string { return backend }

// Database returns the driver's database handle, the escape hatch for
// what the ports do not cover. It stays valid until Close.
func (s *Store) Database() *mongo.Database { return s.core.Database }

// Client returns the driver's client.
func (s *Store) Client() *mongo.Client { return s.client }

// Server describes the server Open found, e.g. "MongoDB 7.0.14" or
// "FerretDB v1.24.2 (MongoDB 7.0.77)".
func (s *Store) Server() string { return s.server }

// SupportsTransactions reports whether the server runs multi-document
// transactions: a replica set member or a mongos. A standalone mongod and
// FerretDB do not; WithinTx then returns ErrInvalid.
func (s *Store) SupportsTransactions() bool { return s.transactions }

// openKind classifies a failure to connect: the classifier's kind, but a
// server selection that timed out because authentication failed is
// ErrPermission, and any other failure without a server reply is
// ErrUnavailable.
func openKind(err error) error {
	var sse topology.ServerSelectionError
	if errors.As(err, &sse) {
		for _, srv := range sse.Desc.Servers {
			if srv.LastError != nil && isPermission(srv.LastError) {
				return ports.ErrPermission
			}
		}
	}
	return classifier.KindOf(err, false)
}

// Check pings the primary. It returns nil when it answers, an error
// wrapping ports.ErrUnavailable when it does not answer within ctx or the
// check timeout, ports.ErrPermission when the server refuses the
// credentials, ports.ErrInvalid for a nil ctx, and ports.ErrClosed after
// Close.
func (s *Store) Check(ctx context.Context) error {
	ctx, sp := s.conn.Start(ctx, obs.OpCheck)
	err := s.doCheck(ctx)
	sp.End(err)
	return err
}

func (s *Store) doCheck(ctx context.Context) error {
	if err := s.core.Enter(ctx, "check"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
	defer cancel()
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		kind := openKind(err)
		if s.core.Closed() {
			kind = ports.ErrClosed
		} else if kind != ports.ErrPermission {
			kind = ports.ErrUnavailable
		}
		return ports.NewError(backend, "check", kind, scrub(err, s.cfg.URI))
	}
	return nil
}

// Close disconnects, waiting until ctx ends for operations in progress to
// return their connections. Every later call of any method, Close
// included, returns an error wrapping ports.ErrClosed.
func (s *Store) Close(ctx context.Context) error {
	ctx, sp := s.conn.Start(ctx, obs.OpClose)
	err := s.doClose(ctx)
	sp.End(err)
	return err
}

func (s *Store) doClose(ctx context.Context) error {
	if !s.core.Close() {
		return closedErr("close")
	}
	if ctx == nil {
		ctx = context.Background() // the Store is closed all the same
	}
	err := s.client.Disconnect(ctx)
	if err != nil {
		err = ports.NewError(backend, "close", classifier.KindOf(err, false), scrub(err, s.cfg.URI))
		s.log.LogAttrs(ctx, slog.LevelWarn, "mongo: close failed", slog.Any("error", err))
		return err
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "mongo: closed", slog.String("uri", RedactURI(s.cfg.URI)))
	return nil
}

// isClosed reports whether Close has been called.
func (s *Store) isClosed() bool { return s.core.Closed() }

// enter applies the entry checks of a call of op (ErrClosed, then a nil
// ctx, then a done ctx).
func (s *Store) enter(ctx context.Context, op string) error {
	return s.core.Enter(ctx, op)
}
