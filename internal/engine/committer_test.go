package engine_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

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
	eng := h.engineOn(slow, engine.Options{RetryWait: -1})
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

// failingSettle is the real store whose first settlement takes a while
// and then fails (the disk is full).
type failingSettle struct {
	store.Store
	mu    sync.Mutex
	calls int
}

func (f *failingSettle) Settle(ctx context.Context, owner string, ss []store.Settlement) error {
	f.mu.Lock()
	f.calls++
	first := f.calls == 1
	f.mu.Unlock()
	if first {
		time.Sleep(300 * time.Millisecond)
		return errors.New("disk full")
	}
	return f.Store.Settle(ctx, owner, ss)
}

// When a settlement fails, the sender stops: at most the batches already
// waiting for their commit were delivered beyond the failed one, none is
// settled after it, and everything unsettled is back in the queue.
func TestFailedSettlementStopsTheSender(t *testing.T) {
	shop, erp := newTestShop(t, 200), newHookServer(t, nil)
	h := newHarness(t, eachRoute, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL})
	failing := &failingSettle{Store: h.store}
	eng := h.engineOn(failing, engine.Options{RetryWait: -1})
	res, err := eng.Run(context.Background(), "orders", engine.RunOptions{})
	if err == nil || res.Status != store.RunFailed || !strings.Contains(res.Error, "disk full") {
		t.Fatalf("status %s, error %q, err %v; want failed with the store's error", res.Status, res.Error, err)
	}
	// The failed batch, the batch delivered while it was committing,
	// and the batches that were waiting for their commit (2): 10 each.
	if n := len(erp.all()); n > 40 {
		t.Errorf("%d deliveries after a failed settlement, want at most 40", n)
	}
	failing.mu.Lock()
	calls := failing.calls
	failing.mu.Unlock()
	if calls != 1 {
		t.Errorf("%d settlements, want only the failed one", calls)
	}
	if c := h.counts("orders"); c.Leased != 0 || c.Pending != 200 {
		t.Errorf("queue %+v, want all 200 pending again, none leased", c)
	}
}
