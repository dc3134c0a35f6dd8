package service_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

func TestStopCancelsRunsPastTheDeadlineAndLeavesNothingLeased(t *testing.T) {
	h := newHarness(t, "", routeYAML("slow", ""))
	h.sys.serveRecords("slow", 30)
	release, entered := h.sys.hold("slow")
	defer release()
	if err := h.svc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	trigger(t, h.svc, "slow")
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := h.svc.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stop: %v, want the deadline's error", err)
	}
	bg := context.Background()
	counts, err := h.store.Counts(bg, "slow")
	if err != nil {
		t.Fatal(err)
	}
	if counts.Leased != 0 || counts.Pending+counts.Error != 30 {
		t.Fatalf("after stop: %+v; want 30 queued, none leased", counts)
	}
	runs, err := h.store.ListRuns(bg, store.RunFilter{Route: "slow"})
	if err != nil || len(runs) != 1 || runs[0].Status != store.RunCancelled {
		t.Fatalf("run after stop: %+v %v", runs, err)
	}
	if _, err := h.svc.Trigger(bg, service.StartRequest{Routes: []string{"slow"}}); !errors.Is(err, service.ErrStopping) {
		t.Fatalf("trigger after stop: %v", err)
	}
	if procs, err := h.store.Processes(bg); err != nil || len(procs) != 0 {
		t.Fatalf("processes after a clean stop: %+v %v", procs, err)
	}
}

func TestReloadAppliesAValidConfigAndKeepsTheOldOneOnErrors(t *testing.T) {
	h := newHarness(t, "", routeYAML("a", ""))
	h.start()
	ctx := context.Background()
	good := h.yaml + routeYAML("b", "")
	h.yaml = good + "\n  broken: { source: 12 }\n"
	err := h.svc.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("reload of a broken config: %v", err)
	}
	if _, err := h.svc.Route(ctx, "b"); !errors.Is(err, service.ErrUnknownRoute) {
		t.Fatalf("route b after a refused reload: %v", err)
	}
	h.yaml = good
	if err := h.svc.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	h.sys.serveRecords("b", 2)
	fin := h.finished()
	trigger(t, h.svc, "b")
	if r := waitRuns(t, fin, 1)[0]; r.Route != "b" || r.Done != 2 {
		t.Fatalf("run of the reloaded route: %+v", r)
	}
}
