package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func testReleaseExpired(t *testing.T, s store.Store) {
	e := makeError(t, s, "orders", "tried", t0)
	enqueue(t, s, "orders", t0, keys("orders", "fresh")...)
	got := lease(t, s, "orders", "w", 10, store.LeasePending, t0)               // fresh, until t0+1m
	got = append(got, lease(t, s, "orders", "w", 10, store.LeaseErrors, t0)...) // tried
	if len(got) != 2 {
		t.Fatalf("setup leased %d, want 2", len(got))
	}
	if n := release(t, s, "orders", t0.Add(30*time.Second)); n != 0 {
		t.Errorf("released %d before expiry, want 0", n)
	}
	if n := release(t, s, "orders", time.Time{}); n != 0 {
		t.Errorf("released %d with zero time and no owners, want 0", n)
	}
	if n := release(t, s, "orders", t0.Add(2*time.Minute)); n != 2 {
		t.Fatalf("released %d after expiry, want 2", n)
	}
	if tried := entry(t, s, e.ID); tried.Status != store.StatusError || tried.LeaseOwner != "" || tried.Attempts != 1 {
		t.Errorf("released tried entry = %+v, want back to E", tried)
	}
	fresh := list(t, s, store.EntryFilter{Route: "orders", Key: "fresh"})
	if len(fresh) != 1 || fresh[0].Status != store.StatusPending || fresh[0].LeaseOwner != "" {
		t.Errorf("released fresh entry = %+v, want back to P", fresh)
	}
}

func testReleaseByOwner(t *testing.T, s store.Store) {
	ctx := context.Background()
	enqueue(t, s, "orders", t0, keys("orders", "a", "b", "c")...)
	lease(t, s, "orders", "dead-worker", 2, store.LeasePending, t0)
	lease(t, s, "orders", "live-worker", 1, store.LeasePending, t0)
	owners, err := s.LeaseOwners(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"dead-worker", "live-worker"}; !equal(sortedCopy(owners), want) {
		t.Errorf("LeaseOwners = %v, want %v", owners, want)
	}
	if n := release(t, s, "orders", time.Time{}, "dead-worker", "unknown"); n != 2 {
		t.Fatalf("released %d, want the dead worker's 2", n)
	}
	if c := counts(t, s, "orders"); c.Pending != 2 || c.Leased != 1 {
		t.Errorf("counts = %+v, want 2 pending, 1 leased", c)
	}
	if owners, _ := s.LeaseOwners(ctx, "orders"); !equal(owners, []string{"live-worker"}) {
		t.Errorf("LeaseOwners = %v, want [live-worker]", owners)
	}
	if owners, _ := s.LeaseOwners(ctx, "stock"); len(owners) != 0 {
		t.Errorf("LeaseOwners of an empty route = %v", owners)
	}
}

func testReleaseSuperseded(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a")...)
	old := lease(t, s, "orders", "w", 1, store.LeasePending, t0)[0]
	enqueue(t, s, "orders", t0, store.NewEntry{Key: "a", Payload: payload("a", 2)})
	if n := release(t, s, "orders", time.Time{}, "w"); n != 1 {
		t.Fatalf("released %d, want 1", n)
	}
	gone(t, s, old.ID)
	rest := list(t, s, store.EntryFilter{Route: "orders"})
	if len(rest) != 1 || rest[0].Status != store.StatusPending {
		t.Fatalf("queue = %+v, want only the newer entry", rest)
	}
	wantJSON(t, "newer", rest[0].Payload, payload("a", 2))
}

func testReplayDeadByKey(t *testing.T, s store.Store) {
	a := makeDead(t, s, "orders", "a", 1)
	makeDead(t, s, "orders", "b", 1)
	now := t0.Add(time.Hour)
	if n := replay(t, s, store.ReplaySelector{Route: "orders", Key: "a", Dead: true, Now: now}); n != 1 {
		t.Fatalf("replayed %d, want 1", n)
	}
	back := entry(t, s, a.ID) // the old entry ID, so its history stays in one piece
	if back.Status != store.StatusPending || back.Attempts != 0 || !back.NextAttemptAt.Equal(now) || back.Priority != 3 || back.Key != "a" {
		t.Errorf("replayed entry = %+v; want P, 0 attempts, due %v, priority kept", back, now)
	}
	wantJSON(t, "replayed", back.Payload, payload("a", 1))
	if at := attempts(t, s, a.ID); len(at) != 2 || at[0].Outcome != store.OutcomeDead || at[1].Outcome != store.OutcomeReplayed ||
		at[1].Op != "retry" || at[1].Key != "a" || at[1].Route != "orders" || at[1].Version != a.Version || !at[1].At.Equal(now) {
		t.Errorf("history after replay = %+v, want the dead attempt, then a replayed one (op retry)", at)
	}
	dl := deadLetters(t, s, store.DeadFilter{Route: "orders"})
	if len(dl) != 1 || dl[0].Key != "b" {
		t.Errorf("dead letters = %+v, want only b left", dl)
	}
	// It can be leased, die again and be replayed again.
	e := lease(t, s, "orders", "w", 10, store.LeasePending, now)
	if len(e) != 1 || e[0].ID != a.ID {
		t.Fatalf("lease after replay = %v, want %d", ids(e), a.ID)
	}
	settle(t, s, "w", dead(e[0], now, "again"))
	if n := replay(t, s, store.ReplaySelector{Route: "orders", Key: "a", Dead: true, Now: now}); n != 1 {
		t.Errorf("second replay = %d, want 1", n)
	}
	if at := attempts(t, s, a.ID); len(at) != 4 {
		t.Errorf("history = %d attempts, want 4 (dead, replayed, dead, replayed)", len(at))
	}
}

func testReplayAllDead(t *testing.T, s store.Store) {
	makeDead(t, s, "orders", "a", 1)
	makeDead(t, s, "orders", "b", 1)
	makeDead(t, s, "stock", "c", 1)
	if n := replay(t, s, store.ReplaySelector{Route: "orders", Dead: true, Now: t0}); n != 2 {
		t.Fatalf("replayed %d, want 2", n)
	}
	if c := counts(t, s, "orders"); c != (store.Counts{Pending: 2}) {
		t.Errorf("orders counts = %+v, want 2 pending", c)
	}
	if c := counts(t, s, "stock"); c != (store.Counts{Dead: 1}) {
		t.Errorf("stock counts = %+v, want its dead letter untouched", c)
	}
	// The same key died twice (two payloads): the newer payload comes back.
	makeDead(t, s, "dup", "k", 1)
	makeDead(t, s, "dup", "k", 2)
	if n := replay(t, s, store.ReplaySelector{Route: "dup", Dead: true, Now: t0}); n != 1 {
		t.Fatalf("replayed %d of a key that died twice, want 1", n)
	}
	got := list(t, s, store.EntryFilter{Route: "dup"})
	if len(got) != 1 {
		t.Fatalf("entries = %d, want 1", len(got))
	}
	wantJSON(t, "newest dead", got[0].Payload, payload("k", 2))
	if dl := deadLetters(t, s, store.DeadFilter{Route: "dup"}); len(dl) != 0 {
		t.Errorf("dead letters left = %+v", dl)
	}
}

func testReplayDeadWithQueuedKey(t *testing.T, s store.Store) {
	a := makeDead(t, s, "orders", "a", 1)
	res := enqueue(t, s, "orders", t0, store.NewEntry{Key: "a", Payload: payload("a", 2)})
	if res.Inserted != 1 {
		t.Fatalf("enqueue after death = %+v, want a new entry", res)
	}
	rr, err := s.Replay(context.Background(), store.ReplaySelector{Route: "orders", Dead: true, Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if rr.Replayed != 0 || !equal(rr.Superseded, []string{"a"}) {
		t.Errorf("replay = %+v, want nothing replayed, a superseded: a newer payload of the key is queued", rr)
	}
	gone(t, s, a.ID)
	if dl := deadLetters(t, s, store.DeadFilter{Route: "orders"}); len(dl) != 1 || dl[0].EntryID != a.ID {
		t.Errorf("dead letters = %+v, want a's kept (not replayed, not lost)", dl)
	}
	got := list(t, s, store.EntryFilter{Route: "orders"})
	if len(got) != 1 {
		t.Fatalf("entries = %+v, want the queued one", got)
	}
	wantJSON(t, "queued", got[0].Payload, payload("a", 2))
}

func testReplayErrors(t *testing.T, s store.Store) {
	a := makeError(t, s, "orders", "a", t0.Add(time.Hour))
	b := makeError(t, s, "orders", "b", t0.Add(time.Hour))
	makeDead(t, s, "orders", "c", 1)
	now := t0.Add(time.Minute)
	if n := replay(t, s, store.ReplaySelector{Route: "orders", Key: "a", Errors: true, Now: now}); n != 1 {
		t.Fatalf("replayed %d, want 1", n)
	}
	if e := entry(t, s, a.ID); e.Status != store.StatusPending || e.Attempts != 0 || !e.NextAttemptAt.Equal(now) {
		t.Errorf("replayed error = %+v; want P, 0 attempts, due %v", e, now)
	}
	if e := entry(t, s, b.ID); e.Status != store.StatusError {
		t.Errorf("other key = %+v, want still E", e)
	}
	if n := replay(t, s, store.ReplaySelector{Route: "orders", Errors: true, Dead: true, Now: now}); n != 2 {
		t.Errorf("replay errors and dead = %d, want 2", n)
	}
	if c := counts(t, s, "orders"); c != (store.Counts{Pending: 3}) {
		t.Errorf("counts = %+v, want 3 pending", c)
	}
	if n := replay(t, s, store.ReplaySelector{Route: "orders", Now: now}); n != 0 {
		t.Errorf("replay selecting nothing = %d", n)
	}
}

// Two leased versions of one key (handed to one worker) released together:
// the older is dropped, the newer goes back to the queue, and nothing
// breaks the one-queued-entry-per-key rule.
func testReleaseTwoLeasedVersions(t *testing.T, s store.Store) {
	ctx := context.Background()
	first, _, err := s.EnqueueLeased(ctx, "orders", []store.NewEntry{{Key: "a", Payload: payload("a", 1)}}, nil, t0, "w", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := s.EnqueueLeased(ctx, "orders", []store.NewEntry{{Key: "a", Payload: payload("a", 2)}}, nil, t0, "w", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	release(t, s, "orders", time.Time{}, "w")
	gone(t, s, first[0].ID)
	if e := entry(t, s, second[0].ID); e.Status != store.StatusPending {
		t.Fatalf("newer version after release = %s, want P", e.Status)
	}
}
