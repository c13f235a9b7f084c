// Package obstest is the test side of portkit's instrumentation: an
// OpenTelemetry SDK that records every span (tracetest.SpanRecorder) and
// reads the metrics on demand (a manual reader), with the assertions the
// tests of the fakes, the adapters and the packages over them share —
// span lookup, attributes, parent and child, metric points, and the scan
// that no span or metric label holds a secret or a payload.
//
// It imports the SDK; only tests import it.
package obstest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/internal/obs"
)

// SDK is a tracer provider that samples and records every span and a
// meter provider with a manual reader. Both shut down with the test.
type SDK struct {
	t      testing.TB
	Spans  *tracetest.SpanRecorder
	TP     *sdktrace.TracerProvider
	Reader *sdkmetric.ManualReader
	MP     *sdkmetric.MeterProvider
}

// New returns an SDK for t.
func New(t testing.TB) *SDK {
	s := &SDK{t: t, Spans: tracetest.NewSpanRecorder(), Reader: sdkmetric.NewManualReader()}
	s.TP = sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(s.Spans))
	s.MP = sdkmetric.NewMeterProvider(sdkmetric.WithReader(s.Reader))
	t.Cleanup(func() {
		_ = s.TP.Shutdown(context.Background())
		_ = s.MP.Shutdown(context.Background())
	})
	return s
}

// Settings returns the providers as obs.Settings.
func (s *SDK) Settings() obs.Settings {
	return obs.Settings{TracerProvider: s.TP, MeterProvider: s.MP}
}

// Ended returns the spans ended so far, in the order they ended.
func (s *SDK) Ended() []sdktrace.ReadOnlySpan { return s.Spans.Ended() }

// Named returns the ended spans called name.
func (s *SDK) Named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, sp := range s.Ended() {
		if sp.Name() == name {
			out = append(out, sp)
		}
	}
	return out
}

// Span returns the only ended span called name; the test fails unless
// there is exactly one.
func (s *SDK) Span(name string) sdktrace.ReadOnlySpan {
	s.t.Helper()
	found := s.Named(name)
	if len(found) != 1 {
		s.t.Fatalf("%d spans named %q, want 1; spans: %v", len(found), name, Names(s.Ended()))
	}
	return found[0]
}

// Reset forgets the spans ended so far.
func (s *SDK) Reset() { s.Spans.Reset() }

// Names returns the names of spans.
func Names(spans []sdktrace.ReadOnlySpan) []string {
	out := make([]string, 0, len(spans))
	for _, sp := range spans {
		out = append(out, sp.Name())
	}
	return out
}

// Attr returns the value of span attribute key, and whether it is set.
func Attr(sp sdktrace.ReadOnlySpan, key string) (attribute.Value, bool) {
	for _, kv := range sp.Attributes() {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// WantAttrs checks that sp has each key=value pair of kv (values compared
// as their Emit form).
func WantAttrs(t testing.TB, sp sdktrace.ReadOnlySpan, kv ...string) {
	t.Helper()
	for i := 0; i+1 < len(kv); i += 2 {
		v, ok := Attr(sp, kv[i])
		switch {
		case !ok:
			t.Errorf("span %q: no attribute %s (have %v)", sp.Name(), kv[i], sp.Attributes())
		case v.String() != kv[i+1]:
			t.Errorf("span %q: %s = %q, want %q", sp.Name(), kv[i], v.String(), kv[i+1])
		}
	}
}

// WantNoAttr checks that sp has none of keys.
func WantNoAttr(t testing.TB, sp sdktrace.ReadOnlySpan, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if v, ok := Attr(sp, k); ok {
			t.Errorf("span %q: attribute %s = %q, want none", sp.Name(), k, v.String())
		}
	}
}

// WantChild checks that child's parent is parent, in parent's trace.
func WantChild(t testing.TB, parent, child sdktrace.ReadOnlySpan) {
	t.Helper()
	if child.SpanContext().TraceID() != parent.SpanContext().TraceID() {
		t.Errorf("span %q is in trace %s, its parent %q in %s", child.Name(), child.SpanContext().TraceID(), parent.Name(), parent.SpanContext().TraceID())
	}
	if child.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("span %q: parent span %s, want %q (%s)", child.Name(), child.Parent().SpanID(), parent.Name(), parent.SpanContext().SpanID())
	}
}

// WantKind checks sp's span kind.
func WantKind(t testing.TB, sp sdktrace.ReadOnlySpan, kind trace.SpanKind) {
	t.Helper()
	if sp.SpanKind() != kind {
		t.Errorf("span %q: kind %v, want %v", sp.Name(), sp.SpanKind(), kind)
	}
}

// Collect reads the metrics.
func (s *SDK) Collect() metricdata.ResourceMetrics {
	s.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := s.Reader.Collect(context.Background(), &rm); err != nil {
		s.t.Fatal(err)
	}
	return rm
}

// Point is one data point of a metric: its attributes and its value (the
// sum, the gauge's value, or the histogram's count).
type Point struct {
	Attrs attribute.Set
	Value float64
}

// Get returns the value of attribute key of the point ("" when unset).
func (p Point) Get(key string) string {
	v, _ := p.Attrs.Value(attribute.Key(key))
	return v.String()
}

// Points returns the data points of the metric called name.
func (s *SDK) Points(name string) []Point {
	s.t.Helper()
	var out []Point
	for _, m := range metrics(s.Collect()) {
		if m.Name == name {
			out = append(out, points(s.t, m)...)
		}
	}
	return out
}

func metrics(rm metricdata.ResourceMetrics) []metricdata.Metrics {
	var out []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		out = append(out, sm.Metrics...)
	}
	return out
}

func points(t testing.TB, m metricdata.Metrics) []Point {
	var out []Point
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, Point{p.Attributes, float64(p.Value)})
		}
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			out = append(out, Point{p.Attributes, p.Value})
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out = append(out, Point{p.Attributes, float64(p.Value)})
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			out = append(out, Point{p.Attributes, p.Value})
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, Point{p.Attributes, float64(p.Count)})
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			out = append(out, Point{p.Attributes, float64(p.Count)})
		}
	default:
		t.Fatalf("metric %s: unexpected data %T", m.Name, m.Data)
	}
	return out
}

// Total sums the points of metric name whose attributes hold every
// key=value pair of kv.
func (s *SDK) Total(name string, kv ...string) float64 {
	s.t.Helper()
	var sum float64
	for _, p := range s.Points(name) {
		match := true
		for i := 0; i+1 < len(kv); i += 2 {
			if p.Get(kv[i]) != kv[i+1] {
				match = false
			}
		}
		if match {
			sum += p.Value
		}
	}
	return sum
}

// Texts returns every text the recorded telemetry holds: span names,
// status descriptions, attribute keys and values of spans, events and
// links, and metric names and attribute keys and values, each prefixed
// with where it was found.
func (s *SDK) Texts() []string {
	var out []string
	kv := func(where string, kvs []attribute.KeyValue) {
		for _, a := range kvs {
			out = append(out, where+": "+string(a.Key)+"="+a.Value.String())
		}
	}
	for _, sp := range s.Ended() {
		where := "span " + sp.Name()
		out = append(out, where, where+": status "+sp.Status().Description)
		kv(where, sp.Attributes())
		for _, ev := range sp.Events() {
			out = append(out, where+": event "+ev.Name)
			kv(where+": event "+ev.Name, ev.Attributes)
		}
		for _, l := range sp.Links() {
			kv(where+": link", l.Attributes)
		}
	}
	for _, m := range metrics(s.Collect()) {
		out = append(out, "metric "+m.Name)
		for _, p := range points(s.t, m) {
			kv("metric "+m.Name, p.Attrs.ToSlice())
		}
	}
	return out
}

// NoSecret fails the test when a text of the recorded telemetry holds one
// of secrets, and when nothing was recorded (a scan of nothing proves
// nothing). It returns the number of texts scanned.
func (s *SDK) NoSecret(secrets ...string) int {
	s.t.Helper()
	texts := s.Texts()
	if len(s.Ended()) == 0 {
		s.t.Fatal("no span recorded: the secret scan would prove nothing")
	}
	for _, text := range texts {
		for _, sec := range secrets {
			if sec != "" && strings.Contains(text, sec) {
				s.t.Errorf("telemetry holds a secret: %q contains %q", text, sec)
			}
		}
	}
	return len(texts)
}

// Tree renders the spans of the trace of root (root first, children in
// the order they started, indented), with each span's kind and the
// attributes named by keys that it has; a span whose parent is not among
// them is printed under root as a link target would be, marked "(linked)".
func Tree(spans []sdktrace.ReadOnlySpan, keys ...string) string {
	byParent := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	ids := map[trace.SpanID]bool{}
	for _, sp := range spans {
		ids[sp.SpanContext().SpanID()] = true
	}
	var roots []sdktrace.ReadOnlySpan
	for _, sp := range spans {
		if p := sp.Parent().SpanID(); p.IsValid() && ids[p] {
			byParent[p] = append(byParent[p], sp)
		} else {
			roots = append(roots, sp)
		}
	}
	order := func(l []sdktrace.ReadOnlySpan) {
		sort.SliceStable(l, func(i, j int) bool { return l[i].StartTime().Before(l[j].StartTime()) })
	}
	order(roots)
	var b strings.Builder
	var walk func(sp sdktrace.ReadOnlySpan, depth int)
	walk = func(sp sdktrace.ReadOnlySpan, depth int) {
		fmt.Fprintf(&b, "%s%s [%s]", strings.Repeat("  ", depth), sp.Name(), sp.SpanKind())
		for _, k := range keys {
			if v, ok := Attr(sp, k); ok {
				fmt.Fprintf(&b, " %s=%s", k, v.String())
			}
		}
		if len(sp.Links()) > 0 {
			fmt.Fprintf(&b, " links=%d", len(sp.Links()))
		}
		b.WriteByte('\n')
		kids := byParent[sp.SpanContext().SpanID()]
		order(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	return b.String()
}

// OneTrace fails the test unless every span of spans is in one trace.
func OneTrace(t testing.TB, spans []sdktrace.ReadOnlySpan) {
	t.Helper()
	var ids []trace.TraceID
	for _, sp := range spans {
		if id := sp.SpanContext().TraceID(); !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Errorf("%d traces, want 1:\n%s", len(ids), Tree(spans))
	}
}
