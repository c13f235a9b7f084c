package mongo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/internal/testutil"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// TestTelemetry: one span per DocStore call, Check and Close with the
// semantic conventions' attributes, errors by sentinel, the metrics, and
// never a filter, an update or a document value.
func TestTelemetry(t *testing.T) {
	uri := backendURI(t)
	s := obstest.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := testenv.UniqueName("pk_t2")
	st, err := mongo.Open(ctx, mongo.Config{URI: uri, Database: name, ConnectTimeout: 10 * time.Second},
		mongo.WithLogger(discard()), mongo.WithTracerProvider(s.TP), mongo.WithMeterProvider(s.MP))
	if errors.Is(err, ports.ErrUnavailable) {
		testenv.Missing(t, "mongo", err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = st.Database().Drop(context.Background())
		_ = st.Close(context.Background())
	}()
	docs, err := mongo.NewDocStore[portstest.Doc](st, "docs")
	if err != nil {
		t.Fatal(err)
	}
	secret := "title-" + testutil.SecretPassword
	d := &portstest.Doc{Title: secret}
	if err := docs.Insert(ctx, d); err != nil {
		t.Fatal(err)
	}
	found, err := docs.Find(ctx, ports.Where("Title", ports.Eq, secret))
	if err != nil || len(found) != 1 {
		t.Fatalf("Find = %v, %v", found, err)
	}
	_ = docs.Patch(ctx, d.ID, ports.Set("Title", secret+"2"))
	_, _ = docs.Get(ctx, "000000000000000000000000") // ErrNotFound
	if err := st.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if st.SupportsTransactions() {
		_ = st.WithinTx(ctx, func(ctx context.Context) error { return docs.Insert(ctx, &portstest.Doc{Title: secret}) })
		obstest.WantChild(t, s.Span("tx.within_tx"), s.Named("doc.insert docs")[1])
	}

	ins := s.Named("doc.insert docs")[0]
	obstest.WantAttrs(t, ins, "db.system.name", "mongodb", "db.collection.name", "docs", "db.operation.name", "insert",
		"server.address", "127.0.0.1", "portkit.port", "doc")
	obstest.WantAttrs(t, s.Span("doc.find docs"), "db.response.returned_rows", "1")
	obstest.WantNoAttr(t, s.Span("doc.patch docs"), "error.type")
	obstest.WantAttrs(t, s.Span("doc.get docs"), "error.type", "ErrNotFound")
	obstest.WantAttrs(t, s.Span("check mongo"), "portkit.connector.name", "mongo")
	if n := s.Total(obs.MetricDBDuration, "db.collection.name", "docs"); n < 4 {
		t.Errorf("%v durations on docs, want 4 or more", n)
	}
	if n := s.Total(obs.MetricErrors, "error.type", "ErrNotFound"); n != 1 {
		t.Errorf("%v ErrNotFound, want 1", n)
	}
	s.NoSecret(testutil.SecretMarker)
}
