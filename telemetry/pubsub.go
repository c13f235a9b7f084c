package telemetry

import (
	"context"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// Publisher returns p with a span per Publish ("publish <topic>", kind
// producer) that every message carries in its attributes (W3C
// traceparent and tracestate; see the package documentation), and the
// publish metrics: duration, messages sent, batch size. A nil p gives nil.
func Publisher(p ports.Publisher, opts ...Option) ports.Publisher {
	if p == nil {
		return nil
	}
	return &publisher{inner: p, in: newOptions(opts).instr(obs.PortPublisher, p)}
}

type publisher struct {
	inner ports.Publisher
	in    *obs.Instr
}

func (p *publisher) Publish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	ctx, sp, msgs := p.in.StartPublish(ctx, topic, msgs)
	ids, err := p.inner.Publish(ctx, topic, msgs...)
	sp.End(err)
	return ids, err
}

// Subscriber returns s with a span per handler call ("process
// <subscription>", kind consumer), child of the trace context the message
// carries, and the consumer metrics: handler duration, messages consumed,
// acked and nacked (and dead-lettered, with [WithDeadLetterPolicy]). The
// Subscribe call itself has no span (it lasts as long as the
// subscription); its errors are counted. A nil s gives nil.
func Subscriber(s ports.Subscriber, opts ...Option) ports.Subscriber {
	if s == nil {
		return nil
	}
	o := newOptions(opts)
	return &subscriber{inner: s, in: o.instr(obs.PortSubscriber, s), deadLetter: o.deadLetter}
}

type subscriber struct {
	inner      ports.Subscriber
	in         *obs.Instr
	deadLetter map[string]int
}

func (s *subscriber) Subscribe(ctx context.Context, subscription string, h ports.Handler) error {
	err := s.inner.Subscribe(ctx, subscription, s.in.Handler(subscription, h, s.deadLetter[subscription]))
	s.in.RecordError(ctx, obs.OpSubscribe, subscription, err)
	return err
}

// Handler returns h with the span and metrics a decorated Subscriber gives
// each call, for a handler run by other means (a messaging runner, a
// push endpoint). A nil h gives nil.
func Handler(subscription string, h ports.Handler, opts ...Option) ports.Handler {
	if h == nil {
		return nil
	}
	o := newOptions(opts)
	return o.instr(obs.PortSubscriber, nil).Handler(subscription, h, o.deadLetter[subscription])
}

// Admin returns a with a span and the duration of every EnsureTopic
// ("ensure_topic <topic>") and EnsureSubscription ("ensure_subscription
// <subscription>"). A nil a gives nil.
func Admin(a ports.Admin, opts ...Option) ports.Admin {
	if a == nil {
		return nil
	}
	return &admin{inner: a, in: newOptions(opts).instr(obs.PortAdmin, a)}
}

type admin struct {
	inner ports.Admin
	in    *obs.Instr
}

func (a *admin) EnsureTopic(ctx context.Context, topic string) error {
	ctx, sp := a.in.StartDest(ctx, obs.OpEnsureTopic, topic)
	err := a.inner.EnsureTopic(ctx, topic)
	sp.End(err)
	return err
}

func (a *admin) EnsureSubscription(ctx context.Context, subscription string, cfg ports.SubscriptionConfig) error {
	ctx, sp := a.in.StartDest(ctx, obs.OpEnsureSubscription, subscription)
	err := a.inner.EnsureSubscription(ctx, subscription, cfg)
	sp.End(err)
	return err
}
