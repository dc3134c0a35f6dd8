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

// insertLeasedSQL inserts fresh entries leased by $3 until $4, from
// parallel arrays, returning each ID with its key (the keys are distinct).
const insertLeasedSQL = `INSERT INTO entries (route, created_at, updated_at, next_attempt_at, lease_owner, lease_until,
		key, payload, priority, hash, deleted, status, version)
	SELECT $1, $2, $2, $2, $3, $4, u.key, u.payload, u.priority, u.hash, u.deleted, 'L', 1
	FROM unnest($5::text[], $6::bytea[], $7::integer[], $8::text[], $9::boolean[]) AS u(key, payload, priority, hash, deleted)
	RETURNING id, key`

// EnqueueLeased queues the page leased by owner in one transaction: the
// page's keys are looked up once; queued (P/E) entries with another
// payload are replaced and leased in place, records judged unchanged are
// left out, and the rest go in one insert.
func (s *Store) EnqueueLeased(ctx context.Context, route string, entries []store.NewEntry, cursor *string, now time.Time, owner string, until time.Time) ([]store.Entry, store.EnqueueResult, error) {
	if route == "" {
		return nil, store.EnqueueResult{}, errors.New("enqueue leased: empty route")
	}
	if owner == "" {
		return nil, store.EnqueueResult{}, fmt.Errorf("enqueue leased to route %q: empty owner", route)
	}
	nowMS, untilMS := ms(now), ms(until)
	kept, dups := rules.LastOfKeys(entries)
	var (
		out []store.Entry
		res store.EnqueueResult
	)
	err := s.tx(ctx, fmt.Sprintf("enqueue %d leased entries of route %q", len(entries), route), func(tx pgx.Tx) error {
		res = store.EnqueueResult{Replaced: dups}
		out = leasedEntries(route, kept, fromMS(nowMS), owner, fromMS(untilMS))
		keys := make([]string, len(kept))
		for i, e := range kept {
			keys[i] = e.Key
		}
		known, err := loadContent(ctx, tx, route, keys)
		if err != nil {
			return err
		}
		var (
			unchanged []store.Attempt
			fresh     []*store.Entry
		)
		for i := range out {
			e := &out[i]
			action, attempt := known.Lease(route, e, fromMS(nowMS))
			if attempt != nil {
				unchanged = append(unchanged, *attempt)
			}
			switch action {
			case rules.LeaseKeep:
				res.Unchanged++ // a queued one stays queued as it is, for the normal passes
				continue
			case rules.LeaseInsert:
				fresh = append(fresh, e)
				continue
			}
			replaced, err := replaceLeased(ctx, tx, e, nowMS, untilMS)
			if err != nil {
				return err
			}
			if !replaced { // leased by another worker since the look-up: queued beside it
				fresh = append(fresh, e)
				continue
			}
			res.Replaced++
		}
		if err := insertLeased(ctx, tx, route, fresh, nowMS, owner, untilMS); err != nil {
			return err
		}
		res.Inserted += len(fresh)
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
		return nil, store.EnqueueResult{}, err
	}
	// Records not queued kept ID 0.
	out = slices.DeleteFunc(out, func(e store.Entry) bool { return e.ID == 0 })
	return out, res, nil
}

// leasedEntries builds the entries EnqueueLeased returns, in page order.
func leasedEntries(route string, entries []store.NewEntry, now time.Time, owner string, until time.Time) []store.Entry {
	out := make([]store.Entry, 0, len(entries))
	for _, e := range entries {
		out = append(out, store.Entry{
			Route: route, Key: e.Key, Version: 1, Payload: rules.NullPayload(e.Payload), Status: store.StatusLeased, Priority: e.Priority,
			Hash: e.Hash, Deleted: e.Deleted, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now, LeaseOwner: owner, LeaseUntil: until,
		})
	}
	return out
}

// replaceLeased replaces the queued (P/E) entry of e's key with e's
// content, leased, and fills e's ID, Version, Attempts, LastError and
// CreatedAt from it. It reports false when the key has no queued entry
// any more: a worker of another process leased it after the look-up.
func replaceLeased(ctx context.Context, tx pgx.Tx, e *store.Entry, nowMS, untilMS int64) (bool, error) {
	var (
		created  int64
		attempts int32
	)
	err := tx.QueryRow(ctx, `UPDATE entries SET status = 'L', payload = $1, priority = $2, hash = $3, version = version + 1,
		attempts = 0, last_error = '', batch = '', next_attempt_at = $4, updated_at = $4, lease_owner = $5, lease_until = $6, deleted = $7
		WHERE route = $8 AND key = $9 AND status IN ('P', 'E')
		RETURNING id, version, attempts, last_error, created_at`,
		[]byte(e.Payload), int32(e.Priority), e.Hash, nowMS, e.LeaseOwner, untilMS, e.Deleted, e.Route, e.Key).
		Scan(&e.ID, &e.Version, &attempts, &e.LastError, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("replace queued entry %q: %w", e.Key, err)
	}
	e.Attempts, e.CreatedAt = int(attempts), fromMS(created)
	return true, nil
}

// insertLeased inserts fresh entries leased and sets their IDs.
func insertLeased(ctx context.Context, tx pgx.Tx, route string, fresh []*store.Entry, nowMS int64, owner string, untilMS int64) error {
	if len(fresh) == 0 {
		return nil
	}
	n := len(fresh)
	var (
		keys, hashes = make([]string, n), make([]string, n)
		payloads     = make([][]byte, n)
		prios        = make([]int32, n)
		deleted      = make([]bool, n)
		byKey        = make(map[string]*store.Entry, n)
	)
	for i, e := range fresh {
		keys[i], payloads[i], prios[i], hashes[i], deleted[i] = e.Key, e.Payload, int32(e.Priority), e.Hash, e.Deleted
		byKey[e.Key] = e
	}
	rows, err := tx.Query(ctx, insertLeasedSQL, route, nowMS, owner, untilMS, keys, payloads, prios, hashes, deleted)
	if err != nil {
		return fmt.Errorf("insert leased entries: %w", err)
	}
	defer rows.Close()
	got := 0
	for rows.Next() {
		var (
			id  int64
			key string
		)
		if err := rows.Scan(&id, &key); err != nil {
			return fmt.Errorf("insert leased entries: %w", err)
		}
		if e := byKey[key]; e != nil {
			e.ID = id
			got++
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("insert leased entries: %w", err)
	}
	if got != n {
		return fmt.Errorf("insert leased entries: %d rows inserted of %d", got, n)
	}
	return nil
}
