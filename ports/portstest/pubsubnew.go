package portstest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

func pubsubNewCases() []testCase[*psEnv] {
	return []testCase[*psEnv]{
		{"AdminEnsure", func(t *testing.T, e *psEnv) {
			if e.Admin == nil {
				t.Skip("PubSubSetup.Admin is nil")
			}
			ctx := caseCtx(t)
			topic, sub := e.prefix+"-admin", e.prefix+"-admin-sub"
			wantNoErr(t, "EnsureTopic", e.Admin.EnsureTopic(ctx, topic))
			wantNoErr(t, "EnsureTopic of an existing topic", e.Admin.EnsureTopic(ctx, topic))
			cfg := ports.SubscriptionConfig{Topic: topic, AckDeadline: 20 * time.Second}
			wantNoErr(t, "EnsureSubscription", e.Admin.EnsureSubscription(ctx, sub, cfg))
			wantNoErr(t, "EnsureSubscription of an existing one with the same config", e.Admin.EnsureSubscription(ctx, sub, cfg))
			other := cfg
			other.Ordering = true
			wantOnly(t, "EnsureSubscription of an existing one with another config", e.Admin.EnsureSubscription(ctx, sub, other), ports.ErrConflict)
			for i, bad := range invalidSubscriptionConfigs(topic) {
				wantOnly(t, fmt.Sprintf("EnsureSubscription with invalid config %d (%+v)", i, bad), e.Admin.EnsureSubscription(ctx, fmt.Sprintf("%s-bad%d", e.prefix, i), bad), ports.ErrInvalid)
			}
			wantOnly(t, "EnsureSubscription to an unknown topic", e.Admin.EnsureSubscription(ctx, e.prefix+"-orphan", ports.SubscriptionConfig{Topic: e.prefix + "-missing"}), ports.ErrNotFound)
			ms := msgs("admin", 2)
			e.publish(t, ctx, topic, ms...)
			r := e.subscribe(t, sub, nil)
			r.awaitAll(t, "delivery on an ensured subscription", ms)
		}},
		{"InvalidMessages", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			rng := newRand(3)
			seen := map[string]bool{}
			for range 300 {
				m := badMessage(rng, "bad")
				rule := ruleOf(ports.ValidateMessage(m))
				if seen[rule] {
					continue
				}
				seen[rule] = true
				_, err := e.Publisher.Publish(ctx, topic, ports.Message{Data: []byte("good-in-bad-call")}, m)
				wantOnly(t, "Publish of a good message and one breaking the rule: "+rule, err, ports.ErrInvalid)
			}
			ms := msgs("after", 1)
			e.publish(t, ctx, topic, ms...)
			r := e.subscribe(t, sub, nil)
			r.awaitAll(t, "delivery of a good message published after the refused calls", ms)
			time.Sleep(200 * time.Millisecond)
			for _, m := range r.deliveries() {
				if string(m.Data) != "after-000" {
					t.Errorf("a message of a refused Publish call was delivered: %q", abbrev(m.Data))
				}
			}
		}},
		{"BadMessageIsolated", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			var good []ports.Message
			var mu sync.Mutex
			errs := parallel16(func(g int) error {
				if g == 0 {
					for range 10 {
						if _, err := e.Publisher.Publish(ctx, topic, ports.Message{Data: []byte("poison"), Attributes: map[string]string{"k": "\xff"}}); err == nil {
							return fmt.Errorf("the poison message was accepted")
						}
					}
					return nil
				}
				for i := range 5 {
					m := ports.Message{Data: fmt.Appendf(nil, "g%02d-%d", g, i), Attributes: map[string]string{"k": "v"}}
					if _, err := e.Publisher.Publish(ctx, topic, m); err != nil {
						return err
					}
					mu.Lock()
					good = append(good, m)
					mu.Unlock()
				}
				return nil
			})
			wantNoErr(t, "15 goroutines publishing good messages while one publishes an invalid one", firstErr(errs))
			r := e.subscribe(t, sub, nil)
			r.awaitAll(t, "delivery of every good message", good)
		}},
		{"DeliveryAttemptWithoutDeadLetter", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			e.publish(t, ctx, topic, msgs("zero", 1)...)
			r := e.subscribe(t, sub, func(_ context.Context, _ ports.Message, n int) error {
				if n < 3 {
					return errNack
				}
				return nil
			})
			r.await(t, "three deliveries of a nacked message", func() bool { return r.counts()["zero-000"] >= 3 })
			for i, m := range r.deliveries()[:3] {
				want := 0
				if e.Caps.DeliveryAttempt {
					want = i + 1
				}
				if m.DeliveryAttempt != want {
					t.Errorf("delivery %d on a subscription without a dead-letter policy reported DeliveryAttempt %d, want %d", i+1, m.DeliveryAttempt, want)
				}
			}
		}},
		{"DeadLetter", func(t *testing.T, e *psEnv) {
			if !e.Caps.DeadLetter {
				t.Skip("needs PubSubCaps.DeadLetter")
			}
			ctx := caseCtx(t)
			dlt, dsubs := e.provisionTopic(t, ctx, "dlt", subSpec{name: "dlsub"})
			topic, subs := e.provision(t, ctx, subSpec{"dl", ports.SubscriptionConfig{MaxDeliveryAttempts: 5, DeadLetterTopic: dlt}})
			m := ports.Message{Data: []byte("doomed"), Attributes: map[string]string{"orig": "yes"}}
			e.publish(t, ctx, topic, m)
			r := e.subscribe(t, subs[0], func(context.Context, ports.Message, int) error { return errNack })
			dl := e.subscribe(t, dsubs[0], nil)
			dl.awaitAll(t, "the message on the dead-letter topic after 5 failed deliveries", []ports.Message{m})
			r.stop(t)
			var attempts []int
			for _, d := range r.deliveries() {
				attempts = append(attempts, d.DeliveryAttempt)
			}
			if len(attempts) < 5 || !slices.Equal(attempts[:5], []int{1, 2, 3, 4, 5}) {
				t.Errorf("deliveries before dead-lettering reported DeliveryAttempt %v, want 1 2 3 4 5", attempts)
			}
			got := dl.first()["doomed"]
			if got.Attributes["orig"] != "yes" {
				t.Errorf("the dead-lettered message lost its attributes: %v", got.Attributes)
			}
			for _, k := range []string{ports.AttrDeadLetterDeliveryCount, ports.AttrDeadLetterSubscription, ports.AttrDeadLetterSubscriptionProject, ports.AttrDeadLetterTopicPublishTime} {
				if _, ok := got.Attributes[k]; !ok {
					t.Errorf("the dead-lettered message has no attribute %s (it has %v)", k, slices.Sorted(maps.Keys(got.Attributes)))
				}
			}
			if c := got.Attributes[ports.AttrDeadLetterDeliveryCount]; c != "5" {
				t.Errorf("%s = %q, want 5", ports.AttrDeadLetterDeliveryCount, c)
			}
		}},
		{"OrderingAfterNack", func(t *testing.T, e *psEnv) {
			if !e.Caps.Ordering {
				t.Skip("needs PubSubCaps.Ordering")
			}
			ctx := caseCtx(t)
			topic, subs := e.provision(t, ctx, subSpec{"ord", ports.SubscriptionConfig{Ordering: true}})
			var batch []ports.Message
			var want []string
			for i := range 6 {
				m := ports.Message{Data: fmt.Appendf(nil, "A%d", i), OrderingKey: "A"}
				batch = append(batch, m)
				want = append(want, string(m.Data))
			}
			e.publish(t, ctx, topic, batch...)
			// The port's rule (Google's): messages of a key are delivered
			// in order; after A2 is nacked it is delivered again, followed
			// again by every later message of the key (A3, A4, A5), in
			// order.
			var mu sync.Mutex
			var log []string  // every delivery, in order
			redelivered := -1 // index in log of A2's second delivery
			r := e.subscribe(t, subs[0], func(_ context.Context, m ports.Message, n int) error {
				mu.Lock()
				defer mu.Unlock()
				log = append(log, string(m.Data))
				if string(m.Data) == "A2" {
					if n == 1 {
						return errNack
					}
					if redelivered < 0 {
						redelivered = len(log) - 1
					}
				}
				return nil
			})
			r.await(t, "A2 delivered again, then A5 after it", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return redelivered >= 0 && slices.Contains(log[redelivered:], "A5")
			})
			mu.Lock()
			defer mu.Unlock()
			var first []string
			for _, d := range log {
				if !slices.Contains(first, d) {
					first = append(first, d)
				}
			}
			if !slices.Equal(first, want) {
				t.Errorf("first deliveries of one ordering key came in the order %v, want %v", first, want)
			}
			var after []string
			for _, d := range log[redelivered:] {
				if len(after) < 4 && d == want[2+len(after)] {
					after = append(after, d)
				}
			}
			if !slices.Equal(after, want[2:]) {
				t.Errorf("deliveries from A2's redelivery on were %v: want A2 followed again by A3, A4, A5 in order (the whole log: %v)", log[redelivered:], log)
			}
		}},
		{"ShutdownGrace", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			grace := e.ShutdownGrace
			if grace == 0 {
				grace = ports.DefaultShutdownGrace
			}
			started := make(chan struct{})
			var liveAfterCancel atomic.Bool
			var cancelledAt atomic.Int64
			sctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			var once sync.Once
			go func() {
				done <- e.Subscriber.Subscribe(sctx, sub, func(hctx context.Context, m ports.Message) error {
					once.Do(func() { close(started) })
					<-sctx.Done()
					time.Sleep(300 * time.Millisecond)
					liveAfterCancel.Store(hctx.Err() == nil)
					<-hctx.Done()
					cancelledAt.Store(time.Now().UnixNano())
					return hctx.Err()
				})
			}()
			e.publish(t, ctx, topic, msgs("grace", 1)...)
			select {
			case <-started:
			case <-time.After(deliveryWait):
				t.Fatal("the message was not delivered")
			}
			cancelled := time.Now()
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Subscribe returned %v after its ctx ended, want nil", err)
				}
			case <-time.After(grace + 10*time.Second):
				t.Fatalf("Subscribe did not return within the shutdown grace (%v) and 10s", grace)
			}
			if !liveAfterCancel.Load() {
				t.Errorf("the handler's context was cancelled within 300ms of Subscribe's: it must stay live for the shutdown grace")
			}
			if at := cancelledAt.Load(); at == 0 {
				t.Errorf("Subscribe returned before its running handler did")
			} else if d := time.Unix(0, at).Sub(cancelled); d > grace+5*time.Second {
				t.Errorf("the handler's context was cancelled %v after Subscribe's, want within the grace of %v", d, grace)
			}
		}},
		{"SubscribeDoneContext", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			_, sub := e.provision1(t, ctx)
			for _, name := range []string{sub, e.prefix + "-missing"} {
				var err error
				if prompt(t, "Subscribe with a cancelled context", promptBound, func() {
					err = e.Subscriber.Subscribe(cancelledCtx(), name, func(context.Context, ports.Message) error { return nil })
				}) {
					wantOnly(t, "Subscribe("+name+") with a cancelled context", err, ports.ErrUnavailable)
				}
			}
		}},
		{"DefaultConcurrency", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			want := e.MaxConcurrency
			if want == 0 {
				want = ports.DefaultMaxConcurrency
			}
			e.publish(t, ctx, topic, msgs("conc", want+8)...)
			var running, peak atomic.Int64
			release := make(chan struct{})
			r := e.subscribe(t, sub, func(hctx context.Context, _ ports.Message, _ int) error {
				n := running.Add(1)
				defer running.Add(-1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				select {
				case <-release:
				case <-hctx.Done():
				}
				return nil
			})
			waitFor(t, deliveryWait, func() bool { return peak.Load() >= int64(want) })
			time.Sleep(500 * time.Millisecond) // room for one too many
			got := peak.Load()
			close(release)
			r.stop(t)
			if got != int64(want) {
				t.Errorf("at most %d handlers ran at once, want %d (the configured, or default, concurrency)", got, want)
			}
		}},
		{"NilContext", func(t *testing.T, e *psEnv) {
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			x := &PubSubErrors{Publisher: e.Publisher, Subscriber: e.Subscriber, Admin: e.Admin}
			for _, c := range pubsubCalls(x, topic, sub, false) {
				err := noPanic(t, c.name, func() error { return c.fn(nil) })
				wantOnly(t, c.name+" with a nil context", err, ports.ErrInvalid)
			}
		}},
		{"ClosedBeforeArguments", func(t *testing.T, e *psEnv) {
			if e.Connector == nil {
				t.Skip("PubSubSetup.Connector is nil")
			}
			ctx := caseCtx(t)
			topic, sub := e.provision1(t, ctx)
			closeConn(t, e.Connector)
			x := &PubSubErrors{Publisher: e.Publisher, Subscriber: e.Subscriber, Admin: e.Admin}
			for _, c := range slices.Concat(pubsubCalls(x, topic, sub, true), pubsubCalls(x, topic, sub, false)) {
				wantOnly(t, c.name+" after Close", noPanic(t, c.name, func() error { return c.fn(ctx) }), ports.ErrClosed)
			}
		}},
	}
}
