package faults_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/internal/faults"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { _, _ = io.Copy(c, c) })
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// roundTrip writes a line on c and reads the answer within timeout.
func roundTrip(c net.Conn, r *bufio.Reader, line string, timeout time.Duration) (string, error) {
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	s, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return s[:len(s)-1], nil
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, bufio.NewReader(c)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

func TestBlackholeAcceptsAndNeverAnswers(t *testing.T) {
	addr := faults.Blackhole(t)
	c, r := dial(t, addr)
	if _, err := roundTrip(c, r, "PING", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("read from the blackhole = %v, want a timeout", err)
	}
	// Writes never block: the blackhole reads and discards.
	_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write(make([]byte, 4<<20)); err != nil {
		t.Fatalf("writing 4 MiB to the blackhole: %v", err)
	}
}

func TestClosedPortRefuses(t *testing.T) {
	addr := faults.ClosedPort(t)
	if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		_ = c.Close()
		t.Fatalf("dial %s succeeded, want refused", addr)
	}
}

func TestProxyCutAndRestore(t *testing.T) {
	p := faults.NewProxy(t, echoServer(t))
	if p.Addr() == p.Upstream() {
		t.Fatal("proxy address is the upstream's")
	}
	c, r := dial(t, p.Addr())
	if got, err := roundTrip(c, r, "one", 2*time.Second); err != nil || got != "one" {
		t.Fatalf("through the proxy: %q, %v", got, err)
	}

	p.Cut()
	if _, err := roundTrip(c, r, "two", 2*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("a connection carried across Cut answered %v; want it closed", err)
	}
	if c2, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second); err == nil {
		_ = c2.Close()
		t.Fatal("dial during Cut succeeded, want refused")
	}

	addr := p.Addr()
	p.Restore()
	if p.Addr() != addr {
		t.Fatalf("Restore moved the proxy from %s to %s", addr, p.Addr())
	}
	c3, r3 := dial(t, p.Addr())
	if got, err := roundTrip(c3, r3, "three", 2*time.Second); err != nil || got != "three" {
		t.Fatalf("after Restore: %q, %v", got, err)
	}
}

func TestProxyBlackhole(t *testing.T) {
	p := faults.NewProxy(t, echoServer(t))
	c, r := dial(t, p.Addr())
	if _, err := roundTrip(c, r, "one", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Blackhole()
	if _, err := roundTrip(c, r, "two", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("through the blackholed proxy: %v, want a timeout", err)
	}
	// New connections are accepted and swallowed too.
	c2, r2 := dial(t, p.Addr())
	if _, err := roundTrip(c2, r2, "x", 200*time.Millisecond); !isTimeout(err) {
		t.Fatalf("new connection through the blackholed proxy: %v, want a timeout", err)
	}
	p.Restore()
	c3, r3 := dial(t, p.Addr())
	if got, err := roundTrip(c3, r3, "three", 2*time.Second); err != nil || got != "three" {
		t.Fatalf("after Restore: %q, %v", got, err)
	}
}

// TestProxyLatency checks that a reply never comes before the added
// latency (a lower bound, which load cannot break).
func TestProxyLatency(t *testing.T) {
	p := faults.NewProxy(t, echoServer(t))
	const d = 150 * time.Millisecond
	p.Latency(d)
	c, r := dial(t, p.Addr())
	start := time.Now()
	if got, err := roundTrip(c, r, "slow", 5*time.Second); err != nil || got != "slow" {
		t.Fatalf("with latency: %q, %v", got, err)
	}
	if took := time.Since(start); took < d {
		t.Errorf("reply after %s, before the latency of %s", took, d)
	}
	p.Latency(0)
	if got, err := roundTrip(c, r, "fast", 5*time.Second); err != nil || got != "fast" {
		t.Fatalf("after Latency(0): %q, %v", got, err)
	}
}

func TestRedisServerKillRestart(t *testing.T) {
	r := faults.StartRedis(t)
	pong := func() error {
		c, err := net.DialTimeout("tcp", r.Addr(), time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		got, err := roundTrip(c, bufio.NewReader(c), "PING", 2*time.Second)
		if err == nil && got != "+PONG\r" {
			err = errors.New("PING answered " + got)
		}
		return err
	}
	if err := pong(); err != nil {
		t.Fatalf("started server: %v", err)
	}
	if r.URL() != "redis://"+r.Addr()+"/0" {
		t.Errorf("URL() = %q", r.URL())
	}
	r.Kill()
	if err := pong(); err == nil {
		t.Fatal("killed server answered PING")
	}
	addr := r.Addr()
	r.Restart()
	if r.Addr() != addr {
		t.Fatalf("Restart moved the server from %s to %s", addr, r.Addr())
	}
	if err := pong(); err != nil {
		t.Fatalf("restarted server: %v", err)
	}
}

// TestProxyLeavesNoGoroutine cuts and stops a proxy whose connections
// carry bytes in flight (queued behind latency, swallowed by a blackhole,
// or unread by a client): none of its goroutines survives.
func TestProxyLeavesNoGoroutine(t *testing.T) {
	upstream := echoServer(t)
	before := goleak.IgnoreCurrent()
	t.Run("proxy", func(t *testing.T) {
		p := faults.NewProxy(t, upstream)
		p.Latency(time.Second)
		c, _ := dial(t, p.Addr())
		// More than the proxy queues and the sockets buffer, unread.
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(make([]byte, 16<<20))
		p.Cut()
		p.Restore()
		c2, _ := dial(t, p.Addr())
		p.Blackhole()
		_, _ = c2.Write([]byte("swallowed\n"))
		p.Latency(time.Second)
		c3, _ := dial(t, p.Addr())
		_, _ = c3.Write([]byte("delayed\n"))
	})
	goleak.VerifyNone(t, before)
}
