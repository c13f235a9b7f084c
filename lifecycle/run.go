package lifecycle

import (
	"context"
	"errors"
	"time"
)

// DefaultCloseTimeout is the close timeout of [Group.Run] when it is given
// none.
const DefaultCloseTimeout = 10 * time.Second

// Run calls run with ctx and, once run has returned, closes the group
// within closeTimeout ([DefaultCloseTimeout] when 0 or less), measured from
// then: ctx has usually ended by that
// time (a [signal.NotifyContext] after SIGTERM), so the close gets a
// context of its own that keeps ctx's values. It returns run's error
// joined with Close's.
//
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	err := g.Run(ctx, 10*time.Second, func(ctx context.Context) error {
//		return serve(ctx) // returns nil once ctx ends and the server drained
//	})
//
// [signal.NotifyContext]: https://pkg.go.dev/os/signal#NotifyContext
func (g *Group) Run(ctx context.Context, closeTimeout time.Duration, run func(ctx context.Context) error) error {
	runErr := run(ctx)
	if closeTimeout <= 0 {
		closeTimeout = DefaultCloseTimeout
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	return errors.Join(runErr, g.Close(cctx))
}
