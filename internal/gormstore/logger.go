package gormstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Logger routes gorm's logger to log/slog for an SQL adapter. Unlike
// gorm's own slog logger it renders a statement only when a line is
// written, so a query that logs nothing costs one time.Since.
//
// What it writes, each message prefixed with the backend's name:
//   - a statement slower than the threshold, at slog.LevelWarn;
//   - a failed statement (other than "record not found", which is an
//     answer, not a failure), at slog.LevelDebug: the caller gets the error
//     and decides whether it matters;
//   - every statement, at slog.LevelInfo, after DB().Debug() or
//     Logger.LogMode(logger.Info);
//   - gorm's own messages at their level.
//
// Statement parameters are left out (the SQL keeps its placeholders), and
// so is the message of a server error, which may quote one, unless params
// is set.
type Logger struct {
	log     *slog.Logger
	prefix  string
	level   logger.LogLevel
	slow    time.Duration // <= 0: never
	params  bool
	errText func(error) (string, bool)
}

var (
	_ logger.Interface  = (*Logger)(nil)
	_ gorm.ParamsFilter = (*Logger)(nil)
)

// NewLogger returns the logger of backend on l. slow is the threshold of
// slow statements (<= 0: none); params puts statement parameters and
// server messages in lines. serverText renders a server error without
// its message (its code, say) and reports whether err is one; it is used
// unless params is set.
func NewLogger(l *slog.Logger, backend string, slow time.Duration, params bool, serverText func(error) (string, bool)) *Logger {
	return &Logger{log: l, prefix: backend + ": ", level: logger.Warn, slow: slow, params: params, errText: serverText}
}

// LogMode returns a copy of l at level (gorm's Debug() asks for Info).
func (l *Logger) LogMode(level logger.LogLevel) logger.Interface {
	c := *l
	c.level = level
	return &c
}

// Info logs a gorm message at slog.LevelInfo.
func (l *Logger) Info(ctx context.Context, msg string, args ...any) {
	if l.level >= logger.Info {
		l.log.Log(ctx, slog.LevelInfo, l.prefix+fmt.Sprintf(msg, args...))
	}
}

// Warn logs a gorm message at slog.LevelWarn.
func (l *Logger) Warn(ctx context.Context, msg string, args ...any) {
	if l.level >= logger.Warn {
		l.log.Log(ctx, slog.LevelWarn, l.prefix+fmt.Sprintf(msg, args...))
	}
}

// Error logs a gorm message at slog.LevelError.
func (l *Logger) Error(ctx context.Context, msg string, args ...any) {
	if l.level >= logger.Error {
		l.log.Log(ctx, slog.LevelError, l.prefix+fmt.Sprintf(msg, args...))
	}
}

// Trace logs one executed statement when it is slow, failed, or every
// statement is asked for.
func (l *Logger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	if l.level <= logger.Silent {
		return
	}
	elapsed := time.Since(begin)
	var (
		level slog.Level
		msg   string
	)
	switch {
	case l.slow > 0 && elapsed > l.slow:
		level, msg = slog.LevelWarn, "slow statement"
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound):
		level, msg = slog.LevelDebug, "statement failed"
	case l.level >= logger.Info:
		level, msg = slog.LevelInfo, "statement"
	default:
		return
	}
	if !l.log.Enabled(ctx, level) {
		return
	}
	sql, rows := fc()
	attrs := []slog.Attr{
		slog.String("sql", sql),
		slog.Duration("elapsed", elapsed),
	}
	if rows >= 0 {
		attrs = append(attrs, slog.Int64("rows", rows))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", l.text(err)))
	}
	l.log.LogAttrs(ctx, level, l.prefix+msg, attrs...)
}

// text renders a statement's error: a server error's message may quote a
// parameter, so unless parameters are logged only what serverText keeps
// of it is.
func (l *Logger) text(err error) string {
	if !l.params && l.errText != nil {
		if s, ok := l.errText(err); ok {
			return s + " (message omitted: parameters are not logged)"
		}
	}
	return err.Error()
}

// ParamsFilter keeps parameters out of the rendered SQL unless params is
// set.
func (l *Logger) ParamsFilter(_ context.Context, sql string, params ...any) (string, []any) {
	if l.params {
		return sql, params
	}
	return sql, nil
}
