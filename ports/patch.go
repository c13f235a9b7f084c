package ports

import (
	"fmt"
	"slices"
	"strings"
)

// ChangeOp is what a [Change] of a [Patch] does to its field.
type ChangeOp string

// The change operators.
const (
	// OpSet assigns the value (nil on a pointer field sets NULL / null).
	OpSet ChangeOp = "set"
	// OpInc adds the value, a number, to a numeric field atomically: the
	// addition happens in the backend, so concurrent increments add up.
	OpInc ChangeOp = "inc"
)

// Change is one field change of a Patch.
type Change struct {
	Field string
	Op    ChangeOp
	Value any
}

// Patch is a set of changes to named fields of one entity, applied by
// SQLStore.Patch and DocStore.Patch in one atomic write that touches
// nothing else. Like [Query] it is an immutable value, checked against the
// model's [Schema] before anything is sent:
//
//	p := ports.Set("Status", "paid").Set("PaidAt", now).Inc("Attempts", 1)
//	err := orders.Patch(ctx, id, p.IfVersion(o.Version))
//
// A Patch with no change, a field named twice, the primary key or ID, the
// version field, a field T does not have or that the store does not write
// (a gorm read-only or create-only field, a field without a column), a
// value of another class than its field, Inc of a non-numeric or of a
// pointer field (a NULL has no portable increment: SQL keeps NULL, MongoDB
// refuses; Set a pointer field instead), or Inc of an integer field by a
// fraction (MySQL rounds the sum, MongoDB turns the field into a double) is
// ErrInvalid.
type Patch struct {
	changes   []Change
	ifVersion Version
	hasIf     bool
}

// Set returns a Patch that assigns v to field.
func Set(field string, v any) Patch { return Patch{}.Set(field, v) }

// Inc returns a Patch that adds delta to the numeric field.
func Inc(field string, delta any) Patch { return Patch{}.Inc(field, delta) }

// Set returns p with "field = v" added.
func (p Patch) Set(field string, v any) Patch {
	p.changes = append(slices.Clip(p.changes), Change{Field: field, Op: OpSet, Value: v})
	return p
}

// Inc returns p with "field += delta" added.
func (p Patch) Inc(field string, delta any) Patch {
	p.changes = append(slices.Clip(p.changes), Change{Field: field, Op: OpInc, Value: delta})
	return p
}

// IfVersion returns p applied only when the stored version is v: the
// store returns ErrConflict, changing nothing, when it is another. The
// model must have a [Version] field.
func (p Patch) IfVersion(v Version) Patch {
	p.ifVersion, p.hasIf = v, true
	return p
}

// Changes returns p's changes in the order they were added. The slice
// belongs to p: do not modify it.
func (p Patch) Changes() []Change { return p.changes }

// Precondition returns the version IfVersion set, and whether it was set.
func (p Patch) Precondition() (Version, bool) { return p.ifVersion, p.hasIf }

// String renders p for logs and errors, values elided.
func (p Patch) String() string {
	var b strings.Builder
	b.WriteString("Patch{")
	for i, c := range p.changes {
		if i > 0 {
			b.WriteString(", ")
		}
		switch c.Op {
		case OpInc:
			fmt.Fprintf(&b, "%s += ?", c.Field)
		default:
			fmt.Fprintf(&b, "%s = ?", c.Field)
		}
	}
	if p.hasIf {
		fmt.Fprintf(&b, " IF VERSION %d", p.ifVersion)
	}
	b.WriteString("}")
	return b.String()
}
