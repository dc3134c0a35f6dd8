package service_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// TestMain lets the test binary play a ferry worker process (see
// runChild) that a test can SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("FERRY_SERVICE_CHILD") != "" {
		runChild()
		return
	}
	os.Exit(m.Run())
}

// runChild starts a service on the store and config the parent test
// gives, asks for a run of FERRY_CHILD_ROUTE and waits to be killed.
func runChild() {
	dir := os.Getenv("FERRY_CHILD_DIR")
	cfg, err := config.Parse([]byte(os.Getenv("FERRY_CHILD_YAML")), filepath.Join(dir, "ferry.yaml"), all.Set())
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "ferry.db"))
	if err != nil {
		panic(err)
	}
	svc, err := service.New(service.Options{Config: cfg, Store: st})
	if err != nil {
		panic(err)
	}
	if err := svc.Start(ctx); err != nil {
		panic(err)
	}
	if _, err := svc.Trigger(ctx, service.StartRequest{Routes: []string{os.Getenv("FERRY_CHILD_ROUTE")}}); err != nil {
		panic(err)
	}
	select {}
}

func TestRescuerReturnsTheLeasesOfAKilledWorkerAndClosesItsRunWithoutANewRun(t *testing.T) {
	h := newHarness(t, "", routeYAML("orders", ""))
	h.sys.serveRecords("orders", 25) // batch 10: the worker dies inside the first
	release, entered := h.sys.hold("orders")
	defer release()

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "FERRY_SERVICE_CHILD=1", "FERRY_CHILD_DIR="+h.dir,
		"FERRY_CHILD_YAML="+h.yaml, "FERRY_CHILD_ROUTE=orders")
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	<-entered // the worker is inside a delivery, its batch leased
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()

	ctx := context.Background()
	counts, err := h.store.Counts(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if counts.Leased == 0 {
		t.Fatalf("the killed worker held no lease: %+v", counts)
	}
	runs, err := h.store.ListRuns(ctx, store.RunFilter{Route: "orders"})
	if err != nil || len(runs) != 1 || runs[0].Status != store.RunRunning {
		t.Fatalf("the killed worker's run: %+v, %v", runs, err)
	}

	// This process takes over the dead one's leadership and rescues on
	// its own clock: no run of orders is started for it.
	h.start()
	if err := h.svc.RescuePass(ctx); err != nil {
		t.Fatal(err)
	}
	counts, err = h.store.Counts(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if counts.Leased != 0 || counts.Pending != 25 {
		t.Fatalf("after the rescue: %+v; want nothing leased, all 25 pending", counts)
	}
	runs, err = h.store.ListRuns(ctx, store.RunFilter{Route: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Status != store.RunAbandoned || runs[0].EndedAt.IsZero() {
		t.Fatalf("after the rescue: runs %+v; want the one run, abandoned with an end", runs)
	}
	// Its run lock is free at once (not after it expires), so the next
	// run of orders on any host starts without waiting for it.
	if holder, ok, err := h.store.LockRoute(ctx, "orders", "checker", time.Now(), time.Now().Add(time.Minute), ""); err != nil || !ok {
		t.Fatalf("the dead worker's run lock is still held by %q (%v)", holder, err)
	}
	procs, err := h.store.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		if p.PID == child.Process.Pid {
			t.Fatalf("the dead process is still listed: %+v", p)
		}
	}
}
