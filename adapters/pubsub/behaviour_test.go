package pubsub_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
)

// TestHandlerContextAfterSubscribeEnds: when Subscribe's ctx ends, running
// handlers keep a live context for the shutdown grace, then it is
// cancelled; one that returns then is acked, one that ignores it is
// abandoned a second later and its message nacked; Subscribe returns nil.
func TestHandlerContextAfterSubscribeEnds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		const grace = time.Second
		cfg.Receive.ShutdownTimeout = grace
		ps := open(t, cfg)
		topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"a": {}})
		if _, err := ps.Publish(t.Context(), topic, ports.Message{Data: []byte("polite")}, ports.Message{Data: []byte("stubborn")}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		var (
			started   sync.WaitGroup
			cancelled atomic.Int64 // when the polite handler's context ended, since cancel
			release   = make(chan struct{})
			returned  = make(chan struct{})
			cancelAt  atomic.Int64
		)
		started.Add(2)
		var once sync.Map
		done := make(chan error, 1)
		go func() {
			done <- ps.Subscribe(ctx, subs["a"], func(hctx context.Context, m ports.Message) error {
				if _, dup := once.LoadOrStore(string(m.Data), true); dup {
					return nil // a redelivery: not part of this test
				}
				started.Done()
				if string(m.Data) == "stubborn" {
					<-release // ignores its context
					close(returned)
					return nil
				}
				<-hctx.Done()
				cancelled.Store(time.Now().UnixNano() - cancelAt.Load())
				return nil
			})
		}()
		started.Wait()
		cancelAt.Store(time.Now().UnixNano())
		cancel()
		var err error
		select {
		case err = <-done:
		case <-time.After(grace + 10*time.Second):
			t.Fatal("Subscribe did not return after its shutdown grace and the abandon delay")
		}
		took := time.Duration(time.Now().UnixNano() - cancelAt.Load())
		close(release)
		<-returned
		if err != nil {
			t.Errorf("Subscribe = %v, want nil", err)
		}
		if c := time.Duration(cancelled.Load()); c < grace {
			t.Errorf("the running handler's context ended %s after Subscribe's, before the grace %s", c, grace)
		}
		if took < grace+time.Second {
			t.Errorf("Subscribe returned %s after its context ended, before the grace and the abandon delay (%s)", took, grace+time.Second)
		}
		// The polite message was acked, the stubborn one nacked.
		again := receiveN(t, ps, subs["a"], 1, time.Minute)
		for _, m := range again {
			if string(m.Data) == "polite" {
				t.Error("the message whose handler returned nil after its context ended was redelivered")
			}
		}
	})
}

// TestDefaultConcurrency: with no setting, at most
// ports.DefaultMaxConcurrency handlers run at once.
func TestDefaultConcurrency(t *testing.T) {
	t.Parallel()
	srv := startPstest(t)
	cfg := pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr}
	cfg.Receive.Streams = 16
	ps := open(t, cfg)
	topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"a": {}})
	const n = 3 * ports.DefaultMaxConcurrency
	msgs := make([]ports.Message, n)
	for i := range msgs {
		msgs[i] = ports.Message{Data: []byte(strconv.Itoa(i))}
	}
	if _, err := ps.Publish(t.Context(), topic, msgs...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var running, peak, handled atomic.Int64
	release := make(chan struct{})
	go func() {
		for running.Load() < ports.DefaultMaxConcurrency && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // every chance to start more
		close(release)
	}()
	err := ps.Subscribe(ctx, subs["a"], func(context.Context, ports.Message) error {
		r := running.Add(1)
		for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
		}
		<-release
		running.Add(-1)
		if handled.Add(1) == n {
			cancel()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p != ports.DefaultMaxConcurrency {
		t.Errorf("at most %d handlers ran at once, want ports.DefaultMaxConcurrency = %d", p, ports.DefaultMaxConcurrency)
	}
}

// attempts subscribes until h has seen n deliveries of the message with
// data "m" and returns their DeliveryAttempt values; h nacks them all.
func attempts(t *testing.T, ps *pubsub.PubSub, sub string, n int) []int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var (
		mu  sync.Mutex
		got []int
	)
	err := ps.Subscribe(ctx, sub, func(_ context.Context, m ports.Message) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m.DeliveryAttempt)
		if len(got) == n {
			cancel()
		}
		return errors.New("nack")
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return slices.Clone(got)
}

// TestDeliveryAttempt: without a dead-letter policy DeliveryAttempt is 0
// on both servers, as the port says; with one, both count from 1.
func TestDeliveryAttempt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		ps := open(t, cfg)
		dead, _ := provision(t, ps, nil)
		// One topic per subscription: pstest counts the deliveries of a
		// message across subscriptions.
		plainTopic, plain := provision(t, ps, map[string]ports.SubscriptionConfig{"plain": {}})
		dlTopic, dl := provision(t, ps, map[string]ports.SubscriptionConfig{"dl": {MaxDeliveryAttempts: 5, DeadLetterTopic: dead}})
		for _, topic := range []string{plainTopic, dlTopic} {
			if _, err := ps.Publish(t.Context(), topic, ports.Message{Data: []byte("m")}); err != nil {
				t.Fatal(err)
			}
		}
		if got := attempts(t, ps, plain["plain"], 3); fmt.Sprint(got) != "[0 0 0]" {
			t.Errorf("without a dead-letter policy: DeliveryAttempt %v, want [0 0 0]", got)
		}
		if got := attempts(t, ps, dl["dl"], 3); fmt.Sprint(got) != "[1 2 3]" {
			t.Errorf("with a dead-letter policy: DeliveryAttempt %v, want [1 2 3]", got)
		}
	})
}

// TestDeadLetterAttributes: a dead-lettered message carries its
// attributes and the four ports.AttrDeadLetter* on Google's emulator, as
// a new message (pstest forwards the message itself and adds none:
// recorded).
func TestDeadLetterAttributes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		ps := open(t, cfg)
		dead, dsubs := provision(t, ps, map[string]ports.SubscriptionConfig{"d": {}})
		topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"dl": {MaxDeliveryAttempts: 5, DeadLetterTopic: dead}})
		ids, err := ps.Publish(t.Context(), topic, ports.Message{Data: []byte("m"), Attributes: map[string]string{"own": "1"}})
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go func() { <-stop; cancel() }()
			_ = ps.Subscribe(ctx, subs["dl"], func(context.Context, ports.Message) error { return errors.New("nack") })
		})
		got := receiveN(t, ps, dsubs["d"], 1, 2*time.Minute)
		close(stop)
		wg.Wait()
		m := got[0]
		if m.Attributes["own"] != "1" {
			t.Errorf("dead-lettered message with attributes %v: want its own too", m.Attributes)
		}
		// A new message on the emulator; pstest forwards the same one.
		if newID := m.ID != ids[0]; newID == onPstest(t) {
			t.Errorf("dead-lettered message ID %q, published as %q (recorded: new on the emulator, the same on pstest)", m.ID, ids[0])
		}
		keys := []string{ports.AttrDeadLetterDeliveryCount, ports.AttrDeadLetterSubscription, ports.AttrDeadLetterSubscriptionProject, ports.AttrDeadLetterTopicPublishTime}
		if onPstest(t) {
			for _, k := range keys {
				if _, ok := m.Attributes[k]; ok {
					t.Errorf("pstest now sets %s: update the record", k)
				}
			}
			return
		}
		want := map[string]string{
			ports.AttrDeadLetterDeliveryCount:       "5",
			ports.AttrDeadLetterSubscription:        subs["dl"],
			ports.AttrDeadLetterSubscriptionProject: testProject,
		}
		for k, v := range want {
			if m.Attributes[k] != v {
				t.Errorf("%s = %q, want %q", k, m.Attributes[k], v)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, m.Attributes[ports.AttrDeadLetterTopicPublishTime]); err != nil {
			t.Errorf("%s = %q: %v", ports.AttrDeadLetterTopicPublishTime, m.Attributes[ports.AttrDeadLetterTopicPublishTime], err)
		}
		if len(m.Attributes) != 5 {
			t.Errorf("attributes %v: want its own and the 4 dead-letter ones", m.Attributes)
		}
	})
}

// TestOrderingUnderNack records what each server does after a nack on an
// ordering subscription: Google's emulator redelivers the nacked message
// after the later ones of its key (A0 A1 A2 A3 A4 A5 A2), pstest before
// them (A0 A1 A2 A2 A3 A4 A5). Google's service redelivers the nacked
// message and every later message of its key, acknowledged or not, in
// order; the fake follows the service (fakes/pubsub_test.go).
func TestOrderingUnderNack(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		ps := open(t, cfg)
		topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"o": {Ordering: true}})
		var msgs []ports.Message
		for i := range 6 {
			msgs = append(msgs, ports.Message{Data: []byte("A" + strconv.Itoa(i)), OrderingKey: "A"})
		}
		if _, err := ps.Publish(t.Context(), topic, msgs...); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		var (
			mu     sync.Mutex
			seq    []string
			nacked bool
		)
		err := ps.Subscribe(ctx, subs["o"], func(_ context.Context, m ports.Message) error {
			mu.Lock()
			defer mu.Unlock()
			seq = append(seq, string(m.Data))
			if len(seq) == 7 {
				cancel()
			}
			if string(m.Data) == "A2" && !nacked {
				nacked = true
				return errors.New("nack")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		want := "A0 A1 A2 A3 A4 A5 A2"
		if onPstest(t) {
			want = "A0 A1 A2 A2 A3 A4 A5"
		}
		if got := strings.Join(seq, " "); got != want {
			t.Errorf("deliveries %s, want (recorded) %s", got, want)
		}
	})
}

// TestSubscriptionConfigValidated: EnsureSubscription refuses, with
// ErrInvalid and before sending anything, what ports.SubscriptionConfig's
// Validate refuses.
func TestSubscriptionConfigValidated(t *testing.T) {
	t.Parallel()
	srv := startPstest(t)
	ps := open(t, pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr})
	topic, _ := provision(t, ps, nil)
	dead, _ := provision(t, ps, nil)
	for name, cfg := range map[string]ports.SubscriptionConfig{
		"2 attempts":             {Topic: topic, MaxDeliveryAttempts: 2, DeadLetterTopic: dead},
		"101 attempts":           {Topic: topic, MaxDeliveryAttempts: 101, DeadLetterTopic: dead},
		"attempts, no topic":     {Topic: topic, MaxDeliveryAttempts: 5},
		"dead-letter, no count":  {Topic: topic, DeadLetterTopic: dead},
		"ack deadline 601s":      {Topic: topic, AckDeadline: 601 * time.Second},
		"ack deadline 9s":        {Topic: topic, AckDeadline: 9 * time.Second},
		"ack deadline 10.5s":     {Topic: topic, AckDeadline: 10500 * time.Millisecond},
		"no topic":               {},
		"bad dead-letter name":   {Topic: topic, MaxDeliveryAttempts: 5, DeadLetterTopic: "1x"},
		"bad topic name":         {Topic: "x"},
		"full name, wrong kind:": {Topic: "projects/" + testProject + "/subscriptions/" + topic},
	} {
		sub := testenv.UniqueName("s")
		if err := ps.EnsureSubscription(t.Context(), sub, cfg); ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
		if _, err := ps.Client().SubscriptionAdminClient.GetSubscription(t.Context(), &pubsubpb.GetSubscriptionRequest{
			Subscription: "projects/" + testProject + "/subscriptions/" + sub}); err == nil {
			t.Errorf("%s: the subscription was created", name)
		}
	}
}

// TestRecordedBehaviour records what both servers do where the port
// leaves it to the backend, so that the fake can follow Google: message
// IDs (decimal on the emulator, "m<n>" on pstest), publish times
// (millisecond precision on the emulator), an empty attribute map and
// empty data received as nil, the ordering key delivered on a
// subscription without ordering, and a publish to a topic without
// subscriptions accepted.
func TestRecordedBehaviour(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		ps := open(t, cfg)
		alone, _ := provision(t, ps, nil)
		if ids, err := ps.Publish(t.Context(), alone, ports.Message{Data: []byte("nobody listens")}); err != nil || len(ids) != 1 || ids[0] == "" {
			t.Errorf("publish to a topic with no subscription = %q, %v; want an ID", ids, err)
		}
		topic, subs := provision(t, ps, map[string]ports.SubscriptionConfig{"plain": {}})
		ids, err := ps.Publish(t.Context(), topic,
			ports.Message{Data: []byte("keyed"), OrderingKey: "k", Attributes: map[string]string{}},
			ports.Message{Attributes: map[string]string{"only": "attrs"}, Data: []byte{}},
		)
		if err != nil {
			t.Fatal(err)
		}
		idRE := regexp.MustCompile(`^[1-9][0-9]*$`)
		if onPstest(t) {
			idRE = regexp.MustCompile(`^m[0-9]+$`)
		}
		for _, id := range ids {
			if !idRE.MatchString(id) {
				t.Errorf("message ID %q does not match %s", id, idRE)
			}
		}
		got := receiveN(t, ps, subs["plain"], 2, time.Minute)
		byID := map[string]ports.Message{}
		for _, m := range got {
			byID[m.ID] = m
		}
		keyed, attrs := byID[ids[0]], byID[ids[1]]
		if keyed.OrderingKey != "k" {
			t.Errorf("ordering key %q on a subscription without ordering, want it delivered", keyed.OrderingKey)
		}
		if keyed.Attributes != nil {
			t.Errorf("an empty attribute map arrives as %#v, want nil", keyed.Attributes)
		}
		if attrs.Data != nil {
			t.Errorf("empty data arrives as %#v, want nil", attrs.Data)
		}
		if !onPstest(t) && !keyed.PublishTime.Equal(keyed.PublishTime.Truncate(time.Millisecond)) {
			t.Errorf("publish time %s has more than millisecond precision", keyed.PublishTime.Format(time.RFC3339Nano))
		}
		if keyed.DeliveryAttempt != 0 {
			t.Errorf("DeliveryAttempt %d without a dead-letter policy, want 0", keyed.DeliveryAttempt)
		}
	})
}
