package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func testCounts(t *testing.T, s store.Store) {
	if c := counts(t, s, "orders"); c != (store.Counts{}) {
		t.Fatalf("empty counts = %+v", c)
	}
	makeError(t, s, "orders", "e", t0.Add(time.Hour))
	makeDead(t, s, "orders", "d", 1)
	enqueue(t, s, "orders", t0, keys("orders", "p1", "p2", "l1")...)
	// lease one: l1 is last by ID among pending? Lease 1 takes the oldest, p1.
	lease(t, s, "orders", "w", 1, store.LeasePending, t0)
	enqueue(t, s, "stock", t0, keys("stock", "x")...)
	if c := counts(t, s, "orders"); c != (store.Counts{Pending: 2, Error: 1, Leased: 1, Dead: 1}) {
		t.Errorf("counts = %+v, want 2 pending, 1 error, 1 leased, 1 dead", c)
	}
}

func testNextDue(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, ok, err := s.NextDue(ctx, "orders"); err != nil || ok {
		t.Fatalf("NextDue of an empty route = ok %v, %v; want false", ok, err)
	}
	enqueue(t, s, "orders", t0, keys("orders", "p")...)
	lease(t, s, "orders", "w", 10, store.LeasePending, t0)
	release(t, s, "orders", time.Time{}, "w")
	if _, ok, _ := s.NextDue(ctx, "orders"); ok {
		t.Errorf("NextDue with only pending entries = ok; want false")
	}
	// makeError leases every pending entry; settle the others away first.
	for _, e := range lease(t, s, "orders", "w", 10, store.LeasePending, t0) {
		settle(t, s, "w", done(e))
	}
	makeError(t, s, "orders", "late", t0.Add(time.Hour))
	makeError(t, s, "orders", "soon", t0.Add(time.Minute))
	at, ok, err := s.NextDue(ctx, "orders")
	if err != nil || !ok || !at.Equal(t0.Add(time.Minute)) {
		t.Errorf("NextDue = %v, %v, %v; want %v", at, ok, err, t0.Add(time.Minute))
	}
}

func testEntriesFilters(t *testing.T, s store.Store) {
	page := make([]store.NewEntry, 150)
	for i := range page {
		k := fmt.Sprintf("k%03d", i)
		page[i] = store.NewEntry{Key: k, Payload: payload(k, i)}
	}
	enqueue(t, s, "orders", t0, page...)
	enqueue(t, s, "stock", t0, keys("stock", "k000")...)

	all := list(t, s, store.EntryFilter{Route: "orders"})
	if len(all) != 100 {
		t.Fatalf("default limit returned %d, want 100", len(all))
	}
	next := list(t, s, store.EntryFilter{Route: "orders", AfterID: all[99].ID, Limit: 1000})
	if len(next) != 50 || next[0].Key != "k100" {
		t.Fatalf("second page = %d entries starting %v, want 50 from k100", len(next), entryKeys(next[:1]))
	}
	for i := 1; i < len(next); i++ {
		if next[i].ID <= next[i-1].ID {
			t.Fatalf("entries not ordered by ID")
		}
	}
	leased := lease(t, s, "orders", "w", 3, store.LeasePending, t0)
	if got := list(t, s, store.EntryFilter{Route: "orders", Status: store.StatusLeased}); !equal(ids(got), ids(leased)) {
		t.Errorf("status filter L = %v, want %v", ids(got), ids(leased))
	}
	if got := list(t, s, store.EntryFilter{Route: "orders", Status: store.StatusPending, Limit: 1000}); len(got) != 147 {
		t.Errorf("status filter P = %d, want 147", len(got))
	}
	if got := list(t, s, store.EntryFilter{Route: "orders", Key: "k000"}); len(got) != 1 || got[0].Route != "orders" || got[0].Status != store.StatusLeased {
		t.Errorf("key filter (leased key) = %+v", got)
	}
	if got := list(t, s, store.EntryFilter{Route: "orders", Key: "k120"}); len(got) != 1 || got[0].Key != "k120" {
		t.Errorf("key filter = %+v", got)
	}
	if got := list(t, s, store.EntryFilter{Route: "orders", Key: "k120", Status: store.StatusError}); len(got) != 0 {
		t.Errorf("key and status filter = %+v, want none", got)
	}
	if got := list(t, s, store.EntryFilter{Route: "nope"}); len(got) != 0 {
		t.Errorf("unknown route = %d entries", len(got))
	}
}

func testRecentAttempts(t *testing.T, s store.Store) {
	ctx := context.Background()
	enqueue(t, s, "orders", t0, keys("orders", "a", "b", "c")...)
	got := lease(t, s, "orders", "w", 10, store.LeasePending, t0)
	for _, e := range got { // one Settle each, so attempt IDs follow a, b, c
		settle(t, s, "w", done(e))
	}
	recent, err := s.RecentAttempts(ctx, "orders", 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 2 || recent[0].Key != "c" || recent[1].Key != "b" || recent[0].ID <= recent[1].ID {
		t.Errorf("recent = %+v, want c then b (newest first)", recent)
	}
	if other, _ := s.RecentAttempts(ctx, "stock", 10); len(other) != 0 {
		t.Errorf("other route's attempts = %+v", other)
	}
	if none := attempts(t, s, 123456); len(none) != 0 {
		t.Errorf("attempts of an unknown entry = %+v", none)
	}
}

func testRuns(t *testing.T, s store.Store) {
	ctx := context.Background()
	r1 := store.Run{Route: "orders", Trigger: "manual", Mode: "incremental", Status: store.RunRunning, StartedAt: t0, Owner: "host:1:a:b"}
	id1, err := s.CreateRun(ctx, r1)
	if err != nil {
		t.Fatal(err)
	}
	id2, err := s.CreateRun(ctx, store.Run{Route: "stock", Trigger: "schedule", Mode: "full", Status: store.RunRunning, StartedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	id3, err := s.CreateRun(ctx, store.Run{Route: "orders", Trigger: "webhook", Mode: "incremental", Status: store.RunRunning, StartedAt: t0.Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if id1 == 0 || id2 <= id1 || id3 <= id2 {
		t.Fatalf("run IDs %d, %d, %d: want ascending and non-zero", id1, id2, id3)
	}
	got, err := s.GetRun(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	r1.ID = id1
	if got != r1 {
		t.Errorf("GetRun = %+v, want %+v", got, r1)
	}
	upd := r1
	upd.Status, upd.EndedAt, upd.Error = store.RunPartiallyFailed, t0.Add(time.Minute), "3 failed"
	upd.Iterations, upd.Collected, upd.Sent, upd.Done, upd.Failed, upd.Dead, upd.Skipped, upd.Unchanged = 2, 10, 9, 5, 3, 1, 1, 4
	if err := s.UpdateRun(ctx, upd); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetRun(ctx, id1); got != upd {
		t.Errorf("after UpdateRun = %+v, want %+v", got, upd)
	}
	orders, err := s.Runs(ctx, "orders", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(orders) != 2 || orders[0].ID != id3 || orders[1].ID != id1 {
		t.Errorf("Runs(orders) = %+v, want %d then %d", orders, id3, id1)
	}
	if all, _ := s.Runs(ctx, "", 10); len(all) != 3 || all[0].ID != id3 {
		t.Errorf("Runs(all) = %d runs, want 3 newest first", len(all))
	}
	if one, _ := s.Runs(ctx, "", 1); len(one) != 1 || one[0].ID != id3 {
		t.Errorf("Runs limit 1 = %+v", one)
	}
	if err := s.UpdateRun(ctx, store.Run{ID: 99999, Status: store.RunFailed}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateRun of a missing run = %v, want store.ErrNotFound", err)
	}
}

func testNotFound(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Entry(ctx, 424242); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Entry = %v, want store.ErrNotFound", err)
	}
	if _, err := s.GetRun(ctx, 424242); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetRun = %v, want store.ErrNotFound", err)
	}
}
