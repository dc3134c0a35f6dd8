package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
	"github.com/ferry-dev/ferry/internal/store/storecopy"
)

var _ store.Importer = (*Store)(nil)

// importTx is an import into this store: one transaction, rows in by
// COPY, so a failed copy leaves the schema as empty as it was.
type importTx struct {
	tx pgx.Tx
}

// BeginImport starts the import transaction. It locks the copied tables
// against writers (a ferry process started meanwhile waits) and refuses
// a store that holds anything.
func (s *Store) BeginImport(ctx context.Context) (store.Import, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("import: begin: %w", err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(store.CopyTables(), ", ")+` IN EXCLUSIVE MODE`); err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("import: lock the tables: %w", err)
	}
	counts, err := tableCounts(ctx, tx)
	if err != nil {
		_ = tx.Rollback(ctx)
		return nil, fmt.Errorf("import: %w", err)
	}
	if err := storecopy.CheckEmpty(counts); err != nil {
		_ = tx.Rollback(ctx)
		return nil, err
	}
	return &importTx{tx: tx}, nil
}

// Add copies r into its table with COPY FROM.
func (im *importTx) Add(ctx context.Context, r store.Rows) error {
	table := r.Table()
	if table == "" {
		return nil
	}
	src := make([][]any, r.Len())
	for i := range src {
		src[i] = storecopy.Values(r, i)
	}
	n, err := im.tx.CopyFrom(ctx, pgx.Identifier{table}, storecopy.Columns(table), pgx.CopyFromRows(src))
	if err != nil {
		return fmt.Errorf("import %s: %w", table, err)
	}
	if n != int64(len(src)) {
		return fmt.Errorf("import %s: %d of %d rows copied", table, n, len(src))
	}
	return nil
}

// Commit takes over the identity and the sequences, checks the counts
// and commits.
func (im *importTx) Commit(ctx context.Context, info store.ExportInfo) error {
	if info.ID == "" {
		_ = im.tx.Rollback(ctx)
		return fmt.Errorf("import: the source store has no identity")
	}
	err := im.finish(ctx, info)
	if err != nil {
		_ = im.tx.Rollback(ctx)
		return err
	}
	if err := im.tx.Commit(ctx); err != nil {
		return fmt.Errorf("import: commit: %w", err)
	}
	return nil
}

func (im *importTx) finish(ctx context.Context, info store.ExportInfo) error {
	if _, err := im.tx.Exec(ctx, `UPDATE meta SET value = $1 WHERE key = 'store_id'`, info.ID); err != nil {
		return fmt.Errorf("import: set the store identity: %w", err)
	}
	tables, err := rules.SequenceTables(info)
	if err != nil {
		return err
	}
	for _, t := range tables {
		// Explicit IDs do not move an identity's sequence: set it to the
		// highest ID the source ever handed out (or copied, if higher).
		var max int64
		if err := im.tx.QueryRow(ctx, `SELECT greatest($1::bigint, coalesce(max(id), 0)) FROM `+pgx.Identifier{t}.Sanitize(), info.Sequences[t]).Scan(&max); err != nil {
			return fmt.Errorf("import: sequence of %s: %w", t, err)
		}
		if max == 0 {
			continue
		}
		if _, err := im.tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), $2)`, t, max); err != nil {
			return fmt.Errorf("import: sequence of %s: %w", t, err)
		}
	}
	got, err := tableCounts(ctx, im.tx)
	if err != nil {
		return fmt.Errorf("import: final check: %w", err)
	}
	return storecopy.CheckCounts(got, info.Counts)
}

func (im *importTx) Rollback(ctx context.Context) error {
	if err := im.tx.Rollback(ctx); err != nil && !errors.Is(err, pgx.ErrTxClosed) {
		return fmt.Errorf("import: rollback: %w", err)
	}
	return nil
}

// querier is what tableCounts needs of a transaction or the pool.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// tableCounts counts the rows of every copied table.
func tableCounts(ctx context.Context, q querier) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range store.CopyTables() {
		var n int64
		if err := q.QueryRow(ctx, `SELECT count(*) FROM `+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}
