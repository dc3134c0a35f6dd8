package service_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

// holdFirstDelivery pushes a record to the route hook and waits until its
// delivery is held at the destination: the route's run is under way.
func holdFirstDelivery(t *testing.T, h *harness) (release func()) {
	t.Helper()
	release, entered := h.sys.hold("hook")
	if _, err := h.svc.Accept(context.Background(), "hook", []map[string]any{{"id": 0}}, false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the first push was never delivered")
	}
	return release
}

// pushIDs pushes the records {"id": from} to {"id": to} to hook, one call
// each.
func pushIDs(t *testing.T, h *harness, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		if _, err := h.svc.Accept(context.Background(), "hook", []map[string]any{{"id": i}}, false); err != nil {
			t.Fatal(err)
		}
	}
}

// wantDeliveredOnce waits until hook's destination got n deliveries and
// the route is idle, and checks that it got no more.
func wantDeliveredOnce(t *testing.T, h *harness, n int) {
	t.Helper()
	eventually(t, "every pushed record delivered", func() bool { return len(h.sys.arrived("hook")) >= n })
	h.idle("hook")
	if got := len(h.sys.arrived("hook")); got != n {
		t.Errorf("the destination got %d deliveries; want %d, each record once", got, n)
	}
}

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
	h := hookHarness(t, "", "    batch: 20\n")
	counter := &leaseCounter{Store: h.store}
	h.svc = h.build(counter, "")
	h.start()
	ctx := context.Background()
	release := holdFirstDelivery(t, h)
	const more = 10
	pushIDs(t, h, 2, more+1)
	release()
	wantDeliveredOnce(t, h, more+1)
	if n := counter.count(); n != 1 {
		t.Errorf("the main pass leased %d entries from the store; want 1 (the push that started the run), the rest handed in memory", n)
	}
	c, err := h.store.Counts(ctx, "hook")
	if err != nil || c.Pending+c.Leased+c.Error != 0 {
		t.Errorf("counts = %+v, %v; want nothing left", c, err)
	}
}

// An entry queued in the store (pushed to another process, released by
// an earlier run, or pushed while the inbox was full) is sent while a
// stream of pushes keeps the run's inbox busy: the main pass leases from
// the store every few batches.
func TestEntriesInTheStoreAreNotHeldUpByAStreamOfPushes(t *testing.T) {
	h := hookHarness(t, "", "    batch: 20\n")
	h.start()
	ctx := context.Background()
	release := holdFirstDelivery(t, h)
	if _, err := h.store.EnqueuePage(ctx, "hook", []store.NewEntry{{Key: "other", Payload: []byte(`{"id":"other"}`), Priority: 100}}, nil, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 2; !stop.Load(); i++ {
			if _, err := h.svc.Accept(ctx, "hook", []map[string]any{{"id": i}}, false); err != nil {
				t.Error(err)
				return
			}
			time.Sleep(3 * time.Millisecond)
		}
	}()
	release()
	start := time.Now()
	var waited time.Duration
	for time.Since(start) < 3*time.Second {
		es, _ := h.store.Entries(ctx, store.EntryFilter{Route: "hook", Status: store.StatusPending})
		found := false
		for _, e := range es {
			found = found || e.Key == "other"
		}
		if !found {
			waited = time.Since(start)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop.Store(true)
	<-done
	n := len(h.sys.arrived("hook"))
	if waited == 0 {
		t.Errorf("the entry queued in the store (priority 100) was still pending after 3 s of pushes (%d deliveries of pushed records meanwhile)", n)
	} else {
		t.Logf("store entry taken after %v", waited)
	}
	h.idle("hook")
}

// Records handed to the run's inbox keep their leases while they wait
// behind a slow batch (the run extends them with the batch's), so the
// rescuer does not put them back and no record is sent twice.
func TestHandedEntriesKeepTheirLeasesWhileTheyWait(t *testing.T) {
	h := hookHarness(t, "", "    batch: 20\n")
	svc, err := service.New(service.Options{Config: h.config(), Store: h.store, Now: h.clock.Now, Logger: testLogger(),
		Engine: engine.Options{LeaseFor: 3 * time.Second},
		Every:  service.Periods{Schedule: time.Hour, Lead: time.Hour, Rescue: time.Hour, Retain: time.Hour, Sweep: time.Hour, Freshness: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	h.start()
	ctx := context.Background()
	release := holdFirstDelivery(t, h)
	const more = 5
	pushIDs(t, h, 2, more+1)
	h.clock.Set(h.clock.Now().Add(4 * time.Second)) // past the handed leases
	time.Sleep(1500 * time.Millisecond)             // live extends the batch in flight
	if err := h.svc.RescuePass(ctx); err != nil {
		t.Fatal(err)
	}
	release()
	wantDeliveredOnce(t, h, more+1)
}

// Two respond: sync callers push the same key while the run is busy:
// the second push replaces the first's queued entry, and both get the
// destination's answer (sync routes take no inbox, where the first would
// have been superseded and answered "skipped").
func TestSyncCallersPushingOneKeyBothGetTheDestinationsAnswer(t *testing.T) {
	h := hookHarness(t, ", respond: sync", "    batch: 20\n")
	h.start()
	release := holdFirstDelivery(t, h)
	a, b := pushOneKeyTwice(t, h)
	release()
	wantBothAnswered(t, h, a, b)
}

// A reload makes an async route respond: sync while a run of the old
// config goes on: that run's inbox takes no more pushes, so two sync
// callers of one key both get the destination's answer (in the inbox
// the first would have been superseded and answered "skipped").
func TestAfterAReloadTheOldRunsInboxTakesNoPushes(t *testing.T) {
	h := hookHarness(t, "", "    batch: 20\n")
	h.start()
	ctx := context.Background()
	release := holdFirstDelivery(t, h)
	h.yaml = strings.Replace(h.yaml, `token: "${env:HOOK_TOKEN}"`, `token: "${env:HOOK_TOKEN}", respond: sync`, 1)
	if err := h.svc.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := pushOneKeyTwice(t, h)
	if a.Entries[0].Leased != nil || b.Entries[0].Leased != nil {
		t.Errorf("pushes after the reload were leased to the old run: %+v %+v", a.Entries, b.Entries)
	}
	release()
	wantBothAnswered(t, h, a, b)
}

// pushOneKeyTwice pushes two versions of key 7 to hook as two sync
// callers.
func pushOneKeyTwice(t *testing.T, h *harness) (a, b service.Accepted) {
	t.Helper()
	var err error
	if a, err = h.svc.Accept(context.Background(), "hook", []map[string]any{{"id": 7, "v": 1}}, true); err != nil {
		t.Fatal(err)
	}
	if b, err = h.svc.Accept(context.Background(), "hook", []map[string]any{{"id": 7, "v": 2}}, true); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// wantBothAnswered checks that both sync callers get the destination's
// answer.
func wantBothAnswered(t *testing.T, h *harness, a, b service.Accepted) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, acc := range map[string]service.Accepted{"a": a, "b": b} {
		got, err := acc.Wait(ctx)
		if err != nil || len(got) != 1 || got[0].Outcome != store.OutcomeDone {
			t.Errorf("sync caller %s got %+v, %v; want the destination's answer", name, got, err)
		}
	}
	h.idle("hook")
}

// A record that failed is retried while a steady stream of pushes goes
// on: the run's main pass gives way to the error pass every few batches
// instead of sending pushes for as long as they come.
func TestRetriesAreNotHeldUpByAStreamOfPushes(t *testing.T) {
	h := hookHarness(t, "", "    batch: 2\n    retry: { attempts: 5, backoff: 10ms, max_backoff: 10ms }\n")
	h.start()
	ctx := context.Background()
	h.sys.mu.Lock()
	h.sys.status["hook"] = http.StatusServiceUnavailable
	h.sys.mu.Unlock()
	acc, err := h.svc.Accept(ctx, "hook", []map[string]any{{"id": "first"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	first := acc.Entries[0].EntryID
	eventually(t, "the first record failed once", func() bool {
		atts, err := h.store.Attempts(ctx, first)
		return err == nil && len(atts) > 0
	})
	h.sys.mu.Lock()
	h.sys.status["hook"] = http.StatusOK
	h.sys.mu.Unlock()

	// Eight callers push faster than the run sends batches of two; once
	// the stream flows, the failed record's retry falls due.
	var stop atomic.Bool
	var streaming sync.WaitGroup
	for c := range 8 {
		streaming.Go(func() {
			for i := 1; !stop.Load(); i++ {
				if _, err := h.svc.Accept(ctx, "hook", []map[string]any{{"id": fmt.Sprintf("%d-%d", c, i)}}, false); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	eventually(t, "the stream flows", func() bool { return len(h.sys.arrived("hook")) > 200 })
	h.clock.Set(h.clock.Now().Add(time.Second))
	retried := false
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := h.store.Entry(ctx, first); errors.Is(err, store.ErrNotFound) {
			retried = true // delivered on its retry
			break
		}
	}
	stop.Store(true)
	streaming.Wait()
	if !retried {
		t.Errorf("the failed record was not retried during 5 s of pushes (%d deliveries of pushed records meanwhile)", len(h.sys.arrived("hook")))
	}
	h.idle("hook")
}

// hookHarness is a harness with the webhook route "hook" (respond and
// the route's further lines as webhookRoute takes them), its token set.
func hookHarness(t *testing.T, respond, extra string) *harness {
	t.Helper()
	t.Setenv("HOOK_TOKEN", "hook-token-for-tests")
	return newHarness(t, "", webhookRoute(respond, extra))
}
