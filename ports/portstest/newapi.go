package portstest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"testing"

	"github.com/portkit/portkit/ports"
)

// lister is what SQLStore and DocStore share for streams, keyset pages
// and DeleteWhere.
type lister[T any] interface {
	Find(ctx context.Context, q ports.Query) ([]T, error)
	Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error]
	FindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error)
	Count(ctx context.Context, q ports.Query) (int64, error)
	DeleteWhere(ctx context.Context, q ports.Query) (int64, error)
}

// apiKit builds the Stream, FindPage and DeleteWhere cases both store
// suites share, on the five seed records (whose number field has a tie and
// whose nullable field holds NULLs).
type apiKit[T, E any] struct {
	store    func(e E) lister[T]
	seed     func(t *testing.T, ctx context.Context, e E)
	name     func(T) string
	first    func(t *testing.T, ctx context.Context, e E) // stores a record sorting before every seed one by number
	number   string                                       // a numeric field with ties
	str      string                                       // a string field
	nullable string                                       // a nullable field holding NULLs
	tx       func(e E) ports.Transactor                   // nil without transactions
	create   func(t *testing.T, ctx context.Context, e E, name string)
}

func (k apiKit[T, E]) names(rows []T) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = k.name(r)
	}
	return out
}

// collect drains a stream: the rows, the number of errors, and the last
// error.
func collect[T any](seq iter.Seq2[T, error]) ([]T, int, error) {
	var rows []T
	errs := 0
	var last error
	for r, err := range seq {
		if err != nil {
			errs++
			last = err
			continue
		}
		rows = append(rows, r)
	}
	return rows, errs, last
}

// walk reads every page of q (whose limit is the page size), failing t on
// an error or more pages than rows.
func walk[T any](t *testing.T, ctx context.Context, s lister[T], q ports.Query, max int) ([]T, int) {
	t.Helper()
	var all []T
	cur := ""
	for pages := 1; ; pages++ {
		p, err := s.FindPage(ctx, q, cur)
		wantNoErr(t, fmt.Sprintf("FindPage(%s) page %d", q, pages), err)
		if len(p.Items) > q.LimitN() {
			t.Fatalf("FindPage(%s) returned %d items, over the page size %d", q, len(p.Items), q.LimitN())
		}
		all = append(all, p.Items...)
		if p.Next == "" {
			return all, pages
		}
		if len(p.Items) == 0 {
			t.Fatalf("FindPage(%s) page %d is empty but has a next cursor", q, pages)
		}
		if pages > max {
			t.Fatalf("FindPage(%s) went on past %d pages", q, max)
		}
		cur = p.Next
	}
}

func (k apiKit[T, E]) orders() []ports.Query {
	n, s, z := k.number, k.str, k.nullable
	return []ports.Query{
		ports.All(),
		ports.All().OrderBy(n),
		ports.All().OrderBy("-" + n),
		ports.All().OrderBy(z, "-"+s),
		ports.All().OrderBy("-"+z, n),
		ports.All().OrderBy("-"+n, "-"+z),
		ports.Where(n, ports.Gte, 1).OrderBy(z),
		ports.Where(z, ports.Ne, nil).OrderBy("-" + s),
	}
}

func (k apiKit[T, E]) cases(prefix string) []testCase[E] {
	return []testCase[E]{
		{"StreamOrder", func(t *testing.T, e E) {
			ctx := caseCtx(t)
			k.seed(t, ctx, e)
			for _, q := range k.orders() {
				want, err := k.store(e).Find(ctx, q)
				wantNoErr(t, "Find", err)
				got, _, serr := collect(k.store(e).Stream(ctx, q))
				wantNoErr(t, "Stream("+q.String()+")", serr)
				if !slices.Equal(k.names(got), k.names(want)) {
					t.Errorf("Stream(%s) yielded %v, Find returned %v: want the same rows in the same order", q, k.names(got), k.names(want))
				}
			}
			q := ports.All().OrderBy(k.number).Limit(2).Offset(1)
			want, _ := k.store(e).Find(ctx, q)
			got, _, serr := collect(k.store(e).Stream(ctx, q))
			wantNoErr(t, "Stream with limit and offset", serr)
			if !slices.Equal(k.names(got), k.names(want)) {
				t.Errorf("Stream(%s) yielded %v, Find returned %v", q, k.names(got), k.names(want))
			}
		}},
		{"StreamBreakEarly", func(t *testing.T, e E) {
			ctx := caseCtx(t)
			k.seed(t, ctx, e)
			// Break off many streams: a store that does not release its
			// cursor runs out of connections long before the end.
			for i := range 60 {
				n := 0
				for _, err := range k.store(e).Stream(ctx, ports.All()) {
					wantNoErr(t, "Stream", err)
					n++
					if n == 1 {
						break
					}
				}
				if n != 1 {
					t.Fatalf("stream %d: broke off after %d rows, want 1", i, n)
				}
			}
			var c int64
			var err error
			if prompt(t, "Count after 60 streams broken off early", promptBound*3, func() { c, err = k.store(e).Count(ctx, ports.All()) }) {
				wantNoErr(t, "Count after 60 streams broken off early", err)
				if c != 5 {
					t.Errorf("Count = %d, want 5", c)
				}
			}
		}},
		{"StreamCancelled", func(t *testing.T, e E) {
			ctx := caseCtx(t)
			k.seed(t, ctx, e)
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			rows, errs := 0, 0
			var last error
			prompt(t, "Stream cancelled after its first row", promptBound, func() {
				for _, err := range k.store(e).Stream(sctx, ports.All()) {
					if err != nil {
						errs++
						last = err
						continue
					}
					rows++
					if rows == 1 {
						cancel()
					}
				}
			})
			if errs != 1 {
				t.Fatalf("Stream whose ctx was cancelled after the first row yielded %d errors (after %d rows), want exactly one, as the last pair", errs, rows)
			}
			wantOnly(t, "the error of a Stream cancelled midway", last, ports.ErrUnavailable)
			if !errors.Is(last, context.Canceled) {
				t.Errorf("the error of a Stream cancelled midway, %v, does not wrap context.Canceled", last)
			}
			if rows == 5 {
				t.Errorf("Stream yielded every row although its ctx was cancelled after the first: it does not check ctx between rows")
			}
		}},
		{"StreamInvalid", func(t *testing.T, e E) {
			ctx := caseCtx(t)
			rows, errs, err := collect(k.store(e).Stream(ctx, ports.Where("Nope", ports.Eq, 1)))
			if len(rows) != 0 || errs != 1 {
				t.Errorf("Stream of an invalid query yielded %d rows and %d errors, want one error", len(rows), errs)
			}
			wantOnly(t, "Stream of an invalid query", err, ports.ErrInvalid)
		}},
		{"StreamInTx", func(t *testing.T, e E) {
			if k.tx == nil || k.tx(e) == nil {
				t.Skip("needs " + prefix + "Caps.Transactions")
			}
			ctx := caseCtx(t)
			k.seed(t, ctx, e)
			err := k.tx(e).WithinTx(ctx, func(ctx context.Context) error {
				if !k.tx(e).InTx(ctx) {
					t.Errorf("InTx inside WithinTx = false")
				}
				k.create(t, ctx, e, "in-tx")
				got, _, err := collect(k.store(e).Stream(ctx, ports.All()))
				wantNoErr(t, "Stream inside a transaction", err)
				if !slices.Contains(k.names(got), "in-tx") || len(got) != 6 {
					t.Errorf("Stream inside the transaction that created a record yielded %v, want the 5 seed ones and it", k.names(got))
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Errorf("WithinTx returned %v, want its fn's error", err)
			}
			if k.tx(e).InTx(ctx) {
				t.Errorf("InTx outside WithinTx = true")
			}
		}},
		{"FindPageWalk", func(t *testing.T, e E) {
			ctx := caseCtx(t)
			k.seed(t, ctx, e)
			for _, q := range k.orders() {
				want, err := k.store(e).Find(ctx, q)
				wantNoErr(t, "Find", err)
				for _, size := range []int{1, 2, 3, 5, 6} {
					got, pages := walk(t, ctx, k.store(e), q.Limit(size), 10)
					if !slices.Equal(k.names(got), k.names(want)) {
						t.Errorf("the pages of %s by %d hold %v, Find returned %v: want the same rows in the same order", q, size, k.names(got), k.names(want))
					}
					if wantPages := max(1, (len(want)+size-1)/size); pages < wantPages || pages > wantPages+1 {
						t.Errorf("%s by %d took %d pages for %d rows, want %d (or one more, empty)", q, size, pages, len(want), wantPages)
					}
				}
			}
		}},
		{"FindPageBadCursor", func(t *testing.T, e E) {
			ctx := caseCtx(t)
			k.seed(t, ctx, e)
			q := ports.All().OrderBy(k.number).Limit(2)
			p, err := k.store(e).FindPage(ctx, q, "")
			wantNoErr(t, "FindPage", err)
			if p.Next == "" {
				t.Fatal("the first page of 2 of 5 rows has no next cursor")
			}
			other, err := k.store(e).FindPage(ctx, ports.All().OrderBy("-"+k.str).Limit(2), "")
			wantNoErr(t, "FindPage", err)
			flipped := []byte(p.Next)
			flipped[len(flipped)/2] ^= 1
			for what, c := range map[string]string{
				"a cursor with a character changed":   string(flipped),
				"a truncated cursor":                  p.Next[:len(p.Next)/2],
				"the cursor of another query":         other.Next,
				"a cursor with a SQL-looking payload": "' OR 1=1 --",
				"a cursor of another condition":       mustPage(t, ctx, k.store(e), ports.Where(k.number, ports.Gte, 1).OrderBy(k.number).Limit(2)).Next,
			} {
				got, err := k.store(e).FindPage(ctx, q, c)
				if len(got.Items) != 0 {
					t.Errorf("FindPage with %s returned %d items", what, len(got.Items))
				}
				wantOnly(t, "FindPage with "+what, err, ports.ErrInvalid)
			}
		}},
		{"FindPageLimitRules", func(t *testing.T, e E) {
			ctx := caseCtx(t)
			k.seed(t, ctx, e)
			for what, q := range map[string]ports.Query{
				"no limit":        ports.All().OrderBy(k.number),
				"an offset":       ports.All().Limit(2).Offset(1),
				"an unknown sort": ports.All().OrderBy("Nope").Limit(2),
			} {
				_, err := k.store(e).FindPage(ctx, q, "")
				wantOnly(t, "FindPage with "+what, err, ports.ErrInvalid)
			}
		}},
		{"FindPageStable", func(t *testing.T, e E) {
			ctx := caseCtx(t)
			k.seed(t, ctx, e)
			q := ports.All().OrderBy(k.number).Limit(2)
			want, err := k.store(e).Find(ctx, ports.All().OrderBy(k.number))
			wantNoErr(t, "Find", err)
			p := mustPage(t, ctx, k.store(e), q)
			k.first(t, ctx, e) // sorts before the cursor
			p2, err := k.store(e).FindPage(ctx, q, p.Next)
			wantNoErr(t, "FindPage of page 2", err)
			if got := k.names(p2.Items); !slices.Equal(got, k.names(want[2:4])) {
				t.Errorf("page 2 after a record sorting before page 1's end was stored = %v, want %v: keyset pages must not shift", got, k.names(want[2:4]))
			}
		}},
		{"DeleteWhere", func(t *testing.T, e E) {
			ctx := caseCtx(t)
			k.seed(t, ctx, e)
			q := ports.Where(k.number, ports.Gte, 3)
			want, err := k.store(e).Count(ctx, q)
			wantNoErr(t, "Count", err)
			n, err := k.store(e).DeleteWhere(ctx, q)
			wantNoErr(t, "DeleteWhere", err)
			if n != want || n == 0 {
				t.Errorf("DeleteWhere(%s) = %d, want %d (the matching records)", q, n, want)
			}
			if c := countOf(t, ctx, k.store(e), "Count", q); c != 0 {
				t.Errorf("Count(%s) after DeleteWhere = %d, want 0", q, c)
			}
			if c := countOf(t, ctx, k.store(e), "Count", ports.All()); c != 5-want {
				t.Errorf("Count(All) after DeleteWhere = %d, want %d", c, 5-want)
			}
			n, err = k.store(e).DeleteWhere(ctx, q)
			wantNoErr(t, "second DeleteWhere", err)
			if n != 0 {
				t.Errorf("second DeleteWhere = %d, want 0", n)
			}
		}},
		{"DeleteWhereNeedsCondition", func(t *testing.T, e E) {
			ctx := caseCtx(t)
			k.seed(t, ctx, e)
			for what, q := range map[string]ports.Query{
				"no condition":     ports.All(),
				"an order":         ports.Where(k.number, ports.Gte, 1).OrderBy(k.number),
				"a limit":          ports.Where(k.number, ports.Gte, 1).Limit(1),
				"an unknown field": ports.Where("Nope", ports.Eq, 1),
			} {
				n, err := k.store(e).DeleteWhere(ctx, q)
				wantOnly(t, "DeleteWhere with "+what, err, ports.ErrInvalid)
				if n != 0 {
					t.Errorf("DeleteWhere with %s = %d", what, n)
				}
			}
			if c := countOf(t, ctx, k.store(e), "Count", ports.All()); c != 5 {
				t.Errorf("Count after refused DeleteWhere calls = %d, want 5", c)
			}
		}},
	}
}

func mustPage[T any](t *testing.T, ctx context.Context, s lister[T], q ports.Query) ports.Page[T] {
	t.Helper()
	p, err := s.FindPage(ctx, q, "")
	wantNoErr(t, "FindPage("+q.String()+")", err)
	if p.Next == "" {
		t.Fatalf("FindPage(%s) of the seed records has no next cursor", q)
	}
	return p
}

// NewAPICase reports whether the case name belongs to the methods issue
// 16 added to the store ports (Stream, FindPage, Patch, Upsert,
// DeleteIfVersion, DeleteWhere, versions, InTx): an implementation that
// has not written them yet skips them with Skips.
func NewAPICase(name string) bool {
	for _, p := range []string{"Stream", "FindPage", "Patch", "Upsert", "DeleteWhere", "Version", "InTx"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
