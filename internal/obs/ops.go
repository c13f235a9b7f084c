package obs

// Port names the port an operation belongs to; it is recorded as the
// attribute portkit.port.
type Port uint8

// The ports.
const (
	PortCache      Port = iota + 1 // ports.Cache
	PortSQL                        // ports.SQLStore
	PortDoc                        // ports.DocStore
	PortTx                         // ports.Transactor
	PortPublisher                  // ports.Publisher
	PortSubscriber                 // ports.Subscriber
	PortAdmin                      // ports.Admin
	PortConnector                  // ports.Connector
)

var portNames = [...]string{"", "cache", "sql", "doc", "tx", "publisher", "subscriber", "admin", "connector"}

// String returns the port's name as recorded ("cache", "sql", ...).
func (p Port) String() string {
	if int(p) < len(portNames) {
		return portNames[p]
	}
	return "unknown"
}

// messaging reports whether the port's operations are messaging
// operations (messaging.* attributes) rather than database ones (db.*).
func (p Port) messaging() bool {
	return p == PortPublisher || p == PortSubscriber || p == PortAdmin
}

// Op is a port operation. Its name (db.operation.name or
// messaging.operation.name) is the method's name in snake case.
type Op uint8

// The operations of every port. Store operations are shared by SQLStore
// and DocStore.
const (
	OpGet                Op = iota // Cache.Get, SQLStore.Get, DocStore.Get
	OpGetMany                      // Cache.GetMany
	OpSet                          // Cache.Set
	OpSetNX                        // Cache.SetNX
	OpDelete                       // Cache.Delete, SQLStore.Delete, DocStore.Delete
	OpIncr                         // Cache.Incr
	OpCreate                       // SQLStore.Create
	OpCreateMany                   // SQLStore.CreateMany
	OpInsert                       // DocStore.Insert
	OpInsertMany                   // DocStore.InsertMany
	OpFind                         // Find
	OpStream                       // Stream (the span covers the iteration)
	OpFindPage                     // FindPage
	OpCount                        // Count
	OpUpdate                       // Update
	OpPatch                        // Patch
	OpUpsert                       // Upsert
	OpDeleteIfVersion              // DeleteIfVersion
	OpDeleteWhere                  // DeleteWhere
	OpWithinTx                     // Transactor.WithinTx
	OpPublish                      // Publisher.Publish
	OpSubscribe                    // Subscriber.Subscribe (no span: errors only)
	OpProcess                      // one handler call of Subscribe
	OpEnsureTopic                  // Admin.EnsureTopic
	OpEnsureSubscription           // Admin.EnsureSubscription
	OpCheck                        // Connector.Check
	OpClose                        // Connector.Close
	numOps
)

var opNames = [numOps]string{
	"get", "get_many", "set", "set_nx", "delete", "incr",
	"create", "create_many", "insert", "insert_many",
	"find", "stream", "find_page", "count", "update", "patch", "upsert",
	"delete_if_version", "delete_where",
	"within_tx",
	"publish", "subscribe", "process",
	"ensure_topic", "ensure_subscription",
	"check", "close",
}

// String returns the operation's name ("get", "find_page", ...).
func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return "unknown"
}

// portOps lists the operations each port has, to precompute their
// attributes when an Instr is made. Operations on a destination named per
// call (publish, process, admin) are built per destination.
var portOps = [...][]Op{
	PortCache: {OpGet, OpGetMany, OpSet, OpSetNX, OpDelete, OpIncr},
	PortSQL: {OpCreate, OpCreateMany, OpGet, OpFind, OpStream, OpFindPage, OpCount,
		OpUpdate, OpPatch, OpUpsert, OpDelete, OpDeleteIfVersion, OpDeleteWhere},
	PortDoc: {OpInsert, OpInsertMany, OpGet, OpFind, OpStream, OpFindPage, OpCount,
		OpUpdate, OpPatch, OpUpsert, OpDelete, OpDeleteIfVersion, OpDeleteWhere},
	PortTx:        {OpWithinTx},
	PortConnector: {OpCheck, OpClose},
}
