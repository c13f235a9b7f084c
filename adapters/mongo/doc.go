// Package mongo implements [ports.DocStore] and [ports.Connector] (and,
// where the server supports transactions, [ports.Transactor]) over
// MongoDB, through github.com/kamva/mgm/v3 and go.mongodb.org/mongo-driver.
//
// # Configuration
//
// [ConfigFromEnv] reads:
//
//	MONGODB_URI                       connection string (required), e.g. mongodb://user:pass@host:27017/app
//	MONGODB_DATABASE                  database; defaults to the database in the URI path
//	MONGODB_CONNECT_TIMEOUT           dial and first-ping bound of Open (default 10s)
//	MONGODB_SERVER_SELECTION_TIMEOUT  how long an operation waits for a usable server (default 5s)
//	MONGODB_CHECK_TIMEOUT             bound of Store.Check (default 5s)
//
// A bad value is an error naming the variable; the password in the URI never
// appears in an error, a log line or a formatted [Config].
//
// # Opening
//
// [Open] connects and pings within the connect timeout (the driver connects
// lazily, so without the ping a dead server would look healthy), logs the
// outcome through log/slog with the URI redacted, and returns a [*Store]:
// the Connector, the Transactor, and the escape hatch [Store.Database].
//
// No mgm global is used: mgm.SetDefaultConfig is process-wide, so every
// [DocStore] is an mgm.Collection over its own Store's *mongo.Database, and
// two Stores on different servers or databases live side by side.
//
// # Models
//
// A model embeds [ports.Document] inline and needs no mgm or bson import:
//
//	type Audit struct {
//		ports.Document `bson:",inline"`
//		Action string  `bson:"action"`
//		Actor  string  `bson:"actor"`
//	}
//
//	audits, err := mongo.NewDocStore[Audit](store, "audits")
//
// Documents are encoded by the model's codec, which the document fake
// shares (internal/docmodel), so that the fake keeps and loses exactly
// what MongoDB does (see ports.DocStore's rules): the driver's default
// registry, with the ID and every [ports.DocRef] stored as ObjectIDs (an
// empty DocRef as null). IDs are strings at the port: an ID given on Insert
// must be 24 lowercase hexadecimal digits (an ObjectID's Hex form) or
// Insert returns ErrInvalid; Get, Update, Patch and Delete of such a
// malformed ID return ErrNotFound. Before anything is sent, the portable
// rules apply (ErrInvalid): valid UTF-8, finite floats, map keys that are
// not empty, do not start with '$' and hold no '.', no uint64 over
// MaxInt64, at most 16 MiB encoded, at most 100 levels deep. A model whose
// tags cannot be stored (Document not inline, duplicate keys, a key with
// '$' or '.', two [ports.Version] fields) is ErrInvalid from NewDocStore.
//
// mgm's hooks (Creating, Saving, Updating, ...) run on a copy of the
// caller's document, which replaces it only when the write succeeds: a
// failed Insert, Update, Upsert or InsertMany leaves the documents as they
// were given. [WithTimestampKeys] names the keys of the created and updated
// times for documents that mongoose or typegoose write too.
//
// # Writes
//
// Update sets the fields the model declares, field by field (nested
// structs key by key, arrays whole), and keeps those it does not declare,
// so a document another service extends survives it. Patch sets and
// increments named fields atomically; a model with a [ports.Version] field
// gets optimistic concurrency (a stale Update, Patch.IfVersion or
// DeleteIfVersion is ErrConflict and changes nothing). Upsert, DeleteWhere,
// Stream (a server cursor read [StreamBatchSize] documents at a time) and
// FindPage (keyset pages with ports.Schema's cursors) complete the port.
// InsertMany is ordered: on a failure the documents before it are stored.
//
// # Queries
//
// A [ports.Query] is validated with the model's [ports.Schema] and each
// field path is mapped to its BSON key from the model's bson tags, exactly
// as the driver names them (inline embedded structs add nothing, the default
// key is the lowercased Go name). Nothing of the query text reaches the
// filter; values are encoded by the model's codec (times truncated to
// milliseconds, IDs and DocRefs as ObjectIDs). Comparisons are MongoDB's:
// numbers by value across types, strings bytewise, Ne with a value matching
// missing and null.
//
// # Errors
//
// Every error is a *ports.OpError with exactly one sentinel of the table
// of package ports, classified by the driver's error codes and types
// (internal/errclass): a missing document is ErrNotFound; a duplicate key
// or write conflict ErrConflict; a refused authentication or grant (codes
// 11, 13, 18, 31, 8000, or an authentication error of the handshake)
// ErrPermission; an unreachable server, a timeout, a stepping-down primary
// or a cancelled context ErrUnavailable (the context error reachable); a
// call after Close, or one whose connection Close cut, ErrClosed; any
// other server reply ErrInvalid, any other failure ErrUnavailable. A nil
// context is ErrInvalid; after Close every method returns ErrClosed before
// it looks at its arguments. The server's message, which can quote a
// stored value (a duplicate key's), is replaced by its codes; the driver's
// error stays reachable with errors.As.
package mongo
