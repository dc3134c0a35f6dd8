package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
)

// testURL is the machine's RabbitMQ; FERRY_TEST_AMQP_URL overrides it.
func testURL() string {
	if u := os.Getenv("FERRY_TEST_AMQP_URL"); u != "" {
		return u
	}
	return "amqp://guest:guest@127.0.0.1:5672/"
}

// broker is a raw connection for setting up and inspecting queues and
// exchanges, apart from the code under test.
type broker struct {
	t    testing.TB
	conn *amqp.Connection
}

// needBroker connects to the test broker or skips (fails under CI=true).
func needBroker(t testing.TB) *broker {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:5672", 2*time.Second)
	if err == nil {
		c.Close()
	}
	var conn *amqp.Connection
	if err == nil {
		conn, err = amqp.Dial(testURL())
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ does not answer at 127.0.0.1:5672 (CI=true, so this fails): %v", err)
		}
		t.Skipf("RabbitMQ does not answer at 127.0.0.1:5672 (start it, or set FERRY_TEST_AMQP_URL): %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return &broker{t: t, conn: conn}
}

// suffix is a random name suffix, so parallel runs never share a queue.
func suffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (b *broker) channel() *amqp.Channel {
	b.t.Helper()
	ch, err := b.conn.Channel()
	if err != nil {
		b.t.Fatalf("open channel: %v", err)
	}
	return ch
}

// queue declares a durable queue named prefix-<random>, deleted at the end.
func (b *broker) queue(prefix string, args amqp.Table) string {
	b.t.Helper()
	name := prefix + "-" + suffix()
	ch := b.channel()
	defer ch.Close()
	if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
		b.t.Fatalf("declare queue %s: %v", name, err)
	}
	b.t.Cleanup(func() { b.deleteQueue(name) })
	return name
}

func (b *broker) deleteQueue(name string) {
	ch, err := b.conn.Channel()
	if err != nil {
		return
	}
	defer ch.Close()
	_, _ = ch.QueueDelete(name, false, false, false)
}

// exchange declares an exchange named prefix-<random>, deleted at the end.
func (b *broker) exchange(prefix, kind string) string {
	b.t.Helper()
	name := prefix + "-" + suffix()
	ch := b.channel()
	defer ch.Close()
	if err := ch.ExchangeDeclare(name, kind, false, false, false, false, nil); err != nil {
		b.t.Fatalf("declare exchange %s: %v", name, err)
	}
	b.t.Cleanup(func() {
		if ch, err := b.conn.Channel(); err == nil {
			_ = ch.ExchangeDelete(name, false, false)
			ch.Close()
		}
	})
	return name
}

func (b *broker) bind(queue, key, exchange string) {
	b.t.Helper()
	ch := b.channel()
	defer ch.Close()
	if err := ch.QueueBind(queue, key, exchange, false, nil); err != nil {
		b.t.Fatalf("bind %s to %s: %v", queue, exchange, err)
	}
}

// publishRaw puts bodies into a queue through the default exchange, with
// confirms, so they are all in the queue when it returns.
func (b *broker) publishRaw(queue string, bodies ...[]byte) {
	b.t.Helper()
	ch := b.channel()
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		b.t.Fatal(err)
	}
	var dcs []*amqp.DeferredConfirmation
	for _, body := range bodies {
		dc, err := ch.PublishWithDeferredConfirm("", queue, true, false, amqp.Publishing{ContentType: "application/json", Body: body, DeliveryMode: amqp.Persistent})
		if err != nil {
			b.t.Fatalf("publish to %s: %v", queue, err)
		}
		dcs = append(dcs, dc)
	}
	for _, dc := range dcs {
		if !dc.Wait() {
			b.t.Fatalf("publish to %s: nacked", queue)
		}
	}
}

// publishOrders puts n records {"id": first+i, ...} into a queue.
func (b *broker) publishOrders(queue string, first, n int) {
	b.t.Helper()
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i], _ = json.Marshal(map[string]any{"id": first + i, "total": 10.5, "customer": map[string]any{"email": fmt.Sprintf("c%d@example.com", first+i)}})
	}
	b.publishRaw(queue, bodies...)
}

// count is the number of ready messages in a queue.
func (b *broker) count(queue string) int {
	b.t.Helper()
	ch := b.channel()
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		b.t.Fatalf("inspect queue %s: %v", queue, err)
	}
	return q.Messages
}

// drain takes every message from a queue (acking it) until none came for
// a moment.
func (b *broker) drain(queue string) []amqp.Delivery {
	b.t.Helper()
	ch := b.channel()
	defer ch.Close()
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(queue, true)
		if err != nil {
			b.t.Fatalf("get from %s: %v", queue, err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

// newTestSystem builds a system for the test broker, closed at the end.
func newTestSystem(t *testing.T, rawURL string) *System {
	t.Helper()
	sys, err := NewSystem(connector.Env{}, "broker", &SystemConfig{URL: rawURL, Timeout: config.Duration(5 * time.Second)})
	if err != nil {
		t.Fatalf("NewSystem: %v", err)
	}
	t.Cleanup(func() { sys.Close() })
	return sys
}

func newTestSource(t *testing.T, sys *System, cfg SourceConfig) *Source {
	t.Helper()
	if cfg.System == "" {
		cfg.System = "broker"
	}
	if cfg.Wait == 0 {
		cfg.Wait = config.Duration(300 * time.Millisecond)
	}
	src, err := NewSource(sys, connector.Env{}, &cfg)
	if err != nil {
		t.Fatalf("NewSource: %v", err)
	}
	src.AckWait = 0 // a read's unacked pages go back when it returns
	return src
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// readAll reads once, acking every page, and returns the keys in order.
func readAll(t *testing.T, ctx context.Context, src *Source) []string {
	t.Helper()
	var keys []string
	err := src.Read(ctx, connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error {
		for _, r := range p.Records {
			keys = append(keys, r.Key)
		}
		return p.Ack(ctx)
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return keys
}
