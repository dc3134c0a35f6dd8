package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// A dead letter is never replayed over newer data of its key: an entry
// with a higher ID (queued, in error or in flight) or a newer delivery.
// Older deliveries or entries do not hold it back.
func testReplaySuperseded(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	for _, tc := range []struct {
		name        string
		after       func(t *testing.T, s store.Store) // runs after "a" died
		superseded  bool
		wantEntries int // entries of key a after the replay
	}{
		{"nothing newer", func(t *testing.T, s store.Store) {}, false, 1},
		{"newer pending", func(t *testing.T, s store.Store) {
			enqueue(t, s, "orders", t0, store.NewEntry{Key: "a", Payload: payload("a", 2)})
		}, true, 1},
		{"newer in error", func(t *testing.T, s store.Store) {
			makeError(t, s, "orders", "a", t0.Add(time.Hour))
		}, true, 1},
		// A run leases the newer version while the user replays the old one.
		{"newer in flight", func(t *testing.T, s store.Store) {
			enqueueLeased(t, s, "orders", "run", t0, store.NewEntry{Key: "a", Payload: payload("a", 2)})
		}, true, 1},
		{"newer delivered", func(t *testing.T, s store.Store) {
			deliver(t, s, store.NewEntry{Key: "a", Payload: payload("a", 2), Hash: "h2"})
		}, true, 0},
		{"older in flight", nil, false, 2},
		{"older delivered", nil, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() { _ = s.Close() })
			var older []store.Entry
			switch tc.name {
			case "older in flight", "older delivered":
				older, _ = enqueueLeased(t, s, "orders", "run", t0, store.NewEntry{Key: "a", Payload: payload("a", 0)})
			}
			a := makeDead(t, s, "orders", "a", 1)
			if tc.name == "older delivered" {
				settle(t, s, "run", done(older[0]))
			}
			if tc.after != nil {
				tc.after(t, s)
			}
			rr, err := s.Replay(ctx, store.ReplaySelector{Route: "orders", Dead: true, Now: t0.Add(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			dl := deadLetters(t, s, store.DeadFilter{Route: "orders", Key: "a"})
			if tc.superseded {
				if rr.Replayed != 0 || !equal(rr.Superseded, []string{"a"}) || len(dl) != 1 {
					t.Errorf("replay = %+v, dead letters %+v; want a superseded and its dead letter kept", rr, dl)
				}
				gone(t, s, a.ID)
			} else {
				if rr.Replayed != 1 || len(rr.Superseded) != 0 || len(dl) != 0 {
					t.Errorf("replay = %+v, dead letters %+v; want a replayed", rr, dl)
				}
				if e := entry(t, s, a.ID); e.Status != store.StatusPending {
					t.Errorf("replayed entry = %+v, want pending", e)
				}
			}
			if es := keyEntries(t, s, "a"); len(es) != tc.wantEntries {
				t.Errorf("entries of a = %+v, want %d", es, tc.wantEntries)
			}
		})
	}
}

// An older version of a key released back to the queue after a newer one
// died gives way to the newer one when that is replayed.
func testReplayOverOlderQueued(t *testing.T, s store.Store) {
	old, _ := enqueueLeased(t, s, "orders", "w1", t0, store.NewEntry{Key: "a", Payload: payload("a", 1)})
	newer, _ := enqueueLeased(t, s, "orders", "w2", t0, store.NewEntry{Key: "a", Payload: payload("a", 2)})
	settle(t, s, "w2", dead(newer[0], t0, "bad"))
	release(t, s, "orders", time.Time{}, "w1") // w1 died: the old version is pending again
	if e := entry(t, s, old[0].ID); e.Status != store.StatusPending {
		t.Fatalf("old version after release = %+v, want pending", e)
	}
	if n := replay(t, s, store.ReplaySelector{Route: "orders", Key: "a", Dead: true, Now: t0}); n != 1 {
		t.Fatalf("replayed %d, want 1", n)
	}
	gone(t, s, old[0].ID)
	es := keyEntries(t, s, "a")
	if len(es) != 1 || es[0].ID != newer[0].ID || es[0].Status != store.StatusPending {
		t.Fatalf("entries of a = %+v, want only the newer version, pending", es)
	}
	wantJSON(t, "replayed", es[0].Payload, payload("a", 2))
}

func testReplayErrorsHistory(t *testing.T, s store.Store) {
	e := makeError(t, s, "orders", "a", t0.Add(time.Hour))
	now := t0.Add(time.Minute)
	rr, err := s.Replay(context.Background(), store.ReplaySelector{Route: "orders", Errors: true, Now: now})
	if err != nil || rr.Replayed != 1 || len(rr.Superseded) != 0 {
		t.Fatalf("replay = %+v, %v; want 1 replayed", rr, err)
	}
	at := attempts(t, s, e.ID)
	if last := at[len(at)-1]; last.Outcome != store.OutcomeReplayed || last.Op != "retry" || last.Key != "a" ||
		last.Version != e.Version || !last.At.Equal(now) {
		t.Errorf("last attempt = %+v, want replayed (op retry) at %v", last, now)
	}
}
