package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func extend(t testing.TB, s store.Store, owner string, ids []int64, until time.Time) int {
	t.Helper()
	n, err := s.ExtendLeases(context.Background(), owner, ids, until)
	if err != nil {
		t.Fatalf("ExtendLeases(%q): %v", owner, err)
	}
	return n
}

// ExtendLeases moves only the leases owner still holds: not another
// owner's, not one taken over after it expired, not a queued entry's.
func testExtendLeases(t *testing.T, s store.Store) {
	later := t0.Add(5 * time.Minute)
	enqueue(t, s, "orders", t0, keys("orders", "a", "b", "c")...)
	mine := lease(t, s, "orders", "w1", 2, store.LeasePending, t0) // a, b until t0+1m
	theirs := lease(t, s, "orders", "w2", 1, store.LeasePending, t0)
	enqueue(t, s, "orders", t0, keys("orders", "d")...) // pending

	if n := extend(t, s, "w1", nil, later); n != 0 {
		t.Errorf("extended %d of no entries", n)
	}
	all := append(ids(mine), theirs[0].ID, keyEntries(t, s, "d")[0].ID, 987654)
	if n := extend(t, s, "w1", all, later); n != 2 {
		t.Errorf("extended %d, want w1's 2", n)
	}
	for _, e := range mine {
		if got := entry(t, s, e.ID); got.Status != store.StatusLeased || got.LeaseOwner != "w1" || !got.LeaseUntil.Equal(later) {
			t.Errorf("w1's entry %s = %+v, want leased until %v", e.Key, got, later)
		}
	}
	if got := entry(t, s, theirs[0].ID); got.LeaseOwner != "w2" || !got.LeaseUntil.Equal(t0.Add(time.Minute)) {
		t.Errorf("w2's entry = %+v, want its lease untouched", got)
	}
	if got := keyEntries(t, s, "d")[0]; got.Status != store.StatusPending || !got.LeaseUntil.IsZero() {
		t.Errorf("pending entry = %+v, want untouched", got)
	}

	// w2's lease expires and w3 takes the entry over: w2 can no longer
	// extend it, and only the ones it still holds are counted.
	if n := release(t, s, "orders", t0.Add(2*time.Minute), "nobody"); n != 1 {
		t.Fatalf("released %d, want w2's expired one", n)
	}
	over := lease(t, s, "orders", "w3", 1, store.LeasePending, t0.Add(2*time.Minute))
	if len(over) != 1 || over[0].ID != theirs[0].ID {
		t.Fatalf("take-over leased %v, want entry %d", ids(over), theirs[0].ID)
	}
	if n := extend(t, s, "w2", ids(theirs), later); n != 0 {
		t.Errorf("w2 extended %d entries taken over by w3", n)
	}
	if got := entry(t, s, over[0].ID); got.LeaseOwner != "w3" || !got.LeaseUntil.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("w3's entry = %+v, want its own lease", got)
	}
}
