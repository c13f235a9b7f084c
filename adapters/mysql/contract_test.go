package mysql

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	mysqldrv "github.com/go-sql-driver/mysql"

	"github.com/portkit/portkit/internal/gormstore/gormstoretest"
	"github.com/portkit/portkit/internal/testenv"
	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// wantServerError checks that err has the kind and carries the server's
// error number.
func wantServerError(t *testing.T, what string, err error, kind error, number uint16) {
	t.Helper()
	if ports.KindOf(err) != kind {
		t.Errorf("%s: %v, want %v", what, err, kind)
	}
	var me *mysqldrv.MySQLError
	if !errors.As(err, &me) || me.Number != number {
		t.Errorf("%s: %v, want server error %d reachable with errors.As", what, err, number)
	}
}

// Server-side rejections are classified by their numbers (they had no
// sentinel at all).
func TestServerErrorsAreClassified(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	// No such table: 1146.
	missing, err := NewStore[portstest.Item](db, WithTable(testenv.UniqueName("pk_my_missing")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = missing.Get(ctx, int64(1))
	wantServerError(t, "Get from a missing table", err, ports.ErrInvalid, 1146)
	_, err = missing.Find(ctx, ports.All())
	wantServerError(t, "Find in a missing table", err, ports.ErrInvalid, 1146)
	wantServerError(t, "Create in a missing table", missing.Create(ctx, &portstest.Item{SKU: "x"}), ports.ErrInvalid, 1146)

	// A table that lacks a column (1054) or holds a shorter one (1406).
	table := testenv.UniqueName("pk_my_narrow")
	if err := db.DB().Exec("CREATE TABLE `" + table + "` (`id` bigint AUTO_INCREMENT PRIMARY KEY, `name` varchar(5))").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, table) })
	type wide struct {
		ID    int64
		Name  string `gorm:"size:100"`
		Extra int
	}
	type narrow struct {
		ID   int64
		Name string `gorm:"size:100"`
	}
	w, _ := NewStore[wide](db, WithTable(table))
	_, err = w.Find(ctx, ports.All())
	wantServerError(t, "Find of a column the table lacks", err, ports.ErrInvalid, 1054)
	n, _ := NewStore[narrow](db, WithTable(table))
	wantServerError(t, "Create of 10 characters in varchar(5)", n.Create(ctx, &narrow{Name: "0123456789"}), ports.ErrInvalid, 1406)

	// Statements past the store's own checks.
	raw := func(sql string, args ...any) error {
		return db.core.Wrap(ctx, "exec", db.DB().Exec(sql, args...).Error)
	}
	if err := db.DB().Exec("CREATE TABLE `" + table + "_v` (`id` int PRIMARY KEY, `t` datetime(3), `s` varchar(10) CHARACTER SET latin1, `i` tinyint)").Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, table+"_v") })
	wantServerError(t, "year 10000", raw("INSERT INTO `"+table+"_v` (id, t) VALUES (1, ?)", "10000-01-01 00:00:00"), ports.ErrInvalid, 1292)
	wantServerError(t, "an emoji in latin1", raw("INSERT INTO `"+table+"_v` (id, s) VALUES (2, ?)", "😀"), ports.ErrInvalid, 1366)
	wantServerError(t, "300 in a tinyint", raw("INSERT INTO `"+table+"_v` (id, i) VALUES (3, ?)", 300), ports.ErrInvalid, 1264)
	wantServerError(t, "a text in a tinyint", raw("INSERT INTO `"+table+"_v` (id, i) VALUES (4, '1x')"), ports.ErrInvalid, 1265)
	ph := make([]string, 70000)
	args := make([]any, len(ph))
	for i := range ph {
		ph[i], args[i] = "?", i
	}
	wantServerError(t, "70 000 placeholders", raw("SELECT 1 FROM `"+table+"_v` WHERE id IN ("+strings.Join(ph, ",")+")", args...), ports.ErrInvalid, 1390)
	if err := raw("INSERT INTO `"+table+"_v` (id, t) VALUES (5, ?)", math.NaN()); ports.KindOf(err) != ports.ErrInvalid {
		t.Errorf("NaN sent past the rules: %v, want ErrInvalid", err)
	}

	// An auto-increment key past its range: 1467 (MariaDB: 167).
	type tiny struct {
		ID   int8
		Name string `gorm:"size:8"`
	}
	ts, err := NewStore[tiny](db, WithTable(testenv.UniqueName("pk_my_tiny")))
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, ts.Table()) })
	if err := ts.Create(ctx, &tiny{ID: 127}); err != nil {
		t.Fatal(err)
	}
	err = ts.Create(ctx, &tiny{Name: "past"})
	var me *mysqldrv.MySQLError
	if ports.KindOf(err) != ports.ErrInvalid || !errors.As(err, &me) || (me.Number != 1467 && me.Number != 167) {
		t.Errorf("Create past the auto-increment range: %v, want ErrInvalid (1467, or 167 on MariaDB)", err)
	}
}

// Wrong credentials and missing grants are ErrPermission, not retryable
// (they were ErrUnavailable).
func TestPermissionErrors(t *testing.T) {
	ctx := context.Background()
	admin := openTest(t, Config{})
	s := newItemStore(t, admin)
	user := testenv.UniqueName("pk_my_ro")[:20]
	const password = "pk-my-ro-password"
	if err := admin.DB().Exec("CREATE USER '" + user + "'@'%' IDENTIFIED BY '" + password + "'").Error; err != nil {
		t.Skipf("cannot create a user on the test server: %v", err)
	}
	t.Cleanup(func() { _ = admin.DB().Exec("DROP USER '" + user + "'@'%'").Error })
	if err := admin.DB().Exec("GRANT SELECT ON `test`.`" + s.Table() + "` TO '" + user + "'@'%'").Error; err != nil {
		t.Fatal(err)
	}
	dc, err := mysqldrv.ParseDSN(testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	dc.User, dc.Passwd = user, password
	ro := openTest(t, Config{DSN: dc.FormatDSN()})
	roStore, err := NewStore[portstest.Item](ro, WithTable(s.Table()))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := roStore.Find(ctx, ports.All()); err != nil {
		t.Fatalf("Find with SELECT granted: %v", err)
	}
	wantServerError(t, "Create without INSERT granted", roStore.Create(ctx, &portstest.Item{SKU: "x"}), ports.ErrPermission, 1142)
	_, err = roStore.DeleteWhere(ctx, ports.Where("Qty", ports.Eq, 1))
	wantServerError(t, "DeleteWhere without DELETE granted", err, ports.ErrPermission, 1142)

	wrong := *dc
	wrong.Passwd = "not-the-password"
	_, err = Open(ctx, Config{DSN: wrong.FormatDSN()}, WithLogger(quietLog))
	wantServerError(t, "Open with a wrong password", err, ports.ErrPermission, 1045)
	if strings.Contains(fmt.Sprint(err), "not-the-password") {
		t.Errorf("the password shows in %v", err)
	}
	other := *dc
	other.DBName = "mysql"
	_, err = Open(ctx, Config{DSN: other.FormatDSN()}, WithLogger(quietLog))
	wantServerError(t, "Open of a database without a grant", err, ports.ErrPermission, 1044)
}

// A lock wait timeout is ErrUnavailable (retry later).
func TestLockWaitTimeoutIsUnavailable(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	it := portstest.Item{SKU: "locked"}
	if err := s.Create(ctx, &it); err != nil {
		t.Fatal(err)
	}
	holding := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- db.WithinTx(ctx, func(ctx context.Context) error {
			if err := s.Patch(ctx, it.ID, ports.Inc("Qty", 1)); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		if err := db.Conn(ctx).Exec("SET SESSION innodb_lock_wait_timeout = 1").Error; err != nil {
			return err
		}
		return s.Patch(ctx, it.ID, ports.Inc("Qty", 1))
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantServerError(t, "Patch of a locked row", err, ports.ErrUnavailable, 1205)
}

// A connection killed under a transaction is ErrUnavailable.
func TestKilledConnectionIsUnavailable(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	admin := openTest(t, Config{})
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		var id int64
		if err := db.Conn(ctx).Raw("SELECT CONNECTION_ID()").Scan(&id).Error; err != nil {
			return err
		}
		if err := admin.DB().Exec(fmt.Sprintf("KILL CONNECTION %d", id)).Error; err != nil {
			return err
		}
		return s.Create(ctx, &portstest.Item{SKU: "after kill"})
	})
	if ports.KindOf(err) != ports.ErrUnavailable {
		t.Errorf("a store call on a killed connection: %v, want ErrUnavailable", err)
	}
	if err := s.Create(ctx, &portstest.Item{SKU: "next"}); err != nil {
		t.Errorf("Create after a connection was killed: %v", err)
	}
}

func TestEntryRules(t *testing.T) { gormstoretest.EntryRules(t, kitEnv()) }
