package engine_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/store"
)

// A destination slower than the lease: the run keeps its leases (no
// other worker could take the batch in flight), flushes its counters
// while it goes on, and tells listeners about every entry it settles.
func TestSlowBatchKeepsItsLeasesAndTheRunIsVisibleWhileItGoesOn(t *testing.T) {
	shop, erp := newTestShop(t, 30), newTestERP(t)
	hold, entered := make(chan struct{}), make(chan struct{})
	erp.status = func(n int) (int, string) {
		if n == 1 {
			close(entered)
			<-hold
		}
		return 0, ""
	}
	bus := events.NewBus()
	sub := bus.Subscribe(1024, nil)
	const leaseFor = 150 * time.Millisecond
	h := newHarness(t, ordersRoute, urls(shop, erp), func(o *engine.Options) {
		o.LeaseFor, o.FlushEvery, o.Events = leaseFor, 20*time.Millisecond, bus
	})
	done := make(chan engine.Result, 1)
	go func() { done <- h.run("orders", false) }()
	<-entered
	ctx := context.Background()
	time.Sleep(4 * leaseFor) // several lease terms pass while the batch is in flight
	if n, err := h.store.ReleaseLeases(ctx, "orders", time.Now(), nil); err != nil || n != 0 {
		t.Fatalf("expired leases released while the batch was in flight: %d, %v", n, err)
	}
	runs, err := h.store.ListRuns(ctx, store.RunFilter{Route: "orders"})
	if err != nil || len(runs) != 1 || runs[0].Status != store.RunRunning || runs[0].Collected != 30 {
		t.Fatalf("run row while it goes on: %+v %v; want running with 30 collected flushed", runs, err)
	}
	close(hold)
	res := <-done
	if res.Done != 30 {
		t.Fatalf("run: %+v", res.Run)
	}
	sub.Close()
	counts := map[events.Type]int{}
	var last events.Event
	for ev := range sub.C {
		counts[ev.Type]++
		last = ev
		if ev.Type == events.EntrySettled && (ev.Attempt.EntryID == 0 || ev.Destination != "default" || ev.Attempt.Outcome != store.OutcomeDone) {
			t.Fatalf("settled event: %+v %+v", ev, ev.Attempt)
		}
	}
	if counts[events.RunStarted] != 1 || counts[events.RunFinished] != 1 || counts[events.EntrySettled] != 30 || counts[events.RunProgress] == 0 {
		t.Fatalf("events: %v", counts)
	}
	if last.Type != events.RunFinished || last.Run.Status != store.RunSucceeded {
		t.Fatalf("last event %+v", last)
	}
}
