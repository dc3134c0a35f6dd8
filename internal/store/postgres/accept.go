package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// Accept queues the pushes in one transaction (see store.Store). Pushes
// to one route are merged into groups while their keys stay distinct; a
// key pushed again starts a new group, so a later push replaces an
// earlier one's content exactly as two EnqueuePage calls would.
func (s *Store) Accept(ctx context.Context, pushes []store.Push, now time.Time) ([][]store.Accepted, error) {
	nowMS := ms(now)
	return rules.Accept(pushes, func(what string, f func(pgx.Tx) error) error { return s.tx(ctx, what, f) },
		func(tx pgx.Tx, g rules.Group) ([]store.Accepted, error) {
			return acceptRecords(ctx, tx, g.Route, g.Records, nowMS, g.Lease)
		})
}

// acceptRecords queues records of route (keys distinct) by EnqueuePage's
// rules and returns the entry each ends in. Unlike EnqueuePage it always
// reads what the store holds of the keys, hash or not: an unchanged
// record names the entry holding its content. With a lease, the records
// to send are queued leased.
func acceptRecords(ctx context.Context, tx pgx.Tx, route string, records []store.NewEntry, nowMS int64, lease *store.PushLease) ([]store.Accepted, error) {
	acc := make([]store.Accepted, len(records))
	keys := make([]string, len(records))
	for i, e := range records {
		keys[i] = e.Key
	}
	known, err := loadContent(ctx, tx, route, keys)
	if err != nil {
		return nil, err
	}
	var unchanged []store.Attempt
	queue := make([]store.NewEntry, 0, len(records))
	at := make(map[string]int, len(records)) // key -> index in records, of the records upserted
	for i, e := range records {
		a, attempt, settled := known.Accept(route, e, fromMS(nowMS))
		if !settled {
			at[e.Key] = i
			queue = append(queue, e)
			continue
		}
		acc[i] = a
		if attempt != nil {
			unchanged = append(unchanged, *attempt)
		}
	}
	if len(queue) > 0 && lease != nil {
		leased, err := acceptLeased(ctx, tx, route, queue, known, nowMS, lease)
		if err != nil {
			return nil, err
		}
		for i := range leased {
			e := &leased[i]
			acc[at[e.Key]] = store.Accepted{EntryID: e.ID, Version: e.Version, Leased: e}
		}
		queue, at = nil, nil
	}
	if len(queue) > 0 {
		rows, err := tx.Query(ctx, upsertIDsSQL, upsertArgs(route, queue, nowMS)...)
		if err != nil {
			return nil, fmt.Errorf("upsert: %w", err)
		}
		type row struct {
			key         string
			id, version int64
		}
		got, err := collect(rows, func(r pgx.Rows) (row, error) {
			var x row
			return x, r.Scan(&x.key, &x.id, &x.version)
		})
		if err != nil {
			return nil, fmt.Errorf("upsert: %w", err)
		}
		for _, x := range got {
			acc[at[x.key]] = store.Accepted{EntryID: x.id, Version: x.version}
			delete(at, x.key)
		}
	}
	// The upsert left out what it found unchanged (a queued entry written
	// by another process since the look-up); name the queued entry.
	for key, i := range at {
		var id, version int64
		if err := tx.QueryRow(ctx, `SELECT id, version FROM entries WHERE route = $1 AND key = $2 AND status IN ('P', 'E')`,
			route, key).Scan(&id, &version); err != nil {
			return nil, fmt.Errorf("key %q: neither queued nor found queued: %w", key, err)
		}
		acc[i] = store.Accepted{EntryID: id, Version: version, Unchanged: true}
	}
	if err := inRunningRun(ctx, tx, route, unchanged); err != nil {
		return nil, err
	}
	if err := insertAttempts(ctx, tx, unchanged); err != nil {
		return nil, err
	}
	return acc, nil
}

// acceptLeased queues records (keys distinct, none unchanged) leased by
// lease's owner, as EnqueueLeased does: a queued entry of the key is
// replaced and leased in place (or, when a worker of another process
// leased it since the look-up, the record is inserted beside it), the
// rest are inserted leased. It returns the entries as stored.
func acceptLeased(ctx context.Context, tx pgx.Tx, route string, records []store.NewEntry, known rules.Content, nowMS int64, lease *store.PushLease) ([]store.Entry, error) {
	untilMS := ms(lease.Until)
	entries := leasedEntries(route, records, fromMS(nowMS), lease.Owner, fromMS(untilMS))
	fresh, err := rules.ReplaceQueued(entries, known, func(e *store.Entry) (bool, error) {
		return replaceLeased(ctx, tx, e, nowMS, untilMS)
	})
	if err != nil {
		return nil, err
	}
	if err := insertLeased(ctx, tx, route, fresh, nowMS, lease.Owner, untilMS); err != nil {
		return nil, err
	}
	return entries, nil
}
