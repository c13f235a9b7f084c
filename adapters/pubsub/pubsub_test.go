package pubsub_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"cloud.google.com/go/pubsub/v2/pstest"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/pstestserver"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// receiveN subscribes until n distinct messages have been handled (acked)
// or the timeout passes, and returns every delivery in order of arrival.
func receiveN(t *testing.T, ps *pubsub.PubSub, sub string, n int, timeout time.Duration) []ports.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var (
		mu   sync.Mutex
		got  []ports.Message
		seen = map[string]bool{}
	)
	err := ps.Subscribe(ctx, sub, func(_ context.Context, m ports.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m)
		seen[m.ID] = true
		if len(seen) >= n {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < n {
		t.Fatalf("received %d distinct messages of %d within %s", len(seen), n, timeout)
	}
	return got
}

func TestPublishSubscribeRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		ps := open(t, cfg)
		topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"a": {}})
		ids, err := ps.Publish(t.Context(), topic,
			ports.Message{Data: []byte("one"), Attributes: map[string]string{"k": "v"}},
			ports.Message{Data: []byte("two")},
			ports.Message{Attributes: map[string]string{"only": "attrs"}},
		)
		if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if len(ids) != 3 || ids[0] == "" || ids[1] == "" || ids[2] == "" || ids[0] == ids[1] {
			t.Fatalf("ids = %q, want 3 distinct non-empty IDs", ids)
		}
		got := receiveN(t, ps, subs["a"], 3, 30*time.Second)
		byID := map[string]ports.Message{}
		for _, m := range got {
			byID[m.ID] = m
		}
		if m := byID[ids[0]]; string(m.Data) != "one" || m.Attributes["k"] != "v" || m.PublishTime.IsZero() {
			t.Errorf("message 0 = %+v", m)
		}
		if m := byID[ids[1]]; string(m.Data) != "two" {
			t.Errorf("message 1 = %+v", m)
		}
		if m := byID[ids[2]]; len(m.Data) != 0 || m.Attributes["only"] != "attrs" {
			t.Errorf("message 2 = %+v", m)
		}
	})
}

func TestPublishUnknownTopic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		ps := open(t, cfg)
		ids, err := ps.Publish(t.Context(), testenv.UniqueName("missing"), ports.Message{Data: []byte("x")}, ports.Message{Data: []byte("y")})
		if !errors.Is(err, ports.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
		if len(ids) != 2 || ids[0] != "" || ids[1] != "" {
			t.Errorf("ids = %q, want two empty IDs", ids)
		}
		var pe *ports.PublishError
		if !errors.As(err, &pe) || len(pe.Failures) != 2 || pe.Total != 2 {
			t.Errorf("errors.As PublishError: %+v", pe)
		}
		var st interface{ GRPCStatus() *status.Status }
		if !errors.As(err, &st) || st.GRPCStatus().Code() != codes.NotFound {
			t.Errorf("the gRPC status is not reachable: %v", err)
		}
	})
}

// failMarked fails every Publish request whose first message has the
// attribute fail=1.
type failMarked struct{}

func (failMarked) React(req any) (bool, any, error) {
	r, ok := req.(*pubsubpb.PublishRequest)
	if ok && len(r.Messages) > 0 && r.Messages[0].Attributes["fail"] == "1" {
		return true, nil, status.Error(codes.InvalidArgument, "marked to fail")
	}
	return false, nil, nil
}

func failMarkedServer(t *testing.T) pubsub.Config {
	t.Helper()
	srv, err := pstestserver.Start("127.0.0.1:0", pstest.ServerReactorOption{FuncName: "Publish", Reactor: failMarked{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cfg := pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr}
	cfg.Publish.BatchCount = 1 // one request per message
	return cfg
}

func TestPublishPartialFailure(t *testing.T) {
	t.Parallel()
	ps := open(t, failMarkedServer(t))
	topic, _ := provision(t, ps, nil)

	msgs := make([]ports.Message, 6)
	for i := range msgs {
		msgs[i] = ports.Message{Data: []byte(strconv.Itoa(i))}
	}
	msgs[1].Attributes = map[string]string{"fail": "1"}
	msgs[4].Attributes = map[string]string{"fail": "1"}
	ids, err := ps.Publish(t.Context(), topic, msgs...)
	if !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid (the failures' kind)", err)
	}
	var pe *ports.PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("err %v has no PublishError", err)
	}
	if len(pe.Failures) != 2 || pe.Failures[0].Index != 1 || pe.Failures[1].Index != 4 || pe.Total != 6 {
		t.Errorf("failures = %+v, want indexes 1 and 4 of 6", pe.Failures)
	}
	for _, f := range pe.Failures {
		if f.Unconfirmed || !errors.Is(f.Err, ports.ErrInvalid) {
			t.Errorf("failure %+v: want a confirmed ErrInvalid", f)
		}
	}
	if !strings.Contains(err.Error(), "2 of 6 messages failed; first, message 1: ") {
		t.Errorf("error %q does not name the failed messages", err)
	}
	for i, id := range ids {
		if (i == 1 || i == 4) != (id == "") {
			t.Errorf("ids[%d] = %q", i, id)
		}
	}
}

func TestPublishOrderingKeyResumesAfterFailure(t *testing.T) {
	t.Parallel()
	ps := open(t, failMarkedServer(t))
	topic, _ := provision(t, ps, nil)

	msgs := []ports.Message{
		{Data: []byte("0"), OrderingKey: "k"},
		{Data: []byte("1"), OrderingKey: "k", Attributes: map[string]string{"fail": "1"}},
		{Data: []byte("2"), OrderingKey: "k"},
		{Data: []byte("3"), OrderingKey: "other"},
	}
	ids, err := ps.Publish(t.Context(), topic, msgs...)
	var pe *ports.PublishError
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want a PublishError", err)
	}
	if !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("err = %v: kind must be the first failure's (ErrInvalid), not the paused key's", err)
	}
	// Message 2 must not overtake message 1: it fails too.
	if len(pe.Failures) != 2 || pe.Failures[0].Index != 1 || pe.Failures[1].Index != 2 {
		t.Errorf("failures = %+v, want 1 and 2", pe.Failures)
	}
	if ids[0] == "" || ids[3] == "" {
		t.Errorf("ids = %q: messages 0 and 3 were published", ids)
	}
	// The key was resumed: the caller can retry from message 1.
	if _, err := ps.Publish(t.Context(), topic, ports.Message{Data: []byte("1 again"), OrderingKey: "k"}); err != nil {
		t.Errorf("publish after the failure: %v (key not resumed)", err)
	}
}

func TestSubscribeUnknownSubscription(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		ps := open(t, cfg)
		err := ps.Subscribe(t.Context(), testenv.UniqueName("missing"), func(context.Context, ports.Message) error { return nil })
		if !errors.Is(err, ports.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
}

func TestSubscribeNackRedeliversAndPanicIsNack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		var logs logBuffer
		ps := open(t, cfg, pubsub.WithLogger(slogTo(&logs)))
		topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"a": {}})
		ids, err := ps.Publish(t.Context(), topic,
			ports.Message{Data: []byte("secret-payload-err")},
			ports.Message{Data: []byte("secret-payload-panic")})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		var mu sync.Mutex
		deliveries := map[string]int{}
		err = ps.Subscribe(ctx, subs["a"], func(_ context.Context, m ports.Message) error {
			mu.Lock()
			deliveries[m.ID]++
			n := deliveries[m.ID]
			done := deliveries[ids[0]] >= 2 && deliveries[ids[1]] >= 2
			mu.Unlock()
			if done {
				cancel()
			}
			if n == 1 && m.ID == ids[0] {
				return errors.New("try again")
			}
			if n == 1 && m.ID == ids[1] {
				panic("handler bug")
			}
			return nil
		})
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if deliveries[ids[0]] < 2 || deliveries[ids[1]] < 2 {
			t.Fatalf("deliveries = %v: a nacked (error or panic) message must be redelivered", deliveries)
		}
		out := logs.String()
		if strings.Count(out, "handler panicked") != 1 || !strings.Contains(out, ids[1]) || !strings.Contains(out, "stack=") {
			t.Errorf("want one log line naming the panicking message, with its stack:\n%s", out)
		}
		if strings.Contains(out, "secret-payload") {
			t.Errorf("a log line shows a message payload:\n%s", out)
		}
	})
}

func TestSubscribeReturnsNilWhenContextEnds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		ps := open(t, cfg)
		_, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"a": {}})
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := ps.Subscribe(ctx, subs["a"], func(context.Context, ports.Message) error { return nil })
		if err != nil {
			t.Fatalf("Subscribe = %v, want nil when its context ends", err)
		}
		if d := time.Since(start); d > 15*time.Second {
			t.Errorf("Subscribe took %s to return after its context ended", d)
		}
	})
}

func TestCloseEndsSubscribeAndRejectsCalls(t *testing.T) {
	t.Parallel()
	srv := startPstest(t)
	ps := open(t, pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr})
	topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"a": {}})

	subErr := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		var once sync.Once
		subErr <- ps.Subscribe(context.Background(), subs["a"], func(context.Context, ports.Message) error {
			once.Do(func() { close(started) })
			return nil
		})
	}()
	if _, err := ps.Publish(t.Context(), topic, ports.Message{Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(20 * time.Second):
		t.Fatal("no message received")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := ps.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-subErr:
		if !errors.Is(err, ports.ErrClosed) {
			t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe still running after Close returned")
	}
}

func TestCheck(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		ps := open(t, cfg)
		if err := ps.Check(t.Context()); err != nil {
			t.Fatalf("Check: %v", err)
		}
		if ps.Name() != "pubsub" {
			t.Errorf("Name = %q", ps.Name())
		}
	})
}

func TestEnsureSubscription(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		ps := open(t, cfg)
		ctx := t.Context()
		topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"a": {AckDeadline: 20 * time.Second, Ordering: true}})
		// Idempotent.
		if err := ps.EnsureTopic(ctx, topic); err != nil {
			t.Errorf("EnsureTopic again: %v", err)
		}
		if err := ps.EnsureSubscription(ctx, subs["a"], ports.SubscriptionConfig{Topic: topic, AckDeadline: 20 * time.Second, Ordering: true}); err != nil {
			t.Errorf("EnsureSubscription again: %v", err)
		}
		got, err := ps.Client().SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{
			Subscription: "projects/" + testProject + "/subscriptions/" + subs["a"]})
		if err != nil {
			t.Fatal(err)
		}
		if got.AckDeadlineSeconds != 20 || !got.EnableMessageOrdering {
			t.Errorf("subscription = ack %ds ordering %t, want 20s and true", got.AckDeadlineSeconds, got.EnableMessageOrdering)
		}
		// Same name on another topic: conflict.
		other, _ := provision(t, ps, nil)
		err = ps.EnsureSubscription(ctx, subs["a"], ports.SubscriptionConfig{Topic: other})
		if !errors.Is(err, ports.ErrConflict) {
			t.Errorf("EnsureSubscription on another topic = %v, want ErrConflict", err)
		}
		for _, field := range []string{"Topic is", "Ordering is true, not false", "AckDeadline is 20s, not 10s"} {
			if err != nil && !strings.Contains(err.Error(), field) {
				t.Errorf("the conflict %q does not name %q", err, field)
			}
		}
		if err := ps.EnsureSubscription(ctx, testenv.UniqueName("s"), ports.SubscriptionConfig{Topic: testenv.UniqueName("missing")}); !errors.Is(err, ports.ErrNotFound) {
			t.Errorf("EnsureSubscription on a missing topic = %v, want ErrNotFound", err)
		}
		if err := ps.EnsureSubscription(ctx, testenv.UniqueName("s"), ports.SubscriptionConfig{Topic: topic, MaxDeliveryAttempts: 5, DeadLetterTopic: testenv.UniqueName("missing")}); !errors.Is(err, ports.ErrNotFound) || !strings.Contains(err.Error(), "dead-letter topic") {
			t.Errorf("EnsureSubscription with a missing dead-letter topic = %v, want ErrNotFound naming it", err)
		}
		// Dead-letter policy.
		dl, _ := provision(t, ps, nil)
		dlSub := testenv.UniqueName("s_dl")
		if err := ps.EnsureSubscription(ctx, dlSub, ports.SubscriptionConfig{Topic: topic, DeadLetterTopic: dl, MaxDeliveryAttempts: 7}); err != nil {
			t.Fatalf("EnsureSubscription with dead letter: %v", err)
		}
		got, err = ps.Client().SubscriptionAdminClient.GetSubscription(ctx, &pubsubpb.GetSubscriptionRequest{
			Subscription: "projects/" + testProject + "/subscriptions/" + dlSub})
		if err != nil {
			t.Fatal(err)
		}
		if p := got.GetDeadLetterPolicy(); p.GetMaxDeliveryAttempts() != 7 || !strings.HasSuffix(p.GetDeadLetterTopic(), "/"+dl) {
			t.Errorf("dead-letter policy = %v", p)
		}
		for _, name := range []string{subs["a"], dlSub} {
			if err := ps.DeleteSubscription(ctx, name); err != nil {
				t.Errorf("DeleteSubscription: %v", err)
			}
		}
		if err := ps.DeleteSubscription(ctx, dlSub); !errors.Is(err, ports.ErrNotFound) {
			t.Errorf("DeleteSubscription twice = %v, want ErrNotFound", err)
		}
		if err := ps.DeleteTopic(ctx, topic); err != nil {
			t.Errorf("DeleteTopic: %v", err)
		}
	})
}

func TestOpenChecksUnlessLazy(t *testing.T) {
	t.Parallel()
	addr := faults.Blackhole(t)
	cfg := pubsub.Config{ProjectID: testProject, EmulatorHost: addr, CheckTimeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := pubsub.Open(t.Context(), cfg, pubsub.WithLogger(testLogger(t)))
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("Open on a dead server = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Open took %s with a 200ms check timeout", d)
	}
	_, err = pubsub.Open(t.Context(), pubsub.Config{EmulatorHost: addr})
	if !errors.Is(err, ports.ErrInvalid) || !strings.Contains(err.Error(), "PUBSUB_PROJECT_ID") {
		t.Errorf("Open with an emulator and no project = %v, want ErrInvalid naming PUBSUB_PROJECT_ID", err)
	}
}

func TestReceiveGoroutinesCapsHandlers(t *testing.T) {
	t.Parallel()
	srv := startPstest(t)
	cfg := pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr}
	cfg.Receive.Streams = 8
	cfg.Receive.Goroutines = 2
	ps := open(t, cfg)
	topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"a": {}})
	const n = 20
	msgs := make([]ports.Message, n)
	for i := range msgs {
		msgs[i] = ports.Message{Data: []byte(strconv.Itoa(i))}
	}
	if _, err := ps.Publish(t.Context(), topic, msgs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var (
		mu            sync.Mutex
		running, peak int
		seen          = map[string]bool{}
	)
	err := ps.Subscribe(ctx, subs["a"], func(_ context.Context, m ports.Message) error {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		mu.Lock()
		running--
		seen[m.ID] = true
		if len(seen) == n {
			cancel()
		}
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if peak > 2 {
		t.Errorf("%d handlers ran at once with PUBSUB_RECEIVE_GOROUTINES=2", peak)
	}
	if len(seen) != n {
		t.Errorf("received %d of %d", len(seen), n)
	}
}

func TestCheckAnswers(t *testing.T) {
	t.Parallel()
	for code, want := range map[codes.Code]error{
		codes.PermissionDenied: nil, // the service answered; the role need not read topics
		codes.Unauthenticated:  ports.ErrPermission,
		codes.Internal:         ports.ErrUnavailable,
	} {
		srv, err := pstestserver.Start("127.0.0.1:0", pstest.WithErrorInjection("GetTopic", code, "injected"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr, CheckTimeout: time.Second}
		ps := open(t, cfg, pubsub.WithLazyConnect())
		err = ps.Check(t.Context())
		if ports.KindOf(err) != want {
			t.Errorf("Check with GetTopic answering %s = %v, want %v", code, err, ports.KindName(want))
		}
		_ = ps.Close(t.Context())
		_ = srv.Close()
	}
}

// streamAckDeadlines opens an adapter on a pstest server that records the
// stream ack deadline of every StreamingPull stream the client opens.
func streamAckDeadlines(t *testing.T, cfg pubsub.Config) (ps *pubsub.PubSub, got func() []int32) {
	t.Helper()
	var (
		mu        sync.Mutex
		deadlines []int32
	)
	intercept := grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			return nil, err
		}
		return recordingStream{ClientStream: cs, record: func(m any) {
			if req, ok := m.(*pubsubpb.StreamingPullRequest); ok && req.StreamAckDeadlineSeconds != 0 {
				mu.Lock()
				deadlines = append(deadlines, req.StreamAckDeadlineSeconds)
				mu.Unlock()
			}
		}}, nil
	})
	ps = open(t, cfg, pubsub.WithClientOptions(option.WithGRPCDialOption(intercept)))
	return ps, func() []int32 {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(deadlines)
	}
}

type recordingStream struct {
	grpc.ClientStream
	record func(m any)
}

func (s recordingStream) SendMsg(m any) error {
	s.record(m)
	return s.ClientStream.SendMsg(m)
}

// TestSubscribeStreamAckDeadline: Subscribe asks for a stream ack
// deadline of Receive.MaxAckExtension (default 10s, where the client's
// own is 60s), which bounds how long a message pushed into a broken
// stream stays invisible.
func TestSubscribeStreamAckDeadline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		ext  time.Duration
		want int32
	}{{0, 10}, {30 * time.Second, 30}} {
		t.Run(strconv.Itoa(int(tc.want)), func(t *testing.T) {
			t.Parallel()
			srv := startPstest(t)
			cfg := pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr}
			cfg.Receive.Streams = 2
			cfg.Receive.MaxAckExtension = tc.ext
			ps, got := streamAckDeadlines(t, cfg)
			_, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"a": {}})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				done <- ps.Subscribe(ctx, subs["a"], func(context.Context, ports.Message) error { return nil })
			}()
			deadline := time.Now().Add(10 * time.Second)
			for len(got()) < cfg.Receive.Streams && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Subscribe: %v", err)
			}
			d := got()
			if len(d) < cfg.Receive.Streams {
				t.Fatalf("%d streams opened with a stream ack deadline, want %d", len(d), cfg.Receive.Streams)
			}
			for _, s := range d {
				if s != tc.want {
					t.Errorf("stream ack deadline %ds, want %ds", s, tc.want)
				}
			}
		})
	}
}
