package telemetry_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/portkit/portkit/internal/obs/obstest"
	"github.com/portkit/portkit/telemetry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sdk is obstest's recording SDK, with the decorator options that record
// into it.
type sdk struct{ *obstest.SDK }

func newSDK(t testing.TB) *sdk { return &sdk{obstest.New(t)} }

// opts are the decorator options that record into s.
func (s *sdk) opts(more ...telemetry.Option) []telemetry.Option {
	return append([]telemetry.Option{telemetry.WithTracerProvider(s.TP), telemetry.WithMeterProvider(s.MP)}, more...)
}
