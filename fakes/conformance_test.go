package fakes_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/fakes"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// epoch is where the manual clocks of the conformance runs start.
var epoch = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// closeOnCleanup closes c when the test ends; a case may have closed it
// already, hence the ignored error.
func closeOnCleanup(t *testing.T, c interface{ Close(context.Context) error }) {
	t.Cleanup(func() { _ = c.Close(context.Background()) })
}

func TestConformanceCache(t *testing.T) {
	portstest.TestCache(t, func(t *testing.T) portstest.CacheSetup {
		clock := fakes.NewManualClock(epoch)
		c := fakes.NewCache(fakes.WithClock(clock))
		closeOnCleanup(t, c)
		return portstest.CacheSetup{Cache: c, Connector: c, Advance: clock.Advance, HugeValues: !testing.Short()}
	})
}

// The cache passes under real time too (the suite sleeps instead).
func TestConformanceCacheRealClock(t *testing.T) {
	if testing.Short() {
		t.Skip("sleeps past TTLs")
	}
	portstest.TestCache(t, func(t *testing.T) portstest.CacheSetup {
		c := fakes.NewCache()
		closeOnCleanup(t, c)
		return portstest.CacheSetup{Cache: c, Connector: c}
	})
}

func TestConformanceSQLStore(t *testing.T) {
	portstest.TestSQLStore(t, func(t *testing.T) portstest.SQLSetup {
		db := fakes.NewDB(fakes.WithClock(fakes.NewManualClock(epoch)))
		closeOnCleanup(t, db)
		s, err := fakes.NewSQLStore[portstest.Item](db)
		if err != nil {
			t.Fatal(err)
		}
		return portstest.SQLSetup{
			Store: s, Tx: db, Connector: db,
			Caps: portstest.SQLCaps{Transactions: true, UniqueIndexes: true},
			Versioned: func(t *testing.T) ports.SQLStore[portstest.VItem] {
				v, err := fakes.NewSQLStore[portstest.VItem](db)
				if err != nil {
					t.Fatal(err)
				}
				return v
			},
		}
	})
}

func TestConformanceDocStore(t *testing.T) {
	portstest.TestDocStore(t, func(t *testing.T) portstest.DocSetup {
		clock := fakes.NewManualClock(epoch)
		db := fakes.NewDB(fakes.WithClock(clock))
		closeOnCleanup(t, db)
		s, err := fakes.NewDocStore[portstest.Doc](db)
		if err != nil {
			t.Fatal(err)
		}
		return portstest.DocSetup{
			Store: s, Tx: db, Connector: db, Advance: clock.Advance,
			Caps: portstest.DocCaps{Transactions: true},
			Versioned: func(t *testing.T) ports.DocStore[portstest.VDoc] {
				return mustDoc(fakes.NewDocStore[portstest.VDoc](db))(t)
			},
		}
	})
}

// The document store passes under real time too.
func TestConformanceDocStoreRealClock(t *testing.T) {
	portstest.TestDocStore(t, func(t *testing.T) portstest.DocSetup {
		db := fakes.NewDB()
		closeOnCleanup(t, db)
		s, err := fakes.NewDocStore[portstest.Doc](db)
		if err != nil {
			t.Fatal(err)
		}
		return portstest.DocSetup{Store: s, Tx: db, Connector: db, Caps: portstest.DocCaps{Transactions: true}}
	})
}

func TestConformancePubSub(t *testing.T) {
	portstest.TestPubSub(t, func(t *testing.T) portstest.PubSubSetup {
		ps := fakes.NewPubSub()
		closeOnCleanup(t, ps)
		return portstest.PubSubSetup{
			Publisher: ps, Subscriber: ps, Connector: ps,
			Provision: portstest.AdminProvision(ps), Admin: ps,
			Caps: portstest.PubSubCaps{Ordering: true, DeadLetter: true},
		}
	})
}

func TestConformanceConnector(t *testing.T) {
	type item struct {
		ID   int64
		Name string
	}
	for _, c := range []struct {
		name string
		new  func(t *testing.T) portstest.ConnectorSetup
	}{
		{"Cache", func(t *testing.T) portstest.ConnectorSetup {
			c := fakes.NewCache()
			closeOnCleanup(t, c)
			return portstest.ConnectorSetup{Connector: c, Name: "fake-cache"}
		}},
		{"DB", func(t *testing.T) portstest.ConnectorSetup {
			db := fakes.NewDB()
			closeOnCleanup(t, db)
			return portstest.ConnectorSetup{Connector: db, Name: "fake-sql"}
		}},
		{"SQLStore", func(t *testing.T) portstest.ConnectorSetup {
			db := fakes.NewDB()
			closeOnCleanup(t, db)
			s, err := fakes.NewSQLStore[item](db)
			if err != nil {
				t.Fatal(err)
			}
			closeOnCleanup(t, s)
			return portstest.ConnectorSetup{Connector: s, Name: "fake-sql"}
		}},
		{"DocStore", func(t *testing.T) portstest.ConnectorSetup {
			db := fakes.NewDB()
			closeOnCleanup(t, db)
			s, err := fakes.NewDocStore[portstest.Doc](db)
			if err != nil {
				t.Fatal(err)
			}
			closeOnCleanup(t, s)
			return portstest.ConnectorSetup{Connector: s, Name: "fake-doc"}
		}},
		{"PubSub", func(t *testing.T) portstest.ConnectorSetup {
			ps := fakes.NewPubSub()
			closeOnCleanup(t, ps)
			return portstest.ConnectorSetup{Connector: ps, Name: "fake-pubsub"}
		}},
	} {
		t.Run(c.name, func(t *testing.T) { portstest.TestConnector(t, c.new) })
	}
}

func TestErrorContract(t *testing.T) {
	portstest.TestErrorContract(t, func(t *testing.T) portstest.ErrorSetup {
		db := fakes.NewDB()
		closeOnCleanup(t, db)
		items, err := fakes.NewSQLStore[portstest.Item](db)
		if err != nil {
			t.Fatal(err)
		}
		docDB := fakes.NewDB()
		closeOnCleanup(t, docDB)
		c := fakes.NewCache()
		closeOnCleanup(t, c)
		ps := fakes.NewPubSub()
		closeOnCleanup(t, ps)
		return portstest.ErrorSetup{
			SQL: &portstest.SQLErrors{Store: items, Tx: db, Connector: db, UnsignedBigint: true,
				Wide: func(t *testing.T) ports.SQLStore[portstest.Wide] {
					s, err := fakes.NewSQLStore[portstest.Wide](db)
					if err != nil {
						t.Fatal(err)
					}
					return s
				}},
			Doc: &portstest.DocErrors{Store: mustDoc(fakes.NewDocStore[portstest.Doc](docDB))(t), Connector: docDB,
				Wide: func(t *testing.T) ports.DocStore[portstest.WideDoc] {
					return mustDoc(fakes.NewDocStore[portstest.WideDoc](docDB))(t)
				}},
			Cache:  &portstest.CacheErrors{Cache: c, Connector: c, HugeValues: !testing.Short()},
			PubSub: &portstest.PubSubErrors{Publisher: ps, Subscriber: ps, Connector: ps, Provision: portstest.AdminProvision(ps)},
		}
	})
}

// mustDoc turns NewDocStore's two results into a constructor that fails
// the test on an error.
func mustDoc[T any, PT ports.DocModel[T]](s *fakes.DocStore[T, PT], err error) func(*testing.T) ports.DocStore[T] {
	return func(t *testing.T) ports.DocStore[T] {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}
