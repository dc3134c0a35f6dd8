package rabbitmq

import (
	"context"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
)

// BenchmarkPublish sends batches of 500 records, each settled from its
// publisher confirm (persistent messages to a durable queue).
//
//	go test -run '^$' -bench . -benchtime 20x ./internal/connector/rabbitmq/
func BenchmarkPublish(b *testing.B) {
	br := needBroker(b)
	for _, persistent := range []bool{true, false} {
		name := "persistent"
		if !persistent {
			name = "transient"
		}
		b.Run(name, func(b *testing.B) {
			q := br.queue("ferry-bench-pub", nil)
			d, err := NewDestination(newBenchSystem(b), &DestinationConfig{System: "broker", RoutingKey: q, Persistent: &persistent})
			if err != nil {
				b.Fatal(err)
			}
			batch := orders(1, 500)
			ctx := context.Background()
			for b.Loop() {
				results, err := d.Send(ctx, batch)
				if err != nil || !results[len(results)-1].OK {
					b.Fatalf("send: %v %+v", err, results[len(results)-1])
				}
			}
			b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkConsume reads 10,000 messages in pages of 500, acking each
// page, as the engine does.
func BenchmarkConsume(b *testing.B) {
	br := needBroker(b)
	const n = 10000
	const wait = 500 * time.Millisecond
	sys := newBenchSystem(b)
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		q := br.queue("ferry-bench-consume", nil)
		br.publishOrders(q, 1, n)
		src, err := NewSource(sys, connector.Env{}, &SourceConfig{System: "broker", Queue: q, Key: "id", Wait: config.Duration(wait)})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		got := 0
		err = src.Read(context.Background(), connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error {
			got += len(p.Records)
			return p.Ack(ctx)
		})
		total += time.Since(start) - wait // the read's wait for a message that never comes
		if err != nil || got != n {
			b.Fatalf("read %d: %v", got, err)
		}
	}
	b.ReportMetric(float64(b.N*n)/total.Seconds(), "records/s")
}

func newBenchSystem(b *testing.B) *System {
	sys, err := NewSystem(connector.Env{}, "broker", &SystemConfig{URL: testURL()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sys.Close() })
	return sys
}
