package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
)

// eachRoute sends every record as its own PUT /orders/{key}; the shop
// has no cursor, so every run reads everything.
const eachRoute = shopAndERP + `
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id, paginate: { page: { size: 50 } } }
    batch: 10
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/orders/${key}" }
    retry: { attempts: 5, backoff: 10ms, max_backoff: 10ms }
`

// A run whose run lock is taken over stops: it does not go on sending
// beside the new holder, and says why it failed.
func TestLostRunLockStopsTheRun(t *testing.T) {
	shop := newTestShop(t, 200)
	first := make(chan struct{})
	var once sync.Once
	erp := newHookServer(t, func(call string, n int) int {
		once.Do(func() { close(first) })
		time.Sleep(30 * time.Millisecond)
		return 0
	})
	h := newHarness(t, eachRoute, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL},
		func(o *engine.Options) { o.LockFor = 150 * time.Millisecond })
	ctx := context.Background()
	stolen := make(chan struct{})
	go func() {
		defer close(stolen)
		<-first
		now := time.Now()
		holder, ok, err := h.store.LockRoute(ctx, "orders", "thief:1:x", now, now.Add(time.Hour), "")
		if err != nil || ok {
			t.Errorf("first lock attempt: ok %v err %v, want the run to hold it", ok, err)
			return
		}
		if _, ok, err := h.store.LockRoute(ctx, "orders", "thief:1:x", now, now.Add(time.Hour), holder); err != nil || !ok {
			t.Errorf("take over: ok %v err %v", ok, err)
		}
	}()
	res, err := h.engine.Run(ctx, "orders", engine.RunOptions{})
	<-stolen
	if err == nil || res.Status != store.RunFailed {
		t.Fatalf("run after its lock was taken: status %s err %v; want failed with an error", res.Status, err)
	}
	if !strings.Contains(res.Error, "lost the run lock") || !strings.Contains(res.Error, "thief:1:x") {
		t.Errorf("run error %q, want it to say the lock was lost to thief:1:x", res.Error)
	}
	sent := len(erp.all())
	if sent >= 200 {
		t.Fatalf("the run delivered all %d records after losing its lock", sent)
	}
	if c := h.counts("orders"); c.Leased != 0 {
		t.Errorf("%d entries left leased", c.Leased)
	}
	time.Sleep(150 * time.Millisecond)
	if n := len(erp.all()); n != sent {
		t.Errorf("%d requests arrived after the run returned", n-sent)
	}
	runs, _ := h.store.Runs(ctx, "orders", 1)
	if len(runs) != 1 || runs[0].Status != store.RunFailed || !strings.Contains(runs[0].Error, "lost the run lock") {
		t.Errorf("recorded run %+v", runs)
	}
	// The thief holds the route: another run is refused.
	if _, err := h.engine.Run(ctx, "orders", engine.RunOptions{}); !errors.Is(err, engine.ErrRouteBusy) {
		t.Errorf("run while the thief holds the lock: %v, want ErrRouteBusy", err)
	}
}

// A run left "running" by a worker that died is closed as abandoned by
// the next run, which also delivers what the dead worker held leased.
func TestRunsOfDeadWorkersAreClosed(t *testing.T) {
	shop, erp := newTestShop(t, 5), newTestERP(t)
	h := newHarness(t, ordersRoute, urls(shop, erp))
	ctx := context.Background()
	host, _ := os.Hostname()
	dead := fmt.Sprintf("%s:%d:gone", host, 1<<22+4242)
	now := time.Now()
	id, err := h.store.CreateRun(ctx, store.Run{Route: "orders", Trigger: "manual", Mode: "incremental", Status: store.RunRunning, StartedAt: now.Add(-time.Minute), Owner: dead + ":run"})
	if err != nil {
		t.Fatal(err)
	}
	payload := `{"id": 900, "email": "x@example.com", "total": 1, "status": "paid", "updated_at": "2020-01-01T00:00:00Z"}`
	if _, _, err := h.store.EnqueueLeased(ctx, "orders", []store.NewEntry{{Key: "900", Payload: []byte(payload)}}, nil, now, dead, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	res := h.run("orders", false)
	old, err := h.store.GetRun(ctx, id)
	if err != nil || old.Status != store.RunAbandoned || old.EndedAt.IsZero() {
		t.Fatalf("the dead worker's run: %+v (%v), want abandoned with an end time", old, err)
	}
	if res.Done != 6 || erp.received["900"] != 1 {
		t.Fatalf("done %d, order 900 delivered %d times; want 6 and once", res.Done, erp.received["900"])
	}
	runs, _ := h.store.Runs(ctx, "orders", 1)
	if len(runs) != 1 || runs[0].Owner == "" || !strings.HasPrefix(runs[0].Owner, host+":") {
		t.Errorf("the run's owner: %+v", runs)
	}
}

// failingUpdates is the real store whose UpdateRun fails (a busy store
// at the worst moment).
type failingUpdates struct{ store.Store }

func (failingUpdates) UpdateRun(context.Context, store.Run) error {
	return errors.New("database is locked")
}

// The summary shows entries still leased and a run outcome that could
// not be recorded, instead of hiding them.
func TestResultShowsLeasedEntriesAndStoreErrors(t *testing.T) {
	shop, erp := newTestShop(t, 3), newTestERP(t)
	h := newHarness(t, ordersRoute, urls(shop, erp))
	ctx := context.Background()
	host, _ := os.Hostname()
	live := fmt.Sprintf("%s:%d:other", host, os.Getpid())
	now := time.Now()
	payload := `{"id": 900, "email": "x@example.com", "total": 1, "status": "paid", "updated_at": "2020-01-01T00:00:00Z"}`
	if _, _, err := h.store.EnqueueLeased(ctx, "orders", []store.NewEntry{{Key: "900", Payload: []byte(payload)}}, nil, now, live, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	eng := h.engineOn(failingUpdates{h.store}, engine.Options{RetryWait: -1})
	res, err := eng.Run(ctx, "orders", engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Queue.Leased != 1 {
		t.Errorf("queue %+v, want the entry another worker holds counted as leased", res.Queue)
	}
	if !strings.Contains(res.StoreError, "database is locked") {
		t.Errorf("store error %q, want the failed update of the run", res.StoreError)
	}
}

// A dry run fails a record exactly where the real run fails it: a value
// JSON cannot encode (±Inf) and a path template that fails, and shows the
// rendered URL of the others.
func TestDryRunFailsWhereTheRunFails(t *testing.T) {
	shop := newTestShop(t, 6)
	erp := newHookServer(t, nil)
	yaml := shopAndERP + `
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id, paginate: { page: { size: 50 } } }
    destinations:
      default:
        http:
          system: erp
          method: PUT
          path: '/orders/${external_id == "4" ? int("x") : key}'
          map: { external_id: string(id), ratio: 'id == 3 ? total / 0 : total' }
    retry: { attempts: 2, backoff: 10ms, max_backoff: 10ms }
`
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL})
	dry := map[string]engine.DryRecord{}
	err := h.engine.DryRun(context.Background(), "orders", false, 0, func(r engine.DryRecord) error {
		dry[r.Key] = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var dryFailed []string
	for k, r := range dry {
		if r.Error != "" {
			dryFailed = append(dryFailed, k)
		}
	}
	sort.Strings(dryFailed)
	if strings.Join(dryFailed, ",") != "3,4" {
		t.Fatalf("dry run failed %v, want 3 (ratio is +Inf) and 4 (path fails): %+v", dryFailed, dry)
	}
	if r := dry["1"]; r.Method != "PUT" || r.URL != erp.srv.URL+"/orders/1" {
		t.Errorf("record 1 would be sent as %s %s, want PUT %s/orders/1", r.Method, r.URL, erp.srv.URL)
	}
	if len(erp.all()) != 0 || h.counts("orders") != (store.Counts{}) {
		t.Fatal("the dry run sent or queued something")
	}

	res := h.run("orders", false)
	dead, _ := h.store.DeadLetters(context.Background(), store.DeadFilter{Route: "orders"})
	var runFailed []string
	for _, d := range dead {
		runFailed = append(runFailed, d.Key)
	}
	sort.Strings(runFailed)
	if strings.Join(runFailed, ",") != "3,4" || res.Done != 4 {
		t.Fatalf("the run: done %d, dead %v; want 4 delivered and the dry run's failures 3,4 dead", res.Done, runFailed)
	}
}

// Two stores hand out the same entry IDs; their idempotency keys differ.
func TestIdempotencyKeysDifferAcrossStores(t *testing.T) {
	shop := newTestShop(t, 3)
	erp := newHookServer(t, nil)
	u := map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL}
	a, b := newHarness(t, eachRoute, u), newHarness(t, eachRoute, u)
	if a.store.ID() == "" || a.store.ID() == b.store.ID() {
		t.Fatalf("store identities %q and %q", a.store.ID(), b.store.ID())
	}
	a.run("orders", false)
	b.run("orders", false)
	calls := erp.of("PUT /orders/1")
	if len(calls) != 2 || calls[0].Key == "" || calls[0].Key == calls[1].Key {
		t.Fatalf("order 1 from two stores: %+v, want two different Idempotency-Keys", calls)
	}
}

// With body: array each record carries its own key inside the body
// (map: idem: idempotency_key), the one its history records.
func TestEachRecordsKeyInAnArrayBody(t *testing.T) {
	shop := newTestShop(t, 5)
	erp := newHookServer(t, nil)
	yaml := shopAndERP + `
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id, paginate: { page: { size: 50 } } }
    destinations:
      default:
        http:
          system: erp
          path: /batch
          body: array
          map: { external_id: string(id), idem: idempotency_key }
`
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL})
	h.run("orders", false)
	calls := erp.of("POST /batch")
	if len(calls) != 1 {
		t.Fatalf("%d batch requests, want 1", len(calls))
	}
	var body []map[string]string
	if err := json.Unmarshal([]byte(calls[0].Body), &body); err != nil || len(body) != 5 {
		t.Fatalf("body %s: %v", calls[0].Body, err)
	}
	seen := map[string]bool{}
	for _, rec := range body {
		idem := rec["idem"]
		if idem == "" || seen[idem] || idem == calls[0].Key {
			t.Errorf("record %s carries key %q: want its own, distinct from the others and the batch's", rec["external_id"], idem)
		}
		seen[idem] = true
		at, _ := h.store.KeyAttempts(context.Background(), "orders", rec["external_id"], 10)
		if len(at) != 1 || at[0].IdempotencyKey != idem {
			t.Errorf("record %s: history %+v, want one attempt with key %q", rec["external_id"], at, idem)
		}
	}
}

// A batch request whose outcome is unknown (503) is retried as the same
// batch under the same key, although the error pass takes smaller
// batches.
func TestUnknownBatchIsRetriedWithTheSameComposition(t *testing.T) {
	shop := newTestShop(t, 10)
	erp := newHookServer(t, func(call string, n int) int {
		if n == 1 {
			return 503
		}
		return 0
	})
	yaml := shopAndERP + `
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id, paginate: { page: { size: 50 } } }
    batch: 10
    error_batch: 3
    destinations:
      default:
        http: { system: erp, path: /batch, body: array, map: { id: id } }
    retry: { attempts: 5, backoff: 10ms, max_backoff: 10ms }
`
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL},
		func(o *engine.Options) { o.RetryWait = 2 * time.Second })
	res := h.run("orders", false)
	calls := erp.of("POST /batch")
	if res.Done != 10 || len(calls) != 2 {
		t.Fatalf("done %d in %d requests, want 10 in 2 (the failed batch retried whole): %+v", res.Done, len(calls), calls)
	}
	if calls[0].Key == "" || calls[1].Key != calls[0].Key || calls[1].Body != calls[0].Body {
		t.Errorf("retry of an unknown batch: key %q → %q, body %s → %s; want both the same", calls[0].Key, calls[1].Key, calls[0].Body, calls[1].Body)
	}
}

// A record read again unchanged while it waits in error keeps its
// version, so its retry carries the Idempotency-Key of its first attempt.
func TestUnchangedRecordInErrorKeepsItsKey(t *testing.T) {
	shop := newTestShop(t, 5)
	erp := newHookServer(t, func(call string, n int) int {
		if call == "PUT /orders/3" && n == 1 {
			return 503
		}
		return 0
	})
	yaml := strings.Replace(eachRoute, "backoff: 10ms, max_backoff: 10ms", "backoff: 300ms, max_backoff: 300ms", 1)
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL})
	if res := h.run("orders", false); res.Done != 4 || h.counts("orders").Error != 1 {
		t.Fatalf("first run: done %d, queue %+v; want 4 and order 3 in error", res.Done, h.counts("orders"))
	}
	time.Sleep(400 * time.Millisecond) // the backoff
	res := h.run("orders", false)
	calls := erp.of("PUT /orders/3")
	if res.Done != 1 || len(calls) != 2 {
		t.Fatalf("second run: done %d, order 3 sent %d times; want 1 and 2", res.Done, len(calls))
	}
	if calls[0].Key != calls[1].Key {
		t.Errorf("order 3 was re-read unchanged while in error, and its retry changed key %q → %q", calls[0].Key, calls[1].Key)
	}
}

// Records read again with the content last delivered are not sent; a
// changed one is; resend_unchanged sends all; a changed mapping too.
func TestUnchangedRecordsAreNotSentAgain(t *testing.T) {
	shop, erp := newTestShop(t, 20), newTestERP(t)
	u := urls(shop, erp)
	h := newHarness(t, ordersRoute, u)
	if res := h.run("orders", true); res.Done != 20 {
		t.Fatalf("first run: %+v", res.Run)
	}
	res := h.run("orders", true)
	if res.Done != 0 || res.Unchanged != 20 || res.Collected != 0 || res.Status != store.RunSucceeded {
		t.Fatalf("same records again: %+v; want 20 unchanged, nothing sent", res.Run)
	}
	shop.touch(5)
	res = h.run("orders", true)
	if res.Done != 1 || res.Unchanged != 19 || erp.received["5"] != 2 || erp.received["6"] != 1 {
		t.Fatalf("one changed record: %+v, ERP got 5 %d times, 6 %d times", res.Run, erp.received["5"], erp.received["6"])
	}
	at, _ := h.store.KeyAttempts(context.Background(), "orders", "6", 10)
	if len(at) < 2 || at[len(at)-1].Outcome != store.OutcomeUnchanged {
		t.Errorf("history of order 6: %+v, want its unchanged reads recorded", at)
	}

	resend := h.engineFor(strings.Replace(ordersRoute, "    batch: 100", "    batch: 100\n    resend_unchanged: true", 1), u)
	res, err := resend.Run(context.Background(), "orders", engine.RunOptions{Full: true})
	if err != nil || res.Done != 20 || res.Unchanged != 0 {
		t.Fatalf("resend_unchanged: %+v (%v); want all 20 sent", res.Run, err)
	}
	remapped := h.engineFor(strings.Replace(ordersRoute, "email: email", "email: upper(email)", 1), u)
	res, err = remapped.Run(context.Background(), "orders", engine.RunOptions{Full: true})
	if err != nil || res.Done != 20 {
		t.Fatalf("after a change of the mapping: %+v (%v); want all 20 sent in the new shape", res.Run, err)
	}
}

// An answer rule that says skip settles the record as skipped: it leaves
// the queue, is not retried and is no dead letter.
func TestAnswerRuleSkipSettlesSkipped(t *testing.T) {
	shop := newTestShop(t, 4)
	erp := newHookServer(t, func(call string, n int) int {
		if call == "PUT /orders/3" {
			return 409
		}
		return 0
	})
	yaml := strings.Replace(eachRoute, `http: { system: erp, method: PUT, path: "/orders/${key}" }`,
		`http: { system: erp, method: PUT, path: "/orders/${key}", answers: [ { when: "status == 409", outcome: skip } ] }`, 1)
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL})
	res := h.run("orders", false)
	if res.Done != 3 || res.Skipped != 1 || res.Dead != 0 || res.Failed != 0 || res.Status != store.RunSucceeded {
		t.Fatalf("run %+v; want 3 done, 1 skipped, succeeded", res.Run)
	}
	if c := h.counts("orders"); c != (store.Counts{}) {
		t.Errorf("queue %+v, want empty", c)
	}
	at, _ := h.store.KeyAttempts(context.Background(), "orders", "3", 10)
	if len(at) != 1 || at[0].Outcome != store.OutcomeSkipped || at[0].StatusCode != 409 {
		t.Errorf("history of order 3: %+v", at)
	}
}

// A source that fails (500) does not stop delivery: entries already
// queued and due retries are sent, the run is partially failed with the
// source's error, and the cursor stays.
func TestFailingSourceStillDelivers(t *testing.T) {
	shop, erp := newTestShop(t, 30), newTestERP(t)
	broken := true
	erp.fail = func(key string) string {
		if broken && key == "7" {
			return "ERP busy"
		}
		return ""
	}
	// Attempts to spare: on a loaded machine the first run's error pass
	// may retry order 7 several times, and it must not die of it.
	h := newHarness(t, strings.Replace(ordersRoute, "attempts: 3,", "attempts: 50,", 1), urls(shop, erp))
	if res := h.run("orders", false); res.Done != 29 {
		t.Fatalf("first run: %+v", res.Run)
	}
	ctx := context.Background()
	before, _ := h.store.Cursor(ctx, "orders")
	// Two records queued by hand (a webhook, a replay) wait too.
	if _, err := h.store.EnqueuePage(ctx, "orders", []store.NewEntry{
		{Key: "801", Payload: []byte(`{"id": 801, "email": "a@example.com", "total": 1, "status": "paid"}`)},
		{Key: "802", Payload: []byte(`{"id": 802, "email": "b@example.com", "total": 2, "status": "paid"}`)},
	}, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	broken = false
	shop.add(5)
	shop.brokenPage, shop.brokenStatus = 1, 500
	// Wait out order 7's backoff, however many attempts the first run
	// made (a loaded machine makes more of them), so its retry is due.
	for {
		at, ok, err := h.store.NextDue(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		if !ok || !at.After(time.Now()) {
			break
		}
		time.Sleep(time.Until(at) + time.Millisecond)
	}
	res, err := h.engine.Run(ctx, "orders", engine.RunOptions{})
	if err == nil || res.Status != store.RunPartiallyFailed || !strings.Contains(res.Error, "500") || res.SourceError == "" {
		t.Fatalf("run with a failing source: status %s, error %q, err %v; want partially_failed naming the 500", res.Status, res.Error, err)
	}
	if res.Done != 3 || erp.received["801"] != 1 || erp.received["802"] != 1 || erp.received["7"] != 1 {
		t.Fatalf("done %d; want the 2 queued records and the retry of order 7 delivered", res.Done)
	}
	if after, _ := h.store.Cursor(ctx, "orders"); after != before {
		t.Errorf("cursor moved %q → %q though the source failed", before, after)
	}
	shop.brokenPage = 0
	if res := h.run("orders", false); res.Done != 5 {
		t.Errorf("after the source recovers: done %d, want the 5 new orders", res.Done)
	}
}

// The max_iterations note says when the iterations went to waiting for
// retries rather than to new records.
func TestMaxIterationsNoteCountsWaitingForRetries(t *testing.T) {
	shop := newTestShop(t, 3)
	erp := newHookServer(t, func(call string, n int) int {
		if call == "PUT /orders/2" {
			return 503
		}
		return 0
	})
	yaml := strings.Replace(eachRoute, "    batch: 10", "    batch: 10\n    max_iterations: 4", 1)
	yaml = strings.Replace(yaml, "attempts: 5", "attempts: 50", 1)
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL},
		func(o *engine.Options) { o.RetryWait = time.Second })
	res := h.run("orders", false)
	if !res.Capped || res.Iterations != 4 || res.WaitIterations != 3 {
		t.Fatalf("capped %v after %d iterations, %d waiting; want capped after 4, 3 waiting", res.Capped, res.Iterations, res.WaitIterations)
	}
	if !strings.Contains(res.Error, "stopped after max_iterations (4), 3 of them waiting for retries") {
		t.Errorf("note %q", res.Error)
	}
}

// The end of a run applies the config's retention: attempts of delivered
// records older than the limit are pruned, dead letters kept for ever.
func TestRetentionIsAppliedAtTheEndOfRuns(t *testing.T) {
	shop := newTestShop(t, 3)
	erp := newHookServer(t, func(call string, n int) int {
		if call == "PUT /orders/2" {
			return 422
		}
		return 0
	})
	yaml := strings.Replace(eachRoute, "store: ferry.db\n", "store: ferry.db\nretention: { attempts: 1ms, runs: forever }\n", 1)
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL})
	h.run("orders", false)
	time.Sleep(20 * time.Millisecond)
	shop.add(1)
	h.run("orders", false)
	ctx := context.Background()
	if at, _ := h.store.KeyAttempts(ctx, "orders", "1", 10); len(at) != 0 {
		t.Errorf("attempts of delivered order 1 kept past retention: %+v", at)
	}
	if at, _ := h.store.KeyAttempts(ctx, "orders", "2", 10); len(at) == 0 {
		t.Error("the dead letter's attempts were pruned; dead letters are kept until discarded")
	}
	if runs, _ := h.store.Runs(ctx, "orders", 10); len(runs) != 2 {
		t.Errorf("%d runs kept, want both (runs: forever)", len(runs))
	}
}

// failingLocks is the real store whose LockRoute fails once the run
// holds its lock (a store that became unwritable).
type failingLocks struct {
	store.Store
	mu    sync.Mutex
	calls int
}

func (f *failingLocks) LockRoute(ctx context.Context, route, owner string, now, until time.Time, takeOver string) (string, bool, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if n > 1 {
		return "", false, errors.New("disk I/O error")
	}
	return f.Store.LockRoute(ctx, route, owner, now, until, takeOver)
}

// A run that cannot extend its run lock because the store fails stops
// too: it cannot know whether another worker takes the route over.
func TestRunStopsWhenItsLockCannotBeExtended(t *testing.T) {
	shop := newTestShop(t, 200)
	erp := newHookServer(t, func(call string, n int) int {
		time.Sleep(30 * time.Millisecond)
		return 0
	})
	h := newHarness(t, eachRoute, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL})
	eng := h.engineOn(&failingLocks{Store: h.store}, engine.Options{RetryWait: -1, LockFor: 150 * time.Millisecond})
	res, err := eng.Run(context.Background(), "orders", engine.RunOptions{})
	if err == nil || res.Status != store.RunFailed || !strings.Contains(res.Error, "could not extend the run lock") || !strings.Contains(res.Error, "disk I/O error") {
		t.Fatalf("status %s, error %q, err %v; want failed, saying the lock could not be extended and why", res.Status, res.Error, err)
	}
	if n := len(erp.all()); n >= 200 {
		t.Errorf("the run delivered all %d records without its lock", n)
	}
	if c := h.counts("orders"); c.Leased != 0 {
		t.Errorf("%d entries left leased", c.Leased)
	}
}

// pruneSpy is the real store, remembering the retention passes asked of it.
type pruneSpy struct {
	store.Store
	mu   sync.Mutex
	reqs []store.PruneRequest
}

func (p *pruneSpy) Prune(ctx context.Context, req store.PruneRequest) (store.PruneResult, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, req)
	p.mu.Unlock()
	return p.Store.Prune(ctx, req)
}

// Retention cutoffs follow the config (forever and defaults), and space
// is reclaimed at most once an hour, not after every run.
func TestRetentionCutoffsAndVacuumOncePerHour(t *testing.T) {
	shop, erp := newTestShop(t, 2), newTestERP(t)
	yaml := strings.Replace(ordersRoute, "store: ferry.db\n", "store: ferry.db\nretention: { runs: 7d, delivered: forever }\n", 1)
	h := newHarness(t, yaml, urls(shop, erp))
	spy := &pruneSpy{Store: h.store}
	eng := h.engineOn(spy, engine.Options{RetryWait: -1})
	before := time.Now()
	for i := 0; i < 2; i++ {
		if _, err := eng.Run(context.Background(), "orders", engine.RunOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(spy.reqs) != 2 {
		t.Fatalf("%d retention passes for 2 runs", len(spy.reqs))
	}
	first := spy.reqs[0]
	near := func(got time.Time, ago time.Duration) bool {
		want := before.Add(-ago)
		return got.After(want.Add(-time.Minute)) && got.Before(want.Add(time.Minute))
	}
	if !near(first.RunsBefore, 7*24*time.Hour) || !near(first.AttemptsBefore, config.DefaultRetainAttempts) {
		t.Errorf("cutoffs %+v, want runs 7 days and attempts 30 days ago", first)
	}
	if !first.DeliveredBefore.IsZero() || !first.DeadBefore.IsZero() {
		t.Errorf("cutoffs %+v, want delivered (forever) and dead letters (default forever) kept", first)
	}
	if !first.Vacuum || spy.reqs[1].Vacuum {
		t.Errorf("vacuum %v then %v, want the first pass only", first.Vacuum, spy.reqs[1].Vacuum)
	}
}

// A full run that finds every delivered record unchanged, and the one that
// died unchanged too, sends nothing and succeeds: the dead letter waits for
// ferry retry --dead (it is not sent, nor dead again, under a new key).
func TestUnchangedRunWithADeadRecordSendsNothing(t *testing.T) {
	shop := newTestShop(t, 4)
	erp := newHookServer(t, func(call string, n int) int {
		if call == "PUT /orders/3" {
			return 422
		}
		return 0
	})
	h := newHarness(t, eachRoute, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL})
	if res := h.run("orders", true); res.Done != 3 || res.Dead != 1 {
		t.Fatalf("first run: %+v; want 3 done, 1 dead", res.Run)
	}
	// The dead one is unchanged too: it waits for ferry retry --dead
	// instead of dying again under a new key every run.
	res := h.run("orders", true)
	if res.Done != 0 || res.Unchanged != 4 || res.Dead != 0 || res.Status != store.RunSucceeded {
		t.Fatalf("second run: %+v; want 4 unchanged, nothing dead again, succeeded", res.Run)
	}
	if c := h.counts("orders"); c.Dead != 1 {
		t.Errorf("counts = %+v, want the dead letter kept", c)
	}
}
