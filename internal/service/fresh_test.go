package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/events"
)

func TestStaleRouteIsFlaggedOncePerIncidentAndOnRecovery(t *testing.T) {
	h := newHarness(t, "", routeYAML("stock", `    fresh_within: 1h
    on_stale:
      - http: { system: sys, method: POST, path: /dst/alerts, body: { text: "${route} is ${state}" } }`))
	h.sys.serveRecords("stock", 1)
	sub := h.svc.Events().Subscribe(16, func(ev events.Event) bool {
		return ev.Type == events.RouteStale || ev.Type == events.RouteFresh
	})
	defer sub.Close()
	h.start()
	ctx := context.Background()
	pass := func() {
		t.Helper()
		if err := h.svc.FreshnessPass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	if st, _ := h.svc.Route(ctx, "stock"); st.Stale {
		t.Fatalf("stale right after the start: %+v", st)
	}
	h.clock.Set(h.clock.Now().Add(2 * time.Hour)) // no successful run for 2h
	pass()
	pass() // the same incident: no second alert
	if ev := <-sub.C; ev.Type != events.RouteStale || ev.Route != "stock" {
		t.Fatalf("event %+v", ev)
	}
	if st, _ := h.svc.Route(ctx, "stock"); !st.Stale {
		t.Fatalf("route state not stale: %+v", st)
	}
	if n := len(h.sys.arrived("alerts")); n != 1 {
		t.Fatalf("%d alerts for one incident", n)
	}

	fin := h.finished()
	trigger(t, h.svc, "stock")
	waitRuns(t, fin, 1)
	pass()
	if ev := <-sub.C; ev.Type != events.RouteFresh {
		t.Fatalf("event after recovery %+v", ev)
	}
	if n := len(h.sys.arrived("alerts")); n != 2 {
		t.Fatalf("%d alerts after recovery, want 2", n)
	}
}
