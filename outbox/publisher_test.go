package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"testing"

	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/outbox"
	"github.com/portkit/portkit/ports"
)

func TestPublisherRefusesOutsideATransaction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		pub := newPublisher(t, d, 0)
		_, err := pub.Publish(context.Background(), "orders", ports.Message{Data: []byte("x")})
		if !isInvalid(err) || !errors.Is(err, outbox.ErrNoTransaction) {
			t.Fatalf("err = %v, want ErrInvalid wrapping ErrNoTransaction", err)
		}
		if n, _ := d.rows.Count(context.Background(), ports.All()); n != 0 {
			t.Fatalf("%d rows written", n)
		}
	})
}

func TestPublisherWritesInTheTransaction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		ctx := context.Background()
		pub := newPublisher(t, d, 8)
		ids := write(t, d, pub, "orders",
			ports.Message{Data: []byte("a"), OrderingKey: "order-1",
				Attributes: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
			ports.Message{Data: []byte("b"), Attributes: map[string]string{messaging.AttrMessageID: "given-id"}},
		)
		if len(ids) != 2 || len(ids[0]) != 36 || ids[1] != "given-id" {
			t.Fatalf("ids = %v: a new UUID and the given ID", ids)
		}
		rows, err := d.rows.Find(ctx, ports.All().OrderBy("ID"))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 {
			t.Fatalf("%d rows", len(rows))
		}
		r := rows[0]
		if r.Topic != "orders" || r.OrderingKey != "order-1" || string(r.Data) != "a" || r.MessageID != ids[0] ||
			r.Partition != outbox.PartitionOf("order-1", ids[0], 8) || r.CreatedAt.IsZero() {
			t.Fatalf("row = %+v", r)
		}
		var attrs map[string]string
		if err := json.Unmarshal([]byte(r.Attributes), &attrs); err != nil {
			t.Fatal(err)
		}
		if attrs["traceparent"] == "" || attrs[messaging.AttrMessageID] != ids[0] {
			t.Fatalf("attributes = %v", attrs)
		}
		if rows[1].Partition != outbox.PartitionOf("", "given-id", 8) {
			t.Fatalf("an unkeyed message is partitioned by its ID")
		}
	})
}

func TestPublisherRollsBackWithTheTransaction(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		ctx := context.Background()
		pub := newPublisher(t, d, 0)
		errAbort := errors.New("order rejected")
		err := d.tx.WithinTx(ctx, func(ctx context.Context) error {
			if _, err := pub.Publish(ctx, "orders", ports.Message{Data: []byte("x")}); err != nil {
				return err
			}
			return errAbort
		})
		if !errors.Is(err, errAbort) {
			t.Fatal(err)
		}
		if n, _ := d.rows.Count(ctx, ports.All()); n != 0 {
			t.Fatalf("%d rows survived the rollback", n)
		}
	})
}

func TestPublisherChecksBeforeWriting(t *testing.T) {
	forEachBackend(t, func(t *testing.T, d *db) {
		ctx := context.Background()
		pub := newPublisher(t, d, 0)
		full := map[string]string{}
		for i := range ports.MaxAttributes {
			full["a"+strconv.Itoa(i)] = "v"
		}
		long := make([]byte, 300)
		for i := range long {
			long[i] = 't'
		}
		cases := map[string]struct {
			topic string
			msg   ports.Message
		}{
			"empty topic":        {"", ports.Message{Data: []byte("x")}},
			"long topic":         {string(long), ports.Message{Data: []byte("x")}},
			"empty message":      {"t", ports.Message{}},
			"reserved attribute": {"t", ports.Message{Data: []byte("x"), Attributes: map[string]string{"googx": "1"}}},
			"no room for the ID": {"t", ports.Message{Data: []byte("x"), Attributes: full}},
		}
		for name, c := range cases {
			err := d.tx.WithinTx(ctx, func(ctx context.Context) error {
				_, err := pub.Publish(ctx, c.topic, ports.Message{Data: []byte("ok")}, c.msg)
				return err
			})
			if !isInvalid(err) {
				t.Errorf("%s: err = %v, want ErrInvalid", name, err)
			}
		}
		if n, _ := d.rows.Count(ctx, ports.All()); n != 0 {
			t.Fatalf("%d rows written", n)
		}
		//lint:ignore SA1012 a nil context is the point
		if _, err := pub.Publish(nil, "t", ports.Message{Data: []byte("x")}); !isInvalid(err) {
			t.Fatalf("nil ctx: %v", err)
		}
		done, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := pub.Publish(done, "t", ports.Message{Data: []byte("x")}); !errors.Is(err, ports.ErrUnavailable) || !errors.Is(err, context.Canceled) {
			t.Fatalf("done ctx: %v", err)
		}
	})
}

func TestNewPublisherConfig(t *testing.T) {
	d := backends[0].open(t)
	for name, cfg := range map[string]outbox.Config{
		"no tx":          {Rows: d.rows},
		"no rows":        {Tx: d.tx},
		"bad partitions": {Tx: d.tx, Rows: d.rows, Partitions: outbox.MaxPartitions + 1},
	} {
		if _, err := outbox.NewPublisher(cfg); !isInvalid(err) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func TestPartitionOf(t *testing.T) {
	seen := map[int]bool{}
	for i := range 1000 {
		p := outbox.PartitionOf("key-"+strconv.Itoa(i), "", 16)
		if p < 0 || p >= 16 {
			t.Fatalf("partition %d", p)
		}
		seen[p] = true
		if outbox.PartitionOf("key-"+strconv.Itoa(i), "other-id", 16) != p {
			t.Fatal("a keyed message's partition depends on its ID")
		}
	}
	if len(seen) != 16 {
		t.Fatalf("1000 keys reach %d of 16 partitions", len(seen))
	}
}
