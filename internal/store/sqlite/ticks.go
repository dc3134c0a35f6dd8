package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// Ticks lists the stored tick of every scheduled route, by route.
func (s *Store) Ticks(ctx context.Context) ([]store.Tick, error) {
	rows, err := s.read.QueryContext(ctx, `SELECT route, spec, next, last_fired, skipped FROM ticks ORDER BY route`)
	if err != nil {
		return nil, fmt.Errorf("list ticks: %w", err)
	}
	out, err := collectRows(rows, rules.ScanTick)
	if err != nil {
		return nil, fmt.Errorf("list ticks: %w", err)
	}
	return out, nil
}

// ClaimTick moves the route's tick by compare-and-set on its next: an
// insert that does nothing when a row exists (zero Prev), or an update
// guarded by next = Prev. Two schedulers claiming one tick serialize on
// the write lock; the second finds next moved and changes nothing.
func (s *Store) ClaimTick(ctx context.Context, c store.TickClaim) (bool, error) {
	fired, skipped, err := rules.TickColumns(c)
	if err != nil {
		return false, err
	}
	var n int64
	err = s.writeTx(ctx, fmt.Sprintf("claim tick of route %q", c.Route), func(tx *sql.Tx) error {
		var (
			res sql.Result
			err error
		)
		if c.Prev.IsZero() {
			res, err = tx.ExecContext(ctx, `INSERT INTO ticks (route, spec, next, last_fired, skipped) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (route) DO NOTHING`, c.Route, c.Spec, ms(c.Next), fired, skipped)
		} else {
			// last_fired moves only for a fired tick (fired is 0 otherwise).
			res, err = tx.ExecContext(ctx, `UPDATE ticks SET spec = ?1, next = ?2,
				last_fired = CASE WHEN ?3 != 0 THEN ?3 ELSE last_fired END, skipped = skipped + ?4
				WHERE route = ?5 AND next = ?6`, c.Spec, ms(c.Next), fired, skipped, c.Route, ms(c.Prev))
		}
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, err
	}
	return n == 1, nil
}
