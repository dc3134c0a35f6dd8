package engine

import (
	"testing"

	"github.com/ferry-dev/ferry/internal/store"
)

// Of the versions of a key in one batch only the newest is sent: a
// newer entry (higher ID), or a newer version of the same entry (it was
// replaced in the queue after its lease ran out and handed over again).
func TestNewestVersionsOfABatch(t *testing.T) {
	batch := []handed{
		{entry: store.Entry{ID: 7, Key: "a", Version: 2}},
		{entry: store.Entry{ID: 7, Key: "a", Version: 1}},
		{entry: store.Entry{ID: 5, Key: "b", Version: 3}},
		{entry: store.Entry{ID: 9, Key: "b", Version: 1}},
		{entry: store.Entry{ID: 4, Key: "c", Version: 1}},
	}
	got := newestVersions(batch)
	want := map[string]entryVersion{"a": {7, 2}, "b": {9, 1}, "c": {4, 1}}
	if len(got) != len(want) {
		t.Fatalf("newest = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("newest[%q] = %+v, want %+v", k, got[k], v)
		}
	}
}

// The lease of an entry the run holds is extended until the entry is
// settled in the version held: the late settlement of an older version
// (the entry was replaced and handed over again) settled nothing.
func TestLiveKeepsANewerVersionHeld(t *testing.T) {
	l := &live{held: map[int64]int64{}}
	l.hold([]store.Entry{{ID: 7, Version: 1}, {ID: 8, Version: 1}})
	l.holdWork([]handed{{entry: store.Entry{ID: 7, Version: 2}}})
	settled := func(id, version int64) store.Settlement {
		return store.Settlement{EntryID: id, Attempt: store.Attempt{EntryID: id, Version: version}}
	}
	l.release([]store.Settlement{settled(7, 1), settled(8, 1)})
	if got := l.heldIDs(); len(got) != 1 || got[0] != 7 {
		t.Fatalf("held after settling 7 v1 and 8 v1 = %v; want 7 (its version 2 is in flight)", got)
	}
	l.release([]store.Settlement{settled(7, 2)})
	if got := l.heldIDs(); len(got) != 0 {
		t.Fatalf("held after settling 7 v2 = %v; want none", got)
	}
}
