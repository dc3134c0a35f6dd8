package service_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// leaseCounter counts the entries the main pass leases from the store.
type leaseCounter struct {
	store.Store
	mu     sync.Mutex
	leased int
}

func (c *leaseCounter) Lease(ctx context.Context, req store.LeaseRequest) ([]store.Entry, error) {
	got, err := c.Store.Lease(ctx, req)
	if req.Mode == store.LeasePending {
		c.mu.Lock()
		c.leased += len(got)
		c.mu.Unlock()
	}
	return got, err
}

func (c *leaseCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leased
}

// Records pushed while the route's run goes on are committed leased to
// that run and handed to it in memory: the run sends them without
// leasing them from the store. The first push, which starts the run, is
// leased as before. Every record arrives once.
func TestPushesDuringARunAreHandedToItWithoutALease(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "hook-token-for-tests")
	h := newHarness(t, "", webhookRoute("", "    batch: 20\n"))
	counter := &leaseCounter{Store: h.store}
	h.svc = h.build(counter, "")
	h.start()
	ctx := context.Background()
	release, entered := h.sys.hold("hook")

	if _, err := h.svc.Accept(ctx, "hook", []map[string]any{{"id": 1}}, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered: // the run is under way, its first delivery held
	case <-time.After(10 * time.Second):
		t.Fatal("the first push was never delivered")
	}
	const more = 10
	for i := 2; i <= more+1; i++ {
		if _, err := h.svc.Accept(ctx, "hook", []map[string]any{{"id": i}}, false); err != nil {
			t.Fatal(err)
		}
	}
	release()
	eventually(t, "every pushed record delivered", func() bool { return len(h.sys.arrived("hook")) >= more+1 })
	h.idle("hook")
	if got := len(h.sys.arrived("hook")); got != more+1 {
		t.Errorf("the destination got %d deliveries; want %d, each record once", got, more+1)
	}
	if n := counter.count(); n != 1 {
		t.Errorf("the main pass leased %d entries from the store; want 1 (the push that started the run), the rest handed in memory", n)
	}
	c, err := h.store.Counts(ctx, "hook")
	if err != nil || c.Pending+c.Leased+c.Error != 0 {
		t.Errorf("counts = %+v, %v; want nothing left", c, err)
	}
}
