package postgres

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/portkit/portkit/ports"
	"github.com/portkit/portkit/ports/portstest"
)

// paramBuf encodes every parameter as pgx's own query builder does: the
// same bytes, the same NULLs (an empty string is not NULL, even first
// into a fresh buffer), the same formats and the same errors, and a
// reused buffer encodes as a fresh one.
func TestParamBufMatchesPgxBuilder(t *testing.T) {
	note := "n"
	var nilNote *string
	at := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
	cases := []struct {
		name string
		oids []uint32
		args []any
	}{
		{"empty string first", []uint32{pgtype.VarcharOID, pgtype.TextOID}, []any{"", ""}},
		{"strings", []uint32{pgtype.VarcharOID, pgtype.TextOID, pgtype.VarcharOID}, []any{"sku-1", "café", &note}},
		{"nulls", []uint32{pgtype.VarcharOID, pgtype.Int8OID, pgtype.TimestamptzOID}, []any{nilNote, nil, sql.NullTime{}}},
		{"numbers", []uint32{pgtype.Int8OID, pgtype.Int4OID, pgtype.NumericOID, pgtype.Float8OID, pgtype.NumericOID},
			[]any{int64(-7), 42, 9.5, -0.25, int64(3)}},
		{"bool time bytes", []uint32{pgtype.BoolOID, pgtype.TimestamptzOID, pgtype.ByteaOID, pgtype.ByteaOID, pgtype.ByteaOID},
			[]any{true, at, []byte{}, []byte(nil), []byte{0, 1, 255}}},
		{"valuers", []uint32{pgtype.VarcharOID, pgtype.Int8OID, pgtype.TimestamptzOID},
			[]any{sql.NullString{String: "v", Valid: true}, sql.NullInt64{}, sql.NullTime{Time: at, Valid: true}}},
		{"text into a number column", []uint32{pgtype.Int8OID}, []any{"12"}},
		{"text into jsonb", []uint32{pgtype.JSONBOID, pgtype.JSONBOID}, []any{`{"a":1}`, &note}},
		{"text into a binary-first type", []uint32{binaryFirstOID, binaryFirstOID, binaryFirstOID}, []any{"s", &note, 7}},
		{"unencodable", []uint32{pgtype.Int8OID, pgtype.Int8OID}, []any{int64(1), struct{ X int }{1}}},
		{"out of range", []uint32{pgtype.Int4OID}, []any{int64(1) << 40}},
	}
	reused := new(paramBuf)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sd := &pgconn.StatementDescription{ParamOIDs: c.oids,
				Fields: []pgconn.FieldDescription{{Name: "id", DataTypeOID: pgtype.Int8OID}}}
			var want pgx.ExtendedQueryBuilder
			wantErr := want.Build(typeMap(), sd, c.args)
			for _, b := range []*paramBuf{new(paramBuf), reused} {
				err := b.build(typeMap(), sd, c.args)
				if fmt.Sprint(err) != fmt.Sprint(wantErr) {
					t.Fatalf("error %v, pgx's builder: %v", err, wantErr)
				}
				if err != nil {
					continue
				}
				if len(b.values) != len(want.ParamValues) {
					t.Fatalf("%d values, pgx's builder: %d", len(b.values), len(want.ParamValues))
				}
				for i, v := range b.values {
					w := want.ParamValues[i]
					if (v == nil) != (w == nil) || !bytes.Equal(v, w) {
						t.Errorf("args[%d] = %v encoded as %#v, pgx's builder: %#v", i, c.args[i], v, w)
					}
				}
				if fmt.Sprint(b.formats) != fmt.Sprint(want.ParamFormats) || fmt.Sprint(b.results) != fmt.Sprint(want.ResultFormats) {
					t.Errorf("formats %v, results %v; pgx's builder: %v, %v", b.formats, b.results, want.ParamFormats, want.ResultFormats)
				}
			}
		})
	}
}

// binaryFirstOID is the type of binaryFirst in typeMap's map.
const binaryFirstOID = 900001

// binaryFirst is a type whose preferred format is binary and which
// encodes strings in both formats, differently (pgx's builder sends a
// string in text whatever the type prefers), and anything else in text
// only (pgx's builder falls back on the other format).
type binaryFirst struct{ pgtype.TextCodec }

func (binaryFirst) PreferredFormat() int16 { return pgtype.BinaryFormatCode }

func (binaryFirst) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(string); !ok && format == pgtype.BinaryFormatCode {
		return nil
	}
	return binaryFirstPlan{format}
}

type binaryFirstPlan struct{ format int16 }

func (p binaryFirstPlan) Encode(value any, buf []byte) ([]byte, error) {
	return fmt.Appendf(buf, "%d:%v", p.format, value), nil
}

// typeMap is pgx's default type map with binaryFirst registered.
func typeMap() *pgtype.Map {
	m := pgtype.NewMap()
	m.RegisterType(&pgtype.Type{Name: "binary_first", OID: binaryFirstOID, Codec: binaryFirst{}})
	return m
}

// The first CreateMany of a fresh DB (a fresh parameter buffer) stores an
// empty string as an empty string: the unique index sees it, and the
// second insert of it is a conflict.
func TestCreateManyEmptyStringFirst(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{})
	s := newItemStore(t, db)
	if err := s.CreateMany(ctx, []*portstest.Item{{SKU: ""}, {SKU: "b"}}); err != nil {
		t.Fatal(err)
	}
	var nulls int64
	if err := db.DB().Raw("SELECT count(*) FROM " + quoteIdent(s.Table()) + " WHERE sku IS NULL").Scan(&nulls).Error; err != nil || nulls != 0 {
		t.Fatalf("%d NULL SKUs (%v), want none", nulls, err)
	}
	if err := s.CreateMany(ctx, []*portstest.Item{{SKU: "c"}, {SKU: ""}}); !errors.Is(err, ports.ErrConflict) {
		t.Fatalf("second empty SKU: %v, want ErrConflict", err)
	}
}

// A statement prepared before the key column changed type, or dropped
// from the connection, is prepared again, outside a transaction; inside
// one the server's error is returned, as it is, and the next call
// prepares it again.
func TestCreateManyAfterKeyTypeChange(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{MaxOpenConns: 1}) // one connection: the one that prepared
	s := newItemStore(t, db)
	if err := s.CreateMany(ctx, []*portstest.Item{{SKU: "a"}, {SKU: "b"}}); err != nil {
		t.Fatal(err)
	}
	if err := db.DB().Exec("ALTER TABLE " + quoteIdent(s.Table()) + " ALTER COLUMN id TYPE integer").Error; err != nil {
		t.Fatal(err)
	}
	err := db.WithinTx(ctx, func(ctx context.Context) error {
		return s.CreateMany(ctx, []*portstest.Item{{SKU: "c"}, {SKU: "d"}})
	})
	if err == nil || !strings.Contains(err.Error(), "cached plan must not change result type") {
		t.Errorf("CreateMany in a transaction: %v, want the server's cached plan error", err)
	}
	items := []*portstest.Item{{SKU: "e"}, {SKU: "f"}}
	if err := s.CreateMany(ctx, items); err != nil {
		t.Fatalf("CreateMany after the type change: %v", err)
	}
	more := []*portstest.Item{{SKU: "g"}, {SKU: "h"}}
	if err := db.DB().Exec("DEALLOCATE ALL").Error; err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMany(ctx, more); err != nil {
		t.Fatalf("CreateMany after DEALLOCATE ALL: %v", err)
	}
	items = append(items, more...)
	for _, it := range items {
		got, err := s.Get(ctx, it.ID)
		if err != nil || got.SKU != it.SKU {
			t.Errorf("Get(%d): %+v, %v; want SKU %q", it.ID, got, err, it.SKU)
		}
	}
}

// A connection set to another query exec mode than pgx's default runs
// the insert through pgx's Conn.Query, in that mode: no named prepared
// statement is left on the server (PgBouncer's transaction mode, say,
// cannot keep one), where the default mode prepares the insert once.
func TestCreateManyOtherExecModes(t *testing.T) {
	for mode, prepared := range map[string]int64{"cache_statement": 1,
		"simple_protocol": 0, "exec": 0, "cache_describe": 0, "describe_exec": 0} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			db := openTest(t, Config{MaxOpenConns: 1, URL: withParam(testURL(t), "default_query_exec_mode", mode)})
			s := newItemStore(t, db)
			items := []*portstest.Item{{SKU: "", Name: "it's"}, {SKU: "b", Qty: 3}}
			for range 2 {
				for _, it := range items {
					it.ID = 0
					it.SKU += "x"
				}
				if err := s.CreateMany(ctx, items); err != nil {
					t.Fatal(err)
				}
			}
			for _, it := range items {
				got, err := s.Get(ctx, it.ID)
				if err != nil || got.SKU != it.SKU || got.Name != it.Name || got.Qty != it.Qty {
					t.Errorf("Get(%d): %+v, %v; want %+v", it.ID, got, err, it)
				}
			}
			var n int64
			if err := db.DB().Raw("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO %'").Scan(&n).Error; err != nil {
				t.Fatal(err)
			}
			if n != prepared {
				t.Errorf("%d inserts prepared on the server, want %d", n, prepared)
			}
		})
	}
}

// CreateMany keeps the inserts of its first 8 batch sizes prepared on
// the connection; a statement of any other size goes into pgx's bounded
// statement cache, so that batches of ever new sizes cannot pile up
// prepared statements on the server.
func TestCreateManyKeepsFewStatements(t *testing.T) {
	ctx := context.Background()
	db := openTest(t, Config{MaxOpenConns: 1})
	s := newItemStore(t, db)
	k := 0
	for n := 1; n <= 11; n++ {
		items := make([]*portstest.Item, n)
		for i := range items {
			k++
			items[i] = &portstest.Item{SKU: fmt.Sprint("sku-", k)}
		}
		if err := s.CreateMany(ctx, items); err != nil {
			t.Fatalf("CreateMany of %d: %v", n, err)
		}
		if items[n-1].ID == 0 {
			t.Fatalf("CreateMany of %d: no key handed back", n)
		}
	}
	var kept, cached int64
	if err := db.DB().Raw(`SELECT count(*) FILTER (WHERE name NOT LIKE 'stmtcache%'), count(*) FILTER (WHERE name LIKE 'stmtcache%')
		FROM pg_prepared_statements WHERE statement LIKE 'INSERT INTO %'`).Row().Scan(&kept, &cached); err != nil {
		t.Fatal(err)
	}
	if kept != 8 || cached != 3 {
		t.Errorf("%d inserts kept prepared and %d in pgx's cache, want 8 and 3", kept, cached)
	}
}
