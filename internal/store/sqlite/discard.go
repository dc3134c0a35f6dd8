package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// Discard removes the selected error entries, dead letters and/or dead
// outbox items in one transaction, recording a discarded attempt for each.
// Only status E is touched in the queue: pending and leased entries are
// never discarded. A discarded entry's content becomes its key's
// delivered content (the user dealt with the destination by hand), so
// reading it again is unchanged.
func (s *Store) Discard(ctx context.Context, sel store.DiscardSelector) (int, error) {
	if !sel.Dead && !sel.Errors && !sel.Operations {
		return 0, nil
	}
	now, why := rules.Now(sel.Now), rules.DiscardWhy(sel)
	where, args := routeKeyWhere(sel.Route, sel.Key)
	where = append(where, "1")
	cond := strings.Join(where, " AND ")
	errCond := errorEntriesCond(cond, sel.Key)
	var discarded []store.Attempt
	err := s.writeTx(ctx, fmt.Sprintf("discard in route %q", sel.Route), func(tx *sql.Tx) error {
		nowMS := ms(now)
		if sel.Errors {
			if err := s.discardedAsDelivered(ctx, tx, `SELECT route, key, id, version, hash, ?, deleted FROM entries WHERE status = 'E' AND `+errCond, args, nowMS); err != nil {
				return fmt.Errorf("discard errors: %w", err)
			}
			a, err := attemptRefs(ctx, tx, `DELETE FROM entries WHERE status = 'E' AND `+errCond+` RETURNING id, route, key, version`, args, false)
			if err != nil {
				return fmt.Errorf("discard errors: %w", err)
			}
			discarded = append(discarded, a...)
		}
		if sel.Dead {
			if err := s.discardedAsDelivered(ctx, tx, `SELECT route, key, entry_id, version, hash, ?, deleted FROM dead_letters WHERE `+cond+` ORDER BY id`, args, nowMS); err != nil {
				return fmt.Errorf("discard dead letters: %w", err)
			}
			// The trigger copies payloads from entries; a dead letter's is
			// here, for the keys whose delivered content it now is.
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO delivered_payloads (entry_id, payload)
				SELECT entry_id, payload FROM dead_letters WHERE `+cond+` AND EXISTS (SELECT 1 FROM delivered d
					WHERE d.route = dead_letters.route AND d.key = dead_letters.key AND d.entry_id = dead_letters.entry_id)`, args...); err != nil {
				return fmt.Errorf("discard dead letters: keep the payload as delivered: %w", err)
			}
			a, err := attemptRefs(ctx, tx, `DELETE FROM dead_letters WHERE `+cond+` RETURNING entry_id, route, key, version`, args, false)
			if err != nil {
				return fmt.Errorf("discard dead letters: %w", err)
			}
			discarded = append(discarded, a...)
		}
		rules.MarkDiscarded(discarded, now, why)
		if sel.Operations {
			ops, err := attemptRefs(ctx, tx, `DELETE FROM outbox WHERE dead = 1 AND `+cond+` RETURNING entry_id, route, key, version, op`, args, true)
			if err != nil {
				return fmt.Errorf("discard dead operations: %w", err)
			}
			rules.MarkDiscardedOps(ops, now, why)
			discarded = append(discarded, ops...)
		}
		return s.insertAttempts(ctx, tx, discarded)
	})
	if err != nil {
		return 0, err
	}
	return len(discarded), nil
}

// attemptRefs runs q, a statement whose RETURNING gives entry ID, route,
// key and version (then op, when withOp) of each row it touched, and gives
// an attempt naming each row.
func attemptRefs(ctx context.Context, tx *sql.Tx, q string, args []any, withOp bool) ([]store.Attempt, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []store.Attempt
	for rows.Next() {
		var a store.Attempt
		dest := []any{&a.EntryID, &a.Route, &a.Key, &a.Version}
		if withOp {
			dest = append(dest, &a.Op)
		}
		if err := rows.Scan(dest...); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, a)
	}
	return out, closeRows(rows)
}

// discardedAsDelivered records the rows of sel (route, key, entry ID,
// version, hash, delivered at, deleted; args after the time) as their keys'
// delivered content, never over a newer delivered entry. It runs before
// the rows are deleted (the payload trigger copies from entries).
func (s *Store) discardedAsDelivered(ctx context.Context, tx *sql.Tx, sel string, args []any, nowMS int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO delivered (route, key, entry_id, version, hash, delivered_at, deleted) `+sel+`
		ON CONFLICT (route, key) DO UPDATE SET entry_id = excluded.entry_id, version = excluded.version,
			hash = excluded.hash, delivered_at = excluded.delivered_at, deleted = excluded.deleted
		WHERE excluded.entry_id >= delivered.entry_id`, append([]any{nowMS}, args...)...)
	if err != nil {
		return fmt.Errorf("record the discarded content as delivered: %w", err)
	}
	return nil
}
