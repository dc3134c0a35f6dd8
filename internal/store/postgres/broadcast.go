package postgres

import (
	"context"
	"fmt"
)

// channel is the NOTIFY channel of the store's schema: processes of
// another ferry sharing the database in another schema do not hear it.
func (s *Store) channel() string { return "ferry_" + s.schema }

// Broadcast sends payload to every process listening on the store
// (store.Broadcaster), through pg_notify (at most 8000 bytes).
func (s *Store) Broadcast(ctx context.Context, payload string) error {
	if _, err := s.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, s.channel(), payload); err != nil {
		return fmt.Errorf("postgres store %s: notify: %w", s.where, err)
	}
	return nil
}

// Listen holds one connection of the pool in LISTEN and calls fn for
// each notification until ctx ends or the connection breaks.
func (s *Store) Listen(ctx context.Context, fn func(payload string)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("postgres store %s: listen: %w", s.where, err)
	}
	// A connection that listened is not given back to the pool: it
	// would keep receiving notifications for whoever takes it next.
	c := conn.Hijack()
	defer c.Close(context.WithoutCancel(ctx))
	if _, err := c.Exec(ctx, `LISTEN "`+s.channel()+`"`); err != nil {
		return fmt.Errorf("postgres store %s: listen: %w", s.where, err)
	}
	for {
		n, err := c.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("postgres store %s: wait for notifications: %w", s.where, err)
		}
		fn(n.Payload)
	}
}
