// Package postgres is the store.Store for several ferry processes sharing
// one PostgreSQL database: a pgx pool, every table in its own schema
// (Options.Schema, "ferry" by default; search_path is set per connection)
// so it can share a database, and migrations applied at Open under a
// transaction-scoped advisory lock, so processes that start together
// migrate once.
//
// Workers lease entries with FOR UPDATE SKIP LOCKED, highest priority
// first, so the workers of all processes share one queue without waiting
// for each other. Pages go in as one statement over unnest arrays. Times
// are unix milliseconds (bigint, 0 for none) as in the SQLite store, taken
// from the caller as the Store contract says.
//
// Unlike SQLite's single writer, transactions here run side by side in
// READ COMMITTED. Where a check and a write of one transaction can race
// with another process (a leased entry put back to P or E while the key is
// queued anew, an entry replaced by EnqueueLeased while another worker
// leases it), the transaction runs again or takes the contract's other
// branch; race_test.go holds those cases.
//
// Every method of store.Store is implemented, and the package passes the
// conformance suite (storetest) unchanged. Beyond it, the store tells the
// database's time (store.Clock: ferry serve takes its clock from it) and
// carries events between processes (store.Broadcaster: NOTIFY/LISTEN on
// a channel of its schema). internal/store/storeopen opens it for a
// store: postgres://... value.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

var _ store.Store = (*Store)(nil)

// DefaultSchema is the schema the store's tables live in when
// Options.Schema is empty.
const DefaultSchema = "ferry"

// Options tune Open. The zero value is the default.
type Options struct {
	// Schema holds the store's tables; default "ferry". Created when
	// missing. A lower-case identifier: letters, digits, '_'.
	Schema string
	// MaxConns bounds the pool; 0 keeps pgx's default (the larger of 4
	// and the number of CPUs), or pool_max_conns in the DSN.
	MaxConns int32
}

// Store is a store.Store backed by a PostgreSQL database.
type Store struct {
	pool   *pgxpool.Pool
	schema string
	id     string // the store's identity, read once at Open
	where  string // the database, for errors: user@host:port/db, never the password
}

// schemaName is the form Options.Schema must have: no quoting needed.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Open connects to the database at dsn (a postgres:// URL or key=value
// DSN), creates the schema when missing and applies pending migrations.
// The DSN's password never appears in an error.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Schema == "" {
		opts.Schema = DefaultSchema
	}
	if !schemaName.MatchString(opts.Schema) {
		return nil, fmt.Errorf("open postgres store: schema %q: expected a lower-case name of letters, digits and '_' (at most 63)", opts.Schema)
	}
	// pgx's parse errors redact the password themselves.
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	where := fmt.Sprintf("%s@%s:%d/%s", cfg.ConnConfig.User, cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	// Every connection resolves unqualified names in the store's schema
	// (only there: a table of the same name elsewhere is never touched).
	cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store %s: %w", where, err)
	}
	s := &Store{pool: pool, schema: opts.Schema, where: where}
	if err := migrate(ctx, pool, opts.Schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store %s schema %s: %w", where, opts.Schema, err)
	}
	if err := pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'store_id'`).Scan(&s.id); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store %s schema %s: read store identity: %w", where, opts.Schema, err)
	}
	return s, nil
}

// ID is the store's identity (32 hex digits), created once with the store.
func (s *Store) ID() string { return s.id }

// Schema is the schema the store's tables live in.
func (s *Store) Schema() string { return s.schema }

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// ms and fromMS keep times as rules.MS and rules.FromMS do.
func ms(t time.Time) int64 { return rules.MS(t) }

func fromMS(v int64) time.Time { return rules.FromMS(v) }

// maxTries bounds how often a transaction is run again after a conflict
// with a concurrent one (see retryable); the conflict leaves nothing
// behind, and a second run sees what the other committed.
const maxTries = 5

// tx runs f in one read-committed transaction, again when PostgreSQL
// aborts it for a deadlock or a serialization failure. With
// store.WithSync the commit waits for the WAL flush whatever the server's
// synchronous_commit.
func (s *Store) tx(ctx context.Context, what string, f func(tx pgx.Tx) error) error {
	var err error
	for range maxTries {
		err = s.tryTx(ctx, f)
		if !retryable(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

func (s *Store) tryTx(ctx context.Context, f func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	if store.SyncRequested(ctx) {
		if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = on`); err != nil {
			return err
		}
	}
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// retryable tells a conflict with a concurrent transaction: a deadlock, a
// serialization failure, or a second queued (P/E) entry of one key. The
// last is SQLite's single writer missing here: a statement that turns a
// leased entry back into P or E (Settle's retry, ReleaseLeases, Replay)
// checks for a queued entry of its key in its snapshot, and another
// process may queue one and commit before the row is written; run again,
// the transaction sees it and drops the older version, as the contract
// says.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == "40001" || pe.Code == "40P01" || (pe.Code == "23505" && pe.ConstraintName == "entries_queued_key")
}

// collect reads every row of rows with scan.
func collect[T any](rows pgx.Rows, scan func(pgx.Rows) (T, error)) ([]T, error) {
	defer rows.Close()
	return rules.Collect(rows, scan)
}
