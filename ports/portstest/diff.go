package portstest

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The differential checker.
//
// DiffSQLStore, DiffDocStore, DiffCache and DiffPubSub run the same
// operations on two implementations of a port — a reference ("fake", in
// portkit's use the in-memory fake) and a subject ("real", the adapter on
// its server) — and compare everything they return: every result, every
// error's sentinel, the entities a call was given as the call left them,
// and, periodically, the whole stored contents. Operations come from a
// seeded random generator over small value domains (so that ties, NULLs,
// duplicates and conflicts happen), drawn from the model's schema by
// reflection; a user's own model types work, and DiffOptions.Generators
// replaces the values of chosen fields.
//
// A run is a series of sequences. Each sequence starts on empty subjects,
// runs up to DiffOptions.SeqLen operations and stops at the first
// divergence. A divergence is then shrunk: operations are removed and
// simplified while the divergence (of the same kind) persists, and the
// minimal sequence is reported with its seed. The first divergence of each
// kind is reported; later ones of the same kind are counted. A sequence is
// replayed, and shrunk again, with the seed it reports: the flag
// -portstest.seed=N (or DiffOptions.Seed with Sequences 1).
//
// Comparison is exact but for the named normalisations of DiffOptions
// (each documented with its field): generated keys compare by the
// operation that created them, not by value; times the store stamps
// compare within a tolerance.

// Flags of the checker, registered by the package (they are read by every
// Diff function, and override DiffOptions when given).
var (
	flagSeed   = flag.Uint64("portstest.seed", 0, "portstest differential checker: replay the sequence with this seed (one sequence), or, with -portstest.ops, start the run there")
	flagOps    = flag.Int("portstest.ops", 0, "portstest differential checker: random operations per run (overrides DiffOptions.Ops)")
	flagBudget = flag.Duration("portstest.budget", 0, "portstest differential checker: time budget per run (overrides DiffOptions.Budget)")
)

// DiffOptions bounds and tunes a differential run. The zero value is a
// short run: 2 000 operations within 2 minutes, from a seed drawn at
// random (and reported).
type DiffOptions struct {
	// Seed is the seed of the first sequence; sequence i runs with Seed+i.
	// 0 draws one at random. The flag -portstest.seed overrides it (and
	// then runs that sequence only, unless -portstest.ops is given too).
	Seed uint64
	// Ops is how many random operations the run performs in all (default
	// 2 000; CI runs 20 000). The flag -portstest.ops overrides it.
	Ops int
	// Sequences, when positive, bounds the number of sequences.
	Sequences int
	// SeqLen is the most operations of one sequence (default 40).
	SeqLen int
	// Budget bounds the run's time, shrinking included (default 2
	// minutes); the run stops early, reporting what it found, when it is
	// spent. The flag -portstest.budget overrides it.
	Budget time.Duration
	// ShrinkReplays bounds the replays spent shrinking one divergence
	// (default 400).
	ShrinkReplays int
	// MaxKinds stops the run after this many divergence kinds (default
	// 64).
	MaxKinds int

	// Allow lists the known, documented divergences: a divergence whose
	// kind matches one of them is reported with its reason in the log and
	// does not fail the test.
	Allow []Allowance
	// ReportOnly logs every divergence instead of failing the test (an
	// integration run that collects the list).
	ReportOnly bool

	// Generators replace the random values of chosen fields, by the field's
	// dotted Go path ("Address.City"). The value returned must be
	// assignable or convertible to the field's type.
	Generators map[string]func(r *rand.Rand) any
	// EdgeRate is the probability that a generated entity holds an edge
	// value in one of its fields (over-long, invalid UTF-8, NaN, ±Inf,
	// years 0 and 10000, over MaxInt64, a bad map key ...), which both
	// implementations must reject, or store, alike (default 0.05;
	// negative: never).
	EdgeRate float64

	// StampTolerance is the normalisation of stamped times: a time field
	// the store sets itself (CreatedAt and UpdatedAt of gorm models, the
	// created and updated times of a Document, fields tagged
	// autoCreateTime or autoUpdateTime) compares equal on both sides when
	// both are zero or both lie within this tolerance of each other, in
	// the same location and with the same sub-second precision class
	// (default 2 minutes; the generated values of these fields lie years
	// away, so a store that keeps a given value where the other stamps it
	// still diverges).
	StampTolerance time.Duration
	// StampedFields adds time fields (dotted paths) to the stamped ones.
	StampedFields []string
	// NilEqualsEmpty is a normalisation, off by default: a nil slice or
	// map compares equal to an empty one.
	NilEqualsEmpty bool
	// IgnoreFields lists fields (dotted paths) left out of every
	// comparison, for fields a model derives and the checker cannot
	// predict.
	IgnoreFields []string

	// KeyPrefix is the prefix of every key DiffCache uses (default
	// "portstest:diff:"), for a shared server's naming rules.
	KeyPrefix string

	// Logf, when set, receives the report lines instead of t.Logf.
	Logf func(format string, args ...any)
}

// Allowance is a known divergence: Kind is a regular expression matched
// against Divergence.Kind; Why documents it (an issue, a capability flag).
type Allowance struct {
	Kind string
	Why  string
}

// Divergence is one kind of disagreement the checker found, shrunk.
type Divergence struct {
	// Port is "SQLStore", "DocStore", "Cache" or "PubSub".
	Port string
	// Kind identifies the disagreement: the operation, what differs and
	// how ("Find: rows differ [Note Ne value]", "Create: error fake=nil
	// real=ErrInvalid").
	Kind string
	// Seed replays the sequence (-portstest.seed=Seed).
	Seed uint64
	// Ops is the shrunk sequence, one operation a line; the last one
	// diverged.
	Ops []string
	// Detail says what each side returned at the last operation.
	Detail string
	// Count is how many sequences diverged with this kind.
	Count int
	// Allowed is set when an Allowance matched; Why is its reason.
	Allowed bool
	Why     string
	// Unshrunk is the length of the sequence before shrinking.
	Unshrunk int
}

// String renders d as its report.
func (d Divergence) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s divergence %q (seen in %d sequence(s)); replay: -portstest.seed=%d\n", d.Port, d.Kind, d.Count, d.Seed)
	fmt.Fprintf(&b, "  shrunk from %d to %d operation(s):\n", d.Unshrunk, len(d.Ops))
	for i, op := range d.Ops {
		fmt.Fprintf(&b, "    %2d. %s\n", i+1, op)
	}
	fmt.Fprintf(&b, "  %s", strings.ReplaceAll(d.Detail, "\n", "\n  "))
	if d.Allowed {
		fmt.Fprintf(&b, "\n  allowed: %s", d.Why)
	}
	return b.String()
}

// DiffStats is what a run did.
type DiffStats struct {
	Ops, Sequences, Replays int
	// Cascades counts divergences that appeared only past known ones the
	// sequence went on after (divergences in values alone), and did not
	// reproduce without them: consequences, not reported.
	Cascades    int
	Elapsed     time.Duration
	OutOfBudget bool
}

// defaults fills o's zero fields.
func (o DiffOptions) defaults() DiffOptions {
	if o.Ops <= 0 {
		o.Ops = 2000
	}
	if o.SeqLen <= 0 {
		o.SeqLen = 40
	}
	if o.Budget <= 0 {
		o.Budget = 2 * time.Minute
	}
	if o.ShrinkReplays <= 0 {
		o.ShrinkReplays = 400
	}
	if o.MaxKinds <= 0 {
		o.MaxKinds = 64
	}
	if o.EdgeRate == 0 {
		o.EdgeRate = 0.05
	}
	if o.EdgeRate < 0 {
		o.EdgeRate = 0
	}
	if o.StampTolerance <= 0 {
		o.StampTolerance = 2 * time.Minute
	}
	if *flagOps > 0 {
		o.Ops = *flagOps
	}
	if *flagBudget > 0 {
		o.Budget = *flagBudget
	}
	if *flagSeed != 0 {
		o.Seed = *flagSeed
		if *flagOps == 0 {
			o.Sequences = 1
			o.Ops = o.SeqLen
		}
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()>>1 | 1
	}
	return o
}

// reporter is what a run reports to: the *testing.T of a Diff function,
// or the collector of a Check function.
type reporter interface {
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
}

// abortError is what a run panics with when it cannot go on (a subject
// did not open); the entry points recover it.
type abortError struct{ err error }

func abort(format string, args ...any) { panic(abortError{fmt.Errorf(format, args...)}) }

// collector is the reporter of the Check functions: it logs through Logf
// and leaves failing to the caller, who gets the divergences.
type collector struct {
	logf func(format string, args ...any)
}

func (c collector) Logf(format string, args ...any) {
	if c.logf != nil {
		c.logf(format, args...)
	}
}
func (c collector) Errorf(format string, args ...any) { c.Logf(format, args...) }

// diffMain runs fn, turning an abort into an error.
func diffMain(fn func() ([]Divergence, DiffStats)) (out []Divergence, st DiffStats, err error) {
	defer func() {
		if p := recover(); p != nil {
			a, ok := p.(abortError)
			if !ok {
				panic(p)
			}
			err = a.err
		}
	}()
	out, st = fn()
	return out, st, nil
}

// diffTest runs fn for a Diff function: an abort fails t at once.
func diffTest(t *testing.T, fn func() ([]Divergence, DiffStats)) []Divergence {
	t.Helper()
	out, _, err := diffMain(fn)
	if err != nil {
		t.Fatalf("portstest: %v", err)
	}
	return out
}

// mismatch is a divergence at one operation, before shrinking.
type mismatch struct {
	// kind is the divergence kind; detail describes both sides.
	kind, detail string
}

// runner drives sequences of operations of type O and collects
// divergences. exec runs a sequence on fresh subjects and returns the
// index of the diverging operation and the mismatch, or -1.
type runner[O any] struct {
	t         reporter
	port      string
	opts      DiffOptions
	start     time.Time
	stats     DiffStats
	kinds     map[string]*Divergence
	order     []string
	raw       map[string]string // pre-shrink kind -> reported kind
	shrinks   map[string]int    // shrinks per coarse kind
	shrinking string            // the coarse kind being shrunk, if any
	lastOf    map[string]string // coarse kind -> last reported kind
	render    func(O) string
	exec      func(ops []O) (int, *mismatch)
	// simplify returns simpler variants of an operation (fewer
	// conditions, fewer fields, a Tx unwrapped into its operations).
	simplify func(O) [][]O
}

func (r *runner[O]) logf(format string, args ...any) {
	if r.opts.Logf != nil {
		r.opts.Logf(format, args...)
		return
	}
	r.t.Logf(format, args...)
}

func (r *runner[O]) outOfTime() bool {
	if time.Since(r.start) > r.opts.Budget {
		r.stats.OutOfBudget = true
		return true
	}
	return false
}

// run generates and runs sequences until the operation count, the
// sequence count, the kind count or the budget is reached.
func (r *runner[O]) run(gen func(rng *rand.Rand, n int) []O) {
	r.start = time.Now()
	r.kinds = map[string]*Divergence{}
	r.raw = map[string]string{}
	r.shrinks = map[string]int{}
	r.lastOf = map[string]string{}
	for i := 0; r.stats.Ops < r.opts.Ops; i++ {
		if r.opts.Sequences > 0 && i >= r.opts.Sequences || len(r.kinds) >= r.opts.MaxKinds || r.outOfTime() {
			break
		}
		seed := r.opts.Seed + uint64(i)
		ops := gen(newRand(seed), r.opts.SeqLen)
		r.stats.Sequences++
		at, mm := r.exec(ops)
		if at < 0 {
			r.stats.Ops += len(ops)
			continue
		}
		r.stats.Ops += at + 1
		r.found(seed, ops[:at+1], mm)
	}
	r.stats.Elapsed = time.Since(r.start)
}

// known reports whether a divergence of kind was already found (and is
// not the one being shrunk): an exec that can go on past a divergence
// without its state diverging uses it to find other kinds.
func (r *runner[O]) known(kind string) bool {
	if r.shrinking != "" {
		// Shrinking is strict, so that the shrunk sequence diverges on
		// its own, replayed from empty subjects.
		return false
	}
	_, ok := r.raw[kind]
	if !ok {
		_, ok = r.kinds[kind]
	}
	return ok
}

// newRand returns the generator of one sequence.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// found shrinks a divergence unless one of its kind was already shrunk,
// and records it.
func (r *runner[O]) found(seed uint64, ops []O, mm *mismatch) {
	if k, ok := r.raw[mm.kind]; ok {
		if d := r.kinds[k]; d != nil {
			d.Count++
		} else {
			r.stats.Cascades++
		}
		return
	}
	n := len(ops)
	c := coarse(mm.kind)
	if r.shrinks[c] >= 12 { // enough of this coarse kind: count it unshrunk
		r.shrinks[c]++
		if prev, ok := r.kinds[r.lastOf[c]]; ok {
			prev.Count++
		}
		return
	}
	r.shrinks[c]++
	shrunk, last, alone := r.shrink(ops, mm)
	if !alone {
		// It diverges only past known divergences it skipped: a
		// consequence of them, most likely. Not reported (counted).
		r.raw[mm.kind] = ""
		r.stats.Cascades++
		return
	}
	r.lastOf[c] = last.kind
	d := &Divergence{Port: r.port, Kind: last.kind, Seed: seed, Detail: last.detail, Count: 1, Unshrunk: n}
	for _, op := range shrunk {
		d.Ops = append(d.Ops, r.render(op))
	}
	r.raw[mm.kind] = last.kind
	if prev, ok := r.kinds[last.kind]; ok {
		prev.Count++
		return
	}
	for _, a := range r.opts.Allow {
		if ok, _ := regexp.MatchString(a.Kind, last.kind); ok {
			d.Allowed, d.Why = true, a.Why
			break
		}
	}
	r.kinds[last.kind] = d
	r.order = append(r.order, last.kind)
}

// coarse is the part of a kind shrinking preserves: the operation and the
// aspect, before the detail in brackets.
func coarse(kind string) string {
	if i := strings.Index(kind, " ["); i >= 0 {
		return kind[:i]
	}
	return kind
}

// shrink removes and simplifies operations of ops while the last one
// still diverges with the same coarse kind, within the replay bound.
func (r *runner[O]) shrink(ops []O, mm *mismatch) ([]O, *mismatch, bool) {
	want := coarse(mm.kind)
	r.shrinking = want
	defer func() { r.shrinking = "" }()
	best, bestMM := slices.Clone(ops), mm
	replays, alone := 0, false
	try := func(cand []O) bool {
		if len(cand) == 0 || replays >= r.opts.ShrinkReplays || r.outOfTime() {
			return false
		}
		replays++
		r.stats.Replays++
		at, m := r.exec(cand)
		if at < 0 || coarse(m.kind) != want {
			return false
		}
		best, bestMM, alone = slices.Clone(cand[:at+1]), m, true
		return true
	}
	try(best) // does it diverge on its own?
	for changed := true; changed && replays < r.opts.ShrinkReplays; {
		changed = false
		// Remove chunks, largest first, never the diverging last one.
		for size := len(best) - 1; size >= 1; size /= 2 {
			for i := 0; i+size < len(best); {
				cand := append(slices.Clone(best[:i]), best[i+size:]...)
				if try(cand) {
					changed = true
					continue
				}
				i += size
			}
		}
		// Simplify each operation.
		for i := 0; i < len(best); i++ {
			for _, variant := range r.simplify(best[i]) {
				cand := append(append(slices.Clone(best[:i]), variant...), best[i+1:]...)
				if try(cand) {
					changed = true
					break
				}
			}
		}
	}
	return best, bestMM, alone
}

// report logs every divergence and fails t for those not allowed, unless
// ReportOnly.
func (r *runner[O]) report() ([]Divergence, DiffStats) {
	out := make([]Divergence, 0, len(r.order))
	for _, k := range r.order {
		out = append(out, *r.kinds[k])
	}
	s := r.stats
	budget := ""
	if s.OutOfBudget {
		budget = " (time budget spent)"
	}
	r.logf("portstest: %s differential run: %d operations in %d sequences, %d shrink replays, %v%s; seed %d; %d divergence kind(s) (and %d consequences of known ones, not reported)",
		r.port, s.Ops, s.Sequences, s.Replays, s.Elapsed.Round(time.Millisecond), budget, r.opts.Seed, len(out), s.Cascades)
	for _, d := range out {
		switch {
		case d.Allowed, r.opts.ReportOnly:
			r.logf("%s", d)
		default:
			r.t.Errorf("%s", d)
		}
	}
	return out, r.stats
}
