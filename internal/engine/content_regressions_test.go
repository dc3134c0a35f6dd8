package engine_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// contentRoute polls the shop without a cursor (every run is full) and
// retries failures much later, so an entry in error waits across runs.
const contentRoute = shopAndERP + `
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id, paginate: { page: { size: 50 } } }
    batch: 10
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/orders/${key}" }
    retry: { attempts: 3, backoff: 1h, max_backoff: 1h }
`

// setTotal sets the total of order id (the record's content) without
// touching its cursor field.
func (s *testShop) setTotal(id int, total float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.orders {
		if s.orders[i].ID == id {
			s.orders[i].Total = total
		}
	}
}

// ABA: A delivered, B failed with an unknown outcome (B may have been
// applied), the record back to A: A is sent again, it is not "unchanged".
func TestRecordBackToDeliveredContentAfterUnknownOutcomeIsSent(t *testing.T) {
	shop := newTestShop(t, 1)
	var failing atomic.Bool
	erp := newHookServer(t, func(call string, n int) int {
		if failing.Load() {
			return 503
		}
		return 0
	})
	h := newHarness(t, contentRoute, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL})
	if res := h.run("orders", true); res.Done != 1 {
		t.Fatalf("run 1 (A): %+v, want 1 done", res.Run)
	}
	shop.setTotal(1, 99)
	failing.Store(true)
	if res := h.run("orders", true); res.Done != 0 || h.counts("orders").Error != 1 {
		t.Fatalf("run 2 (B, 503): %+v, counts %+v; want B in error", res.Run, h.counts("orders"))
	}
	failing.Store(false)
	shop.setTotal(1, 1)
	res := h.run("orders", true)
	calls := erp.of("PUT /orders/1")
	if res.Done != 1 || res.Unchanged != 0 || len(calls) != 3 {
		t.Fatalf("run 3 (A again): %+v, %d PUTs; want A sent (done 1, 3 PUTs in all)", res.Run, len(calls))
	}
	if calls[2].Body != calls[0].Body || calls[1].Body == calls[0].Body {
		t.Errorf("bodies = %q, %q, %q; want A, B, A", calls[0].Body, calls[1].Body, calls[2].Body)
	}
	if c := h.counts("orders"); c.Error+c.Pending+c.Leased+c.Dead != 0 {
		t.Errorf("counts after run 3 = %+v, want nothing left", c)
	}
}

// A record whose last version died is not sent again while it is
// unchanged (no new dead letter and Idempotency-Key every run); a changed
// one is. After a discard, the discarded content counts as delivered.
func TestDeadRecordReadAgainUnchangedIsNotSent(t *testing.T) {
	shop := newTestShop(t, 2)
	erp := newHookServer(t, func(call string, n int) int {
		if call == "PUT /orders/2" {
			return 422
		}
		return 0
	})
	h := newHarness(t, contentRoute, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL})
	if res := h.run("orders", true); res.Done != 1 || res.Dead != 1 {
		t.Fatalf("run 1: %+v; want 1 done, 1 dead", res.Run)
	}
	for run := 2; run <= 3; run++ {
		res := h.run("orders", true)
		if res.Sent != 0 || res.Unchanged != 2 || res.Dead != 0 || res.Status != store.RunSucceeded {
			t.Fatalf("run %d: %+v; want nothing sent, 2 unchanged, succeeded", run, res.Run)
		}
	}
	if n := len(erp.of("PUT /orders/2")); n != 1 {
		t.Errorf("PUT /orders/2 sent %d times, want once", n)
	}
	if c := h.counts("orders"); c.Dead != 1 {
		t.Errorf("counts = %+v, want the one dead letter still waiting", c)
	}

	ctx := context.Background()
	if n, err := h.store.Discard(ctx, store.DiscardSelector{Route: "orders", Key: "2", Dead: true, Who: "ann", Now: time.Now()}); err != nil || n != 1 {
		t.Fatalf("discard: %d, %v", n, err)
	}
	if res := h.run("orders", true); res.Sent != 0 || res.Unchanged != 2 {
		t.Fatalf("run after discard: %+v; want the discarded content unchanged", res.Run)
	}
	shop.setTotal(2, 42)
	if res := h.run("orders", true); res.Sent != 1 || res.Dead != 1 {
		t.Fatalf("run after a change: %+v; want the changed record sent (and dead again)", res.Run)
	}
}
