package nats_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/internal/testutil"
)

// startServer runs a private nats-server (the binary on PATH, as CI
// installs it) with JetStream and the configuration lines conf, on a free
// loopback port, until the test ends; it returns its host:port. Without
// the binary the test is skipped (failed with PORTKIT_REQUIRE_BACKENDS=1).
func startServer(t *testing.T, conf string) string {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		testenv.Missing(t, "nats-server", "no nats-server binary on PATH for a private server")
	}
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	file := filepath.Join(dir, "server.conf")
	body := fmt.Sprintf("listen: %q\njetstream { store_dir: %q }\n%s\n", addr, filepath.Join(dir, "js"), conf)
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	var out testutil.SyncBuffer
	cmd := exec.Command(bin, "-c", file)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return addr
		}
		select {
		case <-exited:
			t.Fatalf("nats-server exited: %s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server did not listen on %s within 10s: %s", addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
