package postgres

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

const secret = "s3cr3t-open-pw"

// Open against a server that accepts and never answers returns at the
// connect timeout, ErrUnavailable, and names the address.
func TestOpenServerSilentReturnsWithinTimeout(t *testing.T) {
	log, logs := testutil.CaptureLogger()
	addr := faults.Blackhole(t)
	start := time.Now()
	_, err := Open(context.Background(), Config{
		URL:            "postgres://app:" + secret + "@" + addr + "/shop?sslmode=disable",
		ConnectTimeout: 300 * time.Millisecond,
	}, WithLogger(log))
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Open against a silent server returned after %v, want about the 300ms connect timeout", elapsed)
	}
	if ports.KindOf(err) != ports.ErrUnavailable || !strings.Contains(err.Error(), addr) {
		t.Errorf("Open against a silent server: %v, want ErrUnavailable naming %s", err, addr)
	}
	if strings.Contains(err.Error()+logs.String(), secret) {
		t.Errorf("the password is shown: %v / %s", err, logs.String())
	}
}

// Open of a refused port says so at once.
func TestOpenRefused(t *testing.T) {
	addr := faults.ClosedPort(t)
	start := time.Now()
	_, err := Open(context.Background(), Config{URL: "postgres://app@" + addr + "/shop?sslmode=disable"}, WithLogger(quietLog))
	if ports.KindOf(err) != ports.ErrUnavailable || !strings.Contains(err.Error(), "refused") {
		t.Errorf("Open of a refused port: %v, want ErrUnavailable saying refused", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Open of a refused port took %v", elapsed)
	}
}

func TestOpenInvalid(t *testing.T) {
	//lint:ignore SA1012 a nil ctx must not panic
	if _, err := Open(nil, Config{URL: "postgres://h/d"}); ports.KindOf(err) != ports.ErrInvalid { //nolint:staticcheck
		t.Errorf("Open(nil ctx): %v, want ErrInvalid", err)
	}
	if _, err := Open(context.Background(), Config{URL: "postgres://h/d?sslmode=maybe"}); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("Open of a bad config: %v, want ErrInvalid", err)
	}
}

// Check and calls on a server that stops answering return in time,
// ErrUnavailable; they work again once it answers.
func TestStalledServerCheckAndCallsReturnInTime(t *testing.T) {
	cc, err := Config{URL: testURL(t)}.connConfig()
	if err != nil {
		t.Fatal(err)
	}
	p := faults.NewProxy(t, net.JoinHostPort(cc.Host, itoa(int(cc.Port))))
	host, port, _ := net.SplitHostPort(p.Addr())
	db := openTest(t, Config{URL: withParam(withParam(testURL(t), "host", host), "port", port), CheckTimeout: 300 * time.Millisecond})
	s := newItemStore(t, db)
	ctx := context.Background()
	it := portstest.Item{SKU: "a"}
	if err := s.Create(ctx, &it); err != nil {
		t.Fatal(err)
	}
	p.Blackhole()
	start := time.Now()
	err = db.Check(ctx)
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Check on a stalled server returned after %v, want about its 300ms timeout", elapsed)
	}
	if ports.KindOf(err) != ports.ErrUnavailable {
		t.Errorf("Check on a stalled server: %v, want ErrUnavailable", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = s.Get(cctx, it.ID)
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Get on a stalled server returned after %v", elapsed)
	}
	if ports.KindOf(err) != ports.ErrUnavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Get on a stalled server: %v, want ErrUnavailable wrapping DeadlineExceeded", err)
	}
	p.Restore()
	if err := db.Check(ctx); err != nil {
		t.Errorf("Check after the server recovered: %v", err)
	}
	if got, err := s.Get(ctx, it.ID); err != nil || got.SKU != "a" {
		t.Errorf("Get after the server recovered: %+v, %v", got, err)
	}
}

// Failed statements are logged at debug level without their parameters
// or the server's message; slow ones at warn level.
func TestLogging(t *testing.T) {
	log, logs := testutil.CaptureLogger()
	db := openTest(t, Config{SlowThreshold: time.Nanosecond}, WithLogger(log))
	s := newItemStore(t, db)
	ctx := context.Background()
	if err := s.Create(ctx, &portstest.Item{SKU: "logged-secret-sku"}); err != nil {
		t.Fatal(err)
	}
	_ = s.Create(ctx, &portstest.Item{SKU: "logged-secret-sku"})
	out := logs.String()
	if !strings.Contains(out, "postgres: slow statement") || !strings.Contains(out, "SQLSTATE 23505") {
		t.Errorf("the log lacks the slow or failed statement:\n%s", out)
	}
	if strings.Contains(out, "logged-secret-sku") {
		t.Errorf("the log shows a parameter:\n%s", out)
	}
}

func TestDBAccessors(t *testing.T) {
	db := openTest(t, Config{})
	if db.Name() != "postgres" || db.DB() == nil {
		t.Errorf("Name %q, DB %v", db.Name(), db.DB())
	}
}
