package postgres

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/stdlib"
)

// QueryKeys runs CreateMany's INSERT … RETURNING on pgx's own connection
// (see gormstore.DriverQuerier), as pgx's Conn.Query runs a statement in
// its default mode (cache_statement): prepared once per connection (here
// under its own text, pgx's Prepare), each parameter encoded by pgx's
// type map in the format pgx's query builder chooses, and each returned
// key scanned by pgx's scan plan. The difference is where the encoded
// parameters go: into a buffer kept for the next call, where pgx's
// builder drops any buffer over 256 bytes after each query and grows a
// new one for the next; for 1,000 rows that is some 0.9 MB of garbage per
// call, more than the rest of the insert allocates. The statement stays
// prepared on the connection, outside pgx's bounded statement cache, so
// only the few statements CreateMany keeps (kept: its batch sizes, at
// most 8 per store) go this way; a statement of a batch size seen once,
// or a connection set to another exec mode (default_query_exec_mode in
// the URL), runs with Conn.Query itself.
//
// Like the stdlib driver, it answers driver.ErrBadConn for a closed
// connection and for a failure pgx reports safe to retry (nothing was
// sent). A prepared statement the server no longer accepts ("cached plan
// must not change result type", after the key column's type changed) or
// no longer has (DEALLOCATE ALL) is forgotten and, outside a transaction
// (which the failure has aborted), prepared and run again, once; pgx's
// statement cache forgets a statement that failed likewise.
func (d dialect) QueryKeys(ctx context.Context, dc any, q string, kept bool, args []any, key func(int64) error) (bool, error) {
	c, ok := dc.(*stdlib.Conn)
	if !ok {
		return false, nil
	}
	conn := c.Conn()
	if conn.IsClosed() {
		return true, driver.ErrBadConn
	}
	var err error
	if !kept || d.params == nil {
		err = queryKeys(ctx, conn, q, args, key)
	} else {
		err = d.execKeys(ctx, conn, q, args, key)
		if isStalePlan(err) {
			// Forget the statement in any case (a transaction's next call
			// prepares it again); run it again only where the failure
			// did not abort a transaction.
			if derr := conn.Deallocate(ctx, q); derr == nil && conn.PgConn().TxStatus() == 'I' {
				err = d.execKeys(ctx, conn, q, args, key)
			}
		}
	}
	if err != nil && pgconn.SafeToRetry(err) {
		return true, driver.ErrBadConn
	}
	return true, err
}

// queryKeys is QueryKeys through pgx's Conn.Query.
func queryKeys(ctx context.Context, conn *pgx.Conn, q string, args []any, key func(int64) error) error {
	rows, err := conn.Query(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var id int64
	dest := []any{&id}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if err := key(id); err != nil {
			return err
		}
	}
	return rows.Err()
}

// execKeys prepares q on conn (once: pgx keeps it by its text), encodes
// args into a pooled buffer and executes the statement, calling key with
// each returned key.
func (d dialect) execKeys(ctx context.Context, conn *pgx.Conn, q string, args []any, key func(int64) error) error {
	sd, err := conn.Prepare(ctx, q, q)
	if err != nil {
		return err
	}
	if len(sd.ParamOIDs) != len(args) {
		return fmt.Errorf("expected %d arguments, got %d", len(sd.ParamOIDs), len(args))
	}
	if len(sd.Fields) != 1 {
		return fmt.Errorf("the insert returns %d columns, not the key alone", len(sd.Fields))
	}
	m := conn.TypeMap()
	b := d.params.Get().(*paramBuf)
	defer b.release(d.params)
	if err := b.build(m, sd, args); err != nil {
		return err
	}
	rr := conn.PgConn().ExecStatement(ctx, sd, b.values, b.formats, b.results)
	var id int64
	plan := m.PlanScan(sd.Fields[0].DataTypeOID, b.results[0], &id)
	for rr.NextRow() {
		if err := plan.Scan(rr.Values()[0], &id); err != nil {
			_, _ = rr.Close()
			return fmt.Errorf("can't scan into dest[0] (col: %s): %w", sd.Fields[0].Name, err)
		}
		if err := key(id); err != nil {
			_, _ = rr.Close()
			return err
		}
	}
	_, err = rr.Close()
	return err
}

// isStalePlan reports whether err is PostgreSQL refusing a prepared
// statement: its result type has changed since it was prepared, or it is
// gone (DEALLOCATE ALL, DISCARD ALL run on the connection).
func isStalePlan(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == "26000" || pe.Code == "0A000" && pe.Message == "cached plan must not change result type"
}

// paramBuf is one statement's encoded parameters, as pgx's
// ExtendedQueryBuilder builds them, in buffers kept between calls.
type paramBuf struct {
	bytes   []byte
	values  [][]byte
	formats []int16
	results []int16
}

// maxParamBuf is the largest buffer a paramBuf keeps when it goes back
// to its pool (a 1,000-row batch of 7 columns takes some 200 KB).
const maxParamBuf = 4 << 20

// newParamPool returns the pool of a DB's paramBufs.
func newParamPool() *sync.Pool {
	return &sync.Pool{New: func() any { return new(paramBuf) }}
}

// release puts b back into pool, unless it grew too big, its values
// cleared (those encoded before b.bytes last grew still hold the arrays
// it outgrew).
func (b *paramBuf) release(pool *sync.Pool) {
	if cap(b.bytes) > maxParamBuf {
		return
	}
	clear(b.values)
	pool.Put(b)
}

// build encodes args for sd as pgx's ExtendedQueryBuilder.Build does:
// for each parameter the preferred format (text for a string, else the
// type map's format for the parameter's type), the other one when the
// preferred fails, NULL for a nil encoding; and the type map's format
// for each result column.
func (b *paramBuf) build(m *pgtype.Map, sd *pgconn.StatementDescription, args []any) error {
	b.bytes, b.values, b.formats, b.results = b.bytes[:0], b.values[:0], b.formats[:0], b.results[:0]
	for i, arg := range args {
		oid := sd.ParamOIDs[i]
		format := m.FormatCodeForOID(oid)
		switch arg.(type) {
		case string, *string:
			format = pgtype.TextFormatCode
		}
		v, err := b.encode(m, oid, format, arg)
		if err != nil {
			other := int16(pgtype.TextFormatCode)
			if format == pgtype.TextFormatCode {
				other = pgtype.BinaryFormatCode
			}
			var otherErr error
			if v, otherErr = b.encode(m, oid, other, arg); otherErr != nil {
				return fmt.Errorf("failed to encode args[%d]: %w", i, err)
			}
			format = other
		}
		b.formats = append(b.formats, format)
		b.values = append(b.values, v)
	}
	for _, f := range sd.Fields {
		b.results = append(b.results, m.FormatCodeForOID(f.DataTypeOID))
	}
	return nil
}

// encode appends arg's encoding to b.bytes and returns it (nil: NULL).
// A failed encoding leaves b.bytes as it was. b.bytes is never nil when
// encoding: the encoders return the buffer they were given for an empty
// value (the empty string), and only a nil one for NULL.
func (b *paramBuf) encode(m *pgtype.Map, oid uint32, format int16, arg any) ([]byte, error) {
	if b.bytes == nil {
		b.bytes = make([]byte, 0, 256)
	}
	pos := len(b.bytes)
	buf, err := m.Encode(oid, format, arg, b.bytes)
	if err != nil {
		return nil, err
	}
	if buf == nil {
		return nil, nil
	}
	b.bytes = buf
	return b.bytes[pos:len(b.bytes):len(b.bytes)], nil
}
