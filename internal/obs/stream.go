package obs

import (
	"context"
	"iter"
)

// Stream instruments the iteration of the sequence open returns, as
// operation [OpStream] of in: one span per iteration, from its start to
// its end (the last pair, or the consumer's break), with the rows it
// yielded (db.response.returned_rows) and the error it ended with. open
// is called with the span's context when the iteration starts. While
// nothing records, Stream returns open(ctx) itself.
func Stream[T any](ctx context.Context, in *Instr, open func(context.Context) iter.Seq2[T, error]) iter.Seq2[T, error] {
	if !in.Active() {
		return open(ctx)
	}
	return func(yield func(T, error) bool) {
		sctx, sp := in.Start(ctx, OpStream)
		defer sp.EndPanic() // a no-op once End has run
		rows := 0
		var last error
		for v, err := range open(sctx) {
			if err != nil {
				last = err
			} else {
				rows++
			}
			if !yield(v, err) {
				break
			}
		}
		sp.SetRows(rows)
		sp.End(last)
	}
}
