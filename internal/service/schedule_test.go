package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

func tickOf(t *testing.T, st store.Store, route string) store.Tick {
	t.Helper()
	ticks, err := st.Ticks(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range ticks {
		if tk.Route == route {
			return tk
		}
	}
	t.Fatalf("no tick stored for %q in %+v", route, ticks)
	return store.Tick{}
}

func TestCronRouteRunsOnItsScheduleAndAnOverlongRunIsNotDoubled(t *testing.T) {
	h := newHarness(t, "", routeYAML("hourly", `    schedule: "0 * * * *"
    timezone: Europe/Berlin`))
	h.sys.serveRecords("hourly", 3)
	ctx := context.Background()
	fin := h.finished()
	h.start() // 09:58 UTC: the first pass stores the next tick, runs nothing

	if err := h.svc.SchedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	if tk := tickOf(t, h.store, "hourly"); !tk.Next.Equal(time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("next tick %v, want 10:00 UTC", tk.Next)
	}
	if runs, _ := h.store.ListRuns(ctx, store.RunFilter{}); len(runs) != 0 {
		t.Fatalf("runs before the first tick: %+v", runs)
	}

	// 10:00:30: the tick fires; the destination holds the run.
	release, entered := h.sys.hold("hourly")
	h.clock.Set(time.Date(2026, 11, 30, 10, 0, 30, 0, time.UTC))
	if err := h.svc.SchedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	<-entered

	// 11:00:30: the run is still going; the tick is skipped and counted.
	h.clock.Set(time.Date(2026, 11, 30, 11, 0, 30, 0, time.UTC))
	if err := h.svc.SchedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	tk := tickOf(t, h.store, "hourly")
	if tk.Skipped != 1 || !tk.Next.Equal(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)) {
		t.Fatalf("after an overlong run: %+v; want 1 skipped, next 12:00", tk)
	}
	release()
	runs := waitRuns(t, fin, 1)
	if runs[0].Trigger != "schedule" || runs[0].Status != store.RunSucceeded || runs[0].Done != 3 {
		t.Fatalf("scheduled run: %+v", runs[0])
	}
	h.idle("hourly")

	// Downtime: five ticks missed; they run once, then the schedule goes on.
	h.clock.Set(time.Date(2026, 11, 30, 17, 30, 0, 0, time.UTC))
	if err := h.svc.SchedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	waitRuns(t, fin, 1)
	if err := h.svc.SchedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := h.store.ListRuns(ctx, store.RunFilter{Route: "hourly"})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("runs after the missed ticks: %d, want 2 (one for the first tick, one for all missed)", len(all))
	}
	if tk := tickOf(t, h.store, "hourly"); !tk.Next.Equal(time.Date(2026, 11, 30, 18, 0, 0, 0, time.UTC)) {
		t.Fatalf("next tick after downtime %v, want 18:00", tk.Next)
	}
}

func TestTwoSchedulersNeverFireOneTickTwice(t *testing.T) {
	h := newHarness(t, "", routeYAML("every", "    every: 1m"))
	h.sys.serveRecords("every", 1)
	fin := h.finished()
	h.start()
	ctx := context.Background()
	if err := h.svc.SchedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	// A second process on the same store takes the leadership after the
	// first one's term ran out, while the first still believes it leads
	// (its renewal is late): both schedule, the store's claim decides.
	h.clock.Set(h.clock.Now().Add(2 * time.Minute))
	other := h.build(h.store, "")
	if err := other.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Stop(context.Background()) })

	done := make(chan error, 2)
	for _, s := range []interface {
		SchedulePass(context.Context) error
	}{h.svc, other} {
		go func() { done <- s.SchedulePass(ctx) }()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the tick's run ends", func() bool {
		runs, err := h.store.ListRuns(ctx, store.RunFilter{Route: "every"})
		return err == nil && len(runs) > 0 && runs[0].Status != store.RunRunning
	})
	_ = fin
	runs, err := h.store.ListRuns(ctx, store.RunFilter{Route: "every"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("one tick gave %d runs", len(runs))
	}
}
