package ports_test

// The service and test of the README's "A service in 20 lines" section,
// kept here so that the README's code compiles and passes.

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
)

// Visits counts visits per user; it depends on a port, not on Redis.
type Visits struct{ Cache ports.Cache }

func (v Visits) Visit(ctx context.Context, user string) (int64, error) {
	n, err := v.Cache.Incr(ctx, "visits:"+user, 1)
	if err != nil {
		return 0, err
	}
	if n == 1 { // first visit: remember when
		_, err = v.Cache.SetNX(ctx, "first:"+user, []byte(time.Now().UTC().Format(time.RFC3339)), 0)
	}
	return n, err
}

func (v Visits) FirstSeen(ctx context.Context, user string) (string, error) {
	b, err := v.Cache.Get(ctx, "first:"+user)
	if errors.Is(err, ports.ErrNotFound) {
		return "never", nil
	}
	return string(b), err
}

func TestReadmeVisit(t *testing.T) {
	cache := fakes.NewCache()
	v := Visits{Cache: cache}
	if got, err := v.FirstSeen(t.Context(), "ada"); err != nil || got != "never" {
		t.Fatalf("FirstSeen before any visit = %q, %v; want never", got, err)
	}
	for want := int64(1); want <= 3; want++ {
		if got, err := v.Visit(t.Context(), "ada"); err != nil || got != want {
			t.Fatalf("Visit = %d, %v; want %d", got, err, want)
		}
	}
	if got, err := v.FirstSeen(t.Context(), "ada"); err != nil || got == "never" {
		t.Fatalf("FirstSeen after visits = %q, %v; want a time", got, err)
	}
	cache.SetUnavailable(true) // fault injection: the backend is down
	if _, err := v.Visit(t.Context(), "ada"); !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
}
