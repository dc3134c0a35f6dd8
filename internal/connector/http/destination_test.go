package httpconn

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
)

// deliveries builds n deliveries keyed "K0".."Kn-1".
func deliveries(n int) []connector.Delivery {
	out := make([]connector.Delivery, n)
	for i := range out {
		key := fmt.Sprintf("K%d", i)
		out[i] = connector.Delivery{
			EntryID: int64(i + 1), Key: key, IdempotencyKey: "idem-" + key,
			Record: map[string]any{"external_id": key, "total": float64(i) + 0.5},
			Vars:   map[string]any{"key": key, "entry": map[string]any{"id": int64(i + 1)}},
		}
	}
	return out
}

func newDestination(t *testing.T, s *Systems, cfg *DestinationConfig) *Destination {
	t.Helper()
	d, err := NewDestination(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func send(t *testing.T, d *Destination, batch []connector.Delivery) []connector.Result {
	t.Helper()
	res, err := d.Send(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(batch) {
		t.Fatalf("%d results for %d deliveries", len(res), len(batch))
	}
	return res
}

// TestDestinationEach: one request per record, path and headers rendered
// per record, Idempotency-Key and Content-Type set, at most 4 in flight,
// results in the batch's order.
func TestDestinationEach(t *testing.T) {
	var inFlight, maxInFlight atomic.Int32
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(10 * time.Millisecond)
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Errorf("body: %v", err)
		}
		key := body["external_id"].(string)
		want := "/orders/" + key + "/status"
		if r.Method != http.MethodPut || r.URL.Path != want || r.Header.Get("Idempotency-Key") != "idem-"+key ||
			r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Entry") != strings.TrimPrefix(key, "K") {
			t.Errorf("%s %s headers %v", r.Method, r.URL, r.Header)
		}
		mu.Lock()
		seen[key] = true
		mu.Unlock()
		if key == "K7" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			w.Write([]byte(`{"error": "total too small"}`))
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"id": %q}`, key)
	})
	d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api", Method: "put", Path: "/orders/${key}/status",
		Headers: map[string]string{"X-Entry": "${entry.id - 1}"}})
	batch := deliveries(12)
	res := send(t, d, batch)
	for i, r := range res {
		key := batch[i].Key
		if key == "K7" {
			if r.OK || r.Retryable || r.StatusCode != 422 || r.Error != `HTTP 422 Unprocessable Entity: {"error": "total too small"}` {
				t.Errorf("K7: %+v", r)
			}
			continue
		}
		if !r.OK || r.StatusCode != 201 || r.Response != fmt.Sprintf(`{"id": %q}`, key) ||
			r.Request != fmt.Sprintf(`{"external_id":%q,"total":%v}`, key, float64(i)+0.5) || r.Duration <= 0 {
			t.Errorf("result %d: %+v", i, r)
		}
	}
	if len(seen) != 12 || maxInFlight.Load() > eachConcurrency || maxInFlight.Load() < 2 {
		t.Fatalf("saw %d records, at most %d in flight (want 2..%d)", len(seen), maxInFlight.Load(), eachConcurrency)
	}
}

func TestDestinationDeleteSendsNoBody(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodDelete || len(b) != 0 || r.URL.Path != "/items/K0" {
			t.Errorf("%s %s body %q", r.Method, r.URL, b)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api", Method: "DELETE", Path: "/items/${key}"})
	if r := send(t, d, deliveries(1))[0]; !r.OK {
		t.Fatalf("%+v", r)
	}
}

// TestDestinationArray: one request per batch, a bare or wrapped array,
// path rendered with batch_size, an Idempotency-Key that is the same for
// the same batch and different for another.
func TestDestinationArray(t *testing.T) {
	tests := []struct {
		name string
		wrap string
	}{
		{"bare array", ""},
		{"wrapped", "orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keys []string
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				raw, _ := io.ReadAll(r.Body)
				var body any
				if err := json.Unmarshal(raw, &body); err != nil {
					t.Fatalf("body %s: %v", raw, err)
				}
				if tt.wrap != "" {
					body = body.(map[string]any)[tt.wrap]
				}
				n := len(body.([]any))
				if r.URL.Path != "/orders/batch" || r.URL.Query().Get("n") != fmt.Sprint(n) || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("%s %s", r.Method, r.URL)
				}
				keys = append(keys, r.Header.Get("Idempotency-Key"))
				w.Write([]byte(`{"accepted": true}`))
			})
			d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api", Path: "/orders/batch?n=${batch_size}", Body: "array", Wrap: tt.wrap})
			batch := deliveries(5)
			for _, r := range send(t, d, batch) {
				if !r.OK || r.StatusCode != 200 || r.Response != `{"accepted": true}` {
					t.Fatalf("%+v", r)
				}
			}
			send(t, d, batch)     // a retry of the same batch
			send(t, d, batch[:4]) // another batch
			if len(keys) != 3 || keys[0] == "" || keys[0] != keys[1] || keys[0] == keys[2] {
				t.Fatalf("idempotency keys %v: want the first two equal, the third different", keys)
			}
		})
	}
}

// resultsServer answers a batch with one result per record, shuffled,
// failing the keys in fail.
func resultsServer(t *testing.T, fail map[string]bool, shuffle bool, drop int) *Systems {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Orders []map[string]any }
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			t.Errorf("body: %v", err)
		}
		var out []map[string]any
		for _, rec := range in.Orders {
			k := rec["external_id"].(string)
			item := map[string]any{"ref": map[string]any{"external_id": k}, "status": "ok"}
			if fail[k] {
				item = map[string]any{"ref": map[string]any{"external_id": k}, "status": "rejected", "message": "unknown customer for " + k}
			}
			out = append(out, item)
		}
		out = out[:len(out)-drop]
		if shuffle {
			rand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		}
		writeJSON(w, map[string]any{"data": map[string]any{"results": out}})
	})
	return systemsFor(t, srv.URL)
}

func TestDestinationResults(t *testing.T) {
	fail := map[string]bool{"K3": true, "K77": true, "K199": true}
	tests := []struct {
		name    string
		key     string
		shuffle bool
	}{
		{"by key", "ref.external_id", true},
		{"by position", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := resultsServer(t, fail, tt.shuffle, 0)
			d := newDestination(t, s, &DestinationConfig{System: "api", Path: "/orders", Body: "array", Wrap: "orders",
				Results: &Results{Path: "data.results", Key: tt.key, OK: `status == "ok"`, Error: "message"}})
			res := send(t, d, deliveries(200))
			failed := 0
			for i, r := range res {
				key := fmt.Sprintf("K%d", i)
				if fail[key] {
					failed++
					if r.OK || !r.Retryable || r.Error != "unknown customer for "+key || !strings.Contains(r.Response, `"status":"rejected"`) || !strings.Contains(r.Request, key) {
						t.Errorf("%s: %+v", key, r)
					}
					continue
				}
				// Delivered records carry no request excerpt (it is not kept).
				if !r.OK || r.StatusCode != 200 || !strings.Contains(r.Response, key) || r.Request != "" {
					t.Errorf("%s: %+v", key, r)
				}
			}
			if failed != 3 {
				t.Fatalf("%d failed, want 3", failed)
			}
		})
	}
}

func TestDestinationResultsMissing(t *testing.T) {
	tests := []struct {
		name string
		key  string
		want string
	}{
		{"by key", "ref.external_id", "no result for key K4 in the batch response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := resultsServer(t, nil, false, 1)
			d := newDestination(t, s, &DestinationConfig{System: "api", Body: "array", Wrap: "orders",
				Results: &Results{Path: "data.results", Key: tt.key}})
			res := send(t, d, deliveries(5))
			for i, r := range res[:4] {
				if !r.OK {
					t.Errorf("%d: %+v", i, r)
				}
			}
			if r := res[4]; r.OK || !r.Retryable || !r.Unknown || r.Error != tt.want {
				t.Fatalf("last: %+v, want error %q", r, tt.want)
			}
		})
	}
}

// TestDestinationResultsUnreadable: a 2xx whose per-record results cannot
// be read fails every record, retryably, with the reason.
func TestDestinationResultsUnreadable(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string
	}{
		{"truncated", `{"results": [{"id": 1`, `read per-record results: response JSON is truncated: unexpected end of JSON input after 21 bytes; body starts with: {"results": [{"id": 1`},
		{"not JSON", `OK`, `read per-record results: response is not JSON: invalid character 'O' looking for beginning of value; body starts with: OK`},
		{"wrong path", `{"items": []}`, `read per-record results: no array at "results" in the response; found an object with keys: items`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(tt.body)) })
			d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api", Body: "array",
				Results: &Results{Path: "results"}})
			for _, r := range send(t, d, deliveries(3)) {
				if r.OK || !r.Retryable || r.StatusCode != 200 || r.Error != tt.want {
					t.Fatalf("%+v\nwant error %s", r, tt.want)
				}
			}
		})
	}
}

// TestDestinationResultsEach: with body: each, results read the single
// response like a batch of one (APIs that answer 200 {"status":"error"}).
func TestDestinationResultsEach(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "K1") {
			w.Write([]byte(`{"status": "error", "reason": "locked"}`))
			return
		}
		w.Write([]byte(`{"status": "ok"}`))
	})
	d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api", Path: "/o/${key}",
		Results: &Results{OK: `status == "ok"`, Error: `"refused: " + reason`}})
	res := send(t, d, deliveries(2))
	if !res[0].OK || res[1].OK || res[1].Error != "refused: locked" {
		t.Fatalf("%+v", res)
	}
}

// TestClassification: which answers succeed, which are worth a retry.
func TestClassification(t *testing.T) {
	tests := []struct {
		name      string
		status    int // 0: see special
		special   string
		ok        bool
		retryable bool
		errPart   string
	}{
		{name: "200", status: 200, ok: true},
		{name: "201", status: 201, ok: true},
		{name: "400", status: 400, errPart: "HTTP 400 Bad Request: nope"},
		{name: "404", status: 404, errPart: "HTTP 404 Not Found"},
		{name: "408", status: 408, retryable: true, errPart: "HTTP 408 Request Timeout"},
		{name: "422", status: 422, errPart: "HTTP 422 Unprocessable Entity"},
		{name: "429", status: 429, retryable: true, errPart: "HTTP 429 Too Many Requests"},
		{name: "500", status: 500, retryable: true, errPart: "HTTP 500 Internal Server Error"},
		{name: "503", status: 503, retryable: true, errPart: "HTTP 503 Service Unavailable"},
		{name: "302 is not followed for POST", status: 302, errPart: "HTTP 302 Found"},
		{name: "timeout", special: "timeout", retryable: true, errPart: `/x: no complete response within 100ms (the timeout of system "api")`},
		{name: "connection refused", special: "refused", retryable: true, errPart: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := refusedURL(t)
			if tt.special != "refused" {
				srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
					if tt.special == "timeout" {
						hang(r)
						return
					}
					if tt.status == 302 {
						w.Header().Set("Location", "/elsewhere")
					}
					w.WriteHeader(tt.status)
					w.Write([]byte("nope"))
				})
				url = srv.URL
			}
			s := systemsFor(t, url, func(c *SystemConfig) { c.Timeout = config.Duration(100 * time.Millisecond) })
			checks := map[string]connector.Result{}
			d := newDestination(t, s, &DestinationConfig{System: "api", Path: "/x"})
			checks["destination"] = send(t, d, deliveries(1))[0]
			op, err := NewOperation(s, &OperationConfig{System: "api", Path: "/x", Body: map[string]any{"a": 1}})
			if err != nil {
				t.Fatal(err)
			}
			checks["operation"] = op.Do(context.Background(), deliveries(1)[0], nil)
			for who, r := range checks {
				if r.OK != tt.ok || r.Retryable != tt.retryable || r.StatusCode != tt.status || !strings.Contains(r.Error, tt.errPart) {
					t.Errorf("%s: %+v\nwant ok=%v retryable=%v status=%d error containing %q", who, r, tt.ok, tt.retryable, tt.status, tt.errPart)
				}
			}
		})
	}
}

func TestDestinationReportsRetryAfter(t *testing.T) {
	at := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		header   string
		min, max time.Duration
	}{
		{"7", 7 * time.Second, 7 * time.Second},
		{at, 85 * time.Second, 91 * time.Second},
		{"soon", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", tt.header)
				w.WriteHeader(http.StatusTooManyRequests)
			})
			d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api", Body: "array"})
			for _, r := range send(t, d, deliveries(2)) {
				if !r.Retryable || r.RetryAfter < tt.min || r.RetryAfter > tt.max {
					t.Fatalf("RetryAfter = %v, want %v..%v", r.RetryAfter, tt.min, tt.max)
				}
			}
		})
	}
}

func TestDestinationCancelled(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		hang(r)
	})
	d := newDestination(t, systemsFor(t, srv.URL), &DestinationConfig{System: "api"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := d.Send(ctx, deliveries(6)); err == nil {
		t.Fatal("Send after ctx ended must return ctx's error")
	}
}

func TestNewDestinationErrors(t *testing.T) {
	s := systemsFor(t, "http://127.0.0.1:1")
	tests := []struct {
		name string
		cfg  DestinationConfig
		want string
	}{
		{"bad method", DestinationConfig{System: "api", Method: "GET"}, `method: "GET" is not supported (expected POST, PUT, PATCH or DELETE)`},
		{"bad body", DestinationConfig{System: "api", Body: "batch"}, `body: "batch" is not a body mode (expected each or array)`},
		{"wrap without array", DestinationConfig{System: "api", Wrap: "orders"}, `wrap: only applies with body: array`},
		{"bad path", DestinationConfig{System: "api", Path: "/orders/${key"}, `path: template "/orders/${key": unclosed ${ at offset 8`},
		{"bad header", DestinationConfig{System: "api", Headers: map[string]string{"X-A": "${)}"}}, `headers.X-A: template "${)}"`},
		{"bad ok", DestinationConfig{System: "api", Results: &Results{OK: "status =="}}, `results: ok: expression "status =="`},
		{"unknown system", DestinationConfig{System: "erp"}, `system: unknown system "erp"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			_, err := NewDestination(s, &cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("err = %v\nwant prefix %s", err, tt.want)
			}
		})
	}
}
