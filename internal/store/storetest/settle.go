package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func testSettleDone(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a", "b")...)
	got := lease(t, s, "orders", "w", 10, store.LeasePending, t0)
	a, b := got[0], got[1]
	full := store.Settlement{
		EntryID: a.ID, Outcome: store.OutcomeDone, CountAttempt: true,
		Attempt: store.Attempt{
			EntryID: a.ID, Route: "orders", Key: "a", Version: a.Version, RunID: 9, At: t0.Add(time.Second),
			Outcome: store.OutcomeDone, StatusCode: 201, Request: `{"id":"a"}`, Response: `{"ok":true}`,
			DurationMillis: 12, IdempotencyKey: "idem-a",
		},
	}
	// b's attempt leaves route, key and version for the store to fill.
	bare := store.Settlement{EntryID: b.ID, Outcome: store.OutcomeDone, CountAttempt: true,
		Attempt: store.Attempt{At: t0, Outcome: store.OutcomeDone, StatusCode: 200}}
	settle(t, s, "w", full, bare)

	gone(t, s, a.ID)
	gone(t, s, b.ID)
	at := attempts(t, s, a.ID)
	if len(at) != 1 {
		t.Fatalf("attempts of a = %d, want 1 kept after the entry left", len(at))
	}
	want := full.Attempt
	want.ID = at[0].ID
	if got := at[0]; got.ID == 0 || !got.At.Equal(want.At) {
		t.Errorf("attempt = %+v, want %+v", got, want)
	} else if got.At = want.At; got != want {
		t.Errorf("attempt = %+v, want %+v", got, want)
	}
	bt := attempts(t, s, b.ID)
	if len(bt) != 1 || bt[0].Route != "orders" || bt[0].Key != "b" || bt[0].Version != b.Version || bt[0].EntryID != b.ID {
		t.Errorf("attempt of b = %+v; want route, key, version and entry filled from the entry", bt)
	}
	if c := counts(t, s, "orders"); c != (store.Counts{}) {
		t.Errorf("counts = %+v, want empty", c)
	}
}

func testSettleRetry(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a", "b")...)
	got := lease(t, s, "orders", "w", 10, store.LeasePending, t0)
	next := t0.Add(10 * time.Second)
	uncounted := retry(got[1], next, "bad payload")
	uncounted.CountAttempt = false
	settle(t, s, "w", retry(got[0], next, "503 busy"), uncounted)

	a := entry(t, s, got[0].ID)
	if a.Status != store.StatusError || a.Attempts != 1 || a.LastError != "503 busy" || !a.NextAttemptAt.Equal(next) ||
		a.LeaseOwner != "" || !a.LeaseUntil.IsZero() {
		t.Errorf("retried entry = %+v; want E, 1 attempt, error, due %v, no lease", a, next)
	}
	if b := entry(t, s, got[1].ID); b.Attempts != 0 || b.Status != store.StatusError {
		t.Errorf("uncounted retry = %+v, want E with 0 attempts", b)
	}
	if at := attempts(t, s, a.ID); len(at) != 1 || at[0].Outcome != store.OutcomeRetry || at[0].StatusCode != 503 {
		t.Errorf("attempts = %+v, want one error attempt", at)
	}
	// A second failure counts again.
	again := lease(t, s, "orders", "w", 1, store.LeaseErrors, next)
	settle(t, s, "w", retry(again[0], next.Add(time.Minute), "still busy"))
	if a := entry(t, s, again[0].ID); a.Attempts != 2 || a.LastError != "still busy" {
		t.Errorf("after second retry: %+v, want 2 attempts", a)
	}
}

func testSettleRetrySuperseded(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a")...)
	old := lease(t, s, "orders", "w", 10, store.LeasePending, t0)[0]
	enqueue(t, s, "orders", t0.Add(time.Second), store.NewEntry{Key: "a", Payload: payload("a", 2)})
	settle(t, s, "w", retry(old, t0.Add(time.Minute), "timeout"))

	gone(t, s, old.ID)
	rest := list(t, s, store.EntryFilter{Route: "orders"})
	if len(rest) != 1 || rest[0].Status != store.StatusPending {
		t.Fatalf("queue = %+v, want only the newer pending entry", rest)
	}
	wantJSON(t, "newer", rest[0].Payload, payload("a", 2))
	if at := attempts(t, s, old.ID); len(at) != 1 {
		t.Errorf("superseded entry's attempts = %d, want 1 (still recorded)", len(at))
	}
}

func testSettleDead(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, store.NewEntry{Key: "a", Payload: payload("a", 1), Priority: 4})
	e := lease(t, s, "orders", "w", 1, store.LeasePending, t0)[0]
	settle(t, s, "w", retry(e, t0, "first"))
	e = lease(t, s, "orders", "w", 1, store.LeaseErrors, t0)[0]
	died := t0.Add(time.Minute)
	settle(t, s, "w", dead(e, died, "gave up"))

	gone(t, s, e.ID)
	dl := deadLetters(t, s, store.DeadFilter{Route: "orders"})
	if len(dl) != 1 {
		t.Fatalf("dead letters = %d, want 1", len(dl))
	}
	d := dl[0]
	if d.ID == 0 || d.EntryID != e.ID || d.Route != "orders" || d.Key != "a" || d.Version != e.Version || d.Priority != 4 ||
		d.Attempts != 2 || d.LastError != "gave up" || !d.CreatedAt.Equal(t0) || !d.DiedAt.Equal(died) {
		t.Errorf("dead letter = %+v; want entry %d, 2 attempts, error, created %v, died %v", d, e.ID, t0, died)
	}
	wantJSON(t, "dead", d.Payload, payload("a", 1))
	at := attempts(t, s, e.ID)
	if len(at) != 2 || at[0].Outcome != store.OutcomeRetry || at[1].Outcome != store.OutcomeDead {
		t.Errorf("history = %+v, want error then dead", at)
	}
	if c := counts(t, s, "orders"); c != (store.Counts{Dead: 1}) {
		t.Errorf("counts = %+v, want 1 dead", c)
	}
}

func testSettleSkipped(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a")...)
	e := lease(t, s, "orders", "w", 1, store.LeasePending, t0)[0]
	settle(t, s, "w", store.Settlement{EntryID: e.ID, Outcome: store.OutcomeSkipped,
		Attempt: store.Attempt{At: t0, Outcome: store.OutcomeSkipped, Error: "filtered out"}})
	gone(t, s, e.ID)
	if at := attempts(t, s, e.ID); len(at) != 1 || at[0].Outcome != store.OutcomeSkipped || at[0].Error != "filtered out" {
		t.Errorf("attempts = %+v, want one skipped", at)
	}
}

func testSettleMixed(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "done", "retry", "dead", "skip")...)
	got := lease(t, s, "orders", "w", 10, store.LeasePending, t0)
	settle(t, s, "w",
		done(got[0]),
		retry(got[1], t0.Add(time.Minute), "later"),
		dead(got[2], t0, "never"),
		store.Settlement{EntryID: got[3].ID, Outcome: store.OutcomeSkipped, Attempt: store.Attempt{At: t0}},
	)
	if c := counts(t, s, "orders"); c != (store.Counts{Error: 1, Dead: 1}) {
		t.Errorf("counts = %+v, want 1 error, 1 dead", c)
	}
	recent, err := s.RecentAttempts(context.Background(), "orders", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(recent) != 4 {
		t.Errorf("recent attempts = %d, want 4 (one per settlement)", len(recent))
	}
}

func testSettleNotOwner(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a", "b", "c")...)
	got := lease(t, s, "orders", "w1", 10, store.LeasePending, t0)
	settle(t, s, "intruder", done(got[0]), retry(got[1], t0, "x"), dead(got[2], t0, "y"))
	for _, e := range got {
		if now := entry(t, s, e.ID); now.Status != store.StatusLeased || now.LeaseOwner != "w1" || now.Attempts != 0 {
			t.Errorf("entry %s after a stranger's settlement = %+v, want unchanged", e.Key, now)
		}
	}
	if dl := deadLetters(t, s, store.DeadFilter{Route: "orders"}); len(dl) != 0 {
		t.Errorf("stranger made dead letters: %+v", dl)
	}
	// The stranger's delivery did happen, so its attempt is history.
	if at := attempts(t, s, got[0].ID); len(at) != 1 {
		t.Errorf("stranger's attempts = %+v, want recorded", at)
	}
	// Settling an entry that does not exist is no error either.
	settle(t, s, "w1", store.Settlement{EntryID: 987654, Outcome: store.OutcomeDone})
}

func testSettleExpiredLease(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a")...)
	first := lease(t, s, "orders", "slow", 1, store.LeasePending, t0)[0]
	if n := release(t, s, "orders", t0.Add(2*time.Minute)); n != 1 {
		t.Fatalf("released %d, want the expired lease", n)
	}
	second := lease(t, s, "orders", "fast", 1, store.LeasePending, t0.Add(2*time.Minute))
	if len(second) != 1 || second[0].ID != first.ID {
		t.Fatalf("re-lease = %v, want entry %d", ids(second), first.ID)
	}
	settle(t, s, "slow", done(first)) // too late: ignored
	if e := entry(t, s, first.ID); e.Status != store.StatusLeased || e.LeaseOwner != "fast" {
		t.Fatalf("entry after the old owner settled = %+v, want still leased by fast", e)
	}
	settle(t, s, "fast", done(second[0]))
	gone(t, s, first.ID)
}

// A newer version of the key already in flight (leased, e.g. handed to the
// sender by EnqueueLeased) also supersedes a failed older one; a failed
// newer one is not superseded by an older one in flight.
func testSettleRetrySupersededByLeased(t *testing.T, s store.Store) {
	ctx := context.Background()
	enqueue(t, s, "orders", t0, keys("orders", "a")...)
	old := lease(t, s, "orders", "w", 10, store.LeasePending, t0)[0]
	newer, _, err := s.EnqueueLeased(ctx, "orders", []store.NewEntry{{Key: "a", Payload: payload("a", 2)}}, nil, t0, "w", t0.Add(time.Minute))
	if err != nil || len(newer) != 1 || newer[0].ID <= old.ID {
		t.Fatalf("enqueue leased beside: %+v %v", newer, err)
	}
	settle(t, s, "w", retry(newer[0], t0.Add(time.Minute), "timeout"))
	if e := entry(t, s, newer[0].ID); e.Status != store.StatusError {
		t.Fatalf("newer failed entry = %s, want E (the older one in flight does not supersede it)", e.Status)
	}
	settle(t, s, "w", retry(old, t0.Add(time.Minute), "timeout"))
	gone(t, s, old.ID)
}
