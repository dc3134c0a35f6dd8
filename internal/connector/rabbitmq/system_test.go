package rabbitmq

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
)

// Building touches no network: a system of an unreachable broker builds.
func TestBuildIsLazy(t *testing.T) {
	set, err := connector.NewSet(Kind())
	if err != nil {
		t.Fatal(err)
	}
	k, _ := set.Kind(Name)
	sys, err := k.System.Build(context.Background(), connector.Env{}, "broker", &SystemConfig{URL: "amqp://u:p@192.0.2.1:5672/"})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	defer sys.(*System).Close()
	env := connector.Env{System: func(string) (connector.System, error) { return sys, nil }}
	if _, err := k.Source.Build(context.Background(), env, &SourceConfig{System: "broker", Queue: "q", Key: "id"}); err != nil {
		t.Fatalf("source: %v", err)
	}
	if _, err := k.Destination.Build(context.Background(), env, &DestinationConfig{System: "broker", Exchange: "x", RoutingKey: "k"}); err != nil {
		t.Fatalf("destination: %v", err)
	}
}

// The password never appears in an error: a wrong one, a URL that does
// not parse, and the errors of a source and destination on that system.
func TestPasswordNeverShown(t *testing.T) {
	const pw = "Wr0ng-pa55word"
	t.Run("url that does not parse", func(t *testing.T) {
		_, err := NewSystem(connector.Env{}, "broker", &SystemConfig{URL: "amqp://guest:" + pw + "@127.0.0.1:56x72/"})
		if err == nil || strings.Contains(err.Error(), pw) {
			t.Fatalf("error %v: want one without the password", err)
		}
	})
	b := needBroker(t)
	sys := newTestSystem(t, "amqp://guest:"+pw+"@127.0.0.1:5672/")
	ctx := testContext(t)
	// RabbitMQ answers a wrong password after a delay (3s by default), so
	// the test dials twice only: a read and a send.
	q := b.queue("ferry-test-pw", nil)
	src := newTestSource(t, sys, SourceConfig{Queue: q, Key: "id"})
	err := src.Read(ctx, connector.ReadRequest{}, func(context.Context, connector.Page) error { return nil })
	if err == nil {
		t.Fatal("read with a wrong password passed")
	}
	if strings.Contains(err.Error(), pw) || !strings.Contains(err.Error(), "access refused") || !strings.Contains(err.Error(), "guest:REDACTED@127.0.0.1") {
		t.Errorf("read error %q: want access refused, the user and no password", err)
	}
	d := newTestDestination(t, sys, DestinationConfig{RoutingKey: q})
	results, err := d.Send(ctx, orders(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.OK || !r.Retryable || r.Unknown || strings.Contains(r.Error+r.Request, pw) {
			t.Errorf("result %+v", r)
		}
	}
	if strings.Contains(sys.String(), pw) {
		t.Errorf("String() = %s", sys)
	}
}

// A broken connection is replaced on the next use.
func TestReconnects(t *testing.T) {
	b := needBroker(t)
	sys := newTestSystem(t, testURL())
	ctx := testContext(t)
	if err := sys.Check(ctx); err != nil {
		t.Fatal(err)
	}
	sys.mu.Lock()
	first := sys.conn
	sys.mu.Unlock()
	first.Close() // as if the broker had gone away
	q := b.queue("ferry-test-reconnect", nil)
	b.publishOrders(q, 1, 3)
	src := newTestSource(t, sys, SourceConfig{Queue: q, Key: "id"})
	if got := readAll(t, ctx, src); len(got) != 3 {
		t.Errorf("read %d after reconnecting, want 3", len(got))
	}
	sys.mu.Lock()
	second := sys.conn
	sys.mu.Unlock()
	if second == first || second.IsClosed() {
		t.Error("no new connection")
	}
	if err := sys.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sys.Check(ctx); err == nil {
		t.Error("check after Close passed")
	}
}

func TestConfigProblems(t *testing.T) {
	cases := []struct {
		name  string
		cfg   SourceConfig
		field string // "" = valid
	}{
		{"valid", SourceConfig{System: "b", Queue: "q", Key: "id"}, ""},
		{"no queue", SourceConfig{System: "b", Key: "id"}, "queue"},
		{"no key", SourceConfig{System: "b", Queue: "q"}, "key"},
		{"message_id needs no key", SourceConfig{System: "b", Queue: "q", KeyFrom: KeyFromMessageID, Key: "id"}, "key"},
		{"message_id", SourceConfig{System: "b", Queue: "q", KeyFrom: KeyFromMessageID}, ""},
		{"header needs a name", SourceConfig{System: "b", Queue: "q", KeyFrom: KeyFromHeader}, "key"},
		{"unknown key_from", SourceConfig{System: "b", Queue: "q", KeyFrom: "property"}, "key_from"},
		{"unknown invalid", SourceConfig{System: "b", Queue: "q", Key: "id", Invalid: "skip"}, "invalid"},
		{"declared dead-letter queue needs its exchange", SourceConfig{System: "b", Queue: "q", Key: "id", Declare: true, Invalid: InvalidDeadLetter}, "dead_letter_exchange"},
		{"dead_letter_exchange without declare", SourceConfig{System: "b", Queue: "q", Key: "id", DeadLetterExchange: "dlx"}, "dead_letter_exchange"},
		{"prefetch below page size", SourceConfig{System: "b", Queue: "q", Key: "id", Prefetch: 10, PageSize: 100}, "prefetch"},
		{"negative wait", SourceConfig{System: "b", Queue: "q", Key: "id", Wait: config.Duration(-time.Second)}, "wait"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			sourceDefaults(&c)
			p := sourceProblems(&c)
			switch {
			case tc.field == "" && len(p) > 0:
				t.Errorf("problems %v", p)
			case tc.field != "" && (len(p) != 1 || p[0][0] != tc.field):
				t.Errorf("problems %v, want one at %s", p, tc.field)
			}
		})
	}
	if p := destinationProblems(&DestinationConfig{System: "b"}); len(p) != 1 || p[0][0] != "routing_key" {
		t.Errorf("destination without exchange and routing key: %v", p)
	}
	if p := destinationProblems(&DestinationConfig{System: "b", Exchange: "x", RoutingKey: "${"}); len(p) != 1 || p[0][0] != "routing_key" {
		t.Errorf("destination with a broken template: %v", p)
	}
}

// A config secret inside a message's body is redacted from the error
// that quotes the body.
func TestSecretInBadMessageRedacted(t *testing.T) {
	b := needBroker(t)
	const secret = "shop-token-8d7f6e"
	q := b.queue("ferry-test-secret", nil)
	b.publishRaw(q, []byte("token="+secret))
	sys, err := NewSystem(connector.Env{Secrets: []string{secret}}, "broker", &SystemConfig{URL: testURL()})
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	src := newTestSource(t, sys, SourceConfig{Queue: q, Key: "id"})
	err = src.Read(testContext(t), connector.ReadRequest{}, func(context.Context, connector.Page) error { return nil })
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "not JSON") {
		t.Fatalf("read error %v: want not JSON, without the secret", err)
	}
}
