package fakes

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"

	igate "github.com/portkit/portkit/internal/gate"
	"github.com/portkit/portkit/ports"
)

// coll is what SQLStore and DocStore share: a table of *T rows in a DB,
// the schema queries are checked against, and the row-level operations,
// transaction-aware.
type coll[T any] struct {
	db      *DB
	tb      *table
	schema  *ports.Schema
	keyOf   func(*T) any
	backend string
	faults  *Faults
	closed  atomic.Bool
}

// op names an operation on the table for errors: "create items".
func (c *coll[T]) op(verb string) string { return verb + " " + c.tb.name }

// enter checks the store and its DB and returns the transaction ctx
// carries, if any.
func (c *coll[T]) enter(ctx context.Context, op string) (*tx, error) {
	if c.closed.Load() || c.db.closed.Load() {
		return nil, ports.NewError(c.backend, op, ports.ErrClosed, nil)
	}
	if err := igate.CheckContext(ctx, c.backend, op); err != nil {
		return nil, err
	}
	if err := c.db.Faults.inject(c.backend, op); err != nil {
		return nil, err
	}
	if err := c.faults.inject(c.backend, op); err != nil {
		return nil, err
	}
	return c.db.txFrom(ctx, c.backend, op)
}

func (c *coll[T]) check(ctx context.Context) error {
	_, err := c.enter(ctx, "check")
	return err
}

func (c *coll[T]) close() error {
	if c.closed.Swap(true) {
		return ports.NewError(c.backend, "close", ports.ErrClosed, nil)
	}
	return nil
}

func (c *coll[T]) conflictErr(op, format string, args ...any) error {
	return ports.NewError(c.backend, op, ports.ErrConflict, fmt.Errorf(format, args...))
}

// get returns a copy of the row under k.
func (c *coll[T]) get(t *tx, op string, k any) (*T, error) {
	if err := c.db.rlock(t, c.backend, op); err != nil {
		return nil, err
	}
	row, ok := c.db.lookup(t, c.tb, k)
	c.db.mu.RUnlock()
	if !ok {
		return nil, ports.NewError(c.backend, op, ports.ErrNotFound, nil)
	}
	return clone(row.(*T)), nil
}

type hit[T any] struct {
	key any
	row *T
}

// matching returns the rows matching m, in m's order then key order.
func (c *coll[T]) matching(t *tx, op string, m *matcher) ([]hit[T], error) {
	if err := c.db.rlock(t, c.backend, op); err != nil {
		return nil, err
	}
	var hits []hit[T]
	c.db.scan(t, c.tb, func(k, row any) {
		p := row.(*T)
		if m.match(reflect.ValueOf(p).Elem()) {
			hits = append(hits, hit[T]{k, p})
		}
	})
	c.db.mu.RUnlock()
	return hits, nil
}

// find returns copies of the rows matching q.
func (c *coll[T]) find(t *tx, op string, q ports.Query) ([]T, error) {
	m, err := compile(c.schema, q, c.backend, op)
	if err != nil {
		return nil, err
	}
	hits, err := c.matching(t, op, m)
	if err != nil {
		return nil, err
	}
	// Stored rows are never modified, so sorting and copying need no lock.
	slices.SortFunc(hits, func(a, b hit[T]) int {
		if r := m.compareRows(reflect.ValueOf(a.row).Elem(), reflect.ValueOf(b.row).Elem()); r != 0 {
			return r
		}
		return cmpKeys(a.key, b.key)
	})
	lo, hi := m.window(len(hits))
	out := make([]T, hi-lo)
	for i, h := range hits[lo:hi] {
		deepCopy(reflect.ValueOf(&out[i]).Elem(), reflect.ValueOf(h.row).Elem(), 0)
	}
	return out, nil
}

// count counts the rows matching q's conditions.
func (c *coll[T]) count(t *tx, op string, q ports.Query) (int64, error) {
	m, err := compile(c.schema, q, c.backend, op)
	if err != nil {
		return 0, err
	}
	hits, err := c.matching(t, op, m)
	return int64(len(hits)), err
}

// insert stores rows (private copies) all or nothing. prep, called under
// the DB's write lock, may fill in keys.
func (c *coll[T]) insert(ctx context.Context, t *tx, op string, rows []*T, prep func(*T)) error {
	for {
		if err := c.db.lock(t, c.backend, op); err != nil {
			return err
		}
		keys := make([]any, len(rows))
		anys := make([]any, len(rows))
		for i, r := range rows {
			if prep != nil {
				prep(r)
			}
			keys[i], anys[i] = c.keyOf(r), r
		}
		if t == nil {
			if done := c.db.blocked(c.tb, keys, anys); done != nil {
				c.db.mu.Unlock()
				if err := c.db.waitLock(ctx, done, c.backend, op); err != nil {
					return err
				}
				continue
			}
		}
		if err := c.checkInsert(t, op, keys, anys); err != nil {
			c.db.mu.Unlock()
			return err
		}
		for i := range rows {
			c.db.put(t, c.tb, keys[i], anys[i], nil)
		}
		c.db.mu.Unlock()
		return nil
	}
}

func (c *coll[T]) checkInsert(t *tx, op string, keys, rows []any) error {
	seen := make(map[any]struct{}, len(keys))
	var batch []map[any]struct{}
	if len(rows) > 1 {
		batch = make([]map[any]struct{}, len(c.tb.uniq))
		for i := range batch {
			batch[i] = make(map[any]struct{})
		}
	}
	for i, k := range keys {
		if _, dup := seen[k]; dup {
			return c.conflictErr(op, "duplicate primary key %v in the batch", k)
		}
		seen[k] = struct{}{}
		if _, ok := c.db.lookup(t, c.tb, k); ok {
			return c.conflictErr(op, "duplicate primary key %v", k)
		}
		if name := c.db.conflict(t, c.tb, k, rows[i]); name != "" {
			return c.conflictErr(op, "duplicate value for unique index %s", name)
		}
		for j, u := range c.tb.uniq {
			if batch == nil {
				break
			}
			if v, ok := u.value(rows[i]); ok {
				if _, dup := batch[j][v]; dup {
					return c.conflictErr(op, "duplicate value for unique index %s in the batch", u.name)
				}
				batch[j][v] = struct{}{}
			}
		}
	}
	return nil
}

// update replaces the row under k with row (a private copy). merge, called
// under the DB's write lock with the stored row, may carry fields over.
func (c *coll[T]) update(ctx context.Context, t *tx, op string, k any, row *T, merge func(old, row *T)) error {
	for {
		if err := c.db.lock(t, c.backend, op); err != nil {
			return err
		}
		oldAny, ok := c.db.lookup(t, c.tb, k)
		if !ok {
			c.db.mu.Unlock()
			return ports.NewError(c.backend, op, ports.ErrNotFound, nil)
		}
		old := oldAny.(*T)
		if t == nil {
			if done := c.db.blocked(c.tb, []any{k}, []any{row, old}); done != nil {
				c.db.mu.Unlock()
				if err := c.db.waitLock(ctx, done, c.backend, op); err != nil {
					return err
				}
				continue
			}
		}
		if merge != nil {
			merge(old, row)
		}
		if name := c.db.conflict(t, c.tb, k, row); name != "" {
			c.db.mu.Unlock()
			return c.conflictErr(op, "duplicate value for unique index %s", name)
		}
		c.db.put(t, c.tb, k, row, old)
		c.db.mu.Unlock()
		return nil
	}
}

// remove deletes the row under k.
func (c *coll[T]) remove(ctx context.Context, t *tx, op string, k any) error {
	for {
		if err := c.db.lock(t, c.backend, op); err != nil {
			return err
		}
		old, ok := c.db.lookup(t, c.tb, k)
		if !ok {
			c.db.mu.Unlock()
			return ports.NewError(c.backend, op, ports.ErrNotFound, nil)
		}
		if t == nil {
			if done := c.db.blocked(c.tb, []any{k}, nil); done != nil {
				c.db.mu.Unlock()
				if err := c.db.waitLock(ctx, done, c.backend, op); err != nil {
					return err
				}
				continue
			}
		}
		c.db.put(t, c.tb, k, nil, old)
		c.db.mu.Unlock()
		return nil
	}
}
