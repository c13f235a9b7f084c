package ports_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"testing"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var sentinels = ports.Kinds()

// driverError stands for a backend's own error type.
type driverError struct{ Code int }

func (e *driverError) Error() string { return fmt.Sprintf("driver error %d", e.Code) }

func TestOpErrorFormat(t *testing.T) {
	cause := errors.New("connection refused")
	tests := []struct {
		err  *ports.OpError
		want string
	}{
		{&ports.OpError{Backend: "redis", Op: "get", Kind: ports.ErrNotFound}, "redis: get: not found"},
		{&ports.OpError{Backend: "mysql", Op: "create items", Kind: ports.ErrConflict, Err: &driverError{1062}}, "mysql: create items: conflict: driver error 1062"},
		{&ports.OpError{Backend: "redis", Kind: ports.ErrUnavailable, Err: cause}, "redis: unavailable: connection refused"},
		{&ports.OpError{Backend: "pubsub", Op: "publish", Err: cause}, "pubsub: publish: connection refused"},
		{&ports.OpError{Backend: "mongo", Op: "check"}, "mongo: check"},
		{&ports.OpError{Backend: "mongo"}, "mongo"},
		{&ports.OpError{}, ""},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q, want %q", got, tc.want)
		}
	}
}

func TestNewError(t *testing.T) {
	cause := &driverError{1213}
	err := ports.NewError("mysql", "update items", ports.ErrUnavailable, cause)
	var oe *ports.OpError
	if !errors.As(err, &oe) {
		t.Fatalf("NewError returned %T, want *OpError", err)
	}
	want := ports.OpError{Backend: "mysql", Op: "update items", Kind: ports.ErrUnavailable, Err: cause}
	if *oe != want {
		t.Errorf("NewError = %+v, want %+v", *oe, want)
	}
}

// TestErrorsIsExactlyOneSentinel checks that an OpError matches its kind
// and no other sentinel, however deeply it is wrapped, and that the
// driver's error stays reachable.
func TestErrorsIsExactlyOneSentinel(t *testing.T) {
	for _, kind := range sentinels {
		cause := &driverError{7}
		wraps := map[string]error{
			"bare":          ports.NewError("fake", "op", kind, cause),
			"wrapped":       fmt.Errorf("service: %w", ports.NewError("fake", "op", kind, cause)),
			"wrapped twice": fmt.Errorf("handler: %w", fmt.Errorf("service: %w", ports.NewError("fake", "op", kind, cause))),
			"joined":        errors.Join(errors.New("other"), ports.NewError("fake", "op", kind, cause)),
		}
		for how, err := range wraps {
			for _, s := range sentinels {
				if got, want := errors.Is(err, s), s == kind; got != want {
					t.Errorf("%s %v: errors.Is(err, %v) = %v, want %v", how, kind, s, got, want)
				}
			}
			var de *driverError
			if !errors.As(err, &de) || de.Code != 7 {
				t.Errorf("%s %v: errors.As(err, *driverError) failed; the driver detail must survive", how, kind)
			}
			if !errors.Is(err, cause) {
				t.Errorf("%s %v: errors.Is(err, cause) = false", how, kind)
			}
			var oe *ports.OpError
			if !errors.As(err, &oe) || oe.Kind != kind {
				t.Errorf("%s %v: errors.As(err, *OpError) = %+v", how, kind, oe)
			}
		}
	}
}

func TestErrorsIsStandardCauses(t *testing.T) {
	err := ports.NewError("redis", "get", ports.ErrUnavailable, context.DeadlineExceeded)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("an ErrUnavailable wrapping context.DeadlineExceeded must match both")
	}
	err = ports.NewError("fake", "open", ports.ErrNotFound, fs.ErrNotExist)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false for an OpError wrapping it")
	}
}

func TestOpErrorUnwrap(t *testing.T) {
	cause := errors.New("boom")
	tests := []struct {
		err  *ports.OpError
		want []error
	}{
		{&ports.OpError{Kind: ports.ErrInvalid, Err: cause}, []error{ports.ErrInvalid, cause}},
		{&ports.OpError{Kind: ports.ErrInvalid}, []error{ports.ErrInvalid}},
		{&ports.OpError{Err: cause}, []error{cause}},
		{&ports.OpError{}, []error{}},
	}
	for _, tc := range tests {
		got := tc.err.Unwrap()
		if len(got) != len(tc.want) {
			t.Errorf("Unwrap() of %+v = %v, want %v", *tc.err, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("Unwrap()[%d] of %+v = %v, want %v", i, *tc.err, got[i], tc.want[i])
			}
		}
	}
	if errors.Is(&ports.OpError{Backend: "x"}, ports.ErrNotFound) {
		t.Errorf("an OpError without Kind matched ErrNotFound")
	}
}

func TestSentinelsDistinct(t *testing.T) {
	seen := map[string]bool{}
	for i, a := range sentinels {
		if seen[a.Error()] {
			t.Errorf("two sentinels read %q", a.Error())
		}
		seen[a.Error()] = true
		for j, b := range sentinels {
			if i != j && errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = true; sentinels must be distinct", a, b)
			}
		}
	}
}

func TestKindOfAndKindName(t *testing.T) {
	names := []string{"ErrNotFound", "ErrConflict", "ErrInvalid", "ErrPermission", "ErrUnavailable", "ErrClosed"}
	if len(ports.Kinds()) != len(names) {
		t.Fatalf("Kinds() has %d sentinels, want %d", len(ports.Kinds()), len(names))
	}
	for i, k := range ports.Kinds() {
		wrapped := fmt.Errorf("outer: %w", ports.NewError("b", "op", k, &driverError{Code: i}))
		if got := ports.KindOf(wrapped); got != k {
			t.Errorf("KindOf(%v) = %v, want %v", wrapped, got, k)
		}
		if got := ports.KindName(wrapped); got != names[i] {
			t.Errorf("KindName(%v) = %q, want %q", wrapped, got, names[i])
		}
		if got := ports.KindName(k); got != names[i] {
			t.Errorf("KindName(%v) = %q, want %q", k, got, names[i])
		}
	}
	if ports.KindOf(nil) != nil || ports.KindName(nil) != "nil" {
		t.Errorf("KindOf(nil) = %v, KindName(nil) = %q; want nil and \"nil\"", ports.KindOf(nil), ports.KindName(nil))
	}
	plain := errors.New("no sentinel")
	if ports.KindOf(plain) != nil || ports.KindName(plain) != "none" {
		t.Errorf("KindOf of an error without a sentinel = %v, KindName %q; want nil and \"none\"", ports.KindOf(plain), ports.KindName(plain))
	}
	// An error matching two sentinels (which conforming code never
	// returns) gets the first in the table's order.
	both := errors.Join(ports.ErrClosed, ports.ErrNotFound)
	if ports.KindOf(both) != ports.ErrNotFound {
		t.Errorf("KindOf of an error matching two sentinels = %v, want the first of Kinds(), ErrNotFound", ports.KindOf(both))
	}
	if !errors.Is(ports.NewError("b", "op", ports.ErrPermission, nil), ports.ErrPermission) {
		t.Errorf("ErrPermission does not match itself through an OpError")
	}
}

func TestIsContextError(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{context.Canceled, true},
		{context.DeadlineExceeded, true},
		{ports.NewError("b", "op", ports.ErrUnavailable, context.Canceled), true},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{ports.ErrUnavailable, false},
		{nil, false},
	} {
		if got := ports.IsContextError(c.err); got != c.want {
			t.Errorf("IsContextError(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestErrOutcomeUnknownIsDistinct(t *testing.T) {
	err := ports.NewError("b", "commit", ports.ErrUnavailable, fmt.Errorf("%w: %w", ports.ErrOutcomeUnknown, context.DeadlineExceeded))
	if ports.KindOf(err) != ports.ErrUnavailable || !errors.Is(err, ports.ErrOutcomeUnknown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("an unknown outcome: KindOf %v, Is(ErrOutcomeUnknown) %v; want ErrUnavailable and true", ports.KindOf(err), errors.Is(err, ports.ErrOutcomeUnknown))
	}
	if k := ports.KindOf(ports.ErrOutcomeUnknown); k != nil {
		t.Errorf("ErrOutcomeUnknown matches the sentinel %v by itself", k)
	}
}
