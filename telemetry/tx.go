package telemetry

import (
	"context"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// Transactor returns t with a span (tx.within_tx) and the duration of
// every WithinTx; the store calls fn makes are children of that span. InTx
// is not recorded. A nil t gives nil.
func Transactor(t ports.Transactor, opts ...Option) ports.Transactor {
	if t == nil {
		return nil
	}
	return &transactor{inner: t, in: newOptions(opts).instr(obs.PortTx, t)}
}

type transactor struct {
	inner ports.Transactor
	in    *obs.Instr
}

func (t *transactor) WithinTx(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, sp := t.in.Start(ctx, obs.OpWithinTx)
	defer sp.EndPanic() // fn panicked: WithinTx re-panics; a no-op once End has run
	err := t.inner.WithinTx(ctx, fn)
	sp.End(err)
	return err
}

func (t *transactor) InTx(ctx context.Context) bool { return t.inner.InTx(ctx) }
