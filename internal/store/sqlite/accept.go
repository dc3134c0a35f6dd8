package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"
)

// Accept queues the pushes in one write transaction (see store.Store).
// Pushes to one route are merged into groups while their keys stay
// distinct; a key pushed again starts a new group, so a later push
// replaces an earlier one's content exactly as two EnqueuePage calls
// would. Each group goes through EnqueuePage's rules (see acceptRecords).
func (s *Store) Accept(ctx context.Context, pushes []store.Push, now time.Time) ([][]store.Accepted, error) {
	nowMS := ms(now)
	return rules.Accept(pushes, func(what string, f func(*sql.Tx) error) error { return s.writeTx(ctx, what, f) },
		func(tx *sql.Tx, g rules.Group) ([]store.Accepted, error) {
			return s.acceptRecords(ctx, tx, g.Route, g.Records, nowMS, g.Lease)
		})
}

// acceptRecords queues records of route (keys distinct) by EnqueuePage's
// rules and returns the entry each ends in. Unlike EnqueuePage it always
// reads what the store holds of the keys, hash or not: an unchanged
// record names the queued, leased, delivered or dead entry holding its
// content. With a lease, the records to send are queued leased.
func (s *Store) acceptRecords(ctx context.Context, tx *sql.Tx, route string, records []store.NewEntry, nowMS int64, lease *store.PushLease) ([]store.Accepted, error) {
	out := make([]store.Accepted, len(records))
	var unchanged []store.Attempt
	start := 0
	for chunk := range chunks(records, enqueueChunk) {
		acc := out[start : start+len(chunk)]
		start += len(chunk)
		args := make([]any, 0, len(chunk)+1)
		args = append(args, route)
		var hashed []string
		for _, e := range chunk {
			args = append(args, e.Key)
			if e.Hash != "" {
				hashed = append(hashed, e.Key)
			}
		}
		known, err := s.loadChunkContent(ctx, tx, route, args, hashed)
		if err != nil {
			return nil, err
		}
		queue := make([]store.NewEntry, 0, len(chunk))
		at := make(map[string]int, len(chunk)) // key -> index in chunk, of the records upserted
		for i, e := range chunk {
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
		if lease != nil {
			leased, err := s.acceptLeased(ctx, tx, route, queue, known, nowMS, lease)
			if err != nil {
				return nil, err
			}
			for i := range leased {
				e := &leased[i]
				acc[at[e.Key]] = store.Accepted{EntryID: e.ID, Version: e.Version, Leased: e}
			}
			continue
		}
		if err := s.upsertIDs(ctx, tx, route, queue, nowMS, func(key string, id, version int64) {
			acc[at[key]] = store.Accepted{EntryID: id, Version: version}
			delete(at, key)
		}); err != nil {
			return nil, err
		}
		// The upsert left out what it found unchanged; sameQueued should
		// have caught it first.
		for key, i := range at {
			q, ok := known.Queued[key]
			if !ok {
				return nil, fmt.Errorf("key %q: neither queued nor found queued", key)
			}
			acc[i] = store.Accepted{EntryID: q.ID, Version: q.Version, Unchanged: true}
		}
	}
	if err := s.inRunningRun(ctx, tx, route, unchanged); err != nil {
		return nil, err
	}
	if err := s.insertAttempts(ctx, tx, unchanged); err != nil {
		return nil, err
	}
	return out, nil
}

// upsertIDs is upsert that reports the ID and version of each entry it
// inserted or replaced (RETURNING order is unspecified, so by key).
func (s *Store) upsertIDs(ctx context.Context, tx *sql.Tx, route string, entries []store.NewEntry, nowMS int64, got func(key string, id, version int64)) error {
	if len(entries) == 0 {
		return nil
	}
	q := s.text(textKey{"upsertIDs", 0, len(entries)}, func() string { return upsertSQL(len(entries), "key, id, version") })
	rows, err := s.query(ctx, tx, q, upsertArgs(route, entries, nowMS)...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			key         string
			id, version int64
		)
		if err := rows.Scan(&key, &id, &version); err != nil {
			rows.Close()
			return err
		}
		got(key, id, version)
	}
	return closeRows(rows)
}

// acceptLeased queues records (keys distinct, none unchanged) leased by
// lease's owner, as EnqueueLeased does: a queued entry of the key is
// replaced and leased in place, the rest are inserted leased. It returns
// the entries as stored.
func (s *Store) acceptLeased(ctx context.Context, tx *sql.Tx, route string, records []store.NewEntry, known rules.Content, nowMS int64, lease *store.PushLease) ([]store.Entry, error) {
	untilMS := ms(lease.Until)
	entries := leasedEntries(route, records, fromMS(nowMS), lease.Owner, fromMS(untilMS))
	fresh, err := rules.ReplaceQueued(entries, known, func(e *store.Entry) (bool, error) {
		// The one writer looked the key up in this transaction: its
		// queued entry is there.
		return true, s.replaceQueued(ctx, tx, e, nowMS, untilMS)
	})
	if err != nil {
		return nil, err
	}
	if err := s.insertLeased(ctx, tx, route, fresh, nowMS, lease.Owner, untilMS); err != nil {
		return nil, err
	}
	return entries, nil
}
