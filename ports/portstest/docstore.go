package portstest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// TestDocStore runs the DocStore conformance suite: every case of
// [DocStoreCases] as a parallel subtest of a subtest named "DocStore", each
// on a fresh, empty store of [Doc]s from newStore (which must not call
// t.Parallel itself).
//
// It checks:
//   - Insert assigns a 24-hex ObjectID-form ID (distinct, set on the
//     argument), keeps a given one, sets CreatedAt (unless given) and
//     UpdatedAt in UTC at millisecond precision, and round-trips every
//     field (nested struct, slice, nil and non-nil time pointer); a
//     duplicate ID is ErrConflict; a nil document is ErrInvalid;
//   - InsertMany assigns every ID, is a no-op on an empty slice and is
//     ErrConflict on a duplicate inside the batch or against a stored one;
//   - Get, Update and Delete of an absent or malformed ID are ErrNotFound,
//     and Update of an absent ID inserts nothing; Update keeps CreatedAt
//     (even when the argument's is zero or different), moves UpdatedAt, and
//     writes zero values and nil pointers; Delete removes;
//   - the store keeps its own copy: changing a document (or its slice)
//     after Insert, or a result of Get or Find, changes nothing stored;
//   - Find and Count with every operator (Eq, Ne, Lt, Lte, Gt, Gte, In,
//     empty In, nil with a pointer field), on numbers, strings, bools and
//     times, on dotted paths into the nested struct ("Author.Name"), on the
//     Document fields (ID, CreatedAt), conjunctions, OrderBy ascending,
//     descending, on several keys and on a nested key, Limit, Offset, and
//     ID order by default; Count ignores order, limit and offset;
//   - an unknown field (including a bson key such as "title" or "_id", a
//     struct or slice field, an operator-looking name), an unknown operator,
//     a wrong-typed value (including a filter-looking map), nil on a
//     non-pointer field, a non-slice In, an ordering operator on a bool, an
//     unknown sort field, a negative limit or offset: ErrInvalid from Find
//     and Count;
//   - with Transactions: commit, rollback on error (the error is returned),
//     rollback on panic (re-panicked);
//   - 16 goroutines inserting at once: every ID distinct, every document
//     readable;
//   - a cancelled context makes every method return promptly with the
//     context's error or ErrUnavailable;
//   - after Connector.Close every method returns ErrClosed.
//
// Capability flags: DocSetup.Caps.Transactions (Tx is set; the transaction
// cases run); DocSetup.Advance (the store's clock; nil means real time). A
// nil Connector skips the Close case.
func TestDocStore(t *testing.T, newStore func(t *testing.T) DocSetup) {
	t.Helper()
	runCases(t, "DocStore", docCases(), func(t *testing.T) *docEnv {
		s := newStore(t)
		checkSetup(t, "DocSetup", s.Store == nil, s.Caps.Transactions, s.Tx == nil)
		return &docEnv{DocSetup: s}
	})
}

// DocStoreCases returns the names of the cases TestDocStore runs, in order.
func DocStoreCases() []string { return names(docCases()) }

// docEnv is one case's store.
type docEnv struct {
	DocSetup
}

func (e *docEnv) skips() Skips { return e.Skip }

// objectIDForm matches the hex form of a BSON ObjectID.
var objectIDForm = regexp.MustCompile(`^[0-9a-f]{24}$`)

// newObjectIDHex returns a random, well-formed ObjectID hex string that no
// store has assigned.
func newObjectIDHex() string { return randomHex(12) }

// tick lets time pass so that the store's next timestamp is later.
func (e *docEnv) tick() {
	if e.Advance != nil {
		e.Advance(time.Second)
		return
	}
	time.Sleep(20 * time.Millisecond)
}

// newDoc returns a Doc with every field set and no ID.
func newDoc(title string) Doc {
	due := sqlT0.Add(time.Minute)
	return Doc{Title: title, Rank: 4, Score: 0.75, Published: true, Tags: []string{"t1", "t2"},
		Author: Author{Name: "zed", Country: "nz"}, Due: &due}
}

// seedDocs are the documents the query cases run on, inserted in this
// order.
//
//	Title    Rank Score Published Tags   Author.Name Author.Country Due
//	alpha       3  1.5  true      [x y]  ann         fr             t0
//	bravo       1  0.25 false     nil    bob         us             nil
//	charlie     2 10    true      [z]    cid         fr             t0+2h
//	delta       3  2.5  false     []     ann         de             nil
//	echo        5  0.5  true      [x]    eve         us             t0+4h
func seedDocs() []Doc {
	t0, t2, t4 := sqlT0, sqlT0.Add(2*time.Hour), sqlT0.Add(4*time.Hour)
	return []Doc{
		{Title: "alpha", Rank: 3, Score: 1.5, Published: true, Tags: []string{"x", "y"}, Author: Author{"ann", "fr"}, Due: &t0},
		{Title: "bravo", Rank: 1, Score: 0.25, Published: false, Author: Author{"bob", "us"}},
		{Title: "charlie", Rank: 2, Score: 10, Published: true, Tags: []string{"z"}, Author: Author{"cid", "fr"}, Due: &t2},
		{Title: "delta", Rank: 3, Score: 2.5, Published: false, Tags: []string{}, Author: Author{"ann", "de"}},
		{Title: "echo", Rank: 5, Score: 0.5, Published: true, Tags: []string{"x"}, Author: Author{"eve", "us"}, Due: &t4},
	}
}

// seed inserts the seed documents one by one and returns them as stored.
func (e *docEnv) seed(t *testing.T, ctx context.Context) map[string]Doc {
	t.Helper()
	out := make(map[string]Doc)
	for _, d := range seedDocs() {
		d = e.insert(t, ctx, d)
		out[d.Title] = d
	}
	return out
}

// insert inserts d and returns it with its ID and times, or fails t.
func (e *docEnv) insert(t *testing.T, ctx context.Context, d Doc) Doc {
	t.Helper()
	wantNoErr(t, "Insert of "+d.Title, e.Store.Insert(ctx, &d))
	if !objectIDForm.MatchString(d.ID) {
		t.Fatalf("Insert of %s set ID %q, want 24 lowercase hex digits (ObjectID form)", d.Title, d.ID)
	}
	return d
}

// get returns Get(id) or fails t.
func (e *docEnv) get(t *testing.T, ctx context.Context, what, id string) Doc {
	t.Helper()
	got, err := e.Store.Get(ctx, id)
	if err != nil {
		t.Fatalf("%s: Get(%q): got err %v (%s), want the document", what, id, err, sentinelName(err))
	}
	if got == nil {
		t.Fatalf("%s: Get(%q) returned a nil document and no error", what, id)
	}
	return *got
}

// wantDoc checks that Get(want.ID) returns want.
func (e *docEnv) wantDoc(t *testing.T, ctx context.Context, what string, want Doc) {
	t.Helper()
	got, err := e.Store.Get(ctx, want.ID)
	wantRecord(t, what, fmt.Sprintf("Get(%q)", want.ID), "document", got, err, want, docDiff)
}

// wantNoDoc checks that Get(id) is ErrNotFound.
func (e *docEnv) wantNoDoc(t *testing.T, ctx context.Context, what, id string) {
	t.Helper()
	got, err := e.Store.Get(ctx, id)
	wantAbsent(t, what, fmt.Sprintf("Get(%q)", id), got, err)
}

// count returns Count(q) or fails t.
func (e *docEnv) count(t *testing.T, ctx context.Context, what string, q ports.Query) int64 {
	t.Helper()
	return countOf(t, ctx, e.Store, what, q)
}

// docDiff describes how got differs from want ("" when equal). Times
// compare at millisecond precision; a nil and an empty Tags are equal.
func docDiff(got, want Doc) string {
	var d []string
	if got.ID != want.ID {
		d = append(d, fmt.Sprintf("ID %q, want %q", got.ID, want.ID))
	}
	if !ms(got.CreatedAt).Equal(ms(want.CreatedAt)) {
		d = append(d, fmt.Sprintf("CreatedAt %v, want %v", got.CreatedAt, want.CreatedAt))
	}
	if !ms(got.UpdatedAt).Equal(ms(want.UpdatedAt)) {
		d = append(d, fmt.Sprintf("UpdatedAt %v, want %v", got.UpdatedAt, want.UpdatedAt))
	}
	if got.Title != want.Title {
		d = append(d, fmt.Sprintf("Title %q, want %q", got.Title, want.Title))
	}
	if got.Rank != want.Rank {
		d = append(d, fmt.Sprintf("Rank %d, want %d", got.Rank, want.Rank))
	}
	if got.Score != want.Score && !(math.IsNaN(got.Score) && math.IsNaN(want.Score)) {
		d = append(d, fmt.Sprintf("Score %v, want %v", got.Score, want.Score))
	}
	if got.Published != want.Published {
		d = append(d, fmt.Sprintf("Published %v, want %v", got.Published, want.Published))
	}
	if !slices.Equal(got.Tags, want.Tags) {
		d = append(d, fmt.Sprintf("Tags %q, want %q", got.Tags, want.Tags))
	}
	if got.Author != want.Author {
		d = append(d, fmt.Sprintf("Author %+v, want %+v", got.Author, want.Author))
	}
	if (got.Due == nil) != (want.Due == nil) || (got.Due != nil && !ms(*got.Due).Equal(ms(*want.Due))) {
		d = append(d, fmt.Sprintf("Due %s, want %s", fmtTime(got.Due), fmtTime(want.Due)))
	}
	return strings.Join(d, "; ")
}

func fmtTime(p *time.Time) string {
	if p == nil {
		return "nil"
	}
	return p.String()
}

// titlesOf returns the titles of docs, in order.
func titlesOf(docs []Doc) []string {
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.Title
	}
	return out
}

// idsSorted reports whether docs are in ascending ID order.
func idsSorted(docs []Doc) bool {
	return slices.IsSortedFunc(docs, func(a, b Doc) int { return strings.Compare(a.ID, b.ID) })
}

// docKit builds the query, invalid-query, FindEmpty and CountIgnoresLimit
// cases on the seed documents. Its query cases find the given titles, in
// that order when the query has sort keys, else in ID order.
var docKit = queryKit[Doc, *docEnv]{
	noun:    "documents",
	store:   func(e *docEnv) finder[Doc] { return e.Store },
	seed:    func(t *testing.T, ctx context.Context, e *docEnv) { e.seed(t, ctx) },
	seedOne: func(t *testing.T, ctx context.Context, e *docEnv) { e.insert(t, ctx, newDoc("x")) },
	check:   checkTitles,
}

// docQuery is a query case on the seed documents: see [docKit].
func docQuery(name string, q ports.Query, want ...string) testCase[*docEnv] {
	return docKit.query(name, q, want...)
}

// checkTitles checks that Find(q) returned the documents titled want: in
// want's order when q is ordered, else in ID order.
func checkTitles(t *testing.T, q ports.Query, got []Doc, want []string) {
	t.Helper()
	if len(q.Orders()) > 0 {
		if !slices.Equal(titlesOf(got), want) {
			t.Errorf("Find(%s) returned %v, want %v in that order", q, titlesOf(got), want)
		}
		return
	}
	if !sameStrings(titlesOf(got), want) {
		t.Errorf("Find(%s) returned %v, want %v", q, titlesOf(got), want)
	}
	if !idsSorted(got) {
		t.Errorf("Find(%s) with no sort key returned documents out of ID order", q)
	}
}

// docInvalid is a case where Find and Count of q must be ErrInvalid.
func docInvalid(name string, q ports.Query) testCase[*docEnv] { return docKit.invalid(name, q) }

// needTx skips the case unless the store claims transactions.
func (e *docEnv) needTx(t *testing.T) {
	t.Helper()
	needTx(t, e.Caps.Transactions, "DocCaps")
}

// malformedIDs are IDs no backend can hold.
var malformedIDs = []string{"", "nope", "zzzzzzzzzzzzzzzzzzzzzzzz", "0123456789abcdef0123456789", `{"$ne":null}`}

func docCases() []testCase[*docEnv] {
	return append(docBaseCases(), docNewCases()...)
}

func docBaseCases() []testCase[*docEnv] {
	return []testCase[*docEnv]{
		{"InsertAssignsID", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			a := e.insert(t, ctx, newDoc("a"))
			b := e.insert(t, ctx, newDoc("b"))
			if a.ID == b.ID {
				t.Errorf("two Inserts assigned the same ID %q", a.ID)
			}
			e.wantDoc(t, ctx, "Get by the ID Insert assigned", a)
			e.wantDoc(t, ctx, "Get by the ID Insert assigned", b)
		}},
		{"InsertSetsTimes", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			before := time.Now().Add(-time.Minute)
			a := e.insert(t, ctx, newDoc("a"))
			after := time.Now().Add(time.Minute)
			if a.CreatedAt.IsZero() || a.UpdatedAt.IsZero() {
				t.Fatalf("Insert left CreatedAt %v, UpdatedAt %v on the document, want both set", a.CreatedAt, a.UpdatedAt)
			}
			if !a.CreatedAt.Equal(ms(a.CreatedAt)) || !a.UpdatedAt.Equal(ms(a.UpdatedAt)) {
				t.Errorf("Insert set CreatedAt %v, UpdatedAt %v, want UTC times truncated to milliseconds", a.CreatedAt, a.UpdatedAt)
			}
			if a.CreatedAt.Location() != time.UTC {
				t.Errorf("Insert set CreatedAt in %v, want UTC", a.CreatedAt.Location())
			}
			if e.Advance == nil && (a.CreatedAt.Before(before) || a.CreatedAt.After(after)) {
				t.Errorf("Insert set CreatedAt %v, want about now (%v)", a.CreatedAt, time.Now())
			}
			e.wantDoc(t, ctx, "Get after Insert (times as set on the document)", a)
			given := newDoc("given")
			given.CreatedAt = sqlT0
			given = e.insert(t, ctx, given)
			if !given.CreatedAt.Equal(sqlT0) || given.UpdatedAt.IsZero() {
				t.Errorf("Insert of a document with CreatedAt %v set CreatedAt %v, UpdatedAt %v: want CreatedAt kept and UpdatedAt set", sqlT0, given.CreatedAt, given.UpdatedAt)
			}
			e.wantDoc(t, ctx, "Get after Insert of a document with CreatedAt set", given)
		}},
		{"InsertKeepsGivenID", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			d := newDoc("a")
			id := newObjectIDHex()
			d.ID = id
			d = e.insert(t, ctx, d)
			if d.ID != id {
				t.Errorf("Insert of a document with ID %q changed it to %q", id, d.ID)
			}
			e.wantDoc(t, ctx, "Get by the ID given to Insert", d)
		}},
		{"InsertDuplicateID", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			a := e.insert(t, ctx, newDoc("a"))
			dup := newDoc("dup")
			dup.ID = a.ID
			wantErr(t, "Insert with the ID of a stored document", e.Store.Insert(ctx, &dup), ports.ErrConflict)
			e.wantDoc(t, ctx, "Get after a conflicting Insert", a)
		}},
		{"InsertNil", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			wantErr(t, "Insert(nil)", e.Store.Insert(ctx, nil), ports.ErrInvalid)
			wantErr(t, "Update(nil)", e.Store.Update(ctx, nil), ports.ErrInvalid)
			wantErr(t, "InsertMany with a nil element", e.Store.InsertMany(ctx, []*Doc{ptr(newDoc("ok")), nil}), ports.ErrInvalid)
		}},
		{"RoundTrip", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			for _, d := range seedDocs() {
				d = e.insert(t, ctx, d)
				e.wantDoc(t, ctx, "Get after Insert", d)
			}
			e.wantDoc(t, ctx, "Get after Insert of a document with zero values", e.insert(t, ctx, Doc{}))
		}},
		{"GetNotFound", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			e.wantNoDoc(t, ctx, "Get from an empty collection", newObjectIDHex())
			e.insert(t, ctx, newDoc("a"))
			e.wantNoDoc(t, ctx, "Get of an ID never inserted", newObjectIDHex())
		}},
		{"GetMalformedID", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			e.insert(t, ctx, newDoc("a"))
			for _, id := range malformedIDs {
				e.wantNoDoc(t, ctx, "Get of a malformed ID", id)
			}
		}},
		{"InsertMany", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			docs := []*Doc{ptr(newDoc("a")), ptr(newDoc("b")), ptr(newDoc("c"))}
			docs[1].Due = nil
			wantNoErr(t, "InsertMany of 3 documents", e.Store.InsertMany(ctx, docs))
			seen := map[string]bool{}
			for _, d := range docs {
				if !objectIDForm.MatchString(d.ID) || seen[d.ID] {
					t.Fatalf("InsertMany set IDs %q, %q, %q: want distinct ObjectID-form IDs", docs[0].ID, docs[1].ID, docs[2].ID)
				}
				seen[d.ID] = true
				if d.CreatedAt.IsZero() || d.UpdatedAt.IsZero() {
					t.Errorf("InsertMany left CreatedAt or UpdatedAt zero on %s", d.Title)
				}
				e.wantDoc(t, ctx, "Get after InsertMany", *d)
			}
		}},
		{"InsertManyEmpty", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			wantNoErr(t, "InsertMany(nil)", e.Store.InsertMany(ctx, nil))
			wantNoErr(t, "InsertMany of an empty slice", e.Store.InsertMany(ctx, []*Doc{}))
			if n := e.count(t, ctx, "Count", ports.All()); n != 0 {
				t.Errorf("Count after InsertMany of no document = %d, want 0", n)
			}
		}},
		{"InsertManyConflict", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			a := e.insert(t, ctx, newDoc("a"))
			dup := newDoc("dup")
			dup.ID = a.ID
			wantErr(t, "InsertMany with the ID of a stored document", e.Store.InsertMany(ctx, []*Doc{ptr(newDoc("b")), &dup}), ports.ErrConflict)
			e.wantDoc(t, ctx, "Get of the stored document after a conflicting InsertMany", a)
			id := newObjectIDHex()
			x, y := newDoc("x"), newDoc("y")
			x.ID, y.ID = id, id
			wantErr(t, "InsertMany with one ID twice in the batch", e.Store.InsertMany(ctx, []*Doc{&x, &y}), ports.ErrConflict)
		}},
		{"Update", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			a := e.insert(t, ctx, newDoc("a"))
			b := e.insert(t, ctx, newDoc("b"))
			e.tick()
			changed := a
			changed.Title, changed.Rank, changed.Score, changed.Tags = "renamed", 9, 99.5, []string{"new"}
			changed.Author.Country = "jp"
			wantNoErr(t, "Update", e.Store.Update(ctx, &changed))
			got := e.get(t, ctx, "Get after Update", a.ID)
			if !got.CreatedAt.Equal(a.CreatedAt) {
				t.Errorf("Update changed CreatedAt from %v to %v, want it kept", a.CreatedAt, got.CreatedAt)
			}
			if !got.UpdatedAt.After(a.UpdatedAt) {
				t.Errorf("Update left UpdatedAt at %v (was %v after Insert), want a later time", got.UpdatedAt, a.UpdatedAt)
			}
			changed.CreatedAt, changed.UpdatedAt = got.CreatedAt, got.UpdatedAt
			if d := docDiff(got, changed); d != "" {
				t.Errorf("Get after Update differs from the update: %s", d)
			}
			e.wantDoc(t, ctx, "Get of another document after Update", b)
		}},
		{"UpdateKeepsCreatedAt", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			a := e.insert(t, ctx, newDoc("a"))
			for _, created := range []time.Time{{}, sqlT0} {
				e.tick()
				changed := a
				changed.CreatedAt = created
				changed.Title = "changed"
				wantNoErr(t, "Update", e.Store.Update(ctx, &changed))
				got := e.get(t, ctx, "Get after Update", a.ID)
				if !got.CreatedAt.Equal(a.CreatedAt) {
					t.Errorf("Update of a document whose CreatedAt was changed to %v stored CreatedAt %v, want the original %v kept", created, got.CreatedAt, a.CreatedAt)
				}
				if got.Title != "changed" {
					t.Errorf("Update stored Title %q, want %q", got.Title, "changed")
				}
			}
		}},
		{"UpdateZeroValues", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			a := e.insert(t, ctx, newDoc("a"))
			a.Title, a.Rank, a.Score, a.Published, a.Tags, a.Author, a.Due = "", 0, 0, false, nil, Author{}, nil
			wantNoErr(t, "Update to zero values", e.Store.Update(ctx, &a))
			got := e.get(t, ctx, "Get after Update", a.ID)
			a.UpdatedAt = got.UpdatedAt
			if d := docDiff(got, a); d != "" {
				t.Errorf("Get after an Update to zero values and nil pointers differs (Update must replace every field): %s", d)
			}
		}},
		{"UpdateNotFound", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			e.insert(t, ctx, newDoc("a"))
			ghost := newDoc("ghost")
			ghost.ID = newObjectIDHex()
			wantErr(t, "Update of an absent ID", e.Store.Update(ctx, &ghost), ports.ErrNotFound)
			e.wantNoDoc(t, ctx, "Get after Update of an absent ID (Update must not insert)", ghost.ID)
			for _, id := range malformedIDs {
				bad := newDoc("bad")
				bad.ID = id
				err := e.Store.Update(ctx, &bad)
				if !errors.Is(err, ports.ErrNotFound) && !(id == "" && errors.Is(err, ports.ErrInvalid)) {
					t.Errorf("Update of the malformed ID %q: got err %v (%s), want ErrNotFound", id, err, sentinelName(err))
				}
			}
			if n := e.count(t, ctx, "Count", ports.All()); n != 1 {
				t.Errorf("Count after Updates of absent IDs = %d, want 1 (Update must not insert)", n)
			}
		}},
		{"Delete", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			a := e.insert(t, ctx, newDoc("a"))
			b := e.insert(t, ctx, newDoc("b"))
			wantNoErr(t, "Delete", e.Store.Delete(ctx, a.ID))
			e.wantNoDoc(t, ctx, "Get after Delete", a.ID)
			e.wantDoc(t, ctx, "Get of another document after Delete", b)
			wantErr(t, "second Delete of the same ID", e.Store.Delete(ctx, a.ID), ports.ErrNotFound)
		}},
		{"DeleteNotFound", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			e.insert(t, ctx, newDoc("a"))
			wantErr(t, "Delete of an ID never inserted", e.Store.Delete(ctx, newObjectIDHex()), ports.ErrNotFound)
			for _, id := range malformedIDs {
				err := e.Store.Delete(ctx, id)
				if !errors.Is(err, ports.ErrNotFound) && !(id == "" && errors.Is(err, ports.ErrInvalid)) {
					t.Errorf("Delete of the malformed ID %q: got err %v (%s), want ErrNotFound", id, err, sentinelName(err))
				}
			}
			if n := e.count(t, ctx, "Count", ports.All()); n != 1 {
				t.Errorf("Count after Deletes of absent IDs = %d, want 1", n)
			}
		}},
		{"StoresCopies", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			d := newDoc("a")
			wantNoErr(t, "Insert", e.Store.Insert(ctx, &d))
			want := d
			want.Tags = slices.Clone(d.Tags)
			d.Tags[0] = "MUTATED"
			d.Title = "MUTATED"
			*d.Due = time.Time{}
			wantDue := sqlT0.Add(time.Minute)
			want.Due = &wantDue
			e.wantDoc(t, ctx, "Get after the caller modified the document it inserted", want)
			got := e.get(t, ctx, "Get", d.ID)
			got.Tags[0] = "MUTATED"
			*got.Due = time.Time{}
			found, err := e.Store.Find(ctx, ports.All())
			wantNoErr(t, "Find", err)
			if len(found) == 1 {
				found[0].Tags[0] = "MUTATED"
			}
			e.wantDoc(t, ctx, "Get after the caller modified documents Get and Find returned", want)
		}},
		docKit.findEmpty("an empty collection", ports.Where("Title", ports.Eq, "nothing")),
		docQuery("FindAllIDOrder", ports.All(), "alpha", "bravo", "charlie", "delta", "echo"),
		docQuery("QueryEq", ports.Where("Rank", ports.Eq, 3), "alpha", "delta"),
		docQuery("QueryEqString", ports.Where("Title", ports.Eq, "charlie"), "charlie"),
		docQuery("QueryEqFloat", ports.Where("Score", ports.Eq, 0.25), "bravo"),
		docQuery("QueryNe", ports.Where("Rank", ports.Ne, 3), "bravo", "charlie", "echo"),
		docQuery("QueryLt", ports.Where("Rank", ports.Lt, 3), "bravo", "charlie"),
		docQuery("QueryLte", ports.Where("Rank", ports.Lte, 2), "bravo", "charlie"),
		docQuery("QueryGt", ports.Where("Score", ports.Gt, 1.5), "charlie", "delta"),
		docQuery("QueryGte", ports.Where("Score", ports.Gte, 1.5), "alpha", "charlie", "delta"),
		docQuery("QueryGtString", ports.Where("Title", ports.Gt, "charlie"), "delta", "echo"),
		docQuery("QueryIn", ports.Where("Rank", ports.In, []int{1, 5, 7}), "bravo", "echo"),
		docQuery("QueryInString", ports.Where("Title", ports.In, []string{"delta", "alpha", "zulu"}), "alpha", "delta"),
		docQuery("QueryInEmpty", ports.Where("Title", ports.In, []string{})),
		docQuery("QueryBool", ports.Where("Published", ports.Eq, true), "alpha", "charlie", "echo"),
		docQuery("QueryBoolNe", ports.Where("Published", ports.Ne, true), "bravo", "delta"),
		docQuery("QueryNested", ports.Where("Author.Name", ports.Eq, "ann"), "alpha", "delta"),
		docQuery("QueryNestedIn", ports.Where("Author.Country", ports.In, []string{"fr", "de"}), "alpha", "charlie", "delta"),
		docQuery("QueryNestedNe", ports.Where("Author.Country", ports.Ne, "us"), "alpha", "charlie", "delta"),
		docQuery("QueryNilEq", ports.Where("Due", ports.Eq, nil), "bravo", "delta"),
		docQuery("QueryNilNe", ports.Where("Due", ports.Ne, nil), "alpha", "charlie", "echo"),
		docQuery("QueryTime", ports.Where("Due", ports.Lt, sqlT0.Add(3*time.Hour)), "alpha", "charlie"),
		docQuery("QueryTimeRange", ports.Where("Due", ports.Gte, sqlT0.Add(2*time.Hour)).And("Due", ports.Lte, sqlT0.Add(4*time.Hour)), "charlie", "echo"),
		docQuery("QueryEqTime", ports.Where("Due", ports.Eq, sqlT0.Add(2*time.Hour)), "charlie"),
		docQuery("QueryAnd", ports.Where("Published", ports.Eq, true).And("Rank", ports.Gte, 3).And("Author.Country", ports.Eq, "fr"), "alpha"),
		{"QueryDocumentFields", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			docs := e.seed(t, ctx)
			for _, c := range []struct {
				q    ports.Query
				want []string
			}{
				{ports.Where("ID", ports.Eq, docs["bravo"].ID), []string{"bravo"}},
				{ports.Where("ID", ports.In, []string{docs["alpha"].ID, docs["echo"].ID, newObjectIDHex()}), []string{"alpha", "echo"}},
				{ports.Where("ID", ports.Ne, docs["alpha"].ID), []string{"bravo", "charlie", "delta", "echo"}},
				{ports.Where("CreatedAt", ports.Gte, docs["alpha"].CreatedAt), []string{"alpha", "bravo", "charlie", "delta", "echo"}},
				{ports.Where("CreatedAt", ports.Lt, docs["alpha"].CreatedAt), nil},
				{ports.Where("UpdatedAt", ports.Lte, docs["echo"].UpdatedAt).And("Title", ports.Eq, "echo"), []string{"echo"}},
			} {
				got, err := e.Store.Find(ctx, c.q)
				wantNoErr(t, "Find("+c.q.String()+")", err)
				checkTitles(t, c.q, got, c.want)
			}
		}},
		docQuery("OrderAsc", ports.All().OrderBy("Score"), "bravo", "echo", "alpha", "delta", "charlie"),
		docQuery("OrderDesc", ports.All().OrderBy("-Score"), "charlie", "delta", "alpha", "echo", "bravo"),
		docQuery("OrderMultiKey", ports.All().OrderBy("-Rank", "Title"), "echo", "alpha", "delta", "charlie", "bravo"),
		docQuery("OrderNested", ports.All().OrderBy("Author.Name", "-Title"), "delta", "alpha", "bravo", "charlie", "echo"),
		docQuery("OrderString", ports.Where("Published", ports.Eq, true).OrderBy("-Title"), "echo", "charlie", "alpha"),
		docQuery("Limit", ports.All().OrderBy("Score").Limit(2), "bravo", "echo"),
		docQuery("LimitOffset", ports.All().OrderBy("Score").Limit(2).Offset(1), "echo", "alpha"),
		docQuery("OffsetOnly", ports.All().OrderBy("Score").Offset(3), "delta", "charlie"),
		docQuery("OffsetPastEnd", ports.All().OrderBy("Score").Offset(10)),
		docQuery("LimitWithConditions", ports.Where("Published", ports.Eq, true).OrderBy("-Rank").Limit(2), "echo", "alpha"),
		docKit.countIgnoresLimit(ports.Where("Rank", ports.Gte, 2).OrderBy("-Title").Limit(1).Offset(1), 4),
		docInvalid("InvalidUnknownField", ports.Where("Nope", ports.Eq, 1)),
		docInvalid("InvalidBSONKey", ports.Where("title", ports.Eq, "x")),
		docInvalid("InvalidMongoIDKey", ports.Where("_id", ports.Eq, "x")),
		docInvalid("InvalidOperatorField", ports.Where("$where", ports.Eq, "1")),
		docInvalid("InvalidStructField", ports.Where("Author", ports.Eq, "ann")),
		docInvalid("InvalidSliceField", ports.Where("Tags", ports.Eq, "x")),
		docInvalid("InvalidNestedField", ports.Where("Author.Nope", ports.Eq, "x")),
		docInvalid("InvalidOperator", ports.Where("Rank", ports.Op("$regex"), 1)),
		docInvalid("InvalidWrongType", ports.Where("Rank", ports.Eq, "3")),
		docInvalid("InvalidFilterValue", ports.Where("Title", ports.Eq, map[string]any{"$ne": ""})),
		docInvalid("InvalidNilNonPointer", ports.Where("Title", ports.Eq, nil)),
		docInvalid("InvalidInNotSlice", ports.Where("Rank", ports.In, 3)),
		docInvalid("InvalidBoolOrdering", ports.Where("Published", ports.Lt, true)),
		docInvalid("InvalidSortField", ports.All().OrderBy("Tags")),
		docInvalid("InvalidNegativeLimit", ports.All().Limit(-5)),
		docInvalid("InvalidNegativeOffset", ports.All().Offset(-5)),
		{"ConcurrentInsert", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			const per = 5
			ids := make([][]string, 16)
			errs := parallel16(func(g int) error {
				for j := range per {
					d := newDoc(fmt.Sprintf("g%02d-%d", g, j))
					d.Rank = g
					if err := e.Store.Insert(ctx, &d); err != nil {
						return err
					}
					ids[g] = append(ids[g], d.ID)
				}
				return nil
			})
			wantNoErr(t, "16 goroutines calling Insert", firstErr(errs))
			seen := map[string]bool{}
			for g, gids := range ids {
				for j, id := range gids {
					if !objectIDForm.MatchString(id) || seen[id] {
						t.Fatalf("concurrent Insert gave goroutine %d document %d the ID %q, malformed or already given", g, j, id)
					}
					seen[id] = true
					got, err := e.Store.Get(ctx, id)
					if err != nil || got == nil || got.Title != fmt.Sprintf("g%02d-%d", g, j) {
						t.Errorf("Get(%q) after concurrent Insert = %+v, %v, want the document goroutine %d inserted", id, got, err, g)
					}
				}
			}
			if n := e.count(t, ctx, "Count", ports.All()); n != 16*per {
				t.Errorf("Count after 16 goroutines each inserted %d documents = %d, want %d", per, n, 16*per)
			}
			if n := e.count(t, ctx, "Count", ports.Where("Rank", ports.Eq, 3)); n != per {
				t.Errorf("Count of one goroutine's documents = %d, want %d", n, per)
			}
		}},
		{"TxCommit", func(t *testing.T, e *docEnv) {
			e.needTx(t)
			ctx := caseCtx(t)
			var a Doc
			err := e.Tx.WithinTx(ctx, func(ctx context.Context) error {
				a = e.insert(t, ctx, newDoc("a"))
				e.wantDoc(t, ctx, "Get inside the transaction of a document it inserted", a)
				return nil
			})
			wantNoErr(t, "WithinTx with fn returning nil", err)
			e.wantDoc(t, ctx, "Get after the transaction committed", a)
		}},
		{"TxRollbackOnError", func(t *testing.T, e *docEnv) {
			e.needTx(t)
			ctx := caseCtx(t)
			keep := e.insert(t, ctx, newDoc("keep"))
			var a Doc
			err := e.Tx.WithinTx(ctx, func(ctx context.Context) error {
				a = e.insert(t, ctx, newDoc("a"))
				wantNoErr(t, "Delete inside the transaction", e.Store.Delete(ctx, keep.ID))
				return fmt.Errorf("wrapped: %w", errRollback)
			})
			if !errors.Is(err, errRollback) {
				t.Errorf("WithinTx with fn returning an error: got %v, want that error", err)
			}
			e.wantNoDoc(t, ctx, "Get after rollback of the transaction that inserted it", a.ID)
			e.wantDoc(t, ctx, "Get after rollback of a transaction that deleted it", keep)
		}},
		{"TxRollbackOnPanic", func(t *testing.T, e *docEnv) {
			e.needTx(t)
			ctx := caseCtx(t)
			recovered := func() (r any) {
				defer func() { r = recover() }()
				_ = e.Tx.WithinTx(ctx, func(ctx context.Context) error {
					e.insert(t, ctx, newDoc("a"))
					panic("portstest boom")
				})
				return nil
			}()
			if recovered != "portstest boom" {
				t.Errorf("WithinTx with fn panicking: recovered %v, want the same value re-panicked", recovered)
			}
			if n := e.count(t, ctx, "Count", ports.All()); n != 0 {
				t.Errorf("Count after a transaction whose fn panicked = %d, want 0", n)
			}
		}},
		{"CancelledContext", func(t *testing.T, e *docEnv) {
			ctx := caseCtx(t)
			a := e.insert(t, ctx, newDoc("a"))
			wantCancelled(t, "Insert", func(ctx context.Context) error { d := newDoc("b"); return e.Store.Insert(ctx, &d) })
			wantCancelled(t, "InsertMany", func(ctx context.Context) error { return e.Store.InsertMany(ctx, []*Doc{ptr(newDoc("c"))}) })
			wantCancelled(t, "Get", func(ctx context.Context) error { _, err := e.Store.Get(ctx, a.ID); return err })
			wantCancelled(t, "Find", func(ctx context.Context) error { _, err := e.Store.Find(ctx, ports.All()); return err })
			wantCancelled(t, "Count", func(ctx context.Context) error { _, err := e.Store.Count(ctx, ports.All()); return err })
			wantCancelled(t, "Update", func(ctx context.Context) error { b := a; b.Title = "x"; return e.Store.Update(ctx, &b) })
			wantCancelled(t, "Delete", func(ctx context.Context) error { return e.Store.Delete(ctx, a.ID) })
			e.wantDoc(t, ctx, "Get after calls with a cancelled context", a)
			if n := e.count(t, ctx, "Count", ports.All()); n != 1 {
				t.Errorf("Count after Insert and InsertMany with a cancelled context = %d, want 1", n)
			}
		}},
		{"AfterClose", func(t *testing.T, e *docEnv) {
			if e.Connector == nil {
				t.Skip("DocSetup.Connector is nil")
			}
			ctx := caseCtx(t)
			a := e.insert(t, ctx, newDoc("a"))
			closeConn(t, e.Connector)
			b := newDoc("b")
			wantErr(t, "Insert after Close", e.Store.Insert(ctx, &b), ports.ErrClosed)
			wantErr(t, "InsertMany after Close", e.Store.InsertMany(ctx, []*Doc{&b}), ports.ErrClosed)
			_, err := e.Store.Get(ctx, a.ID)
			wantErr(t, "Get after Close", err, ports.ErrClosed)
			_, err = e.Store.Find(ctx, ports.All())
			wantErr(t, "Find after Close", err, ports.ErrClosed)
			_, err = e.Store.Count(ctx, ports.All())
			wantErr(t, "Count after Close", err, ports.ErrClosed)
			wantErr(t, "Update after Close", e.Store.Update(ctx, &a), ports.ErrClosed)
			wantErr(t, "Delete after Close", e.Store.Delete(ctx, a.ID), ports.ErrClosed)
			if e.Tx != nil {
				err := e.Tx.WithinTx(ctx, func(context.Context) error { return nil })
				wantErr(t, "WithinTx after Close", err, ports.ErrClosed)
			}
			wantErr(t, "Check after Close", e.Connector.Check(ctx), ports.ErrClosed)
			wantErr(t, "second Close", e.Connector.Close(ctx), ports.ErrClosed)
		}},
	}
}
