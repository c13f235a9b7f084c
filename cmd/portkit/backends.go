package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/portkit/portkit/adapters/mongo"
	"github.com/portkit/portkit/adapters/mysql"
	"github.com/portkit/portkit/adapters/pubsub"
	"github.com/portkit/portkit/adapters/redis"
	"github.com/portkit/portkit/internal/envconfig"
	"github.com/portkit/portkit/internal/redact"
	"github.com/portkit/portkit/ports"
)

// adapterBackends are the backends check opens, in the order it reports
// them, each with the variables that mean it is configured.
func adapterBackends() []backend {
	return []backend{
		{name: "mysql", vars: []string{"MYSQL_DSN", "MYSQL_URL", "MYSQL_HOST"}, prepare: prepareMySQL},
		{name: "mongo", vars: []string{"MONGODB_URI"}, prepare: prepareMongo},
		{name: "redis", vars: []string{"REDIS_URL"}, prepare: prepareRedis},
		{name: "pubsub", vars: []string{"PUBSUB_EMULATOR_HOST", "PUBSUB_PROJECT_ID"}, prepare: preparePubSub},
	}
}

// connector turns an adapter's Open result into a Connector, without the
// typed nil a failed Open would otherwise leave in the interface.
func connector[C ports.Connector](c C, err error) (ports.Connector, error) {
	if err != nil {
		return nil, err
	}
	return c, nil
}

func prepareMySQL(lookup lookupFunc) (prepared, error) {
	cfg, err := mysql.ConfigFromEnviron(envconfig.Environ[mysql.Config](lookup))
	if err != nil {
		return prepared{}, err
	}
	var target string
	switch {
	case cfg.DSN != "":
		target = redact.Conn(cfg.DSN)
	case cfg.URL != "":
		target = redact.Conn(cfg.URL)
	default:
		port := cfg.Port
		if port == 0 {
			port = mysql.DefaultPort
		}
		target = "tcp(" + cfg.Host + ":" + strconv.Itoa(port) + ")/" + cfg.Database
		if cfg.User != "" {
			target = cfg.User + "@" + target
		}
	}
	return prepared{target: target, open: func(ctx context.Context, logger *slog.Logger) (ports.Connector, error) {
		return connector(mysql.Open(ctx, cfg, mysql.WithLogger(logger)))
	}}, nil
}

func prepareMongo(lookup lookupFunc) (prepared, error) {
	cfg, err := mongo.ConfigFromEnviron(envconfig.Environ[mongo.Config](lookup))
	if err != nil {
		return prepared{}, err
	}
	return prepared{target: mongo.RedactURI(cfg.URI), open: func(ctx context.Context, logger *slog.Logger) (ports.Connector, error) {
		return connector(mongo.Open(ctx, cfg, mongo.WithLogger(logger)))
	}}, nil
}

func prepareRedis(lookup lookupFunc) (prepared, error) {
	cfg, err := redis.ConfigFromEnviron(envconfig.Environ[redis.Config](lookup))
	if err != nil {
		return prepared{}, err
	}
	return prepared{target: cfg.RedactedURL(), open: func(ctx context.Context, logger *slog.Logger) (ports.Connector, error) {
		return connector(redis.Open(ctx, cfg, redis.WithLogger(logger)))
	}}, nil
}

func preparePubSub(lookup lookupFunc) (prepared, error) {
	cfg, err := pubsub.ConfigFromEnviron(envconfig.Environ[pubsub.Config](lookup, pubsub.EnvGoogleCloudProject))
	if err != nil {
		return prepared{}, err
	}
	project := cfg.ProjectID
	if project == "" {
		project = "(from credentials)"
	}
	target := "project " + project
	if cfg.EmulatorHost != "" {
		target = fmt.Sprintf("emulator %s, %s", cfg.EmulatorHost, target)
	}
	return prepared{target: target, open: func(ctx context.Context, logger *slog.Logger) (ports.Connector, error) {
		return connector(pubsub.Open(ctx, cfg, pubsub.WithLogger(logger)))
	}}, nil
}
