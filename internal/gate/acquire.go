package gate

import "context"

// Acquire is Enter without the release func (which costs an allocation
// per call on hot paths): on success the call is counted in flight until
// it calls Release, exactly once.
func (g *Gate) Acquire(ctx context.Context, backend, op string) error {
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

// Release ends a call counted by Acquire.
func (g *Gate) Release() { g.leave() }
