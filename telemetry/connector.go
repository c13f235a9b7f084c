package telemetry

import (
	"context"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// Connector returns c with a span per Check and Close ("check <name>",
// "close <name>"), the check duration (portkit.check.duration) and the
// status of the last check (portkit.check.status: 1 passed, 0 failed), by
// portkit.connector.name. Add the decorated Connector to a
// lifecycle.Group to record every readiness check. A nil c gives nil.
func Connector(c ports.Connector, opts ...Option) ports.Connector {
	if c == nil {
		return nil
	}
	return &connector{inner: c, in: newOptions(opts).instr(obs.PortConnector, c)}
}

type connector struct {
	inner ports.Connector
	in    *obs.Instr
}

func (c *connector) Name() string { return c.inner.Name() }

func (c *connector) Check(ctx context.Context) error {
	ctx, sp := c.in.Start(ctx, obs.OpCheck)
	err := c.inner.Check(ctx)
	sp.End(err)
	return err
}

func (c *connector) Close(ctx context.Context) error {
	ctx, sp := c.in.Start(ctx, obs.OpClose)
	err := c.inner.Close(ctx)
	sp.End(err)
	return err
}
