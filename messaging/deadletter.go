package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// Attributes [DeadLetter] adds to a dead-lettered message, besides the
// port's ports.AttrDeadLetterSubscription (the source subscription),
// ports.AttrDeadLetterDeliveryCount and ports.AttrDeadLetterTopicPublishTime
// (Google's names, so that a dead-letter topic reads alike whoever moved
// the message there).
const (
	// AttrDeadLetterReason holds why the message was moved: the error's
	// kind and text, truncated to the attribute value limit.
	AttrDeadLetterReason = "portkit-dead-letter-reason"
	// AttrDeadLetterMessageID holds the server-assigned ID the message had
	// on the source subscription.
	AttrDeadLetterMessageID = "portkit-dead-letter-source-message-id"
)

// DeadLetterConfig configures [DeadLetter].
type DeadLetterConfig struct {
	// Publisher publishes to Topic (required).
	Publisher ports.Publisher
	// Topic is the dead-letter topic (required).
	Topic string
	// Subscription names the source subscription, recorded in each
	// dead-lettered message (required).
	Subscription string
	// MaxDeliveries is how many failed deliveries move a message (>= 1).
	MaxDeliveries int
	// Counter counts failed deliveries when the backend does not report
	// Message.DeliveryAttempt (default: NewLocalCounter(0), in process).
	Counter DeliveryCounter
	// Logger receives one line per moved message (slog.Default() when nil).
	Logger *slog.Logger
}

// DeadLetter moves a message that keeps failing to a dead-letter topic:
// when the handler fails for the cfg.MaxDeliveries-th time, or fails with
// a permanent error (see [IsPermanent]: a decode failure, a panic under
// Recover, an error marked with Permanent), it publishes the message to
// cfg.Topic through cfg.Publisher, with its data, ordering key and
// original attributes plus the source subscription, the delivery count,
// the original publish time, the source message ID and the reason (see
// the Attr constants), then acks it. If that publish fails, the message is
// nacked, never lost. A success acks as usual.
//
// The count of deliveries is Message.DeliveryAttempt when the backend
// reports it (Google Pub/Sub does only on a subscription with a dead-letter
// policy; NATS JetStream always does). Otherwise cfg.Counter counts the
// failed deliveries of each message by [MessageKey]: by default a bounded
// table in process memory (see [LocalCounter] for what it cannot see), or
// a [CacheCounter] shared by the replicas.
//
// When the message has so many attributes that the added ones would break
// the port's limits, those that do not fit are left out (the reason is
// added first).
func DeadLetter(cfg DeadLetterConfig) (Middleware, error) {
	switch {
	case cfg.Publisher == nil:
		return nil, configError("dead letter", "Publisher is required")
	case cfg.Topic == "":
		return nil, configError("dead letter", "Topic is required")
	case cfg.Subscription == "":
		return nil, configError("dead letter", "Subscription is required")
	case cfg.MaxDeliveries < 1:
		return nil, configError("dead letter", "MaxDeliveries %d must be at least 1", cfg.MaxDeliveries)
	}
	if cfg.Counter == nil {
		cfg.Counter = NewLocalCounter(0)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return func(next ports.Handler) ports.Handler {
		return func(ctx context.Context, m ports.Message) error {
			err := next(ctx, m)
			key := MessageKey(m)
			counted := m.DeliveryAttempt == 0 && key != ""
			if err == nil {
				if counted {
					_ = cfg.Counter.Forget(ctx, key)
				}
				return nil
			}
			n := m.DeliveryAttempt
			if !IsPermanent(err) {
				if !counted {
					if n == 0 { // no count and no key: the backend redelivers for ever
						return err
					}
				} else {
					c, cerr := cfg.Counter.Failed(ctx, key)
					if cerr != nil {
						cfg.Logger.WarnContext(ctx, "messaging: cannot count a failed delivery",
							slog.String("subscription", cfg.Subscription), slog.String("message_id", m.ID), slog.Any("error", cerr))
						return err
					}
					n = c
				}
				if n < cfg.MaxDeliveries {
					return err
				}
			}
			dead := deadLetterMessage(m, err, cfg.Subscription, n)
			if _, perr := cfg.Publisher.Publish(ctx, cfg.Topic, dead); perr != nil {
				cfg.Logger.ErrorContext(ctx, "messaging: cannot dead-letter a message; nacked",
					slog.String("subscription", cfg.Subscription), slog.String("message_id", m.ID), slog.Any("error", perr))
				return errors.Join(err, fmt.Errorf("messaging: dead-letter publish to %s: %w", cfg.Topic, perr))
			}
			if counted {
				_ = cfg.Counter.Forget(ctx, key)
			}
			// The handler call's process span (when a portkit subscriber
			// or telemetry.Handler records it) says so, and the message
			// counts in portkit.messaging.dead_lettered.messages.
			obs.MarkDeadLettered(ctx)
			cfg.Logger.WarnContext(ctx, "messaging: message moved to the dead-letter topic",
				slog.String("subscription", cfg.Subscription), slog.String("topic", cfg.Topic),
				slog.String("message_id", m.ID), slog.Int("deliveries", n),
				slog.Bool("permanent", IsPermanent(err)), slog.String("error_kind", ports.KindName(err)))
			return nil
		}
	}, nil
}

// deadLetterMessage is m as it goes to the dead-letter topic.
func deadLetterMessage(m ports.Message, cause error, subscription string, deliveries int) ports.Message {
	extra := [][2]string{
		{AttrDeadLetterReason, reason(cause)},
		{ports.AttrDeadLetterSubscription, subscription},
		{AttrDeadLetterMessageID, m.ID},
	}
	if deliveries > 0 {
		extra = append(extra, [2]string{ports.AttrDeadLetterDeliveryCount, strconv.Itoa(deliveries)})
	}
	if !m.PublishTime.IsZero() {
		extra = append(extra, [2]string{ports.AttrDeadLetterTopicPublishTime, m.PublishTime.UTC().Format(time.RFC3339Nano)})
	}
	dead := ports.Message{Data: m.Data, OrderingKey: m.OrderingKey, Attributes: withAttributes(m.Attributes, len(extra))}
	size := ports.MessageSize(dead)
	for _, kv := range extra {
		k, v := kv[0], kv[1]
		if v == "" {
			continue
		}
		grown := size + len(k) + len(v)
		if old, ok := dead.Attributes[k]; ok {
			grown -= len(k) + len(old)
		} else if len(dead.Attributes) >= ports.MaxAttributes {
			continue
		}
		if grown > ports.MaxMessageBytes {
			continue
		}
		dead.Attributes[k] = v
		size = grown
	}
	return dead
}

// reason renders err for AttrDeadLetterReason: "ErrInvalid: ..." (the
// kind, when err has one, and the text), valid
// UTF-8, at most ports.MaxAttributeValueBytes.
func reason(err error) string {
	s := err.Error()
	if k := ports.KindName(err); k != "none" {
		s = k + ": " + s
	}
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= ports.MaxAttributeValueBytes {
		return s
	}
	s = s[:ports.MaxAttributeValueBytes]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}
