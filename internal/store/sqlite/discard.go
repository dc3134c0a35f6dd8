package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// Discard removes the selected error entries and/or dead letters in one
// transaction, recording a discarded attempt for each. Only status E is
// touched in the queue: pending and leased entries are never discarded.
func (s *Store) Discard(ctx context.Context, sel store.DiscardSelector) (int, error) {
	if !sel.Dead && !sel.Errors {
		return 0, nil
	}
	now := sel.Now
	if now.IsZero() {
		now = time.Now()
	}
	why := "discarded by " + sel.Who
	if sel.Who == "" {
		why = "discarded"
	}
	if sel.Why != "" {
		why += ": " + sel.Why
	}
	where, args := routeKeyWhere(sel.Route, sel.Key)
	where = append(where, "1")
	cond := strings.Join(where, " AND ")
	var discarded []store.Attempt
	err := s.writeTx(ctx, fmt.Sprintf("discard in route %q", sel.Route), func(tx *sql.Tx) error {
		if sel.Errors {
			a, err := deleteReturning(ctx, tx, `DELETE FROM entries WHERE status = 'E' AND `+cond+` RETURNING id, route, key, version`, args)
			if err != nil {
				return fmt.Errorf("discard errors: %w", err)
			}
			discarded = append(discarded, a...)
		}
		if sel.Dead {
			a, err := deleteReturning(ctx, tx, `DELETE FROM dead_letters WHERE `+cond+` RETURNING entry_id, route, key, version`, args)
			if err != nil {
				return fmt.Errorf("discard dead letters: %w", err)
			}
			discarded = append(discarded, a...)
		}
		for i := range discarded {
			discarded[i].At, discarded[i].Outcome, discarded[i].Op, discarded[i].Error = now, store.OutcomeDiscarded, "discard", why
		}
		return s.insertAttempts(ctx, tx, discarded)
	})
	if err != nil {
		return 0, err
	}
	return len(discarded), nil
}

// deleteReturning runs a DELETE ... RETURNING entry id, route, key,
// version and gives an attempt naming each deleted row.
func deleteReturning(ctx context.Context, tx *sql.Tx, q string, args []any) ([]store.Attempt, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var out []store.Attempt
	for rows.Next() {
		var a store.Attempt
		if err := rows.Scan(&a.EntryID, &a.Route, &a.Key, &a.Version); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, a)
	}
	return out, closeRows(rows)
}
