// Package pstestserver serves pstest, the in-memory Pub/Sub fake of
// cloud.google.com/go/pubsub/v2, on a TCP port, for developers who want a
// local Pub/Sub without Java (Google's emulator needs it). Clients reach it
// with PUBSUB_EMULATOR_HOST=host:port and any project ID.
//
// pstest keeps everything in memory, delivers about one message per stream
// every 10ms (open several streams: PUBSUB_RECEIVE_STREAMS), and accepts
// any project. It is a development and test tool, not a server to deploy.
package pstestserver

import (
	"context"
	"fmt"
	"log/slog"

	"cloud.google.com/go/pubsub/v2/pstest"
)

// Serve listens on addr (host:port; port 0 picks a free one), serves the
// fake until ctx ends, then stops it and returns nil. It logs one line
// when listening, with the PUBSUB_EMULATOR_HOST value to use, and one when
// stopped. It returns an error when addr cannot be listened on.
func Serve(ctx context.Context, addr string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}
	srv, err := start(addr)
	if err != nil {
		return err
	}
	logger.LogAttrs(ctx, slog.LevelInfo, "pstest Pub/Sub fake listening",
		slog.String("addr", srv.Addr),
		slog.String("PUBSUB_EMULATOR_HOST", srv.Addr))
	<-ctx.Done()
	err = srv.Close()
	logger.LogAttrs(context.WithoutCancel(ctx), slog.LevelInfo, "pstest Pub/Sub fake stopped", slog.String("addr", srv.Addr))
	return err
}

// start creates the server; pstest panics when it cannot listen.
func start(addr string) (srv *pstest.Server, err error) {
	defer func() {
		if r := recover(); r != nil {
			srv, err = nil, fmt.Errorf("pstestserver: listen on %s: %v", addr, r)
		}
	}()
	return pstest.NewServerWithAddress(addr), nil
}
