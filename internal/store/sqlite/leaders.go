package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Lead takes or extends the leadership of role (see store.Store): the
// same upsert as LockRoute, on its own table, so a role is never mistaken
// for a route.
func (s *Store) Lead(ctx context.Context, role, owner string, now, until time.Time, takeOver string) (string, bool, error) {
	if role == "" || owner == "" {
		return "", false, fmt.Errorf("lead role %q as %q: empty role or owner", role, owner)
	}
	holder := ""
	err := s.writeTx(ctx, fmt.Sprintf("lead role %q", role), func(tx *sql.Tx) error {
		// The upsert changes the row only when the role may be taken; when
		// it may not, RETURNING gives nothing and the holder is read.
		err := tx.QueryRowContext(ctx, `INSERT INTO leaders (role, owner, until) VALUES (?1, ?2, ?3)
			ON CONFLICT (role) DO UPDATE SET owner = excluded.owner, until = excluded.until
			WHERE leaders.owner = ?2 OR leaders.until < ?4 OR (?5 != '' AND leaders.owner = ?5)
			RETURNING owner`, role, owner, ms(until), ms(now), takeOver).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			return tx.QueryRowContext(ctx, `SELECT owner FROM leaders WHERE role = ?`, role).Scan(&holder)
		}
		return err
	})
	if err != nil {
		return "", false, err
	}
	return holder, holder == owner, nil
}

// Resign gives up owner's leadership of role; no error when it holds none.
func (s *Store) Resign(ctx context.Context, role, owner string) error {
	return s.writeTx(ctx, fmt.Sprintf("resign role %q", role), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM leaders WHERE role = ? AND owner = ?`, role, owner)
		return err
	})
}
