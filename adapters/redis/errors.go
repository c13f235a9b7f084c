package redis

import (
	"errors"
	"net"
	"strings"

	"github.com/redis/rueidis"

	"github.com/portkit/portkit/internal/errclass"
	"github.com/portkit/portkit/ports"
)

// backend is the name in every error and in Name().
const backend = "redis"

var (
	// errEmptyKey is the cause of ErrInvalid for an empty key.
	errEmptyKey = errors.New("empty key")
	// errNegativeTTL is the cause of ErrInvalid for a negative TTL.
	errNegativeTTL = errors.New("negative ttl")
	// errValueTooLarge is the cause of ErrInvalid for a value over
	// ports.MaxValueBytes.
	errValueTooLarge = errors.New("value over ports.MaxValueBytes (512 MiB, Redis' limit on a string)")
	// errKeyTooLarge is the cause of ErrInvalid for a key (with the key
	// prefix) over ports.MaxValueBytes.
	errKeyTooLarge = errors.New("key over ports.MaxValueBytes (512 MiB, Redis' limit on a key)")
)

// classifier is the adapter's one classifier: the rules of the
// classification table of package ports, by Redis' error codes.
var classifier = errclass.Classifier{Backend: backend, Kind: kindOf, ServerReply: isReply}

// kindOf maps a rueidis error to the port's sentinel, or nil when the
// table's fallback applies (an unrecognised error reply is ErrInvalid,
// any other unrecognised error ErrUnavailable). closed tells whether Close
// has been called, which turns rueidis.ErrClosing into ErrClosed.
func kindOf(err error, closed bool) error {
	if rueidis.IsRedisNil(err) {
		return ports.ErrNotFound
	}
	if errors.Is(err, rueidis.ErrClosing) {
		// rueidis also reports a client that cannot reach any node as
		// "closing or unable to connect".
		if closed {
			return ports.ErrClosed
		}
		return ports.ErrUnavailable
	}
	if re, ok := replyError(err); ok {
		return replyKind(re.Error())
	}
	return nil
}

// replyError returns the error reply of the server err carries, if any.
func replyError(err error) (*rueidis.RedisError, bool) {
	var re *rueidis.RedisError
	if errors.As(err, &re) && !re.IsNil() {
		return re, true
	}
	return nil, false
}

func isReply(err error) bool {
	_, ok := replyError(err)
	return ok
}

// replyKind classifies an error reply of the server by its code, the
// reply's first word. It returns nil for a code the table does not name
// (WRONGTYPE, EXECABORT, a generic ERR...: a request the server rejected,
// which the table makes ErrInvalid).
func replyKind(msg string) error {
	code, _, _ := strings.Cut(msg, " ")
	switch code {
	case "NOAUTH", "WRONGPASS", "NOPERM":
		// Not authenticated, wrong user or password, or a command, key
		// or channel the user's ACL does not allow.
		return ports.ErrPermission
	case "LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "READONLY",
		"OOM", "MISCONF", "NOREPLICAS", "MOVED", "ASK":
		// The server cannot serve now: it is loading its data, running a
		// script, failing over, resharding, out of memory or unable to
		// persist. Retrying later may succeed.
		return ports.ErrUnavailable
	}
	// Generic ERR replies, which Redis gives no code of their own (and
	// whose "ERR " rueidis strips).
	switch {
	case strings.HasPrefix(msg, "invalid password"): // Redis < 6: AUTH with a wrong password
		return ports.ErrPermission
	case strings.HasPrefix(msg, "max number of clients reached"):
		return ports.ErrUnavailable
	}
	return nil
}

// trackingForbidden reports whether err, rueidis' ErrNoCache from Open,
// says the user's ACL forbids CLIENT TRACKING (rueidis keeps only the
// reply's text).
func trackingForbidden(err error) bool {
	return errors.Is(err, rueidis.ErrNoCache) && strings.HasPrefix(err.Error(), "NOPERM")
}

// wrap returns err as a *ports.OpError for op, or nil.
func (c *Cache) wrap(op string, err error) error {
	return classifier.Wrap(op, err, c.gate.Closed())
}

// wrapWrite is wrap for a write: a failure that may have come after the
// command was sent (the connection was lost or the context ended before
// the reply) is ErrUnavailable wrapping ports.ErrOutcomeUnknown.
func (c *Cache) wrapWrite(op string, err error) error {
	if err == nil {
		return nil
	}
	if classifier.KindOf(err, c.gate.Closed()) == ports.ErrUnavailable && maybeSent(err) {
		return classifier.OutcomeUnknown(op, err)
	}
	return c.wrap(op, err)
}

// maybeSent reports whether a failed write may have reached the server:
// not when the server answered with an error, nor when rueidis had no
// connection (closing, no node for the slot) or could not dial.
func maybeSent(err error) bool {
	if isReply(err) || errors.Is(err, rueidis.ErrClosing) || errors.Is(err, rueidis.ErrNoSlot) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	return true
}
