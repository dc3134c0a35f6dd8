package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// acceptGroup is records of one route from one or more pushes, their keys
// distinct, queued together: single-record webhook pushes to one route
// become one multi-row upsert instead of one each.
type acceptGroup struct {
	route   string
	records []store.NewEntry
	keys    map[string]int // key -> index in records
}

// slot names where a pushed record's entry is found: a record of a group.
type slot struct{ group, record int }

// Accept queues the pushes in one write transaction (see store.Store).
// Pushes to one route are merged into groups while their keys stay
// distinct; a key pushed again starts a new group, so a later push
// replaces an earlier one's content exactly as two EnqueuePage calls
// would. Each group goes through EnqueuePage's rules (see acceptRecords).
func (s *Store) Accept(ctx context.Context, pushes []store.Push, now time.Time) ([][]store.Accepted, error) {
	groups, slots, err := groupPushes(pushes)
	if err != nil {
		return nil, err
	}
	nowMS := ms(now)
	accepted := make([][]store.Accepted, len(groups))
	if slices.ContainsFunc(groups, func(g acceptGroup) bool { return len(g.records) > 0 }) {
		err = s.writeTx(ctx, fmt.Sprintf("accept %d pushes", len(pushes)), func(tx *sql.Tx) error {
			for i, g := range groups {
				acc, err := s.acceptRecords(ctx, tx, g.route, g.records, nowMS)
				if err != nil {
					return fmt.Errorf("route %q: %w", g.route, err)
				}
				accepted[i] = acc
			}
			return nil
		})
	}
	if err != nil {
		return nil, err
	}
	out := make([][]store.Accepted, len(pushes))
	for i, ss := range slots {
		out[i] = make([]store.Accepted, len(ss))
		for j, sl := range ss {
			out[i][j] = accepted[sl.group][sl.record]
		}
	}
	return out, nil
}

// groupPushes merges the pushes into groups by route (see Accept) and
// says, per push and record, which group record holds it: a key repeated
// within a push maps to its last record.
func groupPushes(pushes []store.Push) ([]acceptGroup, [][]slot, error) {
	var groups []acceptGroup
	open := map[string]int{} // route -> its group still taking records
	slots := make([][]slot, len(pushes))
	for i, p := range pushes {
		if p.Route == "" {
			return nil, nil, fmt.Errorf("accept: push %d: empty route", i)
		}
		kept, _ := lastOfKeys(p.Entries)
		g, ok := open[p.Route]
		if ok && slices.ContainsFunc(kept, func(e store.NewEntry) bool { _, dup := groups[g].keys[e.Key]; return dup }) {
			ok = false
		}
		if !ok {
			g = len(groups)
			groups = append(groups, acceptGroup{route: p.Route, keys: make(map[string]int, len(kept))})
			open[p.Route] = g
		}
		grp := &groups[g]
		for _, e := range kept {
			grp.keys[e.Key] = len(grp.records)
			grp.records = append(grp.records, e)
		}
		slots[i] = make([]slot, len(p.Entries))
		for j, e := range p.Entries {
			slots[i][j] = slot{g, grp.keys[e.Key]}
		}
	}
	return groups, slots, nil
}

// acceptRecords queues records of route (keys distinct) by EnqueuePage's
// rules and returns the entry each ends in. Unlike EnqueuePage it always
// reads what the store holds of the keys, hash or not: an unchanged
// record names the queued, leased, delivered or dead entry holding its
// content.
func (s *Store) acceptRecords(ctx context.Context, tx *sql.Tx, route string, records []store.NewEntry, nowMS int64) ([]store.Accepted, error) {
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
		queued, known, err := s.loadChunkContent(ctx, tx, route, args, hashed)
		if err != nil {
			return nil, err
		}
		queue := make([]store.NewEntry, 0, len(chunk))
		at := make(map[string]int, len(chunk)) // key -> index in chunk, of the records upserted
		for i, e := range chunk {
			q, isQueued := queued[e.Key]
			switch v, ref := known.judge(e.Key, e.Hash, isQueued); {
			case v == inFlight:
				l := known.leased[e.Key]
				acc[i] = store.Accepted{EntryID: l.id, Version: l.version, Unchanged: true}
			case v == alreadyDelivered:
				acc[i] = store.Accepted{EntryID: ref.entryID, Version: ref.version, Unchanged: true}
				unchanged = append(unchanged, unchangedAttempt(route, e.Key, ref, fromMS(nowMS)))
			case isQueued && sameQueued(q, e):
				acc[i] = store.Accepted{EntryID: q.id, Version: q.version, Unchanged: true}
			default:
				at[e.Key] = i
				queue = append(queue, e)
			}
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
			q, ok := queued[key]
			if !ok {
				return nil, fmt.Errorf("key %q: neither queued nor found queued", key)
			}
			acc[i] = store.Accepted{EntryID: q.id, Version: q.version, Unchanged: true}
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

// sameQueued is the upsert's test of a record that changes nothing of
// the queued entry q: the same payload and delete flag, or the same hash.
func sameQueued(q queuedContent, e store.NewEntry) bool {
	return (bytes.Equal(q.payload, nullPayload(e.Payload)) && q.deleted == e.Deleted) || (e.Hash != "" && q.hash == e.Hash)
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
