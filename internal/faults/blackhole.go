package faults

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Blackhole listens on a free loopback port, accepts every connection and
// never writes a byte: what it reads it discards, so a client's writes
// never block and only its wait for a reply can hang. It returns the
// host:port to dial. The listener and every accepted connection are closed
// when the test ends.
func Blackhole(t testing.TB) (addr string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faults: blackhole listen: %v", err)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				_ = c.Close()
				return
			}
			conns = append(conns, c)
			wg.Go(func() { _, _ = io.Copy(io.Discard, c) })
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String()
}

// ClosedPort returns a loopback host:port on which nothing listens (a
// port that was free a moment ago): a dial there is refused at once.
func ClosedPort(t testing.TB) string {
	t.Helper()
	return freeAddr(t)
}

// freeAddr returns a loopback host:port that was free when it returned.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faults: find a free port: %v", err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}
