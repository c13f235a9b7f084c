package pubsub

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/portkit/portkit/internal/errclass"
	"github.com/portkit/portkit/ports"
)

// backend is the name every error and log line of this package carries.
const backend = "pubsub"

// classifier applies the classification table of package ports to the
// client's errors, by gRPC code and the client's error values:
//
//	NotFound                                   ErrNotFound
//	AlreadyExists                              ErrConflict
//	InvalidArgument, OutOfRange,
//	  FailedPrecondition, Unimplemented,
//	  a request over the server's size limit,
//	  an oversized message (client-side)       ErrInvalid
//	PermissionDenied, Unauthenticated          ErrPermission
//	Unavailable, DeadlineExceeded, Aborted,
//	  ResourceExhausted (quota, flow control),
//	  Internal, Unknown, a paused ordering key ErrUnavailable
//	Canceled                                   ErrClosed after Close, else ErrUnavailable
//	publisher stopped                          ErrClosed
//	context.Canceled, DeadlineExceeded         ErrUnavailable (the context error stays reachable)
//	any other server reply                     ErrInvalid
//
// The client's error stays reachable through errors.As (a gRPC status
// with its details) and errors.Is.
var classifier = errclass.Classifier{
	Backend:     backend,
	Kind:        kindOf,
	ServerReply: serverReply,
}

// kindOf is the classifier's driver rule: the sentinel of err, or nil when
// the shared rules decide (context errors, unrecognised replies).
func kindOf(err error, closed bool) error {
	switch {
	case errors.Is(err, pubsub.ErrOversizedMessage):
		return ports.ErrInvalid
	case errors.Is(err, pubsub.ErrPublisherStopped):
		return ports.ErrClosed
	}
	var paused pubsub.ErrPublishingPaused
	if errors.As(err, &paused) {
		// A message behind a failed one of the same ordering key: the
		// server was not asked. The failure that paused the key carries
		// the real kind; this one says the message was not delivered.
		return ports.ErrUnavailable
	}
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	switch st.Code() {
	case codes.NotFound:
		return ports.ErrNotFound
	case codes.AlreadyExists:
		return ports.ErrConflict
	case codes.InvalidArgument, codes.OutOfRange, codes.FailedPrecondition, codes.Unimplemented:
		return ports.ErrInvalid
	case codes.PermissionDenied, codes.Unauthenticated:
		return ports.ErrPermission
	case codes.ResourceExhausted:
		if tooLarge(err) {
			return ports.ErrInvalid
		}
		return ports.ErrUnavailable
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.Internal, codes.Unknown:
		return ports.ErrUnavailable
	case codes.Canceled:
		if closed {
			return ports.ErrClosed
		}
		return ports.ErrUnavailable
	}
	return nil
}

// serverReply reports whether err is an answer of the server (a gRPC
// status other than those of a call that got none).
func serverReply(err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.OK, codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Unknown:
		return false
	}
	return true
}

// tooLarge reports whether err is gRPC refusing a message over the
// receiver's size limit ("received message larger than max"): the same
// request fails again, so it is neither retried nor ErrUnavailable. gRPC
// gives it the code of quota exhaustion, ResourceExhausted; only its text
// tells the two apart.
func tooLarge(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.ResourceExhausted && strings.Contains(st.Message(), "larger than max")
}

// classify classifies err, the client's error for operation op.
func (p *PubSub) classify(op string, err error) error {
	return classifier.Wrap(op, err, p.isClosed())
}

// wrap classifies err, the client's error for operation op of a call
// made with ctx: when ctx has ended, the context's error stays reachable
// too.
func (p *PubSub) wrap(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && !ports.IsContextError(err) && ports.KindOf(err) == nil {
		k := classifier.KindOf(err, p.isClosed())
		if k == ports.ErrUnavailable || k == ports.ErrClosed {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
	}
	return classifier.Wrap(op, err, p.isClosed())
}

// refusedOrUnknownHost reports whether err is a dial error that another
// attempt a moment later would meet again: the port refuses connections,
// or the host name does not resolve.
func refusedOrUnknownHost(err error) bool {
	var dnsErr *net.DNSError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &dnsErr) && dnsErr.IsNotFound)
}

func closedErr(op string) error { return classifier.Closed(op) }

func invalidErr(op string, cause error) error { return classifier.Invalid(op, cause) }
