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

// Discard removes the selected error entries, dead letters and/or dead
// outbox items in one transaction, recording a discarded attempt for each.
// Only status E is touched in the queue. A discarded entry's content
// becomes its key's delivered content (the user dealt with the
// destination by hand), so reading it again is unchanged.
func (s *Store) Discard(ctx context.Context, sel store.DiscardSelector) (int, error) {
	if !sel.Dead && !sel.Errors && !sel.Operations {
		return 0, nil
	}
	now, why := rules.Now(sel.Now), rules.DiscardWhy(sel)
	args := []any{sel.Route, sel.Key, ms(now)}
	var discarded []store.Attempt
	err := s.tx(ctx, fmt.Sprintf("discard in route %q", sel.Route), func(tx pgx.Tx) error {
		discarded = nil
		if sel.Errors {
			if err := discardedAsDelivered(ctx, tx, `SELECT route, key, id, version, hash, payload, $3::bigint, deleted
				FROM entries WHERE status = 'E' AND `+routeKeyCond, args); err != nil {
				return fmt.Errorf("discard errors: %w", err)
			}
			a, err := attemptRefs(ctx, tx, `DELETE FROM entries WHERE status = 'E' AND `+routeKeyCond+` RETURNING id, route, key, version`, args[:2], false)
			if err != nil {
				return fmt.Errorf("discard errors: %w", err)
			}
			discarded = append(discarded, a...)
		}
		if sel.Dead {
			// Of several dead letters of a key the newest counts.
			if err := discardedAsDelivered(ctx, tx, `SELECT DISTINCT ON (route, key) route, key, entry_id, version, hash, payload, $3::bigint, deleted
				FROM dead_letters WHERE `+routeKeyCond+` ORDER BY route, key, entry_id DESC`, args); err != nil {
				return fmt.Errorf("discard dead letters: %w", err)
			}
			a, err := attemptRefs(ctx, tx, `DELETE FROM dead_letters WHERE `+routeKeyCond+` RETURNING entry_id, route, key, version`, args[:2], false)
			if err != nil {
				return fmt.Errorf("discard dead letters: %w", err)
			}
			slicesSortByEntry(a)
			discarded = append(discarded, a...)
		}
		rules.MarkDiscarded(discarded, now, why)
		if sel.Operations {
			ops, err := attemptRefs(ctx, tx, `DELETE FROM outbox WHERE dead AND `+routeKeyCond+` RETURNING entry_id, route, key, version, op`, args[:2], true)
			if err != nil {
				return fmt.Errorf("discard dead operations: %w", err)
			}
			rules.MarkDiscardedOps(ops, now, why)
			discarded = append(discarded, ops...)
		}
		return insertAttempts(ctx, tx, discarded)
	})
	if err != nil {
		return 0, err
	}
	return len(discarded), nil
}

// discardedAsDelivered records the rows of sel (route, key, entry ID,
// version, hash, payload, delivered at, deleted; keys distinct) as their
// keys' delivered content, never over a newer delivered entry.
func discardedAsDelivered(ctx context.Context, tx pgx.Tx, sel string, args []any) error {
	_, err := tx.Exec(ctx, `INSERT INTO delivered (route, key, entry_id, version, hash, payload, delivered_at, deleted) `+sel+`
		ON CONFLICT (route, key) DO UPDATE SET entry_id = excluded.entry_id, version = excluded.version,
			hash = excluded.hash, payload = excluded.payload, delivered_at = excluded.delivered_at, deleted = excluded.deleted
		WHERE excluded.entry_id >= delivered.entry_id`, args...)
	if err != nil {
		return fmt.Errorf("record the discarded content as delivered: %w", err)
	}
	return nil
}

// slicesSortByEntry orders attempts by entry ID (DELETE ... RETURNING
// gives no order).
func slicesSortByEntry(a []store.Attempt) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j].EntryID < a[j-1].EntryID; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// Resend queues the key's last delivered payload again as a new pending
// entry, unless an entry of the key is queued, in error or leased.
func (s *Store) Resend(ctx context.Context, route, key, who string, now time.Time) (store.Entry, error) {
	now = rules.Now(now)
	nowMS := ms(now)
	var e store.Entry
	err := s.tx(ctx, fmt.Sprintf("resend key %q of route %q", key, route), func(tx pgx.Tx) error {
		var busy, found bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM entries WHERE route = $1 AND key = $2),
			EXISTS (SELECT 1 FROM delivered WHERE route = $1 AND key = $2)`, route, key).Scan(&busy, &found); err != nil {
			return err
		}
		if err := rules.ResendBlocked(found, busy); err != nil {
			return err
		}
		var err error
		e, err = scanEntry(tx.QueryRow(ctx, `INSERT INTO entries (route, key, version, payload, status, priority,
			next_attempt_at, created_at, updated_at, deleted) SELECT route, key, 1, payload, 'P', 0, $1, $1, $1, deleted
			FROM delivered WHERE route = $2 AND key = $3 RETURNING `+entryColumns, nowMS, route, key))
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("no delivered content is kept: %w", store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("queue: %w", err)
		}
		return insertAttempts(ctx, tx, []store.Attempt{rules.ResendAttempt(e, who, now)})
	})
	if err != nil {
		return store.Entry{}, err
	}
	return e, nil
}
