package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// Pushes with a lease queue the records to send leased to its owner, as
// EnqueueLeased would: a new key is inserted leased, a queued entry with
// other content is replaced and leased in place (same ID, next version),
// a record whose content is queued already stays as it is. Accepted
// carries each leased entry as stored; the main pass does not lease them
// again; a push to the route without the lease is queued pending; the
// owner settles them; a released lease puts them back in the queue.
func testAcceptLeased(t *testing.T, s store.Store) {
	ctx := context.Background()
	until := t0.Add(time.Minute)
	enqueue(t, s, "orders", t0,
		store.NewEntry{Key: "b", Payload: payload("b", 1)},
		store.NewEntry{Key: "c", Payload: payload("c", 1), Hash: "hc"})
	queuedB := keyEntries(t, s, "b")[0]
	pl := &store.PushLease{Owner: "w", Until: until}
	got := accept(t, s, t0,
		store.Push{Route: "orders", Lease: pl, Entries: []store.NewEntry{
			{Key: "a", Payload: payload("a", 1)},
			{Key: "b", Payload: payload("b", 2)},
			{Key: "c", Payload: payload("c", 9), Hash: "hc"},
		}},
		store.Push{Route: "orders", Entries: keys("orders", "d")},
		store.Push{Route: "orders", Lease: pl, Entries: keys("orders", "e")},
	)
	a, b, c, d, e := got[0][0], got[0][1], got[0][2], got[1][0], got[2][0]
	for _, x := range []struct {
		name    string
		acc     store.Accepted
		version int64
	}{{"a", a, 1}, {"b", b, 2}, {"e", e, 1}} {
		l := x.acc.Leased
		if l == nil || x.acc.Unchanged || l.ID != x.acc.EntryID || l.Version != x.version || l.Key != x.name || l.Route != "orders" ||
			l.Status != store.StatusLeased || l.LeaseOwner != "w" || !l.LeaseUntil.Equal(until) || l.Attempts != 0 {
			t.Errorf("accepted %s = %+v, leased %+v; want it leased to w until %v at version %d", x.name, x.acc, l, until, x.version)
			continue
		}
		stored := entry(t, s, l.ID)
		if stored.Status != store.StatusLeased || stored.LeaseOwner != "w" || stored.Version != x.version {
			t.Errorf("entry %s as stored = %+v; want leased to w at version %d", x.name, stored, x.version)
		}
		wantJSON(t, "leased "+x.name, l.Payload, stored.Payload)
	}
	if b.EntryID != queuedB.ID {
		t.Errorf("b = %+v; want the queued entry %d replaced", b, queuedB.ID)
	}
	if !c.Unchanged || c.Leased != nil {
		t.Errorf("c (its content queued already) = %+v; want unchanged, not leased", c)
	}
	if d.Leased != nil || d.Unchanged {
		t.Errorf("d (pushed without a lease) = %+v; want queued pending", d)
	}
	if got := entryKeys(lease(t, s, "orders", "w2", 10, store.LeasePending, t0)); !equal(got, []string{"c", "d"}) {
		t.Errorf("the main pass leased %v; want only c and d, the entries not leased by the push", got)
	}
	settle(t, s, "w", done(*a.Leased), done(*b.Leased))
	gone(t, s, a.EntryID)
	gone(t, s, b.EntryID)
	if n, err := s.ReleaseLeases(ctx, "orders", time.Time{}, []string{"w"}); err != nil || n != 1 {
		t.Fatalf("ReleaseLeases(w) = %d, %v; want e released", n, err)
	}
	if got := entry(t, s, e.EntryID); got.Status != store.StatusPending {
		t.Errorf("e after its lease was released = %+v; want pending", got)
	}
	noOwner := store.Push{Route: "orders", Lease: &store.PushLease{Until: until}, Entries: keys("orders", "f")}
	if _, err := s.Accept(ctx, []store.Push{noOwner}, t0); err == nil {
		t.Error("Accept with a lease without an owner: no error")
	}
}
