package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// Two workers leasing one route at the same moment never get the same
// entry, round after round, while they settle what they got.
func testLeaseRace(t *testing.T, s store.Store) {
	ctx := context.Background()
	const rounds, perRound, batch = 25, 40, 3
	seen := map[int64]string{}
	for r := range rounds {
		page := make([]store.NewEntry, perRound)
		for i := range page {
			k := fmt.Sprintf("r%d-k%d", r, i)
			page[i] = store.NewEntry{Key: k, Payload: payload(k, i)}
		}
		enqueue(t, s, "orders", t0, page...)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			got   [2][]store.Entry
			errs  = make(chan error, 2)
		)
		for w := range got {
			owner := fmt.Sprintf("w%d", w)
			wg.Go(func() {
				<-start
				for {
					es, err := s.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: owner, Limit: batch, Now: t0, Until: t0.Add(time.Minute)})
					if err != nil {
						errs <- fmt.Errorf("round %d: lease by %s: %w", r, owner, err)
						return
					}
					if len(es) == 0 {
						return
					}
					got[w] = append(got[w], es...)
					if err := s.Settle(ctx, owner, settlements(es)); err != nil {
						errs <- fmt.Errorf("round %d: settle by %s: %w", r, owner, err)
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		n := 0
		for w, es := range got {
			for _, e := range es {
				owner := fmt.Sprintf("w%d", w)
				if prev, ok := seen[e.ID]; ok {
					t.Fatalf("round %d: entry %d leased by %s and %s", r, e.ID, prev, owner)
				}
				seen[e.ID] = owner
				n++
			}
		}
		if n != perRound {
			t.Fatalf("round %d: leased %d entries, want %d", r, n, perRound)
		}
	}
	if c := counts(t, s, "orders"); c != (store.Counts{}) {
		t.Errorf("counts after every round = %+v, want an empty queue", c)
	}
}

// A settlement that comes after the lease was taken over (released,
// then leased by another owner) changes nothing of the entry, whatever
// its outcome; its attempt is still recorded.
func testSettleAfterTakeOver(t *testing.T, open func(t *testing.T) store.Store) {
	ctx := context.Background()
	for _, outcome := range []store.Outcome{store.OutcomeDone, store.OutcomeRetry, store.OutcomeDead} {
		for _, how := range []string{"owner died", "lease expired"} {
			t.Run(string(outcome)+"/"+how, func(t *testing.T) {
				t.Parallel()
				s := open(t)
				t.Cleanup(func() { _ = s.Close() })
				enqueue(t, s, "orders", t0, store.NewEntry{Key: "a", Payload: payload("a", 1), Hash: "h1"})
				old := lease(t, s, "orders", "old", 1, store.LeasePending, t0)[0]
				later := t0.Add(2 * time.Minute)
				if how == "owner died" {
					release(t, s, "orders", time.Time{}, "old")
				} else {
					release(t, s, "orders", later)
				}
				taken := lease(t, s, "orders", "new", 1, store.LeasePending, later)
				if len(taken) != 1 || taken[0].ID != old.ID {
					t.Fatalf("take-over leased %v, want entry %d", ids(taken), old.ID)
				}
				settle(t, s, "old", settlementOf(outcome, old, "h1"))
				e := entry(t, s, old.ID)
				if e.Status != store.StatusLeased || e.LeaseOwner != "new" || e.Attempts != 0 || e.Version != old.Version || e.LastError != "" {
					t.Errorf("entry after the old owner's %s = %+v; want still leased by new, untouched", outcome, e)
				}
				if dl := deadLetters(t, s, store.DeadFilter{Route: "orders"}); len(dl) != 0 {
					t.Errorf("dead letters = %+v, want none", dl)
				}
				if d, err := s.LastDelivered(ctx, "orders", "a"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("last delivered = %+v, %v; want none", d, err)
				}
				if at := attempts(t, s, old.ID); len(at) != 1 || at[0].Outcome != outcome {
					t.Errorf("attempts = %+v, want the old owner's %s recorded", at, outcome)
				}
				settle(t, s, "new", done(taken[0]))
				gone(t, s, old.ID)
			})
		}
	}
}

// A Replay while an entry of the key is leased never overwrites it: an
// entry in flight is not an error to replay, and a dead letter of its
// key stays dead (superseded).
func testReplayWhileLeased(t *testing.T, s store.Store) {
	ctx := context.Background()
	due := t0.Add(time.Hour)
	makeError(t, s, "orders", "a", due)
	inFlight := lease(t, s, "orders", "w", 10, store.LeaseErrors, due) // a, from the error pass
	makeDead(t, s, "orders", "b", 1)
	enqueue(t, s, "orders", due, store.NewEntry{Key: "b", Payload: payload("b", 2)})
	inFlight = append(inFlight, lease(t, s, "orders", "w", 10, store.LeasePending, due)...) // b, version 2
	if !equal(entryKeys(inFlight), []string{"a", "b"}) {
		t.Fatalf("in flight = %v, want a and b", entryKeys(inFlight))
	}
	rr, err := s.Replay(ctx, store.ReplaySelector{Route: "orders", Dead: true, Errors: true, Now: due})
	if err != nil {
		t.Fatal(err)
	}
	if rr.Replayed != 0 || !equal(rr.Superseded, []string{"b"}) {
		t.Errorf("replay = %+v; want nothing replayed, b superseded", rr)
	}
	for _, e := range inFlight {
		got := entry(t, s, e.ID)
		if got.Status != store.StatusLeased || got.LeaseOwner != "w" || got.Version != e.Version || got.Attempts != e.Attempts {
			t.Errorf("entry %s after the replay = %+v; want still in flight as leased", e.Key, got)
		}
		wantJSON(t, "in flight "+e.Key, got.Payload, e.Payload)
	}
	if dl := deadLetters(t, s, store.DeadFilter{Route: "orders", Key: "b"}); len(dl) != 1 {
		t.Errorf("dead letters of b = %+v, want kept", dl)
	}
	ss := settlements(inFlight)
	settle(t, s, "w", ss...)
	for _, e := range inFlight {
		gone(t, s, e.ID)
	}
}

// A settlement is for the version that was sent. When an entry's lease
// ran out and the entry went back to the queue, a newer push of its key
// replaces it there (same entry, next version); the same owner may then
// lease it again. The late settlement of the old version must not take
// the new one with it: the new version stays leased, untouched, and its
// own settlement still counts. The same when both settlements come in
// one Settle call (a run commits batches together): only the new
// version's content is the key's delivered content, and only its outbox
// items are owed.
func testSettleOfReplacedVersion(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i, outcome := range []store.Outcome{store.OutcomeDone, store.OutcomeRetry, store.OutcomeDead, store.OutcomeSkipped} {
		for _, together := range []bool{false, true} {
			route := fmt.Sprintf("replaced%d-%v", i, together)
			enqueue(t, s, route, t0, store.NewEntry{Key: "a", Payload: payload("a", 1), Hash: "h1"})
			old := lease(t, s, route, "p", 1, store.LeasePending, t0)[0]
			later := t0.Add(2 * time.Minute)
			release(t, s, route, later)
			enqueue(t, s, route, later, store.NewEntry{Key: "a", Payload: payload("a", 2), Hash: "h2"})
			taken := lease(t, s, route, "p", 1, store.LeasePending, later)
			if len(taken) != 1 || taken[0].ID != old.ID || taken[0].Version == old.Version {
				t.Fatalf("%s: leased again %+v; want entry %d in a newer version than %d", outcome, taken, old.ID, old.Version)
			}
			st := settlementOf(outcome, old, "h1")
			st.Outbox = []store.OutboxItem{{Op: "after[0]", Record: payload("a", 1)}}
			fresh := done(taken[0])
			fresh.Hash = "h2"
			fresh.Outbox = []store.OutboxItem{{Op: "after[0]", Record: payload("a", 2)}}
			if together {
				settle(t, s, "p", st, fresh)
			} else {
				settle(t, s, "p", st)
				e := entry(t, s, old.ID)
				if e.Status != store.StatusLeased || e.LeaseOwner != "p" || e.Version != taken[0].Version || e.Attempts != 0 || e.LastError != "" {
					t.Errorf("%s of version %d: entry = %+v; want version %d still leased by p, untouched", outcome, old.Version, e, taken[0].Version)
				}
				if d, err := s.LastDelivered(ctx, route, "a"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: last delivered = %+v, %v; want none (the old version's settlement came too late)", outcome, d, err)
				}
				settle(t, s, "p", fresh)
			}
			gone(t, s, old.ID)
			if dl := deadLetters(t, s, store.DeadFilter{Route: route}); len(dl) != 0 {
				t.Errorf("%s (together %v): dead letters = %+v, want none", outcome, together, dl)
			}
			if d, err := s.LastDelivered(ctx, route, "a"); err != nil || d.Hash != "h2" || d.Version != taken[0].Version {
				t.Errorf("%s (together %v): last delivered = %+v, %v; want hash h2, version %d", outcome, together, d, err, taken[0].Version)
			}
			if ob := outboxItems(t, s, route); len(ob) != 1 || ob[0].Version != taken[0].Version || string(ob[0].Record) != string(payload("a", 2)) {
				t.Errorf("%s (together %v): outbox = %+v; want only the new version's item", outcome, together, ob)
			}
		}
	}
}

// settlementOf is a settlement of e with outcome: delivered with content
// hash, retried in an hour after a 503, dead after a 400, or skipped.
func settlementOf(outcome store.Outcome, e store.Entry, hash string) store.Settlement {
	var st store.Settlement
	switch outcome {
	case store.OutcomeDone:
		st = done(e)
		st.Hash = hash
	case store.OutcomeRetry:
		st = retry(e, t0.Add(time.Hour), "503")
	case store.OutcomeDead:
		st = dead(e, t0, "400")
	case store.OutcomeSkipped:
		st = done(e)
		st.Outcome, st.Attempt.Outcome, st.CountAttempt = store.OutcomeSkipped, store.OutcomeSkipped, false
	}
	return st
}
