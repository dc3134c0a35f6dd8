package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
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
		type candidate struct {
			id                int64
			owner, lockHolder string
			lockLive          bool
		}
		rows, err := tx.QueryContext(ctx, `SELECT r.id, r.owner, coalesce(l.owner, ''), coalesce(l.until >= ?, 0)
			FROM runs r LEFT JOIN route_locks l ON l.route = r.route WHERE r.status = 'running' ORDER BY r.id`, nowMS)
		if err != nil {
			return fmt.Errorf("find running runs: %w", err)
		}
		var cands []candidate
		for rows.Next() {
			var c candidate
			if err := rows.Scan(&c.id, &c.owner, &c.lockHolder, &c.lockLive); err != nil {
				rows.Close()
				return fmt.Errorf("find running runs: %w", err)
			}
			cands = append(cands, c)
		}
		if err := closeRows(rows); err != nil {
			return fmt.Errorf("find running runs: %w", err)
		}
		for _, c := range cands {
			why := abandonReason(c.owner, c.lockHolder, c.lockLive, dead)
			if why == "" {
				continue
			}
			r, err := scanRun(tx.QueryRowContext(ctx, `UPDATE runs SET status = ?, ended_at = ?, error = ?
				WHERE id = ? AND status = 'running' RETURNING `+runColumns, string(store.RunAbandoned), nowMS, why, c.id))
			if err != nil {
				return fmt.Errorf("abandon run %d: %w", c.id, err)
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

// abandonReason says why a running run is abandoned, or "" when its
// worker is alive.
func abandonReason(owner, lockHolder string, lockLive bool, dead func(string) bool) string {
	switch {
	case owner == "" && lockLive:
		return "" // an old run: someone runs the route, perhaps this one
	case owner == "":
		return "its worker is gone (no run lock is held)"
	case dead != nil && dead(owner):
		return fmt.Sprintf("worker %s died", owner)
	case !lockLive || lockHolder != owner:
		return fmt.Sprintf("worker %s lost its run lock", owner)
	}
	return ""
}
