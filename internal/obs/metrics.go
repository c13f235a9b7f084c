package obs

import (
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/ports"
)

// Names of the instruments. The duration histograms and the message
// counters have the semantic conventions' names; the others are portkit's.
const (
	MetricDBDuration      = "db.client.operation.duration"        // s, per database operation
	MetricMsgDuration     = "messaging.client.operation.duration" // s, per publish and admin operation
	MetricProcessDuration = "messaging.process.duration"          // s, per handler call
	MetricSent            = "messaging.client.sent.messages"      // messages handed to Publish
	MetricConsumed        = "messaging.client.consumed.messages"  // messages handed to a handler
	MetricErrors          = "portkit.operation.errors"            // failed operations, by error.type
	MetricCacheHits       = "portkit.cache.hits"                  // cache lookups that found the key
	MetricCacheMisses     = "portkit.cache.misses"                // cache lookups that did not
	MetricBatchSize       = "portkit.messaging.publish.batch.size"
	MetricSettled         = "portkit.messaging.settled.messages" // by portkit.messaging.outcome: ack, nack
	MetricDeadLettered    = "portkit.messaging.dead_lettered.messages"
	MetricCheckDuration   = "portkit.check.duration" // s, per Connector.Check
	MetricCheckStatus     = "portkit.check.status"   // 1 when the last check passed, 0 when it failed
	MetricOutboxPending   = "portkit.outbox.pending"
	MetricOutboxOldestAge = "portkit.outbox.oldest_age" // s
)

// Attribute keys of portkit's own metrics.
const (
	keyOutcome    = "portkit.messaging.outcome"
	keyOutboxName = "portkit.outbox.name"
)

// Bucket boundaries: the semantic conventions' advice for database and
// messaging durations, with sub-millisecond buckets added for in-memory
// fakes and client-side cache hits.
var (
	durationBuckets = []float64{0.00001, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	batchBuckets    = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}
)

type instruments struct {
	dbDuration, msgDuration, procDuration, checkDuration metric.Float64Histogram

	errors, hits, misses, sent, consumed, settled, deadLettered metric.Int64Counter

	batch       metric.Int64Histogram
	checkStatus metric.Int64Gauge
}

func newInstruments(m metric.Meter) *instruments {
	fallback := noop.Meter{}
	hist := func(name, desc string) metric.Float64Histogram {
		h, err := m.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		if err != nil || h == nil {
			h, _ = fallback.Float64Histogram(name)
		}
		return h
	}
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		if err != nil || c == nil {
			c, _ = fallback.Int64Counter(name)
		}
		return c
	}
	in := &instruments{
		dbDuration:    hist(MetricDBDuration, "Duration of database and cache operations."),
		msgDuration:   hist(MetricMsgDuration, "Duration of publish and messaging admin operations."),
		procDuration:  hist(MetricProcessDuration, "Duration of message handler calls."),
		checkDuration: hist(MetricCheckDuration, "Duration of Connector checks."),
		errors:        counter(MetricErrors, "{error}", "Failed port operations, by error.type (the port sentinel)."),
		hits:          counter(MetricCacheHits, "{hit}", "Cache lookups that found their key."),
		misses:        counter(MetricCacheMisses, "{miss}", "Cache lookups that did not find their key."),
		sent:          counter(MetricSent, "{message}", "Messages handed to Publish, by error.type when they failed."),
		consumed:      counter(MetricConsumed, "{message}", "Messages handed to a handler."),
		settled:       counter(MetricSettled, "{message}", "Handled messages, by portkit.messaging.outcome (ack, nack)."),
		deadLettered:  counter(MetricDeadLettered, "{message}", "Messages moved to a dead-letter topic."),
	}
	var err error
	if in.batch, err = m.Int64Histogram(MetricBatchSize, metric.WithUnit("{message}"),
		metric.WithDescription("Messages per Publish call."),
		metric.WithExplicitBucketBoundaries(batchBuckets...)); err != nil || in.batch == nil {
		in.batch, _ = fallback.Int64Histogram(MetricBatchSize)
	}
	if in.checkStatus, err = m.Int64Gauge(MetricCheckStatus, metric.WithUnit("1"),
		metric.WithDescription("1 when the connector's last check passed, 0 when it failed.")); err != nil || in.checkStatus == nil {
		in.checkStatus, _ = fallback.Int64Gauge(MetricCheckStatus)
	}
	return in
}

// opData is an operation's precomputed span name, start options and
// metric attributes.
type opData struct {
	op   Op
	name string
	// start holds the span kind and the attributes.
	start []trace.SpanStartOption
	attrs []attribute.KeyValue
	rec   []metric.RecordOption
	add   []metric.AddOption
	hist  metric.Float64Histogram // nil: no duration
	// cache lookups: hit (server or client side) and miss; process: ack
	// and nack.
	hit, hitClientSide, miss []metric.AddOption
	ack, nack                []metric.AddOption

	errs [numErrKinds]atomic.Pointer[errOpts]
}

// errOpts are an operation's attributes with error.type set.
type errOpts struct {
	kind string
	attr attribute.KeyValue
	rec  []metric.RecordOption
	add  []metric.AddOption
}

// The error.type values: the six sentinels' names, "none" for an error
// that matches no sentinel, and "panic" for a panicking call.
const (
	errNone     = 6
	errPanic    = 7
	numErrKinds = 8
)

func errIndex(err error) int {
	k := ports.KindOf(err)
	for i, s := range ports.Kinds() {
		if k == s {
			return i
		}
	}
	return errNone
}

func errName(i int) string {
	switch i {
	case errNone:
		return "none"
	case errPanic:
		return "panic"
	}
	return ports.KindName(ports.Kinds()[i])
}

func (od *opData) errFor(i int) *errOpts {
	if e := od.errs[i].Load(); e != nil {
		return e
	}
	name := errName(i)
	kv := semconv.ErrorTypeKey.String(name)
	attrs := append(append(make([]attribute.KeyValue, 0, len(od.attrs)+1), od.attrs...), kv)
	set := attribute.NewSet(attrs...)
	e := &errOpts{
		kind: name,
		attr: kv,
		rec:  []metric.RecordOption{metric.WithAttributeSet(set)},
		add:  []metric.AddOption{metric.WithAttributeSet(set)},
	}
	od.errs[i].CompareAndSwap(nil, e)
	return od.errs[i].Load()
}

// newOp builds the data of op on dest (the collection of a store, the
// topic or subscription of a messaging operation, "" for none).
func (in *Instr) newOp(op Op, dest string) *opData {
	p := in.b.Port
	attrs := append(make([]attribute.KeyValue, 0, len(in.base)+4), in.base...)
	kind := trace.SpanKindClient
	od := &opData{op: op}
	switch {
	case p == PortConnector:
		dest = in.b.Name
		attrs = append(attrs, attribute.String(keyOperation, op.String()))
		if op == OpCheck {
			od.hist = in.m.checkDuration
		}
	case p.messaging():
		attrs = append(attrs, semconv.MessagingOperationName(op.String()))
		switch op {
		case OpPublish:
			kind = trace.SpanKindProducer
			attrs = append(attrs, semconv.MessagingOperationTypeSend, semconv.MessagingDestinationName(dest))
			od.hist = in.m.msgDuration
		case OpProcess:
			kind = trace.SpanKindConsumer
			attrs = append(attrs, semconv.MessagingOperationTypeProcess, semconv.MessagingDestinationSubscriptionName(dest))
			od.hist = in.m.procDuration
		case OpSubscribe, OpEnsureSubscription:
			attrs = append(attrs, semconv.MessagingDestinationSubscriptionName(dest))
			if op == OpEnsureSubscription {
				od.hist = in.m.msgDuration
			}
		default:
			attrs = append(attrs, semconv.MessagingDestinationName(dest))
			od.hist = in.m.msgDuration
		}
	default:
		attrs = append(attrs, semconv.DBOperationName(op.String()))
		if dest != "" {
			attrs = append(attrs, semconv.DBCollectionName(dest))
		}
		od.hist = in.m.dbDuration
		if op == OpWithinTx {
			kind = trace.SpanKindInternal
		}
	}
	od.name = spanName(p, op, dest)
	od.attrs = attrs
	od.start = []trace.SpanStartOption{trace.WithSpanKind(kind), trace.WithAttributes(attrs...)}
	set := attribute.NewSet(attrs...)
	od.rec = []metric.RecordOption{metric.WithAttributeSet(set)}
	od.add = []metric.AddOption{metric.WithAttributeSet(set)}
	with := func(kv attribute.KeyValue) []metric.AddOption {
		a := append(append(make([]attribute.KeyValue, 0, len(attrs)+1), attrs...), kv)
		return []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(a...))}
	}
	switch {
	case p == PortCache && (op == OpGet || op == OpGetMany):
		od.hit = with(attribute.Bool(keyClientSide, false))
		od.hitClientSide = with(attribute.Bool(keyClientSide, true))
		od.miss = od.add
	case op == OpProcess:
		od.ack = with(attribute.String(keyOutcome, "ack"))
		od.nack = with(attribute.String(keyOutcome, "nack"))
	}
	return od
}

// dest returns the data of op on dest, from the bounded cache.
func (in *Instr) dest(op Op, dest string) *opData {
	k := destKey{op, dest}
	if od, ok := in.dests.Load(k); ok {
		return od.(*opData)
	}
	od := in.newOp(op, dest)
	if in.ndests.Add(1) > maxDests {
		in.ndests.Add(-1)
		return od
	}
	if prev, loaded := in.dests.LoadOrStore(k, od); loaded {
		in.ndests.Add(-1)
		return prev.(*opData)
	}
	return od
}
