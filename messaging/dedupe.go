package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/portkit/portkit/ports"
)

// ErrInProgress is the error (wrapping ports.ErrConflict) a delivery gets
// from [Dedupe] while another delivery of the same message is being
// handled: the message is nacked and comes back once that one is done.
var ErrInProgress = errors.New("messaging: another delivery of this message is being handled")

// DedupeConfig configures [Dedupe].
type DedupeConfig struct {
	// Cache holds the keys of the messages seen (required).
	Cache ports.Cache
	// Consumer names the consumer, so that two consumers of one message
	// each handle it once (required). Keys are
	// Prefix + Consumer + ":" + MessageKey(m).
	Consumer string
	// Prefix is prepended to every key (default "dedupe:").
	Prefix string
	// TTL is how long a handled message is remembered: a duplicate that
	// arrives later is handled again (default 24 h; make it longer than
	// the longest redelivery horizon, e.g. the subscription's retention).
	TTL time.Duration
	// Lease is how long a delivery in progress holds its claim: if its
	// consumer dies, a redelivery handles the message after Lease (default
	// 10 min, the largest ack deadline; it must be longer than a handler
	// may run, Retry included).
	Lease time.Duration
	// Logger receives the failures to record a handled message
	// (slog.Default() when nil).
	Logger *slog.Logger
}

const (
	dedupePending = "pending"
	dedupeDone    = "done"
)

// Dedupe makes a handler idempotent over a ports.Cache (Redis): each
// message, by [MessageKey] (its stable AttrMessageID, which the outbox and
// Publish set), is handled at most once per cfg.TTL, however often it is
// delivered or published.
//
// A delivery first claims the key with SetNX for cfg.Lease, then runs the
// handler; on success it records the key as done for cfg.TTL and acks; on
// failure it deletes the claim and nacks, so that a redelivery can try
// again. A delivery that finds the key done acks without running the
// handler; one that finds it claimed nacks with ErrInProgress. A consumer
// that dies holding a claim delays its message by at most cfg.Lease.
//
// The cache makes handling at most once per key and the subscription
// makes it at least once, but not atomically with the handler's effects:
// if the process dies after the handler's effects and before the done
// record, the message is handled again after the lease. For exactly-once
// effects in a SQL database, use [DedupeTx]. When the cache cannot be
// reached the message is nacked (it waits for the cache rather than risk a
// duplicate); a message without any key is handled without deduplication.
func Dedupe(cfg DedupeConfig) (Middleware, error) {
	switch {
	case cfg.Cache == nil:
		return nil, configError("dedupe", "Cache is required")
	case cfg.Consumer == "":
		return nil, configError("dedupe", "Consumer is required")
	case cfg.TTL < 0 || cfg.Lease < 0:
		return nil, configError("dedupe", "TTL %v and Lease %v must not be negative", cfg.TTL, cfg.Lease)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "dedupe:"
	}
	if cfg.TTL == 0 {
		cfg.TTL = 24 * time.Hour
	}
	if cfg.Lease == 0 {
		cfg.Lease = ports.MaxAckDeadline
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return func(next ports.Handler) ports.Handler {
		return func(ctx context.Context, m ports.Message) error {
			id := MessageKey(m)
			if id == "" {
				return next(ctx, m)
			}
			key := cfg.Prefix + cfg.Consumer + ":" + id
			claimed, err := cfg.Cache.SetNX(ctx, key, []byte(dedupePending), cfg.Lease)
			if err != nil {
				return fmt.Errorf("messaging: dedupe: claim: %w", err)
			}
			if !claimed {
				v, err := cfg.Cache.Get(ctx, key)
				switch {
				case err == nil && string(v) == dedupeDone:
					return nil // a duplicate: handled already
				case err == nil || errors.Is(err, ports.ErrNotFound):
					// Claimed by another delivery (or released just now):
					// come back later.
					return ports.NewError("messaging", "dedupe", ports.ErrConflict, ErrInProgress)
				default:
					return fmt.Errorf("messaging: dedupe: read claim: %w", err)
				}
			}
			if herr := next(ctx, m); herr != nil {
				dctx, cancel := detached(ctx)
				defer cancel()
				if err := cfg.Cache.Delete(dctx, key); err != nil {
					cfg.Logger.WarnContext(ctx, "messaging: dedupe: cannot release a claim; the message waits for its lease",
						slog.String("consumer", cfg.Consumer), slog.String("message_id", m.ID), slog.Any("error", err))
				}
				return herr
			}
			dctx, cancel := detached(ctx)
			defer cancel()
			if err := cfg.Cache.Set(dctx, key, []byte(dedupeDone), cfg.TTL); err != nil {
				cfg.Logger.WarnContext(ctx, "messaging: dedupe: cannot record a handled message; a redelivery may handle it again",
					slog.String("consumer", cfg.Consumer), slog.String("message_id", m.ID), slog.Any("error", err))
			}
			return nil
		}
	}, nil
}

// detached returns a context that outlives ctx's cancellation (so that
// the bookkeeping after a handler still happens when the handler's context
// has ended), with its values, bounded by ports.DefaultCheckTimeout.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), ports.DefaultCheckTimeout)
}
