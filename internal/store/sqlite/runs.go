package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// AbandonRuns closes running runs whose worker is gone: its owner is dead,
// or it no longer holds an unexpired run lock of the run's route (a live
// worker extends its lock while it runs). A run without an owner (written
// before runs carried one) is closed only when nobody holds the route's
// lock. Everything happens in one write transaction, so a worker cannot
// take the lock between the check and the update.
func (s *Store) AbandonRuns(ctx context.Context, now time.Time, dead func(owner string) bool) ([]store.Run, error) {
	if now.IsZero() {
		now = time.Now()
	}
	nowMS := ms(now)
	var closed []store.Run
	err := s.writeTx(ctx, "abandon runs of dead workers", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT r.id, r.owner, coalesce(l.owner, ''), coalesce(l.until >= ?, 0)
			FROM runs r LEFT JOIN route_locks l ON l.route = r.route WHERE r.status = 'running' ORDER BY r.id`, nowMS)
		if err != nil {
			return fmt.Errorf("find running runs: %w", err)
		}
		cands, err := collectRows(rows, rules.ScanRunCandidate)
		if err != nil {
			return fmt.Errorf("find running runs: %w", err)
		}
		for _, c := range cands {
			why := c.AbandonReason(dead)
			if why == "" {
				continue
			}
			r, err := scanRun(tx.QueryRowContext(ctx, `UPDATE runs SET status = ?, ended_at = ?, error = ?
				WHERE id = ? AND status = 'running' RETURNING `+runColumns, string(store.RunAbandoned), nowMS, why, c.ID))
			if err != nil {
				return fmt.Errorf("abandon run %d: %w", c.ID, err)
			}
			closed = append(closed, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return closed, nil
}
