package redis

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/internal/testenv"
)

// redisURL returns REDIS_URL, or skips (fails under
// PORTKIT_REQUIRE_BACKENDS=1) when it is unset or the server does not
// answer.
func redisURL(t *testing.T) string {
	t.Helper()
	return reachable(t, testenv.Env(t, "redis", "REDIS_URL"))
}

// clusterURL is redisURL for REDIS_CLUSTER_URL.
func clusterURL(t *testing.T) string {
	t.Helper()
	return reachable(t, testenv.Env(t, "redis-cluster", "REDIS_CLUSTER_URL"))
}

func reachable(t *testing.T, rawURL string) string {
	t.Helper()
	c, err := Open(context.Background(), Config{URL: rawURL, DialTimeout: 3 * time.Second}, WithLogger(discardLogger()))
	if err != nil {
		testenv.Missing(t, "redis", err.Error())
	}
	_ = c.Close(context.Background())
	return rawURL
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// logBuffer collects log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// openT opens a Cache on cfg and closes it when t ends.
func openT(t *testing.T, cfg Config, opts ...Option) *Cache {
	t.Helper()
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	opts = append([]Option{WithLogger(discardLogger())}, opts...)
	c, err := Open(t.Context(), cfg, opts...)
	if err != nil {
		t.Fatalf("Open(%v): %v", cfg, err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// within fails t when fn does not return within bound (a no-hang promise).
func within(t *testing.T, what string, bound time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(bound):
		t.Fatalf("%s did not return within %v", what, bound)
	}
}

// proxy forwards TCP connections to a Redis server. Blackhole makes it
// swallow traffic in both directions (a server that stopped answering);
// Cut closes every connection and refuses new ones.
type proxy struct {
	ln        net.Listener
	target    string
	blackhole atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.Cut)
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(up, c) })
		p.wg.Go(func() { p.pipe(c, up) })
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	defer func() { _ = dst.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.blackhole.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Cut closes the listener and every connection, and waits for the
// proxy's goroutines.
func (p *proxy) Cut() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// fakeServer is a minimal RESP2 server that behaves like Redis 5: no
// HELLO, hence no RESP3 and no CLIENT TRACKING. It answers PING, GET (a
// miss), AUTH, SELECT and SET; CLUSTER is disabled. With silent set it
// accepts connections and never answers.
type fakeServer struct {
	ln     net.Listener
	silent bool
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	auths  atomic.Int32
	sets   atomic.Int32           // SET commands received
	reply  atomic.Pointer[string] // when set: the reply to GET, SET and INCRBY
}

func newFakeServer(t *testing.T, silent bool) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, silent: silent}
	s.wg.Go(s.accept)
	t.Cleanup(s.stop)
	return s
}

func (s *fakeServer) URL() string { return "redis://" + s.ln.Addr().String() }

func (s *fakeServer) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Go(func() { s.serve(c) })
	}
}

func (s *fakeServer) stop() {
	_ = s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *fakeServer) serve(c net.Conn) {
	defer func() { _ = c.Close() }()
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		if s.silent {
			continue
		}
		var reply string
		switch strings.ToUpper(args[0]) {
		case "HELLO":
			reply = "-ERR unknown command 'HELLO'\r\n"
		case "PING":
			reply = "+PONG\r\n"
		case "CLUSTER":
			reply = "-ERR This instance has cluster support disabled\r\n"
		case "CLIENT":
			reply = "-ERR Unknown subcommand or wrong number of arguments\r\n"
		case "GET", "SET", "INCRBY":
			if strings.ToUpper(args[0]) == "SET" {
				s.sets.Add(1)
			}
			if r := s.reply.Load(); r != nil {
				reply = *r
			} else if strings.ToUpper(args[0]) == "GET" {
				reply = "$-1\r\n"
			} else {
				reply = "+OK\r\n"
			}
		case "AUTH":
			s.auths.Add(1)
			reply = "+OK\r\n"
		default:
			reply = "+OK\r\n"
		}
		if _, err := io.WriteString(c, reply); err != nil {
			return
		}
	}
}

// readCommand reads one RESP array of bulk strings.
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(line, "*") {
		return nil, errors.New("not an array")
	}
	n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
	if err != nil || n < 1 {
		return nil, errors.New("bad array length")
	}
	args := make([]string, n)
	for i := range args {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil {
			return nil, err
		}
		b := make([]byte, size+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		args[i] = string(b[:size])
	}
	return args, nil
}

// startServer starts a redis-server of the test's own on a free loopback
// port, with args added to its command line (--requirepass, --user ...),
// and stops it when t ends. It returns the server's host:port. It skips
// (fails under PORTKIT_REQUIRE_BACKENDS=1) when redis-server is not
// installed.
func startServer(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Missing(t, "redis", "redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	_ = ln.Close()
	cmd := exec.Command(bin, append([]string{"--port", port, "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", t.TempDir()}, args...)...)
	dieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, err = io.WriteString(c, "*1\r\n$4\r\nPING\r\n")
			if err == nil {
				_, err = bufio.NewReader(c).ReadString('\n')
			}
			_ = c.Close()
			if err == nil {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s did not answer within 10s", addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
