package subscribe_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/portkit/portkit/internal/subscribe"
	"github.com/portkit/portkit/ports"
)

// A backend that pushes messages (a client callback) hands each to
// Handle, which runs the handler under the runner's rules and settles the
// message; Wait ends the Subscribe call.
func ExampleRunner_Handle() {
	ctx, cancel := context.WithCancel(context.Background())
	r := subscribe.New(ctx, subscribe.Config{Backend: "demo", Subscription: "orders"}, func(_ context.Context, m ports.Message) error {
		if string(m.Data) == "bad" {
			return errors.New("retry later")
		}
		return nil
	})
	for _, data := range []string{"good", "bad"} {
		r.Handle(subscribe.Delivery{
			Message: ports.Message{ID: data, Data: []byte(data)},
			Ack:     func() { fmt.Println("ack", data) },
			Nack:    func() { fmt.Println("nack", data) },
		})
	}
	cancel() // Subscribe's ctx ends
	r.Wait()
	// A message arriving during the shutdown is nacked, unhandled.
	r.Handle(subscribe.Delivery{Message: ports.Message{ID: "late"}, Ack: func() {}, Nack: func() { fmt.Println("nack late") }})
	// Output:
	// ack good
	// nack bad
	// nack late
}
