package gate

import "context"

// Begin is [Gate.Enter] for hot paths that must not allocate (Enter's
// release closure costs one allocation a call): on success the call is
// counted in flight until the caller calls [Gate.End], exactly once.
func (g *Gate) Begin(ctx context.Context, backend, op string) error {
	if err := g.Check(ctx, backend, op); err != nil {
		return err
	}
	g.inflight.Add(1)
	if g.closed.Load() { // Close ran between the check and the count
		g.leave()
		return Closed(backend, op)
	}
	return nil
}

// End ends a call that [Gate.Begin] let in.
func (g *Gate) End() { g.leave() }
