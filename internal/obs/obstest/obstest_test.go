package obstest

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSDK(t *testing.T) {
	s := New(t)
	in := obs.New(obs.Backend{Port: obs.PortSQL, Name: "mysql", Collection: "orders"}, s.Settings())
	ctx, sp := in.Start(context.Background(), obs.OpGet)
	_, child := in.Start(ctx, obs.OpFind)
	child.End(ports.ErrNotFound)
	sp.End(nil)
	get, find := s.Span("sql.get orders"), s.Span("sql.find orders")
	WantChild(t, get, find)
	WantAttrs(t, find, "db.system.name", "mysql", "error.type", "ErrNotFound")
	WantNoAttr(t, get, "error.type")
	if n := s.Total(obs.MetricDBDuration, "db.operation.name", "get"); n != 1 {
		t.Errorf("%s of get: %v, want 1", obs.MetricDBDuration, n)
	}
	if n := s.NoSecret("orders-secret"); n == 0 {
		t.Error("no text scanned")
	}
	tree := Tree(s.Ended(), "error.type")
	if want := "sql.get orders [client]\n  sql.find orders [client] error.type=ErrNotFound\n"; tree != want {
		t.Errorf("Tree:\n%s\nwant:\n%s", tree, want)
	}
	if !strings.Contains(strings.Join(s.Texts(), "\n"), "metric db.client.operation.duration: db.collection.name=orders") {
		t.Errorf("Texts misses the metric labels: %v", s.Texts())
	}
}
