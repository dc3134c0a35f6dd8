package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
	"github.com/ferry-dev/ferry/internal/store/storecopy"
)

var _ store.Exporter = (*Store)(nil)

// exportSelect is the query reading every row of table in
// storecopy.Columns order. The delivered payload lives in its own table
// here (see migration 0007).
func exportSelect(table string) string {
	if table == store.TableDelivered {
		return `SELECT d.route, d.key, d.entry_id, d.version, d.hash, coalesce(p.payload, x''), d.delivered_at, d.deleted
			FROM delivered d LEFT JOIN delivered_payloads p ON p.entry_id = d.entry_id ORDER BY d.route, d.key`
	}
	return `SELECT ` + strings.Join(storecopy.Columns(table), ", ") + ` FROM ` + table + ` ORDER BY ` + storecopy.OrderBy(table)
}

// Export reads every copied table in one read transaction (in WAL mode a
// snapshot that writers do not disturb), streaming rows to sink in chunks.
func (s *Store) Export(ctx context.Context, chunk int, sink func(store.Rows) error) (store.ExportInfo, error) {
	chunk, info := rules.NewExport(chunk)
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return info, fmt.Errorf("export: begin: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read only
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'store_id'`).Scan(&info.ID); err != nil {
		return info, fmt.Errorf("export: read the store identity: %w", err)
	}
	for _, table := range store.CopyTables() {
		n, err := exportTable(ctx, tx, table, chunk, sink)
		if err != nil {
			return info, fmt.Errorf("export %s: %w", table, err)
		}
		info.Counts[table] = n
	}
	rows, err := tx.QueryContext(ctx, `SELECT name, seq FROM sqlite_sequence`)
	if err != nil {
		return info, fmt.Errorf("export: read sequences: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var seq int64
		if err := rows.Scan(&name, &seq); err != nil {
			return info, fmt.Errorf("export: read sequences: %w", err)
		}
		if storecopy.HasID(name) {
			info.Sequences[name] = seq
		}
	}
	if err := rows.Err(); err != nil {
		return info, fmt.Errorf("export: read sequences: %w", err)
	}
	return info, nil
}

// exportTable streams one table to sink and returns how many rows it had.
func exportTable(ctx context.Context, tx *sql.Tx, table string, chunk int, sink func(store.Rows) error) (int64, error) {
	dest, add, err := storecopy.Scanner(table)
	if err != nil {
		return 0, err
	}
	rows, err := tx.QueryContext(ctx, exportSelect(table))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	return rules.ExportRows(rows, dest, add, chunk, sink)
}
