package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// takeSQL takes or extends a lock row of table (route_locks or leaders,
// keyed by column): the upsert changes the row only when it may be taken
// (free, expired, owner's own, or held by takeOver); otherwise RETURNING
// gives nothing and the holder is read. The row lock of the upsert
// serializes two takers.
func takeSQL(table, column string) string {
	return `INSERT INTO ` + table + ` AS t (` + column + `, owner, until) VALUES ($1, $2, $3)
		ON CONFLICT (` + column + `) DO UPDATE SET owner = excluded.owner, until = excluded.until
		WHERE t.owner = $2 OR t.until < $4 OR ($5 <> '' AND t.owner = $5)
		RETURNING owner`
}

var (
	lockRouteSQL = takeSQL("route_locks", "route")
	leadSQL      = takeSQL("leaders", "role")
)

func (s *Store) take(ctx context.Context, what, q, table, column, name, owner string, now, until time.Time, takeOver string) (string, bool, error) {
	holder := ""
	err := s.tx(ctx, what, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, q, name, owner, ms(until), ms(now), takeOver).Scan(&holder)
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.QueryRow(ctx, `SELECT owner FROM `+table+` WHERE `+column+` = $1`, name).Scan(&holder)
		}
		return err
	})
	if err != nil {
		return "", false, err
	}
	return holder, holder == owner, nil
}

// LockRoute takes or extends the run lock of route (see store.Store).
func (s *Store) LockRoute(ctx context.Context, route, owner string, now, until time.Time, takeOver string) (string, bool, error) {
	return s.take(ctx, fmt.Sprintf("lock route %q", route), lockRouteSQL, "route_locks", "route", route, owner, now, until, takeOver)
}

// UnlockRoute releases owner's run lock of route.
func (s *Store) UnlockRoute(ctx context.Context, route, owner string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM route_locks WHERE route = $1 AND owner = $2`, route, owner); err != nil {
		return fmt.Errorf("unlock route %q: %w", route, err)
	}
	return nil
}

// Lead takes or extends the leadership of role (see store.Store): the
// same upsert as LockRoute, on its own table.
func (s *Store) Lead(ctx context.Context, role, owner string, now, until time.Time, takeOver string) (string, bool, error) {
	if role == "" || owner == "" {
		return "", false, fmt.Errorf("lead role %q as %q: empty role or owner", role, owner)
	}
	return s.take(ctx, fmt.Sprintf("lead role %q", role), leadSQL, "leaders", "role", role, owner, now, until, takeOver)
}

// Resign gives up owner's leadership of role; no error when it holds none.
func (s *Store) Resign(ctx context.Context, role, owner string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM leaders WHERE role = $1 AND owner = $2`, role, owner); err != nil {
		return fmt.Errorf("resign role %q: %w", role, err)
	}
	return nil
}
