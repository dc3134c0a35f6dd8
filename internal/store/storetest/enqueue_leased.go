package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// until is the lease expiry the EnqueueLeased tests hand out.
var until = t0.Add(time.Minute)

func enqueueLeased(t testing.TB, s store.Store, route, owner string, now time.Time, entries ...store.NewEntry) ([]store.Entry, store.EnqueueResult) {
	t.Helper()
	got, res, err := s.EnqueueLeased(context.Background(), route, entries, nil, now, owner, until)
	if err != nil {
		t.Fatalf("EnqueueLeased(%q, %q): %v", route, owner, err)
	}
	return got, res
}

// wantLeased checks that e, as returned and as stored, is leased by owner.
func wantLeased(t testing.TB, s store.Store, e store.Entry, owner string) {
	t.Helper()
	if e.ID == 0 || e.Status != store.StatusLeased || e.LeaseOwner != owner || !e.LeaseUntil.Equal(until) {
		t.Errorf("returned entry = %+v; want an ID, L by %s until %v", e, owner, until)
	}
	got := entry(t, s, e.ID)
	if got.Key != e.Key || got.Route != e.Route || got.Version != e.Version || got.Attempts != e.Attempts ||
		got.Priority != e.Priority || !got.CreatedAt.Equal(e.CreatedAt) || got.Status != store.StatusLeased ||
		got.LeaseOwner != owner || !got.LeaseUntil.Equal(until) {
		t.Errorf("stored entry = %+v; returned %+v", got, e)
	}
	wantJSON(t, "stored "+e.Key, got.Payload, e.Payload)
}

func testEnqueueLeasedInsert(t *testing.T, s store.Store) {
	got, res := enqueueLeased(t, s, "orders", "w", t0,
		store.NewEntry{Key: "b", Payload: payload("b", 1), Priority: 2},
		store.NewEntry{Key: "a", Payload: payload("a", 1), Hash: "ha"},
	)
	if res != (store.EnqueueResult{Inserted: 2}) {
		t.Fatalf("result = %+v, want 2 inserted", res)
	}
	if got[1].Hash != "ha" || entry(t, s, got[1].ID).Hash != "ha" || got[0].Hash != "" {
		t.Errorf("hash of a returned %q, stored %q; want ha (b: %q, want none)", got[1].Hash, entry(t, s, got[1].ID).Hash, got[0].Hash)
	}
	if want := []string{"b", "a"}; !equal(entryKeys(got), want) {
		t.Fatalf("returned keys = %v, want page order %v", entryKeys(got), want)
	}
	if got[0].ID >= got[1].ID {
		t.Errorf("IDs not ascending in page order: %d, %d", got[0].ID, got[1].ID)
	}
	for _, e := range got {
		wantLeased(t, s, e, "w")
		if e.Route != "orders" || e.Version != 1 || e.Attempts != 0 || !e.CreatedAt.Equal(t0) {
			t.Errorf("entry %s = %+v; want route orders, version 1, 0 attempts, created %v", e.Key, e, t0)
		}
		wantJSON(t, "returned "+e.Key, e.Payload, payload(e.Key, 1))
	}
	if got[0].Priority != 2 {
		t.Errorf("priority of b = %d, want 2", got[0].Priority)
	}
	if c := counts(t, s, "orders"); c != (store.Counts{Leased: 2}) {
		t.Errorf("counts = %+v, want 2 leased", c)
	}
	if more := lease(t, s, "orders", "other", 10, store.LeasePending, t0); len(more) != 0 {
		t.Errorf("another worker leased %v; the entries are w's", entryKeys(more))
	}
	if owners, _ := s.LeaseOwners(context.Background(), "orders"); !equal(owners, []string{"w"}) {
		t.Errorf("LeaseOwners = %v, want [w]", owners)
	}
}

func testEnqueueLeasedCoalescesPending(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a", "b")...)
	before := list(t, s, store.EntryFilter{Route: "orders", Key: "a"})[0]
	later := t0.Add(time.Second)
	got, res := enqueueLeased(t, s, "orders", "w", later,
		store.NewEntry{Key: "a", Payload: payload("a", 2), Priority: 7},
		store.NewEntry{Key: "c", Payload: payload("c", 1)},
	)
	if res != (store.EnqueueResult{Inserted: 1, Replaced: 1}) {
		t.Fatalf("result = %+v, want 1 inserted, 1 replaced", res)
	}
	if want := []string{"a", "c"}; !equal(entryKeys(got), want) {
		t.Fatalf("returned keys = %v, want %v", entryKeys(got), want)
	}
	a := got[0]
	if a.ID != before.ID || a.Version != 2 || a.Priority != 7 || a.Attempts != 0 || !a.CreatedAt.Equal(t0) {
		t.Errorf("replaced entry = %+v; want ID %d, version 2, priority 7, created %v", a, before.ID, t0)
	}
	wantLeased(t, s, a, "w")
	wantJSON(t, "replaced", entry(t, s, a.ID).Payload, payload("a", 2))
	if c := counts(t, s, "orders"); c != (store.Counts{Pending: 1, Leased: 2}) {
		t.Errorf("counts = %+v, want b pending, a and c leased", c)
	}
}

func testEnqueueLeasedCoalescesError(t *testing.T, s store.Store) {
	e := makeError(t, s, "orders", "a", t0.Add(time.Hour))
	got, res := enqueueLeased(t, s, "orders", "w", t0.Add(time.Minute), store.NewEntry{Key: "a", Payload: payload("a", 2)})
	if res != (store.EnqueueResult{Replaced: 1}) {
		t.Fatalf("result = %+v, want 1 replaced", res)
	}
	if len(got) != 1 || got[0].ID != e.ID || got[0].Version != e.Version+1 || got[0].Attempts != 0 || got[0].LastError != "" {
		t.Fatalf("returned %+v; want entry %d, version %d, attempts and error reset", got, e.ID, e.Version+1)
	}
	wantLeased(t, s, got[0], "w")
	if c := counts(t, s, "orders"); c != (store.Counts{Leased: 1}) {
		t.Errorf("counts = %+v, want 1 leased", c)
	}
}

func testEnqueueLeasedBesideLeased(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a")...)
	old := lease(t, s, "orders", "w1", 10, store.LeasePending, t0)[0]
	got, res := enqueueLeased(t, s, "orders", "w2", t0, store.NewEntry{Key: "a", Payload: payload("a", 2)})
	if res != (store.EnqueueResult{Inserted: 1}) {
		t.Fatalf("result = %+v, want 1 inserted beside the leased entry", res)
	}
	if len(got) != 1 || got[0].ID == old.ID || got[0].Version != 1 {
		t.Fatalf("returned %+v; want a new entry beside %d", got, old.ID)
	}
	wantLeased(t, s, got[0], "w2")
	if e := entry(t, s, old.ID); e.Status != store.StatusLeased || e.LeaseOwner != "w1" {
		t.Errorf("entry leased before changed: %+v", e)
	}
	wantJSON(t, "leased before", entry(t, s, old.ID).Payload, payload("a", 1))
}

func testEnqueueLeasedDuplicateKeys(t *testing.T, s store.Store) {
	got, res := enqueueLeased(t, s, "orders", "w", t0,
		store.NewEntry{Key: "a", Payload: payload("a", 1)},
		store.NewEntry{Key: "b", Payload: payload("b", 1)},
		store.NewEntry{Key: "a", Payload: payload("a", 2), Priority: 4},
	)
	if res != (store.EnqueueResult{Inserted: 2, Replaced: 1}) {
		t.Errorf("result = %+v, want 2 inserted, 1 replaced (as EnqueuePage counts it)", res)
	}
	if want := []string{"b", "a"}; !equal(entryKeys(got), want) {
		t.Fatalf("returned keys = %v, want %v (the last of each key, in page order)", entryKeys(got), want)
	}
	wantJSON(t, "a", got[1].Payload, payload("a", 2))
	if got[1].Priority != 4 {
		t.Errorf("a's priority = %d, want the last one's 4", got[1].Priority)
	}
	stored := list(t, s, store.EntryFilter{Route: "orders"})
	if len(stored) != 2 {
		t.Fatalf("stored %d entries, want 2", len(stored))
	}
	for _, e := range got {
		wantLeased(t, s, e, "w")
	}
}

func testEnqueueLeasedLargePage(t *testing.T, s store.Store) {
	page := make([]store.NewEntry, 2500) // crosses any sensible chunk size
	for i := range page {
		k := fmt.Sprintf("k%05d", i)
		page[i] = store.NewEntry{Key: k, Payload: payload(k, i)}
	}
	older := make([]store.NewEntry, 10) // queued keys amid fresh ones, with older payloads
	for i := range older {
		older[i] = store.NewEntry{Key: page[1000+i].Key, Payload: payload(page[1000+i].Key, -1)}
	}
	enqueue(t, s, "orders", t0, older...)
	got, res := enqueueLeased(t, s, "orders", "w", t0, page...)
	if res.Inserted != len(page)-10 || res.Replaced != 10 || len(got) != len(page) {
		t.Fatalf("result = %+v with %d entries, want %d inserted, 10 replaced", res, len(got), len(page)-10)
	}
	stored := map[int64]store.Entry{}
	for _, e := range list(t, s, store.EntryFilter{Route: "orders", Limit: 10000}) {
		stored[e.ID] = e
	}
	var lastFresh int64
	for i, e := range got {
		if e.Key != page[i].Key {
			t.Fatalf("returned[%d] key = %q, want %q", i, e.Key, page[i].Key)
		}
		if st, ok := stored[e.ID]; !ok || st.Key != e.Key || st.Status != store.StatusLeased {
			t.Fatalf("returned[%d] = ID %d key %q; stored under that ID: %+v", i, e.ID, e.Key, st)
		}
		if fresh := e.Version == 1; fresh {
			if e.ID <= lastFresh {
				t.Fatalf("IDs of new entries not ascending in page order at %d: %d after %d", i, e.ID, lastFresh)
			}
			lastFresh = e.ID
		}
	}
	if c := counts(t, s, "orders"); c != (store.Counts{Leased: len(page)}) {
		t.Errorf("counts = %+v, want all %d leased", c, len(page))
	}
}

func testEnqueueLeasedCursor(t *testing.T, s store.Store) {
	ctx := context.Background()
	c1 := "c1"
	if _, _, err := s.EnqueueLeased(ctx, "orders", keys("orders", "a"), &c1, t0, "w", until); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Cursor(ctx, "orders"); v != c1 {
		t.Errorf("cursor = %q, want %q (set with the page)", v, c1)
	}
	if _, _, err := s.EnqueueLeased(ctx, "orders", keys("orders", "b"), nil, t0, "w", until); err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Cursor(ctx, "orders"); v != c1 {
		t.Errorf("cursor = %q after a nil cursor, want it left at %q", v, c1)
	}
	c2 := "c2"
	got, res, err := s.EnqueueLeased(ctx, "orders", nil, &c2, t0, "w", until)
	if err != nil || len(got) != 0 || res != (store.EnqueueResult{}) {
		t.Fatalf("empty page = %v, %+v, %v", got, res, err)
	}
	if v, _ := s.Cursor(ctx, "orders"); v != c2 {
		t.Errorf("cursor = %q after an empty page, want %q", v, c2)
	}
	// A failed page leaves the cursor alone.
	if _, _, err := s.EnqueueLeased(ctx, "orders", keys("orders", "c"), &c1, t0, "", until); err == nil {
		t.Error("EnqueueLeased with an empty owner succeeded, want an error")
	}
	if v, _ := s.Cursor(ctx, "orders"); v != c2 {
		t.Errorf("cursor = %q after a failed page, want %q", v, c2)
	}
}

func testEnqueueLeasedRelease(t *testing.T, s store.Store) {
	dead, _ := enqueueLeased(t, s, "orders", "dead-worker", t0, keys("orders", "a", "b")...)
	live, _ := enqueueLeased(t, s, "orders", "live-worker", t0, keys("orders", "c")...)
	if n := release(t, s, "orders", time.Time{}, "dead-worker"); n != 2 {
		t.Fatalf("released %d, want the dead worker's 2", n)
	}
	for _, e := range dead {
		if got := entry(t, s, e.ID); got.Status != store.StatusPending || got.LeaseOwner != "" || !got.LeaseUntil.IsZero() {
			t.Errorf("released entry = %+v, want P without a lease", got)
		}
	}
	if back := lease(t, s, "orders", "w", 10, store.LeasePending, t0); !equal(ids(back), ids(dead)) {
		t.Errorf("lease after release = %v, want %v", ids(back), ids(dead))
	}
	if n := release(t, s, "orders", until.Add(time.Second)); n != 3 {
		t.Errorf("released %d after expiry, want 3 (live's and the re-leased)", n)
	}
	if got := entry(t, s, live[0].ID); got.Status != store.StatusPending {
		t.Errorf("expired entry = %+v, want P", got)
	}
}

func testEnqueueLeasedSettle(t *testing.T, s store.Store) {
	got, _ := enqueueLeased(t, s, "orders", "w", t0, keys("orders", "done", "retry", "dead", "skipped", "other")...)
	skip := store.Settlement{EntryID: got[3].ID, Outcome: store.OutcomeSkipped,
		Attempt: store.Attempt{At: t0, Outcome: store.OutcomeSkipped}}
	settle(t, s, "w", done(got[0]), retry(got[1], t0.Add(time.Minute), "busy"), dead(got[2], t0, "bad"), skip)
	settle(t, s, "intruder", done(got[4])) // not its lease: ignored

	gone(t, s, got[0].ID)
	gone(t, s, got[3].ID)
	if e := entry(t, s, got[1].ID); e.Status != store.StatusError || e.Attempts != 1 || e.LastError != "busy" {
		t.Errorf("retried entry = %+v, want E with 1 attempt", e)
	}
	if dl := deadLetters(t, s, store.DeadFilter{Route: "orders"}); len(dl) != 1 || dl[0].EntryID != got[2].ID {
		t.Errorf("dead letters = %+v, want entry %d", dl, got[2].ID)
	}
	if e := entry(t, s, got[4].ID); e.Status != store.StatusLeased || e.LeaseOwner != "w" {
		t.Errorf("entry settled by another owner = %+v, want still leased by w", e)
	}
	if at := attempts(t, s, got[0].ID); len(at) != 1 || at[0].Outcome != store.OutcomeDone {
		t.Errorf("attempts of done = %+v", at)
	}
	if c := counts(t, s, "orders"); c != (store.Counts{Error: 1, Leased: 1, Dead: 1}) {
		t.Errorf("counts = %+v, want 1 error, 1 leased, 1 dead", c)
	}
}
