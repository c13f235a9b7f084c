package mocks_test

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/goleak"
	"go.uber.org/mock/gomock"

	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/mocks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The generated mocks satisfy the ports they mock.
var (
	_ ports.Connector          = (*mocks.MockConnector)(nil)
	_ ports.SQLStore[struct{}] = (*mocks.MockSQLStore[struct{}])(nil)
	_ ports.Transactor         = (*mocks.MockTransactor)(nil)
	_ ports.DocStore[struct{}] = (*mocks.MockDocStore[struct{}])(nil)
	_ ports.Cache              = (*mocks.MockCache)(nil)
	_ ports.Publisher          = (*mocks.MockPublisher)(nil)
	_ ports.Subscriber         = (*mocks.MockSubscriber)(nil)
)

func TestCacheMockReturnsProgrammedMiss(t *testing.T) {
	ctrl := gomock.NewController(t)
	c := mocks.NewMockCache(ctrl)
	c.EXPECT().Get(gomock.Any(), "k").Return(nil, ports.ErrNotFound).Times(1)

	_, err := c.Get(context.Background(), "k")
	if !errors.Is(err, ports.ErrNotFound) {
		t.Fatalf("Get: got %v, want ErrNotFound", err)
	}
}

func TestPublisherMockMatchesMessages(t *testing.T) {
	ctrl := gomock.NewController(t)
	p := mocks.NewMockPublisher(ctrl)
	p.EXPECT().
		Publish(gomock.Any(), "orders", gomock.Cond(func(m ports.Message) bool { return m.Attributes["id"] == "7" })).
		Return([]string{"m1"}, nil)

	ids, err := p.Publish(context.Background(), "orders", ports.Message{Data: []byte("x"), Attributes: map[string]string{"id": "7"}})
	if err != nil || len(ids) != 1 || ids[0] != "m1" {
		t.Fatalf("Publish: got %v, %v", ids, err)
	}
}
