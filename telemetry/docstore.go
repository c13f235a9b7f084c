package telemetry

import (
	"context"
	"iter"

	"github.com/portkit/portkit/internal/obs"
	"github.com/portkit/portkit/ports"
)

// DocStore returns s with a span and metrics per operation: spans named
// "doc.<operation> <collection>" (doc.get audits, doc.insert audits, ...),
// with db.collection.name from [WithCollection] or s's Collection method. The
// span of Stream covers the iteration, not the call. A nil s gives nil.
func DocStore[T any](s ports.DocStore[T], opts ...Option) ports.DocStore[T] {
	if s == nil {
		return nil
	}
	return &docStore[T]{inner: s, in: newOptions(opts).instr(obs.PortDoc, s)}
}

type docStore[T any] struct {
	inner ports.DocStore[T]
	in    *obs.Instr
}

func (s *docStore[T]) Insert(ctx context.Context, e *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpInsert)
	err := s.inner.Insert(ctx, e)
	sp.End(err)
	return err
}

func (s *docStore[T]) InsertMany(ctx context.Context, es []*T) error {
	ctx, sp := s.in.Start(ctx, obs.OpInsertMany)
	err := s.inner.InsertMany(ctx, es)
	sp.End(err)
	return err
}

func (s *docStore[T]) Get(ctx context.Context, id string) (*T, error) {
	ctx, sp := s.in.Start(ctx, obs.OpGet)
	e, err := s.inner.Get(ctx, id)
	sp.End(err)
	return e, err
}

func (s *docStore[T]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	ctx, sp := s.in.Start(ctx, obs.OpFind)
	es, err := s.inner.Find(ctx, q)
	sp.SetRows(len(es))
	sp.End(err)
	return es, err
}

func (s *docStore[T]) Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return obs.Stream(ctx, s.in, func(ctx context.Context) iter.Seq2[T, error] { return s.inner.Stream(ctx, q) })
}

func (s *docStore[T]) FindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error) {
	ctx, sp := s.in.Start(ctx, obs.OpFindPage)
	p, err := s.inner.FindPage(ctx, q, cursor)
	sp.SetRows(len(p.Items))
	sp.End(err)
	return p, err
}

func (s *docStore[T]) Count(ctx context.Context, q ports.Query) (int64, error) {
	ctx, sp := s.in.Start(ctx, obs.OpCount)
	n, err := s.inner.Count(ctx, q)
	sp.End(err)
	return n, err
}

func (s *docStore[T]) Update(ctx context.Context, e *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpUpdate)
	err := s.inner.Update(ctx, e)
	sp.End(err)
	return err
}

func (s *docStore[T]) Patch(ctx context.Context, id string, p ports.Patch) error {
	ctx, sp := s.in.Start(ctx, obs.OpPatch)
	err := s.inner.Patch(ctx, id, p)
	sp.End(err)
	return err
}

func (s *docStore[T]) Upsert(ctx context.Context, e *T) error {
	ctx, sp := s.in.Start(ctx, obs.OpUpsert)
	err := s.inner.Upsert(ctx, e)
	sp.End(err)
	return err
}

func (s *docStore[T]) Delete(ctx context.Context, id string) error {
	ctx, sp := s.in.Start(ctx, obs.OpDelete)
	err := s.inner.Delete(ctx, id)
	sp.End(err)
	return err
}

func (s *docStore[T]) DeleteIfVersion(ctx context.Context, id string, v ports.Version) error {
	ctx, sp := s.in.Start(ctx, obs.OpDeleteIfVersion)
	err := s.inner.DeleteIfVersion(ctx, id, v)
	sp.End(err)
	return err
}

func (s *docStore[T]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	ctx, sp := s.in.Start(ctx, obs.OpDeleteWhere)
	n, err := s.inner.DeleteWhere(ctx, q)
	sp.End(err)
	return n, err
}
