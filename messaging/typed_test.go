package messaging_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/portkit/portkit/codec"
	"github.com/portkit/portkit/messaging"
	"github.com/portkit/portkit/ports"
)

type OrderCreated struct {
	OrderID int64  `json:"order_id"`
	Ref     string `json:"ref"`
}

func TestEncodeDecode(t *testing.T) {
	m, err := messaging.Encode[OrderCreated](nil, OrderCreated{OrderID: 7, Ref: "A-7"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Attributes[messaging.AttrContentType] != "application/json" {
		t.Fatalf("content type = %q", m.Attributes[messaging.AttrContentType])
	}
	id := m.Attributes[messaging.AttrMessageID]
	if len(id) != 36 || messaging.MessageKey(m) != id {
		t.Fatalf("stable ID = %q", id)
	}
	m2, _ := messaging.Encode[OrderCreated](nil, OrderCreated{})
	if m2.Attributes[messaging.AttrMessageID] == id {
		t.Fatal("two messages got one ID")
	}
	if err := ports.ValidateMessage(m); err != nil {
		t.Fatalf("Encode made an invalid message: %v", err)
	}
	v, err := messaging.Decode[OrderCreated](nil, m)
	if err != nil || v.OrderID != 7 || v.Ref != "A-7" {
		t.Fatalf("Decode = %+v, %v", v, err)
	}
	// A message without a content type is decoded as it is.
	v, err = messaging.Decode[OrderCreated](nil, ports.Message{Data: []byte(`{"order_id":8}`)})
	if err != nil || v.OrderID != 8 {
		t.Fatalf("Decode = %+v, %v", v, err)
	}
}

func TestDecodeFailures(t *testing.T) {
	pc := codec.Proto[*wrapperspb.StringValue]()
	pm, err := messaging.Encode(pc, wrapperspb.String("hi"))
	if err != nil {
		t.Fatal(err)
	}
	for name, m := range map[string]ports.Message{
		"wrong content type": pm,
		"bad data":           {Data: []byte(`{"order_id": "secret-ref-99"}`), Attributes: map[string]string{messaging.AttrContentType: "application/json"}},
	} {
		_, err := messaging.Decode[OrderCreated](nil, m)
		if !errors.Is(err, ports.ErrInvalid) || !codec.IsDecodeError(err) || !messaging.IsPermanent(err) {
			t.Errorf("%s: err = %v, want a permanent ErrInvalid decode error", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: the error quotes the data: %v", name, err)
		}
	}
	got, err := messaging.Decode(pc, pm)
	if err != nil || got.GetValue() != "hi" {
		t.Fatalf("proto: %v, %v", got, err)
	}
}

func TestHandle(t *testing.T) {
	var got []OrderCreated
	h := messaging.Handle[OrderCreated](nil, func(ctx context.Context, v OrderCreated, m ports.Message) error {
		if m.ID != "srv-1" {
			t.Errorf("message ID = %q", m.ID)
		}
		got = append(got, v)
		return nil
	})
	m, _ := messaging.Encode[OrderCreated](nil, OrderCreated{OrderID: 1})
	m.ID = "srv-1"
	if err := h(context.Background(), m); err != nil || len(got) != 1 || got[0].OrderID != 1 {
		t.Fatalf("err = %v, got %v", err, got)
	}
	// A message that does not decode never reaches the handler and is
	// permanent: nacked, or dead-lettered at once.
	bad := ports.Message{ID: "srv-2", Data: []byte("not json")}
	err := h(context.Background(), bad)
	if err == nil || !messaging.IsPermanent(err) || len(got) != 1 {
		t.Fatalf("err = %v, handled %d", err, len(got))
	}
	pub := &recordingPublisher{}
	dl := deadLetter(t, pub, 5, nil)
	if err := dl(h)(context.Background(), bad); err != nil || len(pub.published("dead")) != 1 {
		t.Fatalf("under DeadLetter: err = %v, dead-lettered %d", err, len(pub.published("dead")))
	}
}

func TestPublish(t *testing.T) {
	pub := &recordingPublisher{}
	ids, err := messaging.Publish(context.Background(), pub, "orders", nil, OrderCreated{OrderID: 1}, OrderCreated{OrderID: 2})
	if err != nil || len(ids) != 2 {
		t.Fatalf("ids = %v, err = %v", ids, err)
	}
	msgs := pub.published("orders")
	if len(msgs) != 2 || string(msgs[1].Data) != `{"order_id":2,"ref":""}` {
		t.Fatalf("published %+v", msgs)
	}
	if msgs[0].Attributes[messaging.AttrMessageID] == msgs[1].Attributes[messaging.AttrMessageID] {
		t.Fatal("one ID for two messages")
	}
	_, err = messaging.Publish(context.Background(), pub, "orders", codec.JSON[chan int](), make(chan int))
	if !errors.Is(err, ports.ErrInvalid) {
		t.Fatalf("unencodable value: err = %v", err)
	}
}
