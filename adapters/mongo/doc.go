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
// IDs are strings at the port and ObjectIDs in MongoDB: a DocStore converts
// the "_id" of its own model type on the way in and out (see [NewDocStore]).
// An ID given on Insert must be 24 lowercase hexadecimal digits (an ObjectID's
// Hex form) or Insert returns ErrInvalid; Get, Update and Delete of such a
// malformed ID return ErrNotFound. Insert and Update run mgm's hooks
// (Creating, Saving, Updating, ...), which [ports.Document] implements to
// keep the created and updated times.
//
// # Queries
//
// A [ports.Query] is validated with the model's [ports.Schema] and each
// field path is mapped to its BSON key from the model's bson tags, exactly
// as the driver names them (inline embedded structs add nothing, the default
// key is the lowercased Go name). Nothing of the query text reaches the
// filter: an unknown field, or a key that starts with "$" or holds a ".", is
// ErrInvalid.
//
// # Errors
//
// Every error is a *ports.OpError: a duplicate key is ErrConflict, a missing
// document ErrNotFound, an unreachable server or timeout ErrUnavailable, a
// rejected request ErrInvalid, and any call after Close ErrClosed. The
// driver's error stays reachable with errors.As.
package mongo
