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

// entryColumns is the column list scanEntry reads, in order.
const entryColumns = `id, route, key, version, payload, status, priority, attempts, last_error,
	next_attempt_at, created_at, updated_at, lease_owner, lease_until, hash, batch, deleted`

// entryColumnsE is entryColumns of the alias e.
const entryColumnsE = `e.id, e.route, e.key, e.version, e.payload, e.status, e.priority, e.attempts, e.last_error,
	e.next_attempt_at, e.created_at, e.updated_at, e.lease_owner, e.lease_until, e.hash, e.batch, e.deleted`

func scanEntry(row pgx.Row) (store.Entry, error) {
	var (
		e                                  store.Entry
		status                             string
		payload                            []byte
		next, created, updated, leaseUntil int64
		priority, attempts                 int32
	)
	err := row.Scan(&e.ID, &e.Route, &e.Key, &e.Version, &payload, &status, &priority, &attempts,
		&e.LastError, &next, &created, &updated, &e.LeaseOwner, &leaseUntil, &e.Hash, &e.Batch, &e.Deleted)
	if err != nil {
		return e, err
	}
	e.Payload = payload
	e.Status = store.Status(status)
	e.Priority, e.Attempts = int(priority), int(attempts)
	e.NextAttemptAt, e.CreatedAt, e.UpdatedAt, e.LeaseUntil = fromMS(next), fromMS(created), fromMS(updated), fromMS(leaseUntil)
	return e, nil
}

func scanEntryRows(rows pgx.Rows) (store.Entry, error) { return scanEntry(rows) }

// upsertSQL queues a page of distinct keys from parallel arrays in one
// statement, returning the given columns of each row inserted or
// replaced. A fresh entry has version 1, so the version tells inserts
// from replacements; a record whose payload (or non-empty hash) equals
// the queued one's is left out by the WHERE and returns no row.
func upsertSQL(returning string) string {
	return `INSERT INTO entries AS e (route, key, payload, priority, hash, deleted, status, version,
		next_attempt_at, created_at, updated_at)
	SELECT $1, u.key, u.payload, u.priority, u.hash, u.deleted, 'P', 1, $2, $2, $2
	FROM unnest($3::text[], $4::bytea[], $5::integer[], $6::text[], $7::boolean[]) AS u(key, payload, priority, hash, deleted)
	ON CONFLICT (route, key) WHERE status IN ('P', 'E') DO UPDATE SET
		payload = excluded.payload, priority = excluded.priority, hash = excluded.hash, version = e.version + 1,
		status = 'P', next_attempt_at = excluded.next_attempt_at, updated_at = excluded.updated_at,
		attempts = 0, last_error = '', batch = '', deleted = excluded.deleted
	WHERE NOT ((e.payload = excluded.payload AND e.deleted = excluded.deleted) OR (excluded.hash <> '' AND e.hash = excluded.hash))
	RETURNING ` + returning
}

var (
	upsertVersionSQL = upsertSQL("e.version")
	upsertIDsSQL     = upsertSQL("e.key, e.id, e.version")
)

// upsertArgs binds entries (keys distinct) to upsertSQL's parameters.
func upsertArgs(route string, entries []store.NewEntry, nowMS int64) []any {
	var (
		keys     = make([]string, len(entries))
		payloads = make([][]byte, len(entries))
		prios    = make([]int32, len(entries))
		hashes   = make([]string, len(entries))
		deleted  = make([]bool, len(entries))
	)
	for i, e := range entries {
		keys[i], payloads[i], prios[i], hashes[i], deleted[i] = e.Key, rules.NullPayload(e.Payload), int32(e.Priority), e.Hash, e.Deleted
	}
	return []any{route, nowMS, keys, payloads, prios, hashes, deleted}
}

// EnqueuePage queues the page in one transaction: records with a hash are
// first judged against what the store holds of their keys (one look-up),
// then the rest go in one upsert of arrays.
func (s *Store) EnqueuePage(ctx context.Context, route string, entries []store.NewEntry, cursor *string, now time.Time) (store.EnqueueResult, error) {
	if route == "" {
		return store.EnqueueResult{}, errors.New("enqueue: empty route")
	}
	nowMS := ms(now)
	kept, dups := rules.LastOfKeys(entries)
	var res store.EnqueueResult
	err := s.tx(ctx, fmt.Sprintf("enqueue %d entries of route %q", len(entries), route), func(tx pgx.Tx) error {
		res = store.EnqueueResult{Replaced: dups}
		var hashed []string
		for _, e := range kept {
			if e.Hash != "" {
				hashed = append(hashed, e.Key)
			}
		}
		known, err := loadContent(ctx, tx, route, hashed)
		if err != nil {
			return err
		}
		queue, unchanged := known.Sift(route, kept, fromMS(nowMS), &res, nil)
		if err := upsert(ctx, tx, route, queue, nowMS, &res); err != nil {
			return err
		}
		if err := inRunningRun(ctx, tx, route, unchanged); err != nil {
			return err
		}
		if err := insertAttempts(ctx, tx, unchanged); err != nil {
			return err
		}
		if cursor != nil {
			return setCursor(ctx, tx, route, *cursor, nowMS)
		}
		return nil
	})
	if err != nil {
		return store.EnqueueResult{}, err
	}
	return res, nil
}

// upsert queues entries (keys distinct) and counts what it did into res.
func upsert(ctx context.Context, tx pgx.Tx, route string, entries []store.NewEntry, nowMS int64, res *store.EnqueueResult) error {
	if len(entries) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, upsertVersionSQL, upsertArgs(route, entries, nowMS)...)
	if err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("upsert: %w", err)
		}
		n++
		if v == 1 {
			res.Inserted++
		} else {
			res.Replaced++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("upsert: %w", err)
	}
	res.Unchanged += len(entries) - n
	return nil
}

// Cursor returns the route's cursor ("" when none).
func (s *Store) Cursor(ctx context.Context, route string) (string, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM cursors WHERE route = $1`, route).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read cursor of route %q: %w", route, err)
	}
	return v, nil
}

// SetCursor sets the route's cursor.
func (s *Store) SetCursor(ctx context.Context, route, value string) error {
	return s.tx(ctx, fmt.Sprintf("set cursor of route %q", route), func(tx pgx.Tx) error {
		return setCursor(ctx, tx, route, value, time.Now().UnixMilli())
	})
}

func setCursor(ctx context.Context, tx pgx.Tx, route, value string, nowMS int64) error {
	_, err := tx.Exec(ctx, `INSERT INTO cursors (route, value, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (route) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		route, value, nowMS)
	if err != nil {
		return fmt.Errorf("set cursor: %w", err)
	}
	return nil
}

// The lease statements pick rows FOR UPDATE SKIP LOCKED: a row another
// worker is leasing right now is passed over rather than waited for, and
// a row leased and committed meanwhile is re-checked (status) and left.
const (
	leasePendingSQL = `WITH c AS (SELECT id FROM entries WHERE route = $4 AND status = 'P'
		ORDER BY priority DESC, id LIMIT $5 FOR UPDATE SKIP LOCKED)
	UPDATE entries e SET status = 'L', lease_owner = $1, lease_until = $2, updated_at = $3
	FROM c WHERE e.id = c.id RETURNING ` + entryColumnsE

	// leaseErrorsSQL leases due errors that are in no batch.
	leaseErrorsSQL = `WITH c AS (SELECT id FROM entries WHERE route = $4 AND status = 'E' AND next_attempt_at <= $3 AND batch = ''
		ORDER BY priority DESC, next_attempt_at, id LIMIT $5 FOR UPDATE SKIP LOCKED)
	UPDATE entries e SET status = 'L', lease_owner = $1, lease_until = $2, updated_at = $3
	FROM c WHERE e.id = c.id RETURNING ` + entryColumnsE

	// firstDueSQL finds the batch of the first due error not being leased.
	firstDueSQL = `SELECT batch FROM entries WHERE route = $1 AND status = 'E' AND next_attempt_at <= $2
	ORDER BY priority DESC, next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED`

	// leaseBatchSQL leases every due error of batch $5, beyond any limit,
	// waiting for rows locked by another worker (then re-checked): a
	// batch is never split.
	leaseBatchSQL = `WITH c AS (SELECT id FROM entries WHERE route = $4 AND status = 'E' AND next_attempt_at <= $3 AND batch = $5
		FOR UPDATE)
	UPDATE entries e SET status = 'L', lease_owner = $1, lease_until = $2, updated_at = $3
	FROM c WHERE e.id = c.id RETURNING ` + entryColumnsE
)

// Lease takes up to req.Limit entries in one transaction (see the
// statements above for the error pass and its batches).
func (s *Store) Lease(ctx context.Context, req store.LeaseRequest) ([]store.Entry, error) {
	if none, err := rules.CheckLease(req); none || err != nil {
		return nil, err
	}
	now := rules.Now(req.Now)
	var (
		out   []store.Entry
		batch string
	)
	err := s.tx(ctx, fmt.Sprintf("lease route %q", req.Route), func(tx pgx.Tx) error {
		out, batch = nil, ""
		q, args := leasePendingSQL, []any{req.Owner, ms(req.Until), ms(now), req.Route, req.Limit}
		if req.Mode == store.LeaseErrors {
			err := tx.QueryRow(ctx, firstDueSQL, req.Route, ms(now)).Scan(&batch)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("first due error: %w", err)
			}
			q = leaseErrorsSQL
			if batch != "" {
				q, args[4] = leaseBatchSQL, batch
			}
		}
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		out, err = collect(rows, scanEntryRows)
		return err
	})
	if err != nil {
		return nil, err
	}
	// RETURNING order is unspecified.
	if batch != "" {
		slices.SortFunc(out, func(a, b store.Entry) int { return cmpInt64(a.ID, b.ID) })
		return out, nil
	}
	slices.SortFunc(out, func(a, b store.Entry) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		return cmpInt64(a.ID, b.ID)
	})
	return out, nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// supersededSQL is true for a leased entry e whose key has newer data: a
// queued (P/E) entry, a leased one with a higher ID, or delivered content
// of a higher ID.
const supersededSQL = `(EXISTS (SELECT 1 FROM entries n WHERE n.route = e.route AND n.key = e.key AND n.status IN ('P', 'E'))
	OR EXISTS (SELECT 1 FROM entries n WHERE n.route = e.route AND n.key = e.key AND n.status = 'L' AND n.id > e.id)
	OR EXISTS (SELECT 1 FROM delivered d WHERE d.route = e.route AND d.key = e.key AND d.entry_id > e.id))`

// ReleaseLeases returns leased entries to P (never tried) or E; one whose
// key has newer data is dropped instead (see store.Store).
func (s *Store) ReleaseLeases(ctx context.Context, route string, now time.Time, owners []string) (int, error) {
	if now.IsZero() && len(owners) == 0 {
		return 0, nil
	}
	if owners == nil {
		owners = []string{}
	}
	// $1 route ('' = all), $2 expiry (0 = by owner only), $3 owners.
	const where = `e.status = 'L' AND ($1 = '' OR e.route = $1) AND (($2::bigint <> 0 AND e.lease_until < $2) OR e.lease_owner = ANY($3))`
	var released int
	err := s.tx(ctx, fmt.Sprintf("release leases of route %q", route), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM entries e WHERE `+where+` AND `+supersededSQL, route, ms(now), owners)
		if err != nil {
			return fmt.Errorf("drop superseded: %w", err)
		}
		dropped := tag.RowsAffected()
		tag, err = tx.Exec(ctx, `UPDATE entries e SET status = CASE WHEN e.attempts > 0 THEN 'E' ELSE 'P' END,
			lease_owner = '', lease_until = 0 WHERE `+where, route, ms(now), owners)
		if err != nil {
			return err
		}
		released = int(tag.RowsAffected() + dropped)
		return nil
	})
	return released, err
}

// extendLeasesSQL moves the lease expiry of those of IDs $3 still leased
// by owner $2 to $1; status::text keeps entries_leased out of the plan
// (see deleteSettledSQL).
const extendLeasesSQL = `UPDATE entries SET lease_until = $1 WHERE id = ANY($3) AND status::text = 'L' AND lease_owner = $2`

// ExtendLeases moves the lease expiry of those of ids still leased by
// owner to until.
func (s *Store) ExtendLeases(ctx context.Context, owner string, ids []int64, until time.Time) (int, error) {
	if none, err := rules.CheckExtend(owner, ids); none || err != nil {
		return 0, err
	}
	var n int64
	err := s.tx(ctx, fmt.Sprintf("extend %d leases of %q", len(ids), owner), func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, extendLeasesSQL, ms(until), owner, ids)
		n = tag.RowsAffected()
		return err
	})
	return int(n), err
}

// LeaseOwners lists the distinct owners of leased entries of route (of
// every route when "").
func (s *Store) LeaseOwners(ctx context.Context, route string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT lease_owner FROM entries WHERE status = 'L' AND ($1 = '' OR route = $1) ORDER BY lease_owner`, route)
	if err != nil {
		return nil, fmt.Errorf("lease owners of route %q: %w", route, err)
	}
	owners, err := collect(rows, func(r pgx.Rows) (string, error) {
		var o string
		return o, r.Scan(&o)
	})
	if err != nil {
		return nil, fmt.Errorf("lease owners of route %q: %w", route, err)
	}
	return owners, nil
}
