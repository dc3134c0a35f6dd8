package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func outboxItems(t testing.TB, s store.Store, route string) []store.OutboxItem {
	t.Helper()
	got, err := s.Outbox(context.Background(), route, 0)
	if err != nil {
		t.Fatalf("Outbox(%q): %v", route, err)
	}
	return got
}

func leaseOutbox(t testing.TB, s store.Store, owner string, limit int, now time.Time) []store.OutboxItem {
	t.Helper()
	got, err := s.LeaseOutbox(context.Background(), "orders", owner, limit, now, now.Add(time.Minute))
	if err != nil {
		t.Fatalf("LeaseOutbox(%q): %v", owner, err)
	}
	return got
}

func outboxOps(items []store.OutboxItem) []string {
	out := make([]string, len(items))
	for i, o := range items {
		out[i] = o.Op
	}
	return out
}

// Outbox items are stored with the settlement that owes them, only when
// it takes effect, filled from their entry.
func testOutboxStoredWithSettlement(t *testing.T, s store.Store) {
	got, _ := enqueueLeased(t, s, "orders", "w", t0,
		store.NewEntry{Key: "a", Payload: payload("a", 1)},
		store.NewEntry{Key: "b", Payload: payload("b", 1)},
		store.NewEntry{Key: "c", Payload: payload("c", 1)},
		store.NewEntry{Key: "d", Payload: payload("d", 1)},
	)
	vars := json.RawMessage(`{"error":"bad request"}`)
	a := done(got[0])
	a.Attempt.At = t0.Add(time.Second)
	a.Outbox = []store.OutboxItem{
		{Op: "after[0]", Record: payload("a", 1), IdempotencyKey: "k-a-0"},
		{Op: "after[1]", Record: payload("a", 1), IdempotencyKey: "k-a-1", NextAttemptAt: t0.Add(time.Hour)},
	}
	b := dead(got[1], t0.Add(2*time.Second), "bad request")
	b.Outbox = []store.OutboxItem{{Op: "on_error[0]", Record: payload("b", 1), Vars: vars, IdempotencyKey: "k-b-0"}}
	c := retry(got[2], t0, "busy")
	c.Outbox = nil
	settle(t, s, "w", a, b, c)
	// Not the owner: the settlement does not take effect, nothing is owed.
	d := done(got[3])
	d.Outbox = []store.OutboxItem{{Op: "after[0]", Record: payload("d", 1)}}
	settle(t, s, "intruder", d)

	items := outboxItems(t, s, "orders")
	if want := []string{"after[0]", "after[1]", "on_error[0]"}; !equal(outboxOps(items), want) {
		t.Fatalf("outbox ops = %v, want %v", outboxOps(items), want)
	}
	first := items[0]
	if first.ID == 0 || first.Route != "orders" || first.Key != "a" || first.EntryID != got[0].ID || first.Version != got[0].Version ||
		first.IdempotencyKey != "k-a-0" || first.Attempts != 0 || first.Dead || first.LeaseOwner != "" ||
		!first.CreatedAt.Equal(t0.Add(time.Second)) || !first.NextAttemptAt.Equal(t0.Add(time.Second)) {
		t.Errorf("first item = %+v; want filled from entry a, created and due at the attempt's time", first)
	}
	wantJSON(t, "record", first.Record, payload("a", 1))
	if !items[1].NextAttemptAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("second item due %v, want the given %v", items[1].NextAttemptAt, t0.Add(time.Hour))
	}
	if ob := items[2]; ob.Key != "b" || ob.EntryID != got[1].ID || string(ob.Vars) != string(vars) {
		t.Errorf("on_error item = %+v; want entry b with its vars", ob)
	}
	if c := counts(t, s, "orders"); c.Outbox != 3 {
		t.Errorf("counts = %+v, want 3 owed", c)
	}
	if other := outboxItems(t, s, "stock"); len(other) != 0 {
		t.Errorf("another route's outbox = %+v", other)
	}
	if all := outboxItems(t, s, ""); len(all) != 3 {
		t.Errorf("outbox of all routes = %d items, want 3", len(all))
	}
}

func testOutboxLeaseAndSettle(t *testing.T, s store.Store) {
	ctx := context.Background()
	got, _ := enqueueLeased(t, s, "orders", "w", t0, keys("orders", "a", "b", "c", "d")...)
	var ss []store.Settlement
	for _, e := range got {
		st := done(e)
		st.Outbox = []store.OutboxItem{{Op: "after[0]", Record: e.Payload, IdempotencyKey: "k-" + e.Key}}
		ss = append(ss, st)
	}
	settle(t, s, "w", ss...)

	first := leaseOutbox(t, s, "o1", 3, t0)
	if len(first) != 3 || first[0].Key != "a" || first[2].Key != "c" || first[0].LeaseOwner != "o1" || !first[0].LeaseUntil.Equal(t0.Add(time.Minute)) {
		t.Fatalf("first lease = %+v, want a, b, c leased by o1, oldest first", first)
	}
	if more := leaseOutbox(t, s, "o2", 10, t0.Add(time.Second)); len(more) != 1 || more[0].Key != "d" {
		t.Fatalf("second lease = %+v, want only d (the rest is leased)", more)
	}
	later := t0.Add(2 * time.Second)
	settleOutbox := func(owner string, ss ...store.OutboxSettlement) {
		t.Helper()
		if err := s.SettleOutbox(ctx, owner, ss); err != nil {
			t.Fatalf("SettleOutbox: %v", err)
		}
	}
	attempt := func(o store.Outcome) store.Attempt { return store.Attempt{At: later, Outcome: o, StatusCode: 500} }
	settleOutbox("o1",
		store.OutboxSettlement{ID: first[0].ID, Outcome: store.OutcomeDone, Attempt: attempt(store.OutcomeDone)},
		store.OutboxSettlement{ID: first[1].ID, Outcome: store.OutcomeRetry, Error: "503", NextAttemptAt: t0.Add(time.Hour), Attempt: attempt(store.OutcomeRetry)},
		store.OutboxSettlement{ID: first[2].ID, Outcome: store.OutcomeDead, Error: "400 bad", Attempt: attempt(store.OutcomeDead)},
	)
	// Not o1's: ignored, but the attempt is history.
	settleOutbox("o1", store.OutboxSettlement{ID: first[2].ID + 1, Outcome: store.OutcomeDone, Attempt: attempt(store.OutcomeDone)})

	items := outboxItems(t, s, "orders")
	if want := []string{"b", "c", "d"}; len(items) != 3 || items[0].Key != "b" || items[1].Key != "c" || items[2].Key != "d" {
		t.Fatalf("outbox = %+v, want %v left (a done)", items, want)
	}
	b, c, d := items[0], items[1], items[2]
	if b.Attempts != 1 || b.LastError != "503" || !b.NextAttemptAt.Equal(t0.Add(time.Hour)) || b.LeaseOwner != "" || b.Dead {
		t.Errorf("retried item = %+v; want 1 attempt, error, due in an hour, unleased", b)
	}
	if c.Attempts != 1 || c.LastError != "400 bad" || !c.Dead || c.LeaseOwner != "" {
		t.Errorf("dead item = %+v; want 1 attempt, error, dead, unleased", c)
	}
	if d.LeaseOwner != "o2" {
		t.Errorf("stranger's settlement changed item d: %+v", d)
	}
	if n := counts(t, s, "orders").Outbox; n != 2 {
		t.Errorf("counts.Outbox = %d, want 2 (dead items are not owed)", n)
	}
	if due := leaseOutbox(t, s, "o3", 10, t0.Add(30*time.Second)); len(due) != 0 {
		t.Errorf("leased before due or dead: %+v", due)
	}
	if due := leaseOutbox(t, s, "o3", 10, t0.Add(2*time.Hour)); len(due) != 2 || due[0].Key != "b" || due[1].Key != "d" {
		t.Errorf("lease after b is due and d's lease expired = %+v, want b and d", due)
	}

	for _, e := range got {
		at, err := s.KeyAttempts(ctx, "orders", e.Key, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ops []store.Attempt
		for _, a := range at {
			if a.Op != "" {
				ops = append(ops, a)
			}
		}
		if len(ops) != 1 {
			t.Errorf("outbox attempts of %s = %+v, want 1", e.Key, ops)
			continue
		}
		if a := ops[0]; a.Op != "after[0]" || a.EntryID != e.ID || a.Version != e.Version || a.Route != "orders" || !a.At.Equal(later) {
			t.Errorf("outbox attempt of %s = %+v; want op after[0] under entry %d", e.Key, a, e.ID)
		}
	}
}

func testOutboxRelease(t *testing.T, s store.Store) {
	got, _ := enqueueLeased(t, s, "orders", "w", t0, keys("orders", "a", "b", "c")...)
	var ss []store.Settlement
	for _, e := range got {
		st := done(e)
		st.Outbox = []store.OutboxItem{{Op: "after[0]", Record: e.Payload}}
		ss = append(ss, st)
	}
	settle(t, s, "w", ss...)
	ctx := context.Background()
	for _, w := range []string{"dead-worker", "live-worker"} {
		if got, err := s.LeaseOutbox(ctx, "orders", w, 1, t0, t0.Add(time.Hour)); err != nil || len(got) != 1 {
			t.Fatalf("LeaseOutbox(%s) = %+v, %v", w, got, err)
		}
	}
	leaseOutbox(t, s, "slow-worker", 1, t0) // until t0+1m
	if n, err := s.ReleaseOutbox(ctx, "orders", time.Time{}, nil); err != nil || n != 0 {
		t.Errorf("release of nothing = %d, %v", n, err)
	}
	if n, err := s.ReleaseOutbox(ctx, "orders", time.Time{}, []string{"dead-worker"}); err != nil || n != 1 {
		t.Errorf("release by owner = %d, %v; want 1", n, err)
	}
	if n, err := s.ReleaseOutbox(ctx, "orders", t0.Add(2*time.Minute), nil); err != nil || n != 1 {
		t.Errorf("release of expired = %d, %v; want the slow worker's 1", n, err)
	}
	leased := 0
	for _, o := range outboxItems(t, s, "orders") {
		if o.LeaseOwner != "" {
			leased++
			if o.LeaseOwner != "live-worker" {
				t.Errorf("item still leased by %s", o.LeaseOwner)
			}
		}
	}
	if leased != 1 {
		t.Errorf("%d items leased, want the live worker's 1", leased)
	}
}
