package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// A dead letter keeps its entry's content hash, and a replay gives it back
// to the entry.
func testDeadLetterHash(t *testing.T, s store.Store) {
	e := kill(t, s, store.NewEntry{Key: "a", Payload: payload("a", 1), Hash: "h1"})
	dl := deadLetters(t, s, store.DeadFilter{Route: "orders", Key: "a"})
	if len(dl) != 1 || dl[0].Hash != "h1" || dl[0].EntryID != e.ID {
		t.Fatalf("dead letters of a = %+v, want one with hash h1", dl)
	}
	replay(t, s, store.ReplaySelector{Route: "orders", Key: "a", Dead: true, Now: t0.Add(time.Hour)})
	if got := entry(t, s, e.ID); got.Hash != "h1" || got.Status != store.StatusPending {
		t.Errorf("replayed entry = %+v, want pending with hash h1", got)
	}
}

// Discarding says the destination was dealt with by hand: the discarded
// content becomes the key's delivered content (never over a newer one),
// so reading it again is unchanged and a changed record is sent.
func testDiscardKeepsContent(t *testing.T, s store.Store) {
	ctx := context.Background()
	rec := func(key string, n int, hash string) store.NewEntry {
		return store.NewEntry{Key: key, Payload: payload(key, n), Hash: hash}
	}
	// err: h1 delivered, h2 in error; dead: h1 dead; old: h1 dead, then
	// h2 delivered (newer).
	deliver(t, s, rec("err", 1, "h1"))
	enqueue(t, s, "orders", t0, rec("err", 2, "h2"))
	errEntry := lease(t, s, "orders", "w", 1, store.LeasePending, t0)[0]
	settle(t, s, "w", retry(errEntry, t0.Add(time.Hour), "timeout"))
	deadEntry := kill(t, s, rec("dead", 1, "h1"))
	kill(t, s, rec("old", 1, "h1"))
	newer := deliver(t, s, rec("old", 2, "h2"))

	now := t0.Add(2 * time.Hour)
	n, err := s.Discard(ctx, store.DiscardSelector{Route: "orders", Dead: true, Errors: true, Who: "ann", Now: now})
	if err != nil || n != 3 {
		t.Fatalf("Discard = %d, %v; want 3", n, err)
	}
	for _, tc := range []struct {
		key     string
		entryID int64
		hash    string
		n       int
	}{
		{"err", errEntry.ID, "h2", 2},
		{"dead", deadEntry.ID, "h1", 1},
		{"old", newer.ID, "h2", 2},
	} {
		d, err := s.LastDelivered(ctx, "orders", tc.key)
		if err != nil {
			t.Errorf("LastDelivered(%s): %v", tc.key, err)
			continue
		}
		if d.EntryID != tc.entryID || d.Hash != tc.hash {
			t.Errorf("LastDelivered(%s) = entry %d hash %q, want entry %d hash %q", tc.key, d.EntryID, d.Hash, tc.entryID, tc.hash)
		}
		wantJSON(t, "delivered "+tc.key, d.Payload, payload(tc.key, tc.n))
	}
	res := enqueue(t, s, "orders", now, rec("err", 2, "h2"), rec("dead", 1, "h1"), rec("old", 3, "h3"))
	if res != (store.EnqueueResult{Inserted: 1, Unchanged: 2}) {
		t.Errorf("read again = %+v; want the discarded contents unchanged, the changed one queued", res)
	}
	if es := list(t, s, store.EntryFilter{Route: "orders"}); len(es) != 1 || es[0].Key != "old" {
		t.Errorf("queued = %v, want only old", entryKeys(es))
	}
}

// Operations given up (dead outbox items) are counted apart, can be made
// due again (attempts reset, a replayed attempt with their op in the key's
// history) or discarded.
func testOutboxGivenUp(t *testing.T, s store.Store) {
	ctx := context.Background()
	got, _ := enqueueLeased(t, s, "orders", "w", t0, keys("orders", "a", "b", "c")...)
	var ss []store.Settlement
	for _, e := range got {
		st := done(e)
		st.Outbox = []store.OutboxItem{{Op: "after[0]", Record: e.Payload, IdempotencyKey: "k-" + e.Key}}
		ss = append(ss, st)
	}
	settle(t, s, "w", ss...)
	// a and b are given up, c is still owed.
	var give []store.OutboxSettlement
	for _, o := range leaseOutbox(t, s, "o", 2, t0) {
		give = append(give, store.OutboxSettlement{ID: o.ID, Outcome: store.OutcomeDead, Error: "400 bad",
			Attempt: store.Attempt{At: t0, Outcome: store.OutcomeDead, StatusCode: 400}})
	}
	if err := s.SettleOutbox(ctx, "o", give); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, s, "orders"); c.Outbox != 1 || c.OutboxDead != 2 {
		t.Fatalf("counts = %+v, want 1 owed and 2 given up", c)
	}
	now := t0.Add(time.Hour)
	if n, err := s.ReplayOutbox(ctx, "stock", "", now); err != nil || n != 0 {
		t.Errorf("ReplayOutbox of another route = %d, %v", n, err)
	}
	if n, err := s.ReplayOutbox(ctx, "orders", "a", now); err != nil || n != 1 {
		t.Fatalf("ReplayOutbox of key a = %d, %v; want 1", n, err)
	}
	if c := counts(t, s, "orders"); c.Outbox != 2 || c.OutboxDead != 1 {
		t.Errorf("counts after the replay of a = %+v, want 2 owed, 1 given up", c)
	}
	items := outboxItems(t, s, "orders")
	if a := items[0]; a.Key != "a" || a.Dead || a.Attempts != 0 || !a.NextAttemptAt.Equal(now) || a.LeaseOwner != "" || a.IdempotencyKey != "k-a" {
		t.Errorf("replayed item = %+v, want due now, 0 attempts, same key", a)
	}
	if due := leaseOutbox(t, s, "o2", 10, now); len(due) != 2 || due[0].Key != "a" || due[1].Key != "c" {
		t.Errorf("lease after the replay = %+v, want a and c", due)
	}
	at, err := s.KeyAttempts(ctx, "orders", "a", 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := at[len(at)-1]; last.Outcome != store.OutcomeReplayed || last.Op != "after[0]" || last.EntryID != got[0].ID ||
		last.Version != got[0].Version || !last.At.Equal(now) {
		t.Errorf("last attempt of a = %+v, want replayed, op after[0]", last)
	}

	// b is discarded with --operations; owed ones are never discarded.
	n, err := s.Discard(ctx, store.DiscardSelector{Route: "orders", Operations: true, Who: "ann", Why: "done by hand", Now: now})
	if err != nil || n != 1 {
		t.Fatalf("Discard operations = %d, %v; want b's 1", n, err)
	}
	if c := counts(t, s, "orders"); c.Outbox != 2 || c.OutboxDead != 0 {
		t.Errorf("counts after discard = %+v, want 2 owed, none given up", c)
	}
	at, err = s.KeyAttempts(ctx, "orders", "b", 0)
	if err != nil {
		t.Fatal(err)
	}
	if last := at[len(at)-1]; last.Outcome != store.OutcomeDiscarded || last.Op != "after[0]" || last.Error != "discarded by ann: done by hand" {
		t.Errorf("last attempt of b = %+v, want discarded, op after[0], who and why", last)
	}
}

// An unchanged attempt is recorded under the route's running run (the
// run that read the record again), for both enqueue paths.
func testUnchangedInRunningRun(t *testing.T, s store.Store) {
	ctx := context.Background()
	rec := store.NewEntry{Key: "a", Payload: payload("a", 1), Hash: "h1"}
	d := deliver(t, s, rec)
	if _, err := s.CreateRun(ctx, store.Run{Route: "stock", Status: store.RunRunning, StartedAt: t0}); err != nil {
		t.Fatal(err)
	}
	for i, m := range enqueueModes {
		id, err := s.CreateRun(ctx, store.Run{Route: "orders", Status: store.RunRunning, StartedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if _, res := m.put(t, s, t0.Add(time.Minute), rec); res.Unchanged != 1 {
			t.Fatalf("%s: result = %+v, want unchanged", m.name, res)
		}
		at := attempts(t, s, d.ID)
		if last := at[len(at)-1]; last.Outcome != store.OutcomeUnchanged || last.RunID != id {
			t.Errorf("%s: last attempt = %+v, want unchanged in run %d", m.name, last, id)
		}
		if err := s.UpdateRun(ctx, store.Run{ID: id, Route: "orders", Status: store.RunSucceeded, StartedAt: t0, EndedAt: t0.Add(time.Duration(i+1) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	// No run running: 0.
	enqueueModes[0].put(t, s, t0.Add(time.Hour), rec)
	at := attempts(t, s, d.ID)
	if last := at[len(at)-1]; last.RunID != 0 {
		t.Errorf("last attempt outside a run = %+v, want run 0", last)
	}
}

// A record that died and is read again unchanged every run gets an
// unchanged attempt each time: those go with the attempts retention even
// though the dead letter keeps its other attempts, so the history of a
// dead letter kept for ever does not grow with every run.
func testPruneUnchangedOfDeadLetter(t *testing.T, s store.Store) {
	ctx := context.Background()
	rec := store.NewEntry{Key: "a", Payload: payload("a", 1), Hash: "h1"}
	d := kill(t, s, rec)
	for i := range 3 {
		enqueue(t, s, "orders", t0.Add(time.Duration(i+1)*time.Hour), rec)
	}
	if at := attempts(t, s, d.ID); len(at) != 4 {
		t.Fatalf("attempts = %+v, want the dead one and 3 unchanged", at)
	}
	res, err := s.Prune(ctx, store.PruneRequest{AttemptsBefore: t0.Add(150 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	at := attempts(t, s, d.ID)
	if res.Attempts != 2 || len(at) != 2 || at[0].Outcome != store.OutcomeDead || at[1].Outcome != store.OutcomeUnchanged {
		t.Errorf("pruned %d, attempts left %+v; want the 2 old unchanged ones gone, the dead one and the newest kept", res.Attempts, at)
	}
}
