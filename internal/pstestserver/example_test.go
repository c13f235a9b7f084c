package pstestserver_test

import (
	"context"
	"log"
	"log/slog"
	"os"
	"os/signal"

	"github.com/portkit/portkit/internal/pstestserver"
)

// Serve runs until interrupted; point clients at it with
// PUBSUB_EMULATOR_HOST=127.0.0.1:8085 and any PUBSUB_PROJECT_ID.
func ExampleServe() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := pstestserver.Serve(ctx, "127.0.0.1:8085", logger); err != nil {
		log.Fatal(err)
	}
}
