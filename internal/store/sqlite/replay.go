package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// newerSQL tells whether the key of a replay candidate has newer data: an
// entry with a higher ID (queued, in error or leased; each status spelled
// out so the partial indexes serve it) or a delivered entry with a higher
// ID. Parameters: route, key, entry ID.
const newerSQL = `SELECT EXISTS (SELECT 1 FROM entries WHERE route = ?1 AND key = ?2 AND status IN ('P', 'E') AND id > ?3)
	OR EXISTS (SELECT 1 FROM entries WHERE route = ?1 AND key = ?2 AND status = 'L' AND id > ?3)
	OR EXISTS (SELECT 1 FROM delivered WHERE route = ?1 AND key = ?2 AND entry_id > ?3)`

// Replay puts selected dead letters and/or error entries back as pending
// in one write transaction, so it is safe while a run of the route leases
// and settles: the check for newer data and the requeue see the same
// state. Of several dead letters of a key the newest is replayed and the
// older ones are removed; a dead letter whose key has newer data stays
// and its key is reported superseded.
func (s *Store) Replay(ctx context.Context, sel store.ReplaySelector) (store.ReplayResult, error) {
	var res store.ReplayResult
	if !sel.Dead && !sel.Errors {
		return res, nil
	}
	now := rules.Now(sel.Now)
	nowMS := ms(now)
	where, args := routeKeyWhere(sel.Route, sel.Key)
	where = append(where, "1")
	cond := strings.Join(where, " AND ")
	errCond := errorEntriesCond(cond, sel.Key)
	err := s.writeTx(ctx, fmt.Sprintf("replay route %q", sel.Route), func(tx *sql.Tx) error {
		var replayed []store.Attempt
		if sel.Dead {
			r, superseded, err := s.replayDead(ctx, tx, cond, args, nowMS)
			if err != nil {
				return err
			}
			replayed, res.Superseded = append(replayed, r...), superseded
		}
		if sel.Errors {
			r, superseded, err := s.replayErrors(ctx, tx, errCond, args, nowMS)
			if err != nil {
				return err
			}
			replayed, res.Superseded = append(replayed, r...), append(res.Superseded, superseded...)
		}
		rules.MarkReplayed(replayed, now)
		res.Replayed = len(replayed)
		return s.insertAttempts(ctx, tx, replayed)
	})
	if err != nil {
		return store.ReplayResult{}, err
	}
	return res, nil
}

// replayDead requeues the newest dead letter of each selected key that
// has no newer data, under its own entry ID. It returns an attempt (route,
// key, version, entry) per replayed entry and the superseded keys.
func (s *Store) replayDead(ctx context.Context, tx *sql.Tx, cond string, args []any, nowMS int64) ([]store.Attempt, []string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, entry_id, route, key, version FROM dead_letters WHERE `+cond+` ORDER BY id DESC`, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("select dead letters: %w", err)
	}
	all, err := collectRows(rows, func(r rules.Scanner) (rules.DeadLetter, error) {
		var d rules.DeadLetter
		return d, r.Scan(&d.ID, &d.EntryID, &d.Route, &d.Key, &d.Version)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("select dead letters: %w", err)
	}
	var (
		replayed   []store.Attempt
		superseded []string
	)
	for _, d := range rules.NewestPerKey(all) { // in the order they died
		var newer bool
		if err := tx.QueryRowContext(ctx, newerSQL, d.Route, d.Key, d.EntryID).Scan(&newer); err != nil {
			return nil, nil, fmt.Errorf("dead letter %d: look for newer data: %w", d.ID, err)
		}
		if newer {
			superseded = append(superseded, d.Key)
			continue
		}
		// An older version of the key still queued (released back after
		// this one died) gives way to it, as on enqueue.
		if _, err := tx.ExecContext(ctx, `DELETE FROM entries WHERE route = ? AND key = ? AND status IN ('P', 'E')`, d.Route, d.Key); err != nil {
			return nil, nil, fmt.Errorf("dead letter %d: drop older queued entry: %w", d.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO entries (id, route, key, version, payload, status, priority,
			attempts, last_error, next_attempt_at, created_at, updated_at, hash, deleted)
			SELECT entry_id, route, key, version, payload, 'P', priority, 0, last_error, ?, created_at, ?, hash, deleted
			FROM dead_letters WHERE id = ?`, nowMS, nowMS, d.ID); err != nil {
			return nil, nil, fmt.Errorf("dead letter %d: requeue: %w", d.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM dead_letters WHERE route = ? AND key = ? AND id <= ?`, d.Route, d.Key, d.ID); err != nil {
			return nil, nil, fmt.Errorf("dead letter %d: remove: %w", d.ID, err)
		}
		replayed = append(replayed, d.Replayed())
	}
	return replayed, superseded, nil
}

// replayErrors makes the selected error entries due now with their
// attempts reset, except those whose key has newer data (which the queue
// rules should never let happen; checked all the same).
func (s *Store) replayErrors(ctx context.Context, tx *sql.Tx, cond string, args []any, nowMS int64) ([]store.Attempt, []string, error) {
	// ?1 comes first in the text, so the anonymous parameters of cond
	// number from 2 on.
	replayed, err := attemptRefs(ctx, tx, `UPDATE entries SET status = 'P', attempts = 0, batch = '', next_attempt_at = ?1, updated_at = ?1
		WHERE status = 'E' AND `+cond+` AND NOT EXISTS (SELECT 1 FROM entries n
			WHERE n.route = entries.route AND n.key = entries.key AND n.status = 'L' AND n.id > entries.id)
		AND NOT EXISTS (SELECT 1 FROM delivered d WHERE d.route = entries.route AND d.key = entries.key AND d.entry_id > entries.id)
		RETURNING id, route, key, version`, append([]any{nowMS}, args...), false)
	if err != nil {
		return nil, nil, fmt.Errorf("requeue errors: %w", err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT key FROM entries WHERE status = 'E' AND `+cond, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("requeue errors: %w", err)
	}
	var superseded []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("requeue errors: %w", err)
		}
		superseded = append(superseded, k)
	}
	if err := closeRows(rows); err != nil {
		return nil, nil, fmt.Errorf("requeue errors: %w", err)
	}
	return replayed, superseded, nil
}
