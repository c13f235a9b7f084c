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
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

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

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{status.Error(codes.NotFound, "x"), ports.ErrNotFound},
		{status.Error(codes.AlreadyExists, "x"), ports.ErrConflict},
		{status.Error(codes.InvalidArgument, "x"), ports.ErrInvalid},
		{status.Error(codes.Unavailable, "x"), ports.ErrUnavailable},
		{status.Error(codes.DeadlineExceeded, "x"), ports.ErrUnavailable},
		{status.Error(codes.Internal, "x"), ports.ErrUnavailable},
		{status.Error(codes.Canceled, "x"), context.Canceled},
		{context.DeadlineExceeded, ports.ErrUnavailable},
		{fmt.Errorf("wrapped: %w", context.Canceled), nil},
		{pubsub.ErrOversizedMessage, ports.ErrInvalid},
		{pubsub.ErrPublisherStopped, ports.ErrClosed},
		{pubsub.ErrPublishingPaused{OrderingKey: "k"}, ports.ErrUnavailable},
	} {
		if got := kindOf(tc.err); got != tc.want {
			t.Errorf("kindOf(%v) = %v, want %v", tc.err, got, tc.want)
		}
		err := mapErr("op", tc.err)
		if !errors.Is(err, tc.err) {
			t.Errorf("mapErr(%v) lost the cause", tc.err)
		}
		if tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("mapErr(%v) = %v, not %v", tc.err, err, tc.want)
		}
	}
	if mapErr("op", nil) != nil {
		t.Error("mapErr(nil) != nil")
	}
}

func TestMaxMessageSize(t *testing.T) {
	topic := "projects/p/topics/" + strings.Repeat("t", 200)
	limit := maxMessageSize(topic)
	// The limit is the client's own: a request of one message of exactly
	// limit bytes is MaxRequestBytes.
	req := &pubsubpb.PublishRequest{Topic: topic, Messages: []*pubsubpb.PubsubMessage{{Data: make([]byte, 0)}}}
	// Find data length giving an encoded message of exactly limit bytes.
	n := limit - 5
	for proto.Size(&pubsubpb.PubsubMessage{Data: make([]byte, n)}) < limit {
		n++
	}
	req.Messages[0].Data = make([]byte, n)
	if got := proto.Size(req); got > MaxRequestBytes {
		t.Errorf("a message at the limit makes a request of %d bytes, over %d", got, MaxRequestBytes)
	}
	if err := checkMessages(topic, []ports.Message{{Data: make([]byte, n)}}); err != nil {
		t.Errorf("message at the limit: %v", err)
	}
	err := checkMessages(topic, []ports.Message{{Data: []byte("ok")}, {Data: make([]byte, n+1)}})
	if err == nil || !strings.Contains(err.Error(), "message 1 ") {
		t.Errorf("message over the limit: %v, want an error naming message 1", err)
	}
}

func TestSizeBound(t *testing.T) {
	for _, m := range []ports.Message{
		{Data: []byte("x")},
		{Data: make([]byte, 300), OrderingKey: "key"},
		{Attributes: map[string]string{"a": "b", strings.Repeat("k", 200): strings.Repeat("v", 70000)}},
		{Data: make([]byte, 5<<20), Attributes: map[string]string{"a": ""}, OrderingKey: strings.Repeat("o", 1024)},
	} {
		exact := proto.Size(&pubsubpb.PubsubMessage{Data: m.Data, Attributes: m.Attributes, OrderingKey: m.OrderingKey})
		if b := sizeBound(m); b < exact {
			t.Errorf("sizeBound = %d < exact size %d", b, exact)
		}
	}
}

func TestPublishErrorText(t *testing.T) {
	nf := status.Error(codes.NotFound, "topic gone")
	un := status.Error(codes.Unavailable, "down")
	pe := &PublishError{Topic: "t", Total: 10, Failed: []FailedMessage{
		{Index: 0, Err: nf}, {Index: 1, Err: nf}, {Index: 2, Err: nf}, {Index: 5, Err: un}, {Index: 7, Err: nf},
	}}
	want := "5 of 10 messages failed: [0-2 7]: " + nf.Error() + "; [5]: " + un.Error()
	if got := pe.Error(); got != want {
		t.Errorf("Error() =\n%s\nwant\n%s", got, want)
	}
	if !errors.Is(pe, un) || !errors.Is(pe, nf) {
		t.Error("PublishError does not unwrap to its causes")
	}
	if pe.kind() != ports.ErrNotFound {
		t.Errorf("kind = %v, want the first failure's", pe.kind())
	}
}
