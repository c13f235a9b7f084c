package telemetry

import (
	"context"
	"iter"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// SQLStore returns s with a span and metrics per operation: spans named
// "sql.<operation> <table>" (sql.get orders, sql.find_page orders, ...),
// with db.collection.name from [WithCollection] or s's Table method. The
// span of Stream covers the iteration, not the call. A nil s gives nil.
func SQLStore[T any](s ports.SQLStore[T], opts ...Option) ports.SQLStore[T] {
	if s == nil {
		return nil
	}
	return &sqlStore[T]{inner: s, in: newOptions(opts).instr(obs.PortSQL, s)}
}

type sqlStore[T any] struct {
	inner ports.SQLStore[T]
	in    *obs.Instr
}

func (s *sqlStore[T]) Create(ctx context.Context, e *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpCreate)
	err := s.inner.Create(ctx, e)
	sp.End(err)
	return err
}

func (s *sqlStore[T]) CreateMany(ctx context.Context, es []*T) error {
	ctx, sp := s.in.Start(ctx, obs.OpCreateMany)
	err := s.inner.CreateMany(ctx, es)
	sp.End(err)
	return err
}

func (s *sqlStore[T]) Get(ctx context.Context, id any) (*T, error) {
	ctx, sp := s.in.Start(ctx, obs.OpGet)
	e, err := s.inner.Get(ctx, id)
	sp.End(err)
	return e, err
}

func (s *sqlStore[T]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	ctx, sp := s.in.Start(ctx, obs.OpFind)
	es, err := s.inner.Find(ctx, q)
	sp.SetRows(len(es))
	sp.End(err)
	return es, err
}

func (s *sqlStore[T]) Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return obs.Stream(ctx, s.in, func(ctx context.Context) iter.Seq2[T, error] { return s.inner.Stream(ctx, q) })
}

func (s *sqlStore[T]) FindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	ctx, sp := s.in.Start(ctx, obs.OpFindPage)
	p, err := s.inner.FindPage(ctx, q, cursor)
	sp.SetRows(len(p.Items))
	sp.End(err)
	return p, err
}

func (s *sqlStore[T]) Count(ctx context.Context, q ports.Query) (int64, error) {
	ctx, sp := s.in.Start(ctx, obs.OpCount)
	n, err := s.inner.Count(ctx, q)
	sp.End(err)
	return n, err
}

func (s *sqlStore[T]) Update(ctx context.Context, e *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpUpdate)
	err := s.inner.Update(ctx, e)
	sp.End(err)
	return err
}

func (s *sqlStore[T]) Patch(ctx context.Context, id any, p ports.Patch) error {
	ctx, sp := s.in.Start(ctx, obs.OpPatch)
	err := s.inner.Patch(ctx, id, p)
	sp.End(err)
	return err
}

func (s *sqlStore[T]) Upsert(ctx context.Context, e *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpUpsert)
	err := s.inner.Upsert(ctx, e)
	sp.End(err)
	return err
}

func (s *sqlStore[T]) Delete(ctx context.Context, id any) error {
	ctx, sp := s.in.Start(ctx, obs.OpDelete)
	err := s.inner.Delete(ctx, id)
	sp.End(err)
	return err
}

func (s *sqlStore[T]) DeleteIfVersion(ctx context.Context, id any, v ports.Version) error {
	ctx, sp := s.in.Start(ctx, obs.OpDeleteIfVersion)
	err := s.inner.DeleteIfVersion(ctx, id, v)
	sp.End(err)
	return err
}

func (s *sqlStore[T]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	ctx, sp := s.in.Start(ctx, obs.OpDeleteWhere)
	n, err := s.inner.DeleteWhere(ctx, q)
	sp.End(err)
	return n, err
}
