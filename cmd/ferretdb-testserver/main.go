// Command ferretdb-testserver runs FerretDB (a MongoDB wire-protocol server)
// on its SQLite backend, for portkit's mongo adapter tests and benchmarks.
//
// It wraps FerretDB's embeddable package github.com/FerretDB/FerretDB/ferretdb
// instead of installing FerretDB's own cmd/ferretdb, which panics when built
// with `go install` for want of a generated version file. It lives in a
// module of its own so that FerretDB's dependencies never enter portkit's
// go.mod.
//
// Serve (until SIGINT or SIGTERM):
//
//	ferretdb-testserver -listen 127.0.0.1:27017 -state-dir /tmp/ferretdb
//
// Wait until a server answers a ping (exit status 0), or give up:
//
//	ferretdb-testserver -ping mongodb://127.0.0.1:27017/ -timeout 30s
//
// Telemetry is off (the embeddable package disables it and locks it), no
// debug or metrics listener is started, and nothing is written outside the
// state directory.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/build/version"
	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	stateDir := flag.String("state-dir", "", "directory for the SQLite databases (created if missing; required to serve)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn or error")
	ping := flag.String("ping", "", "instead of serving, ping the server at this MongoDB URI until it answers or -timeout passes")
	timeout := flag.Duration("timeout", 30*time.Second, "how long -ping waits")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var err error
	if *ping != "" {
		err = waitPing(ctx, *ping, *timeout)
	} else {
		err = serve(ctx, *listen, *stateDir, *logLevel)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb-testserver:", err)
		os.Exit(1)
	}
}

// serve runs FerretDB with the SQLite handler until ctx ends.
func serve(ctx context.Context, listen, stateDir, logLevel string) error {
	if stateDir == "" {
		return errors.New("-state-dir is required")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	dir, err := filepath.Abs(stateDir)
	if err != nil {
		return fmt.Errorf("-state-dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("-state-dir: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// FerretDB reports its version as "unknown" when embedded; report the
	// module version this binary was built with instead (buildInfo's
	// ferretdbVersion, which clients use to recognise FerretDB).
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range bi.Deps {
			if dep.Path == "github.com/FerretDB/FerretDB" {
				version.Get().Version = dep.Version
			}
		}
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: listen},
		Logger:   logger,
		Handler:  "sqlite",
		// The SQLite backend takes a file: URI naming a directory, with a
		// trailing slash; each MongoDB database is one file in it.
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		return err
	}
	logger.Warn("ferretdb-testserver serving", "listen", listen, "state_dir", dir)
	return f.Run(ctx)
}

// waitPing pings uri until it answers, ctx ends or timeout passes.
func waitPing(ctx context.Context, uri string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri).SetServerSelectionTimeout(time.Second))
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	for {
		err = client.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("ping: no answer within %v: %w", timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
