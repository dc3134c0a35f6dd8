package postgres

import (
	"context"
	"fmt"
	"time"
)

// Now returns the database's clock (store.Clock): processes on several
// hosts share it instead of trusting each host's clock.
func (s *Store) Now(ctx context.Context) (time.Time, error) {
	var now time.Time
	if err := s.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&now); err != nil {
		return time.Time{}, fmt.Errorf("postgres store %s: read the clock: %w", s.where, err)
	}
	return now, nil
}
