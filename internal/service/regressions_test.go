package service_test

// Regressions found by review: each test failed before its fix.

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// R1: a dependency merged into an older cycle's request leaves its
// dependent waiting for ever (and every later request/tick of it merged
// or skipped).
func TestDependentWaitsForADependencyMergedIntoAnEarlierRequest(t *testing.T) {
	h := newHarness(t, "workers: 1", routeYAML("slow", "")+routeYAML("customers", "")+
		routeYAML("orders", "    depends_on: [customers]"))
	for _, r := range []string{"slow", "customers", "orders"} {
		h.sys.serveRecords(r, 1)
	}
	release, in := h.sys.hold("slow")
	fin := h.finished()
	h.start()
	trigger(t, h.svc, "slow")
	<-in
	trigger(t, h.svc, "customers")                 // cycle 2: waits for the worker
	tk := trigger(t, h.svc, "customers", "orders") // cycle 3: customers merged into cycle 2
	t.Logf("tickets: %+v", tk)
	release()
	runs := waitRuns(t, fin, 2) // slow, customers
	t.Logf("runs: %s %s", runs[0].Route, runs[1].Route)
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		if all, _ := h.store.ListRuns(context.Background(), store.RunFilter{Route: "orders"}); len(all) > 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	st, _ := h.svc.Route(context.Background(), "orders")
	t.Fatalf("orders never ran after customers finished; state %q; a new trigger: %+v", st.State, trigger(t, h.svc, "orders"))
}

// R2: a tick claimed by SchedulePass while the service is stopping is
// recorded fired but never run, and the next start does not run it.
func TestATickDuringStopFiresAfterTheRestart(t *testing.T) {
	h := newHarness(t, "", routeYAML("long", "")+routeYAML("nightly", `    schedule: "0 * * * *"`))
	h.sys.serveRecords("long", 1)
	h.sys.serveRecords("nightly", 1)
	release, in := h.sys.hold("long")
	h.start()
	ctx := context.Background()
	if err := h.svc.SchedulePass(ctx); err != nil { // next tick 10:00
		t.Fatal(err)
	}
	trigger(t, h.svc, "long")
	<-in
	stopped := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		stopped <- h.svc.Stop(sctx)
	}()
	eventually(t, "stopping", func() bool { return h.svc.Ready(ctx) == service.ErrStopping })
	h.clock.Set(time.Date(2026, 11, 30, 10, 0, 1, 0, time.UTC))
	if err := h.svc.SchedulePass(ctx); err != nil { // still leader: claims the 10:00 tick
		t.Fatal(err)
	}
	release()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	ticks, _ := h.store.Ticks(ctx)
	t.Logf("ticks after stop: %+v", ticks)
	// Restart right away: the 10:00 tick was missed; it should run once.
	h.svc = h.build(h.store, "")
	fin := h.finished()
	h.start()
	if err := h.svc.SchedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-fin.C:
		t.Logf("ran %s", ev.Route)
	case <-time.After(5 * time.Second):
		t.Fatal("the 10:00 tick of nightly never ran: claimed as fired during Stop, dropped, and not due after restart")
	}
}

// R3: an entry of a webhook-only route that failed is never retried
// when no other push comes: nothing asks for a run of the route.
func TestWebhookRouteErrorsAreRetriedWhenDue(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "x")
	h := newHarness(t, "", webhookRoute("", `    retry: { attempts: 5, backoff: 30s, max_backoff: 30s }
`))
	h.sys.mu.Lock()
	h.sys.status["hook"] = http.StatusServiceUnavailable
	h.sys.mu.Unlock()
	fin := h.finished()
	h.start()
	ctx := context.Background()
	if _, err := h.svc.Accept(ctx, "hook", []map[string]any{{"id": 1}}, false); err != nil {
		t.Fatal(err)
	}
	waitRuns(t, fin, 1)
	h.idle("hook")
	h.sys.mu.Lock()
	h.sys.status["hook"] = http.StatusOK
	h.sys.mu.Unlock()
	h.clock.Set(h.clock.Now().Add(time.Hour)) // the retry is long due
	for _, pass := range []func(context.Context) error{h.svc.SchedulePass, h.svc.RescuePass, h.svc.SweepPass} {
		if err := pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		if c, _ := h.store.Counts(ctx, "hook"); c.Error == 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, _ := h.store.Counts(ctx, "hook")
	t.Fatalf("error entry due for an hour, never retried: %+v, deliveries %d", c, len(h.sys.arrived("hook")))
}

// gatedStore blocks Accept until gate is closed.
type gatedStore struct {
	*sqlite.Store
	entered chan struct{}
	gate    chan struct{}
	once    sync.Once
}

func (g *gatedStore) Accept(ctx context.Context, p []store.Push, now time.Time) ([][]store.Accepted, error) {
	g.once.Do(func() { close(g.entered) })
	<-g.gate
	return g.Store.Accept(ctx, p, now)
}

// R4: a reload that removes a webhook route while a push to it is being
// committed: wakeRoute queues a request for a route the config no longer
// has and the dispatcher dereferences a nil *config.Route.
func TestReloadRemovingAWebhookRouteDuringAPushIsSafe(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "x")
	h := newHarness(t, "", webhookRoute("", "")+routeYAML("other", ""))
	gs := &gatedStore{Store: h.store, entered: make(chan struct{}), gate: make(chan struct{})}
	h.svc = h.build(gs, "")
	h.start()
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := h.svc.Accept(ctx, "hook", []map[string]any{{"id": 1}}, false)
		done <- err
	}()
	<-gs.entered
	i := strings.Index(h.yaml, "\n  hook:")
	j := strings.Index(h.yaml, "\n  other:")
	h.yaml = h.yaml[:i] + h.yaml[j:]
	if err := h.svc.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	close(gs.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // the dispatcher looks at the request
	t.Log("no panic")
}

// R5: an after: operation slower than the lease: the rescuer releases
// its (not extended) outbox lease, SettleOutbox then matches nothing,
// and the same run performs the operation a second time.
func TestASlowAfterOperationIsNotReleasedWhileInFlight(t *testing.T) {
	h := newHarness(t, "", routeYAML("r", `    after:
      - http: { system: sys, method: POST, path: /dst/after }`))
	h.sys.serveRecords("r", 1)
	release, in := h.sys.hold("after")
	svc, err := service.New(service.Options{Config: h.config(), Store: h.store, Now: h.clock.Now, Logger: testLogger(),
		Engine: engine.Options{LeaseFor: 3 * time.Second},
		Every:  service.Periods{Schedule: time.Hour, Lead: time.Hour, Rescue: time.Hour, Retain: time.Hour, Freshness: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	h.svc = svc
	fin := h.finished()
	h.start()
	trigger(t, h.svc, "r")
	<-in
	h.clock.Set(h.clock.Now().Add(4 * time.Second)) // past the lease, well within the run lock
	if err := h.svc.RescuePass(context.Background()); err != nil {
		t.Fatal(err)
	}
	release()
	r1 := waitRuns(t, fin, 1)
	ob, _ := h.store.Outbox(context.Background(), "r", 10)
	t.Logf("run 1: %s %q; outbox after it: %d items", r1[0].Status, r1[0].Error, len(ob))
	trigger(t, h.svc, "r")
	waitRuns(t, fin, 1)
	if n := len(h.sys.arrived("after")); n != 1 {
		t.Fatalf("after operation performed %d times", n)
	}
}

// R6: respond: sync callers miss their settlement event when a batch
// settles more entries than their subscription holds, and wait for the
// whole timeout.
func TestSyncCallersGetTheirAnswerUnderLoad(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "x")
	h := newHarness(t, "", webhookRoute(", respond: sync", `    batch: 400
`))
	release, in := h.sys.hold("hook")
	h.start()
	ctx := context.Background()
	// a first push to occupy the run
	if _, err := h.svc.Accept(ctx, "hook", []map[string]any{{"id": -1}}, false); err != nil {
		t.Fatal(err)
	}
	<-in
	const n = 300
	var late atomic.Int32
	var wg sync.WaitGroup
	accepted := make(chan struct{}, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acc, err := h.svc.Accept(ctx, "hook", []map[string]any{{"id": i}}, true)
			accepted <- struct{}{}
			if err != nil {
				t.Error(err)
				return
			}
			wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			if _, err := acc.Wait(wctx); err != nil || wctx.Err() != nil {
				late.Add(1)
			}
		}()
	}
	for range n {
		<-accepted
	}
	release()
	eventually(t, "all delivered", func() bool {
		c, _ := h.store.Counts(ctx, "hook")
		return c.Pending+c.Leased == 0 && len(h.sys.arrived("hook")) >= n+1
	})
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		t.Fatalf("callers still waiting 10s after every record was delivered (missed events)")
	}
	if late.Load() > 0 {
		t.Fatalf("%d callers answered only at their timeout", late.Load())
	}
}

// R7: two processes on one store: a push taken by the process that is
// not running the route is dropped (ErrRouteBusy) and the lingering run
// of the other never sees it.
func TestAPushToTheProcessNotRunningTheRouteIsDelivered(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "x")
	h := newHarness(t, "", webhookRoute("", ""))
	ctx := context.Background()
	mk := func(linger time.Duration) *service.Service {
		st2, err := sqlite.Open(ctx, filepath.Join(h.dir, "ferry.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st2.Close() })
		cfg, err := config.Parse([]byte(h.yaml), filepath.Join(h.dir, "ferry.yaml"), all.Set())
		if err != nil {
			t.Fatal(err)
		}
		svc, err := service.New(service.Options{Config: cfg, Store: st2, Linger: linger, Logger: testLogger(),
			Engine: engine.Options{}})
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			svc.Stop(c)
		})
		return svc
	}
	a, b := mk(time.Second), mk(6*time.Second)
	fin := b.Events().Subscribe(16, nil)
	if _, err := b.Accept(ctx, "hook", []map[string]any{{"id": 1}}, false); err != nil {
		t.Fatal(err)
	}
	eventually(t, "first delivered", func() bool { return len(h.sys.arrived("hook")) == 1 })
	if _, err := a.Accept(ctx, "hook", []map[string]any{{"id": 2}}, false); err != nil {
		t.Fatal(err)
	}
	_ = fin
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if len(h.sys.arrived("hook")) == 2 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, _ := h.store.Counts(ctx, "hook")
	t.Fatalf("second push never delivered: queue %+v", c)
}

// R6b: one sync caller among many async pushes on the same route.
func TestOneSyncCallerAmongManyAsyncPushesGetsItsAnswer(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "x")
	h := newHarness(t, "", webhookRoute(", respond: sync", `    batch: 1000
`))
	release, in := h.sys.hold("hook")
	h.start()
	ctx := context.Background()
	if _, err := h.svc.Accept(ctx, "hook", []map[string]any{{"id": -1}}, false); err != nil {
		t.Fatal(err)
	}
	<-in
	recs := make([]map[string]any, 500)
	for i := range recs {
		recs[i] = map[string]any{"id": i}
	}
	if _, err := h.svc.Accept(ctx, "hook", recs, false); err != nil {
		t.Fatal(err)
	}
	acc, err := h.svc.Accept(ctx, "hook", []map[string]any{{"id": "last"}}, true)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() { acc.Wait(wctx); close(done) }() // as the handler does: at once
	release()
	eventually(t, "all delivered", func() bool {
		c, _ := h.store.Counts(ctx, "hook")
		return c.Pending+c.Leased == 0 && len(h.sys.arrived("hook")) >= 502
	})
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("sync caller still waiting 10s after its record was delivered: its event was dropped; it is answered only at its timeout")
	}
}

// R8: entry_priority is not applied to records a run reads: they are
// sent in page order (EnqueueLeased hands the page straight to the
// sender), not "higher first".
func TestEntryPriorityOrdersCollectedRecords(t *testing.T) {
	var mu sync.Mutex
	var order []string
	capSrv := httptestServer(t, func(body string) {
		mu.Lock()
		order = append(order, body)
		mu.Unlock()
	})
	h := newHarness(t, "", routeYAML("r", "    entry_priority: 'id == 5 ? 100 : 0'"))
	h.yaml = strings.Replace(h.yaml, "batch: 10", "batch: 1", 1)
	h.yaml = strings.Replace(h.yaml, "http: { system: sys, method: POST, path: /dst/r, body: each }", "http: { system: cap, method: POST, path: /x, body: each }", 1)
	h.yaml = strings.Replace(h.yaml, "systems:\n", "systems:\n  cap: { url: \""+capSrv+"\" }\n", 1)
	h.svc = h.build(h.store, "")
	h.sys.serveRecords("r", 5)
	fin := h.finished()
	h.start()
	trigger(t, h.svc, "r")
	waitRuns(t, fin, 1)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("order: %v", order)
	if len(order) == 0 || !strings.Contains(order[0], `"id":5`) {
		t.Fatalf("first delivery %q; want id 5 (entry_priority 100) first", order)
	}
}

// R2b: a fired tick whose request waits (workers busy) is dropped by
// Stop; after a restart it is not due any more.
func TestAWaitingTickDroppedAtStopFiresAfterTheRestart(t *testing.T) {
	h := newHarness(t, "workers: 1", routeYAML("long", "")+routeYAML("nightly", `    schedule: "0 * * * *"`))
	h.sys.serveRecords("long", 1)
	h.sys.serveRecords("nightly", 1)
	release, in := h.sys.hold("long")
	h.start()
	ctx := context.Background()
	if err := h.svc.SchedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	trigger(t, h.svc, "long")
	<-in
	h.clock.Set(time.Date(2026, 11, 30, 10, 0, 1, 0, time.UTC))
	if err := h.svc.SchedulePass(ctx); err != nil { // fires; waits for the worker
		t.Fatal(err)
	}
	if st, _ := h.svc.Route(ctx, "nightly"); st.State != service.StateQueued {
		t.Fatalf("nightly %s", st.State)
	}
	stopped := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		stopped <- h.svc.Stop(sctx)
	}()
	eventually(t, "stopping", func() bool { return h.svc.Ready(ctx) == service.ErrStopping })
	release()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	h.svc = h.build(h.store, "")
	fin := h.finished()
	h.start()
	if err := h.svc.SchedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-fin.C:
		t.Logf("ran %s", ev.Route)
	case <-time.After(5 * time.Second):
		t.Fatal("nightly's 10:00 run, dropped at Stop, did not run after the restart")
	}
}

// R9: Stop of a service that was never started (or whose Start failed
// at its first leadership pass) waits for ever on the acceptor.
func TestStopWithoutStartReturns(t *testing.T) {
	h := newHarness(t, "", routeYAML("r", ""))
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		done <- h.svc.Stop(ctx)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Stop without Start never returned (its 1s deadline did not help)")
	}
}

// R3b: records a webhook accepted before a crash (202 given, entry
// pending) are not delivered after the restart until another push.
func TestPendingWebhookEntriesAreDeliveredAfterARestart(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "x")
	h := newHarness(t, "", webhookRoute("", ""))
	ctx := context.Background()
	// what a process SIGKILLed right after its 202 leaves behind
	if _, err := h.store.Accept(ctx, []store.Push{{Route: "hook", Entries: []store.NewEntry{{Key: "1", Payload: []byte(`{"id":1}`)}}}}, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.start()
	for _, pass := range []func(context.Context) error{h.svc.SchedulePass, h.svc.RescuePass, h.svc.SweepPass} {
		if err := pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		if len(h.sys.arrived("hook")) == 1 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c, _ := h.store.Counts(ctx, "hook")
	t.Fatalf("accepted record not delivered after restart: %+v", c)
}

// webhookRoute is the route "hook": records posted with the token of
// HOOK_TOKEN, delivered one by one to /dst/hook. opts are more webhook
// options (", respond: sync"), extra more route lines (indented 4).
func webhookRoute(opts, extra string) string {
	return `
  hook:
    webhook: { key: id, token: "${env:HOOK_TOKEN}"` + opts + ` }
` + extra + `    destinations:
      default:
        http: { system: sys, method: POST, path: /dst/hook, body: each }
`
}
