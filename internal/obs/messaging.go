package obs

import (
	"context"
	"maps"
	"slices"

	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/ports"
)

// maxLinks bounds the links of one publish span to the producers of the
// messages it forwards.
const maxLinks = 32

// StartPublish begins Publish(topic, msgs) and returns the messages to
// send: msgs itself, or a copy in which the messages that can take it
// carry the trace context of the publish span in their attributes (see
// [InjectMessages]). Messages that already carry a trace context (an
// outbox relay forwarding what its producers stored) keep it, and the
// publish span links to each of those contexts.
//
// With no SDK installed it starts nothing, and the messages carry the
// caller's trace context if ctx has one (so that a process without an
// SDK does not break a trace that passes through it).
func (in *Instr) StartPublish(ctx context.Context, topic string, msgs []ports.Message) (context.Context, *Span, []ports.Message) {
	return in.StartPublishMax(ctx, topic, msgs, ports.MaxMessageBytes)
}

// StartPublishMax is [Instr.StartPublish] for a backend whose largest
// message (as [ports.MessageSize] counts it) is maxBytes, below
// ports.MaxMessageBytes: the trace context is not added to a message it
// would take over that limit.
func (in *Instr) StartPublishMax(ctx context.Context, topic string, msgs []ports.Message, maxBytes int) (context.Context, *Span, []ports.Message) {
	if in == nil || ctx == nil {
		return ctx, nil, msgs
	}
	maxBytes = min(maxBytes, ports.MaxMessageBytes)
	if !in.Active() {
		return ctx, nil, injectMessages(ctx, in.prop, in.fields, msgs, maxBytes)
	}
	var more []trace.SpanStartOption
	if in.tracing() {
		if links := in.producerLinks(msgs); len(links) > 0 {
			more = append(more, trace.WithLinks(links...))
		}
		if len(msgs) != 1 {
			more = append(more, trace.WithAttributes(semconv.MessagingBatchMessageCount(len(msgs))))
		}
	}
	ctx, s := in.start(ctx, in.dest(OpPublish, topic), more)
	s.n = int32(min(len(msgs), 1<<31-1))
	return ctx, s, injectMessages(ctx, in.prop, in.fields, msgs, maxBytes)
}

// StartSend begins Publish(topic) of n messages for a publisher that
// writes the trace context into its messages itself (with
// [InjectMessages] and the returned context), as an outbox does once it
// has given each message its ID. It returns ctx and nil while nothing
// records.
func (in *Instr) StartSend(ctx context.Context, topic string, n int) (context.Context, *Span) {
	if in == nil || ctx == nil || !in.Active() {
		return ctx, nil
	}
	var more []trace.SpanStartOption
	if in.tracing() && n != 1 {
		more = append(more, trace.WithAttributes(semconv.MessagingBatchMessageCount(n)))
	}
	ctx, s := in.start(ctx, in.dest(OpPublish, topic), more)
	s.n = int32(min(n, 1<<31-1))
	return ctx, s
}

// producerLinks returns links to the distinct trace contexts the messages
// carry already.
func (in *Instr) producerLinks(msgs []ports.Message) []trace.Link {
	var links []trace.Link
	for _, m := range msgs {
		if !carries(in.fields, m.Attributes) {
			continue
		}
		sc := trace.SpanContextFromContext(in.prop.Extract(context.Background(), propagation.MapCarrier(m.Attributes)))
		if !sc.IsValid() || slices.ContainsFunc(links, func(l trace.Link) bool { return l.SpanContext.Equal(sc) }) {
			continue
		}
		links = append(links, trace.Link{SpanContext: sc})
		if len(links) == maxLinks {
			break
		}
	}
	return links
}

// StartProcess begins one handler call for m on subscription. The span is
// a child of the trace context m carries (the producer's publish span),
// or a new root when it carries none, never a child of the span of
// Subscribe's own context. With no SDK installed it starts nothing, but
// the returned context still carries m's trace context, for the handler to
// pass on.
func (in *Instr) StartProcess(ctx context.Context, subscription string, m ports.Message) (context.Context, *Span) {
	if in == nil || ctx == nil {
		return ctx, nil
	}
	pctx, remote := ctx, false
	if carries(in.fields, m.Attributes) {
		pctx = in.prop.Extract(ctx, propagation.MapCarrier(m.Attributes))
		remote = pctx != ctx && trace.SpanContextFromContext(pctx).IsRemote()
	}
	if !in.Active() {
		return pctx, nil
	}
	var more []trace.SpanStartOption
	if in.tracing() {
		if !remote {
			more = append(more, trace.WithNewRoot())
		}
		if m.ID != "" {
			more = append(more, trace.WithAttributes(semconv.MessagingMessageID(m.ID)))
		}
	}
	ctx, s := in.start(pctx, in.dest(OpProcess, subscription), more)
	return context.WithValue(ctx, processKey{}, s), s
}

// processKey is the context key of the process Span of a handler call.
type processKey struct{}

// MarkDeadLettered records that the message of the handler call ctx
// belongs to (the context [Instr.StartProcess] returned, or one derived
// from it) was moved to a dead-letter topic: its process span ends with
// portkit.messaging.dead_lettered set and the message counts in
// portkit.messaging.dead_lettered.messages. It does nothing outside a
// recorded handler call. A dead-letter middleware calls it once the
// dead-letter topic has taken the copy.
func MarkDeadLettered(ctx context.Context) {
	if ctx == nil {
		return
	}
	if s, _ := ctx.Value(processKey{}).(*Span); s != nil {
		s.DeadLettered()
	}
}

// Handler returns h instrumented as the handler of subscription (see
// [Instr.StartProcess]): a process span and the process metrics per call,
// the message acknowledged when h returns nil and nacked otherwise. When
// deadLetterAfter is positive (the subscription's MaxDeliveryAttempts), a
// nack of a delivery at that attempt or later counts as dead-lettered. A
// panic of h ends the span with error.type "panic" and goes on.
func (in *Instr) Handler(subscription string, h ports.Handler, deadLetterAfter int) ports.Handler {
	if in == nil || h == nil {
		return h
	}
	return func(ctx context.Context, m ports.Message) error {
		ctx, sp := in.StartProcess(ctx, subscription, m)
		if !sp.Recording() {
			return h(ctx, m)
		}
		defer sp.EndPanic() // a no-op once End has run
		err := h(ctx, m)
		if err != nil && deadLetterAfter > 0 && m.DeliveryAttempt >= deadLetterAfter {
			sp.DeadLettered()
		}
		sp.End(err)
		return err
	}
}

// carries reports whether attrs hold one of a propagator's fields.
func carries(fields []string, attrs map[string]string) bool {
	if len(attrs) == 0 {
		return false
	}
	for _, f := range fields {
		if _, ok := attrs[f]; ok {
			return true
		}
	}
	return false
}

// InjectMessages returns msgs with ctx's trace context (as p writes it:
// traceparent and tracestate for W3C Trace Context) added to the
// attributes of every message that can take it, or msgs itself when none
// can (or ctx has no valid span context). The caller's messages and maps
// are never modified: changed messages are copies.
//
// A message is left as it is when it already holds one of p's fields (a
// user's or a producer's trace context is never overwritten), when it is
// empty (adding attributes would make a message that Publish must reject
// acceptable), or when the added attributes would break a limit of
// [ports.ValidateMessage] (attribute count, value length, message size).
func InjectMessages(ctx context.Context, p propagation.TextMapPropagator, msgs []ports.Message) []ports.Message {
	return injectMessages(ctx, p, p.Fields(), msgs, ports.MaxMessageBytes)
}

func injectMessages(ctx context.Context, p propagation.TextMapPropagator, fields []string, msgs []ports.Message, maxBytes int) []ports.Message {
	if len(msgs) == 0 || !trace.SpanContextFromContext(ctx).IsValid() {
		return msgs
	}
	pairs := propagation.MapCarrier{}
	p.Inject(ctx, pairs)
	if len(pairs) == 0 {
		return msgs
	}
	add := 0
	for k, v := range pairs {
		if len(k) > ports.MaxAttributeKeyBytes || len(v) > ports.MaxAttributeValueBytes {
			return msgs
		}
		add += len(k) + len(v)
	}
	var out []ports.Message
	for i, m := range msgs {
		if !takes(m, fields, len(pairs), add, maxBytes) {
			continue
		}
		if out == nil {
			out = slices.Clone(msgs)
		}
		attrs := make(map[string]string, len(m.Attributes)+len(pairs))
		maps.Copy(attrs, m.Attributes)
		maps.Copy(attrs, pairs)
		out[i].Attributes = attrs
	}
	if out == nil {
		return msgs
	}
	return out
}

// takes reports whether m can take n more attributes of add bytes.
func takes(m ports.Message, fields []string, n, add, maxBytes int) bool {
	switch {
	case len(m.Data) == 0 && len(m.Attributes) == 0:
		return false
	case len(m.Attributes)+n > ports.MaxAttributes:
		return false
	case ports.MessageSize(m)+add > maxBytes:
		return false
	}
	return !carries(fields, m.Attributes)
}

// Inject writes ctx's trace context into attrs, unless attrs holds one of
// p's fields already (a trace context is never overwritten). attrs must
// not be nil.
func Inject(ctx context.Context, p propagation.TextMapPropagator, attrs map[string]string) {
	if carries(p.Fields(), attrs) {
		return
	}
	p.Inject(ctx, propagation.MapCarrier(attrs))
}

// Extract returns ctx with the trace context attrs carry (as a remote
// parent), or ctx itself when they carry none.
func Extract(ctx context.Context, p propagation.TextMapPropagator, attrs map[string]string) context.Context {
	if !carries(p.Fields(), attrs) {
		return ctx
	}
	return p.Extract(ctx, propagation.MapCarrier(attrs))
}
