package rabbitmq

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
)

// Pages acked out of order: only the acked pages' messages leave the
// queue; the others come back to the next read, none twice, none lost.
func TestReadAcksOnlyAckedPages(t *testing.T) {
	b := needBroker(t)
	q := b.queue("ferry-test-orders", nil)
	b.publishOrders(q, 1, 1000)
	sys := newTestSystem(t, testURL())
	src := newTestSource(t, sys, SourceConfig{Queue: q, Key: "id", PageSize: 100})
	ctx := testContext(t)

	acked := map[string]bool{}
	unacked := map[string]bool{}
	var pages []connector.Page
	err := src.Read(ctx, connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error {
		pages = append(pages, p)
		if len(p.Records) != 100 {
			t.Errorf("page %d has %d records, want 100", p.Number, len(p.Records))
		}
		if !strings.HasPrefix(p.URL, "queue "+q+" messages ") {
			t.Errorf("page URL %q", p.URL)
		}
		// Pages 2, 4, 6... stay unacked; 3, 5, 7... are acked with a
		// gap before them, which must not ack the gap.
		into := unacked
		if p.Number%2 == 1 {
			if err := p.Ack(ctx); err != nil {
				return err
			}
			into = acked
		}
		for _, r := range p.Records {
			if into[r.Key] || acked[r.Key] || unacked[r.Key] {
				t.Errorf("key %s read twice in one read", r.Key)
			}
			into[r.Key] = true
			if r.Data["customer"].(map[string]any)["email"] != "c"+r.Key+"@example.com" {
				t.Errorf("record %s: data %v", r.Key, r.Data)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if len(acked) != 500 || len(unacked) != 500 {
		t.Fatalf("acked %d, unacked %d; want 500 and 500", len(acked), len(unacked))
	}
	// An ack after the read ended fails: its messages went back.
	if err := pages[1].Ack(ctx); err == nil || !strings.Contains(err.Error(), "went back to the queue") {
		t.Errorf("ack after the read: %v", err)
	}

	again := readAll(t, ctx, src)
	for _, k := range again {
		if acked[k] {
			t.Errorf("key %s was acked but read again", k)
		}
	}
	slices.Sort(again)
	if got := slices.Compact(slices.Clone(again)); len(got) != len(again) {
		t.Errorf("the second read had repeats: %d keys, %d distinct", len(again), len(got))
	}
	if len(again) != len(unacked) {
		t.Errorf("second read: %d records, want the %d unacked", len(again), len(unacked))
	}
	for k := range unacked {
		if _, found := slices.BinarySearch(again, k); !found {
			t.Errorf("unacked key %s lost", k)
		}
	}
	if rest := readAll(t, ctx, src); len(rest) != 0 {
		t.Errorf("third read: %d records, want none", len(rest))
	}
}

// The engine acks a page after fn returned, while the next page is read,
// and the last page after the read found no more messages: those acks
// must still reach the broker, so nothing is read twice.
func TestAckAfterFnReturns(t *testing.T) {
	b := needBroker(t)
	q := b.queue("ferry-test-async", nil)
	b.publishOrders(q, 1, 250)
	src := newTestSource(t, newTestSystem(t, testURL()), SourceConfig{Queue: q, Key: "id", PageSize: 100})
	src.AckWait = 30 * time.Second
	ctx := testContext(t)
	queued := make(chan connector.Page)
	ackErrs := make(chan error, 10)
	go func() { // the engine's queuing goroutine
		for p := range queued {
			time.Sleep(50 * time.Millisecond) // queuing takes a while
			ackErrs <- p.Ack(ctx)
		}
		close(ackErrs)
	}()
	err := src.Read(ctx, connector.ReadRequest{}, func(_ context.Context, p connector.Page) error {
		queued <- p
		return nil
	})
	close(queued)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for err := range ackErrs {
		n++
		if err != nil {
			t.Errorf("ack: %v", err)
		}
	}
	if n != 3 {
		t.Errorf("%d pages, want 3", n)
	}
	if got := readAll(t, ctx, src); len(got) != 0 {
		t.Errorf("%d messages read again, want none", len(got))
	}
}

// A read that is never acked (a dry run, a stop after two pages) returns
// at once: what it received but did not hand over goes back to the queue
// right away, the pages it handed over when the system closes (or after
// AckWait).
func TestUnackedReadReturnsAtOnce(t *testing.T) {
	b := needBroker(t)
	q := b.queue("ferry-test-dry", nil)
	b.publishOrders(q, 1, 1000)
	sys := newTestSystem(t, testURL())
	src := newTestSource(t, sys, SourceConfig{Queue: q, Key: "id", PageSize: 100})
	src.AckWait = time.Hour
	ctx := testContext(t)
	err := src.Read(ctx, connector.ReadRequest{}, func(_ context.Context, p connector.Page) error {
		if p.Number == 2 {
			return connector.ErrStop
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Prefetched messages beyond page 2 are back while pages 1-2 wait
	// for acks that never come.
	waitCount(t, b, q, 800)
	if err := sys.Close(); err != nil {
		t.Fatal(err)
	}
	waitCount(t, b, q, 1000)
	if got := readAll(t, ctx, newTestSource(t, newTestSystem(t, testURL()), SourceConfig{Queue: q, Key: "id"})); len(got) != 1000 {
		t.Errorf("read %d afterwards, want 1000", len(got))
	}
}

// A read that ends without acking (fn fails) leaves every message.
func TestReadErrorLeavesMessages(t *testing.T) {
	b := needBroker(t)
	q := b.queue("ferry-test-fail", nil)
	b.publishOrders(q, 1, 50)
	src := newTestSource(t, newTestSystem(t, testURL()), SourceConfig{Queue: q, Key: "id", PageSize: 20})
	ctx := testContext(t)
	boom := fmt.Errorf("store is down")
	err := src.Read(ctx, connector.ReadRequest{}, func(context.Context, connector.Page) error { return boom })
	if err != boom {
		t.Fatalf("read: %v, want the callback's error unchanged", err)
	}
	if got := len(readAll(t, ctx, src)); got != 50 {
		t.Errorf("after the failed read: %d records, want 50", got)
	}
}

func TestKeySources(t *testing.T) {
	b := needBroker(t)
	cases := []struct {
		name string
		cfg  SourceConfig
		pub  amqp.Publishing
		want string
	}{
		{"dotted body path", SourceConfig{Key: "order.number"}, amqp.Publishing{Body: []byte(`{"order":{"number":10042}}`)}, "10042"},
		{"message_id", SourceConfig{KeyFrom: KeyFromMessageID}, amqp.Publishing{MessageId: "m-7", Body: []byte(`{"x":1}`)}, "m-7"},
		{"header", SourceConfig{KeyFrom: KeyFromHeader, Key: "X-Order"}, amqp.Publishing{Headers: amqp.Table{"X-Order": "A-1"}, Body: []byte(`{"x":1}`)}, "A-1"},
		{"numeric header", SourceConfig{KeyFrom: KeyFromHeader, Key: "n"}, amqp.Publishing{Headers: amqp.Table{"n": int64(77)}, Body: []byte(`{"x":1}`)}, "77"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := b.queue("ferry-test-key", nil)
			ch := b.channel()
			if err := ch.Publish("", q, false, false, tc.pub); err != nil {
				t.Fatal(err)
			}
			ch.Close()
			tc.cfg.Queue = q
			src := newTestSource(t, newTestSystem(t, testURL()), tc.cfg)
			deadline := time.Now().Add(5 * time.Second)
			for b.count(q) == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if got := readAll(t, testContext(t), src); len(got) != 1 || got[0] != tc.want {
				t.Errorf("keys %v, want [%s]", got, tc.want)
			}
		})
	}
}

// A message that is not a record: fail (default) names it and leaves it
// in the queue; dead_letter moves it to the dead-letter exchange; drop
// removes it. The valid messages around it are read in the last two.
func TestInvalidMessages(t *testing.T) {
	b := needBroker(t)
	bodies := [][]byte{[]byte(`{"id":1}`), []byte(`{"id":2}`), []byte(`not json at all`), []byte(`[1,2]`), []byte(`{"no_id":true}`), []byte(`{"id":6}`)}

	t.Run("fail", func(t *testing.T) {
		q := b.queue("ferry-test-invalid", nil)
		b.publishRaw(q, bodies...)
		src := newTestSource(t, newTestSystem(t, testURL()), SourceConfig{Queue: q, Key: "id", PageSize: 10})
		ctx := testContext(t)
		var read []string
		err := src.Read(ctx, connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error {
			for _, r := range p.Records {
				read = append(read, r.Key)
			}
			return p.Ack(ctx)
		})
		want := fmt.Sprintf("queue %s: message 3: not JSON: ", q)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `"not json at all"`) {
			t.Fatalf("read error %v, want it to contain %q and the body", err, want)
		}
		// The records before it are handed over (and acked here); the bad
		// message and everything after it stay.
		if !slices.Equal(read, []string{"1", "2"}) {
			t.Errorf("records handed over: %v, want [1 2]", read)
		}
		waitCount(t, b, q, len(bodies)-2)
	})

	t.Run("dead_letter", func(t *testing.T) {
		dlx := b.exchange("ferry-test-dlx", "fanout")
		dlq := b.queue("ferry-test-dlq", nil)
		b.bind(dlq, "", dlx)
		q := "ferry-test-dl-" + suffix()
		t.Cleanup(func() { b.deleteQueue(q) })
		src := newTestSource(t, newTestSystem(t, testURL()), SourceConfig{Queue: q, Key: "id", Declare: true, DeadLetterExchange: dlx, Invalid: InvalidDeadLetter})
		ctx := testContext(t)
		if got := readAll(t, ctx, src); len(got) != 0 { // declares the queue
			t.Fatalf("empty queue gave %v", got)
		}
		b.publishRaw(q, bodies...)
		if got := readAll(t, ctx, src); !slices.Equal(got, []string{"1", "2", "6"}) {
			t.Errorf("keys %v, want [1 2 6]", got)
		}
		waitCount(t, b, dlq, 3)
		var dead []string
		for _, d := range b.drain(dlq) {
			dead = append(dead, string(d.Body))
		}
		if !slices.Equal(dead, []string{"not json at all", "[1,2]", `{"no_id":true}`}) {
			t.Errorf("dead-lettered %q", dead)
		}
		if n := b.count(q); n != 0 {
			t.Errorf("%d messages left in the queue", n)
		}
	})

	t.Run("drop", func(t *testing.T) {
		q := b.queue("ferry-test-drop", nil)
		b.publishRaw(q, bodies...)
		src := newTestSource(t, newTestSystem(t, testURL()), SourceConfig{Queue: q, Key: "id", Invalid: InvalidDrop})
		if got := readAll(t, testContext(t), src); !slices.Equal(got, []string{"1", "2", "6"}) {
			t.Errorf("keys %v, want [1 2 6]", got)
		}
		if n := b.count(q); n != 0 {
			t.Errorf("%d messages left in the queue", n)
		}
	})
}

// waitCount waits until a queue holds n ready messages (a closed
// channel's messages are requeued asynchronously).
func waitCount(t *testing.T, b *broker, q string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := b.count(q)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue %s holds %d messages, want %d", q, got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMissingQueue(t *testing.T) {
	needBroker(t)
	q := "ferry-test-missing-" + suffix()
	src := newTestSource(t, newTestSystem(t, testURL()), SourceConfig{Queue: q, Key: "id"})
	err := src.Read(testContext(t), connector.ReadRequest{}, func(context.Context, connector.Page) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "queue "+q+": find: the queue does not exist") || !strings.Contains(err.Error(), "declare: true") {
		t.Fatalf("read of a missing queue: %v", err)
	}
}

func TestWake(t *testing.T) {
	b := needBroker(t)
	q := b.queue("ferry-test-wake", nil)
	src := newTestSource(t, newTestSystem(t, testURL()), SourceConfig{Queue: q, Key: "id"})
	src.WakeInterval = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(testContext(t))
	wake := src.Wake(ctx)
	b.publishOrders(q, 1, 3)
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake after publishing")
	}
	if got := readAll(t, ctx, src); len(got) != 3 {
		t.Errorf("read %d after the wake, want 3", len(got))
	}
	cancel()
	for range wake { // closes when ctx ends
	}
}

// childQueueEnv makes the test binary a consumer that is killed mid-read.
const childQueueEnv = "FERRY_RABBITMQ_KILL_CHILD_QUEUE"

// SIGKILL mid-consume: a child process reads, acks page 1, reports page
// 2 and hangs without acking it; the parent kills it. Everything not
// acked is delivered again to the parent's read: nothing is lost.
func TestKillMidConsume(t *testing.T) {
	if q := os.Getenv(childQueueEnv); q != "" {
		killChild(q)
		return
	}
	b := needBroker(t)
	q := b.queue("ferry-test-kill", nil)
	const total = 300
	b.publishOrders(q, 1, total)

	cmd := exec.Command(os.Args[0], "-test.run=^TestKillMidConsume$", "-test.count=1")
	cmd.Env = append(os.Environ(), childQueueEnv+"="+q)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	lines := bufio.NewScanner(out)
	var page1, page2 []string
	for lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "ACKED":
			page1 = f[1:]
		case "HOLDING":
			page2 = f[1:]
		}
		if page2 != nil {
			break
		}
	}
	if page1 == nil || page2 == nil {
		t.Fatalf("the child did not report its pages (scan error %v)", lines.Err())
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL on Unix
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true

	src := newTestSource(t, newTestSystem(t, testURL()), SourceConfig{Queue: q, Key: "id", PageSize: 100})
	ctx := testContext(t)
	// The broker requeues a dead connection's messages once it notices the
	// close: wait until at least every message not acked is back.
	deadline := time.Now().Add(10 * time.Second)
	for b.count(q) < total-len(page1) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	after := readAll(t, ctx, src)
	seen := map[string]int{}
	for _, k := range after {
		seen[k]++
	}
	again := 0
	for _, k := range page1 {
		if seen[k] > 0 {
			// Possible only if the kill beat the broker's handling of
			// the ack: a repeat, harmless thanks to the key.
			again++
			continue
		}
		seen[k]++
	}
	if again > 0 {
		t.Logf("%d messages acked just before the kill were delivered again", again)
	}
	for i := 1; i <= total; i++ {
		if n := seen[strconv.Itoa(i)]; n != 1 {
			t.Errorf("key %d seen %d times after the kill, want once", i, n)
		}
	}
	if len(page2) != 100 {
		t.Errorf("the child held %d messages, want 100", len(page2))
	}
}

// killChild is the child side of TestKillMidConsume.
func killChild(q string) {
	sys, err := NewSystem(connector.Env{}, "broker", &SystemConfig{URL: testURL()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	src, err := NewSource(sys, connector.Env{}, &SourceConfig{System: "broker", Queue: q, Key: "id", PageSize: 100, Wait: config.Duration(time.Minute)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	err = src.Read(context.Background(), connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error {
		keys := make([]string, len(p.Records))
		for i, r := range p.Records {
			keys[i] = r.Key
		}
		if p.Number == 1 {
			if err := p.Ack(ctx); err != nil {
				return err
			}
			// A channel round trip after the ack: the broker has it.
			if err := sys.Check(ctx); err != nil {
				return err
			}
			fmt.Println("ACKED", strings.Join(keys, " "))
			return nil
		}
		fmt.Println("HOLDING", strings.Join(keys, " "))
		select {} // wait for the SIGKILL
	})
	fmt.Fprintln(os.Stderr, "child read ended:", err)
	os.Exit(3)
}
