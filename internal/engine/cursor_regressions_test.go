package engine_test

import (
	"context"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/engine"

	"github.com/ferry-dev/ferry/internal/store"
)

// An API whose updated_since means "at or after" (the engine supports it:
// see advanced in execute), and a bulk import that gave collect_limit or
// more records one timestamp. Every read restarts at that timestamp, reads
// the group again, reaches the limit inside it and stops: the run loops
// until max_iterations and the records after the group are never read, in
// this run or any later one.
func TestInclusiveSourceGroupLargerThanCollectLimitDoesNotLoop(t *testing.T) {
	shop, erp := newTestShop(t, 150), newTestERP(t)
	shop.mu.Lock()
	shop.inclusive = true
	for i := 0; i < 120; i++ {
		shop.orders[i].UpdatedAt = stamp(1)
	}
	shop.mu.Unlock()
	yaml := strings.Replace(ordersRoute, "    batch: 100", "    batch: 100\n    collect_limit: 100", 1)
	h := newHarness(t, yaml, urls(shop, erp))
	res := h.run("orders", false)
	res2 := h.run("orders", false)
	if got := erp.receivedCount(); got != 150 {
		t.Errorf("ERP got %d of 150 orders after two runs (run1: iterations %d capped %v; run2: iterations %d capped %v)",
			got, res.Iterations, res.Capped, res2.Iterations, res2.Capped)
	}
	if res.Capped {
		t.Errorf("run 1 stopped at max_iterations (%d iterations, %d source requests)", res.Iterations, shop.requestCount())
	}
}

// A cursor route whose first records have no cursor value (updated_at
// empty, sorted first, as MySQL sorts NULLs) and more of them than
// collect_limit: finishing keeps the "group" of empty values, stops at
// the first real value with more set, but marks.max is "" so the cursor
// and readPos never move: every iteration reads the same records again.
func TestLeadingRecordsWithoutCursorBeyondCollectLimitAreRead(t *testing.T) {
	shop, erp := newTestShop(t, 150), newTestERP(t)
	shop.mu.Lock()
	for i := 0; i < 120; i++ {
		shop.orders[i].UpdatedAt = ""
	}
	shop.mu.Unlock()
	yaml := strings.Replace(ordersRoute, "    batch: 100", "    batch: 100\n    collect_limit: 100", 1)
	h := newHarness(t, yaml, urls(shop, erp))
	res := h.run("orders", false)
	if got := erp.receivedCount(); got != 150 || res.Capped {
		t.Errorf("ERP got %d of 150 orders; run capped %v after %d iterations, %d source requests",
			got, res.Capped, res.Iterations, shop.requestCount())
	}
}

// bigIDSource serves records whose ids are integers beyond 2^53 (snowflake
// style), ascending, with an exclusive since_id filter compared exactly.
func bigIDSource(t *testing.T, base *big.Int, n int) (*httptest.Server, *int) {
	var mu sync.Mutex
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		q := r.URL.Query()
		page, _ := strconv.Atoi(q.Get("page"))
		size, _ := strconv.Atoi(q.Get("size"))
		if page < 1 {
			page = 1
		}
		var since *big.Int
		if s := q.Get("since_id"); s != "" {
			since, _ = new(big.Int).SetString(s, 10)
		}
		var ids []string
		for i := 1; i <= n; i++ {
			id := new(big.Int).Add(base, big.NewInt(int64(i)))
			if since == nil || id.Cmp(since) > 0 {
				ids = append(ids, id.String())
			}
		}
		from := min((page-1)*size, len(ids))
		to := min(from+size, len(ids))
		var recs []string
		for _, id := range ids[from:to] {
			recs = append(recs, fmt.Sprintf(`{"id":%s,"name":"n%s"}`, id, id))
		}
		fmt.Fprintf(w, `{"data":[%s]}`, strings.Join(recs, ","))
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

// cursor: id with ids beyond 2^53. cursorLess compares them as float64,
// so ids 128 apart compare equal: marks.max never moves inside one float
// bucket, the read stops at the collect_limit on a "group" that is one
// record, readPos stays put, and the run loops until max_iterations
// without ever reading the rest.
func TestBigIntegerCursorWithCollectLimit(t *testing.T) {
	base := new(big.Int).Lsh(big.NewInt(1), 60) // ids 2^60+1 .. 2^60+150
	src, requests := bigIDSource(t, base, 150)
	dst := newRecorder(t)
	yaml := shopAndERP + `
  orders:
    source:
      http:
        system: shop
        path: /orders
        query: { since_id: "${cursor}" }
        records: data
        key: id
        cursor: id
        paginate: { page: { size: 50 } }
    collect_limit: 100
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/orders/${key}" }
`
	h := newHarness(t, yaml, map[string]string{"SHOP": src.URL, "ERP": dst.srv.URL})
	res := h.run("orders", false)
	delivered := map[string]bool{}
	for _, c := range dst.matching("PUT ") {
		delivered[strings.Fields(c)[1]] = true
	}
	cur, _ := h.store.Cursor(context.Background(), "orders")
	last := new(big.Int).Add(base, big.NewInt(150)).String()
	if len(delivered) != 150 || res.Capped || cur != last {
		t.Errorf("delivered %d of 150 distinct ids; capped %v after %d iterations and %d source requests; cursor %s, want %s",
			len(delivered), res.Capped, res.Iterations, *requests, cur, last)
	}
}

// A big id (beyond 2^53) passes exactly on the first attempt (json.Number
// from the source), but a retry re-decodes the queued payload with
// json.Unmarshal into float64 (process.go deliver), so the retry sends a
// different, rounded id.
func TestBigIntegerSurvivesRetry(t *testing.T) {
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"data":[{"id":"a","account":9007199254740993}]}`))
	}))
	t.Cleanup(src.Close)
	var mu sync.Mutex
	var bodies []string
	dst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, string(b))
		if len(bodies) == 1 {
			w.WriteHeader(503)
		}
	}))
	t.Cleanup(dst.Close)
	yaml := shopAndERP + `
  orders:
    source:
      http: { system: shop, path: /orders, records: data, key: id }
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/orders/${key}" }
    retry: { attempts: 3, backoff: 1ms, max_backoff: 1ms }
`
	h := newHarness(t, yaml, map[string]string{"SHOP": src.URL, "ERP": dst.URL})
	h.run("orders", false)
	h.run("orders", false) // the retry, if the first run did not wait for it
	c := h.counts("orders")
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) < 2 {
		t.Fatalf("destination got %d requests, want the 503 and its retry (queue %+v)", len(bodies), c)
	}
	for i, b := range bodies {
		if !strings.Contains(b, "9007199254740993") {
			t.Errorf("request %d sent %s: the id 9007199254740993 was rounded", i+1, b)
		}
	}
}

// Two versions of one key leased at once (the record changed while the
// source was paged: page 1 and page 2 each hand one to the sender) and
// the worker dies, or the run is cancelled, before either is settled.
// ReleaseLeases turns both back to P in one UPDATE, which violates the
// unique index entries_queued_key (route, key) WHERE status IN ('P','E'):
// the release fails, and so does every later run of the route, for good.
func TestReleaseTwoLeasedVersionsOfOneKey(t *testing.T) {
	shop, erp := newTestShop(t, 3), newTestERP(t)
	h := newHarness(t, ordersRoute, urls(shop, erp))
	ctx := context.Background()
	past := time.Now().Add(-time.Hour)
	for v := 1; v <= 2; v++ {
		p := []byte(fmt.Sprintf(`{"id":1,"email":"c1@example.com","total":%d,"status":"paid","updated_at":%q}`, v, stamp(1)))
		if _, _, err := h.store.EnqueueLeased(ctx, "orders", []store.NewEntry{{Key: "1", Payload: p}}, nil, past, "gone-worker", past.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	res, err := h.engine.Run(ctx, "orders", engine.RunOptions{})
	if err != nil {
		t.Fatalf("run after a worker died holding two versions of key 1: %v (status %s)", err, res.Status)
	}
	if got := erp.receivedCount(); got != 3 {
		t.Errorf("ERP got %d of 3 orders", got)
	}
}

// Timestamps written by Go's time.RFC3339Nano drop trailing zeros, so
// "…:00.5Z" is later than "…:00Z" but sorts before it as a string. After a
// page ending in a .5Z record, marks.see takes .5Z for the safe mark (a
// string below the max "…:00Z") and the page's transaction stores it,
// although its group continues on the next page. A source error on that
// next page, and the following run asks for records after .5Z: the rest of
// the group is never read.
func TestFractionalTimestampGroupSurvivesInterruption(t *testing.T) {
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	stamps := []time.Time{base, base.Add(500 * time.Millisecond), base.Add(500 * time.Millisecond), base.Add(time.Second)}
	var mu sync.Mutex
	broken := true
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		q := r.URL.Query()
		page, _ := strconv.Atoi(q.Get("page"))
		if page < 1 {
			page = 1
		}
		if page == 2 && broken {
			w.WriteHeader(400) // not retried: the read fails
			return
		}
		var since time.Time
		if s := q.Get("updated_since"); s != "" {
			since, _ = time.Parse(time.RFC3339Nano, s)
		}
		var recs []string
		for i, ts := range stamps {
			if ts.After(since) || since.IsZero() {
				recs = append(recs, fmt.Sprintf(`{"id":%d,"updated_at":%q}`, i+1, ts.Format(time.RFC3339Nano)))
			}
		}
		from := min((page-1)*2, len(recs))
		to := min(from+2, len(recs))
		fmt.Fprintf(w, `{"data":[%s]}`, strings.Join(recs[from:to], ","))
	}))
	t.Cleanup(src.Close)
	dst := newRecorder(t)
	yaml := shopAndERP + `
  orders:
    source:
      http:
        system: shop
        path: /orders
        query: { updated_since: "${cursor}" }
        records: data
        key: id
        cursor: updated_at
        paginate: { page: { size: 2 } }
    destinations:
      default:
        http: { system: erp, method: PUT, path: "/orders/${key}" }
`
	h := newHarness(t, yaml, map[string]string{"SHOP": src.URL, "ERP": dst.srv.URL})
	if _, err := h.engine.Run(context.Background(), "orders", engine.RunOptions{}); err == nil {
		t.Fatal("run 1 should fail on page 2")
	}
	cur, _ := h.store.Cursor(context.Background(), "orders")
	mu.Lock()
	broken = false
	mu.Unlock()
	h.run("orders", false)
	delivered := map[string]bool{}
	for _, c := range dst.matching("PUT ") {
		delivered[strings.Fields(c)[1]] = true
	}
	if !delivered["/orders/3"] {
		t.Errorf("order 3 (same timestamp as order 2, on the page that failed) was never delivered; cursor after the failed run: %s; delivered %v", cur, delivered)
	}
}
