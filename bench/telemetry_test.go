package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"math"
	"os"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/nats"
	"github.com/portkit/portkit/adapters/postgres"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
	"github.com/portkit/portkit/telemetry"
)

// telemetryVariants runs op on the bare implementation and through the
// telemetry decorators made by wrap in four settings, side by side:
//
//   - bare: the implementation itself, with its own hooks and the default
//     providers (no SDK: they record nothing);
//   - off: the default global providers, no SDK installed (what every
//     user who does not install an SDK pays);
//   - off-nofastpath: the same global no-SDK providers given explicitly,
//     which disables the fast path: tracer.Start and the instruments are
//     called and do nothing (what the fast path saves);
//   - on: an SDK tracer provider sampling every span, exporting to a
//     no-op exporter through the batch span processor, and an SDK meter
//     provider with a manual reader.
func telemetryVariants[P any](b *testing.B, bare P, wrap func(P, ...telemetry.Option) P, op func(b *testing.B, p P, i int)) {
	run := func(p P) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				op(b, p, i)
				i++
			}
		}
	}
	b.Run("bare", run(bare))
	b.Run("off", run(wrap(bare)))
	b.Run("off-nofastpath", run(wrap(bare,
		telemetry.WithTracerProvider(otel.GetTracerProvider()),
		telemetry.WithMeterProvider(otel.GetMeterProvider()))))
	b.Run("on", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		defer func() {
			_ = tp.Shutdown(context.Background())
			_ = mp.Shutdown(context.Background())
		}()
		run(wrap(bare, telemetry.WithTracerProvider(tp), telemetry.WithMeterProvider(mp)))(b)
	})
}

// BenchmarkTelemetryCacheGet: a hit on the fake Cache, bare and decorated.
func BenchmarkTelemetryCacheGet(b *testing.B) {
	ctx := context.Background()
	c := fakes.NewCache()
	defer c.Close(ctx)
	if err := c.Set(ctx, "key", redisValue, 0); err != nil {
		b.Fatal(err)
	}
	telemetryVariants[ports.Cache](b, c, telemetry.Cache, func(b *testing.B, c ports.Cache, _ int) {
		if _, err := c.Get(ctx, "key"); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkTelemetryRedisGet: a GET of a present key on the Redis adapter,
// bare and decorated. It skips without REDIS_URL.
func BenchmarkTelemetryRedisGet(b *testing.B) {
	u := os.Getenv("REDIS_URL")
	if u == "" {
		b.Skip("redis backend unavailable: REDIS_URL is not set")
	}
	ctx := context.Background()
	c, err := redis.Open(ctx, redis.Config{URL: u}, redis.WithLogger(quietLogger()))
	if err != nil {
		b.Skipf("redis backend unavailable: %v", err)
	}
	defer c.Close(ctx)
	key := "pk_t2:bench:" + randHex()
	if err := c.Set(ctx, key, redisValue, 0); err != nil {
		b.Fatal(err)
	}
	defer c.Delete(ctx, key)
	telemetryVariants[ports.Cache](b, c, telemetry.Cache, func(b *testing.B, c ports.Cache, _ int) {
		if _, err := c.Get(ctx, key); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkTelemetryMySQLGet: a Get by primary key on the MySQL adapter,
// bare and decorated. It skips without MYSQL_DSN.
func BenchmarkTelemetryMySQLGet(b *testing.B) {
	dsn := os.Getenv("MYSQL_DSN")
	if dsn == "" {
		b.Skip("mysql backend unavailable: MYSQL_DSN is not set")
	}
	ctx := context.Background()
	db, err := mysql.Open(ctx, mysql.Config{DSN: dsn}, mysql.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Skipf("mysql backend unavailable: %v", err)
	}
	defer db.Close(ctx)
	table := "pk_t2_bench_" + randHex()
	store, err := mysql.NewStore[portstest.Item](db, mysql.WithTable(table))
	if err != nil {
		b.Fatal(err)
	}
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	defer db.DB().Migrator().DropTable(table)
	const rows = 100
	items := benchItems(rows)
	if err := store.CreateMany(ctx, items); err != nil {
		b.Fatal(err)
	}
	telemetryVariants[ports.SQLStore[portstest.Item]](b, store, telemetry.SQLStore[portstest.Item],
		func(b *testing.B, s ports.SQLStore[portstest.Item], i int) {
			if _, err := s.Get(ctx, items[i%rows].ID); err != nil {
				b.Fatal(err)
			}
		})
}

// BenchmarkTelemetryPublish: Publish of one message on the fake Pub/Sub,
// bare and decorated (with the trace context injected when on).
func BenchmarkTelemetryPublish(b *testing.B) {
	ctx := context.Background()
	ps := fakes.NewPubSub()
	defer ps.Close(ctx)
	if err := ps.CreateTopic(ctx, "t"); err != nil {
		b.Fatal(err)
	}
	msg := ports.Message{Data: redisValue, Attributes: map[string]string{"type": "order.created"}}
	telemetryVariants[ports.Publisher](b, ps, telemetry.Publisher, func(b *testing.B, p ports.Publisher, _ int) {
		if _, err := p.Publish(ctx, "t", msg); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkTelemetryHook: the hook pair every instrumented adapter and
// fake method runs (obs.Instr.Start, Span.End), alone: what Phase B
// instrumentation adds to a call, to compare with BenchmarkFakeCacheGet.
func BenchmarkTelemetryHook(b *testing.B) {
	ctx := context.Background()
	hook := func(in *obs.Instr) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, sp := in.Start(ctx, obs.OpGet)
				sp.End(nil)
			}
		}
	}
	be := obs.Backend{Port: obs.PortCache, Name: "fake-cache"}
	b.Run("off", hook(obs.New(be, obs.Settings{})))
	b.Run("off-nofastpath", hook(obs.New(be, obs.Settings{TracerProvider: otel.GetTracerProvider(), MeterProvider: otel.GetMeterProvider()})))
	b.Run("on", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
			sdktrace.WithBatcher(tracetest.NewNoopExporter()))
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		defer func() {
			_ = tp.Shutdown(context.Background())
			_ = mp.Shutdown(context.Background())
		}()
		hook(obs.New(be, obs.Settings{TracerProvider: tp, MeterProvider: mp}))(b)
	})
}

func randHex() string {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	return hex.EncodeToString(rnd[:])
}

// Cost of the hooks built into the adapters and fakes.
//
// hookCost opens an implementation three ways and compares them:
//
//   - nohooks: opened with obs.NoHooks, so that every hook is one inlined
//     nil compare and no call: the code as it was before the hooks;
//   - off: the default global providers, no SDK installed (what every user
//     who does not install one pays);
//   - on: an SDK tracer provider sampling every span into the batch span
//     processor (no-op exporter) and an SDK meter provider with a manual
//     reader.
//
// The sub-benchmarks report each variant's usual ns/op and allocs/op. On
// a shared machine their difference drowns in noise, so "interleaved"
// also runs batches of nohooks and off alternately, many times, and
// reports the fastest batch of each (nohooks-ns/op, off-ns/op) and their
// ratio (off/nohooks): the hooks' cost in one run, free of the load
// other processes put on the machine meanwhile.
func hookCost[P any](b *testing.B, open func(b *testing.B, tp trace.TracerProvider, mp metric.MeterProvider) P, op func(b *testing.B, p P, i int)) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	}()
	variants := []struct {
		name string
		p    P
	}{
		{"nohooks", open(b, obs.NoHooks{}, nil)},
		{"off", open(b, nil, nil)},
		{"on", open(b, tp, mp)},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				op(b, v.p, i)
				i++
			}
		})
	}
	b.Run("interleaved", func(b *testing.B) {
		const batch = 200
		best := [2]float64{math.Inf(1), math.Inf(1)}
		i := 0
		for b.Loop() {
			for k := range best {
				start := time.Now()
				for range batch {
					op(b, variants[k].p, i)
					i++
				}
				best[k] = min(best[k], float64(time.Since(start).Nanoseconds())/batch)
			}
		}
		b.ReportMetric(best[0], "nohooks-ns/op")
		b.ReportMetric(best[1], "off-ns/op")
		b.ReportMetric(best[1]/best[0], "off/nohooks")
		b.ReportMetric(0, "ns/op")
	})
}

// BenchmarkHooksFakeCacheGet: a hit on the fake Cache.
func BenchmarkHooksFakeCacheGet(b *testing.B) {
	ctx := context.Background()
	hookCost(b, func(b *testing.B, tp trace.TracerProvider, mp metric.MeterProvider) *fakes.Cache {
		var opts []fakes.Option
		if tp != nil {
			opts = append(opts, fakes.WithTracerProvider(tp), fakes.WithMeterProvider(mp))
		}
		c := fakes.NewCache(opts...)
		b.Cleanup(func() { _ = c.Close(ctx) })
		if err := c.Set(ctx, "key", redisValue, 0); err != nil {
			b.Fatal(err)
		}
		return c
	}, func(b *testing.B, c *fakes.Cache, _ int) {
		if _, err := c.Get(ctx, "key"); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkHooksRedisGet: a GET of a present key on the Redis adapter. It
// skips without REDIS_URL.
func BenchmarkHooksRedisGet(b *testing.B) {
	u := os.Getenv("REDIS_URL")
	if u == "" {
		b.Skip("redis backend unavailable: REDIS_URL is not set")
	}
	ctx := context.Background()
	key := "pk_t2:bench:" + randHex()
	hookCost(b, func(b *testing.B, tp trace.TracerProvider, mp metric.MeterProvider) *redis.Cache {
		opts := []redis.Option{redis.WithLogger(quietLogger())}
		if tp != nil {
			opts = append(opts, redis.WithTracerProvider(tp), redis.WithMeterProvider(mp))
		}
		c, err := redis.Open(ctx, redis.Config{URL: u}, opts...)
		if err != nil {
			b.Skipf("redis backend unavailable: %v", err)
		}
		b.Cleanup(func() { _ = c.Delete(ctx, key); _ = c.Close(ctx) })
		if err := c.Set(ctx, key, redisValue, 0); err != nil {
			b.Fatal(err)
		}
		return c
	}, func(b *testing.B, c *redis.Cache, _ int) {
		if _, err := c.Get(ctx, key); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkHooksMySQLGet: a Get by primary key on the MySQL adapter. It
// skips without MYSQL_DSN.
func BenchmarkHooksMySQLGet(b *testing.B) {
	dsn := os.Getenv("MYSQL_DSN")
	if dsn == "" {
		b.Skip("mysql backend unavailable: MYSQL_DSN is not set")
	}
	ctx := context.Background()
	table := "pk_t2_bench_" + randHex()
	const rows = 100
	items := benchItems(rows)
	made := false
	hookCost(b, func(b *testing.B, tp trace.TracerProvider, mp metric.MeterProvider) *mysql.Store[portstest.Item] {
		opts := []mysql.Option{mysql.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
		if tp != nil {
			opts = append(opts, mysql.WithTracerProvider(tp), mysql.WithMeterProvider(mp))
		}
		db, err := mysql.Open(ctx, mysql.Config{DSN: dsn}, opts...)
		if err != nil {
			b.Skipf("mysql backend unavailable: %v", err)
		}
		b.Cleanup(func() { _ = db.Close(ctx) })
		store, err := mysql.NewStore[portstest.Item](db, mysql.WithTable(table))
		if err != nil {
			b.Fatal(err)
		}
		if !made {
			made = true
			if err := store.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = db.DB().Migrator().DropTable(table) })
			if err := store.CreateMany(ctx, items); err != nil {
				b.Fatal(err)
			}
		}
		return store
	}, func(b *testing.B, s *mysql.Store[portstest.Item], i int) {
		if _, err := s.Get(ctx, items[i%rows].ID); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkHooksPostgresGet: a Get by primary key on the PostgreSQL
// adapter. It skips without DATABASE_URL.
func BenchmarkHooksPostgresGet(b *testing.B) {
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		b.Skip("postgres backend unavailable: DATABASE_URL is not set")
	}
	ctx := context.Background()
	table := "pk_tel_bench_" + randHex()
	const rows = 100
	items := benchItems(rows)
	made := false
	hookCost(b, func(b *testing.B, tp trace.TracerProvider, mp metric.MeterProvider) *postgres.Store[portstest.Item] {
		opts := []postgres.Option{postgres.WithLogger(quietLogger())}
		if tp != nil {
			opts = append(opts, postgres.WithTracerProvider(tp), postgres.WithMeterProvider(mp))
		}
		db, err := postgres.Open(ctx, postgres.Config{URL: url}, opts...)
		if err != nil {
			b.Skipf("postgres backend unavailable: %v", err)
		}
		b.Cleanup(func() { _ = db.Close(ctx) })
		store, err := postgres.NewStore[portstest.Item](db, postgres.WithTable(table))
		if err != nil {
			b.Fatal(err)
		}
		if !made {
			made = true
			if err := store.Migrate(ctx); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = db.DB().Exec(`DROP TABLE IF EXISTS "` + table + `"`).Error })
			if err := store.CreateMany(ctx, items); err != nil {
				b.Fatal(err)
			}
		}
		return store
	}, func(b *testing.B, s *postgres.Store[portstest.Item], i int) {
		if _, err := s.Get(ctx, items[i%rows].ID); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkHooksNATSPublish: Publish of one message (with the trace
// context added when on) on the NATS adapter, acknowledged by JetStream.
// It skips without NATS_URL.
func BenchmarkHooksNATSPublish(b *testing.B) {
	url := os.Getenv(nats.EnvURL)
	if url == "" {
		b.Skip("nats backend unavailable: NATS_URL is not set")
	}
	ctx := context.Background()
	prefix := "pktel_bench_" + randHex()
	topic := "bench"
	msg := ports.Message{Data: redisValue, Attributes: map[string]string{"type": "order.created"}}
	made := false
	hookCost(b, func(b *testing.B, tp trace.TracerProvider, mp metric.MeterProvider) *nats.NATS {
		opts := []nats.Option{nats.WithLogger(quietLogger())}
		if tp != nil {
			opts = append(opts, nats.WithTracerProvider(tp), nats.WithMeterProvider(mp))
		}
		n, err := nats.Open(ctx, nats.Config{URL: url, Prefix: prefix}, opts...)
		if err != nil {
			b.Skipf("nats backend unavailable: %v", err)
		}
		if !made {
			made = true
			b.Cleanup(func() { // after every adapter's Close: on a connection of its own
				nc, err := natsgo.Connect(url)
				if err != nil {
					return
				}
				defer nc.Close()
				if js, err := jetstream.New(nc); err == nil {
					(&natsBench{prefix: prefix, js: js}).sweep()
				}
			})
			if err := n.EnsureTopic(ctx, topic); err != nil {
				b.Fatal(err)
			}
			if err := n.EnsureSubscription(ctx, "bench-sub", ports.SubscriptionConfig{Topic: topic}); err != nil {
				b.Fatal(err)
			}
		}
		b.Cleanup(func() { _ = n.Close(ctx) })
		return n
	}, func(b *testing.B, n *nats.NATS, _ int) {
		if _, err := n.Publish(ctx, topic, msg); err != nil {
			b.Fatal(err)
		}
	})
}
