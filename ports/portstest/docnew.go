package portstest

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// VDoc is the DocStore model of the optimistic-concurrency cases.
type VDoc struct {
	ports.Document `bson:",inline"`
	Name           string        `bson:"name"`
	Qty            int           `bson:"qty"`
	Version        ports.Version `bson:"version"`
}

// docKitAPI is the kit of the Stream, FindPage and DeleteWhere cases on the
// seed documents (Rank ties: alpha and delta hold 3; Due is missing on
// bravo and delta).
var docKitAPI = apiKit[Doc, *docEnv]{
	store: func(e *docEnv) lister[Doc] { return e.Store },
	seed:  func(t *testing.T, ctx context.Context, e *docEnv) { e.seed(t, ctx) },
	name:  func(d Doc) string { return d.Title },
	first: func(t *testing.T, ctx context.Context, e *docEnv) {
		d := newDoc("first")
		d.Rank = -100
		e.insert(t, ctx, d)
	},
	number: "Rank", str: "Title", nullable: "Due",
	tx: func(e *docEnv) ports.Transactor {
		if !e.Caps.Transactions {
			return nil
		}
		return e.Tx
	},
	create: func(t *testing.T, ctx context.Context, e *docEnv, name string) { e.insert(t, ctx, newDoc(name)) },
}

func (e *docEnv) versioned(t *testing.T) ports.DocStore[VDoc] {
	t.Helper()
	if e.Versioned == nil {
		t.Skip("DocSetup.Versioned is nil")
	}
	return e.Versioned(t)
}

func getVD(t *testing.T, ctx context.Context, s ports.DocStore[VDoc], id string) VDoc {
	t.Helper()
	got, err := s.Get(ctx, id)
	wantNoErr(t, fmt.Sprintf("Get(%q)", id), err)
	return *got
}

func docNewCases() []testCase[*docEnv] {
	return append(docKitAPI.cases("Doc"), []testCase[*docEnv]{
		docQuery("QueryNeValueMatchesMissing", ports.Where("Due", ports.Ne, sqlT0), "bravo", "charlie", "delta", "echo"),
		docQuery("OrderMissingFirst", ports.All().OrderBy("Due"), "bravo", "delta", "alpha", "charlie", "echo"),
		docQuery("OrderMissingLastDesc", ports.All().OrderBy("-Due"), "echo", "charlie", "alpha", "bravo", "delta"),
		{"VersionInsertStoresOne", func(t *testing.T, e *docEnv) {
			s := e.versioned(t)
			ctx := caseCtx(t)
			v := VDoc{Name: "a", Version: 7}
			wantNoErr(t, "Insert", s.Insert(ctx, &v))
			if v.Version != 1 || getVD(t, ctx, s, v.ID).Version != 1 {
				t.Errorf("Insert: Version %d on the document, want 1, stored too", v.Version)
			}
		}},
		{"VersionStaleUpdate", func(t *testing.T, e *docEnv) {
			s := e.versioned(t)
			ctx := caseCtx(t)
			v := VDoc{Name: "a", Qty: 1}
			wantNoErr(t, "Insert", s.Insert(ctx, &v))
			stale := v
			v.Qty = 2
			wantNoErr(t, "Update at the current version", s.Update(ctx, &v))
			if v.Version != 2 {
				t.Errorf("Update set Version %d, want 2", v.Version)
			}
			stale.Qty = 99
			wantOnly(t, "Update at a stale version", s.Update(ctx, &stale), ports.ErrConflict)
			if got := getVD(t, ctx, s, v.ID); got.Qty != 2 || got.Version != 2 {
				t.Errorf("after a stale Update the stored document has Qty %d Version %d, want 2 and 2", got.Qty, got.Version)
			}
		}},
		{"VersionDeleteIfVersion", func(t *testing.T, e *docEnv) {
			s := e.versioned(t)
			ctx := caseCtx(t)
			v := VDoc{Name: "a"}
			wantNoErr(t, "Insert", s.Insert(ctx, &v))
			wantOnly(t, "DeleteIfVersion of a stale version", s.DeleteIfVersion(ctx, v.ID, 4), ports.ErrConflict)
			getVD(t, ctx, s, v.ID)
			wantNoErr(t, "DeleteIfVersion of the current version", s.DeleteIfVersion(ctx, v.ID, 1))
			wantOnly(t, "DeleteIfVersion of a deleted document", s.DeleteIfVersion(ctx, v.ID, 1), ports.ErrNotFound)
			d := e.insert(t, ctx, newDoc("plain"))
			wantOnly(t, "DeleteIfVersion on a model without a Version field", e.Store.DeleteIfVersion(ctx, d.ID, 1), ports.ErrInvalid)
		}},
		{"VersionPatch", func(t *testing.T, e *docEnv) {
			s := e.versioned(t)
			ctx := caseCtx(t)
			v := VDoc{Name: "a", Qty: 1}
			wantNoErr(t, "Insert", s.Insert(ctx, &v))
			wantNoErr(t, "Patch", s.Patch(ctx, v.ID, ports.Inc("Qty", 1)))
			wantOnly(t, "Patch IfVersion of a stale version", s.Patch(ctx, v.ID, ports.Set("Qty", 9).IfVersion(1)), ports.ErrConflict)
			if got := getVD(t, ctx, s, v.ID); got.Qty != 2 || got.Version != 2 {
				t.Errorf("after Patch and a stale Patch: Qty %d Version %d, want 2 and 2", got.Qty, got.Version)
			}
			wantNoErr(t, "Patch IfVersion of the current version", s.Patch(ctx, v.ID, ports.Set("Qty", 9).IfVersion(2)))
			wantOnly(t, "Patch of the Version field", s.Patch(ctx, v.ID, ports.Set("Version", ports.Version(1))), ports.ErrInvalid)
		}},
		{"VersionUpsert", func(t *testing.T, e *docEnv) {
			s := e.versioned(t)
			ctx := caseCtx(t)
			v := VDoc{Name: "a"}
			wantNoErr(t, "Upsert of a document with no ID", s.Upsert(ctx, &v))
			if !objectIDForm.MatchString(v.ID) || getVD(t, ctx, s, v.ID).Version != 1 {
				t.Fatalf("Upsert with no ID: ID %q, want an assigned ID and version 1", v.ID)
			}
			stale := VDoc{Name: "b", Version: 5}
			stale.ID = v.ID
			wantOnly(t, "Upsert at a stale version", s.Upsert(ctx, &stale), ports.ErrConflict)
			absent := VDoc{Name: "c", Version: 2}
			absent.ID = newObjectIDHex()
			wantOnly(t, "Upsert with a version of an absent ID", s.Upsert(ctx, &absent), ports.ErrNotFound)
		}},
		{"Patch", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			a := e.insert(t, ctx, newDoc("a"))
			b := e.insert(t, ctx, newDoc("b"))
			e.tick()
			wantNoErr(t, "Patch", e.Store.Patch(ctx, a.ID, ports.Set("Title", "patched").Set("Author.Name", "new").Set("Due", nil).Inc("Rank", 2).Inc("Score", 0.25)))
			got := e.get(t, ctx, "Get after Patch", a.ID)
			want := a
			want.Title, want.Author.Name, want.Due, want.Rank, want.Score = "patched", "new", nil, a.Rank+2, a.Score+0.25
			want.UpdatedAt = got.UpdatedAt
			if d := docDiff(got, want); d != "" {
				t.Errorf("after Patch: %s", d)
			}
			if !got.UpdatedAt.After(a.UpdatedAt) {
				t.Errorf("Patch left UpdatedAt at %v, want it moved", got.UpdatedAt)
			}
			e.wantDoc(t, ctx, "Get of another document after Patch", b)
			wantOnly(t, "Patch of an absent ID", e.Store.Patch(ctx, newObjectIDHex(), ports.Set("Title", "x")), ports.ErrNotFound)
			wantOnly(t, "Patch of a malformed ID", e.Store.Patch(ctx, "nope", ports.Set("Title", "x")), ports.ErrNotFound)
		}},
		{"PatchInvalid", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			a := e.insert(t, ctx, newDoc("a"))
			for what, p := range map[string]ports.Patch{
				"no change":                {},
				"an unknown field":         ports.Set("Nope", 1),
				"a bson key":               ports.Set("title", "x"),
				"the ID":                   ports.Set("ID", newObjectIDHex()),
				"a value of another class": ports.Set("Rank", "x"),
				"Inc of a string field":    ports.Inc("Title", 1),
				"invalid UTF-8":            ports.Set("Title", "\xff"),
				"Inf":                      ports.Set("Score", math.Inf(1)),
			} {
				wantOnly(t, "Patch with "+what, e.Store.Patch(ctx, a.ID, p), ports.ErrInvalid)
			}
			e.wantDoc(t, ctx, "Get after refused Patches", a)
		}},
		{"PatchConcurrentInc", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			d := newDoc("a")
			d.Rank = 0
			a := e.insert(t, ctx, d)
			errs := parallel16(func(int) error {
				for range 10 {
					if err := e.Store.Patch(ctx, a.ID, ports.Inc("Rank", 1)); err != nil {
						return err
					}
				}
				return nil
			})
			wantNoErr(t, "16 goroutines each patching Rank += 1 ten times", firstErr(errs))
			if got := e.get(t, ctx, "Get", a.ID); got.Rank != 160 {
				t.Errorf("after 160 concurrent Inc(Rank, 1) Rank = %d, want 160", got.Rank)
			}
		}},
		{"Upsert", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			d := newDoc("a")
			wantNoErr(t, "Upsert of a document with no ID", e.Store.Upsert(ctx, &d))
			if !objectIDForm.MatchString(d.ID) {
				t.Fatalf("Upsert with no ID set ID %q, want an assigned one", d.ID)
			}
			e.wantDoc(t, ctx, "Get after an inserting Upsert", d)
			e.tick()
			repl := newDoc("a2")
			repl.ID, repl.Rank = d.ID, 42
			wantNoErr(t, "Upsert of an existing ID", e.Store.Upsert(ctx, &repl))
			got := e.get(t, ctx, "Get after a replacing Upsert", d.ID)
			if got.Title != "a2" || got.Rank != 42 || !ms(got.CreatedAt).Equal(ms(d.CreatedAt)) {
				t.Errorf("after a replacing Upsert: Title %q Rank %d CreatedAt %v, want a2, 42 and the created time kept (%v)", got.Title, got.Rank, got.CreatedAt, d.CreatedAt)
			}
			if n := e.count(t, ctx, "Count", ports.All()); n != 1 {
				t.Errorf("Count after two Upserts of one ID = %d, want 1", n)
			}
		}},
		{"InsertManyOrderedPartial", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			x := e.insert(t, ctx, newDoc("x"))
			n1, n3 := newDoc("n1"), newDoc("n3")
			dup := newDoc("dup")
			dup.ID = x.ID
			dupBefore, n3Before := dup, n3
			wantOnly(t, "InsertMany with a duplicate in the middle", e.Store.InsertMany(ctx, []*Doc{&n1, &dup, &n3}), ports.ErrConflict)
			if !objectIDForm.MatchString(n1.ID) {
				t.Fatalf("InsertMany stopped at its second document: the first got ID %q, want one (it is stored)", n1.ID)
			}
			e.wantDoc(t, ctx, "Get of the document before the failing one", n1)
			if d := docDiff(dup, dupBefore); d != "" {
				t.Errorf("the failing document was changed: %s", d)
			}
			if d := docDiff(n3, n3Before); d != "" || n3.ID != "" {
				t.Errorf("the document after the failing one was changed: %s", d)
			}
			if n := e.count(t, ctx, "Count", ports.All()); n != 2 {
				t.Errorf("Count after an ordered InsertMany failing at its second document = %d, want 2", n)
			}
		}},
		{"UpdateKeepsUndeclared", func(t *testing.T, e *docEnv) {
			if e.RawInsert == nil || e.RawGet == nil {
				t.Skip("DocSetup.RawInsert or RawGet is nil")
			}
			ctx := caseCtx(t)
			id, err := e.RawInsert(ctx, map[string]any{
				"title": "raw", "rank": 1, "extra": "kept", "__v": 3,
				"author": map[string]any{"name": "n", "country": "c", "sub": "kept too"},
			})
			wantNoErr(t, "RawInsert", err)
			d := e.get(t, ctx, "Get of a document written by another program", id)
			d.Title, d.Author.Name = "changed", "m"
			wantNoErr(t, "Update", e.Store.Update(ctx, &d))
			raw, err := e.RawGet(ctx, id)
			wantNoErr(t, "RawGet", err)
			if raw["extra"] != "kept" || raw["__v"] == nil {
				t.Errorf("Update dropped the fields the model does not declare: %v", raw)
			}
			if a, _ := raw["author"].(map[string]any); a == nil || a["sub"] != "kept too" || a["name"] != "m" {
				t.Errorf("Update of a nested struct dropped its undeclared field or missed the declared one: %v", raw["author"])
			}
			if raw["title"] != "changed" {
				t.Errorf("Update did not write title: %v", raw["title"])
			}
		}},
		{"PortableValues", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			for what, mut := range map[string]func(*Doc){
				"invalid UTF-8":        func(d *Doc) { d.Title = "\xff" },
				"NaN":                  func(d *Doc) { d.Score = math.NaN() },
				"an upper-case hex ID": func(d *Doc) { d.ID = strings.ToUpper(newObjectIDHex()) },
			} {
				d := newDoc("p")
				mut(&d)
				wantOnly(t, "Insert with "+what, e.Store.Insert(ctx, &d), ports.ErrInvalid)
			}
			if n := e.count(t, ctx, "Count", ports.All()); n != 0 {
				t.Errorf("Count after refused Inserts = %d, want 0", n)
			}
			d := e.insert(t, ctx, newDoc("t"))
			due := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600))
			d.Due = &due
			wantNoErr(t, "Update", e.Store.Update(ctx, &d))
			got := e.get(t, ctx, "Get", d.ID)
			if got.Due == nil || !got.Due.Equal(due.Truncate(time.Millisecond)) || got.Due.Location() != time.UTC {
				t.Errorf("a time came back as %v, want %v in UTC truncated to milliseconds", got.Due, due.UTC().Truncate(time.Millisecond))
			}
		}},
		{"NilContext", func(t *testing.T, e *docEnv) {
			for _, c := range docCalls(e.Store, false) {
				err := noPanic(t, c.name, func() error { return c.fn(nil) })
				wantOnly(t, c.name+" with a nil context", err, ports.ErrInvalid)
			}
		}},
		{"ClosedBeforeArguments", func(t *testing.T, e *docEnv) {
			if e.Connector == nil {
				t.Skip("DocSetup.Connector is nil")
			}
			closeConn(t, e.Connector)
			ctx := caseCtx(t)
			for _, c := range slices.Concat(docCalls(e.Store, true), docCalls(e.Store, false)) {
				wantOnly(t, c.name+" after Close", noPanic(t, c.name, func() error { return c.fn(ctx) }), ports.ErrClosed)
			}
		}},
	}...)
}
