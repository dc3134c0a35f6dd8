package service_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

func trigger(t *testing.T, svc *service.Service, routes ...string) []service.Ticket {
	t.Helper()
	tickets, err := svc.Trigger(context.Background(), service.StartRequest{Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	return tickets
}

// started subscribes to run.started events.
func (h *harness) started() *events.Subscription {
	sub := h.svc.Events().Subscribe(256, func(ev events.Event) bool { return ev.Type == events.RunStarted })
	h.t.Cleanup(sub.Close)
	return sub
}

func nextRoute(t *testing.T, sub *events.Subscription) string {
	t.Helper()
	select {
	case ev := <-sub.C:
		return ev.Route
	case <-time.After(20 * time.Second):
		t.Fatal("no run started")
		return ""
	}
}

func TestDependentRouteSendsOnlyAfterItsDependencyAndConcurrentRoutesOverlap(t *testing.T) {
	h := newHarness(t, "workers: 3", routeYAML("customers", `    schedule: "0 * * * *"`)+
		routeYAML("orders", `    schedule: "0 * * * *"
    depends_on: [customers]`)+
		routeYAML("stock", `    schedule: "0 * * * *"
    concurrent: true`)+
		routeYAML("prices", `    schedule: "0 * * * *"
    concurrent: true`))
	for _, r := range []string{"customers", "orders", "stock", "prices"} {
		h.sys.serveRecords(r, 5)
	}
	releaseCustomers, customersIn := h.sys.hold("customers")
	releaseStock, stockIn := h.sys.hold("stock")
	releasePrices, pricesIn := h.sys.hold("prices")
	fin := h.finished()
	h.start()
	ctx := context.Background()
	if err := h.svc.SchedulePass(ctx); err != nil { // stores the next ticks
		t.Fatal(err)
	}
	h.clock.Set(time.Date(2026, 11, 30, 10, 0, 1, 0, time.UTC))
	if err := h.svc.SchedulePass(ctx); err != nil { // all four due at 10:00: one cycle
		t.Fatal(err)
	}
	// stock and prices are both inside a delivery at the same time: they
	// overlap; customers runs beside them (it is the one serial route).
	<-stockIn
	<-pricesIn
	<-customersIn
	// orders waits for customers: nothing of it has arrived.
	if n := len(h.sys.arrived("orders")); n != 0 {
		t.Fatalf("orders delivered %d records before customers finished", n)
	}
	releaseStock()
	releasePrices()
	releaseCustomers()
	runs := waitRuns(t, fin, 4)
	var customersEnded time.Time
	for _, r := range runs {
		if r.Status != store.RunSucceeded || r.Done != 5 {
			t.Fatalf("run %+v", r)
		}
	}
	arr := h.sys.arrived("customers")
	customersEnded = arr[len(arr)-1]
	for _, at := range h.sys.arrived("orders") {
		if at.Before(customersEnded) {
			t.Fatalf("an order arrived at %v, before the last customer at %v", at, customersEnded)
		}
	}
	order := make([]string, len(runs))
	for i, r := range runs {
		order[i] = r.Route
	}
	if slices.Index(order, "orders") < slices.Index(order, "customers") {
		t.Fatalf("runs ended in order %v: orders before customers", order)
	}
}

func TestFailedDependencySkipsItsDependentsInTheCycle(t *testing.T) {
	h := newHarness(t, "", routeYAML("customers", "")+routeYAML("orders", "    depends_on: [customers]"))
	h.sys.serveRecords("orders", 2)
	// customers' source answers 404: the run fails.
	h.yaml = strings.Replace(h.yaml, "path: /src/customers", "path: /missing", 1)
	h.svc = h.build(h.store, "")
	fin := h.finished()
	h.start()
	trigger(t, h.svc, "customers", "orders")
	runs := waitRuns(t, fin, 1)
	if runs[0].Route != "customers" || runs[0].Status != store.RunFailed {
		t.Fatalf("customers run: %+v", runs[0])
	}
	h.idle("orders")
	if all, _ := h.store.ListRuns(context.Background(), store.RunFilter{Route: "orders"}); len(all) != 0 {
		t.Fatalf("orders ran although customers failed: %+v", all)
	}
}

func TestHigherPriorityFirstAndWaitingLowerPriorityIsNotStarved(t *testing.T) {
	h := newHarness(t, "workers: 2",
		routeYAML("high", "    priority: 10\n    concurrent: true")+
			routeYAML("mid", "    priority: 5\n    concurrent: true")+
			routeYAML("low", "    priority: 0\n    concurrent: true"))
	for _, r := range []string{"high", "mid", "low"} {
		h.sys.serveRecords(r, 1)
	}
	releaseHigh, _ := h.sys.hold("high")
	releaseMid, _ := h.sys.hold("mid")
	st := h.started()
	fin := h.finished()
	h.start()

	// Three routes, two workers: the two higher priorities go first.
	trigger(t, h.svc, "low", "mid", "high")
	first := []string{nextRoute(t, st), nextRoute(t, st)}
	slices.Sort(first)
	if !slices.Equal(first, []string{"high", "mid"}) {
		t.Fatalf("first runs %v, want high and mid", first)
	}
	// high is asked for again and again while low waits; after low has
	// waited long enough (aging) it goes before the newer high request.
	h.clock.Set(h.clock.Now().Add(6 * time.Minute)) // low has waited: 0 + 12
	trigger(t, h.svc, "high")                       // new: 10 + 0
	trigger(t, h.svc, "high")                       // merged into the waiting one
	releaseHigh()
	waitRuns(t, fin, 1)
	if got := nextRoute(t, st); got != "low" {
		t.Fatalf("after high ended, %s started; want low (waited longest)", got)
	}
	releaseMid()
	waitRuns(t, fin, 2)
	if got := nextRoute(t, st); got != "high" {
		t.Fatalf("then %s started; want high", got)
	}
	waitRuns(t, fin, 1)
}

func TestARouteNeverRunsTwiceAtOnceAndManualRequestsQueueBehind(t *testing.T) {
	h := newHarness(t, "", routeYAML("r", ""))
	h.sys.serveRecords("r", 2)
	release, entered := h.sys.hold("r")
	fin := h.finished()
	h.start()
	if tk := trigger(t, h.svc, "r"); tk[0].State != "queued" {
		t.Fatalf("first request: %+v", tk)
	}
	<-entered
	second := trigger(t, h.svc, "r")
	third := trigger(t, h.svc, "r")
	if second[0].State != "queued" || third[0].State != "merged" || third[0].Request != second[0].Request {
		t.Fatalf("requests while running: %+v then %+v; want queued then merged into it", second, third)
	}
	st, err := h.svc.Route(context.Background(), "r")
	if err != nil || st.State != service.StateRunning || st.Running == nil {
		t.Fatalf("route state while running: %+v, %v", st, err)
	}
	release()
	runs := waitRuns(t, fin, 2)
	if runs[0].EndedAt.After(runs[1].StartedAt) && runs[1].StartedAt.Before(runs[0].EndedAt) {
		t.Fatalf("runs overlapped: %+v and %+v", runs[0], runs[1])
	}
}

// Run events carry the request they answer, so a client (ferry run
// --server) knows its run from another client's run of the same route.
func TestRunEventsNameTheirRequest(t *testing.T) {
	h := newHarness(t, "", routeYAML("r", ""))
	h.sys.serveRecords("r", 1)
	st := h.started()
	fin := h.finished()
	h.start()
	tk := trigger(t, h.svc, "r")
	select {
	case ev := <-st.C:
		if ev.Request != tk[0].Request || ev.Request == 0 {
			t.Fatalf("run.started names request %d, the ticket %d", ev.Request, tk[0].Request)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no run started")
	}
	waitRuns(t, fin, 1)
}
