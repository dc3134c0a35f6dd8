package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

var _ store.Inspector = (*Store)(nil)

// Kind names the store for ferry store status.
func (s *Store) Kind() string { return "postgres" }

// SchemaVersion is the highest migration applied and the highest known.
func (s *Store) SchemaVersion(ctx context.Context) (applied, known int, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	known = rules.Known(ms)
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
		return 0, known, fmt.Errorf("schema version: %w", err)
	}
	return applied, known, nil
}

// Leaders lists the roles held, expired ones too.
func (s *Store) Leaders(ctx context.Context) ([]store.Leader, error) {
	rows, err := s.pool.Query(ctx, `SELECT role, owner, until FROM leaders ORDER BY role`)
	if err != nil {
		return nil, fmt.Errorf("leaders: %w", err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.Leader, error) { return rules.ScanLeader(r) })
	if err != nil {
		return nil, fmt.Errorf("leaders: %w", err)
	}
	return out, nil
}

// LeaseCounts counts leased entries per route and owner.
func (s *Store) LeaseCounts(ctx context.Context) ([]store.LeaseCount, error) {
	rows, err := s.pool.Query(ctx, `SELECT route, lease_owner, count(*), max(lease_until) FROM entries
		WHERE status = 'L' GROUP BY route, lease_owner ORDER BY route, lease_owner`)
	if err != nil {
		return nil, fmt.Errorf("lease counts: %w", err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.LeaseCount, error) { return rules.ScanLeaseCount(r) })
	if err != nil {
		return nil, fmt.Errorf("lease counts: %w", err)
	}
	return out, nil
}

// TableCounts counts the rows of every copied table.
func (s *Store) TableCounts(ctx context.Context) (map[string]int64, error) {
	out, err := tableCounts(ctx, s.pool)
	if err != nil {
		return nil, fmt.Errorf("table counts: %w", err)
	}
	return out, nil
}

// PeekSchemaVersion reads the schema version of the store at dsn in
// opts.Schema without migrating it (0 when the schema or its tables do
// not exist yet), for ferry store migrate's "before".
func PeekSchemaVersion(ctx context.Context, dsn string, opts Options) (int, error) {
	if opts.Schema == "" {
		opts.Schema = DefaultSchema
	}
	if !schemaName.MatchString(opts.Schema) {
		return 0, fmt.Errorf("postgres store: schema %q: expected a lower-case name of letters, digits and '_' (at most 63)", opts.Schema)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("postgres store: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, pgx.Identifier{opts.Schema, "schema_migrations"}.Sanitize()).Scan(&exists); err != nil {
		return 0, fmt.Errorf("postgres store schema %s: %w", opts.Schema, err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := conn.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+pgx.Identifier{opts.Schema, "schema_migrations"}.Sanitize()).Scan(&v); err != nil {
		return 0, fmt.Errorf("postgres store schema %s: schema version: %w", opts.Schema, err)
	}
	return v, nil
}
