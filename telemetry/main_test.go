package telemetry_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/goleak"

	"github.com/portkit/portkit/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sdk is an SDK that records every span and lets a test read the metrics.
type sdk struct {
	t      testing.TB
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newSDK(t testing.TB) *sdk {
	s := &sdk{t: t, spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	s.tp = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(s.spans))
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.reader))
	t.Cleanup(func() {
		_ = s.tp.Shutdown(context.Background())
		_ = s.mp.Shutdown(context.Background())
	})
	return s
}

// opts are the decorator options that record into s.
func (s *sdk) opts(more ...telemetry.Option) []telemetry.Option {
	return append([]telemetry.Option{telemetry.WithTracerProvider(s.tp), telemetry.WithMeterProvider(s.mp)}, more...)
}

// ended returns the spans ended so far.
func (s *sdk) ended() []sdktrace.ReadOnlySpan { return s.spans.Ended() }

// span returns the only ended span named name.
func (s *sdk) span(name string) sdktrace.ReadOnlySpan {
	s.t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, sp := range s.ended() {
		if sp.Name() == name {
			found = append(found, sp)
		}
	}
	if len(found) != 1 {
		s.t.Fatalf("%d spans named %q, want 1; spans: %v", len(found), name, names(s.ended()))
	}
	return found[0]
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, sp := range spans {
		out = append(out, sp.Name())
	}
	return out
}

// attr returns the value of span attribute key, and whether it is set.
func attr(sp sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range sp.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func wantAttr(t testing.TB, sp sdktrace.ReadOnlySpan, key, want string) {
	t.Helper()
	v, ok := attr(sp, key)
	if !ok {
		t.Errorf("span %q: no attribute %s (have %v)", sp.Name(), key, sp.Attributes())
		return
	}
	if got := v.String(); got != want {
		t.Errorf("span %q: %s = %q, want %q", sp.Name(), key, got, want)
	}
}

func wantNoAttr(t testing.TB, sp sdktrace.ReadOnlySpan, key string) {
	t.Helper()
	if v, ok := attr(sp, key); ok {
		t.Errorf("span %q: attribute %s = %q, want none", sp.Name(), key, v.String())
	}
}

// collect reads the metrics.
func (s *sdk) collect() metricdata.ResourceMetrics {
	s.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.reader.Collect(context.Background(), &rm); err != nil {
		s.t.Fatal(err)
	}
	return rm
}

// point is one data point of a metric: its attributes and its value (the
// sum, the gauge's value, or the histogram's count).
type point struct {
	attrs attribute.Set
	value float64
}

func (p point) get(key string) string {
	v, _ := p.attrs.Value(attribute.Key(key))
	return v.String()
}

// points returns the data points of the metric called name.
func (s *sdk) points(name string) []point {
	s.t.Helper()
	var out []point
	for _, sm := range s.collect().ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out = append(out, point{p.Attributes, float64(p.Value)})
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out = append(out, point{p.Attributes, float64(p.Value)})
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					out = append(out, point{p.Attributes, p.Value})
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out = append(out, point{p.Attributes, float64(p.Count)})
				}
			case metricdata.Histogram[int64]:
				for _, p := range d.DataPoints {
					out = append(out, point{p.Attributes, float64(p.Count)})
				}
			default:
				s.t.Fatalf("metric %s: unexpected data %T", name, m.Data)
			}
		}
	}
	return out
}

// total sums the points of metric name whose attributes hold every
// key=value pair of kv.
func (s *sdk) total(name string, kv ...string) float64 {
	s.t.Helper()
	var sum float64
	for _, p := range s.points(name) {
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			if p.get(kv[i]) != kv[i+1] {
				match = false
			}
		}
		if match {
			sum += p.value
		}
	}
	return sum
}
