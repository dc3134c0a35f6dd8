package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
)

// recorder is a loopback HTTP server that remembers every request and
// answers 422 to paths in reject.
type recorder struct {
	mu     sync.Mutex
	calls  []string // "METHOD /path body"
	reject map[string]bool
	srv    *httptest.Server
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{reject: map[string]bool{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.calls = append(r.calls, req.Method+" "+req.URL.Path+" "+string(b))
		reject := r.reject[req.URL.Path]
		r.mu.Unlock()
		if reject {
			w.WriteHeader(422)
			w.Write([]byte(`{"error":"rejected"}`))
			return
		}
		w.WriteHeader(200)
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *recorder) matching(prefix string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

const branchRoute = `
store: ferry.db
systems:
  shop: { url: "{{SHOP}}" }
  erp: { url: "{{ERP}}" }
  desk: { url: "{{DESK}}" }
routes:
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id, paginate: { page: { size: 50 } } }
    steps:
      - switch:
          - when: total > 8
            to: review
            steps:
              - set: { flagged: true }
    destinations:
      default:
        http: { system: erp, method: POST, path: "/orders/${key}" }
      review:
        http: { system: erp, method: POST, path: "/review/${key}" }
    retry: { attempts: 2, backoff: 10ms, max_backoff: 10ms }
    after:
      - http: { system: shop, method: PUT, path: "/orders/${key}/status", body: { status: Delivered, total: "${total}" } }
    on_error:
      - http: { system: desk, method: POST, path: /tickets, body: { title: "order ${key}: ${error}" } }
`

func TestSwitchAfterAndOnError(t *testing.T) {
	shop := newTestShop(t, 10)
	erp, desk := newRecorder(t), newRecorder(t)
	erp.reject["/orders/3"] = true
	// The shop's status endpoint is the test shop itself; it answers 200 to PUTs.
	h := newHarness(t, branchRoute, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL, "DESK": desk.srv.URL},
		func(o *engine.Options) { o.RetryWait = time.Second })
	res := h.run("orders", false)

	if res.Done != 9 || res.Dead != 1 {
		t.Fatalf("done %d dead %d, want 9 and 1", res.Done, res.Dead)
	}
	review := erp.matching("POST /review/")
	if len(review) != 2 || !strings.Contains(review[0], `"flagged":true`) {
		t.Fatalf("review destination got %v, want orders 9 and 10 flagged", review)
	}
	if n := len(erp.matching("POST /orders/")); n != 8 {
		t.Fatalf("default destination got %d calls, want 8 (7 delivered + 1 rejected)", n)
	}
	shop.mu.Lock()
	var statusPuts []string
	for _, r := range shop.requests {
		if strings.HasSuffix(r, "/status") {
			statusPuts = append(statusPuts, r)
		}
	}
	shop.mu.Unlock()
	if len(statusPuts) != 9 {
		t.Fatalf("after: %d status updates at the shop, want 9 (every delivered order)", len(statusPuts))
	}
	tickets := desk.matching("POST /tickets")
	if len(tickets) != 1 {
		t.Fatalf("on_error: %d tickets, want 1", len(tickets))
	}
	var ticket map[string]string
	json.Unmarshal([]byte(strings.TrimPrefix(tickets[0], "POST /tickets ")), &ticket)
	if !strings.HasPrefix(ticket["title"], "order 3: ") || !strings.Contains(ticket["title"], "422") {
		t.Fatalf("ticket %q, want it to name order 3 and the 422", ticket["title"])
	}
	// A 422 cannot be helped by retrying: one attempt, then dead.
	dead, _ := h.store.DeadLetters(t.Context(), store.DeadFilter{Route: "orders"})
	if len(dead) != 1 || dead[0].Attempts != 1 {
		t.Fatalf("dead letters %+v, want order 3 after 1 attempt", dead)
	}
}

// A failing after: operation is retried on its own: the record was
// delivered once and is not delivered again; the operation carries the
// same Idempotency-Key on every try and its attempts are in the key's
// history.
func TestFailingAfterIsRetriedOnItsOwn(t *testing.T) {
	shop := newTestShop(t, 3)
	erp, desk := newRecorder(t), newHookServer(t, func(call string, n int) int {
		if call == "PUT /status/2" && n <= 2 {
			return 503
		}
		return 0
	})
	yaml := strings.Replace(branchRoute, `path: "/orders/${key}/status"`, `path: "/status/${key}"`, 1)
	yaml = strings.Replace(yaml, "system: shop, method: PUT", "system: desk, method: PUT", 1)
	yaml = strings.Replace(yaml, "attempts: 2, backoff: 10ms", "attempts: 5, backoff: 10ms", 1)
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL, "DESK": desk.srv.URL},
		func(o *engine.Options) { o.RetryWait = time.Second })
	res := h.run("orders", false)
	if res.Done != 3 || res.Dead != 0 || res.Failed != 0 {
		t.Fatalf("done %d dead %d failed %d, want 3, 0, 0: the records were delivered", res.Done, res.Dead, res.Failed)
	}
	if n := len(erp.matching("POST /orders/2")); n != 1 {
		t.Errorf("order 2 reached the ERP %d times, want once", n)
	}
	calls := desk.of("PUT /status/2")
	if len(calls) != 3 || calls[0].Key == "" || calls[1].Key != calls[0].Key || calls[2].Key != calls[0].Key {
		t.Fatalf("after for order 2: %+v, want 3 tries with one Idempotency-Key", calls)
	}
	if res.Operations.Done != 3 || res.Operations.Failed != 2 || res.Status != store.RunSucceeded {
		t.Errorf("operations %+v, status %s; want 3 done after 2 failed tries, succeeded", res.Operations, res.Status)
	}
	// Waiting for the operation's retries takes an iteration each (none
	// when a slow machine made them due within the first), and the run
	// ends once nothing is left waiting.
	if res.Capped || res.Iterations > 3 || (res.Iterations > 1 && res.WaitIterations >= res.Iterations) {
		t.Errorf("iterations %d (%d waiting), capped %v; want at most 3 (1 or 2 waiting), not capped", res.Iterations, res.WaitIterations, res.Capped)
	}
	at, _ := h.store.KeyAttempts(t.Context(), "orders", "2", 20)
	var ops []string
	for _, a := range at {
		if a.Op != "" {
			ops = append(ops, a.Op+":"+string(a.Outcome))
			if a.IdempotencyKey == "" || a.Version == 0 || a.EntryID == 0 {
				t.Errorf("operation attempt %+v lacks its key, version or entry", a)
			}
		}
	}
	if strings.Join(ops, " ") != "after[0]:error after[0]:error after[0]:done" {
		t.Errorf("history of order 2's after: %v", ops)
	}
	if c := h.counts("orders"); c.Outbox != 0 {
		t.Errorf("%d operations still owed", c.Outbox)
	}
}

// An after: operation that cannot succeed (422) is kept dead in the
// outbox, visible; the record stays delivered.
func TestRejectedAfterIsKeptDead(t *testing.T) {
	shop := newTestShop(t, 3)
	erp, desk := newRecorder(t), newRecorder(t)
	yaml := strings.Replace(branchRoute, `path: "/orders/${key}/status"`, `path: "/status/${key}"`, 1)
	yaml = strings.Replace(yaml, "system: shop, method: PUT", "system: desk, method: PUT", 1)
	desk.reject["/status/2"] = true
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL, "DESK": desk.srv.URL})
	res := h.run("orders", false)
	if res.Done != 3 || res.Dead != 0 || res.Operations.Dead != 1 || res.Status != store.RunPartiallyFailed {
		t.Fatalf("done %d dead %d, operations %+v, status %s; want 3 delivered, 1 dead operation, partially_failed", res.Done, res.Dead, res.Operations, res.Status)
	}
	items, _ := h.store.Outbox(t.Context(), "orders", 10)
	if len(items) != 1 || !items[0].Dead || items[0].Key != "2" || !strings.Contains(items[0].LastError, "422") {
		t.Fatalf("outbox %+v, want order 2's after kept dead with the 422", items)
	}
	if n := len(erp.matching("POST /orders/2")); n != 1 {
		t.Errorf("order 2 reached the ERP %d times, want once", n)
	}
}

// after[1] runs only once after[0] succeeded, and a retry resumes at the
// operation that failed.
func TestAfterOperationsRunInOrder(t *testing.T) {
	shop := newTestShop(t, 2)
	erp := newRecorder(t)
	desk := newHookServer(t, func(call string, n int) int {
		if call == "PUT /a/1" && n == 1 {
			return 503
		}
		if call == "PUT /b/2" && n == 1 {
			return 503
		}
		return 0
	})
	yaml := `
store: ferry.db
systems:
  shop: { url: "{{SHOP}}" }
  erp: { url: "{{ERP}}" }
  desk: { url: "{{DESK}}" }
routes:
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id, paginate: { page: { size: 50 } } }
    destinations:
      default:
        http: { system: erp, method: POST, path: "/orders/${key}" }
    retry: { attempts: 5, backoff: 10ms, max_backoff: 10ms }
    after:
      - http: { system: desk, method: PUT, path: "/a/${key}" }
      - http: { system: desk, method: PUT, path: "/b/${key}" }
`
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL, "DESK": desk.srv.URL},
		func(o *engine.Options) { o.RetryWait = time.Second })
	res := h.run("orders", false)
	if res.Done != 2 || res.Operations.Done != 2 {
		t.Fatalf("done %d, operations %+v", res.Done, res.Operations)
	}
	var seq1, seq2 []string
	for _, c := range desk.all() {
		switch {
		case strings.HasSuffix(c.Call, "/1"):
			seq1 = append(seq1, fmt.Sprintf("%s %d", c.Call, c.Status))
		case strings.HasSuffix(c.Call, "/2"):
			seq2 = append(seq2, fmt.Sprintf("%s %d", c.Call, c.Status))
		}
	}
	// Order 1: a fails, nothing else runs; the retry runs a, then b.
	if got := strings.Join(seq1, ", "); got != "PUT /a/1 503, PUT /a/1 200, PUT /b/1 200" {
		t.Errorf("order 1: %s", got)
	}
	// Order 2: a succeeds, b fails; the retry runs b only.
	if got := strings.Join(seq2, ", "); got != "PUT /a/2 200, PUT /b/2 503, PUT /b/2 200" {
		t.Errorf("order 2: %s", got)
	}
	if a, b := desk.of("PUT /a/1"), desk.of("PUT /b/1"); a[0].Key != a[1].Key || a[0].Key == b[0].Key {
		t.Errorf("operation keys: a %q %q, b %q; want a's repeated and b's its own", a[0].Key, a[1].Key, b[0].Key)
	}
}

// A worker that dies after settling a delivered record but before its
// after: operation finished: the next worker performs the operation it
// owed (the "delivered at the ERP but never marked at the shop").
func TestOwedAfterSurvivesADeadWorker(t *testing.T) {
	shop := newTestShop(t, 1)
	erp := newRecorder(t)
	arrived := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var keys []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		first := len(keys) == 1
		mu.Unlock()
		if first {
			// The first worker "dies" while its operation is in flight.
			once.Do(func() { close(arrived) })
			<-release
			return
		}
		w.WriteHeader(200)
	}))
	t.Cleanup(hook.Close)
	t.Cleanup(func() { close(release) })
	yaml := `
store: ferry.db
systems:
  shop: { url: "{{SHOP}}" }
  erp: { url: "{{ERP}}" }
  hook: { url: "{{HOOK}}" }
routes:
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id, paginate: { page: { size: 50 } } }
    destinations:
      default:
        http: { system: erp, method: POST, path: "/orders/${key}" }
    retry: { attempts: 3, backoff: 10ms, max_backoff: 10ms }
    after:
      - http: { system: hook, method: PUT, path: "/orders/${key}/status" }
`
	u := map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL, "HOOK": hook.URL}
	host, _ := os.Hostname()
	deadOwner := fmt.Sprintf("%s:%d:dying", host, 1<<22+777)
	h := newHarness(t, yaml, u, func(o *engine.Options) { o.Owner = deadOwner })
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	firstDone := make(chan engine.Result, 1)
	go func() {
		res, _ := h.engine.Run(ctx, "orders", engine.RunOptions{})
		firstDone <- res
	}()
	<-arrived
	// The record is settled delivered; its operation is owed, leased by a
	// worker whose process is gone. A new worker starts on the same store.
	if c := h.counts("orders"); c.Outbox != 1 {
		t.Fatalf("queue %+v while the operation is in flight, want it owed in the outbox", c)
	}
	second := h.engineFor(yaml, u)
	res, err := second.Run(context.Background(), "orders", engine.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Operations.Done != 1 || res.Done != 0 {
		t.Fatalf("second worker: done %d, operations %+v; want the owed operation performed, nothing delivered again", res.Done, res.Operations)
	}
	mu.Lock()
	got := append([]string(nil), keys...)
	mu.Unlock()
	if len(got) != 2 || got[0] != got[1] {
		t.Errorf("operation keys %v, want the same key on both tries", got)
	}
	if n := len(erp.matching("POST /orders/1")); n != 1 {
		t.Errorf("order 1 reached the ERP %d times, want once", n)
	}
	stop()
	<-firstDone
	if c := h.counts("orders"); c.Outbox != 0 {
		t.Errorf("%d operations still owed", c.Outbox)
	}
}

// A record failing a step never reaches a destination: it becomes a dead
// letter at once (retrying cannot change the result) and on_error runs.
func TestStepFailureIsDeadAtOnceWithOnError(t *testing.T) {
	shop := newTestShop(t, 6)
	erp, desk := newRecorder(t), newRecorder(t)
	yaml := strings.Replace(branchRoute, "    steps:\n", "    steps:\n      - validate: { if: 'id != 4', message: \"order ${id} is blocked\" }\n", 1)
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL, "DESK": desk.srv.URL})
	res := h.run("orders", false)
	if res.Done != 5 || res.Dead != 1 {
		t.Fatalf("done %d dead %d, want 5 and 1", res.Done, res.Dead)
	}
	dead, _ := h.store.DeadLetters(t.Context(), store.DeadFilter{Route: "orders"})
	if len(dead) != 1 || dead[0].Key != "4" || dead[0].Attempts != 1 || dead[0].LastError != "order 4 is blocked" {
		t.Fatalf("dead letters %+v", dead)
	}
	if n := len(erp.matching("POST /orders/4")); n != 0 {
		t.Fatalf("the blocked order reached the ERP %d times", n)
	}
	tickets := desk.matching("POST /tickets")
	if len(tickets) != 1 || !strings.Contains(tickets[0], "order 4: order 4 is blocked") {
		t.Fatalf("tickets %v", tickets)
	}
}
