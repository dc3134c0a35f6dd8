package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// Bench measures the writes a record costs. Each reports records/s.
// HandOff is the engine's hot path (EnqueueLeased, then Settle done);
// Cycle is the path of entries a sender must Lease (leftovers, other
// workers).
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	b.Run("Enqueue", func(b *testing.B) { benchEnqueue(b, open(b)) })
	b.Run("EnqueueLeased", func(b *testing.B) { benchEnqueueLeased(b, open(b), false) })
	b.Run("EnqueueLeasedHash", func(b *testing.B) { benchEnqueueLeased(b, open(b), true) })
	b.Run("Lease", func(b *testing.B) { benchLease(b, open(b)) })
	b.Run("Settle", func(b *testing.B) { benchSettle(b, open(b)) })
	b.Run("Cycle", func(b *testing.B) { benchCycle(b, open(b)) })
	b.Run("HandOff", func(b *testing.B) { benchHandOff(b, open(b)) })
	b.Run("HandOffHash", func(b *testing.B) { benchHandOffHash(b, open(b)) })
	b.Run("HandOffScattered", func(b *testing.B) { benchHandOffScattered(b, open(b)) })
	b.Run("Unchanged", func(b *testing.B) { benchUnchanged(b, open(b)) })
	for _, group := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("Accept/%d", group), func(b *testing.B) { benchAccept(b, open(b), group, false) })
	}
	b.Run("Accept/128/sync", func(b *testing.B) { benchAccept(b, open(b), 128, true) })
}

const (
	benchPage  = 1000
	benchBatch = 500
)

// benchPayload is a ~300-byte record, the size the engine targets.
func benchPayload(i int) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"id":"order-%09d","email":"customer%06d@example.com","status":"paid",`+
		`"currency":"EUR","total":%d.95,"items":[{"sku":"SKU-%06d","qty":2,"price":19.95},{"sku":"SKU-%06d","qty":1,"price":42.00}],`+
		`"shipping":{"name":"Jane Doe","street":"Main Street 1","city":"Berlin","zip":"10115","country":"DE"},"updated_at":"2025-03-04T05:06:07Z"}`,
		i, i%1000000, i%997, i%100000, (i+7)%100000))
}

func benchEntries(start, n int) []store.NewEntry {
	page := make([]store.NewEntry, n)
	for i := range page {
		k := start + i
		page[i] = store.NewEntry{Key: fmt.Sprintf("order-%09d", k), Payload: benchPayload(k), Priority: 0}
	}
	return page
}

func report(b *testing.B, records int) {
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}

func closeAfter(b *testing.B, s store.Store) {
	b.Cleanup(func() { _ = s.Close() })
}

func benchEnqueue(b *testing.B, s store.Store) {
	closeAfter(b, s)
	ctx := context.Background()
	n := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		page := benchEntries(n, benchPage)
		b.StartTimer()
		if _, err := s.EnqueuePage(ctx, "orders", page, nil, t0); err != nil {
			b.Fatal(err)
		}
		n += benchPage
	}
	report(b, n)
}

// fill queues n fresh entries, off the clock.
func fill(b *testing.B, s store.Store, start, n int) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	for i := 0; i < n; i += benchPage {
		if _, err := s.EnqueuePage(context.Background(), "orders", benchEntries(start+i, benchPage), nil, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func benchLease(b *testing.B, s store.Store) {
	closeAfter(b, s)
	ctx := context.Background()
	n, queued := 0, 0
	for b.Loop() {
		if queued == n {
			fill(b, s, queued, 50*benchBatch)
			queued += 50 * benchBatch
		}
		got, err := s.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: "bench", Limit: benchBatch, Now: t0, Until: t0.Add(time.Minute)})
		if err != nil || len(got) != benchBatch {
			b.Fatalf("lease: %d entries, %v", len(got), err)
		}
		n += len(got)
	}
	report(b, n)
}

func benchSettle(b *testing.B, s store.Store) {
	closeAfter(b, s)
	ctx := context.Background()
	n, queued, leasedTotal := 0, 0, 0
	for b.Loop() {
		if queued == leasedTotal {
			fill(b, s, queued, 50*benchBatch)
			queued += 50 * benchBatch
		}
		b.StopTimer()
		got, err := s.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: "bench", Limit: benchBatch, Now: t0, Until: t0.Add(time.Minute)})
		if err != nil {
			b.Fatal(err)
		}
		leasedTotal += len(got)
		ss := settlements(got)
		b.StartTimer()
		if err := s.Settle(ctx, "bench", ss); err != nil {
			b.Fatal(err)
		}
		n += len(got)
	}
	report(b, n)
}

// benchResponse is a realistic ~60-byte response excerpt of a done
// attempt, one per record; the engine leaves Request empty for those.
func benchResponse(id int64) string {
	return `{"status":"accepted","id":"erp-` + strconv.FormatInt(1e10+id, 10) + `","warnings":[]}`
}

func settlements(entries []store.Entry) []store.Settlement {
	ss := make([]store.Settlement, len(entries))
	for i, e := range entries {
		ss[i] = store.Settlement{EntryID: e.ID, Outcome: store.OutcomeDone, CountAttempt: true, Attempt: store.Attempt{
			EntryID: e.ID, Route: e.Route, Key: e.Key, Version: e.Version, RunID: 1, At: t0, Outcome: store.OutcomeDone,
			StatusCode: 200, Response: benchResponse(e.ID), DurationMillis: 3, IdempotencyKey: "0123456789abcdef0123456789abcdef",
		}}
	}
	return ss
}

// benchCycle is one record's whole life through the store: enqueue in
// pages of 1000, lease in batches of 500, settle done with attempts.
func benchCycle(b *testing.B, s store.Store) {
	closeAfter(b, s)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		b.StopTimer()
		page := benchEntries(n, benchPage)
		b.StartTimer()
		if _, err := s.EnqueuePage(ctx, "orders", page, nil, t0); err != nil {
			b.Fatal(err)
		}
		for range benchPage / benchBatch {
			got, err := s.Lease(ctx, store.LeaseRequest{Route: "orders", Owner: "bench", Limit: benchBatch, Now: t0, Until: t0.Add(time.Minute)})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Settle(ctx, "bench", settlements(got)); err != nil {
				b.Fatal(err)
			}
		}
		n += benchPage
	}
	report(b, n)
}

// benchEnqueueLeased queues new records leased; withHash gives them
// content hashes, so each page also looks up its keys' leased and
// delivered content (finding none).
func benchEnqueueLeased(b *testing.B, s store.Store, withHash bool) {
	closeAfter(b, s)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		b.StopTimer()
		page := benchEntries(n, benchPage)
		if withHash {
			hashed(page)
		}
		b.StartTimer()
		got, _, err := s.EnqueueLeased(ctx, "orders", page, nil, t0, "bench", t0.Add(time.Minute))
		if err != nil || len(got) != benchPage {
			b.Fatalf("enqueue leased: %d entries, %v", len(got), err)
		}
		n += benchPage
	}
	report(b, n)
}

// benchHandOff is one record's life on the engine's hot path: enqueued
// leased in pages of 1000, settled done with its attempt in batches of 500.
func benchHandOff(b *testing.B, s store.Store) {
	closeAfter(b, s)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		b.StopTimer()
		page := benchEntries(n, benchPage)
		b.StartTimer()
		got, _, err := s.EnqueueLeased(ctx, "orders", page, nil, t0, "bench", t0.Add(time.Minute))
		if err != nil || len(got) != benchPage {
			b.Fatalf("enqueue leased: %d entries, %v", len(got), err)
		}
		for batch := range slices.Chunk(got, benchBatch) {
			if err := s.Settle(ctx, "bench", settlements(batch)); err != nil {
				b.Fatal(err)
			}
		}
		n += benchPage
	}
	report(b, n)
}

// hashed gives each record of page a content hash, as the engine does
// unless resend_unchanged is set.
func hashed(page []store.NewEntry) []store.NewEntry {
	for i := range page {
		page[i].Hash = fmt.Sprintf("%x", len(page[i].Payload)) + page[i].Key
	}
	return page
}

// benchHandOffHash is benchHandOff with content hashes: new records, so
// every lookup of the keys' delivered content finds nothing.
func benchHandOffHash(b *testing.B, s store.Store) {
	closeAfter(b, s)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		b.StopTimer()
		page := hashed(benchEntries(n, benchPage))
		b.StartTimer()
		got, _, err := s.EnqueueLeased(ctx, "orders", page, nil, t0, "bench", t0.Add(time.Minute))
		if err != nil || len(got) != benchPage {
			b.Fatalf("enqueue leased: %d entries, %v", len(got), err)
		}
		for batch := range slices.Chunk(got, benchBatch) {
			ss := settlements(batch)
			for i := range ss {
				ss[i].Hash = batch[i].Hash
			}
			if err := s.Settle(ctx, "bench", ss); err != nil {
				b.Fatal(err)
			}
		}
		n += benchPage
	}
	report(b, n)
}

// benchUnchanged reads delivered records again, unchanged: a source
// polled without a cursor. Nothing is queued; each record costs a lookup
// and an unchanged attempt.
func benchUnchanged(b *testing.B, s store.Store) {
	closeAfter(b, s)
	ctx := context.Background()
	const keys = 50 * benchPage
	b.StopTimer()
	for i := 0; i < keys; i += benchPage {
		got, _, err := s.EnqueueLeased(ctx, "orders", hashed(benchEntries(i, benchPage)), nil, t0, "bench", t0.Add(time.Minute))
		if err != nil {
			b.Fatal(err)
		}
		ss := settlements(got)
		for i := range ss {
			ss[i].Hash = got[i].Hash
		}
		if err := s.Settle(ctx, "bench", ss); err != nil {
			b.Fatal(err)
		}
	}
	b.StartTimer()
	n := 0
	for b.Loop() {
		b.StopTimer()
		page := hashed(benchEntries(n%keys, benchPage))
		b.StartTimer()
		got, res, err := s.EnqueueLeased(ctx, "orders", page, nil, t0, "bench", t0.Add(time.Minute))
		if err != nil || len(got) != 0 || res.Unchanged != benchPage {
			b.Fatalf("enqueue unchanged: %d entries, %+v, %v", len(got), res, err)
		}
		n += benchPage
	}
	report(b, n)
}

// benchHandOffScattered is benchHandOffHash with keys that arrive in no
// order (as IDs of most sources do): the delivered content, kept by key,
// is written all over its B-tree instead of at its end.
func benchHandOffScattered(b *testing.B, s store.Store) {
	closeAfter(b, s)
	ctx := context.Background()
	n := 0
	for b.Loop() {
		b.StopTimer()
		page := hashed(benchEntries(n, benchPage))
		for i := range page {
			page[i].Key = fmt.Sprintf("order-%09d", (uint64(n+i)*2654435761)%1000000007)
		}
		b.StartTimer()
		got, _, err := s.EnqueueLeased(ctx, "orders", page, nil, t0, "bench", t0.Add(time.Minute))
		if err != nil || len(got) != benchPage {
			b.Fatalf("enqueue leased: %d entries, %v", len(got), err)
		}
		for batch := range slices.Chunk(got, benchBatch) {
			ss := settlements(batch)
			for i := range ss {
				ss[i].Hash = batch[i].Hash
			}
			if err := s.Settle(ctx, "bench", ss); err != nil {
				b.Fatal(err)
			}
		}
		n += benchPage
	}
	report(b, n)
}

// benchAccept is the webhook path: single-record pushes (hashed, as the
// engine queues them) to one route, group of them per Accept call (one
// group commit). It reports pushes/s; sync asks for commits durable
// against power loss (WithSync).
func benchAccept(b *testing.B, s store.Store, group int, sync bool) {
	closeAfter(b, s)
	ctx := context.Background()
	if sync {
		ctx = store.WithSync(ctx)
	}
	n := 0
	pushes := make([]store.Push, group)
	for b.Loop() {
		b.StopTimer()
		for i := range pushes {
			pushes[i] = store.Push{Route: "orders", Entries: hashed(benchEntries(n+i, 1))}
		}
		b.StartTimer()
		got, err := s.Accept(ctx, pushes, t0)
		if err != nil || len(got) != group {
			b.Fatalf("accept: %d results, %v", len(got), err)
		}
		n += group
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "pushes/s")
}
