package obs

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/ports"
)

// Span is one port operation in progress: its span (when tracing), its
// start time (when measuring) and what the operation reports before it
// ends. A nil *Span (what Start returns while nothing records) records
// nothing; all its methods may be called. A Span is used by one goroutine;
// calls after the first End do nothing.
type Span struct {
	in    *Instr
	op    *opData
	ctx   context.Context // the operation's context, for the metrics
	span  trace.Span      // nil when not tracing
	start time.Time       // zero when not measuring

	rows                     int32 // db.response.returned_rows; -1 when not set
	hits, misses, clientHits int32 // cache lookups, when set by SetLookups
	n                        int32 // messages of a publish
	lookups, panic           bool
	// deadLetter may be set by a middleware running the handler on
	// another goroutine than the one that ends the span.
	deadLetter atomic.Bool
}

// Start begins operation op of the Instr's port (not one of the
// operations on a named destination: see [Instr.StartDest],
// [Instr.StartPublish], [Instr.StartProcess]). It returns the context the
// operation runs in (ctx itself unless a span was started) and the Span to
// end. With no SDK installed it returns ctx and nil: it costs one call,
// two loads and two compares, and allocates nothing.
//
// Start is inlined at its call sites: with a nil Instr (what [New] returns
// for [NoHooks]) it costs one compare and no call.
func (in *Instr) Start(ctx context.Context, op Op) (context.Context, *Span) {
	if in == nil {
		return ctx, nil
	}
	return in.startOp(ctx, op)
}

func (in *Instr) startOp(ctx context.Context, op Op) (context.Context, *Span) {
	// tracing and measuring are inlined here (Active would be a call).
	if !in.tracing() && !in.measuring() {
		return ctx, nil
	}
	od := in.ops[op%numOps]
	if od == nil {
		od = in.dest(op, in.b.Collection)
	}
	return in.start(ctx, od, nil)
}

// StartDest begins operation op on a destination named per call: an
// Admin operation on a topic or subscription, Subscribe's errors.
func (in *Instr) StartDest(ctx context.Context, op Op, dest string) (context.Context, *Span) {
	if in == nil || !in.Active() {
		return ctx, nil
	}
	return in.start(ctx, in.dest(op, dest), nil)
}

func (in *Instr) start(ctx context.Context, od *opData, more []trace.SpanStartOption) (context.Context, *Span) {
	s := &Span{in: in, op: od, ctx: ctx, rows: -1}
	if ctx == nil {
		// The implementation returns ErrInvalid; there is no context to
		// hang a span on, but the failure is still measured.
		s.ctx = context.Background()
	} else if in.tracing() {
		opts := od.start
		if len(more) > 0 {
			opts = append(append(make([]trace.SpanStartOption, 0, len(opts)+len(more)), opts...), more...)
		}
		ctx, s.span = in.tracer.Start(ctx, od.name, opts...)
		s.ctx = ctx
	}
	if in.measuring() {
		s.start = time.Now()
	}
	return ctx, s
}

// SetRows records how many entities the operation returned
// (db.response.returned_rows).
func (s *Span) SetRows(n int) {
	if s != nil && s.in != nil {
		s.rows = int32(min(n, 1<<31-1))
	}
}

// SetLookups records the outcome of a cache lookup of several keys (or of
// one key served from the client-side cache): hits found, misses not
// found, clientSideHits of the hits served by the client-side cache. A
// Get without it counts one hit when it succeeds and one miss when it
// returns ErrNotFound.
func (s *Span) SetLookups(hits, misses, clientSideHits int) {
	if s != nil && s.in != nil {
		s.lookups = true
		s.hits, s.misses, s.clientHits = int32(hits), int32(misses), int32(min(clientSideHits, hits))
	}
}

// DeadLettered records that the message of a process span was moved to
// the dead-letter topic.
func (s *Span) DeadLettered() {
	if s != nil {
		s.deadLetter.Store(true)
	}
}

// Recording reports whether the Span records anything.
func (s *Span) Recording() bool { return s != nil && s.in != nil }

// End ends the operation with its result err. Errors are recorded as
// error.type (the port sentinel err matches, "none" when it matches
// none), never as text. A cache miss (Cache.Get's ErrNotFound) is not an
// error: it counts as a miss.
func (s *Span) End(err error) {
	if s != nil && s.in != nil {
		s.in.end(s, err)
		s.in = nil
	}
}

// EndPanic ends the operation of a call that is panicking (error.type
// "panic"); the panic value is not recorded.
func (s *Span) EndPanic() {
	if s != nil && s.in != nil {
		s.panic = true
		s.in.end(s, nil)
		s.in = nil
	}
}

// lookupOp reports whether od is a cache lookup, whose ErrNotFound is a
// miss.
func (od *opData) lookupOp() bool { return od.hit != nil }

func (in *Instr) end(s *Span, err error) {
	od := s.op
	var eo *errOpts
	miss := false
	switch {
	case s.panic:
		eo = od.errFor(errPanic)
	case err == nil:
	case od.lookupOp() && od.op == OpGet && errors.Is(err, ports.ErrNotFound):
		miss = true
	default:
		eo = od.errFor(errIndex(err))
	}
	if sp := s.span; sp != nil {
		if s.rows >= 0 {
			sp.SetAttributes(semconv.DBResponseReturnedRows(int(s.rows)))
		}
		if s.deadLetter.Load() {
			sp.SetAttributes(attribute.Bool(keyDeadLettered, true))
		}
		if eo != nil {
			sp.SetAttributes(eo.attr)
			sp.SetStatus(codes.Error, eo.kind)
		}
		sp.End()
	}
	if s.start.IsZero() {
		return
	}
	ctx, m := s.ctx, in.m
	rec := od.rec
	if eo != nil {
		rec = eo.rec
		m.errors.Add(ctx, 1, eo.add...)
	}
	if od.hist != nil {
		od.hist.Record(ctx, time.Since(s.start).Seconds(), rec...)
	}
	switch {
	case od.lookupOp():
		in.endLookup(s, err, miss)
	case od.op == OpPublish:
		in.endPublish(s, err, eo)
	case od.op == OpProcess:
		m.consumed.Add(ctx, 1, od.add...)
		if err == nil && !s.panic {
			m.settled.Add(ctx, 1, od.ack...)
		} else {
			m.settled.Add(ctx, 1, od.nack...)
		}
		if s.deadLetter.Load() {
			m.deadLettered.Add(ctx, 1, od.add...)
		}
	case od.op == OpCheck && in.b.Port == PortConnector:
		up := int64(0)
		if eo == nil {
			up = 1
		}
		m.checkStatus.Record(ctx, up, od.rec...)
	}
}

func (in *Instr) endLookup(s *Span, err error, miss bool) {
	od, ctx, m := s.op, s.ctx, in.m
	hits, misses, cs := int64(s.hits), int64(s.misses), int64(s.clientHits)
	if !s.lookups {
		switch {
		case err == nil && od.op == OpGet:
			hits = 1
		case miss:
			misses = 1
		}
	} else if err != nil && !miss {
		return
	}
	if cs > 0 {
		m.hits.Add(ctx, cs, od.hitClientSide...)
	}
	if hits > cs {
		m.hits.Add(ctx, hits-cs, od.hit...)
	}
	if misses > 0 {
		m.misses.Add(ctx, misses, od.miss...)
	}
}

func (in *Instr) endPublish(s *Span, err error, eo *errOpts) {
	od, ctx, m := s.op, s.ctx, in.m
	n := int64(s.n)
	m.batch.Record(ctx, n, od.rec...)
	failed := int64(0)
	if err != nil {
		failed = n
		var pe *ports.PublishError
		if errors.As(err, &pe) {
			failed = int64(min(len(pe.Failures), int(n)))
		}
	}
	if n-failed > 0 {
		m.sent.Add(ctx, n-failed, od.add...)
	}
	if failed > 0 && eo != nil {
		m.sent.Add(ctx, failed, eo.add...)
	}
}

// RecordError counts a failure of op on dest that has no span of its own
// (Subscribe's: its span would last as long as the subscription), in
// portkit.operation.errors. A nil err records nothing.
func (in *Instr) RecordError(ctx context.Context, op Op, dest string, err error) {
	if err == nil || in == nil || !in.measuring() {
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	in.m.errors.Add(ctx, 1, in.dest(op, dest).errFor(errIndex(err)).add...)
}

// SetGetMany records the lookups of a GetMany of keys that returned
// found: a hit per key found, a miss per key not found (a key named twice
// counts twice), none served by a client-side cache.
func (s *Span) SetGetMany(keys []string, found map[string][]byte) {
	if s == nil || s.in == nil {
		return
	}
	misses := 0
	for _, k := range keys {
		if _, ok := found[k]; !ok {
			misses++
		}
	}
	s.SetLookups(len(keys)-misses, misses, 0)
}
