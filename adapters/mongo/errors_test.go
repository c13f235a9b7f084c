package mongo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson/bsoncodec"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/description"
	"go.mongodb.org/mongo-driver/x/mongo/driver"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/portkit/portkit/ports"
)

// The classifier follows the table of package ports by the driver's codes
// and types (issue 11).
func TestClassify(t *testing.T) {
	t.Parallel()
	cmd := func(code int32, name string) error {
		return mongo.CommandError{Code: code, Name: name, Message: "server said something with a value 4242"}
	}
	write := func(code int) error {
		return mongo.WriteException{WriteErrors: mongo.WriteErrors{{Code: code, Message: "E11000 dup key: { email: \"ann@example.com\" }"}}}
	}
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"no documents", mongo.ErrNoDocuments, ports.ErrNotFound},
		{"duplicate key", write(11000), ports.ErrConflict},
		{"duplicate key, bulk", mongo.BulkWriteException{WriteErrors: []mongo.BulkWriteError{{WriteError: mongo.WriteError{Code: 11000}}}}, ports.ErrConflict},
		{"write conflict", cmd(112, "WriteConflict"), ports.ErrConflict},
		{"authentication failed", cmd(18, "AuthenticationFailed"), ports.ErrPermission},
		{"unauthorized", cmd(13, "Unauthorized"), ports.ErrPermission},
		{"user not found", cmd(11, "UserNotFound"), ports.ErrPermission},
		{"auth in the handshake", topology.ConnectionError{Wrapped: driver.Error{Code: 18, Message: "Authentication failed."}}, ports.ErrPermission},
		{"pool closed", topology.ErrPoolClosed, ports.ErrClosed},
		{"pool closed, wrapped", fmt.Errorf("find: %w", topology.ErrPoolClosed), ports.ErrClosed},
		{"client disconnected", mongo.ErrClientDisconnected, ports.ErrClosed},
		{"topology closed", topology.ErrTopologyClosed, ports.ErrClosed},
		{"shutting down", cmd(91, "ShutdownInProgress"), ports.ErrUnavailable},
		{"not primary", cmd(10107, "NotWritablePrimary"), ports.ErrUnavailable},
		{"max time expired", cmd(50, "MaxTimeMSExpired"), ports.ErrUnavailable},
		{"server selection", topology.ServerSelectionError{Wrapped: errors.New("no server"), Desc: description.Topology{}}, ports.ErrUnavailable},
		{"network", &net.OpError{Op: "read", Err: io.ErrUnexpectedEOF}, ports.ErrUnavailable},
		{"connection", topology.ConnectionError{Wrapped: io.EOF}, ports.ErrUnavailable},
		{"cancelled", context.Canceled, ports.ErrUnavailable},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), ports.ErrUnavailable},
		{"path not viable", write(28), ports.ErrInvalid},
		{"type mismatch", cmd(14, "TypeMismatch"), ports.ErrInvalid},
		{"unknown server error", cmd(99999, "SomethingNew"), ports.ErrInvalid},
		{"unknown server error without a name", driver.Error{Code: 12345}, ports.ErrInvalid},
		{"decode error", &bsoncodec.DecodeError{}, ports.ErrInvalid},
		{"unknown failure", errors.New("something else"), ports.ErrUnavailable},
	} {
		err := wrapErr("op", c.err, false)
		if k := ports.KindOf(err); k != c.want {
			t.Errorf("%s: kind %v, want %v (%v)", c.name, k, c.want, err)
		}
		if !reachable(err, c.err) {
			t.Errorf("%s: the driver error is not reachable from %v", c.name, err)
		}
		n := 0
		for _, k := range ports.Kinds() {
			if errors.Is(err, k) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: matches %d sentinels, want exactly one: %v", c.name, n, err)
		}
		if strings.Contains(err.Error(), "4242") || strings.Contains(err.Error(), "ann@example.com") {
			t.Errorf("%s: the error quotes the server's text with a value: %v", c.name, err)
		}
	}
	// A context error stays reachable with errors.Is.
	if err := wrapErr("op", fmt.Errorf("find: %w", context.DeadlineExceeded), false); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("context error not reachable: %v", err)
	}
	// A permission error reported as the context ended is still one.
	err := wrapErr("op", errors.Join(context.Canceled, mongo.CommandError{Code: 13}), false)
	if !errors.Is(err, ports.ErrPermission) {
		t.Errorf("permission error with a context error: %v, want ErrPermission", err)
	}
}

// reachable reports whether target is in err's chain: errors.Is for a
// comparable target, errors.As on its type otherwise (errors.Is would
// panic comparing driver errors that hold slices).
func reachable(err, target error) bool {
	t := reflect.TypeOf(target)
	if t.Comparable() && t.Kind() != reflect.Struct {
		return errors.Is(err, target)
	}
	p := reflect.New(t)
	return errors.As(err, p.Interface())
}

// Open's classification: a server selection that timed out because the
// server refused the credentials is ErrPermission.
func TestOpenKind(t *testing.T) {
	t.Parallel()
	sse := topology.ServerSelectionError{
		Wrapped: context.DeadlineExceeded,
		Desc: description.Topology{Servers: []description.Server{
			{LastError: topology.ConnectionError{Wrapped: driver.Error{Code: 18}}},
		}},
	}
	if k := openKind(sse); k != ports.ErrPermission {
		t.Errorf("server selection over an auth failure: %v, want ErrPermission", k)
	}
	plain := topology.ServerSelectionError{Wrapped: context.DeadlineExceeded}
	if k := openKind(plain); k != ports.ErrUnavailable {
		t.Errorf("server selection timeout: %v, want ErrUnavailable", k)
	}
}
