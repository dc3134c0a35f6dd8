package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// testDeletes: a delete of a key (change capture saw its row deleted)
// stays a delete through the queue, a new version, the dead letters and
// a replay, the delivered content and a resend; and a delete never
// counts as the same content as an upsert with the same payload.
func testDeletes(t *testing.T, s store.Store) {
	ctx := context.Background()
	p := json.RawMessage(`{"id":"k"}`)

	// Upsert queued, then a delete of the key with the same payload: a
	// new version, a delete.
	enqueue(t, s, "orders", t0, store.NewEntry{Key: "k", Payload: p})
	res := enqueue(t, s, "orders", t0, store.NewEntry{Key: "k", Payload: p, Deleted: true})
	if res.Replaced != 1 {
		t.Fatalf("a delete over an upsert of the same payload: %+v, want one replacement", res)
	}
	got := lease(t, s, "orders", "w", 10, store.LeasePending, t0)
	if len(got) != 1 || !got[0].Deleted || got[0].Version != 2 {
		t.Fatalf("leased %+v, want the delete, version 2", got)
	}
	settle(t, s, "w", done(got[0]))
	d, err := s.LastDelivered(ctx, "orders", "k")
	if err != nil || !d.Deleted {
		t.Fatalf("last delivered %+v (%v), want a delete", d, err)
	}
	again, err := s.Resend(ctx, "orders", "k", "ann", t0.Add(time.Minute))
	if err != nil || !again.Deleted {
		t.Fatalf("resend %+v (%v), want a delete", again, err)
	}

	// Leased at enqueue: the delete flag comes back, and the settled
	// delete is the key's delivered content.
	leased, _, err := s.EnqueueLeased(ctx, "stock", []store.NewEntry{
		{Key: "a", Payload: p}, {Key: "b", Payload: p, Deleted: true},
	}, nil, t0, "w", t0.Add(time.Minute))
	if err != nil || len(leased) != 2 {
		t.Fatalf("EnqueueLeased: %+v, %v", leased, err)
	}
	for _, e := range leased {
		if stored := entry(t, s, e.ID); e.Deleted != (e.Key == "b") || stored.Deleted != e.Deleted {
			t.Errorf("entry %q: returned Deleted=%v, stored %v", e.Key, e.Deleted, stored.Deleted)
		}
	}
	// An upsert replacing a queued delete is an upsert again.
	enqueue(t, s, "moves", t0, store.NewEntry{Key: "m", Payload: p, Deleted: true})
	leased, _, err = s.EnqueueLeased(ctx, "moves", []store.NewEntry{{Key: "m", Payload: p}}, nil, t0, "w", t0.Add(time.Minute))
	if err != nil || len(leased) != 1 || leased[0].Deleted || entry(t, s, leased[0].ID).Deleted {
		t.Fatalf("upsert over a queued delete: %+v, %v", leased, err)
	}

	// A delete that dies stays a delete in the error history and when
	// replayed.
	enqueue(t, s, "gone", t0, store.NewEntry{Key: "x", Payload: p, Deleted: true})
	e := lease(t, s, "gone", "w", 10, store.LeasePending, t0)[0]
	settle(t, s, "w", dead(e, t0.Add(time.Second), "refused"))
	dl := deadLetters(t, s, store.DeadFilter{Route: "gone"})
	if len(dl) != 1 || !dl[0].Deleted {
		t.Fatalf("dead letters %+v, want one delete", dl)
	}
	replay(t, s, store.ReplaySelector{Route: "gone", Dead: true, Now: t0.Add(time.Minute)})
	if again := lease(t, s, "gone", "w", 10, store.LeasePending, t0.Add(time.Minute)); len(again) != 1 || !again[0].Deleted {
		t.Fatalf("replayed %+v, want the delete", again)
	}

	// Pruned is a run counter like the others.
	id, err := s.CreateRun(ctx, store.Run{Route: "orders", Status: store.RunRunning, StartedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateRun(ctx, store.Run{ID: id, Route: "orders", Status: store.RunSucceeded, StartedAt: t0, EndedAt: t0, Pruned: 7}); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs(ctx, "orders", 10)
	if err != nil || len(runs) == 0 || runs[0].Pruned != 7 {
		t.Fatalf("runs %+v (%v), want pruned 7", runs, err)
	}
}
