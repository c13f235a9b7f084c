package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"

	"github.com/portkit/portkit/internal/pstestserver"
)

// emulatorFunc serves the Pub/Sub emulator on addr until ctx ends.
type emulatorFunc func(ctx context.Context, addr string, logger *slog.Logger) error

// serveEmulator serves Google's pstest fake through package
// internal/pstestserver, with the service's request limits (a publish
// request up to 10 MiB, where pstest alone refuses more than 4 MiB).
func serveEmulator(ctx context.Context, addr string, logger *slog.Logger) error {
	return pstestserver.Serve(ctx, addr, logger)
}

func runEmulator(ctx context.Context, args []string, stderr io.Writer, d deps) int {
	fs := flag.NewFlagSet("portkit pubsub-emulator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	host := fs.String("host", "127.0.0.1", "address to listen on (0.0.0.0 for every interface)")
	port := fs.Int("port", 8085, "port to listen on (0 picks a free one)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "portkit pubsub-emulator: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *port < 0 || *port > 65535 {
		fmt.Fprintf(stderr, "portkit pubsub-emulator: -port %d is not a port number\n", *port)
		return exitUsage
	}
	addr := net.JoinHostPort(*host, strconv.Itoa(*port))
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	if err := d.serveEmulator(ctx, addr, logger); err != nil {
		fmt.Fprintf(stderr, "portkit pubsub-emulator: %v\n", err)
		return exitFailed
	}
	return exitOK
}
