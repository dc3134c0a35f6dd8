package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

const outboxColumns = `id, route, entry_id, key, version, op, record, vars, idempotency_key, attempts, last_error,
	next_attempt_at, created_at, dead, lease_owner, lease_until`

func scanOutbox(row pgx.Rows) (store.OutboxItem, error) {
	var (
		o                         store.OutboxItem
		record, vars              []byte
		next, created, leaseUntil int64
		attempts                  int32
	)
	err := row.Scan(&o.ID, &o.Route, &o.EntryID, &o.Key, &o.Version, &o.Op, &record, &vars, &o.IdempotencyKey,
		&attempts, &o.LastError, &next, &created, &o.Dead, &o.LeaseOwner, &leaseUntil)
	if err != nil {
		return o, err
	}
	if len(record) > 0 {
		o.Record = record
	}
	if len(vars) > 0 {
		o.Vars = vars
	}
	o.Attempts = int(attempts)
	o.NextAttemptAt, o.CreatedAt, o.LeaseUntil = fromMS(next), fromMS(created), fromMS(leaseUntil)
	return o, nil
}

// LeaseOutbox leases up to limit due outbox items of route, oldest
// first, passing over items another worker is leasing (SKIP LOCKED).
func (s *Store) LeaseOutbox(ctx context.Context, route, owner string, limit int, now, until time.Time) ([]store.OutboxItem, error) {
	if none, err := rules.CheckOutboxLease(route, owner, limit); none || err != nil {
		return nil, err
	}
	now = rules.Now(now)
	var out []store.OutboxItem
	err := s.tx(ctx, fmt.Sprintf("lease outbox of route %q", route), func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH c AS (SELECT id FROM outbox WHERE route = $3 AND NOT dead AND next_attempt_at <= $4
				AND (lease_owner = '' OR lease_until < $4) ORDER BY id LIMIT $5 FOR UPDATE SKIP LOCKED)
			UPDATE outbox o SET lease_owner = $1, lease_until = $2 FROM c WHERE o.id = c.id
			RETURNING o.id, o.route, o.entry_id, o.key, o.version, o.op, o.record, o.vars, o.idempotency_key, o.attempts,
				o.last_error, o.next_attempt_at, o.created_at, o.dead, o.lease_owner, o.lease_until`,
			owner, ms(until), route, ms(now), limit)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanOutbox)
		return err
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.OutboxItem) int { return cmpInt64(a.ID, b.ID) })
	return out, nil
}

// SettleOutbox settles leased outbox items in one transaction; every
// statement is guarded by lease_owner = owner. The attempts are recorded
// in any case, filled from the item when left bare.
func (s *Store) SettleOutbox(ctx context.Context, owner string, settlements []store.OutboxSettlement) error {
	if len(settlements) == 0 {
		return nil
	}
	return s.tx(ctx, fmt.Sprintf("settle %d outbox items", len(settlements)), func(tx pgx.Tx) error {
		attempts := make([]store.Attempt, 0, len(settlements))
		now := time.Now()
		for _, st := range settlements {
			var (
				q    string
				args []any
			)
			switch st.Outcome {
			case store.OutcomeDone:
				q, args = `DELETE FROM outbox WHERE id = $1 AND lease_owner = $2`, []any{st.ID, owner}
			case store.OutcomeRetry:
				q = `UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, lease_owner = '', lease_until = 0
					WHERE id = $3 AND lease_owner = $4`
				args = []any{st.Error, ms(st.NextAttemptAt), st.ID, owner}
			case store.OutcomeDead:
				q = `UPDATE outbox SET attempts = attempts + 1, last_error = $1, dead = true, lease_owner = '', lease_until = 0
					WHERE id = $2 AND lease_owner = $3`
				args = []any{st.Error, st.ID, owner}
			default:
				return fmt.Errorf("outbox item %d: unknown outcome %q: expected done, error or dead", st.ID, st.Outcome)
			}
			var o store.OutboxItem
			a := st.Attempt
			err := tx.QueryRow(ctx, q+` RETURNING route, entry_id, key, version, op`, args...).Scan(&o.Route, &o.EntryID, &o.Key, &o.Version, &o.Op)
			found := err == nil
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("outbox item %d: %w", st.ID, err)
			}
			if rules.OutboxLookup(a, found) {
				err := tx.QueryRow(ctx, `SELECT route, entry_id, key, version, op FROM outbox WHERE id = $1`, st.ID).
					Scan(&o.Route, &o.EntryID, &o.Key, &o.Version, &o.Op)
				if err != nil && !errors.Is(err, pgx.ErrNoRows) {
					return fmt.Errorf("outbox item %d: look up: %w", st.ID, err)
				}
			}
			if a, ok := rules.OutboxAttempt(st, o, now); ok {
				attempts = append(attempts, a)
			}
		}
		return insertAttempts(ctx, tx, attempts)
	})
}

// Outbox lists outbox items of route (all routes when ""), oldest first.
func (s *Store) Outbox(ctx context.Context, route string, limit int) ([]store.OutboxItem, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	rows, err := s.pool.Query(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE ($1 = '' OR route = $1) ORDER BY id LIMIT $2`, route, limit)
	if err != nil {
		return nil, fmt.Errorf("list outbox of route %q: %w", route, err)
	}
	out, err := collect(rows, scanOutbox)
	if err != nil {
		return nil, fmt.Errorf("list outbox of route %q: %w", route, err)
	}
	return out, nil
}

// ReleaseOutbox releases the outbox leases of owners and, when now is not
// zero, the expired ones, of route (all routes when "").
func (s *Store) ReleaseOutbox(ctx context.Context, route string, now time.Time, owners []string) (int, error) {
	if now.IsZero() && len(owners) == 0 {
		return 0, nil
	}
	if owners == nil {
		owners = []string{}
	}
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET lease_owner = '', lease_until = 0
		WHERE lease_owner <> '' AND ($1 = '' OR route = $1)
		AND (($2::bigint <> 0 AND lease_until < $2) OR lease_owner = ANY($3))`, route, ms(now), owners)
	if err != nil {
		return 0, fmt.Errorf("release outbox leases of route %q: %w", route, err)
	}
	return int(tag.RowsAffected()), nil
}

// ReplayOutbox makes the dead outbox items of route (of key, when not "")
// due at now with their attempts reset, in one transaction, and records a
// replayed attempt (with the item's Op) for each in the key's history.
func (s *Store) ReplayOutbox(ctx context.Context, route, key string, now time.Time) (int, error) {
	if now.IsZero() {
		now = time.Now()
	}
	var replayed []store.Attempt
	err := s.tx(ctx, fmt.Sprintf("replay dead operations of route %q", route), func(tx pgx.Tx) error {
		var err error
		replayed, err = attemptRefs(ctx, tx, `UPDATE outbox SET dead = false, attempts = 0, next_attempt_at = $1,
			lease_owner = '', lease_until = 0 WHERE dead AND ($2 = '' OR route = $2) AND ($3 = '' OR key = $3)
			RETURNING entry_id, route, key, version, op`, []any{ms(now), route, key}, true)
		if err != nil {
			return err
		}
		for i := range replayed {
			replayed[i].At, replayed[i].Outcome, replayed[i].Error = now, store.OutcomeReplayed, "operation replayed"
		}
		return insertAttempts(ctx, tx, replayed)
	})
	if err != nil {
		return 0, err
	}
	return len(replayed), nil
}

// attemptRefs runs q, a statement whose RETURNING gives entry ID, route,
// key and version (then op, when withOp) of each row it touched, and gives
// an attempt naming each row.
func attemptRefs(ctx context.Context, tx pgx.Tx, q string, args []any, withOp bool) ([]store.Attempt, error) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, func(r pgx.Rows) (store.Attempt, error) {
		var a store.Attempt
		dest := []any{&a.EntryID, &a.Route, &a.Key, &a.Version}
		if withOp {
			dest = append(dest, &a.Op)
		}
		return a, r.Scan(dest...)
	})
}
