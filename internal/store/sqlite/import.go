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

var _ store.Importer = (*Store)(nil)

// importTx is an import into this store: one write transaction, so a
// failed copy leaves the store as empty as it was.
type importTx struct {
	s     *Store
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
}

// BeginImport starts the import transaction; it refuses a store that
// holds anything.
func (s *Store) BeginImport(ctx context.Context) (store.Import, error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("import: begin: %w", err)
	}
	counts, err := tableCounts(ctx, tx)
	if err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("import: %w", err)
	}
	if err := storecopy.CheckEmpty(counts); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return &importTx{s: s, tx: tx, stmts: map[string]*sql.Stmt{}}, nil
}

// importInsert is the statement inserting one row of table. A delivered
// row's payload goes to delivered_payloads (a second statement).
func importInsert(table string) string {
	cols := storecopy.Columns(table)
	if table == store.TableDelivered {
		cols = []string{"route", "key", "entry_id", "version", "hash", "delivered_at", "deleted"}
	}
	return `INSERT INTO ` + table + ` (` + strings.Join(cols, ", ") + `) VALUES (` + placeholders(len(cols)) + `)`
}

func (im *importTx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := im.stmts[q]; ok {
		return st, nil
	}
	st, err := im.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	im.stmts[q] = st
	return st, nil
}

// Add inserts r row by row through prepared statements (one transaction:
// SQLite inserts ~100k such rows a second).
func (im *importTx) Add(ctx context.Context, r store.Rows) error {
	table := r.Table()
	if table == "" {
		return nil
	}
	ins, err := im.stmt(ctx, importInsert(table))
	if err != nil {
		return fmt.Errorf("import %s: %w", table, err)
	}
	for i := range r.Len() {
		v := storecopy.Values(r, i)
		if table == store.TableDelivered {
			// Columns: route key entry_id version hash payload delivered_at deleted.
			if _, err := ins.ExecContext(ctx, v[0], v[1], v[2], v[3], v[4], v[6], v[7]); err != nil {
				return fmt.Errorf("import %s row %d: %w", table, i, err)
			}
			// After the row's trigger, which copies the payload of a
			// still queued entry: the delivered payload is the one kept.
			pay, err := im.stmt(ctx, `INSERT OR REPLACE INTO delivered_payloads (entry_id, payload) VALUES (?, ?)`)
			if err != nil {
				return fmt.Errorf("import %s: %w", table, err)
			}
			if _, err := pay.ExecContext(ctx, v[2], v[5]); err != nil {
				return fmt.Errorf("import %s row %d payload: %w", table, i, err)
			}
			continue
		}
		if _, err := ins.ExecContext(ctx, v...); err != nil {
			return fmt.Errorf("import %s row %d: %w", table, i, err)
		}
	}
	return nil
}

// Commit takes over the identity and the sequences, checks the counts
// and commits.
func (im *importTx) Commit(ctx context.Context, info store.ExportInfo) error {
	defer im.close()
	if info.ID == "" {
		return fmt.Errorf("import: the source store has no identity")
	}
	if _, err := im.tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'store_id'`, info.ID); err != nil {
		return fmt.Errorf("import: set the store identity: %w", err)
	}
	tables, err := rules.SequenceTables(info)
	if err != nil {
		return err
	}
	for _, t := range tables {
		// Explicit IDs moved sqlite_sequence up to the highest copied;
		// raise it to the highest ever handed out.
		res, err := im.tx.ExecContext(ctx, `UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?`, info.Sequences[t], t)
		if err != nil {
			return fmt.Errorf("import: sequence of %s: %w", t, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := im.tx.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)`, t, info.Sequences[t]); err != nil {
				return fmt.Errorf("import: sequence of %s: %w", t, err)
			}
		}
	}
	got, err := tableCounts(ctx, im.tx)
	if err != nil {
		return fmt.Errorf("import: final check: %w", err)
	}
	if err := storecopy.CheckCounts(got, info.Counts); err != nil {
		return err
	}
	if err := im.tx.Commit(); err != nil {
		return fmt.Errorf("import: commit: %w", err)
	}
	im.s.ckpt.committed() // the whole copy is in the log
	return nil
}

func (im *importTx) Rollback(ctx context.Context) error {
	im.close()
	if err := im.tx.Rollback(); err != nil && err != sql.ErrTxDone {
		return fmt.Errorf("import: rollback: %w", err)
	}
	return nil
}

func (im *importTx) close() {
	for _, st := range im.stmts {
		st.Close()
	}
	im.stmts = map[string]*sql.Stmt{}
}

// querier is what tableCounts needs of a transaction or a pool.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tableCounts counts the rows of every copied table.
func tableCounts(ctx context.Context, q querier) (map[string]int64, error) {
	out := map[string]int64{}
	for _, t := range store.CopyTables() {
		var n int64
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM `+t).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}
