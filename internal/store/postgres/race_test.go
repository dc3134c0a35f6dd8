package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/pgtest"
)

// Races that SQLite's single writer never sees: two connections of
// PostgreSQL run side by side. A worker putting a leased entry back to P
// or E (a failed delivery, a released lease) while another process
// queues a new version of its key must not break the
// one-queued-entry-per-key rule with an error; the older version gives
// way. Every call must succeed, and the key ends with at most one queued
// entry and the newest payload kept.
func TestRaceBackToQueueAgainstEnqueue(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	tests := []struct {
		name string
		back func(ctx context.Context, s store.Store, leased []store.Entry) error
	}{
		{"settle retry", func(ctx context.Context, s store.Store, leased []store.Entry) error {
			var ss []store.Settlement
			for _, e := range leased {
				ss = append(ss, store.Settlement{EntryID: e.ID, Outcome: store.OutcomeRetry, Error: "boom", NextAttemptAt: now, CountAttempt: true,
					Attempt: store.Attempt{EntryID: e.ID, Route: e.Route, Key: e.Key, Version: e.Version, At: now, Outcome: store.OutcomeRetry}})
			}
			return s.Settle(ctx, "w", ss)
		}},
		{"release by owner", func(ctx context.Context, s store.Store, _ []store.Entry) error {
			_, err := s.ReleaseLeases(ctx, "orders", time.Time{}, []string{"w"})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { raceBackToQueue(t, now, tc.back) })
	}
}

func raceBackToQueue(t *testing.T, now time.Time, back func(ctx context.Context, s store.Store, leased []store.Entry) error) {
	pgtest.Need(t)
	s := openT(t, pgtest.FreshSchema(t))
	defer s.Close()
	ctx := context.Background()
	const rounds = 200
	var wg sync.WaitGroup
	errs := make(chan error, 2*rounds)
	last := make(chan int, 1)
	wg.Go(func() { // the collector of another process
		for i := range rounds {
			p := []byte(fmt.Sprintf(`{"n":%d}`, i))
			if _, err := s.EnqueuePage(ctx, "orders", []store.NewEntry{{Key: "k", Payload: p}}, nil, now); err != nil {
				errs <- fmt.Errorf("enqueue %d: %w", i, err)
			}
		}
		last <- rounds - 1
	})
	wg.Go(func() { // a worker putting what it leased back
		for i := range rounds {
			got, err := s.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: "w", Limit: 10, Now: now, Until: now.Add(time.Minute)})
			if err != nil {
				errs <- fmt.Errorf("lease %d: %w", i, err)
				continue
			}
			if err := back(ctx, s, got); err != nil {
				errs <- fmt.Errorf("round %d: %w", i, err)
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n := <-last
	es, err := s.Entries(ctx, store.EntryFilter{Route: "orders", Key: "k"})
	if err != nil {
		t.Fatal(err)
	}
	queued := 0
	for _, e := range es {
		if e.Status != store.StatusLeased {
			queued++
		}
	}
	if queued > 1 {
		t.Errorf("key k has %d queued entries, want at most 1: %+v", queued, es)
	}
	found := false
	for _, e := range es {
		if string(e.Payload) == fmt.Sprintf(`{"n":%d}`, n) {
			found = true
		}
	}
	if !found {
		t.Errorf("the newest payload {\"n\":%d} is not queued: %+v", n, es)
	}
}

// A collector handing a page straight to its sender (EnqueueLeased)
// replaces queued entries of its keys in place; a worker of another
// process may lease one of them first. The collector then queues its
// version beside the leased one instead of failing the page.
func TestRaceEnqueueLeasedAgainstLease(t *testing.T) {
	pgtest.Need(t)
	s := openT(t, pgtest.FreshSchema(t))
	defer s.Close()
	ctx := context.Background()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	const rounds, keys = 100, 20
	page := func(i int) []store.NewEntry {
		out := make([]store.NewEntry, keys)
		for k := range out {
			out[k] = store.NewEntry{Key: fmt.Sprintf("k%d", k), Payload: []byte(fmt.Sprintf(`{"round":%d}`, i))}
		}
		return out
	}
	var wg sync.WaitGroup
	errs := make(chan error, 3*rounds)
	wg.Go(func() { // another process's collector keeps the keys queued
		for i := range rounds {
			if _, err := s.EnqueuePage(ctx, "orders", page(2*i), nil, now); err != nil {
				errs <- fmt.Errorf("enqueue %d: %w", i, err)
			}
		}
	})
	wg.Go(func() { // its worker leases them and lets the leases lapse
		for i := range rounds {
			if _, err := s.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: "worker", Limit: keys / 2, Now: now, Until: now.Add(time.Minute)}); err != nil {
				errs <- fmt.Errorf("lease %d: %w", i, err)
			}
		}
	})
	wg.Go(func() { // this process's collector hands its pages to itself
		for i := range rounds {
			got, res, err := s.EnqueueLeased(ctx, "orders", page(2*i+1), nil, now, "collector", now.Add(time.Minute))
			if err != nil {
				errs <- fmt.Errorf("enqueue leased %d: %w", i, err)
				continue
			}
			if n := res.Inserted + res.Replaced + res.Unchanged; n != keys {
				errs <- fmt.Errorf("enqueue leased %d: %+v adds up to %d, want %d", i, res, n, keys)
			}
			for _, e := range got {
				if e.ID == 0 || e.LeaseOwner != "collector" {
					errs <- fmt.Errorf("enqueue leased %d: returned %+v", i, e)
				}
			}
			if _, err := s.ReleaseLeases(ctx, "orders", time.Time{}, []string{"collector"}); err != nil {
				errs <- fmt.Errorf("release %d: %w", i, err)
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Two processes (two stores, two pools) lease one route's entries at
// once: no entry is leased by both, and every entry is leased.
func TestTwoProcessesNeverShareEntries(t *testing.T) {
	pgtest.Need(t)
	schema := pgtest.FreshSchema(t)
	a, b := openT(t, schema), openT(t, schema)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	const total = 2000
	page := make([]store.NewEntry, total)
	for i := range page {
		page[i] = store.NewEntry{Key: fmt.Sprintf("k%d", i), Payload: []byte(`{}`), Priority: i % 3}
	}
	if _, err := a.EnqueuePage(ctx, "orders", page, nil, now); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = map[int64]string{}
		wg   sync.WaitGroup
		errs = make(chan error, 8)
	)
	for w, s := range []store.Store{a, b, a, b} {
		owner := fmt.Sprintf("p%d", w)
		wg.Go(func() {
			for {
				got, err := s.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: owner, Limit: 50, Now: now, Until: now.Add(time.Minute)})
				if err != nil {
					errs <- err
					return
				}
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
		t.Errorf("%d entries leased, want %d", len(seen), total)
	}
}
