package observe_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/portkit/portkit/examples/orders/observe"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/outbox"
	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type order struct {
	ID  int64
	Ref string
}

// Example prints the trace of one POST /orders of a small service on the
// fakes: the HTTP server span (otelhttp), the transaction that inserts
// the order and writes its event to the outbox, the relay's publish
// through the Pub/Sub fake, and the consumer's handler, one trace.
func Example() {
	ctx := context.Background()
	mem := tracetest.NewInMemoryExporter()
	p, _, shutdown, err := observe.Setup(ctx, map[string]string{}, observe.WithSpanExporter(mem), observe.WithoutGlobals())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shutdown(ctx)
	tel := []fakes.Option{fakes.WithTracerProvider(p.Tracer()), fakes.WithMeterProvider(p.Meter())}

	db := fakes.NewDB(tel...)
	defer db.Close(ctx)
	orders, _ := fakes.NewSQLStore[order](db, fakes.WithTable("orders"))
	rows, _ := fakes.NewSQLStore[outbox.Row](db)
	leases, _ := fakes.NewSQLStore[outbox.Lease](db)
	ps := fakes.NewPubSub(tel...)
	defer ps.Close(ctx)
	_ = ps.EnsureTopic(ctx, "order.created")
	_ = ps.EnsureSubscription(ctx, "billing", ports.SubscriptionConfig{Topic: "order.created"})
	cfg := outbox.Config{Tx: db, Rows: rows, TracerProvider: p.Tracer(), MeterProvider: p.Meter()}
	pub, _ := outbox.NewPublisher(cfg)
	relay, _ := outbox.NewRelay(outbox.RelayConfig{Config: cfg, Leases: leases, Target: ps, PollInterval: time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)})

	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, r *http.Request) {
		err := db.WithinTx(r.Context(), func(ctx context.Context) error {
			o := &order{Ref: "A-1"}
			if err := orders.Create(ctx, o); err != nil {
				return err
			}
			_, err := pub.Publish(ctx, "order.created", ports.Message{Data: []byte(`{"id":1}`)})
			return err
		})
		if err != nil {
			http.Error(w, "failed", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	srv := httptest.NewServer(p.HTTP(mux))
	defer srv.Close()

	handled := make(chan struct{})
	var once sync.Once
	sctx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	subDone := make(chan error, 1)
	go func() {
		subDone <- ps.Subscribe(sctx, "billing", func(ctx context.Context, m ports.Message) error {
			once.Do(func() { close(handled) })
			return nil
		})
	}()
	rctx, stopRelay := context.WithCancel(ctx)
	defer stopRelay()
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(rctx) }()

	resp, err := http.Post(srv.URL+"/orders", "application/json", strings.NewReader(`{}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	<-handled
	stopRelay()
	<-relayDone
	stopSub()
	<-subDone
	srv.Close()

	spans := mem.GetSpans().Snapshots()
	var root trace.TraceID
	for _, sp := range spans {
		if sp.Name() == "POST /orders" {
			root = sp.SpanContext().TraceID()
		}
	}
	_ = observe.WriteTree(os.Stdout, spans, root, observe.TreeOptions{Attributes: []string{"messaging.system"}})
	// Output:
	// POST /orders [server]
	//   tx.within_tx [internal]
	//     sql.create orders [client]
	//     publish order.created [producer] messaging.system=outbox
	//       sql.create_many outbox [client]
	//       publish order.created [producer] messaging.system=fake-pubsub links=1
	//       process billing [consumer] messaging.system=fake-pubsub
}

// TestSetupDefaults: without OTEL_* variables no span is made, and the
// metrics handler serves the port operations' metrics in Prometheus
// format.
func TestSetupDefaults(t *testing.T) {
	ctx := context.Background()
	p, metrics, shutdown, err := observe.Setup(ctx, map[string]string{}, observe.WithoutGlobals())
	if err != nil {
		t.Fatal(err)
	}
	defer shutdown(ctx)
	if p.TracerProvider != nil || p.ExportsTraces || p.ExportsMetrics {
		t.Fatalf("providers %+v without any endpoint", p)
	}
	c := fakes.NewCache(fakes.WithMeterProvider(p.Meter()))
	defer c.Close(ctx)
	_, _ = c.Get(ctx, "absent")
	rec := httptest.NewRecorder()
	metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"db_client_operation_duration_seconds_bucket", "portkit_cache_misses_total", `service_name="orders"`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%.2000s", want, body)
		}
	}
}

// TestSetupExportsOTLP: with OTEL_EXPORTER_OTLP_ENDPOINT, traces and
// metrics go to the collector over http/protobuf with the headers of
// OTEL_EXPORTER_OTLP_HEADERS, flushed by shutdown.
func TestSetupExportsOTLP(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		got[r.URL.Path] = r.Header.Get("Authorization")
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	ctx := context.Background()
	p, _, shutdown, err := observe.Setup(ctx, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":  "Authorization=Bearer%20k3y",
		"OTEL_SERVICE_NAME":           "orders-test",
	}, observe.WithoutGlobals())
	if err != nil {
		t.Fatal(err)
	}
	if !p.ExportsTraces || !p.ExportsMetrics {
		t.Fatalf("providers %+v", p)
	}
	c := fakes.NewCache(fakes.WithTracerProvider(p.Tracer()), fakes.WithMeterProvider(p.Meter()))
	_ = c.Set(ctx, "k", []byte("v"), 0)
	_ = c.Close(ctx)
	if err := shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, path := range []string{"/v1/traces", "/v1/metrics"} {
		if auth, ok := got[path]; !ok || auth != "Bearer k3y" {
			t.Errorf("%s: received %v, authorization %q", path, ok, auth)
		}
	}
}

// TestSetupRefuses: bad variables are errors that name the variable and
// never show a header value or a URL's user info.
func TestSetupRefuses(t *testing.T) {
	const secret = "s3cr3t-P4ss"
	for _, env := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://app:" + secret + "@collector:4318"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318/" + secret},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=" + secret + "%zz"},
		{"OTEL_EXPORTER_OTLP_HEADERS": secret},
		{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
		{"OTEL_TRACES_SAMPLER": "sometimes"},
		{"OTEL_TRACES_SAMPLER_ARG": "2"},
		{"OTEL_SDK_DISABLED": "maybe"},
		{"OTEL_METRIC_EXPORT_INTERVAL": "-1"},
	} {
		_, _, _, err := observe.Setup(context.Background(), env, observe.WithoutGlobals())
		if err == nil {
			t.Errorf("%v: no error", env)
			continue
		}
		if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "OTEL_") && !strings.Contains(err.Error(), "endpoint") {
			t.Errorf("%v: %v", env, err)
		}
	}
	p, metrics, shutdown, err := observe.Setup(context.Background(), map[string]string{"OTEL_SDK_DISABLED": "true"})
	if err != nil || p.TracerProvider != nil || p.MeterProvider != nil || metrics == nil || shutdown(context.Background()) != nil {
		t.Errorf("disabled: %+v, %v", p, err)
	}
}
