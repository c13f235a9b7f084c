package ports_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/portkit/portkit/ports"
)

// prow is the model of the Patch tests: a key, a version, numbers, a
// string, a pointer, a time, a bool and a nested struct.
type prow struct {
	ID    int64
	Ver   ports.Version
	Qty   int
	Price float64
	Name  string
	Note  *string
	At    time.Time
	On    bool
	Addr  struct{ City string }
}

type twoVersions struct {
	ID int64
	A  ports.Version
	B  ports.Version
}

type noVersion struct {
	ID   int64
	Name string
}

func TestPatchBuilds(t *testing.T) {
	base := ports.Set("Name", "x")
	p := base.Inc("Qty", 2).IfVersion(3)
	if got := base.Changes(); len(got) != 1 {
		t.Errorf("adding to a Patch changed the one it came from: %v", got)
	}
	want := []ports.Change{{Field: "Name", Op: ports.OpSet, Value: "x"}, {Field: "Qty", Op: ports.OpInc, Value: 2}}
	got := p.Changes()
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Changes = %v, want %v in order", got, want)
	}
	if v, ok := p.Precondition(); !ok || v != 3 {
		t.Errorf("Precondition = %d, %v; want 3, true", v, ok)
	}
	if _, ok := base.Precondition(); ok {
		t.Errorf("a Patch without IfVersion has a precondition")
	}
	if s := ports.Set("Name", "s3cret").Inc("Qty", 41).IfVersion(7).String(); s != "Patch{Name = ?, Qty += ? IF VERSION 7}" || strings.Contains(s, "s3cret") {
		t.Errorf("String = %q: want the fields, operators and precondition, values elided", s)
	}
	if ports.Inc("Qty", 1).Changes()[0].Op != ports.OpInc {
		t.Errorf("ports.Inc does not build an OpInc change")
	}
}

func TestValidatePatchAccepts(t *testing.T) {
	s, err := ports.SchemaOf[prow]()
	if err != nil {
		t.Fatal(err)
	}
	for what, p := range map[string]ports.Patch{
		"Set of every class":              ports.Set("Qty", 1).Set("Price", 2.5).Set("Name", "x").Set("At", time.Now()).Set("On", true),
		"Set of a pointer to nil":         ports.Set("Note", nil),
		"Set of a pointer to a typed nil": ports.Set("Note", (*string)(nil)),
		"Set of a pointer to a value":     ports.Set("Note", "n"),
		"Set of a nested field":           ports.Set("Addr.City", "Oslo"),
		"Inc by an int":                   ports.Inc("Qty", 1),
		"Inc by a float":                  ports.Inc("Price", -0.5),
		"Inc of an int by a whole float":  ports.Inc("Qty", 2.0),
		"IfVersion":                       ports.Set("Qty", 1).IfVersion(4),
	} {
		if err := s.ValidatePatch(p, "ID"); err != nil {
			t.Errorf("ValidatePatch with %s: %v, want nil", what, err)
		}
	}
}

func TestValidatePatchRejects(t *testing.T) {
	s, err := ports.SchemaOf[prow]()
	if err != nil {
		t.Fatal(err)
	}
	for what, p := range map[string]ports.Patch{
		"Inc of an int by a fraction":     ports.Inc("Qty", 0.5),
		"no change":                       {},
		"an unknown field":                ports.Set("Nope", 1),
		"a nested struct itself":          ports.Set("Addr", struct{ City string }{}),
		"a field twice":                   ports.Set("Qty", 1).Inc("Qty", 1),
		"the primary key":                 ports.Set("ID", int64(2)),
		"the version field":               ports.Set("Ver", ports.Version(2)),
		"Inc of the version field":        ports.Inc("Ver", 1),
		"nil on a non-pointer":            ports.Set("Qty", nil),
		"Inc of a string":                 ports.Inc("Name", 1),
		"Inc of a bool":                   ports.Inc("On", 1),
		"Inc of a time":                   ports.Inc("At", 1),
		"Inc by nil":                      ports.Inc("Qty", nil),
		"Inc by a typed nil":              ports.Inc("Qty", (*int)(nil)),
		"Inc by a string":                 ports.Inc("Qty", "1"),
		"a string for a number":           ports.Set("Qty", "1"),
		"a number for a string":           ports.Set("Name", 1),
		"a number for a bool":             ports.Set("On", 1),
		"a string for a time":             ports.Set("At", "2024-01-01"),
		"invalid UTF-8":                   ports.Set("Name", "a\xff"),
		"invalid UTF-8 through a pointer": ports.Set("Note", "\xfe"),
		"NaN":                             ports.Set("Price", math.NaN()),
		"+Inf":                            ports.Inc("Price", math.Inf(1)),
	} {
		err := s.ValidatePatch(p, "ID")
		if !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("ValidatePatch with %s: %v, want ErrInvalid", what, err)
			continue
		}
		if strings.Contains(err.Error(), "\xff") || strings.Contains(err.Error(), "\xfe") {
			t.Errorf("ValidatePatch with %s quotes the value: %v", what, err)
		}
	}
	ns, err := ports.SchemaOf[noVersion]()
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.ValidatePatch(ports.Set("Name", "x").IfVersion(1), "ID"); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("ValidatePatch with IfVersion on a model without a Version field: %v, want ErrInvalid", err)
	}
	if err := ns.ValidatePatch(ports.Set("Name", "x"), "ID"); err != nil {
		t.Errorf("ValidatePatch on a model without a Version field: %v", err)
	}
	ts, err := ports.SchemaOf[twoVersions]()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.VersionField(); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("VersionField of a model with two Version fields: %v, want ErrInvalid", err)
	}
	if err := ts.ValidatePatch(ports.Set("ID", int64(1)), "nothing"); !errors.Is(err, ports.ErrInvalid) {
		t.Errorf("ValidatePatch on a model with two Version fields: %v, want ErrInvalid", err)
	}
}

func TestVersionField(t *testing.T) {
	s, err := ports.SchemaOf[prow]()
	if err != nil {
		t.Fatal(err)
	}
	f, err := s.VersionField()
	if err != nil || f == nil || f.Path != "Ver" || !f.Version {
		t.Errorf("VersionField = %+v, %v; want the field Ver", f, err)
	}
	ns, _ := ports.SchemaOf[noVersion]()
	if f, err := ns.VersionField(); f != nil || err != nil {
		t.Errorf("VersionField of a model without one = %+v, %v; want nil, nil", f, err)
	}
}
