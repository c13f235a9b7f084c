// Package testutil holds what portkit's tests repeat: a buffer safe for a
// logger's concurrent writes, a logger capturing every level, every way a
// value may be printed (for secret checks), the check of a configuration
// error, and the corpus of the forms in which a variable can carry a
// credential. (Skip rules for missing backends and unique names live in
// internal/testenv.)
package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/portkit/portkit/ports"
)

// SyncBuffer is a bytes.Buffer safe for concurrent use: a logger's
// handler, a process's output and a test reading it. The zero value is
// empty and ready.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Reset empties the buffer.
func (s *SyncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// CaptureLogger returns a logger that writes every level, as text, to the
// returned buffer.
func CaptureLogger() (*slog.Logger, *SyncBuffer) {
	b := &SyncBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// Renderings returns every way v may be printed, by name: the fmt verbs
// %v %+v %#v %s %q, a pointer to v, a struct holding v, and log/slog's
// text and JSON handlers.
func Renderings(v any) map[string]string {
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	if v != nil {
		ptr := reflect.New(reflect.TypeOf(v))
		ptr.Elem().Set(reflect.ValueOf(v))
		out["pointer %+v"] = fmt.Sprintf("%+v", ptr.Interface())
		out["pointer %#v"] = fmt.Sprintf("%#v", ptr.Interface())
	}
	out["in a struct %+v"] = fmt.Sprintf("%+v", struct{ V any }{v})
	var text, js bytes.Buffer
	slog.New(slog.NewTextHandler(&text, nil)).Info("v", "v", v)
	slog.New(slog.NewJSONHandler(&js, nil)).Info("v", "v", v)
	out["slog text"] = text.String()
	out["slog JSON"] = js.String()
	return out
}

// CheckRendered fails t for each rendering of v (see Renderings) that
// shows secret.
func CheckRendered(t testing.TB, what string, v any, secret string) {
	t.Helper()
	for how, s := range Renderings(v) {
		if strings.Contains(s, secret) {
			t.Errorf("%s, %s, shows the secret: %s", what, how, s)
		}
	}
}

// CheckConfigError fails t unless err is a configuration error as every
// portkit Config gives it: it wraps ports.ErrInvalid, names one of vars,
// and shows secret in none of %v, %+v and %q.
func CheckConfigError(t testing.TB, err error, secret string, vars []string) {
	t.Helper()
	if err == nil {
		t.Fatal("no configuration error")
	}
	msg := err.Error()
	if s := fmt.Sprintf("%v %+v %q", err, err, err); strings.Contains(s, secret) {
		t.Fatalf("configuration error shows the secret: %s", s)
	}
	if !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("configuration error %q does not wrap ErrInvalid", msg)
	}
	for _, k := range vars {
		if strings.Contains(msg, k) {
			return
		}
	}
	t.Fatalf("configuration error %q names no variable (of %s)", msg, strings.Join(vars, ", "))
}
