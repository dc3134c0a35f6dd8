package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store/pgtest"
	"github.com/ferry-dev/ferry/internal/store/postgres"
)

// Two processes on one PostgreSQL store: a run executed by one is seen
// live by the other (LISTEN/NOTIFY), marked with its origin.
func TestRunEventsReachTheOtherProcesses(t *testing.T) {
	pgtest.Need(t)
	ctx := context.Background()
	schema := pgtest.FreshSchema(t)
	h := newHarness(t, "", routeYAML("orders", ""))
	h.sys.serveRecords("orders", 3)
	start := func() *service.Service {
		t.Helper()
		st, err := postgres.Open(ctx, pgtest.DSN(), postgres.Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		svc, err := service.New(service.Options{Config: h.config(), Store: st})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = svc.Stop(context.Background()) })
		return svc
	}
	a, b := start(), start()
	// Wait until b listens: a's probes reach it.
	probe := b.Events().Subscribe(64, func(ev events.Event) bool { return ev.Route == "probe" && ev.Origin != "" })
	defer probe.Close()
	deadline := time.Now().Add(20 * time.Second)
	for listening := false; !listening; {
		if time.Now().After(deadline) {
			t.Fatal("b never heard a's probes")
		}
		a.Events().Publish(events.Event{Type: events.RouteFresh, Route: "probe"})
		select {
		case <-probe.C:
			listening = true
		case <-time.After(50 * time.Millisecond):
		}
	}
	seen := b.Events().Subscribe(64, func(ev events.Event) bool { return ev.Type == events.RunFinished })
	defer seen.Close()
	if _, err := a.Trigger(ctx, service.StartRequest{Routes: []string{"orders"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-seen.C:
		if ev.Origin != a.Owner() || ev.Route != "orders" || ev.Run == nil || ev.Run.Done != 3 {
			t.Fatalf("event in the other process: %+v %+v", ev, ev.Run)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the other process never heard of the run")
	}
}
