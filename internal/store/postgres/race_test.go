package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
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
	needPostgres(t)
	s := openT(t, freshSchema(t))
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
