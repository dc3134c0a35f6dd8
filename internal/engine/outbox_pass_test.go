package engine_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/connector/registry"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
)

// leaseCountingStore is the real store, counting the outbox leases asked of it.
type leaseCountingStore struct {
	store.Store
	outboxLeases atomic.Int64
}

func (s *leaseCountingStore) LeaseOutbox(ctx context.Context, route, owner string, limit int, now, until time.Time) ([]store.OutboxItem, error) {
	s.outboxLeases.Add(1)
	return s.Store.LeaseOutbox(ctx, route, owner, limit, now, until)
}

// A route without after: or on_error: owes no operations during a run:
// the outbox is looked at once, at the start (for what older configs
// owed), not again after every iteration.
func TestRouteWithoutOperationsLeasesTheOutboxOnce(t *testing.T) {
	shop, erp := newTestShop(t, 5), newTestERP(t)
	u := urls(shop, erp)
	h := newHarness(t, ordersRoute, u)
	yaml := ordersRoute
	for name, v := range u {
		yaml = strings.ReplaceAll(yaml, "{{"+name+"}}", v)
	}
	cfg, err := config.Parse([]byte(yaml), filepath.Join(h.dir, "ferry.yaml"), all.Set())
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	st := &leaseCountingStore{Store: h.store}
	eng, err := engine.New(cfg, st, reg, engine.Options{RetryWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Run(context.Background(), "orders", engine.RunOptions{Full: true})
	if err != nil || res.Done != 5 {
		t.Fatalf("run: %+v (%v)", res.Run, err)
	}
	if n := st.outboxLeases.Load(); n != 1 {
		t.Errorf("outbox leased %d times in a run of a route without operations, want once", n)
	}
}
