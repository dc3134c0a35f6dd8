package postgres

import (
	"context"
	"embed"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ferry-dev/ferry/internal/store/rules"
)

// migrations are numbered files "NNNN_name.sql", applied in order once
// each, forward-only, like the SQLite store's (its own files: the
// dialects differ).
//
//go:embed migrations/*.sql
var migrations embed.FS

// loadMigrations reads the embedded migrations, in version order.
func loadMigrations() ([]rules.Migration, error) {
	return rules.LoadMigrations(migrations, "migrations")
}

// migrate creates schema when missing and applies the migrations it has
// not seen, all in one transaction that first takes a transaction-scoped
// advisory lock named after the schema: a second process starting at the
// same moment waits for the first to commit, then finds nothing to do.
// DDL is transactional in PostgreSQL, so a failed migration leaves
// nothing half done.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	ms, err := loadMigrations()
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('ferry migrate ' || $1, 0))`, schema); err != nil {
		return fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+ident); err != nil {
		return fmt.Errorf("migrate: create schema: %w", err)
	}
	// The connection's search_path named the schema before it existed;
	// set it again for this transaction so the DDL below lands in it.
	if _, err := tx.Exec(ctx, `SET LOCAL search_path TO `+ident); err != nil {
		return fmt.Errorf("migrate: set search_path: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	pending, err := rules.Pending(ms, current)
	if err != nil {
		return err
	}
	for _, m := range pending {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
			m.Version, m.Name, time.Now().UnixMilli()); err != nil {
			return fmt.Errorf("migration %s: record: %w", m.Name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}
