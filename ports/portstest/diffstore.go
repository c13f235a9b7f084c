package portstest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// SQLSubject is one side of DiffSQLStore: a store on an empty table.
type SQLSubject[T any] struct {
	Store ports.SQLStore[T]
	// Tx, when both sides have one, adds transactions (commit, rollback,
	// nested savepoints) to the operations.
	Tx ports.Transactor
	// TxAborts: the backend aborts a transaction at its first failed
	// statement (PostgreSQL; see ports.Transactor.WithinTx). When either
	// side sets it, a transaction's operations end, on both sides, at the
	// first one that fails, and fn returns its error, as the port asks of
	// code on such a backend; a failed nested transaction (its savepoint
	// rolled back) does not end its parent.
	TxAborts bool
	// Reset empties the table and restarts its generated keys (MySQL:
	// TRUNCATE TABLE), so that the subject serves every sequence; nil asks
	// the constructor for a new subject for each sequence (and each
	// replay while shrinking), calling Close on the old one.
	Reset func(ctx context.Context) error
	// Close, when set, releases the subject.
	Close func()
}

// DocSubject is one side of DiffDocStore: a store on an empty collection.
type DocSubject[T any] struct {
	Store ports.DocStore[T]
	// Tx, when both sides have one, adds transactions to the operations.
	Tx ports.Transactor
	// Reset empties the collection; nil: as SQLSubject.Reset.
	Reset func(ctx context.Context) error
	// Close, when set, releases the subject.
	Close func()
}

// DiffSQLStore runs the differential checker on two SQLStores of T (see
// the package's "differential checker" notes above DiffOptions): fake is
// the reference, real the implementation checked against it; each
// function returns a fresh subject (it is called once when the subject has
// a Reset, else for every sequence). It reports every divergence kind,
// shrunk, with its seed, fails t for those DiffOptions.Allow does not
// list (unless ReportOnly), and returns them all.
//
// The operations: Create (generated and explicit keys), CreateMany, Get,
// Find, Count, Stream (to the end or broken off early), a FindPage walk
// over every page, FindPage with a tampered, truncated or foreign cursor,
// Update, Patch (Set, Inc, IfVersion), Upsert, Delete, DeleteIfVersion and
// DeleteWhere, with stale and current versions when T has a Version field;
// transactions that commit or roll back, nested ones (savepoints); and a
// whole-table comparison every few operations and at the end. Queries use
// every operator on every queryable field of T (but the stamped times),
// NULLs, In with zero to three values, sort keys in both directions,
// limits and offsets.
func DiffSQLStore[T any](t *testing.T, fake, real func() (SQLSubject[T], error), opts DiffOptions) []Divergence {
	t.Helper()
	return diffTest(t, func() ([]Divergence, DiffStats) {
		return diffStore[T](t, "SQLStore", false, sqlSubject(fake), sqlSubject(real), opts)
	})
}

// CheckSQLStore is DiffSQLStore without a testing.T, as fstest.TestFS is:
// it returns every divergence found and the run's statistics, logs through
// DiffOptions.Logf, and returns an error when a subject could not be
// opened. A program (a CI job against a staging database) calls it.
func CheckSQLStore[T any](fake, real func() (SQLSubject[T], error), opts DiffOptions) ([]Divergence, DiffStats, error) {
	return diffMain(func() ([]Divergence, DiffStats) {
		return diffStore[T](collector{opts.Logf}, "SQLStore", false, sqlSubject(fake), sqlSubject(real), opts)
	})
}

func sqlSubject[T any](f func() (SQLSubject[T], error)) func() subject[T] {
	return func() subject[T] {
		s, err := f()
		if err == nil && s.Store == nil {
			err = fmt.Errorf("SQLSubject.Store is nil")
		}
		if err != nil {
			abort("opening a subject: %v", err)
		}
		return subject[T]{api: s.Store, tx: s.Tx, txAborts: s.TxAborts, reset: s.Reset, close: s.Close}
	}
}

// DiffDocStore is DiffSQLStore for DocStores of T: the same operations
// under their DocStore names (Insert, InsertMany), with ObjectID-form IDs
// (explicit, generated, and malformed ones for Get and Delete).
func DiffDocStore[T any](t *testing.T, fake, real func() (DocSubject[T], error), opts DiffOptions) []Divergence {
	t.Helper()
	return diffTest(t, func() ([]Divergence, DiffStats) {
		return diffStore[T](t, "DocStore", true, docSubject(fake), docSubject(real), opts)
	})
}

// CheckDocStore is DiffDocStore without a testing.T (see CheckSQLStore).
func CheckDocStore[T any](fake, real func() (DocSubject[T], error), opts DiffOptions) ([]Divergence, DiffStats, error) {
	return diffMain(func() ([]Divergence, DiffStats) {
		return diffStore[T](collector{opts.Logf}, "DocStore", true, docSubject(fake), docSubject(real), opts)
	})
}

func docSubject[T any](f func() (DocSubject[T], error)) func() subject[T] {
	return func() subject[T] {
		s, err := f()
		if err == nil && s.Store == nil {
			err = fmt.Errorf("DocSubject.Store is nil")
		}
		if err != nil {
			abort("opening a subject: %v", err)
		}
		return subject[T]{api: docAPI[T]{s.Store}, tx: s.Tx, reset: s.Reset, close: s.Close}
	}
}

// storeAPI is SQLStore's method set, which DocStores are adapted to.
type storeAPI[T any] interface {
	Create(ctx context.Context, e *T) error
	CreateMany(ctx context.Context, es []*T) error
	Get(ctx context.Context, id any) (*T, error)
	Find(ctx context.Context, q ports.Query) ([]T, error)
	Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error]
	FindPage(ctx context.Context, q ports.Query, cursor string) (ports.Page[T], error)
	Count(ctx context.Context, q ports.Query) (int64, error)
	Update(ctx context.Context, e *T) error
	Patch(ctx context.Context, id any, p ports.Patch) error
	Upsert(ctx context.Context, e *T) error
	Delete(ctx context.Context, id any) error
	DeleteIfVersion(ctx context.Context, id any, v ports.Version) error
	DeleteWhere(ctx context.Context, q ports.Query) (int64, error)
}

type docAPI[T any] struct{ d ports.DocStore[T] }

func idString(id any) string {
	if s, ok := id.(string); ok {
		return s
	}
	return fmt.Sprint(id)
}

func (a docAPI[T]) Create(ctx context.Context, e *T) error        { return a.d.Insert(ctx, e) }
func (a docAPI[T]) CreateMany(ctx context.Context, es []*T) error { return a.d.InsertMany(ctx, es) }
func (a docAPI[T]) Get(ctx context.Context, id any) (*T, error)   { return a.d.Get(ctx, idString(id)) }
func (a docAPI[T]) Find(ctx context.Context, q ports.Query) ([]T, error) {
	return a.d.Find(ctx, q)
}
func (a docAPI[T]) Stream(ctx context.Context, q ports.Query) iter.Seq2[T, error] {
	return a.d.Stream(ctx, q)
}
func (a docAPI[T]) FindPage(ctx context.Context, q ports.Query, c string) (ports.Page[T], error) {
	return a.d.FindPage(ctx, q, c)
}
func (a docAPI[T]) Count(ctx context.Context, q ports.Query) (int64, error) { return a.d.Count(ctx, q) }
func (a docAPI[T]) Update(ctx context.Context, e *T) error                  { return a.d.Update(ctx, e) }
func (a docAPI[T]) Patch(ctx context.Context, id any, p ports.Patch) error {
	return a.d.Patch(ctx, idString(id), p)
}
func (a docAPI[T]) Upsert(ctx context.Context, e *T) error { return a.d.Upsert(ctx, e) }
func (a docAPI[T]) Delete(ctx context.Context, id any) error {
	return a.d.Delete(ctx, idString(id))
}
func (a docAPI[T]) DeleteIfVersion(ctx context.Context, id any, v ports.Version) error {
	return a.d.DeleteIfVersion(ctx, idString(id), v)
}
func (a docAPI[T]) DeleteWhere(ctx context.Context, q ports.Query) (int64, error) {
	return a.d.DeleteWhere(ctx, q)
}

type subject[T any] struct {
	api      storeAPI[T]
	tx       ports.Transactor
	txAborts bool // SQLSubject.TxAborts
	reset    func(ctx context.Context) error
	close    func()
}

// The store operations.
type sKind int

const (
	opCreate sKind = iota
	opCreateMany
	opGet
	opFind
	opCount
	opStream
	opPages
	opBadCursor
	opUpdate
	opPatch
	opUpsert
	opDelete
	opDeleteIfVersion
	opDeleteWhere
	opTx
	opSnapshot
)

func (k sKind) name(doc bool) string {
	switch k {
	case opCreate:
		if doc {
			return "Insert"
		}
		return "Create"
	case opCreateMany:
		if doc {
			return "InsertMany"
		}
		return "CreateMany"
	case opGet:
		return "Get"
	case opFind:
		return "Find"
	case opCount:
		return "Count"
	case opStream:
		return "Stream"
	case opPages:
		return "FindPage"
	case opBadCursor:
		return "FindPage(bad cursor)"
	case opUpdate:
		return "Update"
	case opPatch:
		return "Patch"
	case opUpsert:
		return "Upsert"
	case opDelete:
		return "Delete"
	case opDeleteIfVersion:
		return "DeleteIfVersion"
	case opDeleteWhere:
		return "DeleteWhere"
	case opTx:
		return "WithinTx"
	}
	return "Snapshot"
}

// ref names an entity by the operation that created it: #label, or
// #label.idx for the idx-th entity of a CreateMany.
type ref struct{ label, idx int }

func (r ref) String() string {
	if r.idx == 0 {
		return fmt.Sprintf("#%d", r.label)
	}
	return fmt.Sprintf("#%d.%d", r.label, r.idx)
}

// keySel is the key an operation names.
type keySel struct {
	kind int // keyRef, keyExplicit, keyMissing, keyBad, keyZero
	ref  ref
	val  any // explicit or bad key
}

const (
	keyRef = iota
	keyExplicit
	keyMissing
	keyBad
	keyZero
)

// Version modes of an operation: the side's last known version of the
// entity, one less (stale), zero, one more.
const (
	verCurrent = iota
	verStale
	verZero
	verAhead
)

// dcond is a condition whose value may name an entity's key.
type dcond struct {
	field string
	op    ports.Op
	val   any
	keys  []keySel // for a condition on the key: the key(s) it compares with
}

// dquery is a Query whose key values are resolved per side.
type dquery struct {
	conds  []dcond
	orders []ports.Order
	limit  int
	offset int
}

// sOp is one store operation with all its data: it replays the same.
type sOp struct {
	kind     sKind
	label    int
	ents     []reflect.Value // *T inputs
	key      keySel
	vmode    int
	q        dquery
	q2       dquery // the foreign query of a bad cursor
	changes  []ports.Change
	ifv      bool
	brk      int // Stream: stop after brk rows (0: all)
	tamper   int
	sub      []sOp
	rollback bool
}

// sRes is what one side returned for an operation.
type sRes struct {
	err   error
	rows  []reflect.Value // T values
	one   reflect.Value   // *T
	n     int64
	ins   []reflect.Value // the inputs as the call left them
	pages [][]reflect.Value
	nexts []bool
	stage string
	sub   []sRes
}

// side is one subject's state during a sequence.
type side[T any] struct {
	name string
	s    subject[T]
	keys map[ref]any
	rev  map[string]ref
	vers map[ref]ports.Version
}

func keyString(k any) string { return fmt.Sprintf("%v", k) }

func (s *side[T]) namer() keyNamer {
	return func(k any) (string, bool) {
		r, ok := s.rev[keyString(k)]
		if !ok {
			return "", false
		}
		return r.String(), true
	}
}

func (s *side[T]) register(r ref, k any, v ports.Version) {
	s.keys[r] = k
	if _, ok := s.rev[keyString(k)]; !ok {
		s.rev[keyString(k)] = r
	}
	s.vers[r] = v
}

// storeDiff runs the store operations on two sides.
type storeDiff[T any] struct {
	m          *model
	doc        bool
	mk         [2]func() subject[T]
	persistent [2]*subject[T]
	hasTx      bool
	txAborts   bool // either side's SQLSubject.TxAborts
	txKnown    bool
	// tally counts the reference side's outcomes per operation, for the
	// run's summary (how many calls did something).
	tally map[string]int
	known func(kind string) bool
}

var errDiffRollback = errors.New("portstest: rollback requested by the checker")

// panicError is what an operation that panicked returns.
type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprintf("panic: %v", p.v) }

func diffStore[T any](t reporter, port string, doc bool, fake, real func() subject[T], opts DiffOptions) ([]Divergence, DiffStats) {
	o := opts.defaults()
	m, err := newModel(reflect.TypeFor[T](), doc, o)
	if err != nil {
		abort("%s checker: %v", port, err)
	}
	x := &storeDiff[T]{m: m, doc: doc, mk: [2]func() subject[T]{fake, real}}
	defer x.closeAll()
	r := &runner[sOp]{t: t, port: port, opts: o,
		render:   func(op sOp) string { return x.render(op) },
		exec:     x.exec,
		simplify: x.simplify,
	}
	x.known = r.known
	r.run(x.generate)
	r.logf("portstest: %s outcomes on the reference side: %s", port, x.summary())
	return r.report()
}

func (x *storeDiff[T]) closeAll() {
	for i, s := range x.persistent {
		if s != nil && s.close != nil {
			s.close()
		}
		x.persistent[i] = nil
	}
}

// open returns side i's subject for a new sequence and a release func.
func (x *storeDiff[T]) open(i int) (subject[T], func(), error) {
	if p := x.persistent[i]; p != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.reset(ctx); err != nil {
			return subject[T]{}, nil, fmt.Errorf("reset: %w", err)
		}
		return *p, func() {}, nil
	}
	s := x.mk[i]()
	if s.reset != nil {
		x.persistent[i] = &s
		return s, func() {}, nil
	}
	return s, func() {
		if s.close != nil {
			s.close()
		}
	}, nil
}

// exec runs ops on fresh subjects and returns the index of the first
// diverging operation and the mismatch, or -1.
func (x *storeDiff[T]) exec(ops []sOp) (int, *mismatch) {
	var sides [2]*side[T]
	for i := range sides {
		s, release, err := x.open(i)
		if err != nil {
			abort("opening the %s subject: %v", []string{"fake", "real"}[i], err)
		}
		defer release()
		sides[i] = &side[T]{name: []string{"fake", "real"}[i], s: s, keys: map[ref]any{}, rev: map[string]ref{}, vers: map[ref]ports.Version{}}
	}
	if !x.txKnown {
		x.txKnown, x.hasTx = true, sides[0].s.tx != nil && sides[1].s.tx != nil
		x.txAborts = sides[0].s.txAborts || sides[1].s.txAborts
	}
	for i := range ops {
		ra := x.runTop(sides[0], &ops[i])
		rb := x.runTop(sides[1], &ops[i])
		x.count(&ops[i], ra)
		if mm := x.compare(&ops[i], ra, rb, sides); mm != nil {
			// A known divergence in values alone leaves both sides holding
			// the same rows: go on, to find other kinds behind it.
			if x.known != nil && x.known(mm.kind) && valuesOnly(mm.kind) && i < len(ops)-1 {
				continue
			}
			return i, mm
		}
	}
	return -1, nil
}

// valuesOnly reports whether a divergence kind is about field values only
// (the same rows on both sides, the same outcome of the call).
func valuesOnly(kind string) bool {
	k := coarse(kind)
	return strings.HasSuffix(k, ": values differ") || strings.HasSuffix(k, ": entity differs") ||
		strings.HasSuffix(k, "left its entity differently") || strings.HasSuffix(k, ": entity left differently")
}

func (x *storeDiff[T]) runTop(s *side[T], op *sOp) sRes {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return x.run(ctx, s, op)
}

// count tallies the reference side's outcome of op.
func (x *storeDiff[T]) count(op *sOp, r sRes) {
	if x.tally == nil {
		x.tally = map[string]int{}
	}
	x.tally[op.kind.name(x.doc)+" "+errKind(r.err)]++
	for i := range op.sub {
		if i < len(r.sub) {
			x.count(&op.sub[i], r.sub[i])
		}
	}
}

// summary renders the tally.
func (x *storeDiff[T]) summary() string {
	keys := make([]string, 0, len(x.tally))
	for k := range x.tally {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, x.tally[k])
	}
	return strings.Join(parts, ", ")
}

// resolve returns side s's key for k.
func (x *storeDiff[T]) resolve(s *side[T], k keySel) any {
	switch k.kind {
	case keyRef:
		if v, ok := s.keys[k.ref]; ok {
			return v
		}
		return x.m.missingKey()
	case keyExplicit, keyBad:
		return k.val
	case keyZero:
		return reflect.Zero(x.m.pkType).Interface()
	}
	return x.m.missingKey()
}

func (x *storeDiff[T]) version(s *side[T], k keySel, mode int) ports.Version {
	cur := ports.Version(0)
	if k.kind == keyRef {
		cur = s.vers[k.ref]
	} else if k.kind == keyExplicit {
		if r, ok := s.rev[keyString(k.val)]; ok {
			cur = s.vers[r]
		}
	}
	switch mode {
	case verStale:
		return cur - 1
	case verZero:
		return 0
	case verAhead:
		return cur + 1
	}
	return cur
}

// query builds side s's Query of dq.
func (x *storeDiff[T]) query(s *side[T], dq dquery) ports.Query {
	q := ports.All()
	for _, c := range dq.conds {
		v := c.val
		if c.keys != nil {
			if c.op == ports.In {
				vals := make([]any, len(c.keys))
				for i, k := range c.keys {
					vals[i] = x.resolve(s, k)
				}
				v = vals
			} else {
				v = x.resolve(s, c.keys[0])
			}
		}
		q = q.And(c.field, c.op, v)
	}
	for _, o := range dq.orders {
		if o.Desc {
			q = q.OrderBy("-" + o.Field)
		} else {
			q = q.OrderBy(o.Field)
		}
	}
	return q.Limit(dq.limit).Offset(dq.offset)
}

// input returns a deep copy of op's i-th entity for side s, with its key
// and version set as the operation says.
func (x *storeDiff[T]) input(s *side[T], op *sOp, i int, withKey bool) reflect.Value {
	v := deepCopy(op.ents[i])
	if withKey {
		x.m.setKey(v.Elem(), reflect.ValueOf(x.resolve(s, op.key)))
		x.m.setVersion(v.Elem(), x.version(s, op.key, op.vmode))
	}
	return v
}

func (x *storeDiff[T]) run(ctx context.Context, s *side[T], op *sOp) (res sRes) {
	defer func() {
		if p := recover(); p != nil {
			res.err = panicError{p}
		}
	}()
	api := s.s.api
	track := func(r ref, e reflect.Value) {
		s.register(r, x.m.key(e.Elem()).Interface(), x.m.versionOf(e.Elem()))
	}
	switch op.kind {
	case opCreate:
		in := x.input(s, op, 0, false)
		res.err = api.Create(ctx, in.Interface().(*T))
		res.ins = []reflect.Value{in}
		if res.err == nil {
			track(ref{op.label, 0}, in)
		}
	case opCreateMany:
		ins := make([]*T, len(op.ents))
		for i := range op.ents {
			v := x.input(s, op, i, false)
			ins[i] = v.Interface().(*T)
			res.ins = append(res.ins, v)
		}
		res.err = api.CreateMany(ctx, ins)
		for i, v := range res.ins {
			// A DocStore's InsertMany is ordered: after a failure the
			// documents before it are stored with their (generated) IDs.
			if res.err == nil || (x.doc && !x.m.key(v.Elem()).IsZero()) {
				track(ref{op.label, i}, v)
			}
		}
	case opGet:
		e, err := api.Get(ctx, x.resolve(s, op.key))
		res.err = err
		if err == nil {
			res.one = reflect.ValueOf(e)
			x.learn(s, res.one)
		}
	case opFind, opSnapshot:
		q := x.query(s, op.q)
		if op.kind == opSnapshot {
			q = ports.All()
		}
		rows, err := api.Find(ctx, q)
		res.err = err
		for i := range rows {
			res.rows = append(res.rows, reflect.ValueOf(&rows[i]).Elem())
		}
		x.learnRows(s, res.rows)
	case opCount:
		res.n, res.err = api.Count(ctx, x.query(s, op.q))
	case opDeleteWhere:
		res.n, res.err = api.DeleteWhere(ctx, x.query(s, op.q))
	case opStream:
		for e, err := range api.Stream(ctx, x.query(s, op.q)) {
			if err != nil {
				res.err = err
				break
			}
			res.rows = append(res.rows, reflect.ValueOf(&e).Elem())
			if op.brk > 0 && len(res.rows) >= op.brk {
				break
			}
		}
		x.learnRows(s, res.rows)
	case opPages:
		q := x.query(s, op.q)
		cur := ""
		for range 40 {
			p, err := api.FindPage(ctx, q, cur)
			if err != nil {
				res.err = err
				break
			}
			page := make([]reflect.Value, len(p.Items))
			for i := range p.Items {
				page[i] = reflect.ValueOf(&p.Items[i]).Elem()
			}
			res.pages = append(res.pages, page)
			res.nexts = append(res.nexts, p.Next != "")
			if p.Next == "" {
				break
			}
			cur = p.Next
		}
	case opBadCursor:
		q := x.query(s, op.q)
		src := q
		if op.tamper == 2 {
			src = x.query(s, op.q2)
		}
		p, err := api.FindPage(ctx, src, "")
		if err != nil {
			res.err, res.stage = err, "first page"
			break
		}
		cur := tamper(p.Next, op.tamper)
		res.stage = "tampered cursor"
		p, err = api.FindPage(ctx, q, cur)
		res.err = err
		for i := range p.Items {
			res.rows = append(res.rows, reflect.ValueOf(&p.Items[i]).Elem())
		}
	case opUpdate, opUpsert:
		in := x.input(s, op, 0, op.key.kind != keyZero || op.kind == opUpdate)
		if op.kind == opUpdate {
			res.err = api.Update(ctx, in.Interface().(*T))
		} else {
			res.err = api.Upsert(ctx, in.Interface().(*T))
		}
		res.ins = []reflect.Value{in}
		if res.err == nil {
			r := op.key.ref
			if op.key.kind != keyRef {
				r = ref{op.label, 0}
			}
			track(r, in)
		}
	case opPatch:
		p := ports.Patch{}
		for _, c := range op.changes {
			if c.Op == ports.OpInc {
				p = p.Inc(c.Field, c.Value)
			} else {
				p = p.Set(c.Field, c.Value)
			}
		}
		if op.ifv {
			p = p.IfVersion(x.version(s, op.key, op.vmode))
		}
		res.err = api.Patch(ctx, x.resolve(s, op.key), p)
		if res.err == nil && op.key.kind == keyRef {
			s.vers[op.key.ref]++
		}
	case opDelete:
		res.err = api.Delete(ctx, x.resolve(s, op.key))
	case opDeleteIfVersion:
		res.err = api.DeleteIfVersion(ctx, x.resolve(s, op.key), x.version(s, op.key, op.vmode))
	case opTx:
		res.err = s.s.tx.WithinTx(ctx, func(ctx context.Context) error {
			for i := range op.sub {
				r := x.run(ctx, s, &op.sub[i])
				res.sub = append(res.sub, r)
				if x.txAborts && r.err != nil && op.sub[i].kind != opTx {
					return r.err // the transaction is aborted: go no further
				}
			}
			if op.rollback {
				return errDiffRollback
			}
			return nil
		})
	}
	return res
}

// learn records the version of a returned entity.
func (x *storeDiff[T]) learn(s *side[T], e reflect.Value) {
	if x.m.version == nil || !e.IsValid() || e.IsNil() {
		return
	}
	x.learnRows(s, []reflect.Value{e.Elem()})
}

func (x *storeDiff[T]) learnRows(s *side[T], rows []reflect.Value) {
	if x.m.version == nil {
		return
	}
	for _, r := range rows {
		if rf, ok := s.rev[keyString(x.m.key(r).Interface())]; ok {
			s.vers[rf] = x.m.versionOf(r)
		}
	}
}

// tamper alters a cursor: flip a character (0), cut it in half (1),
// leave it (2: the foreign query's cursor), or replace it (3).
func tamper(c string, mode int) string {
	switch mode {
	case 0:
		if c == "" {
			return "A"
		}
		b := []byte(c)
		i := len(b) / 2
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	case 1:
		return c[:len(c)/2]
	case 2:
		if c == "" {
			return "x"
		}
		return c
	}
	return "' OR 1=1 --"
}

// errKind names err's sentinel for comparison.
func errKind(err error) string {
	var p panicError
	switch {
	case err == nil:
		return "nil"
	case errors.As(err, &p):
		return "panic"
	case errors.Is(err, errDiffRollback):
		return "rollback"
	}
	return ports.KindName(err)
}

func errDetail(err error) string {
	if err == nil {
		return "nil"
	}
	s := err.Error()
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return errKind(err) + ": " + s
}

// compare compares the two sides' results of op.
func (x *storeDiff[T]) compare(op *sOp, a, b sRes, sides [2]*side[T]) *mismatch {
	d := differ{m: x.m, na: sides[0].namer(), nb: sides[1].namer()}
	name := op.kind.name(x.doc)
	shape := x.shape(op)
	mk := func(aspect, tag, detail string) *mismatch {
		kind := name + ": " + aspect
		if tag != "" {
			kind += " [" + tag + "]"
		}
		return &mismatch{kind: kind, detail: "at " + x.render(*op) + "\n" + detail}
	}
	if op.kind == opTx && x.txAborts {
		// Each side stops at its first failure: the first operation that
		// differs names the divergence, before what WithinTx returned.
		for i := range min(len(a.sub), len(b.sub)) {
			if mm := x.compare(&op.sub[i], a.sub[i], b.sub[i], sides); mm != nil {
				mm.detail = "inside " + x.render(*op) + "\n" + mm.detail
				return mm
			}
		}
	}
	if ka, kb := errKind(a.err), errKind(b.err); ka != kb {
		return mk("error fake="+ka+" real="+kb, shape, "fake: "+errDetail(a.err)+"\nreal: "+errDetail(b.err))
	}
	if a.stage != b.stage {
		return mk("fails at another step", shape, "fake: "+a.stage+"\nreal: "+b.stage)
	}
	for i := range min(len(a.ins), len(b.ins)) {
		if p := d.diff(a.ins[i], b.ins[i]); len(p) > 0 {
			what := "entity left differently"
			if a.err != nil {
				what = "failed call left its entity differently"
			}
			return mk(what, strings.Join(p, " "), fmt.Sprintf("error: %s\nfake's entity: %s\nreal's entity: %s", errKind(a.err), d.render(a.ins[i], d.na), d.render(b.ins[i], d.nb)))
		}
	}
	if len(a.sub) != len(b.sub) {
		return mk("ran another number of operations", shape, "")
	}
	for i := range a.sub { // a transaction's operations, whether it committed or not
		if mm := x.compare(&op.sub[i], a.sub[i], b.sub[i], sides); mm != nil {
			mm.detail = "inside " + x.render(*op) + "\n" + mm.detail
			return mm
		}
	}
	if a.err != nil {
		return nil
	}
	if a.n != b.n {
		return mk("count differs", shape, fmt.Sprintf("fake: %d\nreal: %d", a.n, b.n))
	}
	if a.one.IsValid() != b.one.IsValid() {
		return mk("result differs", shape, "one side returned no entity")
	}
	if a.one.IsValid() {
		if p := d.diff(a.one, b.one); len(p) > 0 {
			return mk("entity differs", strings.Join(p, " "), "fake: "+d.render(a.one, d.na)+"\nreal: "+d.render(b.one, d.nb))
		}
	}
	if mm := x.compareRows(d, a.rows, b.rows, mk, shape, ""); mm != nil {
		return mm
	}
	if len(a.pages) != len(b.pages) || !slices.Equal(a.nexts, b.nexts) {
		return mk("pages differ", shape, fmt.Sprintf("fake: %d page(s) %s\nreal: %d page(s) %s", len(a.pages), x.renderPages(d, a.pages, d.na), len(b.pages), x.renderPages(d, b.pages, d.nb)))
	}
	for i := range a.pages {
		if mm := x.compareRows(d, a.pages[i], b.pages[i], mk, shape, fmt.Sprintf("page %d: ", i+1)); mm != nil {
			return mm
		}
	}
	return nil
}

func (x *storeDiff[T]) renderPages(d differ, pages [][]reflect.Value, n keyNamer) string {
	var parts []string
	for _, p := range pages {
		parts = append(parts, x.keysOf(d, p, n))
	}
	return strings.Join(parts, " | ")
}

// keysOf renders the keys of rows.
func (x *storeDiff[T]) keysOf(d differ, rows []reflect.Value, n keyNamer) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		k := x.m.key(r)
		if name, ok := n(k.Interface()); ok {
			parts[i] = name
		} else {
			parts[i] = d.render(k, nil)
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func (x *storeDiff[T]) compareRows(d differ, a, b []reflect.Value, mk func(aspect, tag, detail string) *mismatch, shape, prefix string) *mismatch {
	ka, kb := x.keysOf(d, a, d.na), x.keysOf(d, b, d.nb)
	if ka != kb {
		aspect := "rows differ"
		if len(a) == len(b) && sameStrings(strings.Fields(strings.Trim(ka, "[]")), strings.Fields(strings.Trim(kb, "[]"))) {
			aspect = "row order differs"
		}
		return mk(aspect, shape, fmt.Sprintf("%sfake: %s\n%sreal: %s%s", prefix, ka, prefix, kb, x.rowsDetail(d, a, b)))
	}
	for i := range a {
		if p := d.diff(a[i], b[i]); len(p) > 0 {
			return mk("values differ", strings.Join(p, " "), fmt.Sprintf("%srow %d\nfake: %s\nreal: %s", prefix, i+1, d.render(a[i], d.na), d.render(b[i], d.nb)))
		}
	}
	return nil
}

// rowsDetail renders the rows of both sides when they are few.
func (x *storeDiff[T]) rowsDetail(d differ, a, b []reflect.Value) string {
	if len(a)+len(b) > 12 {
		return ""
	}
	var sb strings.Builder
	for _, r := range a {
		sb.WriteString("\n  fake row: " + d.render(r, d.na))
	}
	for _, r := range b {
		sb.WriteString("\n  real row: " + d.render(r, d.nb))
	}
	return sb.String()
}

// shape summarises op's query, patch or edge values for its kind.
func (x *storeDiff[T]) shape(op *sOp) string {
	switch op.kind {
	case opFind, opCount, opStream, opPages, opBadCursor, opDeleteWhere:
		s := queryShape(x.m, op.q)
		if op.kind == opBadCursor {
			s = strings.TrimSpace(fmt.Sprintf("%s; %s", []string{"flipped", "truncated", "foreign", "garbage"}[op.tamper], s))
		}
		if op.kind == opStream && op.brk > 0 {
			s = strings.TrimPrefix(s+"; broken off", "; ")
		}
		return s
	case opPatch:
		var parts []string
		for _, c := range op.changes {
			v := "nil"
			if c.Value != nil {
				v = ports.ClassOf(reflect.TypeOf(c.Value)).String()
				if f, ok := x.m.schema.Lookup(c.Field); ok && f.Class == ports.ClassNumber && reflect.TypeOf(c.Value) != derefT(f.Type) {
					v += " " + reflect.TypeOf(c.Value).String()
				}
			}
			parts = append(parts, fmt.Sprintf("%s %s %s", x.m.fieldClass(c.Field), c.Op, v))
		}
		if op.ifv {
			parts = append(parts, "if version "+[]string{"current", "stale", "zero", "ahead"}[op.vmode])
		}
		return strings.Join(parts, "; ")
	case opCreate, opCreateMany, opUpdate, opUpsert:
		var tags []string
		for _, e := range op.ents {
			for _, tag := range x.m.edgeTags(e) {
				_, what, _ := strings.Cut(tag, ": ")
				tags = append(tags, what)
			}
		}
		slices.Sort(tags)
		tags = slices.Compact(tags)
		if (op.kind == opUpdate || op.kind == opUpsert) && x.m.version != nil {
			tags = append(tags, "version "+[]string{"current", "stale", "zero", "ahead"}[op.vmode])
		}
		if op.kind == opUpsert && op.key.kind != keyRef {
			tags = append(tags, []string{"", "explicit key", "missing key", "malformed key", "no key"}[op.key.kind])
		}
		return strings.Join(tags, "; ")
	case opDeleteIfVersion:
		return "version " + []string{"current", "stale", "zero", "ahead"}[op.vmode]
	}
	return ""
}

func derefT(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// queryShape summarises a query: "Note Ne value; Qty In 2; order -Name;
// limit; offset".
func queryShape(m *model, q dquery) string {
	var parts []string
	for _, c := range q.conds {
		v := "value"
		switch {
		case c.op == ports.In && c.keys != nil:
			v = fmt.Sprintf("%d keys", len(c.keys))
		case c.op == ports.In:
			v = fmt.Sprintf("%d", reflect.ValueOf(c.val).Len())
		case c.keys != nil:
			v = "key"
		case c.val == nil:
			v = "nil"
		}
		parts = append(parts, fmt.Sprintf("%s %s %s", m.fieldClass(c.field), opName(c.op), v))
	}
	for _, o := range q.orders {
		if o.Desc {
			parts = append(parts, "order -"+m.fieldClass(o.Field))
		} else {
			parts = append(parts, "order "+m.fieldClass(o.Field))
		}
	}
	if q.limit != 0 {
		parts = append(parts, "limit")
	}
	if q.offset != 0 {
		parts = append(parts, "offset")
	}
	return strings.Join(parts, "; ")
}

func opName(o ports.Op) string {
	switch o {
	case ports.Eq:
		return "Eq"
	case ports.Ne:
		return "Ne"
	case ports.Lt:
		return "Lt"
	case ports.Lte:
		return "Lte"
	case ports.Gt:
		return "Gt"
	case ports.Gte:
		return "Gte"
	case ports.In:
		return "In"
	}
	return string(o)
}

// deepCopy returns a deep copy of v (a pointer, struct, slice, map ...).
func deepCopy(v reflect.Value) reflect.Value {
	if !v.IsValid() {
		return v
	}
	out := reflect.New(v.Type()).Elem()
	copyInto(out, v, 0)
	return out
}

func copyInto(dst, src reflect.Value, depth int) {
	if depth > 16 {
		dst.Set(src)
		return
	}
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		copyInto(p.Elem(), src.Elem(), depth+1)
		dst.Set(p)
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			copyInto(s.Index(i), src.Index(i), depth+1)
		}
		dst.Set(s)
	case reflect.Map:
		if src.IsNil() {
			return
		}
		mp := reflect.MakeMapWithSize(src.Type(), src.Len())
		for _, k := range src.MapKeys() {
			e := reflect.New(src.Type().Elem()).Elem()
			copyInto(e, src.MapIndex(k), depth+1)
			mp.SetMapIndex(k, e)
		}
		dst.Set(mp)
	case reflect.Struct:
		dst.Set(src) // unexported fields too
		for i := range src.NumField() {
			if dst.Field(i).CanSet() {
				copyInto(dst.Field(i), src.Field(i), depth+1)
			}
		}
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		e := reflect.New(src.Elem().Type()).Elem()
		copyInto(e, src.Elem(), depth+1)
		dst.Set(e)
	default:
		dst.Set(src)
	}
}

// render renders an operation for reports.
func (x *storeDiff[T]) render(op sOp) string {
	d := differ{m: x.m}
	name := op.kind.name(x.doc)
	key := func() string { return x.renderKey(op.key) }
	ver := func() string {
		return []string{"current version", "stale version", "version 0", "version+1"}[op.vmode]
	}
	switch op.kind {
	case opCreate:
		return fmt.Sprintf("%s(%s) as #%d", name, d.render(op.ents[0], nil), op.label)
	case opCreateMany:
		parts := make([]string, len(op.ents))
		for i, e := range op.ents {
			parts[i] = d.render(e, nil)
		}
		return fmt.Sprintf("%s([%s]) as #%d.0…", name, strings.Join(parts, ", "), op.label)
	case opGet, opDelete:
		return fmt.Sprintf("%s(%s)", name, key())
	case opDeleteIfVersion:
		return fmt.Sprintf("%s(%s, %s)", name, key(), ver())
	case opFind, opCount, opDeleteWhere, opPages:
		return fmt.Sprintf("%s(%s)", name, x.renderQuery(op.q))
	case opStream:
		if op.brk > 0 {
			return fmt.Sprintf("Stream(%s), break after %d", x.renderQuery(op.q), op.brk)
		}
		return fmt.Sprintf("Stream(%s)", x.renderQuery(op.q))
	case opBadCursor:
		mode := []string{"with its next cursor flipped", "with its next cursor truncated", "with the cursor of " + x.renderQuery(op.q2), "with a garbage cursor"}[op.tamper]
		return fmt.Sprintf("FindPage(%s) %s", x.renderQuery(op.q), mode)
	case opUpdate:
		return fmt.Sprintf("Update(%s with key %s, %s)", d.render(op.ents[0], nil), key(), ver())
	case opUpsert:
		k := key()
		if op.key.kind == keyZero {
			k = "none"
		}
		return fmt.Sprintf("Upsert(%s with key %s, %s) as #%d", d.render(op.ents[0], nil), k, ver(), op.label)
	case opPatch:
		var parts []string
		for _, c := range op.changes {
			parts = append(parts, fmt.Sprintf("%s %s %s", c.Field, c.Op, d.render(reflect.ValueOf(c.Value), nil)))
		}
		if op.ifv {
			parts = append(parts, "IfVersion("+ver()+")")
		}
		return fmt.Sprintf("Patch(%s, %s)", key(), strings.Join(parts, ", "))
	case opTx:
		parts := make([]string, len(op.sub))
		for i, s := range op.sub {
			parts[i] = x.render(s)
		}
		end := "commit"
		if op.rollback {
			end = "roll back"
		}
		return fmt.Sprintf("WithinTx{ %s; then %s }", strings.Join(parts, "; "), end)
	}
	return "Snapshot: Find(All) on both"
}

func (x *storeDiff[T]) renderKey(k keySel) string {
	d := differ{m: x.m}
	switch k.kind {
	case keyRef:
		return k.ref.String()
	case keyExplicit, keyBad:
		return d.render(reflect.ValueOf(k.val), nil)
	case keyZero:
		return "zero key"
	}
	return "a missing key"
}

func (x *storeDiff[T]) renderQuery(q dquery) string {
	d := differ{m: x.m}
	var b strings.Builder
	b.WriteString("Query{")
	for i, c := range q.conds {
		if i > 0 {
			b.WriteString(" AND ")
		}
		v := d.render(reflect.ValueOf(c.val), nil)
		if c.keys != nil {
			ks := make([]string, len(c.keys))
			for j, k := range c.keys {
				ks[j] = x.renderKey(k)
			}
			v = strings.Join(ks, ",")
			if c.op == ports.In {
				v = "[" + v + "]"
			}
		}
		fmt.Fprintf(&b, "%s %s %s", c.field, c.op, v)
	}
	if len(q.orders) > 0 {
		b.WriteString(" ORDER BY")
		for _, o := range q.orders {
			if o.Desc {
				b.WriteString(" -" + o.Field)
			} else {
				b.WriteString(" " + o.Field)
			}
		}
	}
	if q.limit != 0 {
		fmt.Fprintf(&b, " LIMIT %d", q.limit)
	}
	if q.offset != 0 {
		fmt.Fprintf(&b, " OFFSET %d", q.offset)
	}
	b.WriteString("}")
	return b.String()
}

// generate returns a random sequence of n operations ending with a
// snapshot.
func (x *storeDiff[T]) generate(r *rand.Rand, n int) []sOp {
	g := &sgen[T]{x: x, r: r}
	ops := make([]sOp, 0, n)
	for len(ops) < n-1 {
		ops = append(ops, g.op(0))
	}
	return append(ops, sOp{kind: opSnapshot})
}

// sgen generates one sequence's operations.
type sgen[T any] struct {
	x       *storeDiff[T]
	r       *rand.Rand
	label   int
	created []ref
}

func (g *sgen[T]) op(depth int) sOp {
	m := g.x.m
	type w struct {
		k sKind
		n int
	}
	weights := []w{{opCreate, 16}, {opCreateMany, 5}, {opGet, 7}, {opFind, 12}, {opCount, 3}, {opStream, 5},
		{opPages, 6}, {opBadCursor, 2}, {opUpdate, 8}, {opPatch, 8}, {opUpsert, 5}, {opDelete, 4},
		{opDeleteWhere, 3}, {opSnapshot, 3}}
	if m.version != nil {
		weights = append(weights, w{opDeleteIfVersion, 3})
	}
	if g.x.hasTx && depth < 2 {
		weights = append(weights, w{opTx, 5})
	}
	total := 0
	for _, x := range weights {
		total += x.n
	}
	var k sKind
	for n := g.r.IntN(total); ; weights = weights[1:] {
		if n -= weights[0].n; n < 0 {
			k = weights[0].k
			break
		}
	}
	g.label++
	op := sOp{kind: k, label: g.label}
	switch k {
	case opCreate:
		op.ents = []reflect.Value{g.entity(true)}
		g.created = append(g.created, ref{op.label, 0})
	case opCreateMany:
		for i := range 1 + g.r.IntN(4) {
			op.ents = append(op.ents, g.entity(true))
			g.created = append(g.created, ref{op.label, i})
		}
	case opGet, opDelete:
		op.key = g.key()
	case opDeleteIfVersion:
		op.key, op.vmode = g.key(), g.vmode()
	case opFind, opCount:
		op.q = g.query(true)
	case opStream:
		op.q = g.query(true)
		if g.r.IntN(3) == 0 {
			op.brk = 1 + g.r.IntN(2)
		}
	case opPages:
		op.q = g.query(false)
		op.q.limit = 1 + g.r.IntN(3)
		if g.r.IntN(25) == 0 {
			op.q.offset = 1
		}
	case opBadCursor:
		op.q = g.query(false)
		op.q.limit = 1
		op.tamper = g.r.IntN(4)
		op.q2 = g.query(false)
		op.q2.limit = 1
	case opDeleteWhere:
		op.q = g.query(false)
		switch g.r.IntN(12) {
		case 0:
			op.q.conds = nil
		case 1:
			op.q.limit = 1
		}
		if len(op.q.conds) == 0 && g.r.IntN(3) > 0 {
			op.q.conds = g.query(false).conds
		}
	case opUpdate:
		op.ents = []reflect.Value{g.entity(false)}
		op.key, op.vmode = g.key(), g.vmode()
	case opUpsert:
		op.ents = []reflect.Value{g.entity(false)}
		op.key, op.vmode = g.key(), g.vmode()
		if g.r.IntN(5) == 0 {
			op.key = keySel{kind: keyZero}
		}
		if op.key.kind != keyRef {
			g.created = append(g.created, ref{op.label, 0})
		}
	case opPatch:
		op.key, op.vmode = g.key(), g.vmode()
		op.changes = g.changes()
		op.ifv = m.version != nil && g.r.IntN(3) == 0
	case opTx:
		for range 1 + g.r.IntN(4) {
			op.sub = append(op.sub, g.op(depth+1))
		}
		op.rollback = g.r.IntN(3) == 0
	}
	return op
}

func (g *sgen[T]) vmode() int {
	if g.x.m.version == nil {
		return verCurrent
	}
	return pick(g.r, verCurrent, verCurrent, verCurrent, verStale, verZero, verAhead)
}

// entity returns a random entity; creating ones get an explicit key at
// times (always when the key is not generated by the store).
func (g *sgen[T]) entity(creating bool) reflect.Value {
	m := g.x.m
	e := m.newEntity(g.r)
	if creating && (!m.autoKey || g.r.IntN(4) == 0) {
		k := m.genKey(g.r)
		if m.doc && g.r.IntN(30) == 0 {
			k = reflect.ValueOf(badDocIDs[0]).Convert(m.pkType)
		}
		m.setKey(e.Elem(), k)
	}
	if creating && m.version != nil && g.r.IntN(4) == 0 {
		m.setVersion(e.Elem(), 5)
	}
	return e
}

func (g *sgen[T]) key() keySel {
	m := g.x.m
	n := g.r.IntN(20)
	switch {
	case n < 14 && len(g.created) > 0:
		return keySel{kind: keyRef, ref: g.created[g.r.IntN(len(g.created))]}
	case n < 17:
		return keySel{kind: keyExplicit, val: m.genKey(g.r).Interface()}
	case n < 19 || !m.doc:
		return keySel{kind: keyMissing}
	}
	return keySel{kind: keyBad, val: reflect.ValueOf(pick(g.r, badDocIDs...)).Convert(m.pkType).Interface()}
}

// query returns a random query; ordered adds limit and offset at times.
func (g *sgen[T]) query(limits bool) dquery {
	m := g.x.m
	paths := m.queryable()
	var q dquery
	for range pick(g.r, 0, 1, 1, 1, 2, 2, 3) {
		f, _ := m.schema.Lookup(paths[g.r.IntN(len(paths))])
		q.conds = append(q.conds, g.cond(f))
	}
	used := map[string]bool{}
	for range pick(g.r, 0, 0, 1, 1, 2) {
		p := paths[g.r.IntN(len(paths))]
		if used[p] {
			continue
		}
		used[p] = true
		q.orders = append(q.orders, ports.Order{Field: p, Desc: g.r.IntN(2) == 0})
	}
	if limits {
		if g.r.IntN(3) == 0 {
			q.limit = 1 + g.r.IntN(4)
		}
		if g.r.IntN(4) == 0 {
			q.offset = 1 + g.r.IntN(3)
		}
	}
	return q
}

func (g *sgen[T]) cond(f *ports.Field) dcond {
	m := g.x.m
	ops := []ports.Op{ports.Eq, ports.Ne, ports.Lt, ports.Lte, ports.Gt, ports.Gte, ports.In}
	if f.Class == ports.ClassBool {
		ops = []ports.Op{ports.Eq, ports.Ne, ports.In}
	}
	c := dcond{field: f.Path, op: ops[g.r.IntN(len(ops))]}
	if f.Path == m.pkPath && len(g.created) > 0 && g.r.IntN(2) == 0 {
		n := 1
		if c.op == ports.In {
			n = g.r.IntN(4)
		}
		c.keys = make([]keySel, 0, n)
		for range n {
			c.keys = append(c.keys, g.key())
		}
		if c.op == ports.In && n == 0 {
			c.keys, c.val = nil, reflect.MakeSlice(reflect.SliceOf(derefT(f.Type)), 0, 0).Interface()
		}
		return c
	}
	if c.op == ports.In {
		n := g.r.IntN(4)
		s := reflect.MakeSlice(reflect.SliceOf(derefT(f.Type)), n, n)
		for i := range n {
			s.Index(i).Set(reflect.ValueOf(m.genFieldValue(g.r, f)))
		}
		c.val = s.Interface()
		return c
	}
	if f.Nullable && (c.op == ports.Eq || c.op == ports.Ne) && g.r.IntN(3) == 0 {
		return c
	}
	c.val = m.genFieldValue(g.r, f)
	return c
}

func (g *sgen[T]) changes() []ports.Change {
	m := g.x.m
	paths := m.schema.Paths()
	var out []ports.Change
	used := map[string]bool{}
	for range 1 + g.r.IntN(2) {
		p := paths[g.r.IntN(len(paths))]
		if g.r.IntN(25) == 0 {
			p = pick(g.r, m.pkPath, "NoSuchField")
			if m.version != nil && g.r.IntN(2) == 0 {
				p = m.version.Path
			}
		}
		if used[p] {
			continue
		}
		used[p] = true
		f, ok := m.schema.Lookup(p)
		if !ok || f.Version || p == m.pkPath {
			out = append(out, ports.Change{Field: p, Op: ports.OpSet, Value: 1})
			continue
		}
		if f.Class == ports.ClassNumber && g.r.IntN(2) == 0 {
			out = append(out, ports.Change{Field: p, Op: ports.OpInc, Value: pick[any](g.r, int64(1), int64(-1), int64(2), 0.5)})
			continue
		}
		if f.Nullable && g.r.IntN(4) == 0 {
			out = append(out, ports.Change{Field: p, Op: ports.OpSet, Value: nil})
			continue
		}
		out = append(out, ports.Change{Field: p, Op: ports.OpSet, Value: m.genFieldValue(g.r, f)})
	}
	return out
}

// simplify returns simpler variants of op for shrinking.
func (x *storeDiff[T]) simplify(op sOp) [][]sOp {
	var out [][]sOp
	one := func(o sOp) { out = append(out, []sOp{o}) }
	switch op.kind {
	case opCreateMany:
		for i := range op.ents {
			c := op
			c.ents = slices.Delete(slices.Clone(op.ents), i, i+1)
			if len(c.ents) > 0 {
				one(c)
			}
		}
	case opTx:
		if !op.rollback {
			out = append(out, op.sub) // unwrapped
		}
		for i := range op.sub {
			c := op
			c.sub = slices.Delete(slices.Clone(op.sub), i, i+1)
			one(c)
			for _, v := range x.simplify(op.sub[i]) {
				c := op
				c.sub = append(append(slices.Clone(op.sub[:i]), v...), op.sub[i+1:]...)
				one(c)
			}
		}
	case opPatch:
		for i := range op.changes {
			if len(op.changes) > 1 {
				c := op
				c.changes = slices.Delete(slices.Clone(op.changes), i, i+1)
				one(c)
			}
		}
		if op.ifv {
			c := op
			c.ifv = false
			one(c)
		}
	}
	for _, q := range simplerQueries(op.q) {
		c := op
		c.q = q
		one(c)
	}
	if op.kind == opStream && op.brk > 0 {
		c := op
		c.brk = 0
		one(c)
	}
	if op.vmode != verCurrent {
		c := op
		c.vmode = verCurrent
		one(c)
	}
	for i, e := range op.ents {
		if x.m.autoKey && !x.m.key(e.Elem()).IsZero() {
			c := op
			c.ents = slices.Clone(op.ents)
			c.ents[i] = deepCopy(e)
			x.m.setKey(c.ents[i].Elem(), reflect.Zero(x.m.pkType))
			one(c)
		}
		for _, v := range x.simplerEntities(e) {
			c := op
			c.ents = slices.Clone(op.ents)
			c.ents[i] = v
			one(c)
		}
	}
	return out
}

func simplerQueries(q dquery) []dquery {
	var out []dquery
	for i := range q.conds {
		c := q
		c.conds = slices.Delete(slices.Clone(q.conds), i, i+1)
		out = append(out, c)
	}
	for i := range q.orders {
		c := q
		c.orders = slices.Delete(slices.Clone(q.orders), i, i+1)
		out = append(out, c)
	}
	if q.offset != 0 {
		c := q
		c.offset = 0
		out = append(out, c)
	}
	if q.limit > 1 {
		c := q
		c.limit = 1
		out = append(out, c)
	}
	return out
}

// simplerEntities returns copies of e with one top-level field (or one
// field of an embedded struct) set to its zero value, the key excepted.
func (x *storeDiff[T]) simplerEntities(e reflect.Value) []reflect.Value {
	var out []reflect.Value
	var walk func(v reflect.Value, index []int, prefix string)
	walk = func(v reflect.Value, index []int, prefix string) {
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			idx := append(slices.Clone(index), i)
			if f.Anonymous && f.Type.Kind() == reflect.Struct {
				walk(v.Field(i), idx, prefix)
				continue
			}
			if !f.IsExported() || isZero(v.Field(i)) || slices.Equal(idx, x.m.pkIndex) {
				continue
			}
			c := deepCopy(e)
			c.Elem().FieldByIndex(idx).Set(reflect.Zero(f.Type))
			out = append(out, c)
		}
	}
	walk(e.Elem(), nil, "")
	return out
}
