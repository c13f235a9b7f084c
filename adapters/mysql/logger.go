package mysql

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// slogLogger routes gorm's logger to log/slog. Unlike gorm's own slog
// logger it renders a statement only when a line is written, so a query
// that logs nothing costs one time.Since.
//
// What it writes:
//   - a statement slower than the threshold, at slog.LevelWarn;
//   - a failed statement (other than "record not found", which is an
//     answer, not a failure), at slog.LevelDebug: the caller gets the error
//     and decides whether it matters;
//   - every statement, at slog.LevelInfo, after DB().Debug() or
//     Logger.LogMode(logger.Info);
//   - gorm's own messages at their level.
//
// Statement parameters are left out (the SQL keeps its ? placeholders),
// and so is the message of a server error, which may quote one, unless
// Config.LogParams is set.
type slogLogger struct {
	log    *slog.Logger
	level  logger.LogLevel
	slow   time.Duration // <= 0: never
	params bool
}

var (
	_ logger.Interface  = (*slogLogger)(nil)
	_ gorm.ParamsFilter = (*slogLogger)(nil)
)

func newSlogLogger(l *slog.Logger, slow time.Duration, params bool) *slogLogger {
	return &slogLogger{log: l, level: logger.Warn, slow: slow, params: params}
}

// LogMode returns a copy of l at level (gorm's Debug() asks for Info).
func (l *slogLogger) LogMode(level logger.LogLevel) logger.Interface {
	c := *l
	c.level = level
	return &c
}

// Info logs a gorm message at slog.LevelInfo.
func (l *slogLogger) Info(ctx context.Context, msg string, args ...any) {
	if l.level >= logger.Info {
		l.log.Log(ctx, slog.LevelInfo, "mysql: "+fmt.Sprintf(msg, args...))
	}
}

// Warn logs a gorm message at slog.LevelWarn.
func (l *slogLogger) Warn(ctx context.Context, msg string, args ...any) {
	if l.level >= logger.Warn {
		l.log.Log(ctx, slog.LevelWarn, "mysql: "+fmt.Sprintf(msg, args...))
	}
}

// Error logs a gorm message at slog.LevelError.
func (l *slogLogger) Error(ctx context.Context, msg string, args ...any) {
	if l.level >= logger.Error {
		l.log.Log(ctx, slog.LevelError, "mysql: "+fmt.Sprintf(msg, args...))
	}
}

// Trace logs one executed statement when it is slow, failed, or every
// statement is asked for.
func (l *slogLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
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
		level, msg = slog.LevelWarn, "mysql: slow statement"
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound):
		level, msg = slog.LevelDebug, "mysql: statement failed"
	case l.level >= logger.Info:
		level, msg = slog.LevelInfo, "mysql: statement"
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
		attrs = append(attrs, slog.String("error", l.errText(err)))
	}
	l.log.LogAttrs(ctx, level, msg, attrs...)
}

// errText renders a statement's error. A server error message may quote a
// parameter ("Duplicate entry 'alice@example.com' for key ..."), so unless
// parameters are logged only its number and SQL state are.
func (l *slogLogger) errText(err error) string {
	var me *mysqldrv.MySQLError
	if !l.params && errors.As(err, &me) {
		return fmt.Sprintf("Error %d (%s) (message omitted: Config.LogParams is off)", me.Number, string(me.SQLState[:]))
	}
	return err.Error()
}

// ParamsFilter keeps parameters out of the rendered SQL unless
// Config.LogParams is set.
func (l *slogLogger) ParamsFilter(_ context.Context, sql string, params ...any) (string, []any) {
	if l.params {
		return sql, params
	}
	return sql, nil
}

// driverLogger routes go-sql-driver's own messages (for example "closing
// bad idle connection") to slog instead of the driver's package-level
// stderr logger.
type driverLogger struct{ log *slog.Logger }

// Print logs the driver's message at slog.LevelWarn.
func (d driverLogger) Print(v ...any) {
	d.log.Warn("mysql: driver: " + fmt.Sprint(v...))
}
