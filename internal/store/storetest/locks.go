package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func testLockRoute(t *testing.T, s store.Store) {
	ctx := context.Background()
	lock := func(route, owner string, now time.Time, takeOver string) (string, bool) {
		t.Helper()
		holder, ok, err := s.LockRoute(ctx, route, owner, now, now.Add(time.Minute), takeOver)
		if err != nil {
			t.Fatal(err)
		}
		return holder, ok
	}
	if h, ok := lock("orders", "a", t0, ""); !ok || h != "a" {
		t.Fatalf("free lock: holder %q ok %v", h, ok)
	}
	if h, ok := lock("orders", "b", t0.Add(time.Second), ""); ok || h != "a" {
		t.Fatalf("held lock taken by b: holder %q ok %v", h, ok)
	}
	if _, ok := lock("stock", "b", t0, ""); !ok {
		t.Fatal("another route's lock is not free")
	}
	if _, ok := lock("orders", "a", t0.Add(30*time.Second), ""); !ok {
		t.Fatal("the holder could not extend its lock")
	}
	// a's lock now lasts until t0+90s.
	if h, ok := lock("orders", "b", t0.Add(80*time.Second), ""); ok || h != "a" {
		t.Fatalf("extended lock taken before it expired: holder %q ok %v", h, ok)
	}
	if h, ok := lock("orders", "b", t0.Add(80*time.Second), "a"); !ok || h != "b" {
		t.Fatalf("take-over from a dead holder: holder %q ok %v", h, ok)
	}
	if h, ok := lock("orders", "c", t0.Add(200*time.Second), ""); !ok || h != "c" {
		t.Fatalf("expired lock: holder %q ok %v", h, ok)
	}
	if err := s.UnlockRoute(ctx, "orders", "b"); err != nil { // not b's any more: no effect
		t.Fatal(err)
	}
	if h, _ := lock("orders", "d", t0.Add(201*time.Second), ""); h != "c" {
		t.Fatalf("unlock by a non-holder released the lock: holder %q", h)
	}
	if err := s.UnlockRoute(ctx, "orders", "c"); err != nil {
		t.Fatal(err)
	}
	if _, ok := lock("orders", "d", t0.Add(202*time.Second), ""); !ok {
		t.Fatal("lock not free after unlock")
	}
}

func testKeyAttempts(t *testing.T, s store.Store) {
	ctx := context.Background()
	first := enqueue(t, s, "orders", t0, keys("orders", "a", "b")...)
	_ = first
	got := lease(t, s, "orders", "w", 10, store.LeasePending, t0)
	for _, e := range got {
		settle(t, s, "w", done(e))
	}
	enqueue(t, s, "orders", t0.Add(time.Minute), keys("orders", "a")...) // a new version of a
	again := lease(t, s, "orders", "w", 10, store.LeasePending, t0.Add(time.Minute))
	settle(t, s, "w", retry(again[0], t0.Add(time.Hour), "boom"))
	enqueue(t, s, "stock", t0, keys("stock", "a")...)

	at, err := s.KeyAttempts(ctx, "orders", "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(at) != 2 || at[0].Outcome != store.OutcomeDone || at[1].Outcome != store.OutcomeRetry || at[0].EntryID == at[1].EntryID {
		t.Fatalf("attempts of key a = %+v, want done (first entry) then error (second entry)", at)
	}
	if none, _ := s.KeyAttempts(ctx, "orders", "zzz", 0); len(none) != 0 {
		t.Fatalf("attempts of an unknown key = %+v", none)
	}
}
