package fakes

// TEMPORARY: stubs of the port methods added for issue 16, so that the
// tree compiles while they are written. Delete this file when they exist.

import (
	"context"
	"errors"
	"iter"

	"github.com/portkit/portkit/ports"
)

var errTODO = errors.New("not implemented yet")

// InTx reports whether ctx carries a running transaction of db.
func (db *DB) InTx(ctx context.Context) bool {
	t, _ := ctx.Value(txKey{}).(*tx)
	return t != nil && t.db == db && !t.ended.Load()
}

func (s *SQLStore[T]) Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) { var z T; yield(z, errTODO) }
}
func (s *SQLStore[T]) FindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	return ports.Page[T]{}, errTODO
}
func (s *SQLStore[T]) Patch(ctx context.Context, id any, p ports.Patch) error { return errTODO }
func (s *SQLStore[T]) Upsert(ctx context.Context, e *T) error                 { return errTODO }
func (s *SQLStore[T]) DeleteIfVersion(ctx context.Context, id any, v ports.Version) error {
	return errTODO
}
func (s *SQLStore[T]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	return 0, errTODO
}
