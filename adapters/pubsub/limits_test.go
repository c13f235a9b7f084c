package pubsub_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"cloud.google.com/go/pubsub/v2/pstest"

	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/ports"
)

// largest returns the largest message the port allows with the most
// attributes, the longest keys and values, and the longest ordering key:
// ports.MessageSize of it is exactly ports.MaxMessageBytes. tag marks
// its data.
func largest(tag byte) ports.Message {
	attrs := make(map[string]string, ports.MaxAttributes)
	value := strings.Repeat("v", ports.MaxAttributeValueBytes)
	for i := range ports.MaxAttributes {
		key := fmt.Sprintf("%03d", i) + strings.Repeat("k", ports.MaxAttributeKeyBytes-3)
		attrs[key] = value
	}
	m := ports.Message{Attributes: attrs, OrderingKey: strings.Repeat("o", ports.MaxOrderingKeyBytes)}
	m.Data = bytes.Repeat([]byte{tag}, ports.MaxMessageBytes-ports.MessageSize(m))
	return m
}

// longestTopic is a topic ID of the longest length the service allows.
func longestTopic(t *testing.T) string {
	return "t" + strings.Repeat("x", 254-12) + fmt.Sprintf("%012d", time.Now().UnixNano()%1e12)
}

// TestMessageSizeLimit: a message of exactly ports.MaxMessageBytes, with
// the most and longest attributes and the longest ordering key, to the
// topic with the longest name, is published and received intact; one
// byte more is ErrInvalid and nothing is sent. Several such messages in
// one call are split into requests under the service's 10 MB limit
// (pstestserver refuses a larger request as the service does).
func TestMessageSizeLimit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, cfg pubsub.Config) {
		ps := open(t, cfg)
		ctx := t.Context()
		topic := longestTopic(t)
		if len(topic) != 255 {
			t.Fatalf("topic name of %d characters", len(topic))
		}
		if err := ps.EnsureTopic(ctx, topic); err != nil {
			t.Fatal(err)
		}
		sub := "s" + topic[1:]
		if err := ps.EnsureSubscription(ctx, sub, ports.SubscriptionConfig{Topic: topic, AckDeadline: time.Minute}); err != nil {
			t.Fatal(err)
		}
		over := largest('x')
		over.Data = append(over.Data, 'x')
		if _, err := ps.Publish(ctx, topic, ports.Message{Data: []byte("small")}, over); ports.KindOf(err) != ports.ErrInvalid {
			t.Errorf("a message one byte over the limit = %v, want ErrInvalid", err)
		}
		msgs := []ports.Message{largest('a'), largest('b'), largest('c')}
		ids, err := ps.Publish(ctx, topic, msgs...)
		if err != nil {
			t.Fatalf("three messages of exactly ports.MaxMessageBytes in one call: %v", err)
		}
		got := receiveN(t, ps, sub, len(ids), 2*time.Minute)
		seen := map[string]bool{}
		for _, m := range got {
			if m.Data[0] == 's' || m.Data[0] == 'x' {
				t.Fatalf("received a message of the refused call: %.10q", m.Data)
			}
			want := msgs[m.Data[0]-'a']
			if ports.MessageSize(m) != ports.MaxMessageBytes || !bytes.Equal(m.Data, want.Data) ||
				len(m.Attributes) != ports.MaxAttributes || m.OrderingKey != want.OrderingKey {
				t.Errorf("message %c received with size %d, %d attributes", m.Data[0], ports.MessageSize(m), len(m.Attributes))
			}
			seen[string(m.Data[:1])] = true
		}
		if len(seen) != 3 {
			t.Errorf("received %d of the 3 large messages", len(seen))
		}
	})
}

// TestValidateMessageRules: each rule of ports.ValidateMessage is
// ErrInvalid before anything is sent, naming the message and the rule.
func TestValidateMessageRules(t *testing.T) {
	t.Parallel()
	srv := startPstest(t)
	ps := open(t, pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr})
	topic, _ := provision(t, ps, nil)
	many := map[string]string{}
	for i := range ports.MaxAttributes + 1 {
		many[fmt.Sprint("k", i)] = "v"
	}
	for name, tc := range map[string]struct {
		m    ports.Message
		rule string
	}{
		"empty":                  {ports.Message{}, "empty message"},
		"empty attributes":       {ports.Message{Attributes: map[string]string{}}, "empty message"},
		"101 attributes":         {ports.Message{Attributes: many}, "101 attributes"},
		"empty key":              {ports.Message{Attributes: map[string]string{"": "v"}}, "empty attribute key"},
		"257-byte key":           {ports.Message{Attributes: map[string]string{strings.Repeat("k", 257): "v"}}, "attribute key of 257 bytes"},
		"1025-byte value":        {ports.Message{Attributes: map[string]string{"k": strings.Repeat("v", 1025)}}, "1025 bytes"},
		"bad UTF-8 key":          {ports.Message{Attributes: map[string]string{"k\xff": "v"}}, "not valid UTF-8"},
		"bad UTF-8 value":        {ports.Message{Attributes: map[string]string{"k": "\xff"}}, "not valid UTF-8"},
		"bad UTF-8 ordering key": {ports.Message{Data: []byte("x"), OrderingKey: "\xff"}, "ordering key is not valid UTF-8"},
		"1025-byte ordering key": {ports.Message{Data: []byte("x"), OrderingKey: strings.Repeat("o", 1025)}, "ordering key of 1025 bytes"},
		"goog key":               {ports.Message{Attributes: map[string]string{"googfoo": "v"}}, `"goog"`},
	} {
		_, err := ps.Publish(t.Context(), topic, ports.Message{Data: []byte("ok")}, tc.m)
		if ports.KindOf(err) != ports.ErrInvalid || !strings.Contains(err.Error(), "message 1 of 2") || !strings.Contains(err.Error(), tc.rule) {
			t.Errorf("%s: %v, want ErrInvalid naming message 1 and %q", name, err, tc.rule)
		}
		if err != nil && strings.Contains(err.Error(), "vvvv") {
			t.Errorf("%s: the error quotes the message's content: %v", name, err)
		}
	}
	if n := len(srv.Fake().Messages()); n != 0 {
		t.Errorf("the server holds %d messages: nothing may be sent when a message is invalid", n)
	}
}

// TestOversizedRequestNotRetried: a server that refuses a request as too
// large (stock pstest takes 4 MiB at most) gets it once, and Publish says
// ErrInvalid at once rather than retrying until the publish timeout.
func TestOversizedRequestNotRetried(t *testing.T) {
	t.Parallel()
	srv := pstest.NewServer()
	t.Cleanup(func() { _ = srv.Close() })
	cfg := pubsub.Config{ProjectID: testProject, EmulatorHost: srv.Addr}
	cfg.Publish.Timeout = time.Minute
	ps := open(t, cfg)
	topic, _ := provision(t, ps, nil)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err := ps.Publish(ctx, topic, ports.Message{Data: make([]byte, 5<<20)})
	took := time.Since(start)
	if ports.KindOf(err) != ports.ErrInvalid || !strings.Contains(err.Error(), "larger than max") {
		t.Errorf("a request over the server's limit = %v, want ErrInvalid", err)
	}
	if took > 5*time.Second {
		t.Errorf("Publish took %s: the refused request was retried", took)
	}
}
