package reliability

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// TestShutdown proves that Close loses nothing: messages the Pub/Sub
// adapter accepted before Close are on the server after Close, each once,
// and against a dead server Close returns at its deadline saying how many
// messages were not confirmed. (These are the only copies of the 10,000
// message flush and the dead-server Close tests; adapters/pubsub keeps
// the adapter's own.)
func TestShutdown(t *testing.T) {
	t.Parallel()
	var (
		mu    sync.Mutex
		lines []string
	)
	report := func(s string) {
		mu.Lock()
		lines = append(lines, s)
		mu.Unlock()
	}
	runConcurrently(t, map[string]func(t *testing.T){
		"flush pstest":   func(t *testing.T) { flushOnClose(t, "pstest", report) },
		"flush emulator": func(t *testing.T) { flushOnClose(t, "emulator", report) },
		"dead server":    func(t *testing.T) { closeDeadServer(t, report) },
	})
	text := strings.Join(lines, "\n")
	t.Logf("shutdown:\n%s", text)
	writeSection(t, "### Nothing lost on shutdown\n\n"+text)
}

// flushOnClose has four goroutines hand 10,000 messages to the adapter
// (PublishAsync: accepted, not yet confirmed) through a proxy that delays
// every reply by 100 ms, then closes the adapter at once. Close must
// return nil, every message must have its server ID, and a subscriber
// connected directly to the server must receive all 10,000, none twice
// (the subscription's ack deadline, a minute, outlasts the test).
func flushOnClose(t *testing.T, kind string, report func(string)) {
	const (
		total   = 10_000
		writers = 4
		perCall = 25
	)
	host := pstestOrEmulator(t, kind)
	proxy := faults.NewProxy(t, host)
	bg := context.Background()
	log := quietLogger(t)

	direct, err := pubsub.Open(bg, pubsub.Config{ProjectID: pubsubProject, EmulatorHost: host}, pubsub.WithLogger(log))
	if err != nil {
		testenv.Missing(t, "pubsub", err.Error())
	}
	t.Cleanup(func() { _ = direct.Close(bg) })
	topic, sub := testenv.UniqueName("t"), testenv.UniqueName("s")
	if err := direct.EnsureTopic(bg, topic); err != nil {
		t.Fatal(err)
	}
	if err := direct.EnsureSubscription(bg, sub, ports.SubscriptionConfig{Topic: topic, AckDeadline: time.Minute}); err != nil {
		t.Fatal(err)
	}

	ps, err := pubsub.Open(bg, pubsub.Config{ProjectID: pubsubProject, EmulatorHost: proxy.Addr()}, pubsub.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	proxy.Latency(100 * time.Millisecond)

	var (
		mu      sync.Mutex
		pending []*pubsub.Pending
		wg      sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			for i := w * total / writers; i < (w+1)*total/writers; i += perCall {
				msgs := make([]ports.Message, 0, perCall)
				for j := i; j < i+perCall; j++ {
					msgs = append(msgs, ports.Message{Data: []byte(strconv.Itoa(j))})
				}
				pd, err := ps.PublishAsync(bg, topic, msgs...)
				if err != nil {
					t.Errorf("PublishAsync: %v", err)
					return
				}
				mu.Lock()
				pending = append(pending, pd)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	unconfirmed := 0
	for _, pd := range pending {
		select {
		case <-pd.Done():
		default:
			unconfirmed += perCall
		}
	}
	ctx, cancel := context.WithTimeout(bg, 60*time.Second)
	defer cancel()
	took, err := timed(func() error { return ps.Close(ctx) })
	if err != nil {
		t.Fatalf("Close with %d accepted messages: %v", total, err)
	}
	confirmed := 0
	for _, pd := range pending {
		select {
		case <-pd.Done():
		default:
			t.Fatal("a Pending is unresolved after Close returned")
		}
		ids, err := pd.Wait(bg)
		if err != nil {
			t.Errorf("a publish call failed: %v", err)
			continue
		}
		for _, id := range ids {
			if id != "" {
				confirmed++
			}
		}
	}

	// Read them back, directly from the server.
	rctx, rcancel := context.WithTimeout(bg, 60*time.Second)
	defer rcancel()
	seen := make([]int, total)
	distinct, dup := 0, 0
	var smu sync.Mutex
	sub2, err := pubsub.Open(bg, pubsub.Config{ProjectID: pubsubProject, EmulatorHost: host,
		Receive: pubsub.ReceiveConfig{Streams: 64}}, pubsub.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub2.Close(bg) })
	err = sub2.Subscribe(rctx, sub, func(_ context.Context, m ports.Message) error {
		n, err := strconv.Atoi(string(m.Data))
		if err != nil || n < 0 || n >= total {
			t.Errorf("unexpected message %q", m.Data)
			return nil
		}
		smu.Lock()
		defer smu.Unlock()
		seen[n]++
		if seen[n] > 1 {
			dup++
			return nil
		}
		distinct++
		if distinct == total {
			rcancel()
		}
		return nil
	})
	if err != nil {
		t.Errorf("Subscribe: %v", err)
	}
	smu.Lock()
	lost := total - distinct
	smu.Unlock()
	if lost > 0 {
		t.Errorf("%d of %d messages accepted before Close are not on the server", lost, total)
	}
	if dup > 0 {
		t.Errorf("%d deliveries of messages already received", dup)
	}
	line := fmt.Sprintf("- %s, %d messages accepted by PublishAsync through a proxy adding 100 ms of latency, %d of them unconfirmed when Close began: Close returned nil in %d ms; %d confirmed, %d received back, **%d lost**, %d duplicated.",
		kind, total, unconfirmed, took.Milliseconds(), confirmed, distinct, lost, dup)
	t.Log(line)
	report(line)
}

// closeDeadServer hands 1,000 messages to an adapter whose server accepts
// connections and never answers, then closes it with a 2 s deadline:
// Close returns within the deadline and its documented grace after it
// (+ 10%), with ErrUnavailable and an error that says 1000 messages were
// not confirmed.
func closeDeadServer(t *testing.T, report func(string)) {
	const n = 1000
	bg := context.Background()
	cfg := pubsub.Config{ProjectID: pubsubProject, EmulatorHost: faults.Blackhole(t)}
	ps, err := pubsub.Open(bg, cfg, pubsub.WithLazyConnect(), pubsub.WithLogger(quietLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	msgs := make([]ports.Message, n)
	for i := range msgs {
		msgs[i] = ports.Message{Data: []byte(strconv.Itoa(i))}
	}
	if _, err := ps.PublishAsync(bg, "dead-topic", msgs...); err != nil {
		t.Fatal(err)
	}
	const deadline = limit
	ctx, cancel := context.WithTimeout(bg, deadline)
	defer cancel()
	took, err := timed(func() error { return ps.Close(ctx) })
	if !acceptable(err) {
		t.Errorf("Close against a dead server = %v, want ErrUnavailable", err)
	}
	if took > bound(deadline+pubsubCloseGrace) {
		t.Errorf("Close against a dead server returned after %s, over its deadline %s + its grace %s + 10%%",
			took.Round(time.Millisecond), deadline, pubsubCloseGrace)
	}
	want := fmt.Sprintf("%d messages not confirmed", n)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Close error %v does not say %q", err, want)
	}
	line := fmt.Sprintf("- dead server (accepts, never answers), %d messages pending, Close with a %s deadline: returned in %d ms with %q.",
		n, deadline, took.Milliseconds(), kindName(err)+": "+want)
	t.Log(line)
	report(line)
}
