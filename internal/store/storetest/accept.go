package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func accept(t testing.TB, s store.Store, now time.Time, pushes ...store.Push) [][]store.Accepted {
	t.Helper()
	got, err := s.Accept(context.Background(), pushes, now)
	if err != nil {
		t.Fatalf("Accept(%d pushes): %v", len(pushes), err)
	}
	if len(got) != len(pushes) {
		t.Fatalf("Accept(%d pushes) returned %d results", len(pushes), len(got))
	}
	for i, p := range pushes {
		if len(got[i]) != len(p.Entries) {
			t.Fatalf("Accept: push %d of %d records returned %d", i, len(p.Entries), len(got[i]))
		}
	}
	return got
}

// wantAccepted checks that acc names a fresh or replaced entry of route
// and key stored with p.
func wantAccepted(t testing.TB, s store.Store, acc store.Accepted, route, key string, version int64, p []byte) {
	t.Helper()
	if acc.Unchanged || acc.EntryID == 0 || acc.Version != version {
		t.Errorf("accepted %s/%s = %+v; want an entry at version %d", route, key, acc, version)
		return
	}
	e := entry(t, s, acc.EntryID)
	if e.Route != route || e.Key != key || e.Version != version || e.Status != store.StatusPending {
		t.Errorf("entry %d = %+v; want %s/%s pending at version %d", acc.EntryID, e, route, key, version)
	}
	wantJSON(t, "accepted "+key, e.Payload, p)
}

// Records of one push come back in order, each queued pending (durably,
// with WithSync) and leasable by the main pass.
func testAcceptInOrder(t *testing.T, s store.Store) {
	ctx := store.WithSync(context.Background())
	push := store.Push{Route: "orders", Entries: keys("orders", "c", "a", "b")}
	got, err := s.Accept(ctx, []store.Push{push}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range push.Entries {
		wantAccepted(t, s, got[0][i], "orders", e.Key, 1, e.Payload)
		if i > 0 && got[0][i].EntryID <= got[0][i-1].EntryID {
			t.Errorf("entry IDs %+v are not in push order", got[0])
		}
	}
	leased := lease(t, s, "orders", "w", 10, store.LeasePending, t0)
	if !equal(entryKeys(leased), []string{"c", "a", "b"}) {
		t.Errorf("leased %v, want the pushed records in order", entryKeys(leased))
	}
	if res, err := s.Accept(ctx, nil, t0); err != nil || len(res) != 0 {
		t.Errorf("Accept of no pushes = %+v, %v", res, err)
	}
	if _, err := s.Accept(ctx, []store.Push{{Route: "", Entries: keys("", "x")}}, t0); err == nil {
		t.Error("Accept of a push without route: no error")
	}
}

// Duplicate keys within one push all name the entry holding the last.
func testAcceptDuplicates(t *testing.T, s store.Store) {
	a2 := store.NewEntry{Key: "a", Payload: payload("a", 2)}
	got := accept(t, s, t0, store.Push{Route: "orders", Entries: []store.NewEntry{
		{Key: "a", Payload: payload("a", 1)}, {Key: "b", Payload: payload("b", 1)}, a2,
	}})[0]
	if got[0] != got[2] {
		t.Errorf("duplicates of a = %+v and %+v, want the same entry", got[0], got[2])
	}
	wantAccepted(t, s, got[2], "orders", "a", 1, a2.Payload)
	if es := keyEntries(t, s, "a"); len(es) != 1 {
		t.Errorf("entries of a = %+v, want one", es)
	}
}

// A pushed record whose content the store holds already names the entry
// holding it, Unchanged; another content is queued as EnqueuePage would.
func testAcceptUnchanged(t *testing.T, open func(t *testing.T) store.Store) {
	later := t0.Add(time.Minute)
	rec := func(n int, hash string) store.NewEntry {
		return store.NewEntry{Key: "a", Payload: payload("a", n), Hash: hash}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, s store.Store) store.Entry // returns the entry holding a's content
		push  store.NewEntry
		// unchanged: acc names the setup entry at its version; otherwise
		// replaced (same ID, version+1) or beside (a new entry).
		unchanged, replaced bool
		attempt             bool // an "unchanged" attempt is recorded under the setup entry
	}{
		{"queued same payload", queuedA, rec(1, ""), true, false, false},
		{"queued same hash", queuedA, store.NewEntry{Key: "a", Payload: payload("a", 9), Hash: "h1"}, true, false, false},
		{"queued other payload", queuedA, rec(2, ""), false, true, false},
		{"in error other payload", func(t *testing.T, s store.Store) store.Entry {
			return makeError(t, s, "orders", "a", t0.Add(time.Hour))
		}, rec(2, ""), false, true, false},
		{"leased same hash", func(t *testing.T, s store.Store) store.Entry {
			got, _ := enqueueLeased(t, s, "orders", "w", t0, rec(1, "h1"))
			return got[0]
		}, rec(1, "h1"), true, false, false},
		{"leased other hash", func(t *testing.T, s store.Store) store.Entry {
			got, _ := enqueueLeased(t, s, "orders", "w", t0, rec(1, "h1"))
			return got[0]
		}, rec(2, "h2"), false, false, false},
		{"delivered same hash", func(t *testing.T, s store.Store) store.Entry {
			return deliver(t, s, rec(1, "h1"))
		}, rec(1, "h1"), true, false, true},
		{"delivered other hash", func(t *testing.T, s store.Store) store.Entry {
			return deliver(t, s, rec(1, "h1"))
		}, rec(2, "h2"), false, false, false},
		{"dead same hash", func(t *testing.T, s store.Store) store.Entry {
			return kill(t, s, rec(1, "h1"))
		}, rec(1, "h1"), true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			held := tc.setup(t, s)
			acc := accept(t, s, later, store.Push{Route: "orders", Entries: []store.NewEntry{tc.push}})[0][0]
			switch {
			case tc.unchanged:
				if !acc.Unchanged || acc.EntryID != held.ID || acc.Version != held.Version {
					t.Errorf("accepted = %+v; want unchanged, entry %d version %d", acc, held.ID, held.Version)
				}
				if tc.attempt {
					wantUnchangedAttempt(t, s, held)
				}
			case tc.replaced:
				if acc.EntryID != held.ID {
					t.Errorf("accepted = %+v; want entry %d replaced", acc, held.ID)
				}
				wantAccepted(t, s, acc, "orders", "a", held.Version+1, tc.push.Payload)
			default:
				if acc.EntryID <= held.ID {
					t.Errorf("accepted = %+v; want a new entry beside %d", acc, held.ID)
				}
				wantAccepted(t, s, acc, "orders", "a", 1, tc.push.Payload)
			}
		})
	}
}

// queuedA queues a pending entry of key a with hash h1.
func queuedA(t *testing.T, s store.Store) store.Entry {
	t.Helper()
	enqueue(t, s, "orders", t0, store.NewEntry{Key: "a", Payload: payload("a", 1), Hash: "h1"})
	return keyEntries(t, s, "a")[0]
}

// Several pushes to two routes in one call apply in order, each route's
// keys apart: a key pushed again replaces the earlier push's content, the
// same content again is unchanged.
func testAcceptSeveralPushes(t *testing.T, s store.Store) {
	a2 := store.NewEntry{Key: "a", Payload: payload("a", 2)}
	got := accept(t, s, t0,
		store.Push{Route: "orders", Entries: keys("orders", "a")},
		store.Push{Route: "stock", Entries: keys("stock", "a")},
		store.Push{Route: "orders", Entries: keys("orders", "b")},
		store.Push{Route: "orders", Entries: []store.NewEntry{a2}},
		store.Push{Route: "stock", Entries: keys("stock", "x", "y")},
		store.Push{Route: "orders", Entries: keys("orders", "b")},
	)
	ordersA, stockA, ordersB := got[0][0], got[1][0], got[2][0]
	if ordersA.Unchanged || stockA.Unchanged || ordersA.EntryID == stockA.EntryID || ordersA.Version != 1 {
		t.Errorf("a of orders %+v and of stock %+v; want two new entries", ordersA, stockA)
	}
	if r := got[3][0]; r.EntryID != ordersA.EntryID || r.Version != 2 || r.Unchanged {
		t.Errorf("a pushed again = %+v; want entry %d replaced (version 2)", r, ordersA.EntryID)
	}
	if r := got[5][0]; r.EntryID != ordersB.EntryID || r.Version != 1 || !r.Unchanged {
		t.Errorf("b pushed again unchanged = %+v; want entry %d unchanged", r, ordersB.EntryID)
	}
	wantAccepted(t, s, got[3][0], "orders", "a", 2, a2.Payload)
	wantAccepted(t, s, stockA, "stock", "a", 1, payload("a", 1))
	wantAccepted(t, s, got[4][1], "stock", "y", 1, payload("y", 1))
	if c := counts(t, s, "orders"); c.Pending != 2 {
		t.Errorf("orders counts = %+v, want a and b pending", c)
	}
	if c := counts(t, s, "stock"); c.Pending != 3 {
		t.Errorf("stock counts = %+v, want a, x and y pending", c)
	}
	leased := lease(t, s, "orders", "w", 10, store.LeasePending, t0)
	if !equal(entryKeys(leased), []string{"a", "b"}) || leased[0].Version != 2 {
		t.Errorf("leased %+v, want a (version 2) and b", leased)
	}
}
