package faults

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/internal/testenv"
)

// redisStartTimeout bounds how long a redis-server takes to answer PING
// after it is started.
const redisStartTimeout = 10 * time.Second

// RedisServer is a redis-server process the test owns, on a loopback port
// of its own. By default it keeps nothing on disk (--save "" --appendonly
// no), so a restart empties it; pass other arguments to StartRedis to
// change that. Its methods are safe for concurrent use.
type RedisServer struct {
	t    testing.TB
	bin  string
	addr string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{} // closed when cmd has been waited for
}

// StartRedis starts redis-server on a free loopback port and waits until it
// answers PING. extra arguments are appended to the defaults (--save ""
// --appendonly no; a later argument overrides an earlier one), for
// example "--requirepass", "secret" or "--appendonly", "yes". The server is
// killed when the test ends. When redis-server is not installed, the test
// is skipped (or fails when backends are required).
func StartRedis(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Missing(t, "redis-server", "redis-server is not installed")
	}
	r := &RedisServer{t: t, bin: bin}
	t.Cleanup(r.Kill)
	// A port found free may be taken before redis binds it: try a few.
	for attempt := 0; ; attempt++ {
		r.addr = freeAddr(t)
		_, port, _ := net.SplitHostPort(r.addr)
		r.args = append([]string{
			"--port", port, "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no",
			"--daemonize", "no", "--logfile", "",
			"--dir", t.TempDir(),
		}, extra...)
		err = r.start()
		if err == nil {
			return r
		}
		if attempt == 2 {
			t.Fatalf("faults: start redis-server: %v", err)
		}
	}
}

// Addr returns the server's host:port.
func (r *RedisServer) Addr() string { return r.addr }

// URL returns redis://host:port/0.
func (r *RedisServer) URL() string { return "redis://" + r.addr + "/0" }

// Kill stops the server at once (SIGKILL, no shutdown save) and waits for
// the process to end. Killing a stopped server does nothing.
func (r *RedisServer) Kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// Restart kills the server if it runs, starts it again on the same port
// with the same arguments, and waits until it answers PING.
func (r *RedisServer) Restart() {
	r.t.Helper()
	r.Kill()
	var err error
	// The old socket may linger a moment; redis binds with SO_REUSEADDR,
	// so a retry or two is enough.
	for range 3 {
		if err = r.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("faults: restart redis-server on %s: %v", r.addr, err)
}

// start runs redis-server and waits until it answers PING.
func (r *RedisServer) start() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := &syncBuffer{}
	cmd := exec.Command(r.bin, r.args...)
	cmd.Stdout = out
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	deadline := time.Now().Add(redisStartTimeout)
	for {
		if ping(r.addr) == nil {
			r.cmd, r.out, r.done = cmd, out, done
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("redis-server exited: %s", lastLines(out.String(), 5))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("redis-server did not answer PING within %s: %s", redisStartTimeout, lastLines(out.String(), 5))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping sends PING and expects +PONG, or an error reply that proves the
// server runs (NOAUTH when a password is required).
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") {
		return nil
	}
	return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
