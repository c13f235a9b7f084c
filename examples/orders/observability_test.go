package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/examples/orders/observe"
)

// The observability tests are not parallel: run installs its providers
// as OpenTelemetry's globals, which the fakes Build opens record
// through, so two services starting at once could record into each
// other's. Sequential tests end before the parallel ones start.

const obsOrder = `{"customer":"obs","lines":[{"sku":"book-1","qty":2,"price_cents":1250}]}`

// TestMetricsOnFakes: on the default configuration (every port on its
// fake), after one POST /orders, GET /metrics serves in Prometheus'
// format portkit's operation metrics of the SQL store (by table and
// operation, the transaction's too), the HTTP server's, and the outbox
// relay's gauges.
func TestMetricsOnFakes(t *testing.T) {
	s := start(t, nil)
	if status, _, body := s.request(t, "POST", "/orders", obsOrder); status != http.StatusCreated {
		t.Fatalf("POST /orders = %d %s", status, body)
	}
	s.waitView(t, "obs", 1, 30*time.Second)
	status, h, body := s.request(t, "GET", "/metrics", "")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics = %d %s\n%.500s", status, h.Get("Content-Type"), body)
	}
	for _, want := range []string{
		// The SQL store: the order's insert and its event's, in one transaction.
		`db_client_operation_duration_seconds_count{db_collection_name="orders",db_operation_name="create",db_system_name="fake-sql",`,
		`db_client_operation_duration_seconds_count{db_collection_name="order_lines",db_operation_name="create_many",db_system_name="fake-sql",`,
		`db_client_operation_duration_seconds_count{db_collection_name="outbox",db_operation_name="create_many",db_system_name="fake-sql",`,
		`db_client_operation_duration_seconds_count{db_operation_name="within_tx",db_system_name="fake-sql",`,
		// The relay's publish and the projector's processing.
		`messaging_client_sent_messages_total{messaging_destination_name="order.created",messaging_operation_name="publish",messaging_operation_type="send",messaging_system="fake-pubsub",`,
		`messaging_process_duration_seconds_count{`,
		// otelhttp's server metrics.
		`http_server_request_duration_seconds_count{`,
		`service_name="orders"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The outbox gauges of the service's relay (their values are the
	// wiring test's business: the relay may not have deleted the row yet).
	for _, g := range []string{"portkit_outbox_pending", "portkit_outbox_oldest_age_seconds"} {
		re := regexp.MustCompile(`(?m)^` + g + `\{[^}]*portkit_outbox_name="outbox-relay"[^}]*\} \d`)
		if !re.MatchString(body) {
			t.Errorf("/metrics lacks %s of outbox-relay", g)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metricLines(body))
	}
	if err := s.stop(t, 30*time.Second); err != nil {
		t.Fatalf("run = %v\n%s", err, s.out)
	}
}

func metricLines(body string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, "#") && !strings.Contains(l, "_bucket{") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// keep is an in-memory exporter that keeps its spans when the service
// shuts the tracer provider down (tracetest's Shutdown resets them).
type keep struct{ *tracetest.InMemoryExporter }

func (keep) Shutdown(context.Context) error { return nil }

// traceOf returns the spans of the trace of the one "POST /orders" server
// span, and how many such spans there were.
func traceOf(spans []sdktrace.ReadOnlySpan) (trace.TraceID, []sdktrace.ReadOnlySpan, int) {
	var id trace.TraceID
	n := 0
	for _, sp := range spans {
		if sp.Name() == "POST /orders" && sp.SpanKind() == trace.SpanKindServer {
			id, n = sp.SpanContext().TraceID(), n+1
		}
	}
	var in []sdktrace.ReadOnlySpan
	for _, sp := range spans {
		if sp.SpanContext().TraceID() == id {
			in = append(in, sp)
		}
	}
	return id, in, n
}

func attr(sp sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range sp.Attributes() {
		if kv.Key == attribute.Key(key) {
			return kv.Value.String()
		}
	}
	return ""
}

// TestOnePostOneTrace: one POST /orders on the fakes is one trace, from
// otelhttp's server span through the SQL transaction (the order, its
// lines, and the outbox's publish span that writes the event row), to the
// relay's publish through the broker and the projector's process span,
// which carry on the trace context the outbox stored with the row.
func TestOnePostOneTrace(t *testing.T) {
	mem := tracetest.NewInMemoryExporter()
	s := startWith(t, nil, observe.WithSpanExporter(keep{mem}))
	if status, _, body := s.request(t, "POST", "/orders", obsOrder); status != http.StatusCreated {
		t.Fatalf("POST /orders = %d %s", status, body)
	}
	s.waitView(t, "obs", 1, 30*time.Second)
	if err := s.stop(t, 30*time.Second); err != nil {
		t.Fatalf("run = %v\n%s", err, s.out)
	}
	all := mem.GetSpans().Snapshots()
	id, spans, n := traceOf(all)
	if n != 1 {
		t.Fatalf("%d POST /orders server spans, want 1; spans:\n%s", n, tree(all, trace.TraceID{}))
	}
	t.Logf("the trace:\n%s", tree(all, id))

	// find returns the one span of the trace with that name, kind and
	// messaging.system ("" for any).
	find := func(name string, kind trace.SpanKind, system string) sdktrace.ReadOnlySpan {
		t.Helper()
		var got []sdktrace.ReadOnlySpan
		for _, sp := range spans {
			if sp.Name() == name && sp.SpanKind() == kind && (system == "" || attr(sp, "messaging.system") == system) {
				got = append(got, sp)
			}
		}
		if len(got) != 1 {
			t.Fatalf("%d spans %q [%s] %s in the trace, want 1:\n%s", len(got), name, kind, system, tree(all, id))
		}
		return got[0]
	}
	parentOf := func(child, parent sdktrace.ReadOnlySpan) {
		t.Helper()
		if child.Parent().SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("%s [%s] is not a child of %s [%s]", child.Name(), child.SpanKind(), parent.Name(), parent.SpanKind())
		}
	}
	root := find("POST /orders", trace.SpanKindServer, "")
	if root.Parent().IsValid() {
		t.Errorf("the server span has a parent %v", root.Parent())
	}
	tx := find("tx.within_tx", trace.SpanKindInternal, "")
	parentOf(tx, root)
	parentOf(find("sql.create orders", trace.SpanKindClient, ""), tx)
	parentOf(find("sql.create_many order_lines", trace.SpanKindClient, ""), tx)
	produce := find("publish order.created", trace.SpanKindProducer, "outbox")
	parentOf(produce, tx)
	parentOf(find("sql.create_many outbox", trace.SpanKindClient, ""), produce)
	// The relay publishes in the producer's context, linked to it.
	relay := find("publish order.created", trace.SpanKindProducer, "fake-pubsub")
	parentOf(relay, produce)
	if l := relay.Links(); len(l) != 1 || l[0].SpanContext.SpanID() != produce.SpanContext().SpanID() {
		t.Errorf("the relay's publish links to %+v, want the outbox's publish span", l)
	}
	// The message keeps the trace context the outbox stored: the
	// projector's process span is the producer's child too.
	process := find("process order-projector", trace.SpanKindConsumer, "fake-pubsub")
	parentOf(process, produce)
	if !relay.StartTime().Before(process.StartTime()) {
		t.Error("the process span starts before the relay's publish")
	}
	parentOf(find("doc.insert order_views", trace.SpanKindClient, ""), process)
	parentOf(find("doc.insert audits", trace.SpanKindClient, ""), root)

	// No other trace holds a publish or a process of the event.
	for _, sp := range all {
		if sp.SpanContext().TraceID() != id && (strings.HasPrefix(sp.Name(), "publish order.created") || strings.HasPrefix(sp.Name(), "process order-projector")) {
			t.Errorf("%s [%s] is in a trace of its own", sp.Name(), sp.SpanKind())
		}
	}
}

func tree(spans []sdktrace.ReadOnlySpan, id trace.TraceID) string {
	var b bytes.Buffer
	_ = observe.WriteTree(&b, spans, id, observe.TreeOptions{Attributes: []string{"messaging.system"}})
	return b.String()
}

// TestBadOTELVariableFailsStartUp: a bad OTEL_ variable stops run
// before it opens a backend or listens, with an error that names the
// variable and never shows the header value it holds.
func TestBadOTELVariableFailsStartUp(t *testing.T) {
	t.Parallel()
	const secret = "k3y-S3cret"
	for name, environ := range map[string][]string{
		"OTEL_EXPORTER_OTLP_HEADERS":  {"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_HEADERS=api-key=" + secret + "%zz"},
		"OTEL_TRACES_SAMPLER":         {"OTEL_TRACES_SAMPLER=sometimes"},
		"OTEL_METRIC_EXPORT_INTERVAL": {"OTEL_METRIC_EXPORT_INTERVAL=soon"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			out := newOutput()
			done := make(chan error, 1)
			go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, environ, out) }()
			var err error
			select {
			case err = <-done:
			case <-out.url:
				cancel()
				<-done
				t.Fatalf("run started despite %s:\n%s", name, out.String())
			}
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("run = %v, want an error naming %s\n%s", err, name, out.String())
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(out.String(), secret) {
				t.Errorf("the header's value shows: %v\n%s", err, out.String())
			}
			if strings.Contains(out.String(), "orders: backend") || strings.Contains(out.String(), "listening on") {
				t.Errorf("run opened backends or listened:\n%s", out.String())
			}
		})
	}
}

// Example_trace runs the service on the fakes with an in-memory span
// exporter, places one order, and prints its trace: otelhttp's server
// span, the SQL transaction with the order, its lines and the outbox's
// publish (which writes the event row), the relay's publish through the
// broker, and the projector's processing of the event into the read
// model (with Dedupe's and DeadLetter's cache calls); the audit document
// is written after the commit.
func Example_trace() {
	mem := tracetest.NewInMemoryExporter()
	ctx, cancel := context.WithCancel(context.Background())
	out := newOutput()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, nil, out, observe.WithSpanExporter(keep{mem}))
	}()
	defer func() { cancel(); <-done }()
	var url string
	select {
	case url = <-out.url:
	case err := <-done:
		done <- err
		fmt.Println(err)
		return
	}
	resp, err := http.Post(url+"/orders", "application/json", strings.NewReader(obsOrder))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	// Wait for the read model: the projector has handled the event.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get(url + "/customers/obs/orders")
		if err != nil {
			fmt.Println(err)
			return
		}
		var views []json.RawMessage
		_ = json.NewDecoder(resp.Body).Decode(&views)
		_ = resp.Body.Close()
		if len(views) > 0 || time.Now().After(deadline) {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		fmt.Println(err)
	}
	done <- nil
	spans := mem.GetSpans().Snapshots()
	id, _, _ := traceOf(spans)
	_ = observe.WriteTree(os.Stdout, spans, id, observe.TreeOptions{Attributes: []string{"messaging.system"}})
	// Output:
	// POST /orders [server]
	//   tx.within_tx [internal]
	//     sql.create orders [client]
	//     sql.create_many order_lines [client]
	//     publish order.created [producer] messaging.system=outbox
	//       sql.create_many outbox [client]
	//       publish order.created [producer] messaging.system=fake-pubsub links=1
	//       process order-projector [consumer] messaging.system=fake-pubsub
	//         cache.set_nx [client]
	//         doc.find order_views [client]
	//         doc.insert order_views [client]
	//         cache.set [client]
	//         cache.delete [client]
	//   doc.insert audits [client]
}
