package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

var _ store.Inspector = (*Store)(nil)

// Kind names the store for ferry store status.
func (s *Store) Kind() string { return "sqlite" }

// SchemaVersion is the highest migration applied and the highest known.
func (s *Store) SchemaVersion(ctx context.Context) (applied, known int, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return 0, 0, fmt.Errorf("schema version: %w", err)
	}
	known = rules.Known(ms)
	if err := s.read.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&applied); err != nil {
		return 0, known, fmt.Errorf("schema version: %w", err)
	}
	return applied, known, nil
}

// Leaders lists the roles held, expired ones too.
func (s *Store) Leaders(ctx context.Context) ([]store.Leader, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT role, owner, until FROM leaders ORDER BY role`)
	if err != nil {
		return nil, fmt.Errorf("leaders: %w", err)
	}
	out, err := collectRows(rows, rules.ScanLeader)
	if err != nil {
		return nil, fmt.Errorf("leaders: %w", err)
	}
	return out, nil
}

// LeaseCounts counts leased entries per route and owner.
func (s *Store) LeaseCounts(ctx context.Context) ([]store.LeaseCount, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT route, lease_owner, count(*), max(lease_until) FROM entries
		WHERE status = 'L' GROUP BY route, lease_owner ORDER BY route, lease_owner`)
	if err != nil {
		return nil, fmt.Errorf("lease counts: %w", err)
	}
	out, err := collectRows(rows, rules.ScanLeaseCount)
	if err != nil {
		return nil, fmt.Errorf("lease counts: %w", err)
	}
	return out, nil
}

// TableCounts counts the rows of every copied table.
func (s *Store) TableCounts(ctx context.Context) (map[string]int64, error) {
	out, err := tableCounts(ctx, s.read)
	if err != nil {
		return nil, fmt.Errorf("table counts: %w", err)
	}
	return out, nil
}

// PeekSchemaVersion reads the schema version of the store at path
// without migrating it (0 when the file or its schema does not exist
// yet), for ferry store migrate's "before".
func PeekSchemaVersion(ctx context.Context, path string) (int, error) {
	file, _, err := parsePath(path)
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	db, err := sql.Open("sqlite", file+"?_pragma=query_only(1)&_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, fmt.Errorf("store %s: %w", file, err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&tables); err != nil {
		return 0, fmt.Errorf("store %s: %w", file, err)
	}
	if tables == 0 {
		return 0, nil
	}
	var v int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("store %s: schema version: %w", file, err)
	}
	return v, nil
}
