package wiring_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/examples/orders/wiring"
	"github.com/portkit/portkit/ports"
)

// scrape serves GET /metrics from tel and returns the body.
func scrape(t *testing.T, tel wiring.Telemetry) string {
	t.Helper()
	if tel.Metrics == nil {
		t.Fatal("Telemetry.Metrics is nil: no /metrics handler")
	}
	rec := httptest.NewRecorder()
	tel.Metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	return rec.Body.String()
}

// gauge returns the value of the Prometheus series name whose labels
// include portkit_outbox_name="outbox-relay", or "" when there is none.
func gauge(body, name string) string {
	re := regexp.MustCompile(`(?m)^` + name + `\{[^}]*portkit_outbox_name="outbox-relay"[^}]*\} (\S+)$`)
	if m := re.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// TestObservabilityOutboxGauges: with Observability installed before
// Build, the /metrics handler shows the gauges of the service's outbox
// relay (registered while it runs), reading the service's outbox table:
// an event the relay cannot publish (the broker is down) is pending, and
// the gauges go once the group has closed the relay. Not parallel: it
// installs the global providers.
func TestObservabilityOutboxGauges(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	tel, err := wiring.Observability(t.Context(), nil, log)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	if tel.Wrap == nil || tel.Shutdown == nil {
		t.Fatalf("Telemetry %+v has a nil func", tel)
	}
	cfg, err := wiring.ConfigFromEnviron([]string{"ORDERS_NAMESPACE=wobs"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := wiring.Build(t.Context(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closeAll := func() {
		closed = true
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := p.Group.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := p.Wait(ctx); err != nil {
			t.Error(err)
		}
	}
	defer func() {
		if !closed {
			closeAll()
		}
	}()
	p.Fakes.PubSub.SetUnavailable(true)
	if _, err := p.Start(func(context.Context, ports.Message) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := p.Tx.WithinTx(t.Context(), func(ctx context.Context) error {
		_, err := p.Publisher.Publish(ctx, p.Names.Topic, ports.Message{Data: []byte(`{"id":1}`)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var body string
	waitFor(t, "portkit_outbox_pending 1", func() bool {
		body = scrape(t, tel)
		return gauge(body, "portkit_outbox_pending") == "1"
	})
	if gauge(body, "portkit_outbox_oldest_age_seconds") == "" {
		t.Errorf("/metrics lacks portkit_outbox_oldest_age_seconds of outbox-relay:\n%s", grepLines(body, "outbox"))
	}
	// The SQL store's operations are recorded, by table and operation.
	if !strings.Contains(body, `db_collection_name="outbox_wobs",db_operation_name="create_many",db_system_name="fake-sql"`) {
		t.Errorf("/metrics lacks the outbox table's create_many:\n%s", grepLines(body, "outbox_wobs"))
	}

	p.Fakes.PubSub.SetUnavailable(false)
	closeAll()
	if body := scrape(t, tel); gauge(body, "portkit_outbox_pending") != "" {
		t.Errorf("the outbox gauges outlive the relay's close:\n%s", grepLines(body, "portkit_outbox"))
	}
	if !strings.Contains(logs.String(), "orders: telemetry") {
		t.Errorf("no telemetry line in the log:\n%s", logs.String())
	}
}

// TestObservabilityBadVariable: a bad OTEL_ variable is an error naming
// it, without the secret a header holds.
func TestObservabilityBadVariable(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"OTEL_EXPORTER_OTLP_HEADERS": {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=" + secret + "%zz"},
		"OTEL_TRACES_SAMPLER":        {"OTEL_TRACES_SAMPLER": "sometimes"},
		"OTEL_SDK_DISABLED":          {"OTEL_SDK_DISABLED": "maybe"},
	} {
		_, err := wiring.Observability(t.Context(), env, slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), name) || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: Observability = %v, want an error naming it without the secret", name, err)
		}
	}
}

// TestObservabilityDisabled: OTEL_SDK_DISABLED=true leaves no /metrics
// handler and no-op functions.
func TestObservabilityDisabled(t *testing.T) {
	tel, err := wiring.Observability(t.Context(), map[string]string{"OTEL_SDK_DISABLED": "true"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if tel.Metrics != nil || tel.Wrap == nil || tel.Shutdown == nil {
		t.Fatalf("disabled Telemetry = %+v", tel)
	}
	rec := httptest.NewRecorder()
	tel.Wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })).
		ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Body.String() != "ok" {
		t.Errorf("wrapped handler answered %q", rec.Body.String())
	}
	if err := tel.Shutdown(t.Context()); err != nil {
		t.Error(err)
	}
}

func grepLines(body, sub string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") && !strings.Contains(l, "_bucket") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
