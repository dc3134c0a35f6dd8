package engine_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
)

func urls(shop *testShop, erp *testERP) map[string]string {
	return map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL}
}

func TestIncrementalReadsOnlyChangesAndFullReadsAll(t *testing.T) {
	shop, erp := newTestShop(t, 120), newTestERP(t)
	h := newHarness(t, ordersRoute, urls(shop, erp))

	res := h.run("orders", false)
	if res.Collected != 120 || res.Done != 120 || res.Status != store.RunSucceeded {
		t.Fatalf("first run: %+v", res.Run)
	}
	cur, _ := h.store.Cursor(context.Background(), "orders")
	if cur != stamp(120) {
		t.Fatalf("cursor after first run = %q, want %q", cur, stamp(120))
	}

	shop.touch(7, 9)
	res = h.run("orders", false)
	if res.Collected != 2 || res.Done != 2 {
		t.Fatalf("incremental run collected %d, done %d; want 2 and 2", res.Collected, res.Done)
	}

	res = h.run("orders", false)
	if res.Collected != 0 {
		t.Fatalf("run without changes collected %d, want 0", res.Collected)
	}

	// A full read finds every record unchanged since its delivery:
	// nothing is sent again.
	res = h.run("orders", true)
	if res.Collected != 0 || res.Unchanged != 120 || res.Done != 0 || res.Mode != "full" {
		t.Fatalf("full run: %+v", res.Run)
	}
	if erp.receivedCount() != 120 {
		t.Fatalf("ERP has %d distinct orders, want 120", erp.receivedCount())
	}
}

func TestCursorDoesNotPassRecordsThatWereNotQueued(t *testing.T) {
	shop, erp := newTestShop(t, 200), newTestERP(t)
	shop.brokenPage, shop.brokenBody = 3, `{"data": [ {"id": 101, "updated_at": "2026-01-01T01:41:00Z"`
	h := newHarness(t, ordersRoute, urls(shop, erp))

	res, err := h.engine.Run(context.Background(), "orders", engine.RunOptions{})
	// What was queued before the source broke off is delivered: partly failed.
	if err == nil || res.Status != store.RunPartiallyFailed || res.SourceError == "" {
		t.Fatalf("run with a truncated page: status %s, err %v, source error %q; want partially_failed with the source error", res.Status, err, res.SourceError)
	}
	if !strings.Contains(err.Error(), "page 3") {
		t.Errorf("error %q does not name page 3", err)
	}
	// Pages 1 and 2 (100 records) were queued and delivered; nothing lost.
	if res.Collected != 100 || erp.receivedCount() != 100 {
		t.Fatalf("collected %d, ERP got %d; want 100 and 100", res.Collected, erp.receivedCount())
	}
	// While reading, the cursor moves only to the safe mark: the last
	// queued record (100) might share its value with records on the page
	// that failed, so the next read starts at it, not after it.
	cur, _ := h.store.Cursor(context.Background(), "orders")
	if cur != stamp(99) {
		t.Fatalf("cursor = %q, want the safe mark %q", cur, stamp(99))
	}

	shop.brokenPage = 0
	res = h.run("orders", false)
	if res.Collected != 100 || res.Unchanged != 1 || erp.receivedCount() != 200 {
		t.Fatalf("after the fix: collected %d, unchanged %d, ERP got %d; want 100, 1 (record 100 read again, already delivered) and 200", res.Collected, res.Unchanged, erp.receivedCount())
	}
	if cur, _ := h.store.Cursor(context.Background(), "orders"); cur != stamp(200) {
		t.Fatalf("cursor after a complete read = %q, want %q", cur, stamp(200))
	}
}

func TestBatchAnswerSettlesEachRecord(t *testing.T) {
	shop, erp := newTestShop(t, 200), newTestERP(t)
	bad := map[string]bool{"17": true, "99": true, "150": true}
	erp.fail = func(key string) string {
		if bad[key] {
			return "customer of order " + key + " is blocked"
		}
		return ""
	}
	yaml := strings.Replace(ordersRoute, "batch: 100", "batch: 200", 1)
	yaml = strings.Replace(yaml, "backoff: 10ms, max_backoff: 50ms", "backoff: 1m, max_backoff: 1h", 1)
	h := newHarness(t, yaml, urls(shop, erp))
	res := h.run("orders", false)

	if res.Done != 197 || res.Failed != 3 {
		t.Fatalf("done %d, failed %d; want 197 and 3", res.Done, res.Failed)
	}
	if len(erp.batchSizes) != 1 || erp.batchSizes[0] != 200 {
		t.Fatalf("batches sent: %v, want one of 200", erp.batchSizes)
	}
	if res.Status != store.RunPartiallyFailed {
		t.Errorf("status %s, want partially_failed", res.Status)
	}
	errs, err := h.store.Entries(context.Background(), store.EntryFilter{Route: "orders", Status: store.StatusError})
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 3 {
		t.Fatalf("%d entries in error, want 3", len(errs))
	}
	for _, e := range errs {
		if !bad[e.Key] {
			t.Errorf("entry %s is in error but the ERP accepted it", e.Key)
		}
		want := "customer of order " + e.Key + " is blocked"
		if !strings.Contains(e.LastError, want) {
			t.Errorf("entry %s error %q, want it to contain %q", e.Key, e.LastError, want)
		}
		at, err := h.store.Attempts(context.Background(), e.ID)
		if err != nil || len(at) != 1 || at[0].Outcome != store.OutcomeRetry {
			t.Errorf("entry %s attempts %+v (%v), want one failed attempt", e.Key, at, err)
		}
	}
	if c := h.counts("orders"); c.Pending != 0 || c.Error != 3 {
		t.Errorf("queue %+v, want 0 pending and 3 error", c)
	}
}

func TestUnavailableERPRecoversAndRetryAfterIsHonored(t *testing.T) {
	shop, erp := newTestShop(t, 60), newTestERP(t)
	erp.status = func(n int) (int, string) {
		if n <= 2 {
			return 503, "1"
		}
		return 0, ""
	}
	h := newHarness(t, ordersRoute, urls(shop, erp), func(o *engine.Options) { o.RetryWait = 5 * time.Second })
	res := h.run("orders", false)

	if erp.receivedCount() != 60 {
		t.Fatalf("ERP got %d orders, want all 60", erp.receivedCount())
	}
	if res.Done != 60 || res.Status != store.RunSucceeded {
		t.Fatalf("run: %+v", res.Run)
	}
	erp.mu.Lock()
	reqs := append([]time.Time(nil), erp.requests...)
	erp.mu.Unlock()
	if len(reqs) < 3 {
		t.Fatalf("ERP saw %d requests, want at least 3", len(reqs))
	}
	if gap := reqs[2].Sub(reqs[1]); gap < 900*time.Millisecond {
		t.Errorf("retry came %v after a 503 with Retry-After: 1, want at least 1s", gap)
	}
	// Every record has its history: a failed attempt with 503, then done.
	attempts, err := h.store.RecentAttempts(context.Background(), "orders", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var failed, done int
	for _, a := range attempts {
		switch a.Outcome {
		case store.OutcomeRetry:
			failed++
			if a.StatusCode != 503 {
				t.Errorf("failed attempt status %d, want 503", a.StatusCode)
			}
		case store.OutcomeDone:
			done++
		}
	}
	// The first batch (60) met a 503, an unknown outcome: it is retried
	// whole (same records, same batch key), and met the second 503.
	if failed != 120 || done != 60 {
		t.Errorf("attempts: %d failed, %d done; want 120 and 60", failed, done)
	}
}

func TestAlwaysFailingRecordBecomesDeadLetterAndReplays(t *testing.T) {
	shop, erp := newTestShop(t, 10), newTestERP(t)
	broken := true
	erp.fail = func(key string) string {
		if key == "4" && broken {
			return "unknown country"
		}
		return ""
	}
	h := newHarness(t, ordersRoute, urls(shop, erp), func(o *engine.Options) { o.RetryWait = 2 * time.Second })
	res := h.run("orders", false)
	if res.Dead != 1 || res.Done != 9 {
		t.Fatalf("run: done %d dead %d, want 9 and 1", res.Done, res.Dead)
	}
	dead, err := h.store.DeadLetters(context.Background(), store.DeadFilter{Route: "orders"})
	if err != nil || len(dead) != 1 || dead[0].Key != "4" || dead[0].Attempts != 3 {
		t.Fatalf("dead letters %+v (%v), want key 4 after 3 attempts", dead, err)
	}
	if !strings.Contains(dead[0].LastError, "unknown country") {
		t.Errorf("dead letter error %q", dead[0].LastError)
	}

	broken = false
	rr, err := h.store.Replay(context.Background(), store.ReplaySelector{Route: "orders", Dead: true, Now: time.Now()})
	if err != nil || rr.Replayed != 1 {
		t.Fatalf("replay: %+v, %v", rr, err)
	}
	res = h.run("orders", false)
	if res.Done != 1 || erp.received["4"] != 1 {
		t.Fatalf("after replay: done %d, ERP got order 4 %d times", res.Done, erp.received["4"])
	}
	at, _ := h.store.Attempts(context.Background(), dead[0].EntryID)
	if len(at) != 5 || at[3].Outcome != store.OutcomeReplayed || at[4].Outcome != store.OutcomeDone {
		t.Fatalf("history of order 4: %d attempts, want 3 failed, the replay, 1 done", len(at))
	}
}

func TestMaxIterationsStopsARunThatKeepsFindingWork(t *testing.T) {
	shop, erp := newTestShop(t, 30), newTestERP(t)
	yaml := strings.Replace(ordersRoute, "batch: 100", "batch: 100\n    max_iterations: 3\n    collect_limit: 10", 1)
	yaml = strings.Replace(yaml, "size: 50", "size: 10", 1)
	h := newHarness(t, yaml, urls(shop, erp))

	res := h.run("orders", false)
	if res.Iterations != 3 || !res.Capped {
		t.Fatalf("iterations %d capped %v, want 3 and true", res.Iterations, res.Capped)
	}
	if res.Collected != 30 || erp.receivedCount() != 30 {
		t.Fatalf("collected %d, ERP %d; want 30 (3 iterations of 10)", res.Collected, erp.receivedCount())
	}
	// New records keep arriving: the rest waits for the next run.
	shop.add(15)
	res = h.run("orders", false)
	if res.Collected != 15 || res.Capped || res.Iterations != 3 {
		t.Fatalf("second run collected %d in %d iterations, capped %v; want 15 in 3 (10, 5, 0), not capped", res.Collected, res.Iterations, res.Capped)
	}
}

func TestMalformedSourceResponses(t *testing.T) {
	cases := []struct {
		name, body, want string
	}{
		{"not JSON", "<html>oops</html>", "not JSON"},
		{"wrong records path", `{"items": []}`, `"data"`},
		{"missing key", `{"data": [{"name": "x", "updated_at": "2027-01-01T00:00:00Z"}]}`, `"id"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			shop, erp := newTestShop(t, 75), newTestERP(t)
			shop.brokenPage, shop.brokenBody = 2, c.body
			h := newHarness(t, ordersRoute, urls(shop, erp))
			res, err := h.engine.Run(context.Background(), "orders", engine.RunOptions{})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "page 2") {
				t.Fatalf("err = %v, want it to name page 2 and contain %s", err, c.want)
			}
			if res.Status != store.RunPartiallyFailed || !strings.Contains(res.Error, c.want) {
				t.Errorf("run status %s error %q, want partially_failed (page 1 was delivered) with the source error", res.Status, res.Error)
			}
			if res.Collected != 50 || erp.receivedCount() != 50 {
				t.Errorf("collected %d, delivered %d: page 1 must not be lost", res.Collected, erp.receivedCount())
			}
			runs, _ := h.store.Runs(context.Background(), "orders", 1)
			if len(runs) != 1 || runs[0].Status != store.RunPartiallyFailed {
				t.Errorf("recorded run %+v", runs)
			}
		})
	}
}

func TestCoalescingKeepsOnlyNewestPayload(t *testing.T) {
	shop, erp := newTestShop(t, 5), newTestERP(t)
	h := newHarness(t, ordersRoute, urls(shop, erp))
	ctx := context.Background()
	for v := 1; v <= 3; v++ {
		payload := fmt.Sprintf(`{"id": 1, "email": "v%d@example.com", "total": %d, "status": "paid"}`, v, v)
		if _, err := h.store.EnqueuePage(ctx, "orders", []store.NewEntry{{Key: "1", Payload: []byte(payload)}}, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if c := h.counts("orders"); c.Pending != 1 {
		t.Fatalf("pending %d after three versions of one key, want 1", c.Pending)
	}
}

func TestDryRunSendsAndStoresNothing(t *testing.T) {
	shop, erp := newTestShop(t, 20), newTestERP(t)
	h := newHarness(t, ordersRoute, urls(shop, erp))
	var got []engine.DryRecord
	err := h.engine.DryRun(context.Background(), "orders", false, 0, func(r engine.DryRecord) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 20 || got[0].Destination != "default" || got[0].Body["external_id"] != "1" {
		t.Fatalf("dry run records: %d, first %+v", len(got), got[0])
	}
	if erp.receivedCount() != 0 || h.counts("orders") != (store.Counts{}) {
		t.Fatal("dry run delivered or queued something")
	}
	if cur, _ := h.store.Cursor(context.Background(), "orders"); cur != "" {
		t.Fatalf("dry run moved the cursor to %q", cur)
	}
}

// An API that answers "at or after the cursor" returns the last record
// again on every read: the run must not read it until max_iterations.
func TestInclusiveCursorSourceDoesNotLoop(t *testing.T) {
	shop, erp := newTestShop(t, 30), newTestERP(t)
	shop.inclusive = true
	h := newHarness(t, ordersRoute, urls(shop, erp))
	res := h.run("orders", false)
	if res.Iterations != 2 || res.Capped {
		t.Fatalf("iterations %d capped %v, want 2 (read, re-read finding only the boundary record)", res.Iterations, res.Capped)
	}
	if res.Collected != 30 || res.Unchanged != 1 || erp.receivedCount() != 30 {
		t.Fatalf("collected %d, unchanged %d, ERP has %d; want 30, 1 (the boundary record read again) and 30", res.Collected, res.Unchanged, erp.receivedCount())
	}
}

func TestOneRunOfARouteAtATime(t *testing.T) {
	shop, erp := newTestShop(t, 5), newTestERP(t)
	h := newHarness(t, ordersRoute, urls(shop, erp))
	ctx := context.Background()
	host, _ := os.Hostname()
	now := time.Now()

	// A live worker (this very process, another run) holds the lock.
	live := fmt.Sprintf("%s:%d:other:run", host, os.Getpid())
	if _, ok, err := h.store.LockRoute(ctx, "orders", live, now, now.Add(time.Minute), ""); err != nil || !ok {
		t.Fatalf("lock: %v %v", ok, err)
	}
	_, err := h.engine.Run(ctx, "orders", engine.RunOptions{})
	if !errors.Is(err, engine.ErrRouteBusy) || !strings.Contains(err.Error(), live) {
		t.Fatalf("second run: err %v, want ErrRouteBusy naming %s", err, live)
	}
	if erp.receivedCount() != 0 {
		t.Fatal("the refused run delivered records")
	}
	h.store.UnlockRoute(ctx, "orders", live)

	// A worker that died (kill -9) left its lock: taken over at once.
	dead := fmt.Sprintf("%s:%d:gone:run", host, 1<<22+12345)
	h.store.LockRoute(ctx, "orders", dead, now, now.Add(time.Hour), "")
	if res := h.run("orders", false); res.Done != 5 {
		t.Fatalf("run after a dead worker's lock: %+v", res.Run)
	}
	// And the lock is free again after the run.
	if _, ok, _ := h.store.LockRoute(ctx, "orders", live, time.Now(), time.Now().Add(time.Minute), ""); !ok {
		t.Fatal("the run did not release its lock")
	}
}

// Records sharing one cursor value (a bulk import) across a collect_limit
// stop are all queued, none twice; a full sync with a limit reads all.
func TestCollectLimitKeepsGroupsOfEqualCursorValues(t *testing.T) {
	shop, erp := newTestShop(t, 150), newTestERP(t)
	shop.mu.Lock()
	for i := range shop.orders {
		if i < 120 {
			shop.orders[i].UpdatedAt = stamp(1)
		}
	}
	shop.mu.Unlock()
	yaml := strings.Replace(ordersRoute, "    batch: 100", "    batch: 100\n    collect_limit: 100", 1)
	h := newHarness(t, yaml, urls(shop, erp))
	res := h.run("orders", false)
	if res.Collected != 150 || erp.receivedCount() != 150 || res.Capped {
		t.Fatalf("collected %d, ERP %d, capped %v; want 150, 150, false", res.Collected, erp.receivedCount(), res.Capped)
	}
	for key, n := range erp.received {
		if n != 1 {
			t.Errorf("record %s delivered %d times", key, n)
		}
	}
	res = h.run("orders", true)
	if res.Collected+res.Unchanged != 150 || res.Mode != "full" {
		t.Fatalf("full run with collect_limit 100 read %d (queued %d, unchanged %d) of 150", res.Collected+res.Unchanged, res.Collected, res.Unchanged)
	}
}
