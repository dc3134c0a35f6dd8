package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
	"github.com/ferry-dev/ferry/internal/store/storecopy"
)

var _ store.Exporter = (*Store)(nil)

// Export reads every copied table in one REPEATABLE READ, read-only
// transaction (one snapshot for all tables), streaming rows to sink in
// chunks: pgx reads a result from the network as it is scanned.
func (s *Store) Export(ctx context.Context, chunk int, sink func(store.Rows) error) (store.ExportInfo, error) {
	chunk, info := rules.NewExport(chunk)
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return info, fmt.Errorf("export: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	if err := tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'store_id'`).Scan(&info.ID); err != nil {
		return info, fmt.Errorf("export: read the store identity: %w", err)
	}
	for _, table := range store.CopyTables() {
		n, err := exportTable(ctx, tx, table, chunk, sink)
		if err != nil {
			return info, fmt.Errorf("export %s: %w", table, err)
		}
		info.Counts[table] = n
		if storecopy.HasID(table) {
			// Sequences are outside transactions: the value read now is
			// at least the highest ID of the snapshot.
			var seq int64
			if err := tx.QueryRow(ctx, `SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence($1, 'id')::regclass), 0)`, table).Scan(&seq); err != nil {
				return info, fmt.Errorf("export: sequence of %s: %w", table, err)
			}
			info.Sequences[table] = seq
		}
	}
	return info, nil
}

// exportTable streams one table to sink and returns how many rows it had.
func exportTable(ctx context.Context, tx pgx.Tx, table string, chunk int, sink func(store.Rows) error) (int64, error) {
	dest, add, err := storecopy.Scanner(table)
	if err != nil {
		return 0, err
	}
	rows, err := tx.Query(ctx, `SELECT `+strings.Join(storecopy.Columns(table), ", ")+` FROM `+table+` ORDER BY `+storecopy.OrderBy(table))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	return rules.ExportRows(rows, dest, add, chunk, sink)
}
