package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/examples/orders/observe"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// go.opencensus.io, imported by the Pub/Sub client, starts this
		// worker in an init function; it lives as long as the process.
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		// With the real Pub/Sub adapter (e2e test): every StreamingPull
		// stream has a keep-alive goroutine that checks for shutdown only
		// between ticks of a 10s ticker (pubsub/v2 v2.9.0, iterator.go
		// streamKeepAliveHandler), so it outlives Receive and Close by up to
		// 10s, sometimes after starting a checkServer that returns at once.
		goleak.IgnoreTopFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).streamKeepAliveHandler"),
		goleak.IgnoreAnyFunction("cloud.google.com/go/pubsub/v2.(*messageIterator).checkServer"),
	)
}

// output collects what run writes and reports the URL it listens on.
type output struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	url  chan string
	once sync.Once
}

var listeningRE = regexp.MustCompile(`(?m)^listening on (http://\S+)$`)

func newOutput() *output { return &output{url: make(chan string, 1)} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.buf.Write(p)
	if m := listeningRE.FindSubmatch(o.buf.Bytes()); m != nil {
		o.once.Do(func() { o.url <- string(m[1]) })
	}
	return n, err
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// service is one run of the whole service.
type service struct {
	url    string
	out    *output
	cancel context.CancelFunc
	done   chan error
}

// start runs the service with environ on a free port and waits until it
// listens. The test's cleanup stops it if the test did not.
func start(t *testing.T, environ []string) *service {
	t.Helper()
	return startWith(t, environ)
}

// startWith is start with observe's options for run (a span exporter).
func startWith(t *testing.T, environ []string, obsOpts ...observe.Option) *service {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{out: newOutput(), cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, environ, s.out, obsOpts...) }()
	select {
	case s.url = <-s.out.url:
	case err := <-s.done:
		cancel()
		t.Fatalf("run returned before listening: %v\n%s", err, s.out)
	case <-time.After(2 * time.Minute):
		cancel()
		t.Fatalf("not listening after 2 minutes:\n%s", s.out)
	}
	t.Cleanup(func() {
		s.cancel()
		select {
		case <-s.done:
		case <-time.After(time.Minute):
			t.Errorf("run did not return after cancellation:\n%s", s.out)
		}
	})
	return s
}

// stop cancels run's context and returns its result; run must return
// within the bound.
func (s *service) stop(t *testing.T, bound time.Duration) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(bound):
		t.Fatalf("run did not return within %v of cancellation:\n%s", bound, s.out)
		return nil
	}
}

func (s *service) request(t *testing.T, method, path, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// waitView polls the read model until the customer's order id appears.
func (s *service) waitView(t *testing.T, customer string, id int64, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		status, _, body := s.request(t, "GET", "/customers/"+customer+"/orders", "")
		var views []struct {
			OrderID int64 `json:"order_id"`
		}
		if status == http.StatusOK && json.Unmarshal([]byte(body), &views) == nil {
			for _, v := range views {
				if v.OrderID == id {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %d not in the read model after %v (last: %d %s)\n%s", id, bound, status, body, s.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exercise is the scenario both the fake and the real run go through:
// place an order (with an idempotency key, replayed once), read it back
// twice (miss, then cache), wait for the read model, check readiness.
func exercise(t *testing.T, s *service, customer string) int64 {
	t.Helper()
	body := `{"customer":"` + customer + `","lines":[{"sku":"book-1","qty":2,"price_cents":1250},{"sku":"pen-2","qty":1,"price_cents":199}]}`
	status, h, resp := s.request(t, "POST", "/orders", body, "Idempotency-Key", customer+"-1")
	if status != http.StatusCreated {
		t.Fatalf("POST /orders = %d %s\n%s", status, resp, s.out)
	}
	var placed struct {
		ID         int64 `json:"id"`
		TotalCents int64 `json:"total_cents"`
	}
	if err := json.Unmarshal([]byte(resp), &placed); err != nil || placed.ID <= 0 || placed.TotalCents != 2699 {
		t.Fatalf("POST /orders body %s: %v", resp, err)
	}
	loc := h.Get("Location")
	if status, h2, _ := s.request(t, "POST", "/orders", body, "Idempotency-Key", customer+"-1"); status != http.StatusCreated ||
		h2.Get("Location") != loc || h2.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replayed POST = %d, Location %q (want %q), replayed %q", status, h2.Get("Location"), loc, h2.Get("Idempotent-Replayed"))
	}
	for range 2 {
		status, _, resp := s.request(t, "GET", loc, "")
		if status != http.StatusOK || !strings.Contains(resp, `"sku":"pen-2"`) || !strings.Contains(resp, `"customer":"`+customer+`"`) {
			t.Fatalf("GET %s = %d %s", loc, status, resp)
		}
	}
	if status, _, resp := s.request(t, "POST", "/orders", `{"customer":"`+customer+`","lines":[{"sku":"x","qty":0}]}`); status != http.StatusBadRequest ||
		!strings.Contains(resp, `"field":"lines[0].qty"`) {
		t.Errorf("bad POST = %d %s", status, resp)
	}
	s.waitView(t, customer, placed.ID, 30*time.Second)
	if status, _, resp := s.request(t, "GET", "/readyz", ""); status != http.StatusOK {
		t.Errorf("readyz = %d %s", status, resp)
	}
	if status, _, _ := s.request(t, "GET", "/healthz", ""); status != http.StatusOK {
		t.Errorf("healthz = %d", status)
	}
	return placed.ID
}

// TestRunOnFakes is the smoke test of `go run ./examples/orders` with no
// environment: every port on its fake, the banner, the scenario, and a
// clean shutdown that closes the backends in reverse order.
func TestRunOnFakes(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	out := s.out.String()
	for _, want := range []string{
		"port=sql kind=fake impl=fake-sql", "port=documents kind=fake impl=fake-doc",
		"port=cache kind=fake impl=fake-cache", "port=pubsub kind=fake impl=fake-pubsub",
		"try: curl -sS -X POST " + s.url + "/orders -H 'Content-Type: application/json' -d '{",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("start-up output lacks %q:\n%s", want, out)
		}
	}
	exercise(t, s, "ada")

	if err := s.stop(t, 30*time.Second); err != nil {
		t.Fatalf("run = %v\n%s", err, s.out)
	}
	out = s.out.String()
	order := []string{"orders: shutting down", `closed" name=order-projector`, `closed" name=outbox-relay`, `closed" name=fake-pubsub`, `closed" name=fake-cache`,
		`closed" name=fake-doc`, `closed" name=fake-sql`, "orders: shutdown complete"}
	last := -1
	for _, step := range order {
		i := strings.Index(out, step)
		if i < 0 || i < last {
			t.Fatalf("shutdown log lacks %q or has it out of order %v:\n%s", step, order, out)
		}
		last = i
	}
}

// TestBannerCurlWorks runs the curl line of the banner, as a user would,
// with net/http.
func TestBannerCurlWorks(t *testing.T) {
	t.Parallel()
	s := start(t, nil)
	m := regexp.MustCompile(`try: curl -sS -X POST (\S+) -H 'Content-Type: application/json' -d '(.*)'`).FindStringSubmatch(s.out.String())
	if m == nil {
		t.Fatalf("no curl line in:\n%s", s.out)
	}
	if m[1] != s.url+"/orders" {
		t.Errorf("curl URL %s, want %s/orders", m[1], s.url)
	}
	if status, _, body := s.request(t, "POST", "/orders", m[2]); status != http.StatusCreated {
		t.Errorf("the banner's curl gets %d %s", status, body)
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		environ []string
		want    string
	}{
		{"unknown flag", []string{"-nope"}, nil, "-nope"},
		{"extra argument", []string{"serve"}, nil, "unexpected arguments"},
		{"bad setting", nil, []string{"SHUTDOWN_TIMEOUT=soon"}, "SHUTDOWN_TIMEOUT"},
		{"bad address", []string{"-addr", "127.0.0.1:99999"}, nil, "listen on 127.0.0.1:99999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := run(t.Context(), tt.args, tt.environ, &out)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// TestShutdownDrainsThenStopsThenCloses: an in-flight request completes
// (its client gets the answer) before the outbox is drained, which
// happens before the projector, the relay and the backends are closed.
func TestShutdownDrainsThenStopsThenCloses(t *testing.T) {
	t.Parallel()
	var (
		mu     sync.Mutex
		events []string
	)
	record := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	entered, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		record("request done")
		w.WriteHeader(http.StatusCreated)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()

	status := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String(), "application/json", strings.NewReader("{}"))
		if err != nil {
			status <- 0
			return
		}
		resp.Body.Close()
		status <- resp.StatusCode
	}()
	<-entered

	drain := func(ctx context.Context) error {
		if ctx.Err() != nil {
			t.Errorf("outbox drained with an expired context")
		}
		record("outbox drained")
		return nil
	}
	closeGroup := func(ctx context.Context) error {
		if ctx.Err() != nil {
			t.Errorf("group closed with an expired context")
		}
		record("group closed")
		return nil
	}
	done := make(chan error, 1)
	go func() {
		done <- shutdown(context.Background(), 30*time.Second, srv, drain, closeGroup, slog.New(slog.DiscardHandler))
	}()
	// Once the listener is closed, shutdown is draining.
	for {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			break
		}
		c.Close()
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("shutdown = %v", err)
	}
	if s := <-status; s != http.StatusCreated {
		t.Errorf("in-flight request got %d, want 201", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if got := strings.Join(events, ", "); got != "request done, outbox drained, group closed" {
		t.Errorf("events = %s", got)
	}
}

// TestShutdownBounded: a request that never finishes does not hold the
// shutdown past its budget, and the backends are still closed.
func TestShutdownBounded(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		close(entered)
		<-release
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	clientDone := make(chan struct{})
	go func() {
		defer close(clientDone)
		if resp, err := http.Get("http://" + ln.Addr().String()); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered

	closed := false
	start := time.Now()
	// The outbox never drains either (its target is down, say).
	drain := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	err = shutdown(context.Background(), 400*time.Millisecond, srv, drain,
		func(context.Context) error { closed = true; return nil }, slog.New(slog.DiscardHandler))
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("shutdown took %v with a budget of 400ms", took)
	}
	if err == nil || !strings.Contains(err.Error(), "drain HTTP server") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("shutdown = %v, want a drain error wrapping DeadlineExceeded", err)
	}
	if !closed {
		t.Error("backends not closed after a drain timeout")
	}
	<-clientDone // srv.Close cut the connection
}

func TestDisplayAddr(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"127.0.0.1:8080": "127.0.0.1:8080",
		"[::]:8080":      "localhost:8080",
		"0.0.0.0:80":     "localhost:80",
		"[::1]:9000":     "[::1]:9000",
	} {
		a, err := net.ResolveTCPAddr("tcp", in)
		if err != nil {
			t.Fatal(err)
		}
		if got := displayAddr(a); got != want {
			t.Errorf("displayAddr(%s) = %s, want %s", in, got, want)
		}
	}
}
