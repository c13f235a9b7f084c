package app_test

import (
	"log/slog"
	"testing"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/examples/orders/domain"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func validOrder() domain.NewOrder {
	return domain.NewOrder{
		Customer: "ada",
		Lines: []domain.Line{
			{SKU: "book-1", Qty: 2, PriceCents: 1250},
			{SKU: "pen-2", Qty: 1, PriceCents: 199},
		},
	}
}
