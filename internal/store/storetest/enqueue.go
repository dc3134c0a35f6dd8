package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func testEnqueueInsert(t *testing.T, s store.Store) {
	res := enqueue(t, s, "orders", t0,
		store.NewEntry{Key: "a", Payload: payload("a", 1), Priority: 2},
		store.NewEntry{Key: "b", Payload: payload("b", 1), Hash: "hb"},
	)
	if res != (store.EnqueueResult{Inserted: 2}) {
		t.Fatalf("result = %+v, want 2 inserted", res)
	}
	got := list(t, s, store.EntryFilter{Route: "orders"})
	if got[0].Hash != "" || got[1].Hash != "hb" || got[0].Batch != "" {
		t.Errorf("hashes = %q, %q; want \"\" and hb as given", got[0].Hash, got[1].Hash)
	}
	if want := []string{"a", "b"}; !equal(entryKeys(got), want) {
		t.Fatalf("keys = %v, want %v", entryKeys(got), want)
	}
	a := got[0]
	if a.Route != "orders" || a.Status != store.StatusPending || a.Version != 1 || a.Priority != 2 ||
		a.Attempts != 0 || a.LastError != "" || a.LeaseOwner != "" || !a.LeaseUntil.IsZero() {
		t.Errorf("entry a = %+v", a)
	}
	if !a.CreatedAt.Equal(t0) || !a.UpdatedAt.Equal(t0) || !a.NextAttemptAt.Equal(t0) {
		t.Errorf("times of a: created %v updated %v next %v, want all %v", a.CreatedAt, a.UpdatedAt, a.NextAttemptAt, t0)
	}
	wantJSON(t, "a", a.Payload, payload("a", 1))
	if got[0].ID >= got[1].ID {
		t.Errorf("IDs not ascending in queue order: %d, %d", got[0].ID, got[1].ID)
	}
	if one := entry(t, s, a.ID); one.Key != "a" || one.ID != a.ID {
		t.Errorf("Entry(%d) = %+v", a.ID, one)
	}
}

func testEnqueueCoalescesPending(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a", "b")...)
	before := list(t, s, store.EntryFilter{Route: "orders", Key: "a"})[0]
	later := t0.Add(time.Minute)
	res := enqueue(t, s, "orders", later, store.NewEntry{Key: "a", Payload: payload("a", 2), Priority: 7})
	if res != (store.EnqueueResult{Replaced: 1}) {
		t.Fatalf("result = %+v, want 1 replaced", res)
	}
	all := list(t, s, store.EntryFilter{Route: "orders"})
	if len(all) != 2 {
		t.Fatalf("got %d entries, want 2 (coalesced)", len(all))
	}
	a := entry(t, s, before.ID)
	if a.Version != 2 || a.Priority != 7 || a.Status != store.StatusPending || !a.UpdatedAt.Equal(later) || !a.CreatedAt.Equal(t0) {
		t.Errorf("replaced entry = %+v; want same ID, version 2, priority 7, created %v, updated %v", a, t0, later)
	}
	wantJSON(t, "replaced", a.Payload, payload("a", 2))
}

func testEnqueueCoalescesError(t *testing.T, s store.Store) {
	e := makeError(t, s, "orders", "a", t0.Add(time.Hour))
	if e.Status != store.StatusError || e.Attempts != 1 {
		t.Fatalf("setup: entry = %+v, want E with 1 attempt", e)
	}
	later := t0.Add(time.Minute)
	res := enqueue(t, s, "orders", later, store.NewEntry{Key: "a", Payload: payload("a", 2)})
	if res != (store.EnqueueResult{Replaced: 1}) {
		t.Fatalf("result = %+v, want 1 replaced", res)
	}
	got := entry(t, s, e.ID)
	if got.Status != store.StatusPending || got.Version != e.Version+1 || got.Attempts != 0 || got.LastError != "" || !got.NextAttemptAt.Equal(later) {
		t.Errorf("entry = %+v; want P, version %d, attempts and error reset (a new version gets its full retries), due %v", got, e.Version+1, later)
	}
	wantJSON(t, "replaced", got.Payload, payload("a", 2))
}

func testEnqueueLeasedQueuesBeside(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a")...)
	old := lease(t, s, "orders", "w1", 10, store.LeasePending, t0)
	if len(old) != 1 {
		t.Fatalf("leased %d, want 1", len(old))
	}
	res := enqueue(t, s, "orders", t0, store.NewEntry{Key: "a", Payload: payload("a", 2)})
	if res != (store.EnqueueResult{Inserted: 1}) {
		t.Fatalf("result = %+v, want 1 inserted beside the leased entry", res)
	}
	if e := entry(t, s, old[0].ID); e.Status != store.StatusLeased || e.LeaseOwner != "w1" {
		t.Errorf("leased entry changed: %+v", e)
	}
	wantJSON(t, "leased", entry(t, s, old[0].ID).Payload, payload("a", 1))
	next := lease(t, s, "orders", "w2", 10, store.LeasePending, t0)
	if len(next) != 1 || next[0].ID == old[0].ID {
		t.Fatalf("second lease = %v, want the new entry only", ids(next))
	}
	wantJSON(t, "new", next[0].Payload, payload("a", 2))
}

func testEnqueueDuplicateKeysInPage(t *testing.T, s store.Store) {
	res := enqueue(t, s, "orders", t0,
		store.NewEntry{Key: "a", Payload: payload("a", 1)},
		store.NewEntry{Key: "a", Payload: payload("a", 2)},
	)
	if res.Inserted+res.Replaced != 2 || res.Inserted != 1 {
		t.Errorf("result = %+v, want 1 inserted, 1 replaced", res)
	}
	got := list(t, s, store.EntryFilter{Route: "orders"})
	if len(got) != 1 {
		t.Fatalf("got %d entries, want 1", len(got))
	}
	wantJSON(t, "a", got[0].Payload, payload("a", 2))
}

func testEnqueueLargePage(t *testing.T, s store.Store) {
	page := make([]store.NewEntry, 2500) // crosses any sensible chunk size
	for i := range page {
		k := fmt.Sprintf("k%05d", i)
		page[i] = store.NewEntry{Key: k, Payload: payload(k, i)}
	}
	if res := enqueue(t, s, "orders", t0, page...); res.Inserted != len(page) {
		t.Fatalf("inserted %d, want %d", res.Inserted, len(page))
	}
	if res := enqueue(t, s, "orders", t0, page...); res != (store.EnqueueResult{Unchanged: len(page)}) {
		t.Fatalf("the same page again = %+v, want all %d unchanged", res, len(page))
	}
	for i := range page {
		page[i].Payload = payload(page[i].Key, i+1)
	}
	if res := enqueue(t, s, "orders", t0, page...); res.Replaced != len(page) {
		t.Fatalf("new payloads replaced %d, want %d", res.Replaced, len(page))
	}
	if c := counts(t, s, "orders"); c.Pending != len(page) {
		t.Fatalf("pending = %d, want %d", c.Pending, len(page))
	}
}

func testEnqueueRoutesAreSeparate(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a")...)
	if res := enqueue(t, s, "stock", t0, keys("stock", "a")...); res.Inserted != 1 {
		t.Fatalf("same key in another route: %+v, want inserted", res)
	}
	if got := lease(t, s, "stock", "w", 10, store.LeasePending, t0); len(got) != 1 || got[0].Route != "stock" {
		t.Fatalf("lease stock = %+v", got)
	}
	if c := counts(t, s, "orders"); c.Pending != 1 || c.Leased != 0 {
		t.Errorf("orders counts = %+v, want untouched", c)
	}
}

func testEnqueueCursor(t *testing.T, s store.Store) {
	ctx := context.Background()
	cur := func() string {
		t.Helper()
		v, err := s.Cursor(ctx, "orders")
		if err != nil {
			t.Fatalf("Cursor: %v", err)
		}
		return v
	}
	if v := cur(); v != "" {
		t.Fatalf("cursor of a new route = %q, want empty", v)
	}
	c1 := "2025-01-01T00:00:00Z"
	if _, err := s.EnqueuePage(ctx, "orders", keys("orders", "a"), &c1, t0); err != nil {
		t.Fatal(err)
	}
	if v := cur(); v != c1 {
		t.Errorf("cursor = %q, want %q (set with the page)", v, c1)
	}
	if _, err := s.EnqueuePage(ctx, "orders", keys("orders", "b"), nil, t0); err != nil {
		t.Fatal(err)
	}
	if v := cur(); v != c1 {
		t.Errorf("cursor = %q after a nil cursor, want it left at %q", v, c1)
	}
	c2 := "2025-01-02T00:00:00Z"
	if _, err := s.EnqueuePage(ctx, "orders", nil, &c2, t0); err != nil {
		t.Fatal(err)
	}
	if v := cur(); v != c2 {
		t.Errorf("cursor = %q after an empty page, want %q", v, c2)
	}
	if err := s.SetCursor(ctx, "orders", "42"); err != nil {
		t.Fatal(err)
	}
	if v := cur(); v != "42" {
		t.Errorf("cursor = %q after SetCursor, want 42", v)
	}
	if v, err := s.Cursor(ctx, "stock"); err != nil || v != "" {
		t.Errorf("other route's cursor = %q, %v; want empty", v, err)
	}
}
