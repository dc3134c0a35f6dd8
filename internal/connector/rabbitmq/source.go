package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/expr"
	"github.com/ferry-dev/ferry/internal/jsonx"
)

// Source consumes a queue; it implements connector.Source and
// connector.Waker.
//
// Each Read opens its own channel with basic.qos prefetch and a consumer
// with manual acknowledgements. Page.Ack acknowledges the page's messages
// (with one multiple ack when every earlier page of the read is
// acknowledged, one by one otherwise). When the read ends, messages not
// handed to fn go back to the queue at once; Ack may still be called
// after Read returned (the engine queues and acks a page while the next
// is read), so the channel is closed only once every page handed over is
// acknowledged, after AckWait, or when the system closes: then every
// message not acknowledged goes back to the queue. Ack after that fails.
type Source struct {
	sys      *System
	queue    string
	declare  bool
	dlx      string
	key      string
	keyFrom  string
	prefetch int
	pageSize int
	wait     time.Duration
	invalid  string
	log      *slog.Logger

	// WakeInterval is how often Wake looks at the queue's message count
	// while no read runs (default 1s).
	WakeInterval time.Duration
	// AckWait is how long the channel of a read that ended stays open for
	// the acks of the pages it handed over (default 30s; 0 closes it when
	// Read returns). The engine queues a page and acks it after fn
	// returned; a dry run never acks: its pages go back after AckWait.
	AckWait time.Duration

	reading atomic.Int32 // reads in progress, for Wake
}

var (
	_ connector.Source = (*Source)(nil)
	_ connector.Waker  = (*Source)(nil)
)

// NewSource prepares a source; it does not touch the network.
func NewSource(sys *System, env connector.Env, cfg *SourceConfig) (*Source, error) {
	if cfg == nil {
		return nil, errors.New("rabbitmq source: no settings")
	}
	c := *cfg
	sourceDefaults(&c)
	problems := sourceProblems(&c)
	if err := joinProblems("rabbitmq source", problems); err != nil {
		return nil, err
	}
	log := env.Logger
	if log == nil {
		log = sys.log
	}
	return &Source{
		sys: sys, queue: c.Queue, declare: c.Declare, dlx: c.DeadLetterExchange,
		key: c.Key, keyFrom: c.KeyFrom, prefetch: c.Prefetch, pageSize: c.PageSize,
		wait: time.Duration(c.Wait), invalid: c.Invalid, log: log,
		WakeInterval: DefaultWakeInterval, AckWait: DefaultAckWait,
	}, nil
}

// Read consumes the queue until no message came for the configured wait,
// ctx ends, fn fails or a message cannot be read (with invalid: fail).
func (s *Source) Read(ctx context.Context, _ connector.ReadRequest, fn func(context.Context, connector.Page) error) error {
	s.reading.Add(1)
	defer s.reading.Add(-1)
	ch, err := s.sys.channel(ctx)
	if err != nil {
		return fmt.Errorf("queue %s: %w", s.queue, err)
	}
	r := &read{src: s, ch: ch, settled: make(chan struct{}, 1)}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	if err := s.setup(ch); err != nil {
		r.close()
		return err
	}
	tag := "ferry-" + randomTag()
	// Not ConsumeWithContext: its goroutine cancels the consumer whenever
	// ctx ends, even after the read, racing with the channel's close (two
	// calls on one channel mix their answers). consume watches ctx itself.
	deliveries, err := ch.Consume(s.queue, tag, false, false, false, false, nil)
	if err != nil {
		r.close()
		return s.channelError("consume", err)
	}
	err = s.consume(ctx, r, deliveries, closed, fn)
	r.finish(ctx, tag, deliveries)
	return err
}

// consume reads deliveries into pages and hands each to fn.
func (s *Source) consume(ctx context.Context, r *read, deliveries <-chan amqp.Delivery, closed <-chan *amqp.Error, fn func(context.Context, connector.Page) error) error {
	timer := time.NewTimer(s.wait)
	defer timer.Stop()
	for number := 1; ; number++ {
		page := &readPage{read: r, number: number}
		idle := false
	collect:
		for len(page.records) < s.pageSize {
			timer.Reset(s.wait)
			select {
			case d, ok := <-deliveries:
				if !ok {
					return s.consumerGone(ctx, closed)
				}
				if err := r.take(page, &d); err != nil {
					// The records before the bad message still go to the
					// engine, so only the bad message is left in the queue.
					if ferr := s.handOver(ctx, r, page, fn); ferr != nil && !errors.Is(ferr, connector.ErrStop) {
						return ferr
					}
					return err
				}
			case <-timer.C:
				idle = true
				break collect
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := s.handOver(ctx, r, page, fn); err != nil {
			if errors.Is(err, connector.ErrStop) {
				return nil
			}
			return err
		}
		if idle {
			return nil
		}
	}
}

// handOver passes a page that has records to fn.
func (s *Source) handOver(ctx context.Context, r *read, page *readPage, fn func(context.Context, connector.Page) error) error {
	if len(page.records) == 0 {
		return nil
	}
	r.handOver(page.number, page.tags[len(page.tags)-1])
	err := fn(ctx, page.page(s.queue))
	if err != nil && !errors.Is(err, connector.ErrStop) {
		r.takeBack(page.number) // a page fn refused is not the engine's
	}
	return err
}

// setup declares the queue (declare: true) or checks that it exists, and
// sets the prefetch.
func (s *Source) setup(ch *amqp.Channel) error {
	if s.declare {
		var args amqp.Table
		if s.dlx != "" {
			args = amqp.Table{"x-dead-letter-exchange": s.dlx}
		}
		if _, err := ch.QueueDeclare(s.queue, true, false, false, false, args); err != nil {
			return s.channelError("declare", err)
		}
	} else if _, err := ch.QueueDeclarePassive(s.queue, true, false, false, false, nil); err != nil {
		return s.channelError("find", err)
	}
	if err := ch.Qos(s.prefetch, 0, false); err != nil {
		return s.channelError("set prefetch", err)
	}
	return nil
}

// channelError words a failure of an operation on the queue.
func (s *Source) channelError(op string, err error) error {
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return s.sys.redactf("queue %s: %s: the queue does not exist on %s (create it, or set declare: true): %s", s.queue, op, s.sys.display, ae.Reason)
	}
	return s.sys.redactf("queue %s: %s: %s", s.queue, op, describeError(err))
}

// consumerGone explains why the deliveries stopped: the channel or
// connection closed, the broker cancelled the consumer (queue deleted),
// or ctx ended.
func (s *Source) consumerGone(ctx context.Context, closed <-chan *amqp.Error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case e := <-closed:
		if e != nil {
			return s.sys.redactf("queue %s: the connection to the broker broke during the read (unacknowledged messages go back to the queue): %s", s.queue, describeError(e))
		}
	default:
	}
	return fmt.Errorf("queue %s: the broker cancelled the consumer (was the queue deleted?); unacknowledged messages go back to the queue", s.queue)
}

// read is the state of one Read: its channel and which pages are acked.
type read struct {
	src *Source
	ch  *amqp.Channel

	mu         sync.Mutex
	done       bool
	handed     int             // pages handed to fn
	handedTags []uint64        // by page number - 1: the page's last delivery tag
	maxTag     uint64          // the highest delivery tag received
	rejected   map[uint64]bool // invalid messages rejected (dead-lettered or dropped)
	ackedUpTo  int             // every page up to this number is acked
	acked      map[int]bool    // pages acked out of order, beyond ackedUpTo
	settled    chan struct{}   // receives when the last handed page is acked
}

// handOver notes that page number (pages are handed over in order) is
// the engine's.
func (r *read) handOver(number int, lastTag uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handedTags = append(r.handedTags[:number-1], lastTag)
	r.handed = number
}

// takeBack undoes handOver for a page fn refused.
func (r *read) takeBack(number int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handedTags = r.handedTags[:number-1]
	r.handed = number - 1
}

// lastHandedTag is the last delivery tag of the pages handed over.
func (r *read) lastHandedTag() uint64 {
	if r.handed == 0 {
		return 0
	}
	return r.handedTags[r.handed-1]
}

// finish ends a read. Messages received but not handed over go back to
// the queue at once (basic.nack with requeue). The channel stays open
// until every handed page is acked, because the engine acks a page after
// fn returned; pages not acked within AckWait (or by the system's Close)
// go back when the channel closes.
func (r *read) finish(ctx context.Context, tag string, deliveries <-chan amqp.Delivery) {
	if ctx.Err() != nil || r.ch.IsClosed() {
		r.close()
		return
	}
	if err := r.ch.Cancel(tag, false); err != nil {
		r.close()
		return
	}
	for d := range deliveries { // closes once the cancelled consumer's buffer is empty
		r.received(d.DeliveryTag)
	}
	r.mu.Lock()
	from, to := r.lastHandedTag()+1, r.maxTag
	rejected := r.rejected
	all := r.ackedUpTo >= r.handed
	r.mu.Unlock()
	for t := from; t <= to; t++ {
		if rejected[t] {
			continue // already settled: a second nack would close the channel
		}
		if err := r.ch.Nack(t, false, true); err != nil {
			r.close() // closing requeues them all the same
			return
		}
	}
	wait := r.src.AckWait
	if all || wait <= 0 {
		r.close()
		return
	}
	go func() {
		defer r.close()
		timer := time.NewTimer(wait)
		defer timer.Stop()
		for {
			r.mu.Lock()
			done := r.ackedUpTo >= r.handed
			r.mu.Unlock()
			if done {
				return
			}
			select {
			case <-r.settled:
			case <-timer.C:
				return
			case <-r.src.sys.done:
				return
			}
		}
	}()
}

// received notes the highest delivery tag seen.
func (r *read) received(tag uint64) {
	r.mu.Lock()
	r.maxTag = max(r.maxTag, tag)
	r.mu.Unlock()
}

func (r *read) close() {
	r.mu.Lock()
	r.done = true
	r.mu.Unlock()
	_ = r.ch.Close()
}

// readPage collects the messages of one page.
type readPage struct {
	read    *read
	number  int
	records []connector.SourceRecord
	tags    []uint64
}

func (p *readPage) page(queue string) connector.Page {
	first, last := p.tags[0], p.tags[len(p.tags)-1]
	tags := p.tags
	return connector.Page{
		Number:  p.number,
		URL:     fmt.Sprintf("queue %s messages %d-%d", queue, first, last),
		Records: p.records,
		Ack:     func(ctx context.Context) error { return p.read.ack(ctx, p.number, tags) },
	}
}

// ack acknowledges one page's messages. When every earlier page is
// acknowledged, one multiple ack up to the page's last tag does it (the
// messages in between that are not the page's were rejected already);
// otherwise each message is acknowledged on its own, so no message of an
// earlier page that is not durably queued yet is acknowledged with it.
func (r *read) ack(ctx context.Context, number int, tags []uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.src.queue
	if number <= r.ackedUpTo || r.acked[number] {
		return nil
	}
	if r.done {
		return fmt.Errorf("queue %s: ack messages %d-%d: too late, the read has ended (the ack wait is %s), so they went back to the queue and will be read again", q, tags[0], tags[len(tags)-1], r.src.AckWait)
	}
	var err error
	if number == r.ackedUpTo+1 {
		err = r.ch.Ack(tags[len(tags)-1], true)
	} else {
		for _, t := range tags {
			if err = r.ch.Ack(t, false); err != nil {
				break
			}
		}
	}
	if err != nil {
		return r.src.sys.redactf("queue %s: ack messages %d-%d (they go back to the queue and will be read again): %s", q, tags[0], tags[len(tags)-1], describeError(err))
	}
	if number == r.ackedUpTo+1 {
		r.ackedUpTo = number
		for r.acked[r.ackedUpTo+1] {
			delete(r.acked, r.ackedUpTo+1)
			r.ackedUpTo++
		}
	} else {
		if r.acked == nil {
			r.acked = map[int]bool{}
		}
		r.acked[number] = true
	}
	if r.ackedUpTo >= r.handed {
		select {
		case r.settled <- struct{}{}:
		default:
		}
	}
	return nil
}

// randomTag makes consumer tags unique per read.
func randomTag() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// take turns a delivery into a record of the page, or handles it as
// invalid.
func (r *read) take(p *readPage, d *amqp.Delivery) error {
	r.received(d.DeliveryTag)
	rec, reason := r.src.record(d)
	if reason == "" {
		p.records = append(p.records, rec)
		p.tags = append(p.tags, d.DeliveryTag)
		return nil
	}
	s := r.src
	where := fmt.Sprintf("queue %s: message %d", s.queue, d.DeliveryTag)
	if d.MessageId != "" {
		where += fmt.Sprintf(" (message_id %q)", d.MessageId)
	}
	switch s.invalid {
	case InvalidDeadLetter, InvalidDrop:
		// basic.reject without requeue: the broker dead-letters it when
		// the queue has a dead-letter exchange, and drops it otherwise.
		if err := r.ch.Reject(d.DeliveryTag, false); err != nil {
			return s.sys.redactf("%s: %s; rejecting it failed, so it stays in the queue: %s", where, reason, describeError(err))
		}
		r.mu.Lock()
		if r.rejected == nil {
			r.rejected = map[uint64]bool{}
		}
		r.rejected[d.DeliveryTag] = true
		r.mu.Unlock()
		verb := "dead-lettered"
		if s.invalid == InvalidDrop {
			verb = "dropped (invalid: drop)"
		}
		s.log.Warn("rabbitmq: message "+verb, "queue", s.queue, "message", d.DeliveryTag, "message_id", d.MessageId, "reason", s.sys.secrets.String(reason))
		return nil
	}
	return s.sys.redactf("%s: %s (it stays in the queue; set invalid: dead_letter or drop to read past it)", where, reason)
}

// record decodes a message body into a record and finds its key; the
// reason is "" on success and says what is wrong otherwise.
func (s *Source) record(d *amqp.Delivery) (connector.SourceRecord, string) {
	v, err := jsonx.Decode(d.Body)
	if err != nil {
		return connector.SourceRecord{}, fmt.Sprintf("not JSON: %v (body %s)", err, bodyExcerpt(d.Body))
	}
	data, ok := v.(map[string]any)
	if !ok {
		return connector.SourceRecord{}, fmt.Sprintf("the body is %s (expected a JSON object)", describe(v))
	}
	var key string
	switch s.keyFrom {
	case KeyFromMessageID:
		if d.MessageId == "" {
			return connector.SourceRecord{}, "no message_id property (key_from: message_id)"
		}
		key = d.MessageId
	case KeyFromHeader:
		hv, ok := d.Headers[s.key]
		if !ok || hv == nil {
			return connector.SourceRecord{}, fmt.Sprintf("no header %q (key_from: header)", s.key)
		}
		if b, isBytes := hv.([]byte); isBytes {
			key = string(b)
		} else {
			key = fmt.Sprint(hv)
		}
	default:
		kv, found := lookup(data, s.key)
		if !found || kv == nil {
			return connector.SourceRecord{}, fmt.Sprintf("no key field %q", s.key)
		}
		switch kv.(type) {
		case map[string]any, []any:
			return connector.SourceRecord{}, fmt.Sprintf("key field %q is %s (expected a string or number)", s.key, describe(kv))
		}
		key = expr.Stringify(kv)
	}
	if key == "" {
		return connector.SourceRecord{}, "an empty key"
	}
	return connector.SourceRecord{Key: key, Data: data}, ""
}

// lookup finds a dotted path in a JSON object.
func lookup(data map[string]any, path string) (any, bool) {
	var cur any = data
	for seg := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[seg]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// describe names the kind of a JSON value for messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return fmt.Sprintf("an array of %d items", len(x))
	case string:
		return "a string"
	case bool:
		return "a boolean"
	default:
		return "a number"
	}
}

// bodyExcerpt quotes the start of a body for an error message.
func bodyExcerpt(b []byte) string {
	const n = 80
	if len(b) > n {
		return fmt.Sprintf("%q...", b[:n])
	}
	return fmt.Sprintf("%q", b)
}

// Wake fires when messages wait in the queue while no read of this
// source runs. It polls the queue's message count every WakeInterval on
// a channel of its own; the channel closes when ctx ends.
func (s *Source) Wake(ctx context.Context) <-chan struct{} {
	out := make(chan struct{}, 1)
	interval := s.WakeInterval
	if interval <= 0 {
		interval = DefaultWakeInterval
	}
	go func() {
		defer close(out)
		var ch *amqp.Channel
		defer func() {
			if ch != nil {
				_ = ch.Close()
			}
		}()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if s.reading.Load() > 0 {
				continue
			}
			if ch == nil || ch.IsClosed() {
				var err error
				if ch, err = s.sys.channel(ctx); err != nil {
					s.log.Debug("rabbitmq: wake: no channel", "queue", s.queue, "error", err)
					ch = nil
					continue
				}
			}
			q, err := ch.QueueDeclarePassive(s.queue, true, false, false, false, nil)
			if err != nil {
				// A missing queue closes the channel; the next tick opens
				// another.
				s.log.Debug("rabbitmq: wake: queue not readable", "queue", s.queue, "error", s.sys.secrets.String(err.Error()))
				continue
			}
			if q.Messages > 0 && s.reading.Load() == 0 {
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out
}
