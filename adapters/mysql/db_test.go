package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"

	"github.com/portkit/portkit/internal/faults"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a log
// handler.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// captureLog returns a debug-level logger writing into the returned buffer.
func captureLog() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

func TestOpenServerSilentReturnsWithinTimeout(t *testing.T) {
	log, logs := captureLog()
	addr := faults.Blackhole(t)
	start := time.Now()
	db, err := Open(context.Background(), Config{
		DSN:            "app:" + secret + "@tcp(" + addr + ")/shop",
		ConnectTimeout: 300 * time.Millisecond,
	}, WithLogger(log))
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Open against a silent server returned after %v, want about the 300ms connect timeout", elapsed)
	}
	if db != nil || !errors.Is(err, ports.ErrUnavailable) {
		t.Fatalf("Open against a silent server: db %v, err %v, want ErrUnavailable", db, err)
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), logs.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("the password shows in %q", s)
		}
	}
	if !strings.Contains(err.Error(), addr) {
		t.Errorf("error %q does not name the address", err)
	}
}

func TestOpenRefused(t *testing.T) {
	addr := faults.ClosedPort(t)
	_, err := Open(context.Background(), Config{DSN: "app@tcp(" + addr + ")/x"}, WithLogger(quietLog))
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Open of a closed port: %v, want ErrUnavailable", err)
	}
}

func TestOpenInvalidConfig(t *testing.T) {
	for _, c := range []Config{{}, {DSN: "nonsense"}, {Host: "db", Port: -1}, {DSN: "u@tcp(db)/x", ReplicaDSNs: []string{""}}} {
		if _, err := Open(context.Background(), c, WithLogger(quietLog)); !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("Open(%v): %v, want ErrInvalid", c, err)
		}
	}
}

func TestOpenWrongPasswordHidesIt(t *testing.T) {
	dc, err := mysqldrv.ParseDSN(testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	dc.Passwd = secret + "-wrong"
	log, logs := captureLog()
	_, err = Open(context.Background(), Config{DSN: dc.FormatDSN()}, WithLogger(log))
	if err == nil {
		t.Skip("the test server accepts any password")
	}
	if ports.KindOf(err) != ports.ErrPermission {
		t.Errorf("Open with a wrong password: %v, want ErrPermission (not retryable)", err)
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%#v", err), logs.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("the password shows in %q", s)
		}
	}
}

// stallProxy forwards TCP to a server until stalled: then it holds
// whatever it reads, as a server that hangs would.
type stallProxy struct {
	ln      net.Listener
	target  string
	stalled atomic.Bool
	done    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, target: target, done: make(chan struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *stallProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

func (p *stallProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		for n > 0 && p.stalled.Load() {
			select {
			case <-p.done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *stallProxy) close() {
	close(p.done)
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func TestStalledServerCheckAndCallsReturnInTime(t *testing.T) {
	dc, err := mysqldrv.ParseDSN(testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	p := newStallProxy(t, dc.Addr)
	dc.Addr = p.ln.Addr().String()
	db := openTest(t, Config{DSN: dc.FormatDSN(), CheckTimeout: 300 * time.Millisecond})
	s := newItemStore(t, db)
	ctx := context.Background()
	it := portstest.Item{SKU: "a", CreatedAt: time.Now()}
	if err := s.Create(ctx, &it); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(ctx); err != nil {
		t.Fatalf("Check before the stall: %v", err)
	}

	p.stalled.Store(true)
	start := time.Now()
	err = db.Check(ctx)
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Check on a stalled server returned after %v, want about its 300ms timeout", elapsed)
	}
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Check on a stalled server: %v, want ErrUnavailable", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = s.Get(cctx, it.ID)
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("Get on a stalled server returned after %v, want about its context's 300ms", elapsed)
	}
	if !errors.Is(err, ports.ErrUnavailable) {
		t.Errorf("Get on a stalled server: %v, want ErrUnavailable", err)
	}

	p.stalled.Store(false)
	if err := db.Check(ctx); err != nil {
		t.Errorf("Check after the server recovered: %v", err)
	}
	if got, err := s.Get(ctx, it.ID); err != nil || got.SKU != "a" {
		t.Errorf("Get after the server recovered: %+v, %v", got, err)
	}
}

func TestReplicaRouting(t *testing.T) {
	ctx := context.Background()
	dsn := testDSN(t)
	admin := openTest(t, Config{})
	// The "replica" is another database on the same server, with the same
	// table but none of the primary's rows: what a read returns shows
	// which pool served it.
	replicaDB := testenv.UniqueName("pk_my_portkit_replica")
	if err := admin.DB().Exec("CREATE DATABASE `" + replicaDB + "`").Error; err != nil {
		t.Skipf("cannot create a replica database: %v", err)
	}
	t.Cleanup(func() { _ = admin.DB().Exec("DROP DATABASE `" + replicaDB + "`").Error })
	dc, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	rc := dc.Clone()
	rc.DBName = replicaDB
	table := testenv.UniqueName("pk_my_items")

	// The table exists on the replica first: Migrate must look at the
	// primary, or it would create nothing there.
	replicaOnly := openTest(t, Config{DSN: rc.FormatDSN()})
	rs, err := NewStore[portstest.Item](replicaOnly, WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	if err := rs.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	db := openTest(t, Config{DSN: dsn, ReplicaDSNs: []string{rc.FormatDSN()}})
	s, err := NewStore[portstest.Item](db, WithTable(table))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, table) })

	it := portstest.Item{SKU: "routed", CreatedAt: time.Now()}
	if err := s.Create(ctx, &it); err != nil {
		t.Fatalf("Create (to the primary): %v", err)
	}
	if _, err := s.Get(ctx, it.ID); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Get outside a transaction: %v, want ErrNotFound from the replica", err)
	}
	if n, err := s.Count(ctx, ports.All()); err != nil || n != 0 {
		t.Errorf("Count outside a transaction = %d, %v, want 0 from the replica", n, err)
	}
	if got, err := s.Get(ReadFromPrimary(ctx), it.ID); err != nil || got.SKU != "routed" {
		t.Errorf("Get with ReadFromPrimary = %+v, %v, want the row from the primary", got, err)
	}
	if got, err := s.Find(ReadFromPrimary(ctx), ports.All()); err != nil || len(got) != 1 {
		t.Errorf("Find with ReadFromPrimary = %d rows, %v, want 1 from the primary", len(got), err)
	}
	err = db.WithinTx(ctx, func(ctx context.Context) error {
		got, err := s.Get(ctx, it.ID)
		if err != nil || got.SKU != "routed" {
			t.Errorf("Get inside WithinTx = %+v, %v, want the row from the primary", got, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The same, seen through connection ids: each pool's own id, and
	// what a raw read through gorm's resolver reports.
	var primaryID, replicaID, routedID, txID int64
	if err := db.primary.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&primaryID); err != nil {
		t.Fatal(err)
	}
	if err := db.replicas[0].QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&replicaID); err != nil {
		t.Fatal(err)
	}
	db.primary.SetMaxOpenConns(1)
	db.replicas[0].SetMaxOpenConns(1)
	if err := db.Conn(ctx).Raw("SELECT CONNECTION_ID()").Scan(&routedID).Error; err != nil {
		t.Fatal(err)
	}
	if routedID != replicaID {
		t.Errorf("a read through DB.Conn ran on connection %d; replica %d, primary %d", routedID, replicaID, primaryID)
	}
	_ = db.WithinTx(ctx, func(ctx context.Context) error {
		return db.Conn(ctx).Raw("SELECT CONNECTION_ID()").Scan(&txID).Error
	})
	if txID != primaryID {
		t.Errorf("a read in a transaction ran on connection %d; primary %d, replica %d", txID, primaryID, replicaID)
	}
	if err := db.Check(ctx); err != nil {
		t.Errorf("Check with a replica: %v", err)
	}
}

func TestWithinTxIgnoresAnotherDBsTransaction(t *testing.T) {
	ctx := context.Background()
	db1 := openTest(t, Config{})
	db2 := openTest(t, Config{})
	s2 := newItemStore(t, db2)
	var id int64
	err := db1.WithinTx(ctx, func(ctx context.Context) error {
		it := portstest.Item{SKU: "other", CreatedAt: time.Now()}
		if err := s2.Create(ctx, &it); err != nil {
			return err
		}
		id = it.ID
		return errors.New("roll back db1's transaction")
	})
	if err == nil {
		t.Fatal("WithinTx returned nil for a failing fn")
	}
	if _, err := s2.Get(ctx, id); err != nil {
		t.Errorf("a store of another DB joined db1's transaction: its row is gone (%v)", err)
	}
}

func TestConnJoinsTransaction(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	_ = db.WithinTx(ctx, func(ctx context.Context) error {
		it := portstest.Item{SKU: "via-gorm", CreatedAt: time.Now()}
		if err := db.Conn(ctx).Table(s.Table()).Create(&it).Error; err != nil {
			t.Fatal(err)
		}
		return errors.New("roll back")
	})
	if n, err := s.Count(ctx, ports.All()); err != nil || n != 0 {
		t.Errorf("Count after rolling back a row written through Conn(ctx) = %d, %v, want 0", n, err)
	}
}

func TestCreateManyBatchesAreAtomic(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	s := newItemStore(t, db, WithBatchSize(2))
	items := make([]*portstest.Item, 5)
	for i := range items {
		items[i] = &portstest.Item{SKU: fmt.Sprintf("b%d", i), CreatedAt: time.Now()}
	}
	items[3].SKU = "b0" // a conflict in the second batch
	if err := s.CreateMany(ctx, items); !errors.Is(err, ports.ErrConflict) {
		t.Fatalf("CreateMany with a duplicate in the second batch: %v, want ErrConflict", err)
	}
	if n, err := s.Count(ctx, ports.All()); err != nil || n != 0 {
		t.Errorf("Count after a failed CreateMany of 3 batches = %d, %v, want 0", n, err)
	}
	items[3].SKU = "b3"
	for _, it := range items {
		it.ID = 0
	}
	if err := s.CreateMany(ctx, items); err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if got, err := s.Get(ctx, it.ID); err != nil || got.SKU != it.SKU {
			t.Errorf("Get(%d) after CreateMany in 3 batches = %+v, %v, want %s", it.ID, got, err, it.SKU)
		}
	}
}

func TestGetRunsHooksAndSoftDelete(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	hooks, err := NewStore[hookItem](db, WithTable(testenv.UniqueName("pk_my_hooks")))
	if err != nil {
		t.Fatal(err)
	}
	soft, err := NewStore[softItem](db, WithTable(testenv.UniqueName("pk_my_soft")))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []interface {
		Migrate(context.Context) error
		Table() string
	}{hooks, soft} {
		if err := m.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { dropTable(t, m.Table()) })
	}
	h := hookItem{Name: "x"}
	if err := hooks.Create(ctx, &h); err != nil {
		t.Fatal(err)
	}
	if got, err := hooks.Get(ctx, h.ID); err != nil || got.Name != "hooked x" {
		t.Errorf("Get of a model with AfterFind = %+v, %v, want the hook applied", got, err)
	}
	si := softItem{Name: "s"}
	if err := soft.Create(ctx, &si); err != nil {
		t.Fatal(err)
	}
	if got, err := soft.Get(ctx, si.ID); err != nil || got.Name != "s" {
		t.Fatalf("Get of a soft-delete model = %+v, %v", got, err)
	}
	if err := soft.Delete(ctx, si.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := soft.Get(ctx, si.ID); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("Get after a soft delete: %v, want ErrNotFound", err)
	}
	if err := soft.Delete(ctx, si.ID); !errors.Is(err, ports.ErrNotFound) {
		t.Errorf("second soft Delete: %v, want ErrNotFound", err)
	}
	var raw int64
	if err := db.DB().Table(soft.Table()).Unscoped().Count(&raw).Error; err != nil || raw != 1 {
		t.Errorf("rows left by a soft delete = %d, %v, want 1", raw, err)
	}
}

// jsonItem has a serializer field and a custom sql.Scanner field.
type jsonItem struct {
	ID    int64
	Name  string
	Tags  []string `gorm:"serializer:json"`
	Maybe sql.NullInt64
	When  *time.Time
}

func TestGetConvertsLikeGorm(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	s, err := NewStore[jsonItem](db, WithTable(testenv.UniqueName("pk_my_json")))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, s.Table()) })
	now := time.Now().UTC().Truncate(time.Millisecond)
	it := jsonItem{Name: "j", Tags: []string{"a", "b"}, Maybe: sql.NullInt64{Int64: 7, Valid: true}, When: &now}
	if err := s.Create(ctx, &it); err != nil {
		t.Fatal(err)
	}
	// A row written outside gorm, with NULL in every nullable column.
	if err := db.DB().Exec("INSERT INTO `"+s.Table()+"` (id) VALUES (?)", it.ID+1).Error; err != nil {
		t.Fatal(err)
	}
	for _, withCallbacks := range []bool{false, true} {
		store := s
		if withCallbacks {
			if store, err = NewStore[jsonItem](db, WithTable(s.Table()), WithQueryCallbacks()); err != nil {
				t.Fatal(err)
			}
		}
		got, err := store.Get(ctx, it.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != "j" || len(got.Tags) != 2 || got.Tags[1] != "b" || got.Maybe != it.Maybe || got.When == nil || !got.When.Equal(now) {
			t.Errorf("callbacks=%v: Get = %+v, want %+v", withCallbacks, got, it)
		}
		null, err := store.Get(ctx, it.ID+1)
		if err != nil {
			t.Fatalf("callbacks=%v: Get of a row of NULLs: %v", withCallbacks, err)
		}
		if null.Name != "" || null.Tags != nil || null.Maybe.Valid || null.When != nil {
			t.Errorf("callbacks=%v: Get of a row of NULLs = %+v, want zero values", withCallbacks, null)
		}
	}
}

func TestLogging(t *testing.T) {
	ctx := context.Background()
	const value = "a-parameter-value-42"
	for _, params := range []bool{false, true} {
		log, logs := captureLog()
		db := openTest(t, Config{SlowThreshold: time.Nanosecond, LogParams: params}, WithLogger(log))
		s := newItemStore(t, db)
		it := portstest.Item{SKU: value, CreatedAt: time.Now()}
		if err := s.Create(ctx, &it); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, it.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Find(ctx, ports.Where("SKU", ports.Eq, value)); err != nil {
			t.Fatal(err)
		}
		dup := it
		dup.ID = 0
		_ = s.Create(ctx, &dup)
		out := logs.String()
		for _, want := range []string{"mysql: connected", "mysql: slow statement", "SELECT `id`,`sku`", "WHERE `id` =", "INSERT INTO", "Error 1062"} {
			if !strings.Contains(out, want) {
				t.Errorf("LogParams=%v: log lacks %q:\n%s", params, want, out)
			}
		}
		if strings.Contains(out, value) != params {
			t.Errorf("LogParams=%v: parameter shown = %v:\n%s", params, !params, out)
		}
		if strings.Contains(out, "'{}'") {
			t.Errorf("NewStore's dry run shows in the log:\n%s", out)
		}
	}

	// At the default threshold nothing here is slow: only the failure is
	// logged, at debug level.
	log, logs := captureLog()
	db := openTest(t, Config{}, WithLogger(log))
	s := newItemStore(t, db)
	it := portstest.Item{SKU: "dup", CreatedAt: time.Now()}
	if err := s.Create(ctx, &it); err != nil {
		t.Fatal(err)
	}
	it.ID = 0
	_ = s.Create(ctx, &it)
	if _, err := s.Get(ctx, int64(1<<40)); !errors.Is(err, ports.ErrNotFound) {
		t.Fatal(err)
	}
	out := logs.String()
	if strings.Count(out, "\n") != 2 || !strings.Contains(out, `level=DEBUG msg="mysql: statement failed"`) || strings.Contains(out, "level=WARN") {
		t.Errorf("want the connect line and one debug line for the duplicate, nothing for a not-found Get:\n%s", out)
	}
}

func TestDBAccessors(t *testing.T) {
	db := openTest(t, Config{})
	if db.Name() != "mysql" {
		t.Errorf("Name() = %q", db.Name())
	}
	var one int
	if err := db.DB().Raw("SELECT 1").Scan(&one).Error; err != nil || one != 1 {
		t.Errorf("DB() escape hatch: %d, %v", one, err)
	}
	if err := db.WithinTx(context.Background(), nil); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("WithinTx(nil fn): %v, want ErrInvalid", err)
	}
	var _ *gorm.DB = db.Conn(context.Background())
}
