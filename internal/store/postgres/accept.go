package postgres

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ferry-dev/ferry/internal/store"
)

// acceptGroup is records of one route from one or more pushes, their keys
// distinct, queued together: single-record webhook pushes to one route
// become one upsert instead of one each.
type acceptGroup struct {
	route   string
	records []store.NewEntry
	keys    map[string]int // key -> index in records
}

// slot names where a pushed record's entry is found: a record of a group.
type slot struct{ group, record int }

// Accept queues the pushes in one transaction (see store.Store). Pushes
// to one route are merged into groups while their keys stay distinct; a
// key pushed again starts a new group, so a later push replaces an
// earlier one's content exactly as two EnqueuePage calls would.
func (s *Store) Accept(ctx context.Context, pushes []store.Push, now time.Time) ([][]store.Accepted, error) {
	groups, slots, err := groupPushes(pushes)
	if err != nil {
		return nil, err
	}
	nowMS := ms(now)
	accepted := make([][]store.Accepted, len(groups))
	if slices.ContainsFunc(groups, func(g acceptGroup) bool { return len(g.records) > 0 }) {
		err = s.tx(ctx, fmt.Sprintf("accept %d pushes", len(pushes)), func(tx pgx.Tx) error {
			for i, g := range groups {
				acc, err := acceptRecords(ctx, tx, g.route, g.records, nowMS)
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
// record names the entry holding its content.
func acceptRecords(ctx context.Context, tx pgx.Tx, route string, records []store.NewEntry, nowMS int64) ([]store.Accepted, error) {
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
		q, isQueued := known.queued[e.Key]
		switch v, ref := known.judge(e.Key, e.Hash); {
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

// sameQueued is the upsert's test of a record that changes nothing of
// the queued entry q: the same payload and delete flag, or the same hash.
func sameQueued(q queuedContent, e store.NewEntry) bool {
	return (bytes.Equal(q.payload, nullPayload(e.Payload)) && q.deleted == e.Deleted) || (e.Hash != "" && q.hash == e.Hash)
}
