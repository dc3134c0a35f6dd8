package rabbitmq_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/engine/enginetest"
)

const e2eURL = "amqp://guest:guest@127.0.0.1:5672/"

func e2eBroker(t *testing.T) *amqp.Connection {
	t.Helper()
	conn, err := amqp.Dial(e2eURL)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ does not answer at 127.0.0.1:5672 (CI=true, so this fails): %v", err)
		}
		t.Skipf("RabbitMQ does not answer at 127.0.0.1:5672: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// The kind wired into ferry: a config loaded by the real loader, built by
// the registry, run by the engine on a real SQLite store. Orders go from
// a queue to an HTTP sink (route orders) and from a second queue to an
// exchange (route events). Every message is delivered, the queues end
// empty (acked after queuing), and a second run finds nothing.
func TestEngineRuns(t *testing.T) {
	conn := e2eBroker(t)
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	in, in2, out := randomName("ferry-e2e-in"), randomName("ferry-e2e-in2"), randomName("ferry-e2e-out")
	exchange := randomName("ferry-e2e-ex")
	for _, q := range []string{in, in2, out} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.ExchangeDeclare(exchange, "topic", false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(out, "order.#", exchange, false, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := conn.Channel()
		if err != nil {
			return
		}
		defer c.Close()
		for _, q := range []string{in, in2, out} {
			_, _ = c.QueueDelete(q, false, false, false)
		}
		_ = c.ExchangeDelete(exchange, false, false)
	})
	const n = 600
	for _, q := range []string{in, in2} {
		for i := 1; i <= n; i++ {
			body, _ := json.Marshal(map[string]any{"id": i, "total": float64(i) / 4})
			if err := ch.Publish("", q, false, false, amqp.Publishing{Body: body, DeliveryMode: amqp.Persistent}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The same order once more: the key coalesces it with the first.
	if err := ch.Publish("", in, false, false, amqp.Publishing{Body: []byte(`{"id": 7, "total": 1.75}`)}); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	got := map[float64]int{}
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var recs []map[string]any
		if err := json.Unmarshal(body, &recs); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		for _, rec := range recs {
			got[rec["id"].(float64)]++
		}
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer sink.Close()

	dir := t.TempDir()
	file := filepath.Join(dir, "ferry.yaml")
	yaml := fmt.Sprintf(`
store: ferry.db
systems:
  broker:
    rabbitmq: { url: "${env:FERRY_E2E_AMQP_URL}" }
  sink:
    url: %s
routes:
  orders:
    source:
      rabbitmq: { system: broker, queue: %s, key: id, page_size: 150, wait: 300ms }
    batch: 200
    destinations:
      default:
        http: { system: sink, method: POST, path: /orders, body: array }
  events:
    source:
      rabbitmq: { system: broker, queue: %s, key: id, wait: 300ms }
    batch: 300
    destinations:
      default:
        rabbitmq: { system: broker, exchange: %s, routing_key: "order.${key}" }
`, sink.URL, in, in2, exchange)
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FERRY_E2E_AMQP_URL", e2eURL)
	cfg, err := config.Load(file, all.Set())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	eng, st := enginetest.New(t, cfg, filepath.Join(dir, "ferry.db"), engine.Options{RetryWait: -1})

	for _, route := range []string{"orders", "events"} {
		start := time.Now()
		res, err := eng.Run(ctx, route, engine.RunOptions{})
		t.Logf("run %s: %s, %d iterations", route, time.Since(start), res.Iterations)
		if err != nil {
			t.Fatalf("run %s: %v (%+v)", route, err, res)
		}
		if res.Done != n || res.Failed != 0 {
			t.Errorf("run %s: delivered %d, failed %d; want %d and 0 (%+v)", route, res.Done, res.Failed, n, res.Run)
			if as, err := st.RecentAttempts(ctx, route, 3); err == nil {
				for _, a := range as {
					t.Logf("attempt: %+v", a)
				}
			}
		}
	}
	mu.Lock()
	if len(got) != n {
		t.Errorf("the sink got %d distinct orders, want %d", len(got), n)
	}
	mu.Unlock()

	count := func(q string) int {
		t.Helper()
		c, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		info, err := c.QueueDeclarePassive(q, true, false, false, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		return info.Messages
	}
	deadline := time.Now().Add(10 * time.Second)
	for count(out) < n && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if c := count(out); c != n {
		t.Errorf("the exchange's queue holds %d messages, want %d", c, n)
	}
	for _, q := range []string{in, in2} {
		if c := count(q); c != 0 {
			t.Errorf("queue %s still holds %d messages: not acked after queuing", q, c)
		}
	}
	// Nothing is left to read: a second run delivers nothing.
	res, err := eng.Run(ctx, "orders", engine.RunOptions{})
	if err != nil || res.Done != 0 || res.Collected != 0 {
		t.Errorf("second run: %v, delivered %d, collected %d", err, res.Done, res.Collected)
	}
}
