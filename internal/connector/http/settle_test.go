package httpconn

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
)

// positionalServer answers a batch with n results in request order;
// records whose total is above 5 are rejected.
func positionalServer(t *testing.T, n func(records int) int) *Systems {
	t.Helper()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		var recs []map[string]any
		if err := json.NewDecoder(r.Body).Decode(&recs); err != nil {
			t.Errorf("body: %v", err)
		}
		var results []map[string]any
		for i := range n(len(recs)) {
			status := "ok"
			if i < len(recs) && recs[i]["total"].(float64) > 5 {
				status = "rejected"
			}
			results = append(results, map[string]any{"status": status})
		}
		writeJSON(w, map[string]any{"results": results})
	})
	return systemsFor(t, srv.URL)
}

// TestPositionalResultsLengthMismatch: an answer array by position whose
// length differs from the batch settles nothing: every record fails
// retryably as unknown, naming the system and both counts. Before, a
// short array shifted the results, marking rejected records done and
// accepted ones failed.
func TestPositionalResultsLengthMismatch(t *testing.T) {
	tests := []struct {
		name    string
		results func(int) int
		want    string // "" = settled per record
	}{
		{"short", func(n int) int { return n - 1 }, `system "api" answered 9 results for 10 records`},
		{"long", func(n int) int { return n + 1 }, `system "api" answered 11 results for 10 records`},
		{"empty", func(int) int { return 0 }, `system "api" answered 0 results for 10 records`},
		{"exact", func(n int) int { return n }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDestination(t, positionalServer(t, tt.results), &DestinationConfig{System: "api", Body: "array",
				Results: &Results{Path: "results", OK: `status == "ok"`}})
			res := send(t, d, deliveries(10))
			for i, r := range res {
				if tt.want == "" {
					if wantOK := float64(i)+0.5 <= 5; r.OK != wantOK || r.Unknown {
						t.Errorf("record %d (total %v): %+v", i, float64(i)+0.5, r)
					}
					continue
				}
				if r.OK || !r.Retryable || !r.Unknown || !strings.Contains(r.Error, tt.want) {
					t.Errorf("record %d: %+v, want a retryable unknown failure %q", i, r, tt.want)
				}
			}
		})
	}
}

// TestUnknownOutcomes: Unknown is set exactly when the request may have
// been applied although no usable answer came back.
func TestUnknownOutcomes(t *testing.T) {
	results := &Results{Path: "results"}
	tests := []struct {
		name      string
		handler   http.HandlerFunc // nil: nothing listens
		results   *Results
		body      string
		wantOK    bool
		wantRetry bool
		unknown   bool
	}{
		{name: "2xx", handler: func(w http.ResponseWriter, r *http.Request) {}, wantOK: true},
		{name: "timeout", handler: func(w http.ResponseWriter, r *http.Request) { hang(r) }, wantRetry: true, unknown: true},
		{name: "connection dropped mid-answer", handler: dropMidAnswer, wantRetry: true, unknown: true},
		{name: "500", handler: status(500), wantRetry: true, unknown: true},
		{name: "503", handler: status(503), wantRetry: true, unknown: true},
		{name: "429 (not applied)", handler: status(429), wantRetry: true},
		{name: "408 (not applied)", handler: status(408), wantRetry: true},
		{name: "422", handler: status(422)},
		{name: "404", handler: status(404)},
		{name: "2xx not JSON where results were expected", handler: text(200, "<html>ok</html>"), results: results, wantRetry: true, unknown: true},
		{name: "2xx empty where results were expected", handler: text(204, ""), results: results, wantRetry: true, unknown: true},
		{name: "2xx short results", handler: text(200, `{"results":[{}]}`), results: results, wantRetry: true, unknown: true},
		{name: "connection refused (not sent)", wantRetry: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := refusedURL(t)
			if tt.handler != nil {
				url = serve(t, tt.handler).URL
			}
			s := systemsFor(t, url, func(c *SystemConfig) { c.Timeout = config.Duration(100 * time.Millisecond) })
			d := newDestination(t, s, &DestinationConfig{System: "api", Body: "array", Results: tt.results})
			for i, r := range send(t, d, deliveries(2)) {
				if r.OK != tt.wantOK || r.Retryable != tt.wantRetry || r.Unknown != tt.unknown {
					t.Errorf("record %d: OK %v Retryable %v Unknown %v (%s), want OK %v Retryable %v Unknown %v",
						i, r.OK, r.Retryable, r.Unknown, r.Error, tt.wantOK, tt.wantRetry, tt.unknown)
				}
			}
		})
	}
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(code) }
}

func text(code int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(code)
		io.WriteString(w, body)
	}
}

// dropMidAnswer promises a body and hangs up halfway through it.
func dropMidAnswer(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	conn, buf, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	buf.WriteString("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"results\": [")
	buf.Flush()
	conn.Close()
}

// TestBatchIdempotencyKeyIgnoresOrder: the same records leased in another
// order carry the same batch key; another composition another key.
func TestBatchIdempotencyKeyIgnoresOrder(t *testing.T) {
	var mu sync.Mutex
	var keys []string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
	})
	d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api", Body: "array"})
	batch := deliveries(5)
	reversed := make([]connector.Delivery, len(batch))
	for i := range batch {
		reversed[len(batch)-1-i] = batch[i]
	}
	send(t, d, batch)
	send(t, d, reversed)
	send(t, d, batch[:4])
	if keys[0] == "" || keys[0] != keys[1] {
		t.Errorf("keys of one composition in two orders: %q and %q, want the same", keys[0], keys[1])
	}
	if keys[2] == keys[0] {
		t.Errorf("a batch of other records carries the same key %q", keys[2])
	}
}

// TestIdempotencyKeyVariable: each record's own key is ${idempotency_key}
// in templates (the engine sets it in Vars; without, the delivery's key).
func TestIdempotencyKeyVariable(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got[r.URL.Path] = r.Header.Get("X-Record-Key")
		mu.Unlock()
	})
	s := systemsFor(t, srv.URL)
	d := newDestination(t, s, &DestinationConfig{System: "api", Path: "/each/${key}", Headers: map[string]string{"X-Record-Key": "${idempotency_key}"}})
	batch := deliveries(2)
	batch[1].Vars["idempotency_key"] = "from-vars"
	send(t, d, batch)
	op, err := NewOperation(s, &OperationConfig{System: "api", Path: "/op/${key}", Headers: map[string]string{"X-Record-Key": "${idempotency_key}"}})
	if err != nil {
		t.Fatal(err)
	}
	if r := op.Do(context.Background(), batch[0], nil); !r.OK {
		t.Fatal(r.Error)
	}
	want := map[string]string{"/each/K0": "idem-K0", "/each/K1": "from-vars", "/op/K0": "idem-K0"}
	for path, key := range want {
		if got[path] != key {
			t.Errorf("%s: X-Record-Key %q, want %q", path, got[path], key)
		}
	}
}

// TestArrayRefusesUnencodableRecordAlone: a record JSON cannot encode
// (NaN, ±Inf) fails on its own, not retryably; the rest are sent.
func TestArrayRefusesUnencodableRecordAlone(t *testing.T) {
	var sent map[string][]map[string]any
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if err := json.NewDecoder(r.Body).Decode(&sent); err != nil {
			t.Errorf("body: %v", err)
		}
	})
	d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api", Body: "array", Wrap: "orders"})
	batch := deliveries(4)
	batch[1].Record["total"] = math.NaN()
	batch[3].Record["total"] = math.Inf(-1)
	res := send(t, d, batch)
	for i, r := range res {
		bad := i == 1 || i == 3
		if bad && (r.OK || r.Retryable || r.Unknown || !strings.Contains(r.Error, "encode record as JSON")) {
			t.Errorf("record %d: %+v", i, r)
		}
		if !bad && !r.OK {
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if orders := sent["orders"]; len(orders) != 2 || orders[0]["external_id"] != "K0" || orders[1]["external_id"] != "K2" {
		t.Errorf("sent %v, want K0 and K2", sent)
	}
}

// TestBatchIdempotencyKeyShape: 32 hex characters, order-free, keys
// separated so that they cannot run together.
func TestBatchIdempotencyKeyShape(t *testing.T) {
	k := batchIdempotencyKey([]string{"b", "a"})
	if len(k) != 32 || k != batchIdempotencyKey([]string{"a", "b"}) || k == batchIdempotencyKey([]string{"a", "b", "c"}) {
		t.Fatalf("key %q", k)
	}
	if batchIdempotencyKey([]string{"ab", "c"}) == batchIdempotencyKey([]string{"a", "bc"}) {
		t.Fatal("keys run together")
	}
}
