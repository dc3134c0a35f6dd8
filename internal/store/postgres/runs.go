package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

const runColumns = `id, route, trigger, mode, status, started_at, ended_at, iterations, collected, sent, done, failed,
	dead, skipped, unchanged, error, owner, pruned`

func scanRun(row pgx.Row) (store.Run, error) { return rules.ScanRun(row) }

func scanRunRows(rows pgx.Rows) (store.Run, error) { return scanRun(rows) }

// CreateRun stores a new run and returns its ID.
func (s *Store) CreateRun(ctx context.Context, r store.Run) (int64, error) {
	if r.Status == "" {
		r.Status = store.RunRunning
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = time.Now()
	}
	var id int64
	err := s.tx(ctx, fmt.Sprintf("create run of route %q", r.Route), func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `INSERT INTO runs (route, trigger, mode, status, started_at, ended_at, iterations,
			collected, sent, done, failed, dead, skipped, unchanged, error, owner, pruned)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id`,
			r.Route, r.Trigger, r.Mode, string(r.Status), ms(r.StartedAt), ms(r.EndedAt), int32(r.Iterations),
			int32(r.Collected), int32(r.Sent), int32(r.Done), int32(r.Failed), int32(r.Dead), int32(r.Skipped),
			int32(r.Unchanged), r.Error, r.Owner, int32(r.Pruned)).Scan(&id)
	})
	return id, err
}

// UpdateRun overwrites the run's status, counters, end and error; its
// owner stays as created.
func (s *Store) UpdateRun(ctx context.Context, r store.Run) error {
	return s.tx(ctx, fmt.Sprintf("update run %d", r.ID), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE runs SET status = $1, ended_at = $2, iterations = $3, collected = $4, sent = $5,
			done = $6, failed = $7, dead = $8, skipped = $9, unchanged = $10, error = $11, pruned = $12 WHERE id = $13`,
			string(r.Status), ms(r.EndedAt), int32(r.Iterations), int32(r.Collected), int32(r.Sent), int32(r.Done),
			int32(r.Failed), int32(r.Dead), int32(r.Skipped), int32(r.Unchanged), r.Error, int32(r.Pruned), r.ID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

// GetRun returns one run (store.ErrNotFound if missing).
func (s *Store) GetRun(ctx context.Context, id int64) (store.Run, error) {
	r, err := scanRun(s.pool.QueryRow(ctx, `SELECT `+runColumns+` FROM runs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("run %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("run %d: %w", id, err)
	}
	return r, nil
}

// Runs lists the newest runs of route (all routes when ""), newest first.
func (s *Store) Runs(ctx context.Context, route string, limit int) ([]store.Run, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM runs WHERE ($1 = '' OR route = $1) ORDER BY id DESC LIMIT $2`, route, limit)
	if err != nil {
		return nil, fmt.Errorf("list runs of route %q: %w", route, err)
	}
	out, err := collect(rows, scanRunRows)
	if err != nil {
		return nil, fmt.Errorf("list runs of route %q: %w", route, err)
	}
	return out, nil
}

// defaultRunLimit is ListRuns' page size when the filter gives none.
const defaultRunLimit = 50

// ListRuns lists runs by filter, newest first; BeforeID pages back.
func (s *Store) ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultRunLimit
	}
	var c conds
	if f.Route != "" {
		c.add("route = ?", f.Route)
	}
	if f.Status != "" {
		c.add("status = ?", string(f.Status))
	}
	if f.BeforeID > 0 {
		c.add("id < ?", f.BeforeID)
	}
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` FROM runs WHERE `+c.sql()+` ORDER BY id DESC LIMIT `+c.next(limit), c.args...)
	if err != nil {
		return nil, fmt.Errorf("list runs (route %q, status %q): %w", f.Route, f.Status, err)
	}
	out, err := collect(rows, scanRunRows)
	if err != nil {
		return nil, fmt.Errorf("list runs (route %q, status %q): %w", f.Route, f.Status, err)
	}
	return out, nil
}

// AbandonRuns closes running runs whose worker is gone: its owner is
// dead, or it no longer holds an unexpired run lock of the run's route.
// The running runs are locked (FOR SHARE) so they cannot end meanwhile;
// unlike SQLite's single writer, a worker extending its run lock in the
// same instant is not held off (it extends before its lease expires in
// practice, so a live worker's lock is never found expired).
func (s *Store) AbandonRuns(ctx context.Context, now time.Time, dead func(owner string) bool) ([]store.Run, error) {
	if now.IsZero() {
		now = time.Now()
	}
	nowMS := ms(now)
	var closed []store.Run
	err := s.tx(ctx, "abandon runs of dead workers", func(tx pgx.Tx) error {
		closed = nil
		rows, err := tx.Query(ctx, `SELECT r.id, r.owner, coalesce(l.owner, ''), coalesce(l.until >= $1, false)
			FROM runs r LEFT JOIN route_locks l ON l.route = r.route WHERE r.status = 'running' ORDER BY r.id
			FOR SHARE OF r`, nowMS)
		if err != nil {
			return fmt.Errorf("find running runs: %w", err)
		}
		cands, err := collect(rows, func(r pgx.Rows) (rules.RunCandidate, error) { return rules.ScanRunCandidate(r) })
		if err != nil {
			return fmt.Errorf("find running runs: %w", err)
		}
		for _, c := range cands {
			why := c.AbandonReason(dead)
			if why == "" {
				continue
			}
			r, err := scanRun(tx.QueryRow(ctx, `UPDATE runs SET status = $1, ended_at = $2, error = $3
				WHERE id = $4 AND status = 'running' RETURNING `+runColumns, string(store.RunAbandoned), nowMS, why, c.ID))
			if errors.Is(err, pgx.ErrNoRows) {
				continue // it ended meanwhile
			}
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
