package engine_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector/registry"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
)

// slowSettle is the real store whose first settlement takes a while (a
// store busy with a checkpoint or another writer), remembering how many
// entries each settlement carried.
type slowSettle struct {
	store.Store
	mu    sync.Mutex
	sizes []int
}

func (s *slowSettle) Settle(ctx context.Context, owner string, ss []store.Settlement) error {
	s.mu.Lock()
	first := len(s.sizes) == 0
	s.sizes = append(s.sizes, len(ss))
	s.mu.Unlock()
	if first {
		time.Sleep(300 * time.Millisecond)
	}
	return s.Store.Settle(ctx, owner, ss)
}

// Batches delivered while the store is still settling an earlier one are
// settled together in its next transaction: the sender does not stand
// still behind a slow store, and nothing is lost or settled twice.
func TestSettlementsWaitingForTheStoreAreMerged(t *testing.T) {
	shop, erp := newTestShop(t, 200), newHookServer(t, nil)
	h := newHarness(t, eachRoute, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL})
	slow := &slowSettle{Store: h.store}
	reg, err := registry.New(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(h.cfg, slow, reg, engine.Options{RetryWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Run(context.Background(), "orders", engine.RunOptions{})
	if err != nil || res.Status != store.RunSucceeded || res.Done != 200 {
		t.Fatalf("status %s, done %d, err %v; want succeeded with 200 done", res.Status, res.Done, err)
	}
	if n := len(erp.all()); n != 200 {
		t.Errorf("%d deliveries, want 200 (each record once)", n)
	}
	if c := h.counts("orders"); c.Leased != 0 || c.Pending != 0 || c.Error != 0 {
		t.Errorf("queue left %+v, want empty", c)
	}
	slow.mu.Lock()
	defer slow.mu.Unlock()
	total, merged := 0, false
	for _, n := range slow.sizes {
		total += n
		merged = merged || n > 10 // the route's batch
	}
	if total != 200 || !merged {
		t.Errorf("settlement sizes %v: want 200 in all, and the batches delivered during the slow one settled together", slow.sizes)
	}
}
