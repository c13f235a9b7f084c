package mongo

import (
	"context"
	"testing"
)

// InTx tells a context of a running WithinTx of this Store from any other
// (FerretDB has no transactions, so the running case is built by hand).
func TestInTx(t *testing.T) {
	t.Parallel()
	s, other := &Store{}, &Store{}
	var nilCtx context.Context
	if s.InTx(t.Context()) || s.InTx(nilCtx) {
		t.Error("InTx without a transaction")
	}
	st := &txState{}
	ctx := context.WithValue(t.Context(), txKey{s}, st)
	if !s.InTx(ctx) || other.InTx(ctx) {
		t.Errorf("InTx in s's transaction: s %v, another Store %v", s.InTx(ctx), other.InTx(ctx))
	}
	st.ended.Store(true)
	if s.InTx(ctx) {
		t.Error("InTx after the transaction ended")
	}
}
