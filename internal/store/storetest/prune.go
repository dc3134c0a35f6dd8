package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// pruneFixture is a store with history of every kind, old (before t0+1h)
// and new (after it).
type pruneFixture struct {
	oldDone, newDone, queued, owes store.Entry // delivered long ago, delivered lately, in error, delivered owing an outbox item
	oldDead, newDead               store.Entry
	oldRun, newRun, running        int64
}

func makePruneFixture(t *testing.T, s store.Store) pruneFixture {
	ctx := context.Background()
	var f pruneFixture
	deliverAt := func(key string, at time.Time, outbox bool) store.Entry {
		got, _ := enqueueLeased(t, s, "orders", "w", t0, store.NewEntry{Key: key, Payload: payload(key, 1), Hash: "h-" + key})
		d := done(got[0])
		d.Attempt.At, d.Hash = at, "h-"+key
		if outbox {
			d.Outbox = []store.OutboxItem{{Op: "after[0]", Record: got[0].Payload}}
		}
		settle(t, s, "w", d)
		return got[0]
	}
	f.oldDone = deliverAt("old", t0, false)
	f.newDone = deliverAt("new", t0.Add(2*time.Hour), false)
	f.owes = deliverAt("owes", t0, true)
	f.queued = makeError(t, s, "orders", "queued", t0.Add(time.Hour)) // its attempt is at t0
	f.oldDead = makeDead(t, s, "orders", "olddead", 1)                // died t0+1s
	enqueue(t, s, "orders", t0, keys("orders", "newdead")...)
	e := lease(t, s, "orders", "w", 1, store.LeasePending, t0)[0]
	settle(t, s, "w", dead(e, t0.Add(3*time.Hour), "bad"))
	f.newDead = e
	run := func(status store.RunStatus, end time.Time) int64 {
		id, err := s.CreateRun(ctx, store.Run{Route: "orders", Status: status, StartedAt: t0, EndedAt: end})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	f.oldRun = run(store.RunSucceeded, t0.Add(time.Minute))
	f.newRun = run(store.RunFailed, t0.Add(3*time.Hour))
	f.running = run(store.RunRunning, time.Time{})
	return f
}

func testPrune(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	cut := t0.Add(time.Hour)
	for _, tc := range []struct {
		name string
		req  store.PruneRequest
		want store.PruneResult
	}{
		{"nothing", store.PruneRequest{}, store.PruneResult{}},
		{"attempts", store.PruneRequest{AttemptsBefore: cut}, store.PruneResult{Attempts: 1}},
		{"runs", store.PruneRequest{RunsBefore: cut}, store.PruneResult{Runs: 1}},
		{"dead letters", store.PruneRequest{DeadBefore: cut}, store.PruneResult{DeadLetters: 1, Attempts: 1}},
		{"delivered", store.PruneRequest{DeliveredBefore: cut}, store.PruneResult{Delivered: 2}},
		{"all", store.PruneRequest{AttemptsBefore: cut, RunsBefore: cut, DeadBefore: cut, DeliveredBefore: cut, Vacuum: true},
			store.PruneResult{Attempts: 2, Runs: 1, DeadLetters: 1, Delivered: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			f := makePruneFixture(t, s)
			got, err := s.Prune(ctx, tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Prune = %+v, want %+v", got, tc.want)
			}
			kept := func(what string, e store.Entry, want bool) {
				t.Helper()
				if n := len(attempts(t, s, e.ID)); (n > 0) != want {
					t.Errorf("attempts of %s (%s): %d left, want kept %v", e.Key, what, n, want)
				}
			}
			kept("delivered before the cutoff", f.oldDone, tc.req.AttemptsBefore.IsZero())
			kept("delivered after the cutoff", f.newDone, true)
			kept("queued", f.queued, true)
			kept("owes an outbox item", f.owes, true)
			kept("dead before the cutoff", f.oldDead, tc.req.DeadBefore.IsZero())
			kept("dead after the cutoff", f.newDead, true)

			dl := deadLetters(t, s, store.DeadFilter{Route: "orders"})
			if want := 2; tc.req.DeadBefore.IsZero() && len(dl) != want || !tc.req.DeadBefore.IsZero() && (len(dl) != 1 || dl[0].Key != "newdead") {
				t.Errorf("dead letters = %+v", dl)
			}
			for id, want := range map[int64]bool{f.oldRun: tc.req.RunsBefore.IsZero(), f.newRun: true, f.running: true} {
				_, err := s.GetRun(ctx, id)
				if (err == nil) != want {
					t.Errorf("run %d: %v, want kept %v", id, err, want)
				}
			}
			for key, want := range map[string]bool{"old": tc.req.DeliveredBefore.IsZero(), "owes": tc.req.DeliveredBefore.IsZero(), "new": true} {
				_, err := s.LastDelivered(ctx, "orders", key)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Fatal(err)
				}
				if (err == nil) != want {
					t.Errorf("delivered content of %s: %v, want kept %v", key, err, want)
				}
			}
			if c := counts(t, s, "orders"); c.Error != 1 || c.Outbox != 1 {
				t.Errorf("counts = %+v: the queue and the outbox are never pruned", c)
			}
		})
	}
}
