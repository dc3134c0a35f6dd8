package engine_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
)

// Records sharing one cursor value across the collect_limit boundary.
func TestTiesAtCollectLimitAreKept(t *testing.T) {
	shop, erp := newTestShop(t, 150), newTestERP(t)
	shop.mu.Lock()
	for i := range shop.orders {
		shop.orders[i].UpdatedAt = stamp(1) // one bulk import, one timestamp
	}
	shop.mu.Unlock()
	yaml := strings.Replace(ordersRoute, "    batch: 100", "    batch: 100\n    collect_limit: 100", 1)
	h := newHarness(t, yaml, urls(shop, erp))
	res := h.run("orders", false)
	res2 := h.run("orders", false)
	if got := erp.receivedCount(); got != 150 {
		t.Fatalf("ERP got %d of 150 orders (run1 collected %d, run2 collected %d): the cursor passed records that were never queued", got, res.Collected, res2.Collected)
	}
}

// Ctrl-C while an after: operation is in flight, for a record the
// destination already accepted.
func TestCancelDuringAfterOperation(t *testing.T) {
	shop := newTestShop(t, 1)
	erp, desk := newRecorder(t), newRecorder(t)
	arrived := make(chan struct{}, 1)
	var hookMu sync.Mutex
	hookCalls := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hookMu.Lock()
		hookCalls++
		first := hookCalls == 1
		hookMu.Unlock()
		if !first {
			return // 200
		}
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-r.Context().Done()
	}))
	t.Cleanup(hook.Close)
	yaml := `
store: ferry.db
systems:
  shop: { url: "{{SHOP}}" }
  erp: { url: "{{ERP}}" }
  hook: { url: "{{HOOK}}" }
  desk: { url: "{{DESK}}" }
routes:
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id, paginate: { page: { size: 50 } } }
    destinations:
      default:
        http: { system: erp, method: POST, path: "/orders/${key}" }
    retry: { attempts: 1, backoff: 10ms, max_backoff: 10ms }
    after:
      - http: { system: hook, method: PUT, path: "/orders/${key}/status" }
    on_error:
      - http: { system: desk, method: POST, path: /tickets, body: { title: "order ${key}: ${error}" } }
`
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL, "HOOK": hook.URL, "DESK": desk.srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	res, err := h.engine.Run(ctx, "orders", engine.RunOptions{})
	t.Logf("status %s err %v sent %d failed %d dead %d", res.Status, err, res.Sent, res.Failed, res.Dead)
	dead, _ := h.store.DeadLetters(context.Background(), store.DeadFilter{Route: "orders"})
	for _, d := range dead {
		t.Errorf("a delivered record became a dead letter because of Ctrl-C: %q", d.LastError)
	}
	if res.Failed > 0 {
		t.Errorf("Ctrl-C was recorded as %d failed attempt(s)", res.Failed)
	}
	// The record is delivered; its operation is still owed, and the next
	// run performs it without delivering the record again.
	if c := h.counts("orders"); c.Outbox != 1 || c.Pending+c.Error+c.Leased != 0 {
		t.Fatalf("queue after Ctrl-C %+v, want the record delivered and its operation owed", c)
	}
	res = h.run("orders", false)
	if res.Operations.Done != 1 || len(erp.matching("POST /orders/1")) != 1 {
		t.Errorf("next run: operations %+v, order 1 sent %d times; want the operation done, the order sent once", res.Operations, len(erp.matching("POST /orders/1")))
	}
}

// Ctrl-C at random moments: the run is always recorded as cancelled,
// returns an error, leaves nothing leased and no goroutine behind.
func TestCancelAtRandomMoments(t *testing.T) {
	shop, erp := newTestShop(t, 2000), newTestERP(t)
	h := newHarness(t, ordersRoute, urls(shop, erp))
	for i := 0; i < 40; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		d := time.Duration(rand.IntN(60000)) * time.Microsecond
		time.AfterFunc(d, cancel)
		res, err := h.engine.Run(ctx, "orders", engine.RunOptions{Full: true})
		cancel()
		if err == nil {
			continue // finished before the cancel
		}
		if res.ID != 0 && res.Status != store.RunCancelled { // ID 0: cancelled before a run was recorded
			t.Errorf("cancel after %s: status %s, err %v; want cancelled", d, res.Status, err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancel after %s: error %v does not wrap context.Canceled (the CLI would not exit 130 on this path only because it uses res.Status)", d, err)
		}
		c := h.counts("orders")
		if c.Leased != 0 {
			t.Errorf("cancel after %s: %d entries left leased", d, c.Leased)
		}
	}
	time.Sleep(200 * time.Millisecond)
	buf := make([]byte, 1<<22)
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "internal/engine.") && !strings.Contains(g, "Test") {
			t.Errorf("engine goroutine left behind:\n%s", g)
		}
	}
}

// --full on a route whose cursor is already current, more records than
// collect_limit.
func TestFullSyncReadsPastCollectLimit(t *testing.T) {
	shop, erp := newTestShop(t, 150), newTestERP(t)
	yaml := strings.Replace(ordersRoute, "    batch: 100", "    batch: 100\n    collect_limit: 100", 1)
	h := newHarness(t, yaml, urls(shop, erp))
	if res := h.run("orders", false); res.Collected != 150 {
		t.Fatalf("incremental run collected %d, want 150", res.Collected)
	}
	res := h.run("orders", true)
	if res.Collected+res.Unchanged != 150 {
		t.Fatalf("full run read %d of 150 records (iterations %d, capped %v, status %s)", res.Collected+res.Unchanged, res.Iterations, res.Capped, res.Status)
	}
}

// The retry delay counts from the batch's start, not from its failure:
// a slow failing destination is retried at once.
func TestBackoffCountsFromTheFailure(t *testing.T) {
	shop := newTestShop(t, 1)
	var mu sync.Mutex
	var hits []time.Time
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, time.Now())
		mu.Unlock()
		time.Sleep(300 * time.Millisecond)
		w.WriteHeader(503)
	}))
	t.Cleanup(slow.Close)
	yaml := shopAndERP + `
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id, paginate: { page: { size: 50 } } }
    destinations:
      default:
        http: { system: erp, method: POST, path: "/orders/${key}" }
    retry: { attempts: 10, backoff: 200ms, max_backoff: 10s }
`
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": slow.URL})
	h.run("orders", false) // RetryWait -1: no waiting for later retries
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(hits); i++ {
		t.Errorf("retry %d sent %s after the previous attempt's start (%s after its failure); backoff was ≥160ms", i, hits[i].Sub(hits[i-1]).Round(time.Millisecond), (hits[i].Sub(hits[i-1]) - 300*time.Millisecond).Round(time.Millisecond))
	}
}

// A key read twice in one run (it changed while the source was paged):
// the older version fails once, the newer is delivered, then the older
// one's retry overwrites it.
func TestStaleVersionIsNotRetriedOverNewer(t *testing.T) {
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("page") {
		case "1", "":
			w.Write([]byte(`{"data":[{"id":1,"v":1}]}`))
		case "2":
			// Another key beside it: a page of only the same keys reads
			// as an API that ignores the page parameter.
			w.Write([]byte(`{"data":[{"id":1,"v":2},{"id":2,"v":1}]}`))
		default:
			w.Write([]byte(`{"data":[]}`))
		}
	}))
	t.Cleanup(src.Close)
	var mu sync.Mutex
	var got []string
	failedOnce := false
	dst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 100)
		n, _ := r.Body.Read(b)
		body := string(b[:n])
		mu.Lock()
		defer mu.Unlock()
		if strings.Contains(body, `"id":1,"v":1`) && !failedOnce {
			failedOnce = true
			w.WriteHeader(503)
			return
		}
		got = append(got, body)
	}))
	t.Cleanup(dst.Close)
	yaml := shopAndERP + `
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id, paginate: { page: { size: 1 } } }
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/orders/${key}" }
    retry: { attempts: 5, backoff: 10ms, max_backoff: 10ms }
`
	h := newHarness(t, yaml, map[string]string{"SHOP": src.URL, "ERP": dst.URL}, func(o *engine.Options) { o.RetryWait = time.Second })
	res := h.run("orders", false)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("run %s collected %d done %d; destination got %v", res.Status, res.Collected, res.Done, got)
	var last string
	for _, b := range got {
		if strings.Contains(b, `"id":1,`) {
			last = b
		}
	}
	if strings.Contains(last, `"v":1`) {
		t.Errorf("the destination ends with the older version v1 of record 1: %v", got)
	}
	if !strings.Contains(last, `"v":2`) {
		t.Errorf("the destination must end with the newer version v2 of record 1: %v", got)
	}
}
