package rules

import (
	"fmt"
	"slices"

	"github.com/ferry-dev/ferry/internal/store"
)

// Group is records of one route from one or more pushes, their keys
// distinct, queued together: single-record webhook pushes to one route
// become one upsert instead of one each.
type Group struct {
	Route   string
	Records []store.NewEntry
	Lease   *store.PushLease // the pushes' lease: one per group
	keys    map[string]int   // key -> index in Records
}

// Slot names where a pushed record's entry is found: a record of a group.
type Slot struct{ Group, Record int }

// GroupPushes merges the pushes of an Accept into groups by route while
// their keys stay distinct; a key pushed again starts a new group, so a
// later push replaces an earlier one's content exactly as two EnqueuePage
// calls would, and so does a push with another lease. It says, per push
// and record, which group record holds it: a key repeated within a push
// maps to its last record.
func GroupPushes(pushes []store.Push) ([]Group, [][]Slot, error) {
	var groups []Group
	open := map[string]int{} // route -> its group still taking records
	slots := make([][]Slot, len(pushes))
	for i, p := range pushes {
		if p.Route == "" {
			return nil, nil, fmt.Errorf("accept: push %d: empty route", i)
		}
		if p.Lease != nil && p.Lease.Owner == "" {
			return nil, nil, fmt.Errorf("accept: push %d to route %q: lease without an owner", i, p.Route)
		}
		kept, _ := LastOfKeys(p.Entries)
		g, ok := open[p.Route]
		if ok && (!groups[g].Lease.Same(p.Lease) || slices.ContainsFunc(kept, func(e store.NewEntry) bool { _, dup := groups[g].keys[e.Key]; return dup })) {
			ok = false
		}
		if !ok {
			g = len(groups)
			groups = append(groups, Group{Route: p.Route, Lease: p.Lease, keys: make(map[string]int, len(kept))})
			open[p.Route] = g
		}
		grp := &groups[g]
		for _, e := range kept {
			grp.keys[e.Key] = len(grp.Records)
			grp.Records = append(grp.Records, e)
		}
		slots[i] = make([]Slot, len(p.Entries))
		for j, e := range p.Entries {
			slots[i][j] = Slot{g, grp.keys[e.Key]}
		}
	}
	return groups, slots, nil
}

// AnyRecords says whether any group has a record (a store opens no
// transaction for pushes with none).
func AnyRecords(groups []Group) bool {
	return slices.ContainsFunc(groups, func(g Group) bool { return len(g.Records) > 0 })
}

// Spread answers each push from what its groups were accepted as
// (accepted[group][record]), by the slots of GroupPushes.
func Spread(slots [][]Slot, accepted [][]store.Accepted) [][]store.Accepted {
	out := make([][]store.Accepted, len(slots))
	for i, ss := range slots {
		out[i] = make([]store.Accepted, len(ss))
		for j, sl := range ss {
			out[i][j] = accepted[sl.Group][sl.Record]
		}
	}
	return out
}

// ReplaceQueued sorts the entries of pushed records to be queued leased
// (keys distinct, none unchanged): where known has a queued entry of the
// key, replace puts the record in its place, leased; false says a worker
// of another process leased it since the look-up, and the record goes in
// beside it. It returns the entries left to insert.
func ReplaceQueued(entries []store.Entry, known Content, replace func(e *store.Entry) (bool, error)) ([]*store.Entry, error) {
	fresh := make([]*store.Entry, 0, len(entries))
	for i := range entries {
		e := &entries[i]
		if _, queued := known.Queued[e.Key]; queued {
			replaced, err := replace(e)
			if err != nil {
				return nil, err
			}
			if replaced {
				continue
			}
		}
		fresh = append(fresh, e)
	}
	return fresh, nil
}
