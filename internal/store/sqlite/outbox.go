package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

const outboxColumns = `id, route, entry_id, key, version, op, record, vars, idempotency_key, attempts, last_error,
	next_attempt_at, created_at, dead, lease_owner, lease_until`

func scanOutbox(row scanner) (store.OutboxItem, error) {
	var (
		o                         store.OutboxItem
		record, vars              []byte
		next, created, leaseUntil int64
	)
	err := row.Scan(&o.ID, &o.Route, &o.EntryID, &o.Key, &o.Version, &o.Op, &record, &vars, &o.IdempotencyKey,
		&o.Attempts, &o.LastError, &next, &created, &o.Dead, &o.LeaseOwner, &leaseUntil)
	if err != nil {
		return o, err
	}
	if len(record) > 0 {
		o.Record = record
	}
	if len(vars) > 0 {
		o.Vars = vars
	}
	o.NextAttemptAt, o.CreatedAt, o.LeaseUntil = fromMS(next), fromMS(created), fromMS(leaseUntil)
	return o, nil
}

// insertOutbox stores the outbox items of settlements that took effect
// (their entry is in settled), filling what they leave out from the entry.
func (s *Store) insertOutbox(ctx context.Context, tx *sql.Tx, settlements []store.Settlement, settled map[int64]rules.Settled) error {
	for _, ow := range rules.OwedOutbox(settlements, settled) {
		o := ow.Item
		if _, err := s.exec(ctx, tx, `INSERT INTO outbox (route, entry_id, key, version, op, record, vars, idempotency_key,
			attempts, last_error, next_attempt_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			o.Route, o.EntryID, o.Key, o.Version, o.Op, blob(o.Record), blob(o.Vars), o.IdempotencyKey,
			o.Attempts, o.LastError, ms(o.NextAttemptAt), ms(o.CreatedAt)); err != nil {
			return fmt.Errorf("entry %d: store outbox item %s: %w", ow.EntryID, o.Op, err)
		}
	}
	return nil
}

// LeaseOutbox leases up to limit due outbox items of route, oldest first.
func (s *Store) LeaseOutbox(ctx context.Context, route, owner string, limit int, now, until time.Time) ([]store.OutboxItem, error) {
	if none, err := rules.CheckOutboxLease(route, owner, limit); none || err != nil {
		return nil, err
	}
	now = rules.Now(now)
	var out []store.OutboxItem
	err := s.writeTx(ctx, fmt.Sprintf("lease outbox of route %q", route), func(tx *sql.Tx) error {
		rows, err := s.query(ctx, tx, `UPDATE outbox SET lease_owner = ?1, lease_until = ?2
			WHERE id IN (SELECT id FROM outbox WHERE route = ?3 AND dead = 0 AND next_attempt_at <= ?4
				AND (lease_owner = '' OR lease_until < ?4) ORDER BY id LIMIT ?5)
			RETURNING `+outboxColumns, owner, ms(until), route, ms(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			o, err := scanOutbox(rows)
			if err != nil {
				return err
			}
			out = append(out, o)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.OutboxItem) int { return int(a.ID - b.ID) })
	return out, nil
}

// SettleOutbox settles leased outbox items in one transaction; every
// statement is guarded by lease_owner = owner. The attempts are recorded
// in any case, filled from the item when left bare.
func (s *Store) SettleOutbox(ctx context.Context, owner string, settlements []store.OutboxSettlement) error {
	if len(settlements) == 0 {
		return nil
	}
	return s.writeTx(ctx, fmt.Sprintf("settle %d outbox items", len(settlements)), func(tx *sql.Tx) error {
		attempts := make([]store.Attempt, 0, len(settlements))
		now := time.Now()
		for _, st := range settlements {
			var (
				q    string
				args []any
			)
			switch st.Outcome {
			case store.OutcomeDone:
				q, args = `DELETE FROM outbox WHERE id = ? AND lease_owner = ?`, []any{st.ID, owner}
			case store.OutcomeRetry:
				q = `UPDATE outbox SET attempts = attempts + 1, last_error = ?, next_attempt_at = ?, lease_owner = '', lease_until = 0
					WHERE id = ? AND lease_owner = ?`
				args = []any{st.Error, ms(st.NextAttemptAt), st.ID, owner}
			case store.OutcomeDead:
				q = `UPDATE outbox SET attempts = attempts + 1, last_error = ?, dead = 1, lease_owner = '', lease_until = 0
					WHERE id = ? AND lease_owner = ?`
				args = []any{st.Error, st.ID, owner}
			default:
				return fmt.Errorf("outbox item %d: unknown outcome %q: expected done, error or dead", st.ID, st.Outcome)
			}
			var o store.OutboxItem
			rows, err := s.query(ctx, tx, q+` RETURNING route, entry_id, key, version, op`, args...)
			if err != nil {
				return fmt.Errorf("outbox item %d: %w", st.ID, err)
			}
			found := rows.Next()
			if found {
				err = rows.Scan(&o.Route, &o.EntryID, &o.Key, &o.Version, &o.Op)
			}
			if cerr := closeRows(rows); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("outbox item %d: %w", st.ID, err)
			}
			a := st.Attempt
			if rules.OutboxLookup(a, found) {
				err := tx.QueryRowContext(ctx, `SELECT route, entry_id, key, version, op FROM outbox WHERE id = ?`, st.ID).
					Scan(&o.Route, &o.EntryID, &o.Key, &o.Version, &o.Op)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return fmt.Errorf("outbox item %d: look up: %w", st.ID, err)
				}
			}
			if a, ok := rules.OutboxAttempt(st, o, now); ok {
				attempts = append(attempts, a)
			}
		}
		return s.insertAttempts(ctx, tx, attempts)
	})
}

// Outbox lists outbox items of route (all routes when ""), oldest first.
func (s *Store) Outbox(ctx context.Context, route string, limit int) ([]store.OutboxItem, error) {
	if limit <= 0 {
		limit = defaultLimit
	}
	where, args := routeKeyWhere(route, "")
	where = append(where, "1")
	rows, err := s.read.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE `+strings.Join(where, " AND ")+
		` ORDER BY id LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list outbox of route %q: %w", route, err)
	}
	defer rows.Close()
	var out []store.OutboxItem
	for rows.Next() {
		o, err := scanOutbox(rows)
		if err != nil {
			return nil, fmt.Errorf("list outbox of route %q: %w", route, err)
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// ReleaseOutbox releases the outbox leases of owners and, when now is not
// zero, the expired ones, of route (all routes when "").
func (s *Store) ReleaseOutbox(ctx context.Context, route string, now time.Time, owners []string) (int, error) {
	if now.IsZero() && len(owners) == 0 {
		return 0, nil
	}
	var cond []string
	var args []any
	if !now.IsZero() {
		cond, args = append(cond, "lease_until < ?"), append(args, ms(now))
	}
	if len(owners) > 0 {
		cond = append(cond, "lease_owner IN ("+placeholders(len(owners))+")")
		for _, o := range owners {
			args = append(args, o)
		}
	}
	where := `lease_owner != '' AND (` + strings.Join(cond, " OR ") + `)`
	if route != "" {
		where, args = `route = ? AND `+where, append([]any{route}, args...)
	}
	var n int64
	err := s.writeTx(ctx, fmt.Sprintf("release outbox leases of route %q", route), func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE outbox SET lease_owner = '', lease_until = 0 WHERE `+where, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// blob binds b as a BLOB, "" when nil (a nil slice binds as NULL).
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// ReplayOutbox makes the dead outbox items of route (of key, when not "")
// due at now with their attempts reset, in one transaction, and records a
// replayed attempt (with the item's Op) for each in the key's history.
func (s *Store) ReplayOutbox(ctx context.Context, route, key string, now time.Time) (int, error) {
	if now.IsZero() {
		now = time.Now()
	}
	where, args := routeKeyWhere(route, key)
	where = append(where, "dead = 1")
	var replayed []store.Attempt
	err := s.writeTx(ctx, fmt.Sprintf("replay dead operations of route %q", route), func(tx *sql.Tx) error {
		// ?1 comes first in the text, so the anonymous parameters of the
		// condition number from 2 on.
		var err error
		replayed, err = attemptRefs(ctx, tx, `UPDATE outbox SET dead = 0, attempts = 0, next_attempt_at = ?1,
			lease_owner = '', lease_until = 0 WHERE `+strings.Join(where, " AND ")+`
			RETURNING entry_id, route, key, version, op`, append([]any{ms(now)}, args...), true)
		if err != nil {
			return err
		}
		for i := range replayed {
			replayed[i].At, replayed[i].Outcome, replayed[i].Error = now, store.OutcomeReplayed, "operation replayed"
		}
		return s.insertAttempts(ctx, tx, replayed)
	})
	if err != nil {
		return 0, err
	}
	return len(replayed), nil
}
