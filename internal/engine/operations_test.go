package engine_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
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
	waitsForStore(t, h.store, 4)
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

func TestFailingAfterOperationRetriesTheEntry(t *testing.T) {
	shop := newTestShop(t, 3)
	erp, desk := newRecorder(t), newRecorder(t)
	yaml := strings.Replace(branchRoute, `path: "/orders/${key}/status"`, `path: "/status/${key}"`, 1)
	yaml = strings.Replace(yaml, "system: shop, method: PUT", "system: desk, method: PUT", 1)
	desk.reject["/status/2"] = true
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL, "DESK": desk.srv.URL},
		func(o *engine.Options) { o.RetryWait = time.Second })
	waitsForStore(t, h.store, 4)
	res := h.run("orders", false)
	if res.Done != 2 || res.Dead != 1 {
		t.Fatalf("done %d dead %d, want 2 and 1", res.Done, res.Dead)
	}
	dead, _ := h.store.DeadLetters(t.Context(), store.DeadFilter{Route: "orders"})
	if len(dead) != 1 || !strings.Contains(dead[0].LastError, "delivered, but after[0] failed") {
		t.Fatalf("dead letter %+v, want the after operation's failure", dead)
	}
}

// A record failing a step never reaches a destination: it becomes a dead
// letter at once (retrying cannot change the result) and on_error runs.
func TestStepFailureIsDeadAtOnceWithOnError(t *testing.T) {
	shop := newTestShop(t, 6)
	erp, desk := newRecorder(t), newRecorder(t)
	yaml := strings.Replace(branchRoute, "    steps:\n", "    steps:\n      - validate: { if: 'id != 4', message: \"order ${id} is blocked\" }\n", 1)
	h := newHarness(t, yaml, map[string]string{"SHOP": shop.srv.URL, "ERP": erp.srv.URL, "DESK": desk.srv.URL})
	waitsForStore(t, h.store, 4)
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
