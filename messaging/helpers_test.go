package messaging_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logBuffer is a concurrency-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuffer) lines() []string {
	s := strings.TrimSpace(l.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func newLogger() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// recordingPublisher records what is published; fail, when set, makes
// Publish fail.
type recordingPublisher struct {
	mu   sync.Mutex
	msgs map[string][]ports.Message
	fail error
}

func (p *recordingPublisher) Publish(ctx context.Context, topic string, msgs ...ports.Message) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return nil, p.fail
	}
	for _, m := range msgs {
		if err := ports.ValidateMessage(m); err != nil {
			return nil, ports.NewError("recording", "publish", ports.ErrInvalid, err)
		}
	}
	if p.msgs == nil {
		p.msgs = map[string][]ports.Message{}
	}
	p.msgs[topic] = append(p.msgs[topic], msgs...)
	ids := make([]string, len(msgs))
	for i := range ids {
		ids[i] = "id"
	}
	return ids, nil
}

func (p *recordingPublisher) published(topic string) []ports.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ports.Message(nil), p.msgs[topic]...)
}

var errBoom = errors.New("boom")

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
