package pubsub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2"
	gax "github.com/googleapis/gax-go/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/portkit/portkit/ports"
)

func TestConfigFromEnv(t *testing.T) {
	cfg, err := configFromEnv(map[string]string{
		"GOOGLE_CLOUD_PROJECT":             "fallback",
		"PUBSUB_EMULATOR_HOST":             "127.0.0.1:8085",
		"PUBSUB_CHECK_TIMEOUT":             "2s",
		"PUBSUB_PUBLISH_BATCH_COUNT":       "500",
		"PUBSUB_PUBLISH_BATCH_BYTES":       "2000000",
		"PUBSUB_PUBLISH_BATCH_DELAY":       "5ms",
		"PUBSUB_PUBLISH_TIMEOUT":           "3s",
		"PUBSUB_RECEIVE_STREAMS":           "8",
		"PUBSUB_RECEIVE_GOROUTINES":        "32",
		"PUBSUB_RECEIVE_MAX_OUTSTANDING":   "2000",
		"PUBSUB_SHUTDOWN_TIMEOUT":          "4s",
		"PUBSUB_UNAVAILABLE_TIMEOUT":       "20s",
		"PUBSUB_RECEIVE_MAX_ACK_EXTENSION": "30s",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		ProjectID: "fallback", EmulatorHost: "127.0.0.1:8085", CheckTimeout: 2 * time.Second,
		Publish: PublishConfig{BatchCount: 500, BatchBytes: 2_000_000, BatchDelay: 5 * time.Millisecond, Timeout: 3 * time.Second},
		Receive: ReceiveConfig{Streams: 8, Goroutines: 32, MaxOutstanding: 2000, ShutdownTimeout: 4 * time.Second, UnavailableTimeout: 20 * time.Second, MaxAckExtension: 30 * time.Second},
	}
	if cfg != want {
		t.Errorf("cfg =\n%+v\nwant\n%+v", cfg, want)
	}

	cfg, err = configFromEnv(map[string]string{"PUBSUB_PROJECT_ID": "mine", "GOOGLE_CLOUD_PROJECT": "fallback"})
	if err != nil || cfg.ProjectID != "mine" {
		t.Errorf("PUBSUB_PROJECT_ID must win over GOOGLE_CLOUD_PROJECT: %q, %v", cfg.ProjectID, err)
	}
	cfg, err = configFromEnv(map[string]string{})
	if err != nil || cfg != (Config{}) {
		t.Errorf("empty environment: %+v, %v; want the zero Config (defaults applied by Open)", cfg, err)
	}
}

func TestConfigFromEnvBadValues(t *testing.T) {
	for _, tc := range []struct {
		env     map[string]string
		varName string
	}{
		{map[string]string{"PUBSUB_RECEIVE_STREAMS": "many"}, "PUBSUB_RECEIVE_STREAMS"},
		{map[string]string{"PUBSUB_PUBLISH_TIMEOUT": "10"}, "PUBSUB_PUBLISH_TIMEOUT"},
		{map[string]string{"PUBSUB_CHECK_TIMEOUT": "-1s"}, "PUBSUB_CHECK_TIMEOUT"},
		{map[string]string{"PUBSUB_PUBLISH_BATCH_COUNT": "5000"}, "PUBSUB_PUBLISH_BATCH_COUNT"},
		{map[string]string{"PUBSUB_PUBLISH_BATCH_BYTES": "20000000"}, "PUBSUB_PUBLISH_BATCH_BYTES"},
		{map[string]string{"PUBSUB_RECEIVE_MAX_OUTSTANDING": "-3"}, "PUBSUB_RECEIVE_MAX_OUTSTANDING"},
		{map[string]string{"PUBSUB_SHUTDOWN_TIMEOUT": "soon"}, "PUBSUB_SHUTDOWN_TIMEOUT"},
		{map[string]string{"PUBSUB_RECEIVE_MAX_ACK_EXTENSION": "5s"}, "PUBSUB_RECEIVE_MAX_ACK_EXTENSION"},
		{map[string]string{"PUBSUB_RECEIVE_MAX_ACK_EXTENSION": "11m"}, "PUBSUB_RECEIVE_MAX_ACK_EXTENSION"},
		{map[string]string{"PUBSUB_RECEIVE_MAX_ACK_EXTENSION": "-10s"}, "PUBSUB_RECEIVE_MAX_ACK_EXTENSION"},
		{map[string]string{"PUBSUB_EMULATOR_HOST": "localhost:8085"}, "PUBSUB_PROJECT_ID"},
		{map[string]string{"PUBSUB_PROJECT_ID": "projects/x"}, "PUBSUB_PROJECT_ID"},
	} {
		_, err := configFromEnv(tc.env)
		if !errors.Is(err, ports.ErrInvalid) || !strings.Contains(err.Error(), tc.varName) {
			t.Errorf("%v: err = %v, want ErrInvalid naming %s", tc.env, err, tc.varName)
		}
	}
}

// envError maps field names to variables, which needs unique field names
// across Config and its nested structs.
func TestConfigFieldNamesUnique(t *testing.T) {
	seen := map[string]string{}
	var walk func(reflect.Type)
	walk = func(rt reflect.Type) {
		for i := range rt.NumField() {
			f := rt.Field(i)
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			if prev, dup := seen[f.Name]; dup {
				t.Errorf("field name %s used by %s and %s", f.Name, prev, rt.Name())
			}
			seen[f.Name] = rt.Name()
			if f.Tag.Get("env") == "" {
				t.Errorf("field %s.%s has no env tag", rt.Name(), f.Name)
			}
		}
	}
	walk(reflect.TypeFor[Config]())
}

func TestConfigLogValue(t *testing.T) {
	var b strings.Builder
	l := slog.New(slog.NewTextHandler(&b, nil))
	l.Info("x", "config", Config{ProjectID: "p", EmulatorHost: "h:1"})
	out := b.String()
	for _, want := range []string{"config.project=p", "h:1 (emulator", "config.publish.batch_count=100", "config.receive.streams=4", "config.publish.timeout=15s", "config.receive.max_ack_extension=10s"} {
		if !strings.Contains(out, want) {
			t.Errorf("log %q lacks %q", out, want)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err    error
		closed bool
		want   error
	}{
		{status.Error(codes.NotFound, "x"), false, ports.ErrNotFound},
		{status.Error(codes.AlreadyExists, "x"), false, ports.ErrConflict},
		{status.Error(codes.InvalidArgument, "x"), false, ports.ErrInvalid},
		{status.Error(codes.FailedPrecondition, "x"), false, ports.ErrInvalid},
		{status.Error(codes.PermissionDenied, "x"), false, ports.ErrPermission},
		{status.Error(codes.Unauthenticated, "x"), false, ports.ErrPermission},
		{status.Error(codes.Unavailable, "x"), false, ports.ErrUnavailable},
		{status.Error(codes.DeadlineExceeded, "x"), false, ports.ErrUnavailable},
		{status.Error(codes.Internal, "x"), false, ports.ErrUnavailable},
		{status.Error(codes.ResourceExhausted, "quota"), false, ports.ErrUnavailable},
		{status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5000000 vs. 4194304)"), false, ports.ErrInvalid},
		{status.Error(codes.Canceled, "x"), false, ports.ErrUnavailable},
		{status.Error(codes.Canceled, "x"), true, ports.ErrClosed},
		{status.Error(codes.DataLoss, "x"), false, ports.ErrInvalid}, // an unrecognised reply
		{context.DeadlineExceeded, false, ports.ErrUnavailable},
		{fmt.Errorf("wrapped: %w", context.Canceled), false, ports.ErrUnavailable},
		{pubsub.ErrOversizedMessage, false, ports.ErrInvalid},
		{pubsub.ErrPublisherStopped, false, ports.ErrClosed},
		{pubsub.ErrPublishingPaused{OrderingKey: "k"}, false, ports.ErrUnavailable},
		{errors.New("no reply"), false, ports.ErrUnavailable},
	} {
		err := classifier.Wrap("op", tc.err, tc.closed)
		if got := ports.KindOf(err); got != tc.want {
			t.Errorf("Wrap(%v, closed %v) is %v, want %v", tc.err, tc.closed, got, tc.want)
		}
		n := 0
		for _, k := range ports.Kinds() {
			if errors.Is(err, k) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("Wrap(%v) matches %d sentinels, want 1", tc.err, n)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("Wrap(%v) lost the cause", tc.err)
		}
	}
	if classifier.Wrap("op", nil, false) != nil {
		t.Error("Wrap(nil) != nil")
	}
}

// TestPublishRetryer: a request refused as too large is never retried;
// an unavailable service is, after at most publishRetryMax.
func TestPublishRetryer(t *testing.T) {
	var settings gax.CallSettings
	for _, o := range publishCallOptions() {
		o.Resolve(&settings)
	}
	r := settings.Retry()
	if _, ok := r.Retry(status.Error(codes.ResourceExhausted, "grpc: received message larger than max (5000000 vs. 4194304)")); ok {
		t.Error("a request refused as too large is retried")
	}
	for range 20 {
		d, ok := r.Retry(status.Error(codes.Unavailable, "down"))
		if !ok {
			t.Fatal("Unavailable is not retried")
		}
		if d > publishRetryMax {
			t.Fatalf("pause %s, over %s", d, publishRetryMax)
		}
	}
	if _, ok := settings.Retry().Retry(status.Error(codes.Canceled, "closed")); ok {
		t.Error("Canceled is retried")
	}
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"orders", true},
		{"projects/p/topics/orders", true},
		{"projects/p/subscriptions/orders", false},
		{"projects//topics/orders", false},
		{"projects/p/topics/1x", false},
		{"ab", false},
		{"goog-x", false},
	} {
		if err := checkName("topic", "topics", tc.name); (err == nil) != tc.ok {
			t.Errorf("checkName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
}
