package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

const defaultLimit = 100

// Entries lists entries by filter, ordered by ID. Route "" lists all routes.
func (s *Store) Entries(ctx context.Context, f store.EntryFilter) ([]store.Entry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	var (
		where []string
		args  []any
	)
	if f.Route != "" {
		where, args = append(where, "route = ?"), append(args, f.Route)
	}
	switch {
	case f.Status != "" && f.Key != "" && (f.Status == store.StatusPending || f.Status == store.StatusError):
		// Named so SQLite may use the (route, key) index of P/E entries:
		// it cannot tell that status = 'E' implies the index's WHERE.
		where, args = append(where, "status IN ('P', 'E')", "status = ?"), append(args, string(f.Status))
	case f.Status != "":
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	case f.Key != "":
		// Spelled out so SQLite may use the partial indexes for a key.
		where = append(where, "status IN ('P', 'E', 'L')")
	}
	if f.Key != "" {
		where, args = append(where, "key = ?"), append(args, f.Key)
	}
	where, args = append(where, "id > ?"), append(args, f.AfterID)
	args = append(args, limit)
	q := `SELECT ` + entryColumns + ` FROM entries WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id LIMIT ?`
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list entries of route %q: %w", f.Route, err)
	}
	defer rows.Close()
	var out []store.Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("list entries of route %q: %w", f.Route, err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Entry returns one entry (store.ErrNotFound if gone).
func (s *Store) Entry(ctx context.Context, id int64) (store.Entry, error) {
	e, err := scanEntry(s.read.QueryRowContext(ctx, `SELECT `+entryColumns+` FROM entries WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("entry %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("entry %d: %w", id, err)
	}
	return e, nil
}

const attemptColumns = `id, entry_id, route, key, version, run_id, at, outcome, status_code, error,
	request, response, duration_ms, idempotency_key, op`

func (s *Store) queryAttempts(ctx context.Context, q string, args ...any) ([]store.Attempt, error) {
	rows, err := s.read.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collectRows(rows, rules.ScanAttempt)
}

// Attempts lists the attempts of an entry ID, oldest first.
func (s *Store) Attempts(ctx context.Context, entryID int64) ([]store.Attempt, error) {
	out, err := s.queryAttempts(ctx, `SELECT `+attemptColumns+` FROM attempts WHERE entry_id = ? ORDER BY id`, entryID)
	if err != nil {
		return nil, fmt.Errorf("attempts of entry %d: %w", entryID, err)
	}
	return out, nil
}

// RecentAttempts lists the newest attempts of route, newest first.
func (s *Store) RecentAttempts(ctx context.Context, route string, limit int) ([]store.Attempt, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	out, err := s.queryAttempts(ctx, `SELECT `+attemptColumns+` FROM attempts WHERE route = ? ORDER BY id DESC LIMIT ?`, route, limit)
	if err != nil {
		return nil, fmt.Errorf("recent attempts of route %q: %w", route, err)
	}
	return out, nil
}

// countsQuery counts one route's queue; each count reads one partial index.
const countsQuery = `SELECT
	(SELECT count(*) FROM entries WHERE route = ?1 AND status = 'P'),
	(SELECT count(*) FROM entries WHERE route = ?1 AND status = 'E'),
	(SELECT count(*) FROM entries WHERE route = ?1 AND status = 'L'),
	(SELECT count(*) FROM dead_letters WHERE route = ?1),
	(SELECT count(*) FROM outbox WHERE route = ?1 AND dead = 0),
	(SELECT count(*) FROM outbox WHERE route = ?1 AND dead = 1)`

// Counts returns the queue sizes of route.
func (s *Store) Counts(ctx context.Context, route string) (store.Counts, error) {
	var c store.Counts
	st, err := s.readStmt(ctx, countsQuery)
	if err != nil {
		return c, fmt.Errorf("count queue of route %q: %w", route, err)
	}
	err = st.QueryRowContext(ctx, route).Scan(&c.Pending, &c.Error, &c.Leased, &c.Dead, &c.Outbox, &c.OutboxDead)
	if err != nil {
		return c, fmt.Errorf("count queue of route %q: %w", route, err)
	}
	return c, nil
}

// NextDue returns the earliest NextAttemptAt among the route's E entries.
func (s *Store) NextDue(ctx context.Context, route string) (time.Time, bool, error) {
	var at sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM entries WHERE route = ? AND status = 'E'`, route).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next due error of route %q: %w", route, err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromMS(at.Int64), true, nil
}

// DeadLetters lists dead letters by filter, ordered by ID. Route "" lists all routes.
func (s *Store) DeadLetters(ctx context.Context, f store.DeadFilter) ([]store.DeadLetter, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	where, args := routeKeyWhere(f.Route, f.Key)
	where, args = append(where, "id > ?"), append(args, f.AfterID, limit)
	rows, err := s.read.QueryContext(ctx, `SELECT id, entry_id, route, key, version, payload, priority, attempts,
		last_error, created_at, died_at, hash, deleted FROM dead_letters WHERE `+strings.Join(where, " AND ")+` ORDER BY id LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("list dead letters of route %q: %w", f.Route, err)
	}
	defer rows.Close()
	var out []store.DeadLetter
	for rows.Next() {
		var (
			d             store.DeadLetter
			payload       []byte
			created, died int64
		)
		if err := rows.Scan(&d.ID, &d.EntryID, &d.Route, &d.Key, &d.Version, &payload, &d.Priority, &d.Attempts,
			&d.LastError, &created, &died, &d.Hash, &d.Deleted); err != nil {
			return nil, fmt.Errorf("list dead letters of route %q: %w", f.Route, err)
		}
		d.Payload, d.CreatedAt, d.DiedAt = payload, fromMS(created), fromMS(died)
		out = append(out, d)
	}
	return out, rows.Err()
}

func routeKeyWhere(route, key string) ([]string, []any) {
	var (
		where []string
		args  []any
	)
	if route != "" {
		where, args = append(where, "route = ?"), append(args, route)
	}
	if key != "" {
		where, args = append(where, "key = ?"), append(args, key)
	}
	return where, args
}

// CreateRun stores a new run and returns its ID.
func (s *Store) CreateRun(ctx context.Context, r store.Run) (int64, error) {
	if r.Status == "" {
		r.Status = store.RunRunning
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = time.Now()
	}
	var id int64
	err := s.writeTx(ctx, fmt.Sprintf("create run of route %q", r.Route), func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO runs (route, trigger, mode, status, started_at, ended_at, iterations,
			collected, sent, done, failed, dead, skipped, unchanged, error, owner, pruned)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.Route, r.Trigger, r.Mode, string(r.Status), ms(r.StartedAt), ms(r.EndedAt), r.Iterations,
			r.Collected, r.Sent, r.Done, r.Failed, r.Dead, r.Skipped, r.Unchanged, r.Error, r.Owner, r.Pruned).Scan(&id)
	})
	return id, err
}

// UpdateRun overwrites the run's status, counters, end and error; its
// owner stays as created.
func (s *Store) UpdateRun(ctx context.Context, r store.Run) error {
	return s.writeTx(ctx, fmt.Sprintf("update run %d", r.ID), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, ended_at = ?, iterations = ?, collected = ?, sent = ?,
			done = ?, failed = ?, dead = ?, skipped = ?, unchanged = ?, error = ?, pruned = ? WHERE id = ?`,
			string(r.Status), ms(r.EndedAt), r.Iterations, r.Collected, r.Sent, r.Done, r.Failed, r.Dead, r.Skipped,
			r.Unchanged, r.Error, r.Pruned, r.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
}

const runColumns = `id, route, trigger, mode, status, started_at, ended_at, iterations, collected, sent, done, failed,
	dead, skipped, unchanged, error, owner, pruned`

func scanRun(row scanner) (store.Run, error) { return rules.ScanRun(row) }

// Runs lists the newest runs of route (all routes when ""), newest first.
func (s *Store) Runs(ctx context.Context, route string, limit int) ([]store.Run, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	where, args := routeKeyWhere(route, "")
	where = append(where, "1")
	rows, err := s.read.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list runs of route %q: %w", route, err)
	}
	defer rows.Close()
	var out []store.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs of route %q: %w", route, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// defaultRunLimit is ListRuns' page size when the filter gives none.
const defaultRunLimit = 50

// ListRuns lists runs by filter, newest first; BeforeID pages back.
func (s *Store) ListRuns(ctx context.Context, f store.RunFilter) ([]store.Run, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultRunLimit
	}
	where, args := routeKeyWhere(f.Route, "")
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, string(f.Status))
	}
	if f.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	where = append(where, "1")
	rows, err := s.read.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE `+strings.Join(where, " AND ")+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list runs (route %q, status %q): %w", f.Route, f.Status, err)
	}
	defer rows.Close()
	var out []store.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs (route %q, status %q): %w", f.Route, f.Status, err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// GetRun returns one run (store.ErrNotFound if missing).
func (s *Store) GetRun(ctx context.Context, id int64) (store.Run, error) {
	r, err := scanRun(s.read.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("run %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("run %d: %w", id, err)
	}
	return r, nil
}

// errorEntriesCond is cond for statements on error entries (status = 'E'
// AND cond). With a key it also names the queued statuses, so SQLite can
// use the (route, key) partial index of P/E entries: it cannot see that
// status = 'E' implies the index's WHERE, and would scan every error
// entry of the route instead (tens of ms per key with 15,000 of them).
// Without a key the due index on E entries fits better.
func errorEntriesCond(cond, key string) string {
	if key == "" {
		return cond
	}
	return "status IN ('P', 'E') AND " + cond
}
