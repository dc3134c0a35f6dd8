package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// Beat inserts or updates the process's row by ID. StartedAt is kept
// from the first beat when a later one leaves it zero.
func (s *Store) Beat(ctx context.Context, p store.Process) error {
	if p.ID == "" {
		return fmt.Errorf("beat: empty process id")
	}
	return s.writeTx(ctx, fmt.Sprintf("beat of process %q", p.ID), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO processes (id, host, pid, version, listen, started_at, seen_at, until)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version,
				listen = excluded.listen, seen_at = excluded.seen_at, until = excluded.until,
				started_at = CASE WHEN excluded.started_at = 0 THEN processes.started_at ELSE excluded.started_at END`,
			p.ID, p.Host, p.PID, p.Version, p.Listen, ms(p.StartedAt), ms(p.SeenAt), ms(p.Until))
		return err
	})
}

// Processes lists the processes that beat, the last started first.
func (s *Store) Processes(ctx context.Context) ([]store.Process, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT id, host, pid, version, listen, started_at, seen_at, until
		FROM processes ORDER BY started_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	out, err := collectRows(rows, rules.ScanProcess)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	return out, nil
}

// ForgetProcess removes the process's row; no error when there is none.
func (s *Store) ForgetProcess(ctx context.Context, id string) error {
	return s.writeTx(ctx, fmt.Sprintf("forget process %q", id), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM processes WHERE id = ?`, id)
		return err
	})
}
