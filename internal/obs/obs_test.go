package obs

import (
	"context"
	"fmt"
	"testing"
	"time"
	"unsafe"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type sdk struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newSDK(t *testing.T) *sdk {
	s := &sdk{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(s.spans))
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	t.Cleanup(func() {
		_ = s.tp.Shutdown(context.Background())
		_ = s.mp.Shutdown(context.Background())
	})
	return s
}

// sum returns the sum of counter name's points whose attributes hold kv.
func (s *sdk) sum(t *testing.T, name string, kv ...attribute.KeyValue) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, p := range m.Data.(metricdata.Sum[int64]).DataPoints {
				match := true
				for _, want := range kv {
					if v, ok := p.Attributes.Value(want.Key); !ok || v != want.Value {
						match = false
					}
				}
				if match {
					n += p.Value
				}
			}
		}
	}
	return n
}

// The whole life of the global providers, in one test since they can be
// set only once per process: while they are the defaults nothing is
// recorded, nothing allocated and ctx is returned as it is; once an SDK is
// installed, an Instr made before records through it.
func TestGlobalProviders(t *testing.T) {
	before := New(Backend{Port: PortCache, Name: "redis"}, Settings{})
	if before.Active() {
		t.Fatal("active with the default global providers")
	}
	ctx := context.Background()
	msgs := []ports.Message{{Data: []byte("x")}}
	var h ports.Handler = func(context.Context, ports.Message) error { return nil }
	wrapped := before.Handler("sub", h, 0)
	allocs := testing.AllocsPerRun(100, func() {
		c, sp := before.Start(ctx, OpGet)
		if c != ctx || sp.Recording() {
			t.Fatal("Start changed ctx or records while off")
		}
		sp.SetRows(1)
		sp.End(nil)
		c, sp, out := before.StartPublish(ctx, "t", msgs)
		if c != ctx || sp.Recording() || &out[0] != &msgs[0] {
			t.Fatal("StartPublish changed something while off")
		}
		sp.End(nil)
		_ = wrapped(ctx, msgs[0])
	})
	if allocs != 0 {
		t.Errorf("%v allocations per call while off, want 0", allocs)
	}

	s := newSDK(t)
	otel.SetTracerProvider(s.tp)
	if !before.Active() || !before.tracing() || before.measuring() {
		t.Fatalf("after SetTracerProvider: active %v tracing %v measuring %v", before.Active(), before.tracing(), before.measuring())
	}
	_, sp := before.Start(ctx, OpGet)
	sp.End(nil)
	if got := s.spans.Ended(); len(got) != 1 || got[0].Name() != "cache.get" {
		t.Fatalf("spans %v after the SDK was installed", got)
	}

	otel.SetMeterProvider(s.mp)
	_, sp = before.Start(ctx, OpGet)
	sp.End(nil)
	if n := s.sum(t, MetricCacheHits); n != 1 {
		t.Errorf("%d hits recorded after SetMeterProvider, want 1", n)
	}

	after := New(Backend{Port: PortCache, Name: "redis"}, Settings{})
	if after.tpWord != unsafe.Pointer(after) || after.mpWord != unsafe.Pointer(after) || !after.Active() {
		t.Error("an Instr made after the SDK was installed does not always record")
	}
}

func TestLookupsClientSide(t *testing.T) {
	s := newSDK(t)
	in := New(Backend{Port: PortCache, Name: "redis"}, Settings{TracerProvider: s.tp, MeterProvider: s.mp})
	ctx := context.Background()
	_, sp := in.Start(ctx, OpGet)
	sp.SetLookups(1, 0, 1) // a Get served from the client-side cache
	sp.End(nil)
	_, sp = in.Start(ctx, OpGetMany)
	sp.SetLookups(3, 2, 1)
	sp.End(nil)
	cs := attribute.Bool(keyClientSide, true)
	if n := s.sum(t, MetricCacheHits, cs); n != 2 {
		t.Errorf("%d client-side hits, want 2", n)
	}
	if n := s.sum(t, MetricCacheHits, attribute.Bool(keyClientSide, false)); n != 2 {
		t.Errorf("%d server hits, want 2", n)
	}
	if n := s.sum(t, MetricCacheMisses); n != 2 {
		t.Errorf("%d misses, want 2", n)
	}
	if n := s.sum(t, MetricCacheHits, attribute.String("db.system.name", "redis")); n != 4 {
		t.Errorf("%d hits of redis, want 4", n)
	}
}

// The attributes of per-destination operations are cached, up to a bound:
// a program that publishes to endless topic names does not grow the cache
// without end.
func TestDestinationsBounded(t *testing.T) {
	s := newSDK(t)
	in := New(Backend{Port: PortPublisher, Name: "pubsub"}, Settings{TracerProvider: s.tp, MeterProvider: s.mp})
	ctx := context.Background()
	for i := range maxDests + 10 {
		_, sp, _ := in.StartPublish(ctx, fmt.Sprint("topic-", i), []ports.Message{{Data: []byte("x")}})
		sp.End(nil)
	}
	if n := in.ndests.Load(); n != maxDests {
		t.Errorf("%d cached destinations, want %d", n, maxDests)
	}
	if got := s.spans.Ended(); len(got) != maxDests+10 || got[maxDests+5].Name() != fmt.Sprint("publish topic-", maxDests+5) {
		t.Errorf("%d spans; beyond the bound a destination is still recorded", len(got))
	}
	if n := s.sum(t, MetricSent, attribute.String("messaging.destination.name", fmt.Sprint("topic-", maxDests+9))); n != 1 {
		t.Errorf("sent to the last topic: %d, want 1", n)
	}
}

func TestSystem(t *testing.T) {
	for name, want := range map[string]string{
		"mysql": "mysql", "mongo": "mongodb", "redis": "redis", "pubsub": "gcp_pubsub",
		"postgres": "postgresql", "fake-cache": "fake-cache", "": "",
	} {
		if got := System(name); got != want {
			t.Errorf("System(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestNilInstr(t *testing.T) {
	var in *Instr
	ctx := context.Background()
	c, sp := in.Start(ctx, OpGet)
	sp.End(nil)
	if c != ctx || in.Active() {
		t.Error("a nil Instr records")
	}
	in.RecordError(ctx, OpSubscribe, "s", ports.ErrClosed)
	if h := in.Handler("s", nil, 0); h != nil {
		t.Error("Handler(nil) is not nil")
	}
}

func TestNoHooks(t *testing.T) {
	in := New(Backend{Port: PortCache, Name: "x"}, Settings{TracerProvider: NoHooks{}})
	if in != nil {
		t.Fatal("New with NoHooks returned an Instr")
	}
	ctx := context.Background()
	if c, sp := in.Start(ctx, OpGet); c != ctx || sp != nil {
		t.Error("nil Instr started something")
	}
	if c, sp := in.StartDest(ctx, OpEnsureTopic, "t"); c != ctx || sp != nil {
		t.Error("nil Instr started something")
	}
	if in.Backend() != (Backend{}) || in.Propagator() == nil {
		t.Error("nil Instr: Backend or Propagator")
	}
}

func TestMarkDeadLettered(t *testing.T) {
	s := newSDK(t)
	in := New(Backend{Port: PortSubscriber, Name: "fake-pubsub"}, Settings{TracerProvider: s.tp, MeterProvider: s.mp})
	h := in.Handler("sub", func(ctx context.Context, m ports.Message) error {
		MarkDeadLettered(ctx)
		return nil
	}, 0)
	MarkDeadLettered(context.Background()) // outside a handler: nothing
	var noCtx context.Context
	MarkDeadLettered(noCtx) // a nil ctx does nothing
	if err := h(context.Background(), ports.Message{ID: "1", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	spans := s.spans.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	found := false
	for _, kv := range spans[0].Attributes() {
		if kv.Key == keyDeadLettered && kv.Value.AsBool() {
			found = true
		}
	}
	if !found {
		t.Errorf("process span has no %s: %v", keyDeadLettered, spans[0].Attributes())
	}
	if n := s.sum(t, MetricDeadLettered); n != 1 {
		t.Errorf("%s = %d, want 1", MetricDeadLettered, n)
	}
	if n := s.sum(t, MetricSettled, attribute.String(keyOutcome, "ack")); n != 1 {
		t.Errorf("acked = %d, want 1", n)
	}
}

func TestChecks(t *testing.T) {
	s := newSDK(t)
	c := NewChecks(Settings{TracerProvider: s.tp, MeterProvider: s.mp})
	ctx, sp := c.Start(context.Background(), 2)
	c.Record(ctx, "redis", nil, time.Millisecond)
	c.Record(ctx, "mysql", ports.NewError("mysql", "check", ports.ErrUnavailable, fmt.Errorf("dial secret-host")), time.Second)
	c.End(sp, 1)
	spans := s.spans.Ended()
	if len(spans) != 1 || spans[0].Name() != SpanGroupCheck || spans[0].Status().Description != "connector check failed" {
		t.Fatalf("spans %v", spans)
	}
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	status := map[string]int64{}
	durations := 0
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch m.Name {
			case MetricGroupCheckStatus:
				for _, p := range m.Data.(metricdata.Gauge[int64]).DataPoints {
					v, _ := p.Attributes.Value(keyConnectorName)
					status[v.AsString()] = p.Value
				}
			case MetricGroupCheckDuration:
				for _, p := range m.Data.(metricdata.Histogram[float64]).DataPoints {
					durations += int(p.Count)
					if v, ok := p.Attributes.Value("error.type"); ok && v.AsString() != "ErrUnavailable" {
						t.Errorf("error.type %q", v.AsString())
					}
				}
			}
		}
	}
	if _, ok := status["mysql"]; !ok || status["redis"] != 1 || status["mysql"] != 0 || len(status) != 2 || durations != 2 {
		t.Errorf("status %v, durations %d", status, durations)
	}
	var nilChecks *Checks
	_, nsp := nilChecks.Start(context.Background(), 1)
	nilChecks.Record(context.Background(), "x", nil, 0)
	nilChecks.End(nsp, 0)
}
