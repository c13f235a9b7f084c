package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/portkit/portkit/ports"
)

// PanicError is the error a handler's panic becomes under [Recover]. Its
// message describes the panic value only when that value is an error (a
// runtime error such as a nil dereference, or an error the handler
// panicked with); any other value (a string, a struct) is named by its
// type alone, because it may hold message data. The value itself is in
// Value, for code that wants it.
type PanicError struct {
	// Value is what the handler panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error formats as "messaging: handler panicked: runtime error: ...".
func (e *PanicError) Error() string { return "messaging: handler panicked: " + describePanic(e.Value) }

// Unwrap returns the panic value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

func describePanic(v any) string {
	if err, ok := v.(error); ok {
		return err.Error()
	}
	return fmt.Sprintf("a value of type %T (not shown: it may hold message data)", v)
}

// Recover turns a panic of the handler into a *[PanicError], which nacks
// the message (or, under [DeadLetter], moves it to the dead-letter topic at
// once: a panic is permanent, see [IsPermanent]). It logs the panic once,
// at level Error on log (slog.Default() when nil), with the message's ID,
// delivery attempt and ordering key, the panic as PanicError describes it
// and the stack; never the message's data or attributes.
//
// Place it inside DeadLetter, so that panicking messages are counted and
// moved rather than redelivered for ever.
func Recover(log *slog.Logger) Middleware {
	if log == nil {
		log = slog.Default()
	}
	return func(next ports.Handler) ports.Handler {
		return func(ctx context.Context, m ports.Message) (err error) {
			defer func() {
				if v := recover(); v != nil {
					pe := &PanicError{Value: v, Stack: debug.Stack()}
					log.ErrorContext(ctx, "messaging: handler panicked; message nacked",
						slog.String("message_id", m.ID),
						slog.Int("delivery_attempt", m.DeliveryAttempt),
						slog.String("ordering_key", m.OrderingKey),
						slog.String("panic", describePanic(v)),
						slog.String("stack", string(pe.Stack)))
					err = pe
				}
			}()
			return next(ctx, m)
		}
	}
}
