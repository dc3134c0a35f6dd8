package sqlconn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/redact"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// DB is a built postgres, mysql or sqlite system: a lazily opened
// database/sql pool (no connection is made until the first query) and the
// redactor that keeps its DSN and password out of every message.
//
// All three databases go through database/sql so that transactions,
// savepoints, streaming rows and column types share one code path; for
// PostgreSQL that is pgx's stdlib driver, which still speaks pgx's binary
// protocol and caches prepared statements per connection.
type DB struct {
	name    string // the system's name in ferry.yaml
	dialect dialect
	pool    *sql.DB
	red     *redact.Redactor
	where   string // for messages: "postgres system erp" (no DSN)
}

// Name is the system's name.
func (db *DB) Name() string { return db.name }

// Dialect is "postgres", "mysql" or "sqlite".
func (db *DB) Dialect() string { return db.dialect.name }

// Pool is the database/sql pool (for tests and benchmarks).
func (db *DB) Pool() *sql.DB { return db.pool }

// Check pings the database (connector.HealthChecker).
func (db *DB) Check(ctx context.Context) error {
	if err := db.pool.PingContext(ctx); err != nil {
		return db.errorf(err, "%s: ping", db.where)
	}
	return nil
}

// Close closes the pool (io.Closer).
func (db *DB) Close() error { return db.pool.Close() }

var (
	_ connector.HealthChecker = (*DB)(nil)
	_ io.Closer               = (*DB)(nil)
)

// openSystem builds the pool for one system config without touching the
// network or the file.
func openSystem(env connector.Env, kind, name string, cfg any) (*DB, error) {
	db := &DB{name: name, where: fmt.Sprintf("%s system %q", kind, name)}
	secrets := append([]string(nil), env.Secrets...)
	switch c := cfg.(type) {
	case *PostgresConfig:
		db.dialect = postgresDialect
		secrets = append(secrets, c.DSN)
		pc, err := pgx.ParseConfig(c.DSN)
		if err != nil {
			db.red = redact.New(append(secrets, dsnPassword(c.DSN))...)
			return nil, db.errorf(err, "%s: dsn", db.where)
		}
		secrets = append(secrets, pc.Password)
		if c.ConnectTimeout != "" || pc.ConnectTimeout == 0 {
			pc.ConnectTimeout = durationOr(c.ConnectTimeout, defaultConnectTimeout)
		}
		db.pool = stdlib.OpenDB(*pc)
	case *MySQLConfig:
		db.dialect = mysqlDialect
		secrets = append(secrets, c.DSN)
		mc, err := mysql.ParseDSN(c.DSN)
		if err != nil {
			db.red = redact.New(append(secrets, dsnPassword(c.DSN))...)
			return nil, db.errorf(err, "%s: dsn", db.where)
		}
		secrets = append(secrets, mc.Passwd)
		if c.ConnectTimeout != "" || mc.Timeout == 0 {
			mc.Timeout = durationOr(c.ConnectTimeout, defaultConnectTimeout)
		}
		// Times come back as time.Time in mc.Loc (UTC unless the DSN says
		// otherwise), and TIMESTAMP columns are converted by the server in
		// the same zone, so a cursor read back compares equal.
		mc.ParseTime = true
		if mc.Loc == nil {
			mc.Loc = time.UTC
		}
		if _, set := mc.Params["time_zone"]; !set && mc.Loc == time.UTC {
			if mc.Params == nil {
				mc.Params = map[string]string{}
			}
			mc.Params["time_zone"] = "'+00:00'"
		}
		conn, err := mysql.NewConnector(mc)
		if err != nil {
			db.red = redact.New(secrets...)
			return nil, db.errorf(err, "%s: dsn", db.where)
		}
		db.pool = sql.OpenDB(conn)
	case *SQLiteConfig:
		db.dialect = sqliteDialect
		path := c.Path
		if !filepath.IsAbs(path) && env.Dir != "" {
			path = filepath.Join(env.Dir, path)
		}
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", durationOr(c.BusyTimeout, defaultBusyTimeout).Milliseconds()))
		pool, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("%s: open %s: %w", db.where, path, err)
		}
		db.pool = pool
	default:
		return nil, fmt.Errorf("%s: unexpected config type %T", db.where, cfg)
	}
	db.red = redact.New(secrets...)
	n := maxConnections(cfg)
	db.pool.SetMaxOpenConns(n)
	db.pool.SetMaxIdleConns(n)
	db.pool.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// dsnPassword finds the password of a URL-style DSN that failed to parse,
// so even that error cannot show it.
func dsnPassword(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		p, _ := u.User.Password()
		return p
	}
	// user:password@tcp(...)/db (the MySQL form)
	if at := strings.LastIndex(dsn, "@"); at > 0 {
		if colon := strings.Index(dsn[:at], ":"); colon >= 0 {
			return dsn[colon+1 : at]
		}
	}
	return ""
}

func maxConnections(cfg any) int {
	n := 0
	switch c := cfg.(type) {
	case *PostgresConfig:
		n = c.MaxConnections
	case *MySQLConfig:
		n = c.MaxConnections
	case *SQLiteConfig:
		n = c.MaxConnections
	}
	if n <= 0 {
		n = defaultMaxConnections
	}
	return n
}

// dbError is an error whose text is redacted; Is still answers for the
// original (context.Canceled, ...) without handing out its text.
type dbError struct {
	msg       string
	inner     error
	retryable bool
}

func (e *dbError) Error() string { return e.msg }

// Is reports whether the original error is target.
func (e *dbError) Is(target error) bool { return errors.Is(e.inner, target) }

// errorf wraps err with context, redacting the DSN and the password.
func (db *DB) errorf(err error, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...) + ": " + err.Error()
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Detail != "" {
		msg += ": " + pe.Detail // which key already exists, the failing row
	}
	return &dbError{msg: db.red.String(msg), inner: err, retryable: db.dialect.retryable(err)}
}

// message is err's text, redacted, for Result.Error.
func (db *DB) message(err error) string { return db.red.String(err.Error()) }

// isRetryable tells a connection error, deadlock or timeout (retrying can
// help) from a data or statement error (it cannot).
func isRetryable(err error) bool {
	var de *dbError
	if errors.As(err, &de) {
		return de.retryable
	}
	return true
}

func durationOr(s string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return d
	}
	return def
}

// query runs q on the pool. PostgreSQL refuses a prepared statement once
// a table it reads changed shape ("cached plan must not change result
// type", after ALTER TABLE ... ADD COLUMN under a SELECT *); pgx drops
// the statement from its cache with that error, so one retry runs it
// afresh instead of failing every later read.
func (db *DB) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	rows, err := db.pool.QueryContext(ctx, q, args...)
	if err != nil && planChanged(err) {
		rows, err = db.pool.QueryContext(ctx, q, args...)
	}
	return rows, err
}

// planChanged tells PostgreSQL's error for a prepared statement whose
// result type changed under it (SQLSTATE 0A000 with that message).
func planChanged(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "0A000" && strings.Contains(pe.Message, "cached plan must not change result type")
}
