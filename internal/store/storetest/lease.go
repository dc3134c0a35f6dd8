package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func testLeaseLimit(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0, keys("orders", "a", "b", "c", "d", "e")...)
	got := lease(t, s, "orders", "w", 3, store.LeasePending, t0)
	if want := []string{"a", "b", "c"}; !equal(entryKeys(got), want) {
		t.Fatalf("leased %v, want %v", entryKeys(got), want)
	}
	for _, e := range got {
		if e.Status != store.StatusLeased || e.LeaseOwner != "w" || !e.LeaseUntil.Equal(t0.Add(time.Minute)) {
			t.Errorf("leased entry = %+v; want L by w until %v", e, t0.Add(time.Minute))
		}
		wantJSON(t, e.Key, e.Payload, payload(e.Key, 1))
	}
	if got := lease(t, s, "orders", "w", 0, store.LeasePending, t0); len(got) != 0 {
		t.Errorf("limit 0 leased %d", len(got))
	}
	rest := lease(t, s, "orders", "w", 10, store.LeasePending, t0)
	if want := []string{"d", "e"}; !equal(entryKeys(rest), want) {
		t.Fatalf("then leased %v, want %v", entryKeys(rest), want)
	}
	if more := lease(t, s, "orders", "w", 10, store.LeasePending, t0); len(more) != 0 {
		t.Errorf("empty queue leased %v", entryKeys(more))
	}
}

func testLeasePriorityOrder(t *testing.T, s store.Store) {
	enqueue(t, s, "orders", t0,
		store.NewEntry{Key: "low", Payload: payload("low", 1), Priority: 1},
		store.NewEntry{Key: "high1", Payload: payload("high1", 1), Priority: 5},
		store.NewEntry{Key: "none", Payload: payload("none", 1)},
		store.NewEntry{Key: "high2", Payload: payload("high2", 1), Priority: 5},
	)
	first := lease(t, s, "orders", "w", 3, store.LeasePending, t0)
	if want := []string{"high1", "high2", "low"}; !equal(entryKeys(first), want) {
		t.Fatalf("leased %v, want %v (priority, then oldest)", entryKeys(first), want)
	}
	if rest := lease(t, s, "orders", "w", 3, store.LeasePending, t0); !equal(entryKeys(rest), []string{"none"}) {
		t.Fatalf("then leased %v, want [none]", entryKeys(rest))
	}
}

func testLeaseErrorPassOnlyDue(t *testing.T, s store.Store) {
	late := makeError(t, s, "orders", "late", t0.Add(time.Hour))
	soon := makeError(t, s, "orders", "soon", t0.Add(time.Minute))
	sooner := makeError(t, s, "orders", "sooner", t0.Add(30*time.Second))
	enqueue(t, s, "orders", t0, keys("orders", "pending")...)

	if got := lease(t, s, "orders", "w", 10, store.LeaseErrors, t0); len(got) != 0 {
		t.Fatalf("error pass before anything is due leased %v", entryKeys(got))
	}
	now := t0.Add(2 * time.Minute)
	got := lease(t, s, "orders", "w", 10, store.LeaseErrors, now)
	if want := []int64{soon.ID, sooner.ID}; !equal(ids(got), want) {
		t.Fatalf("error pass leased %v, want due errors %v (sorted by ID)", entryKeys(got), []string{"soon", "sooner"})
	}
	if e := entry(t, s, late.ID); e.Status != store.StatusError {
		t.Errorf("not-yet-due entry = %+v, want still E", e)
	}
	if p := lease(t, s, "orders", "w", 10, store.LeasePending, now); !equal(entryKeys(p), []string{"pending"}) {
		t.Errorf("main pass leased %v, want only [pending] (errors are not its business)", entryKeys(p))
	}

	// Limit picks the most overdue first.
	s2 := makeError(t, s, "stock", "x", t0.Add(20*time.Second))
	s1 := makeError(t, s, "stock", "y", t0.Add(10*time.Second))
	if got := lease(t, s, "stock", "w", 1, store.LeaseErrors, now); !equal(ids(got), []int64{s1.ID}) {
		t.Errorf("error pass limit 1 leased %v, want the most overdue %d (not %d)", ids(got), s1.ID, s2.ID)
	}
}

func testLeaseConcurrent(t *testing.T, s store.Store) {
	const total, workers, batch = 400, 8, 7
	page := make([]store.NewEntry, total)
	for i := range page {
		k := fmt.Sprintf("k%d", i)
		page[i] = store.NewEntry{Key: k, Payload: payload(k, i)}
	}
	enqueue(t, s, "orders", t0, page...)

	var (
		mu   sync.Mutex
		seen = map[int64]string{}
		wg   sync.WaitGroup
		errs = make(chan error, workers)
	)
	for w := range workers {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				got := lease(t, s, "orders", owner, batch, store.LeasePending, t0)
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, e := range got {
					if prev, ok := seen[e.ID]; ok {
						errs <- fmt.Errorf("entry %d leased by %s and %s", e.ID, prev, owner)
					}
					seen[e.ID] = owner
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if len(seen) != total {
		t.Errorf("leased %d distinct entries, want %d", len(seen), total)
	}
	if c := counts(t, s, "orders"); c.Leased != total || c.Pending != 0 {
		t.Errorf("counts = %+v, want all %d leased", c, total)
	}
}
