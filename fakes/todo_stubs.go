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

func (s *DocStore[T, PT]) Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) { var z T; yield(z, errTODO) }
}
func (s *DocStore[T, PT]) FindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	return ports.Page[T]{}, errTODO
}
func (s *DocStore[T, PT]) Patch(ctx context.Context, id string, p ports.Patch) error { return errTODO }
func (s *DocStore[T, PT]) Upsert(ctx context.Context, d *T) error                    { return errTODO }
func (s *DocStore[T, PT]) DeleteIfVersion(ctx context.Context, id string, v ports.Version) error {
	return errTODO
}
func (s *DocStore[T, PT]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	return 0, errTODO
}
