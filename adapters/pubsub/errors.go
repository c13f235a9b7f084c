package pubsub

import (
	"context"
	"errors"

	"cloud.google.com/go/pubsub/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/portkit/portkit/ports"
)

// backend is the name every error and log line of this package carries.
const backend = "pubsub"

// mapErr wraps err, the client's error for operation op, in a
// *ports.OpError whose Kind is the port sentinel for it:
//
//	NotFound                         ErrNotFound
//	AlreadyExists                    ErrConflict
//	InvalidArgument, OutOfRange,
//	  oversized message              ErrInvalid
//	Unavailable, DeadlineExceeded,
//	  context.DeadlineExceeded       ErrUnavailable
//	publisher stopped                ErrClosed
//	Canceled, context.Canceled       no port sentinel; errors.Is(err, context.Canceled)
//	anything else (Internal,
//	  PermissionDenied, ...)         ErrUnavailable
//
// The client's error stays reachable through errors.As (a gRPC status with
// its details) and errors.Is. mapErr(op, nil) is nil.
func mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var oe *ports.OpError
	if errors.As(err, &oe) {
		return err
	}
	return ports.NewError(backend, op, kindOf(err), err)
}

// kindOf returns the port sentinel for a client error; for a cancellation
// it returns context.Canceled, or nil when err already wraps it.
func kindOf(err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return ports.ErrUnavailable
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
		return ports.ErrUnavailable
	}
	switch st.Code() {
	case codes.NotFound:
		return ports.ErrNotFound
	case codes.AlreadyExists:
		return ports.ErrConflict
	case codes.InvalidArgument, codes.OutOfRange:
		return ports.ErrInvalid
	case codes.Canceled:
		// The call was cancelled (usually by the caller's context, seen
		// by the server first): report it as the context error it is.
		return context.Canceled
	default:
		return ports.ErrUnavailable
	}
}

// ctxErr maps the caller's context error: a deadline is ErrUnavailable (the
// backend did not answer in time), a cancellation carries no sentinel.
func ctxErr(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return ports.NewError(backend, op, nil, err)
	}
	return ports.NewError(backend, op, ports.ErrUnavailable, err)
}

func closedErr(op string) error {
	return ports.NewError(backend, op, ports.ErrClosed, nil)
}

func invalidErr(op string, cause error) error {
	return ports.NewError(backend, op, ports.ErrInvalid, cause)
}
