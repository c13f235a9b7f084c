package subscribe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// bound is the generous limit of every wait on the runner.
const bound = 10 * time.Second

// settled records how each delivery was settled.
type settled struct {
	mu    sync.Mutex
	acks  []string
	nacks []string
	twice []string
	seen  map[string]bool
}

func (s *settled) delivery(id string) Delivery {
	settle := func(list *[]string) func() {
		return func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.seen == nil {
				s.seen = map[string]bool{}
			}
			if s.seen[id] {
				s.twice = append(s.twice, id)
			}
			s.seen[id] = true
			*list = append(*list, id)
		}
	}
	return Delivery{
		Message: ports.Message{ID: id, Data: []byte("secret-payload-" + id)},
		Ack:     settle(&s.acks),
		Nack:    settle(&s.nacks),
	}
}

func (s *settled) counts() (acks, nacks int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.twice) > 0 {
		panic(fmt.Sprintf("settled twice: %v", s.twice))
	}
	return len(s.acks), len(s.nacks)
}

// waitUntil polls cond until it holds or bound passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestConcurrencyLimit(t *testing.T) {
	for _, limit := range []int{0, 3} {
		t.Run(strconv.Itoa(limit), func(t *testing.T) {
			want := limit
			if want == 0 {
				want = ports.DefaultMaxConcurrency
			}
			release := make(chan struct{})
			var running, peak atomic.Int64
			r := New(t.Context(), Config{MaxConcurrency: limit}, func(context.Context, ports.Message) error {
				n := running.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				<-release
				running.Add(-1)
				return nil
			})
			var s settled
			var wg sync.WaitGroup
			for i := range 3 * want {
				wg.Go(func() { r.Handle(s.delivery(strconv.Itoa(i))) })
			}
			waitUntil(t, "the handlers to fill every slot", func() bool { return running.Load() == int64(want) })
			// Give the others every chance to start too many.
			time.Sleep(20 * time.Millisecond)
			close(release)
			wg.Wait()
			if p := peak.Load(); p != int64(want) {
				t.Errorf("at most %d handlers ran at once, want %d", p, want)
			}
			if acks, nacks := s.counts(); acks != 3*want || nacks != 0 {
				t.Errorf("%d acked, %d nacked; want %d and 0", acks, nacks, 3*want)
			}
			r.Wait()
		})
	}
}

func TestPanicNacksAndLogsOnce(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	r := New(t.Context(), Config{Backend: "b", Subscription: "s", Logger: logger}, func(_ context.Context, m ports.Message) error {
		if m.ID == "bad" {
			panic("handler bug")
		}
		if m.ID == "err" {
			return errors.New("retry")
		}
		return nil
	})
	var s settled
	for _, id := range []string{"bad", "err", "ok"} {
		r.Handle(s.delivery(id))
	}
	r.Wait()
	if strings.Join(s.nacks, " ") != "bad err" || strings.Join(s.acks, " ") != "ok" {
		t.Errorf("nacked %v acked %v; want [bad err] and [ok]", s.nacks, s.acks)
	}
	out := logs.String()
	if n := strings.Count(out, "handler panicked"); n != 1 {
		t.Errorf("%d panic lines, want 1:\n%s", n, out)
	}
	for _, want := range []string{"message_id=bad", "stack=", "handler bug", "subscription=s", "backend=b"} {
		if !strings.Contains(out, want) {
			t.Errorf("panic line lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret-payload") {
		t.Errorf("the log holds the message's data:\n%s", out)
	}
}

func TestShutdownNacksWaitingAndKeepsRunningLive(t *testing.T) {
	ctx, cancel := context.WithCancel(context.WithValue(t.Context(), ctxKey{}, "v"))
	const grace = 300 * time.Millisecond
	started := make(chan struct{}, 1)
	finish := make(chan struct{})
	var (
		mu        sync.Mutex
		liveAfter bool // the handler's context was live after Subscribe's ended
		value     any
	)
	r := New(ctx, Config{MaxConcurrency: 1, ShutdownGrace: grace}, func(hctx context.Context, m ports.Message) error {
		started <- struct{}{}
		<-finish
		mu.Lock()
		liveAfter = hctx.Err() == nil
		value = hctx.Value(ctxKey{})
		mu.Unlock()
		return nil
	})
	var s settled
	var wg sync.WaitGroup
	wg.Go(func() { r.Handle(s.delivery("running")) })
	<-started
	for i := range 5 {
		wg.Go(func() { r.Handle(s.delivery("held" + strconv.Itoa(i))) })
	}
	waitUntil(t, "the held messages to wait", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.active == 6
	})
	cancel()
	waitUntil(t, "the held messages to be nacked", func() bool { _, n := s.counts(); return n == 5 })
	close(finish) // well within the grace
	wg.Wait()
	if n := r.Wait(); n != 0 {
		t.Errorf("%d handlers abandoned, want 0", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if !liveAfter {
		t.Error("the running handler's context ended with Subscribe's, before the grace")
	}
	if value != "v" {
		t.Errorf("the handler's context lost the value of Subscribe's: %v", value)
	}
	if acks, nacks := s.counts(); acks != 1 || nacks != 5 {
		t.Errorf("%d acked, %d nacked; want 1 and 5", acks, nacks)
	}
}

type ctxKey struct{}

func TestShutdownGraceThenCancelThenAbandon(t *testing.T) {
	const grace = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan string, 2)
	leave := make(chan struct{})
	var cause atomic.Value
	stubborn := make(chan struct{})
	r := New(ctx, Config{ShutdownGrace: grace}, func(hctx context.Context, m ports.Message) error {
		started <- m.ID
		if m.ID == "stubborn" {
			<-leave // ignores its context
			close(stubborn)
			return nil
		}
		<-hctx.Done()
		cause.Store(context.Cause(hctx))
		return nil // finished once told to: acked
	})
	var s settled
	var wg sync.WaitGroup
	wg.Go(func() { r.Handle(s.delivery("polite")) })
	wg.Go(func() { r.Handle(s.delivery("stubborn")) })
	<-started
	<-started
	start := time.Now()
	cancel()
	abandoned := r.Wait()
	took := time.Since(start)
	wg.Wait()
	if abandoned != 1 {
		t.Errorf("%d abandoned, want 1", abandoned)
	}
	if took < grace+AbandonDelay {
		t.Errorf("Wait returned after %s, before the grace %s and the abandon delay %s", took, grace, AbandonDelay)
	}
	if c, _ := cause.Load().(error); !errors.Is(c, ErrShutdownGrace) {
		t.Errorf("the handler's context ended with cause %v, want ErrShutdownGrace", c)
	}
	if strings.Join(s.acks, " ") != "polite" || strings.Join(s.nacks, " ") != "stubborn" {
		t.Errorf("acked %v nacked %v; want [polite] and [stubborn]", s.acks, s.nacks)
	}
	close(leave)
	<-stubborn
}

func TestHurryCutsTheGrace(t *testing.T) {
	r := New(t.Context(), Config{ShutdownGrace: time.Hour}, func(hctx context.Context, m ports.Message) error {
		<-hctx.Done()
		return hctx.Err()
	})
	var s settled
	var wg sync.WaitGroup
	wg.Go(func() { r.Handle(s.delivery("m")) })
	waitUntil(t, "the handler to run", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.slots) == 1
	})
	r.Stop()
	r.Hurry()
	done := make(chan struct{})
	go func() { r.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(bound):
		t.Fatal("Wait did not return after Hurry")
	}
	wg.Wait()
	if _, nacks := s.counts(); nacks != 1 {
		t.Errorf("%d nacked, want 1 (the handler returned its context's error)", nacks)
	}
}

func TestOrderedKeysOneAtATimeInOrder(t *testing.T) {
	const keys, perKey = 3, 15
	var (
		mu      sync.Mutex
		busy    = map[string]bool{}
		got     = map[string][]int{}
		overlap []string
	)
	r := New(t.Context(), Config{Ordered: true, MaxConcurrency: 64}, func(_ context.Context, m ports.Message) error {
		mu.Lock()
		if busy[m.OrderingKey] {
			overlap = append(overlap, m.ID)
		}
		busy[m.OrderingKey] = true
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		busy[m.OrderingKey] = false
		i, _ := strconv.Atoi(strings.SplitN(m.ID, "/", 2)[1])
		got[m.OrderingKey] = append(got[m.OrderingKey], i)
		mu.Unlock()
		return nil
	})
	var s settled
	var wg sync.WaitGroup
	queued := 0
	for i := range perKey {
		for k := range keys {
			key := "k" + strconv.Itoa(k)
			d := s.delivery(key + "/" + strconv.Itoa(i))
			d.Message.OrderingKey = key
			wg.Go(func() { r.Handle(d) })
			// Handle calls of one key queue in the order they were made:
			// make the next one only once this one has queued.
			queued++
			waitUntil(t, "the call to queue", func() bool { return r.queued.Load() == int64(queued) })
		}
	}
	wg.Wait()
	r.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(overlap) > 0 {
		t.Errorf("messages handled while another of their key ran: %v", overlap)
	}
	for key, seq := range got {
		for j := range seq {
			if seq[j] != j {
				t.Errorf("key %s handled in order %v", key, seq)
				break
			}
		}
	}
}

func TestAcquireRunRelease(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	r := New(ctx, Config{MaxConcurrency: 2}, func(context.Context, ports.Message) error { return nil })
	var s settled
	if !r.Acquire() {
		t.Fatal("Acquire = false on a running runner")
	}
	r.Run(s.delivery("a"))
	if !r.Acquire() {
		t.Fatal("second Acquire = false")
	}
	r.Release()
	cancel()
	select {
	case <-r.Stopping():
	case <-time.After(bound):
		t.Fatal("Stopping not closed after the context ended")
	}
	if r.Acquire() {
		t.Error("Acquire = true after the shutdown began")
	}
	r.Handle(s.delivery("late"))
	r.Wait()
	if strings.Join(s.acks, " ") != "a" || strings.Join(s.nacks, " ") != "late" {
		t.Errorf("acked %v nacked %v; want [a] and [late]", s.acks, s.nacks)
	}
}

func TestPublishFailed(t *testing.T) {
	if PublishFailed("b", "publish", &ports.PublishError{Total: 2}) != nil {
		t.Error("PublishFailed with no failure is not nil")
	}
	unconfirmed := ports.NewError("b", "publish", ports.ErrUnavailable, fmt.Errorf("%w: %w", ports.ErrOutcomeUnknown, context.DeadlineExceeded))
	invalid := ports.NewError("b", "publish", ports.ErrInvalid, errors.New("refused"))
	pe := &ports.PublishError{Total: 3, Failures: []ports.PublishFailure{
		{Index: 0, Err: unconfirmed, Unconfirmed: true},
		{Index: 2, Err: invalid},
	}}
	err := PublishFailed("b", "publish t", pe)
	if k := ports.KindOf(err); k != ports.ErrUnavailable {
		t.Errorf("kind %v, want ErrUnavailable (the first failure's)", k)
	}
	n := 0
	for _, k := range ports.Kinds() {
		if errors.Is(err, k) {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the error matches %d sentinels, want exactly 1: %v", n, err)
	}
	var got *ports.PublishError
	if !errors.As(err, &got) || got != pe {
		t.Errorf("errors.As does not find the PublishError: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ports.ErrOutcomeUnknown) {
		t.Errorf("the context error or ErrOutcomeUnknown is not reachable: %v", err)
	}
	if !strings.Contains(err.Error(), "2 of 3 messages failed (1 unconfirmed") {
		t.Errorf("error text %q", err)
	}
}

func TestValidateName(t *testing.T) {
	ok := []string{"abc", "Abc", "a_b-c.d~e+f%g", strings.Repeat("a", 255), "orders-v2"}
	bad := []string{"", "ab", "1abc", "goog-x", "googx", "a b", "a/b", "é-abc", strings.Repeat("a", 256), "-abc"}
	for _, n := range ok {
		if err := ValidateName("topic", n); err != nil {
			t.Errorf("ValidateName(%q) = %v, want nil", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateName("topic", n); err == nil {
			t.Errorf("ValidateName(%q) = nil, want an error", n)
		}
	}
}
