package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// Ticks lists the stored tick of every scheduled route, by route.
func (s *Store) Ticks(ctx context.Context) ([]store.Tick, error) {
	rows, err := s.pool.Query(ctx, `SELECT route, spec, next, last_fired, skipped FROM ticks ORDER BY route`)
	if err != nil {
		return nil, fmt.Errorf("list ticks: %w", err)
	}
	out, err := collect(rows, func(r pgx.Rows) (store.Tick, error) { return rules.ScanTick(r) })
	if err != nil {
		return nil, fmt.Errorf("list ticks: %w", err)
	}
	return out, nil
}

// ClaimTick moves the route's tick by compare-and-set on its next: an
// insert that does nothing when a row exists (zero Prev), or an update
// guarded by next = Prev. Two schedulers claiming one tick serialize on
// the row lock; the second re-reads next, finds it moved and changes
// nothing.
func (s *Store) ClaimTick(ctx context.Context, c store.TickClaim) (bool, error) {
	fired, skipped, err := rules.TickColumns(c)
	if err != nil {
		return false, err
	}
	var tag pgconn.CommandTag
	if c.Prev.IsZero() {
		tag, err = s.pool.Exec(ctx, `INSERT INTO ticks (route, spec, next, last_fired, skipped) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (route) DO NOTHING`, c.Route, c.Spec, ms(c.Next), fired, skipped)
	} else {
		// last_fired moves only for a fired tick (fired is 0 otherwise).
		tag, err = s.pool.Exec(ctx, `UPDATE ticks SET spec = $1, next = $2,
			last_fired = CASE WHEN $3::bigint <> 0 THEN $3 ELSE last_fired END, skipped = skipped + $4
			WHERE route = $5 AND next = $6`, c.Spec, ms(c.Next), fired, skipped, c.Route, ms(c.Prev))
	}
	if err != nil {
		return false, fmt.Errorf("claim tick of route %q: %w", c.Route, err)
	}
	return tag.RowsAffected() == 1, nil
}
