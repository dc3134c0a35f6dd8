package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// Beat inserts or updates the process's row by ID. StartedAt is kept
// from the first beat when a later one leaves it zero.
func (s *Store) Beat(ctx context.Context, p store.Process) error {
	if p.ID == "" {
		return fmt.Errorf("beat: empty process id")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO processes AS p (id, host, pid, version, listen, started_at, seen_at, until)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = excluded.version,
			listen = excluded.listen, seen_at = excluded.seen_at, until = excluded.until,
			started_at = CASE WHEN excluded.started_at = 0 THEN p.started_at ELSE excluded.started_at END`,
		p.ID, p.Host, int32(p.PID), p.Version, p.Listen, ms(p.StartedAt), ms(p.SeenAt), ms(p.Until))
	if err != nil {
		return fmt.Errorf("beat of process %q: %w", p.ID, err)
	}
	return nil
}

// Processes lists the processes that beat, the last started first.
func (s *Store) Processes(ctx context.Context) ([]store.Process, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, host, pid, version, listen, started_at, seen_at, until
		FROM processes ORDER BY started_at DESC, id`)
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.Process, error) { return rules.ScanProcess(r) })
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	return out, nil
}

// ForgetProcess removes the process's row; no error when there is none.
func (s *Store) ForgetProcess(ctx context.Context, id string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM processes WHERE id = $1`, id); err != nil {
		return fmt.Errorf("forget process %q: %w", id, err)
	}
	return nil
}
