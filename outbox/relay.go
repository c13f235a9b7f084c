package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/propagation"

	"github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/ports"
)

// RelayConfig configures a [Relay].
type RelayConfig struct {
	// Config is the outbox's (Tx, Rows, Partitions), as its Publisher's.
	Config
	// Leases is the store of the coordination table, in any database all
	// the replicas share (required).
	Leases ports.SQLStore[Lease]
	// Target publishes the messages (required): the Pub/Sub adapter, a
	// fake, any ports.Publisher.
	Target ports.Publisher
	// Sent, when set, keeps each published row for Retention, in the same
	// transaction that deletes it from the outbox table; nil deletes
	// published rows outright.
	Sent ports.SQLStore[SentRow]
	// Retention is how long Sent keeps rows (default 7 days).
	Retention time.Duration
	// Name is the Connector name (default "outbox-relay").
	Name string
	// Replica identifies this replica among those sharing the table
	// (default: host name, process ID and a random suffix).
	Replica string
	// BatchSize is the most rows one pass publishes (default 500, at most
	// ports.MaxInValues).
	BatchSize int
	// PollInterval is the wait between two passes that found less than a
	// batch (default 50 ms): it bounds the commit-to-publish latency.
	PollInterval time.Duration
	// LeaseTTL is how long a partition lease lasts unless renewed (default
	// 10 s): a replica that dies holding a partition delays it by about
	// LeaseTTL + ClockSkew. Leases are renewed every LeaseTTL/3.
	LeaseTTL time.Duration
	// ClockSkew is the most the replicas' clocks may disagree (default 1 s,
	// below LeaseTTL/4): an owner stops publishing ClockSkew before its
	// lease ends, a claimer waits ClockSkew after.
	ClockSkew time.Duration
	// PublishTimeout bounds one publish call (default LeaseTTL/4): a pass
	// starts only with that much lease left, so that it ends before
	// another replica may take the partition. A whole pass (its store
	// calls included) is bounded by LeaseTTL; one that runs out fails
	// with context.DeadlineExceeded and is retried.
	PublishTimeout time.Duration
	// MaxPendingAge is Check's bound: the relay is unhealthy when the
	// oldest pending row is older (default 1 min).
	MaxPendingAge time.Duration
	// Backoff spaces the passes after a failure (default 100 ms to 5 s).
	Backoff messaging.Backoff
	// Logger receives failures and lease changes (slog.Default() when nil).
	Logger *slog.Logger
	// Now is the clock of leases and ages (time.Now when nil).
	Now func() time.Time
}

var defaultRelayBackoff = messaging.Backoff{Initial: 100 * time.Millisecond, Max: 5 * time.Second, Multiplier: 2, Jitter: 0.5}

func (c RelayConfig) withDefaults() RelayConfig {
	c.Config = c.Config.withDefaults()
	if c.Retention == 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.Name == "" {
		c.Name = "outbox-relay"
	}
	if c.Replica == "" {
		host, _ := os.Hostname()
		c.Replica = fmt.Sprintf("%s-%d-%06x", host, os.Getpid(), rand.Uint32()&0xffffff)
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.PollInterval == 0 {
		c.PollInterval = 50 * time.Millisecond
	}
	if c.LeaseTTL == 0 {
		c.LeaseTTL = 10 * time.Second
	}
	if c.ClockSkew == 0 {
		c.ClockSkew = min(time.Second, c.LeaseTTL/5)
	}
	if c.PublishTimeout == 0 {
		c.PublishTimeout = c.LeaseTTL / 4
	}
	if c.MaxPendingAge == 0 {
		c.MaxPendingAge = time.Minute
	}
	c.Backoff = orBackoff(c.Backoff, defaultRelayBackoff)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

func orBackoff(b, d messaging.Backoff) messaging.Backoff {
	if b == (messaging.Backoff{}) {
		return d
	}
	return b
}

func (c RelayConfig) validate() error {
	const op = "new relay"
	if err := c.Config.validate(op); err != nil {
		return err
	}
	switch {
	case c.Leases == nil:
		return invalid(op, "Leases is required")
	case c.Target == nil:
		return invalid(op, "Target is required")
	case len(c.Replica) > 150:
		return invalid(op, "Replica has %d bytes, over the limit of 150", len(c.Replica))
	case c.BatchSize < 1 || c.BatchSize > ports.MaxInValues:
		return invalid(op, "BatchSize %d is outside 1..%d", c.BatchSize, ports.MaxInValues)
	case c.PollInterval < 0 || c.Retention < 0:
		return invalid(op, "PollInterval %v and Retention %v must not be negative", c.PollInterval, c.Retention)
	case c.LeaseTTL < 10*time.Millisecond:
		return invalid(op, "LeaseTTL %v is below 10ms", c.LeaseTTL)
	case c.ClockSkew < 0 || c.ClockSkew > c.LeaseTTL/4:
		return invalid(op, "ClockSkew %v is outside 0..LeaseTTL/4 (%v)", c.ClockSkew, c.LeaseTTL/4)
	case c.PublishTimeout <= 0 || c.PublishTimeout+2*c.ClockSkew >= c.LeaseTTL/2:
		return invalid(op, "PublishTimeout %v plus twice ClockSkew must be below LeaseTTL/2 (%v)", c.PublishTimeout, c.LeaseTTL/2)
	case c.MaxPendingAge <= 0:
		return invalid(op, "MaxPendingAge %v must be positive", c.MaxPendingAge)
	}
	return c.Backoff.Validate()
}

// Relay publishes the committed rows of the outbox table through a target
// Publisher (see the package documentation for how replicas share the
// work). It is a ports.Connector: Check fails when the oldest pending row
// is older than MaxPendingAge.
type Relay struct {
	cfg  RelayConfig
	g    gate.Gate
	prop propagation.TextMapPropagator

	mu     sync.Mutex
	cancel context.CancelFunc // of the running Run, nil when none
	done   chan struct{}

	held      map[int]heldLease // partition -> lease; Run's goroutine writes, under mu
	published atomic.Int64
	failures  atomic.Int64
	lastErr   atomic.Pointer[error]

	nextRebalance time.Time // Run's goroutine only
	lastPrune     time.Time
	seeded        bool
}

type heldLease struct {
	version ports.Version
	until   time.Time
}

var _ ports.Connector = (*Relay)(nil)

// NewRelay returns a Relay; a configuration out of range is ErrInvalid.
func NewRelay(cfg RelayConfig) (*Relay, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	prop := cfg.Propagator
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	return &Relay{cfg: cfg, held: map[int]heldLease{}, prop: prop}, nil
}

// Name returns the configured name ("outbox-relay" by default).
func (r *Relay) Name() string { return r.cfg.Name }

// Replica returns this replica's ID.
func (r *Relay) Replica() string { return r.cfg.Replica }

// epoch is the Until of a free lease.
var epoch = time.Unix(0, 0).UTC()

// Run relays until ctx ends or Close is called, then releases its leases
// and returns nil. Failures of the database or the target are logged,
// counted and retried with backoff; Run returns early only for a
// partition count that differs from the one the table was set up with
// (ErrConflict), for ErrInvalid or ErrPermission while seeding the
// coordination table (a missing table: run Migrate), and ErrClosed after
// Close. It is ErrInvalid to call Run while another Run of r runs.
func (r *Relay) Run(ctx context.Context) error {
	if err := r.g.Check(ctx, r.cfg.Name, "run"); err != nil {
		return err
	}
	r.mu.Lock()
	if r.cancel != nil {
		r.mu.Unlock()
		return ports.NewError(r.cfg.Name, "run", ports.ErrInvalid, errors.New("the relay is already running"))
	}
	if r.g.Closed() {
		r.mu.Unlock()
		return gate.Closed(r.cfg.Name, "run")
	}
	ctx, cancel := context.WithCancel(ctx)
	r.cancel, r.done = cancel, make(chan struct{})
	done := r.done
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.cancel = nil
		close(done)
		r.mu.Unlock()
	}()
	defer cancel()
	defer r.leave()
	// The gauges portkit.outbox.pending and portkit.outbox.oldest_age,
	// read at each collection while Run runs.
	if reg, err := obs.ObserveOutbox(r.cfg.MeterProvider, r.cfg.Name, r.gaugeStats); err == nil {
		defer func() { _ = reg.Unregister() }()
	} else {
		r.cfg.Logger.Warn("outbox: cannot register the gauges", slog.Any("error", err))
	}

	failures := 0
	for ctx.Err() == nil {
		// A pass never outlives a lease: past LeaseTTL whatever it holds
		// may be another replica's, and a store call on a connection the
		// network dropped silently would otherwise wait forever.
		pctx, cancelPass := context.WithTimeout(ctx, r.cfg.LeaseTTL)
		n, err := r.pass(pctx)
		cancelPass()
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			if !r.seeded && (errors.Is(err, ports.ErrConflict) || errors.Is(err, ports.ErrInvalid) || errors.Is(err, ports.ErrPermission)) {
				r.cfg.Logger.Error("outbox: relay cannot start", slog.String("replica", r.cfg.Replica), slog.Any("error", err))
				return err
			}
			r.lastErr.Store(&err)
			d := r.cfg.Backoff.Delay(failures)
			failures++
			r.cfg.Logger.Warn("outbox: relay pass failed; retrying",
				slog.String("replica", r.cfg.Replica), slog.Any("error", err), slog.Duration("backoff", d))
			sleep(ctx, d)
			continue
		}
		failures = 0
		if n < r.cfg.BatchSize {
			sleep(ctx, r.cfg.PollInterval)
		}
	}
	return nil
}

// pass seeds the coordination table once, rebalances the leases when due,
// and publishes one batch; it returns the number of rows it read.
func (r *Relay) pass(ctx context.Context) (int, error) {
	if !r.seeded {
		if err := Seed(ctx, r.cfg.Leases, r.cfg.Partitions); err != nil {
			return 0, err
		}
		r.seeded = true
	}
	if now := r.cfg.Now(); !now.Before(r.nextRebalance) {
		if err := r.rebalance(ctx); err != nil {
			return 0, err
		}
	}
	return r.pump(ctx)
}

// Seed creates the rows of the coordination table that every relay of a
// table with n partitions needs: one lease per partition and the record of
// n. It is idempotent, and ErrConflict when the table was seeded with
// another partition count. Run calls it; Migrate too.
func Seed(ctx context.Context, leases ports.SQLStore[Lease], n int) error {
	meta, err := leases.Get(ctx, metaName)
	switch {
	case err == nil:
		if meta.Number != n {
			return ports.NewError("outbox", "seed", ports.ErrConflict,
				fmt.Errorf("the outbox was set up with %d partitions, this relay has %d: every writer and relay of a table must use one count", meta.Number, n))
		}
	case errors.Is(err, ports.ErrNotFound):
		if err := leases.Create(ctx, &Lease{Name: metaName, Kind: kindMeta, Number: n, Until: epoch}); err != nil && !errors.Is(err, ports.ErrConflict) {
			return fmt.Errorf("outbox: seed: %w", err)
		}
		return Seed(ctx, leases, n) // re-read: a concurrent seeder may have won with another count
	default:
		return fmt.Errorf("outbox: seed: %w", err)
	}
	existing, err := leases.Count(ctx, ports.Where("Kind", ports.Eq, kindPartition))
	if err != nil {
		return fmt.Errorf("outbox: seed: %w", err)
	}
	if existing >= int64(n) {
		return nil
	}
	for p := range n {
		err := leases.Create(ctx, &Lease{Name: partitionName(p), Kind: kindPartition, Number: p, Until: epoch})
		if err != nil && !errors.Is(err, ports.ErrConflict) {
			return fmt.Errorf("outbox: seed partition %d: %w", p, err)
		}
	}
	return nil
}

func partitionName(p int) string { return fmt.Sprintf("partition/%04d", p) }

func (r *Relay) replicaName() string { return "replica/" + r.cfg.Replica }

// rebalance renews this replica's heartbeat and leases, releases the
// partitions over its fair share and claims free or expired ones up to it.
func (r *Relay) rebalance(ctx context.Context) error {
	now := r.cfg.Now()
	ttl, skew := r.cfg.LeaseTTL, r.cfg.ClockSkew
	r.nextRebalance = now.Add(ttl / 3)
	all, err := r.cfg.Leases.Find(ctx, ports.Where("Kind", ports.In, []string{kindPartition, kindReplica}))
	if err != nil {
		return fmt.Errorf("outbox: read leases: %w", err)
	}
	if err := r.heartbeat(ctx, now, all); err != nil {
		return err
	}
	live := 1
	var parts []Lease
	for _, l := range all {
		switch {
		case l.Kind == kindPartition && l.Number < r.cfg.Partitions:
			parts = append(parts, l)
		case l.Kind == kindReplica && l.Name != r.replicaName() && l.Until.After(now.Add(-skew)):
			live++
		case l.Kind == kindReplica && l.Name != r.replicaName() && l.Until.Before(now.Add(-ttl)):
			_ = r.cfg.Leases.DeleteIfVersion(ctx, l.Name, l.Version) // a dead replica's heartbeat
		}
	}
	fair := (r.cfg.Partitions + live - 1) / live
	held := map[int]heldLease{}
	until := now.Add(ttl)
	var free []Lease
	for _, l := range parts {
		switch {
		case l.Owner == r.cfg.Replica:
			// IfVersion: renewed only if no one has claimed it since, however
			// late this is (usable decides whether it may be published).
			if err := r.cfg.Leases.Patch(ctx, l.Name, ports.Set("Until", until).IfVersion(l.Version)); err == nil {
				held[l.Number] = heldLease{version: l.Version + 1, until: until}
			} else if !errors.Is(err, ports.ErrConflict) && !errors.Is(err, ports.ErrNotFound) {
				return fmt.Errorf("outbox: renew partition %d: %w", l.Number, err)
			}
		case l.Owner == "" || l.Until.Before(now.Add(-skew)):
			free = append(free, l)
		}
	}
	// Over the fair share: release the highest partitions.
	if len(held) > fair {
		nums := sortedKeys(held)
		for _, p := range nums[fair:] {
			if err := r.release(ctx, p, held[p]); err != nil {
				r.cfg.Logger.Warn("outbox: cannot release a partition", slog.Int("partition", p), slog.Any("error", err))
			}
			delete(held, p)
		}
	}
	rand.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
	for _, l := range free {
		if len(held) >= fair {
			break
		}
		err := r.cfg.Leases.Patch(ctx, l.Name, ports.Set("Owner", r.cfg.Replica).Set("Until", until).IfVersion(l.Version))
		switch {
		case err == nil:
			held[l.Number] = heldLease{version: l.Version + 1, until: until}
			r.cfg.Logger.Debug("outbox: partition claimed", slog.String("replica", r.cfg.Replica),
				slog.Int("partition", l.Number), slog.String("previous_owner", l.Owner))
		case errors.Is(err, ports.ErrConflict), errors.Is(err, ports.ErrNotFound):
			// Another replica got it first.
		default:
			return fmt.Errorf("outbox: claim partition %d: %w", l.Number, err)
		}
	}
	r.mu.Lock()
	r.held = held
	r.mu.Unlock()
	if _, ok := held[0]; ok && r.cfg.Sent != nil && now.Sub(r.lastPrune) > min(r.cfg.Retention/10, time.Minute) {
		r.lastPrune = now
		n, err := r.cfg.Sent.DeleteWhere(ctx, ports.Where("SentAt", ports.Lt, now.Add(-r.cfg.Retention)))
		if err != nil {
			r.cfg.Logger.Warn("outbox: cannot prune sent rows", slog.Any("error", err))
		} else if n > 0 {
			r.cfg.Logger.Debug("outbox: pruned sent rows", slog.Int64("rows", n))
		}
	}
	return nil
}

// heartbeat records that this replica is alive until now + LeaseTTL.
func (r *Relay) heartbeat(ctx context.Context, now time.Time, all []Lease) error {
	until := now.Add(r.cfg.LeaseTTL)
	name := r.replicaName()
	i := slices.IndexFunc(all, func(l Lease) bool { return l.Name == name })
	var err error
	if i >= 0 {
		err = r.cfg.Leases.Patch(ctx, name, ports.Set("Until", until))
	}
	if i < 0 || errors.Is(err, ports.ErrNotFound) {
		err = r.cfg.Leases.Create(ctx, &Lease{Name: name, Kind: kindReplica, Owner: r.cfg.Replica, Until: until})
		if errors.Is(err, ports.ErrConflict) {
			err = nil // created meanwhile; renewed next time
		}
	}
	if err != nil {
		return fmt.Errorf("outbox: heartbeat: %w", err)
	}
	return nil
}

func (r *Relay) release(ctx context.Context, p int, l heldLease) error {
	err := r.cfg.Leases.Patch(ctx, partitionName(p), ports.Set("Owner", "").Set("Until", epoch).IfVersion(l.version))
	if errors.Is(err, ports.ErrConflict) || errors.Is(err, ports.ErrNotFound) {
		return nil // not ours any more
	}
	return err
}

// leave releases every lease and the heartbeat, on Run's way out.
func (r *Relay) leave() {
	ctx, cancel := context.WithTimeout(context.Background(), ports.DefaultCheckTimeout)
	defer cancel()
	r.mu.Lock()
	held := r.held
	r.held = map[int]heldLease{}
	r.mu.Unlock()
	for p, l := range held {
		if err := r.release(ctx, p, l); err != nil {
			r.cfg.Logger.Warn("outbox: cannot release a partition; it frees itself after its lease",
				slog.Int("partition", p), slog.Any("error", err))
		}
	}
	if err := r.cfg.Leases.Delete(ctx, r.replicaName()); err != nil && !errors.Is(err, ports.ErrNotFound) {
		r.cfg.Logger.Warn("outbox: cannot remove the heartbeat", slog.Any("error", err))
	}
	r.nextRebalance = time.Time{}
}

func sortedKeys(m map[int]heldLease) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Ints(out)
	return out
}

// usable returns the partitions held with enough lease left for a whole
// publish, and whether some held one needs renewing first.
func (r *Relay) usable(now time.Time) (parts []int, renew bool) {
	need := now.Add(r.cfg.PublishTimeout + r.cfg.ClockSkew)
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, l := range r.held {
		if l.until.After(need) {
			parts = append(parts, p)
		} else {
			renew = true
		}
	}
	sort.Ints(parts)
	return parts, renew
}

// pump publishes one batch of the held partitions' rows and deletes (or
// archives) those the target confirmed.
func (r *Relay) pump(ctx context.Context) (int, error) {
	parts, renew := r.usable(r.cfg.Now())
	if renew {
		r.nextRebalance = time.Time{}
	}
	if len(parts) == 0 {
		return 0, nil
	}
	rows, err := r.cfg.Rows.Find(ctx, ports.Where("Partition", ports.In, parts).OrderBy("ID").Limit(r.cfg.BatchSize))
	if err != nil {
		return 0, fmt.Errorf("outbox: read pending rows: %w", err)
	}
	if len(rows) == 0 {
		return 0, nil
	}
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PublishTimeout)
	outcomes, perr := publishRows(pctx, r.cfg.Target, r.prop, rows)
	cancel()
	sentAt := r.cfg.Now().UTC()
	var ids []int64
	var archive []*SentRow
	for i, o := range outcomes {
		if !o.sent {
			continue
		}
		ids = append(ids, rows[i].ID)
		if r.cfg.Sent != nil {
			row := rows[i]
			archive = append(archive, &SentRow{ID: row.ID, MessageID: row.MessageID, Topic: row.Topic, OrderingKey: row.OrderingKey,
				Data: row.Data, Attributes: row.Attributes, ServerID: o.serverID, WrittenAt: row.CreatedAt, SentAt: sentAt})
		}
	}
	failed := len(rows) - len(ids)
	if failed > 0 {
		r.failures.Add(int64(failed))
	}
	if len(ids) > 0 {
		err := r.cfg.Tx.WithinTx(ctx, func(ctx context.Context) error {
			if len(archive) > 0 {
				if err := r.cfg.Sent.CreateMany(ctx, archive); err != nil {
					return err
				}
			}
			_, err := r.cfg.Rows.DeleteWhere(ctx, ports.Where("ID", ports.In, ids))
			return err
		})
		if err != nil {
			// Published but still pending: the next pass publishes them
			// again (at least once; consumers deduplicate by ID).
			return len(rows), fmt.Errorf("outbox: mark %d published rows: %w", len(ids), err)
		}
		r.published.Add(int64(len(ids)))
	}
	if perr != nil {
		return len(rows), fmt.Errorf("outbox: %d of %d messages not published: %w", failed, len(rows), perr)
	}
	return len(rows), nil
}

// outcome is what became of one row of a batch.
type outcome struct {
	sent     bool
	serverID string
}

// publishRows publishes rows (in ID order) through target, one call per
// topic, and returns each row's outcome and the first failure. A row after
// a failed row of the same topic and ordering key counts as failed even if
// the target took it, so that the key's messages go out again in order.
//
// A publish call whose messages all carry one trace context (the rows of
// one producer's write) is made in that context, so that the target's
// publish span joins the producer's trace; otherwise the target's span
// links to each producer.
func publishRows(ctx context.Context, target ports.Publisher, prop propagation.TextMapPropagator, rows []Row) ([]outcome, error) {
	out := make([]outcome, len(rows))
	var topics []string
	byTopic := map[string][]int{}
	for i, r := range rows {
		if _, ok := byTopic[r.Topic]; !ok {
			topics = append(topics, r.Topic)
		}
		byTopic[r.Topic] = append(byTopic[r.Topic], i)
	}
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	for _, topic := range topics {
		idx := byTopic[topic]
		msgs := make([]ports.Message, 0, len(idx))
		send := make([]int, 0, len(idx)) // row indexes of msgs
		for _, i := range idx {
			m, err := rows[i].message()
			if err != nil {
				fail(err) // a corrupt row stays pending, and blocks its key
				continue
			}
			msgs = append(msgs, m)
			send = append(send, i)
		}
		if len(msgs) == 0 {
			continue
		}
		pctx := ctx
		if sameTraceContext(prop.Fields(), msgs) {
			pctx = obs.Extract(ctx, prop, msgs[0].Attributes)
		}
		ids, err := target.Publish(pctx, topic, msgs...)
		failedAt := map[int]bool{}
		if err != nil {
			fail(fmt.Errorf("publish to %s: %w", topic, err))
			var pe *ports.PublishError
			if errors.As(err, &pe) {
				for _, f := range pe.Failures {
					failedAt[f.Index] = true
				}
			} else {
				for j := range msgs {
					failedAt[j] = true
				}
			}
		}
		for j, i := range send {
			if !failedAt[j] && j < len(ids) && ids[j] != "" {
				out[i] = outcome{sent: true, serverID: ids[j]}
			}
		}
		// Keep each key's order: after its first unsent row, none of its
		// rows counts as sent.
		blocked := map[string]bool{}
		for _, i := range idx {
			k := rows[i].OrderingKey
			if k == "" {
				continue
			}
			if blocked[k] {
				out[i] = outcome{}
			} else if !out[i].sent {
				blocked[k] = true
			}
		}
	}
	return out, firstErr
}

// sameTraceContext reports whether every message of msgs carries the same
// trace context (the same values of the propagator's fields, one at
// least).
func sameTraceContext(fields []string, msgs []ports.Message) bool {
	if len(msgs) == 0 {
		return false
	}
	first, carried := msgs[0].Attributes, false
	for _, f := range fields {
		if _, ok := first[f]; ok {
			carried = true
		}
	}
	if !carried {
		return false
	}
	for _, m := range msgs[1:] {
		for _, f := range fields {
			v, ok := m.Attributes[f]
			if w, wok := first[f]; ok != wok || v != w {
				return false
			}
		}
	}
	return true
}

// Stats is what a Relay reports of the outbox.
type Stats struct {
	// Pending is the number of rows waiting in the outbox table (all
	// partitions, every replica's).
	Pending int64
	// OldestPendingAge is the age of the oldest pending row (0 when none).
	OldestPendingAge time.Duration
	// Published counts the rows this replica published and marked.
	Published int64
	// PublishFailures counts the rows this replica failed to publish.
	PublishFailures int64
	// Partitions lists the partitions this replica holds.
	Partitions []int
	// LastError is the last failure of a pass, nil if none.
	LastError error
}

// Stats reads the pending count and the oldest pending age from the
// table, and this replica's counters.
func (r *Relay) Stats(ctx context.Context) (Stats, error) {
	if err := r.g.Check(ctx, r.cfg.Name, "stats"); err != nil {
		return Stats{}, err
	}
	st := Stats{Published: r.published.Load(), PublishFailures: r.failures.Load()}
	if p := r.lastErr.Load(); p != nil {
		st.LastError = *p
	}
	r.mu.Lock()
	st.Partitions = sortedKeys(r.held)
	r.mu.Unlock()
	n, err := r.cfg.Rows.Count(ctx, ports.All())
	if err != nil {
		return st, fmt.Errorf("outbox: count pending rows: %w", err)
	}
	st.Pending = n
	if n > 0 {
		age, err := r.oldestAge(ctx)
		if err != nil {
			return st, err
		}
		st.OldestPendingAge = age
	}
	return st, nil
}

func (r *Relay) oldestAge(ctx context.Context) (time.Duration, error) {
	oldest, err := r.cfg.Rows.Find(ctx, ports.All().OrderBy("ID").Limit(1))
	if err != nil {
		return 0, fmt.Errorf("outbox: read the oldest pending row: %w", err)
	}
	if len(oldest) == 0 {
		return 0, nil
	}
	return max(r.cfg.Now().Sub(oldest[0].CreatedAt), 0), nil
}

// Check returns nil when Run is running and the oldest pending row is at
// most MaxPendingAge old; ErrUnavailable otherwise (also when the table
// cannot be read, or holds rows of partitions beyond the configured count,
// which no relay would publish); ErrClosed after Close.
func (r *Relay) Check(ctx context.Context) error {
	if err := r.g.Check(ctx, r.cfg.Name, "check"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, ports.DefaultCheckTimeout)
	defer cancel()
	unhealthy := func(err error) error { return ports.NewError(r.cfg.Name, "check", ports.ErrUnavailable, err) }
	r.mu.Lock()
	running := r.cancel != nil
	r.mu.Unlock()
	if !running {
		return unhealthy(errors.New("the relay is not running"))
	}
	age, err := r.oldestAge(ctx)
	if err != nil {
		return unhealthy(err)
	}
	if age > r.cfg.MaxPendingAge {
		msg := "the oldest pending message is " + age.Round(time.Millisecond).String() + " old, over the bound of " + r.cfg.MaxPendingAge.String()
		if p := r.lastErr.Load(); p != nil {
			return unhealthy(fmt.Errorf("%s; last failure: %w", msg, *p))
		}
		return unhealthy(errors.New(msg))
	}
	orphans, err := r.cfg.Rows.Count(ctx, ports.Where("Partition", ports.Gte, r.cfg.Partitions))
	if err != nil {
		return unhealthy(err)
	}
	if orphans > 0 {
		return unhealthy(errors.New(strconv.FormatInt(orphans, 10) + " rows belong to partitions beyond the relay's count: a writer uses another Partitions"))
	}
	return nil
}

// Close stops Run, which releases its leases, and waits for it until ctx
// ends. Every later call, a second Close included, returns ErrClosed.
func (r *Relay) Close(ctx context.Context) error {
	if ctx == nil {
		return ports.NewError(r.cfg.Name, "close", ports.ErrInvalid, gate.ErrNilContext)
	}
	if !r.g.Close() {
		return gate.Closed(r.cfg.Name, "close")
	}
	r.mu.Lock()
	cancel, done := r.cancel, r.done
	r.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return gate.ContextError(ctx, r.cfg.Name, "close")
	}
}

// gaugeStats is what the gauges read: the pending count and the oldest
// pending age, bounded by the check timeout.
func (r *Relay) gaugeStats(ctx context.Context) (obs.OutboxStats, error) {
	ctx, cancel := context.WithTimeout(ctx, ports.DefaultCheckTimeout)
	defer cancel()
	st, err := r.Stats(ctx)
	if err != nil {
		return obs.OutboxStats{}, err
	}
	return obs.OutboxStats{Pending: st.Pending, OldestAge: st.OldestPendingAge}, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
