package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// routeKeyCond selects rows of route $1 and key $2, either "" for any.
const routeKeyCond = `($1 = '' OR route = $1) AND ($2 = '' OR key = $2)`

// newerSQL tells whether key $2 of route $1 has newer data than entry $3:
// an entry with a higher ID (queued, in error or leased) or a delivered
// entry with a higher ID.
const newerSQL = `SELECT EXISTS (SELECT 1 FROM entries WHERE route = $1 AND key = $2 AND id > $3)
	OR EXISTS (SELECT 1 FROM delivered WHERE route = $1 AND key = $2 AND entry_id > $3)`

// Replay puts selected dead letters and/or error entries back as pending
// in one transaction. The selected dead letters are locked first (FOR
// UPDATE), so two replays of one key do not both requeue it. Of several
// dead letters of a key the newest is replayed and the older ones are
// removed; a dead letter whose key has newer data stays and its key is
// reported superseded.
func (s *Store) Replay(ctx context.Context, sel store.ReplaySelector) (store.ReplayResult, error) {
	var res store.ReplayResult
	if !sel.Dead && !sel.Errors {
		return res, nil
	}
	now := rules.Now(sel.Now)
	nowMS := ms(now)
	err := s.tx(ctx, fmt.Sprintf("replay route %q", sel.Route), func(tx pgx.Tx) error {
		res = store.ReplayResult{}
		var replayed []store.Attempt
		if sel.Dead {
			r, superseded, err := replayDead(ctx, tx, sel.Route, sel.Key, nowMS)
			if err != nil {
				return err
			}
			replayed, res.Superseded = append(replayed, r...), superseded
		}
		if sel.Errors {
			r, superseded, err := replayErrors(ctx, tx, sel.Route, sel.Key, nowMS)
			if err != nil {
				return err
			}
			replayed, res.Superseded = append(replayed, r...), append(res.Superseded, superseded...)
		}
		rules.MarkReplayed(replayed, now)
		res.Replayed = len(replayed)
		return insertAttempts(ctx, tx, replayed)
	})
	if err != nil {
		return store.ReplayResult{}, err
	}
	return res, nil
}

// replayDead requeues the newest dead letter of each selected key that
// has no newer data, under its own entry ID.
func replayDead(ctx context.Context, tx pgx.Tx, route, key string, nowMS int64) ([]store.Attempt, []string, error) {
	rows, err := tx.Query(ctx, `SELECT id, entry_id, route, key, version FROM dead_letters WHERE `+routeKeyCond+`
		ORDER BY id DESC FOR UPDATE`, route, key)
	if err != nil {
		return nil, nil, fmt.Errorf("select dead letters: %w", err)
	}
	all, err := collect(rows, func(r pgx.Rows) (rules.DeadLetter, error) {
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
		if err := tx.QueryRow(ctx, newerSQL, d.Route, d.Key, d.EntryID).Scan(&newer); err != nil {
			return nil, nil, fmt.Errorf("dead letter %d: look for newer data: %w", d.ID, err)
		}
		if newer {
			superseded = append(superseded, d.Key)
			continue
		}
		// An older version of the key still queued gives way to it, as
		// on enqueue.
		if _, err := tx.Exec(ctx, `DELETE FROM entries WHERE route = $1 AND key = $2 AND status IN ('P', 'E')`, d.Route, d.Key); err != nil {
			return nil, nil, fmt.Errorf("dead letter %d: drop older queued entry: %w", d.ID, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO entries (id, route, key, version, payload, status, priority,
			attempts, last_error, next_attempt_at, created_at, updated_at, hash, deleted)
			SELECT entry_id, route, key, version, payload, 'P', priority, 0, last_error, $1, created_at, $1, hash, deleted
			FROM dead_letters WHERE id = $2`, nowMS, d.ID); err != nil {
			return nil, nil, fmt.Errorf("dead letter %d: requeue: %w", d.ID, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM dead_letters WHERE route = $1 AND key = $2 AND id <= $3`, d.Route, d.Key, d.ID); err != nil {
			return nil, nil, fmt.Errorf("dead letter %d: remove: %w", d.ID, err)
		}
		replayed = append(replayed, d.Replayed())
	}
	return replayed, superseded, nil
}

// replayErrors makes the selected error entries due now with their
// attempts reset, except those whose key has newer data.
func replayErrors(ctx context.Context, tx pgx.Tx, route, key string, nowMS int64) ([]store.Attempt, []string, error) {
	replayed, err := attemptRefs(ctx, tx, `UPDATE entries e SET status = 'P', attempts = 0, batch = '', next_attempt_at = $3, updated_at = $3
		WHERE e.status = 'E' AND ($1 = '' OR e.route = $1) AND ($2 = '' OR e.key = $2) AND NOT EXISTS (SELECT 1 FROM entries n
			WHERE n.route = e.route AND n.key = e.key AND n.status = 'L' AND n.id > e.id)
		AND NOT EXISTS (SELECT 1 FROM delivered d WHERE d.route = e.route AND d.key = e.key AND d.entry_id > e.id)
		RETURNING e.id, e.route, e.key, e.version`, []any{route, key, nowMS}, false)
	if err != nil {
		return nil, nil, fmt.Errorf("requeue errors: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT key FROM entries WHERE status = 'E' AND `+routeKeyCond+` ORDER BY id`, route, key)
	if err != nil {
		return nil, nil, fmt.Errorf("requeue errors: %w", err)
	}
	superseded, err := collect(rows, func(r pgx.Rows) (string, error) {
		var k string
		return k, r.Scan(&k)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("requeue errors: %w", err)
	}
	return replayed, superseded, nil
}
