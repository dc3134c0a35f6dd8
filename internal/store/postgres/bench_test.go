package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/pgtest"
	"github.com/ferry-dev/ferry/internal/store/storetest"
)

// go test -run '^$' -bench . ./internal/store/postgres
func BenchmarkStore(b *testing.B) {
	pgtest.Need(b)
	storetest.Bench(b, func(b *testing.B) store.Store {
		return openT(b, pgtest.FreshSchema(b))
	})
}

// BenchmarkWorkers is the store cycle (lease a batch, settle it done)
// with 1, 2 and 4 workers, each with its own store (its own pool, as a
// process of its own would have), sharing one queue of 20,000 records
// per round; the queue is filled with the timer stopped.
//
// go test -run '^$' -bench Workers ./internal/store/postgres
func BenchmarkWorkers(b *testing.B) {
	pgtest.Need(b)
	const records, batch = 20000, 500
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("%d", workers), func(b *testing.B) {
			schema := pgtest.FreshSchema(b)
			filler := openT(b, schema)
			defer filler.Close()
			stores := make([]store.Store, workers)
			for i := range stores {
				stores[i] = openT(b, schema)
				defer stores[i].Close()
			}
			ctx := context.Background()
			n, round := 0, 0
			for b.Loop() {
				b.StopTimer()
				for start := 0; start < records; start += 1000 {
					page := make([]store.NewEntry, 1000)
					for i := range page {
						k := round*records + start + i
						page[i] = store.NewEntry{Key: fmt.Sprintf("order-%09d", k), Payload: []byte(fmt.Sprintf(`{"id":%d,"pad":"%0280d"}`, k, k))}
					}
					if _, err := filler.EnqueuePage(ctx, "orders", page, nil, t0); err != nil {
						b.Fatal(err)
					}
				}
				round++
				b.StartTimer()
				var (
					wg   sync.WaitGroup
					done atomic.Int64
				)
				for w, s := range stores {
					owner := fmt.Sprintf("w%d", w)
					wg.Go(func() {
						for {
							got, err := s.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: owner, Limit: batch, Now: t0, Until: t0.Add(time.Minute)})
							if err != nil {
								b.Error(err)
								return
							}
							if len(got) == 0 {
								return
							}
							ss := make([]store.Settlement, len(got))
							for i, e := range got {
								ss[i] = store.Settlement{EntryID: e.ID, Outcome: store.OutcomeDone, CountAttempt: true, Attempt: store.Attempt{
									EntryID: e.ID, Route: e.Route, Key: e.Key, Version: e.Version, RunID: 1, At: t0, Outcome: store.OutcomeDone, StatusCode: 200}}
							}
							if err := s.Settle(ctx, owner, ss); err != nil {
								b.Error(err)
								return
							}
							done.Add(int64(len(got)))
						}
					})
				}
				wg.Wait()
				n += int(done.Load())
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
