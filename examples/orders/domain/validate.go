package domain

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portkit/portkit/ports"
)

// Limits of a [NewOrder].
const (
	MaxCustomerLen  = 128           // runes
	MaxLines        = 100           // lines per order
	MaxSKULen       = 64            // bytes; a SKU is ASCII
	MaxQty          = 1000          // per line
	MaxPriceCents   = 1_000_000_000 // per unit: ten million in the currency
	maxIdempotency  = 128
	skuPunctuations = "-_."
)

// Line is one line of a [NewOrder]: a quantity of a SKU at a unit price.
type Line struct {
	SKU        string `json:"sku"`
	Qty        int    `json:"qty"`
	PriceCents int64  `json:"price_cents"`
}

// NewOrder is the command that places an order, as a client sends it.
type NewOrder struct {
	Customer string `json:"customer"`
	Lines    []Line `json:"lines"`
}

// ValidationError names the first field of a [NewOrder] (or of a request)
// that is not acceptable, by its JSON path ("customer", "lines[2].qty"),
// and why. It matches ports.ErrInvalid with errors.Is.
type ValidationError struct {
	Field  string
	Reason string
}

// Error formats as "field: reason".
func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap returns ports.ErrInvalid.
func (e *ValidationError) Unwrap() error { return ports.ErrInvalid }

// Invalid returns a *ValidationError for field.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Validate returns nil when n can be placed, or a *ValidationError naming
// its first bad field: a blank or too long customer, no lines or too many,
// a blank, too long or malformed SKU, a SKU listed twice, a quantity out of
// 1..MaxQty or a price out of 0..MaxPriceCents.
func (n NewOrder) Validate() error {
	c := strings.TrimSpace(n.Customer)
	switch {
	case c == "":
		return Invalid("customer", "is required")
	case !utf8.ValidString(c):
		return Invalid("customer", "is not valid UTF-8")
	case utf8.RuneCountInString(c) > MaxCustomerLen:
		return Invalid("customer", "is longer than %d characters", MaxCustomerLen)
	}
	switch {
	case len(n.Lines) == 0:
		return Invalid("lines", "needs at least one line")
	case len(n.Lines) > MaxLines:
		return Invalid("lines", "has %d lines, more than %d", len(n.Lines), MaxLines)
	}
	seen := make(map[string]int, len(n.Lines))
	for i, l := range n.Lines {
		field := func(name string) string { return fmt.Sprintf("lines[%d].%s", i, name) }
		if err := validSKU(l.SKU); err != "" {
			return Invalid(field("sku"), "%s", err)
		}
		if j, dup := seen[l.SKU]; dup {
			return Invalid(field("sku"), "repeats lines[%d].sku %q", j, l.SKU)
		}
		seen[l.SKU] = i
		if l.Qty < 1 || l.Qty > MaxQty {
			return Invalid(field("qty"), "must be between 1 and %d, got %d", MaxQty, l.Qty)
		}
		if l.PriceCents < 0 || l.PriceCents > MaxPriceCents {
			return Invalid(field("price_cents"), "must be between 0 and %d, got %d", MaxPriceCents, l.PriceCents)
		}
	}
	return nil
}

func validSKU(s string) string {
	if s == "" {
		return "is required"
	}
	if len(s) > MaxSKULen {
		return fmt.Sprintf("is longer than %d characters", MaxSKULen)
	}
	for _, r := range s {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(skuPunctuations, r)) {
			return fmt.Sprintf("may hold only letters, digits and %q", skuPunctuations)
		}
	}
	return ""
}

// ValidIdempotencyKey returns a *ValidationError for field when key is not
// an acceptable idempotency key: 1 to 128 printable ASCII characters. An
// empty key is valid (it means "no key").
func ValidIdempotencyKey(field, key string) error {
	if len(key) > maxIdempotency {
		return Invalid(field, "is longer than %d characters", maxIdempotency)
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return Invalid(field, "may hold only printable ASCII characters")
		}
	}
	return nil
}

// Build returns the rows that store n, placed at now: the order (status
// created, total computed, customer trimmed, time in UTC to the
// millisecond) and its lines, whose OrderID the caller sets once the order
// has its ID. n must be valid.
func (n NewOrder) Build(now time.Time) (Order, []OrderLine) {
	o := Order{
		Customer:  strings.TrimSpace(n.Customer),
		Status:    StatusCreated,
		CreatedAt: now.UTC().Truncate(time.Millisecond),
	}
	lines := make([]OrderLine, len(n.Lines))
	for i, l := range n.Lines {
		lines[i] = OrderLine{SKU: l.SKU, Qty: l.Qty, PriceCents: l.PriceCents}
		o.TotalCents += int64(l.Qty) * l.PriceCents
	}
	return o, lines
}

// Created returns the OrderCreated event of d.
func (d OrderDetails) Created() OrderCreated {
	e := OrderCreated{
		OrderID:    d.ID,
		Customer:   d.Customer,
		TotalCents: d.TotalCents,
		Lines:      len(d.Lines),
		CreatedAt:  d.CreatedAt,
	}
	for _, l := range d.Lines {
		e.Items += l.Qty
	}
	return e
}

// View returns the read model of the order e describes.
func (e OrderCreated) View() OrderView {
	return OrderView{
		OrderID:    e.OrderID,
		Customer:   e.Customer,
		Status:     StatusCreated,
		TotalCents: e.TotalCents,
		Lines:      e.Lines,
		Items:      e.Items,
		PlacedAt:   e.CreatedAt,
	}
}
