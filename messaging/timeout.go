package messaging

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portkit/portkit/ports"
)

// ErrHandlerTimeout is the cause of the context a handler gets under
// [Timeout] once its time is up (context.Cause returns it), and is wrapped
// by the error of a handler that fails after it.
var ErrHandlerTimeout = errors.New("messaging: handler timed out")

// Timeout bounds each handler call to d (> 0): the handler's context ends
// after d, with cause ErrHandlerTimeout. The handler must honour its
// context: Timeout waits for it to return rather than abandon it while it
// still works on the message (the subscriber abandons a handler that
// ignores its context at shutdown, as the port says). A handler that fails
// after its time is up gets its error wrapped with ErrHandlerTimeout; one
// that succeeds anyway acks its message.
func Timeout(d time.Duration) (Middleware, error) {
	if d <= 0 {
		return nil, configError("timeout", "duration %v must be positive", d)
	}
	return func(next ports.Handler) ports.Handler {
		return func(ctx context.Context, m ports.Message) error {
			tctx, cancel := context.WithTimeoutCause(ctx, d, ErrHandlerTimeout)
			defer cancel()
			err := next(tctx, m)
			if err != nil && ctx.Err() == nil && errors.Is(context.Cause(tctx), ErrHandlerTimeout) {
				return fmt.Errorf("%w after %v: %w", ErrHandlerTimeout, d, err)
			}
			return err
		}
	}, nil
}
