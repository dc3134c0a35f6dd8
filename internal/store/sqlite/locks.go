package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// LockRoute takes or extends the run lock of route (see store.Store).
func (s *Store) LockRoute(ctx context.Context, route, owner string, now, until time.Time, takeOver string) (string, bool, error) {
	holder := ""
	err := s.writeTx(ctx, fmt.Sprintf("lock route %q", route), func(tx *sql.Tx) error {
		// The upsert changes the row only when the lock may be taken; when
		// it may not, RETURNING gives nothing and the holder is read.
		err := tx.QueryRowContext(ctx, `INSERT INTO route_locks (route, owner, until) VALUES (?1, ?2, ?3)
			ON CONFLICT (route) DO UPDATE SET owner = excluded.owner, until = excluded.until
			WHERE route_locks.owner = ?2 OR route_locks.until < ?4 OR (?5 != '' AND route_locks.owner = ?5)
			RETURNING owner`, route, owner, ms(until), ms(now), takeOver).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			return tx.QueryRowContext(ctx, `SELECT owner FROM route_locks WHERE route = ?`, route).Scan(&holder)
		}
		return err
	})
	if err != nil {
		return "", false, err
	}
	return holder, holder == owner, nil
}

// UnlockRoute releases owner's run lock of route.
func (s *Store) UnlockRoute(ctx context.Context, route, owner string) error {
	return s.writeTx(ctx, fmt.Sprintf("unlock route %q", route), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM route_locks WHERE route = ? AND owner = ?`, route, owner)
		return err
	})
}

// KeyAttempts lists the attempts of the route's entries that carried key.
// It walks the route's attempts (attempts_route) rather than keeping an
// index on key that every settled record would have to write.
func (s *Store) KeyAttempts(ctx context.Context, route, key string, limit int) ([]store.Attempt, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	out, err := s.queryAttempts(ctx, `SELECT `+attemptColumns+` FROM attempts WHERE route = ? AND key = ? ORDER BY id LIMIT ?`, route, key, limit)
	if err != nil {
		return nil, fmt.Errorf("attempts of key %q in route %q: %w", key, route, err)
	}
	return out, nil
}
