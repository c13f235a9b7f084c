package redis

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/rueidis"

	"github.com/portkit/portkit/ports"
)

// backend is the name in every error and in Name().
const backend = "redis"

// errEmptyKey is the cause of ErrInvalid for an empty key.
var errEmptyKey = errors.New("empty key")

// errNegativeTTL is the cause of ErrInvalid for a negative TTL.
var errNegativeTTL = errors.New("negative ttl")

// kindOf maps a rueidis error to the port's sentinel. closed tells whether
// Close has been called, which turns rueidis.ErrClosing into ErrClosed.
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
	if re, ok := rueidis.IsRedisErr(err); ok {
		return serverErrorKind(re.Error())
	}
	return ports.ErrUnavailable
}

// serverErrorKind classifies an error reply of the server. Replies about
// the arguments or the stored value are ErrInvalid; the rest (LOADING,
// BUSY, OOM, READONLY, CLUSTERDOWN, NOAUTH, NOPERM, max clients...) say the
// server cannot serve now, ErrUnavailable.
func serverErrorKind(msg string) error {
	switch {
	case strings.HasPrefix(msg, "WRONGTYPE"),
		strings.Contains(msg, "not an integer"),
		strings.Contains(msg, "overflow"),
		strings.Contains(msg, "syntax error"),
		strings.Contains(msg, "invalid expire time"),
		strings.Contains(msg, "out of range"):
		return ports.ErrInvalid
	}
	return ports.ErrUnavailable
}

// wrap returns err as a *ports.OpError for op, or nil.
func (c *Cache) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return ports.NewError(backend, op, kindOf(err, c.closed.Load()), err)
}

// ctxError wraps a context's error as ErrUnavailable (the backend did not
// answer in time).
func ctxError(op string, ctx context.Context) error {
	return ports.NewError(backend, op, ports.ErrUnavailable, context.Cause(ctx))
}
