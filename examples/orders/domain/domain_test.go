package domain_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/examples/orders/domain"
	"github.com/portkit/portkit/ports"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func valid() domain.NewOrder {
	return domain.NewOrder{
		Customer: "ada",
		Lines: []domain.Line{
			{SKU: "book-1", Qty: 2, PriceCents: 1250},
			{SKU: "pen_2", Qty: 1, PriceCents: 199},
		},
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(n *domain.NewOrder)
		field  string // "" when valid
		reason string // part of the reason
	}{
		{"valid", func(*domain.NewOrder) {}, "", ""},
		{"free line", func(n *domain.NewOrder) { n.Lines[0].PriceCents = 0 }, "", ""},
		{"max qty", func(n *domain.NewOrder) { n.Lines[0].Qty = domain.MaxQty }, "", ""},
		{"blank customer", func(n *domain.NewOrder) { n.Customer = "  \t" }, "customer", "required"},
		{"long customer", func(n *domain.NewOrder) { n.Customer = strings.Repeat("é", domain.MaxCustomerLen+1) }, "customer", "longer"},
		{"customer at limit", func(n *domain.NewOrder) { n.Customer = strings.Repeat("é", domain.MaxCustomerLen) }, "", ""},
		{"bad utf8 customer", func(n *domain.NewOrder) { n.Customer = "a\xffb" }, "customer", "UTF-8"},
		{"no lines", func(n *domain.NewOrder) { n.Lines = nil }, "lines", "at least one"},
		{"too many lines", func(n *domain.NewOrder) {
			n.Lines = make([]domain.Line, domain.MaxLines+1)
			for i := range n.Lines {
				n.Lines[i] = domain.Line{SKU: fmt.Sprint("s", i), Qty: 1}
			}
		}, "lines", "more than"},
		{"blank sku", func(n *domain.NewOrder) { n.Lines[1].SKU = "" }, "lines[1].sku", "required"},
		{"sku with space", func(n *domain.NewOrder) { n.Lines[0].SKU = "a b" }, "lines[0].sku", "only letters"},
		{"long sku", func(n *domain.NewOrder) { n.Lines[0].SKU = strings.Repeat("x", domain.MaxSKULen+1) }, "lines[0].sku", "longer"},
		{"duplicate sku", func(n *domain.NewOrder) { n.Lines[1].SKU = "book-1" }, "lines[1].sku", "repeats lines[0]"},
		{"zero qty", func(n *domain.NewOrder) { n.Lines[1].Qty = 0 }, "lines[1].qty", "between 1 and"},
		{"huge qty", func(n *domain.NewOrder) { n.Lines[0].Qty = domain.MaxQty + 1 }, "lines[0].qty", "between 1 and"},
		{"negative price", func(n *domain.NewOrder) { n.Lines[0].PriceCents = -1 }, "lines[0].price_cents", "between 0 and"},
		{"huge price", func(n *domain.NewOrder) { n.Lines[1].PriceCents = domain.MaxPriceCents + 1 }, "lines[1].price_cents", "between 0 and"},
		{"first problem wins", func(n *domain.NewOrder) { n.Customer = ""; n.Lines = nil }, "customer", "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := valid()
			tt.edit(&n)
			err := n.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ve *domain.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate() = %v, want a *ValidationError", err)
			}
			if ve.Field != tt.field || !strings.Contains(ve.Reason, tt.reason) {
				t.Errorf("Validate() = field %q reason %q, want field %q reason containing %q", ve.Field, ve.Reason, tt.field, tt.reason)
			}
			if !errors.Is(err, ports.ErrInvalid) {
				t.Errorf("errors.Is(%v, ports.ErrInvalid) = false", err)
			}
		})
	}
}

func TestValidIdempotencyKey(t *testing.T) {
	t.Parallel()
	for key, ok := range map[string]bool{
		"":                       true,
		"3f2c-11aa":              true,
		strings.Repeat("k", 128): true,
		strings.Repeat("k", 129): false,
		"has space":              false,
		"tab\t":                  false,
		"naïve":                  false,
	} {
		err := domain.ValidIdempotencyKey("Idempotency-Key", key)
		if (err == nil) != ok {
			t.Errorf("ValidIdempotencyKey(%q) = %v, want ok=%v", key, err, ok)
		}
		if err != nil && !errors.Is(err, ports.ErrInvalid) {
			t.Errorf("ValidIdempotencyKey(%q) = %v, not ErrInvalid", key, err)
		}
	}
}

func TestBuildCreatedView(t *testing.T) {
	t.Parallel()
	n := valid()
	n.Customer = "  ada "
	at := time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	o, lines := n.Build(at)
	if o.Customer != "ada" || o.Status != domain.StatusCreated || o.TotalCents != 2*1250+199 {
		t.Errorf("Build order = %+v", o)
	}
	if want := time.Date(2026, 3, 1, 11, 0, 0, 123000000, time.UTC); !o.CreatedAt.Equal(want) || o.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", o.CreatedAt, want)
	}
	if len(lines) != 2 || lines[0].SKU != "book-1" || lines[1].Qty != 1 || lines[1].PriceCents != 199 {
		t.Errorf("Build lines = %+v", lines)
	}

	o.ID = 7
	d := domain.OrderDetails{Order: o, Lines: lines}
	e := d.Created()
	if e.OrderID != 7 || e.Lines != 2 || e.Items != 3 || e.TotalCents != o.TotalCents || !e.CreatedAt.Equal(o.CreatedAt) {
		t.Errorf("Created() = %+v", e)
	}
	v := e.View()
	if v.OrderID != 7 || v.Customer != "ada" || v.Status != domain.StatusCreated || v.Items != 3 || !v.PlacedAt.Equal(o.CreatedAt) {
		t.Errorf("View() = %+v", v)
	}

	c := d.Clone()
	c.Lines[0].Qty = 99
	if d.Lines[0].Qty == 99 {
		t.Error("Clone shares its lines with the original")
	}
}

func ExampleNewOrder_Validate() {
	n := domain.NewOrder{
		Customer: "ada",
		Lines: []domain.Line{
			{SKU: "book-1", Qty: 2, PriceCents: 1250},
			{SKU: "pen-2", Qty: 0, PriceCents: 199},
		},
	}
	err := n.Validate()
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		fmt.Println("bad field:", ve.Field)
	}
	fmt.Println(err)
	fmt.Println(errors.Is(err, ports.ErrInvalid))
	// Output:
	// bad field: lines[1].qty
	// lines[1].qty: must be between 1 and 1000, got 0
	// true
}

func ExampleNewOrder_Build() {
	n := domain.NewOrder{Customer: "ada", Lines: []domain.Line{{SKU: "book-1", Qty: 2, PriceCents: 1250}}}
	o, lines := n.Build(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	fmt.Println(o.Customer, o.Status, o.TotalCents, len(lines))
	// Output: ada created 2500 1
}
