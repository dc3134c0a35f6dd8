package rabbitmq

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
)

func newTestDestination(t *testing.T, sys *System, cfg DestinationConfig) *Destination {
	t.Helper()
	cfg.System = "broker"
	d, err := NewDestination(sys, &cfg)
	if err != nil {
		t.Fatalf("NewDestination: %v", err)
	}
	return d
}

// orders builds n deliveries with keys from first on.
func orders(first, n int) []connector.Delivery {
	out := make([]connector.Delivery, n)
	for i := range out {
		k := strconv.Itoa(first + i)
		out[i] = connector.Delivery{
			EntryID: int64(first + i), Key: k, IdempotencyKey: "idem-" + k,
			Record: connector.Record{"id": float64(first + i), "region": "eu"},
			Vars:   map[string]any{"key": k, "entry": int64(first + i)},
		}
	}
	return out
}

// 1,000 records, each settled from its own confirm, arrive once each
// with message_id = idempotency key, persistent, as JSON.
func TestPublishConfirms(t *testing.T) {
	b := needBroker(t)
	ex := b.exchange("ferry-test-pub", "topic")
	q := b.queue("ferry-test-pubq", nil)
	b.bind(q, "order.eu.#", ex)
	d := newTestDestination(t, newTestSystem(t, testURL()), DestinationConfig{Exchange: ex, RoutingKey: "order.${region}.${key}"})
	batch := orders(1, 1000)
	results, err := d.Send(testContext(t), batch)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if len(results) != len(batch) {
		t.Fatalf("%d results for %d records", len(results), len(batch))
	}
	for i, r := range results {
		if !r.OK || r.Error != "" {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	waitCount(t, b, q, 1000)
	got := b.drain(q)
	seen := map[string]bool{}
	for _, m := range got {
		if m.ContentType != "application/json" || m.DeliveryMode != amqp.Persistent || m.Type != "upsert" {
			t.Errorf("message %s: content type %q, mode %d, type %q", m.MessageId, m.ContentType, m.DeliveryMode, m.Type)
		}
		key := strings.TrimPrefix(m.MessageId, "idem-")
		if seen[key] {
			t.Errorf("message %s twice", m.MessageId)
		}
		seen[key] = true
		if m.RoutingKey != "order.eu."+key {
			t.Errorf("message %s: routing key %q", m.MessageId, m.RoutingKey)
		}
		if want := fmt.Sprintf(`{"id":%s,"region":"eu"}`, key); string(m.Body) != want {
			t.Errorf("message %s: body %s, want %s", m.MessageId, m.Body, want)
		}
	}
	if len(seen) != 1000 {
		t.Errorf("%d distinct messages, want 1000", len(seen))
	}
}

// Records that cannot arrive fail each on its own, naming why.
func TestPublishFailures(t *testing.T) {
	b := needBroker(t)
	sys := newTestSystem(t, testURL())
	ctx := testContext(t)

	t.Run("unroutable with mandatory", func(t *testing.T) {
		ex := b.exchange("ferry-test-route", "direct")
		q := b.queue("ferry-test-routeq", nil)
		b.bind(q, "order.1", ex)
		b.bind(q, "order.3", ex)
		d := newTestDestination(t, sys, DestinationConfig{Exchange: ex, RoutingKey: "order.${key}"})
		results, err := d.Send(ctx, orders(1, 4))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			key := strconv.Itoa(i + 1)
			routable := key == "1" || key == "3"
			if r.OK != routable {
				t.Errorf("record %s: %+v", key, r)
				continue
			}
			want := fmt.Sprintf(`unroutable: exchange %q has no queue bound for routing key "order.%s" (312 NO_ROUTE)`, ex, key)
			if !routable && (r.Retryable || r.Unknown || r.Error != want) {
				t.Errorf("record %s: %+v, want the error %q, not retryable", key, r, want)
			}
			if !routable && !strings.Contains(r.Request, `"id":`+key) {
				t.Errorf("record %s: request excerpt %q", key, r.Request)
			}
		}
		waitCount(t, b, q, 2)
	})

	t.Run("missing exchange", func(t *testing.T) {
		ex := "ferry-test-nope-" + suffix()
		d := newTestDestination(t, sys, DestinationConfig{Exchange: ex, RoutingKey: "x"})
		results, err := d.Send(ctx, orders(1, 50))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range results {
			if r.OK || r.Retryable || r.Unknown || !strings.Contains(r.Error, fmt.Sprintf("exchange %q does not exist", ex)) {
				t.Errorf("record %d: %+v", i, r)
			}
		}
		// The system is still usable: the next batch has a channel.
		if err := sys.Check(ctx); err != nil {
			t.Errorf("check after the failed batch: %v", err)
		}
	})

	t.Run("nack", func(t *testing.T) {
		// A full queue with overflow reject-publish nacks further messages.
		q := b.queue("ferry-test-full", amqp.Table{"x-max-length": int32(5), "x-overflow": "reject-publish"})
		d := newTestDestination(t, sys, DestinationConfig{RoutingKey: q})
		results, err := d.Send(ctx, orders(1, 10))
		if err != nil {
			t.Fatal(err)
		}
		ok, nacked := 0, 0
		for i, r := range results {
			switch {
			case r.OK:
				ok++
			case r.Retryable && !r.Unknown && strings.Contains(r.Error, "basic.nack"):
				nacked++
			default:
				t.Errorf("record %d: %+v", i, r)
			}
		}
		if ok != 5 || nacked != 5 {
			t.Errorf("%d confirmed and %d nacked, want 5 and 5", ok, nacked)
		}
	})

	t.Run("template error", func(t *testing.T) {
		q := b.queue("ferry-test-tpl", nil)
		d := newTestDestination(t, sys, DestinationConfig{RoutingKey: q + "${missing.field}"})
		results, err := d.Send(ctx, orders(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		if r := results[0]; r.OK || r.Retryable || !strings.HasPrefix(r.Error, "routing_key: ") {
			t.Errorf("result %+v", r)
		}
	})
}

// A record without a confirm within the timeout is unknown and retried.
// A broker cannot be told to hold confirms back, so the timeout is set
// below what any confirm takes.
func TestConfirmTimeoutIsUnknown(t *testing.T) {
	b := needBroker(t)
	q := b.queue("ferry-test-timeout", nil)
	d := newTestDestination(t, newTestSystem(t, testURL()), DestinationConfig{RoutingKey: q, ConfirmTimeout: config.Duration(time.Nanosecond)})
	results, err := d.Send(testContext(t), orders(1, 200))
	if err != nil {
		t.Fatal(err)
	}
	unknown := 0
	for i, r := range results {
		switch {
		case r.OK:
		case r.Unknown && r.Retryable && strings.Contains(r.Error, "no publisher confirm within 1ns"):
			unknown++
		default:
			t.Errorf("record %d: %+v", i, r)
		}
	}
	if unknown == 0 {
		t.Skip("every confirm beat a 1ns timeout; the unknown path was not reached")
	}
}

func TestPreview(t *testing.T) {
	sys := newTestSystem(t, "amqp://ferry:s3cret-pw@broker.example:5672/prod")
	cases := []struct {
		exchange, key, want string
	}{
		{"orders", "order.${key}", "amqp exchange orders routing key order.10042"},
		{"", "orders-in", "amqp default exchange routing key orders-in"},
	}
	for _, tc := range cases {
		d := newTestDestination(t, sys, DestinationConfig{Exchange: tc.exchange, RoutingKey: tc.key})
		p, err := d.Preview(context.Background(), connector.Delivery{Key: "10042", Record: connector.Record{"id": 10042.0}, Vars: map[string]any{"key": "10042"}})
		if err != nil {
			t.Fatal(err)
		}
		if p.Method != "PUBLISH" || p.URL != tc.want || string(p.Body) != `{"id":10042}` {
			t.Errorf("preview %s %q %s", p.Method, p.URL, p.Body)
		}
	}
	if d := newTestDestination(t, sys, DestinationConfig{RoutingKey: "x"}); d.OneRequestPerBatch() {
		t.Error("OneRequestPerBatch is true")
	}
}

func TestDeletePublishedAsDelete(t *testing.T) {
	b := needBroker(t)
	q := b.queue("ferry-test-del", nil)
	d := newTestDestination(t, newTestSystem(t, testURL()), DestinationConfig{RoutingKey: q})
	batch := orders(1, 1)
	batch[0].Deleted = true
	if results, err := d.Send(testContext(t), batch); err != nil || !results[0].OK {
		t.Fatalf("send: %v %+v", err, results)
	}
	waitCount(t, b, q, 1)
	if m := b.drain(q); len(m) != 1 || m[0].Type != "delete" || m[0].MessageId != "idem-1" {
		t.Errorf("messages %+v", m)
	}
}
