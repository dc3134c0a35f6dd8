package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store/pgtest"
	"github.com/ferry-dev/ferry/internal/store/postgres"
)

// A process whose host clock is an hour off still works on the store's
// time: its heartbeat (and so its leases, locks and ticks) is stamped
// with PostgreSQL's clock.
func TestServiceTakesTheStoresClock(t *testing.T) {
	pgtest.Need(t)
	ctx := context.Background()
	st, err := postgres.Open(ctx, pgtest.DSN(), postgres.Options{Schema: pgtest.FreshSchema(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	h := newHarness(t, "", routeYAML("r", ""))
	skewed := func() time.Time { return time.Now().Add(-time.Hour) }
	svc, err := service.New(service.Options{Config: h.config(), Store: st, Now: skewed,
		Every: service.Periods{Schedule: -1, Lead: -1, Rescue: -1, Retain: -1, Sweep: -1, Freshness: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop(context.Background()) })
	procs, err := st.Processes(ctx)
	if err != nil || len(procs) != 1 {
		t.Fatalf("processes: %+v %v", procs, err)
	}
	if off := time.Since(procs[0].SeenAt); off < -time.Minute || off > time.Minute {
		t.Fatalf("heartbeat stamped %v off the database's clock (the host's is an hour off)", off)
	}
}
