package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/expr"
	"github.com/ferry-dev/ferry/internal/jsonx"
)

// Destination publishes each record as one JSON message with publisher
// confirms; it implements connector.Destination and connector.Previewer.
//
// A batch gets a channel of its own in confirm mode: every record is
// published, then each settles from its own confirm (ack: done; nack:
// retried), from a return (mandatory and unroutable: failed, not retried)
// or from the channel's end (an exchange that does not exist: failed; a
// broken connection: unknown, retried). A record without a confirm
// within ConfirmTimeout is unknown and retried.
type Destination struct {
	sys        *System
	exchange   string
	routingKey *expr.Template
	persistent bool
	mandatory  bool

	// ConfirmTimeout bounds the wait for a batch's confirms.
	ConfirmTimeout time.Duration
}

var (
	_ connector.Destination        = (*Destination)(nil)
	_ connector.Previewer          = (*Destination)(nil)
	_ connector.OneRequestPerBatch = (*Destination)(nil)
)

// NewDestination prepares a destination; it does not touch the network.
func NewDestination(sys *System, cfg *DestinationConfig) (*Destination, error) {
	if cfg == nil {
		return nil, errors.New("rabbitmq destination: no settings")
	}
	c := *cfg
	destinationDefaults(&c)
	if err := joinProblems("rabbitmq destination", destinationProblems(&c)); err != nil {
		return nil, err
	}
	rk, err := expr.CompileTemplate(c.RoutingKey)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq destination routing_key: %w", err)
	}
	return &Destination{
		sys: sys, exchange: c.Exchange, routingKey: rk,
		persistent: *c.Persistent, mandatory: *c.Mandatory,
		ConfirmTimeout: time.Duration(c.ConfirmTimeout),
	}, nil
}

// OneRequestPerBatch is false: each record is its own message with its
// own confirm.
func (d *Destination) OneRequestPerBatch() bool { return false }

// message is one record rendered for publishing.
type message struct {
	routingKey string
	pub        amqp.Publishing
}

// render builds a record's message; an error is the record's (the same
// record always renders the same way, so it is not retried).
func (d *Destination) render(del connector.Delivery) (message, error) {
	rk, err := d.routingKey.Render(deliveryEnv(del))
	if err != nil {
		return message{}, fmt.Errorf("routing_key: %w", err)
	}
	body, err := jsonx.Marshal(del.Record)
	if err != nil {
		return message{}, fmt.Errorf("encode record as JSON: %w", err)
	}
	mode := amqp.Transient
	if d.persistent {
		mode = amqp.Persistent
	}
	typ := "upsert"
	if del.Deleted {
		typ = "delete"
	}
	id := del.IdempotencyKey
	if id == "" {
		id = "ferry-entry-" + strconv.FormatInt(del.EntryID, 10)
	}
	return message{routingKey: rk, pub: amqp.Publishing{
		ContentType:  "application/json",
		DeliveryMode: mode,
		MessageId:    id,
		Type:         typ,
		AppId:        "ferry",
		Timestamp:    time.Now().UTC().Truncate(time.Second),
		Body:         body,
	}}, nil
}

// deliveryEnv is a record's template env: its fields, with the delivery's
// vars (key, entry...) on top.
func deliveryEnv(del connector.Delivery) map[string]any {
	env := make(map[string]any, len(del.Record)+len(del.Vars)+1)
	for k, v := range del.Record {
		env[k] = v
	}
	for k, v := range del.Vars {
		env[k] = v
	}
	if _, ok := env["key"]; !ok {
		env["key"] = del.Key
	}
	return env
}

// target names where a message goes, for previews and messages.
func (d *Destination) target(routingKey string) string {
	if d.exchange == "" {
		return fmt.Sprintf("amqp default exchange routing key %s", routingKey)
	}
	return fmt.Sprintf("amqp exchange %s routing key %s", d.exchange, routingKey)
}

// Preview renders a record's message as Send would publish it.
func (d *Destination) Preview(_ context.Context, del connector.Delivery) (connector.Preview, error) {
	m, err := d.render(del)
	if err != nil {
		return connector.Preview{}, errors.New(d.sys.secrets.String(err.Error()))
	}
	return connector.Preview{Method: "PUBLISH", URL: d.sys.secrets.String(d.target(m.routingKey)), Body: d.sys.secrets.Bytes(m.pub.Body)}, nil
}

// Send publishes the batch and settles each record from its confirm. It
// returns an error only when ctx ended, with the results it has: records
// confirmed are OK, the others unknown.
func (d *Destination) Send(ctx context.Context, batch []connector.Delivery) ([]connector.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(batch) == 0 {
		return nil, nil
	}
	start := time.Now()
	results := make([]connector.Result, len(batch))
	msgs := make([]message, len(batch))
	publish := make([]bool, len(batch)) // rendered, to be published
	for i, del := range batch {
		m, err := d.render(del)
		if err != nil {
			results[i] = connector.Result{Error: err.Error(), Request: requestExcerpt(del.Record)}
			continue
		}
		msgs[i], publish[i] = m, true
	}
	d.publish(ctx, batch, msgs, publish, results)
	for i := range results {
		results[i].Duration = time.Since(start)
		results[i].Error = d.sys.secrets.String(results[i].Error)
		results[i].Request = d.sys.secrets.String(results[i].Request)
	}
	if err := ctx.Err(); err != nil && !allOK(results) {
		return results, err
	}
	return results, nil
}

// publish publishes the records marked in publish and fills their results.
func (d *Destination) publish(ctx context.Context, batch []connector.Delivery, msgs []message, publish []bool, results []connector.Result) {
	failAll := func(r connector.Result) {
		for i := range results {
			if publish[i] {
				results[i] = r
				results[i].Request = d.request(msgs[i])
			}
		}
	}
	ch, err := d.sys.channel(ctx)
	if err != nil {
		failAll(connector.Result{Retryable: true, Error: err.Error()})
		return
	}
	defer ch.Close()
	// Buffered: the library blocks its reader while a notification waits.
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	returns := ch.NotifyReturn(make(chan amqp.Return, len(batch)))
	if err := ch.Confirm(false); err != nil {
		failAll(connector.Result{Retryable: true, Error: fmt.Sprintf("%s: enable publisher confirms: %s", d.sys.name, describeError(err))})
		return
	}

	confirms := make([]*amqp.DeferredConfirmation, len(batch))
	var publishErr error               // the publish that failed; later records were not sent
	unsent := make([]bool, len(batch)) // rendered but not published
	for i := range batch {
		if !publish[i] {
			continue
		}
		if publishErr != nil {
			results[i] = connector.Result{Retryable: true, Error: "not published: " + describeError(publishErr), Request: d.request(msgs[i])}
			unsent[i] = true
			continue
		}
		m := msgs[i]
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, d.exchange, m.routingKey, d.mandatory, false, m.pub)
		if err != nil {
			publishErr = err
			results[i] = connector.Result{Retryable: true, Error: "not published: " + describeError(err), Request: d.request(m)}
			unsent[i] = true
			continue
		}
		confirms[i] = dc
	}

	// Wait for every confirm, the timeout or ctx.
	timeout := d.ConfirmTimeout
	if timeout <= 0 {
		timeout = DefaultConfirmTimeout
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	cancelled := false
wait:
	for _, dc := range confirms {
		if dc == nil {
			continue
		}
		select {
		case <-dc.Done():
		case <-timer.C:
			break wait
		case <-ctx.Done():
			cancelled = true
			break wait
		}
	}

	// The library hands out a return before the ack of the same message
	// and a close before it nacks what is pending, so both are in their
	// buffered channels once the confirms are in.
	returned := map[string]amqp.Return{}
drain:
	for {
		select {
		case r, ok := <-returns:
			if !ok {
				break drain
			}
			returned[r.MessageId] = r
		default:
			break drain
		}
	}
	var closeErr *amqp.Error
	select {
	case closeErr = <-closed:
	default:
	}

	for i, dc := range confirms {
		if dc == nil {
			continue
		}
		m := msgs[i]
		r := &results[i]
		select {
		case <-dc.Done():
		default:
			// No confirm yet: the broker may have the message.
			reason := fmt.Sprintf("no publisher confirm within %s", timeout)
			if cancelled {
				reason = "interrupted before the publisher confirm: " + ctx.Err().Error()
			}
			*r = connector.Result{Unknown: true, Retryable: true, Error: reason, Request: d.request(m)}
			continue
		}
		if ret, ok := returned[m.pub.MessageId]; ok {
			*r = connector.Result{Error: fmt.Sprintf("unroutable: %s has no queue bound for routing key %q (%d %s)",
				d.exchangeName(), m.routingKey, ret.ReplyCode, ret.ReplyText), Request: d.request(m)}
			continue
		}
		if dc.Acked() {
			*r = connector.Result{OK: true}
			continue
		}
		if closeErr != nil {
			*r = d.closedResult(closeErr)
			r.Request = d.request(m)
			continue
		}
		*r = connector.Result{Retryable: true, Error: fmt.Sprintf("the broker refused the message to %s (basic.nack)", d.target(m.routingKey)), Request: d.request(m)}
	}
	// Records not published because the channel had closed take the
	// channel's reason when it is the config's fault (no such exchange).
	if closeErr != nil {
		if cr := d.closedResult(closeErr); !cr.Unknown {
			for i := range results {
				if unsent[i] {
					cr.Request = results[i].Request
					results[i] = cr
				}
			}
		}
	}
}

// closedResult settles a record whose channel closed before its confirm.
// A missing exchange or refused access is the config's fault: retrying
// cannot help. Anything else (a broken connection, a broker shutting
// down) may have let the message through: unknown, retried.
func (d *Destination) closedResult(e *amqp.Error) connector.Result {
	switch e.Code {
	case amqp.NotFound:
		return connector.Result{Error: fmt.Sprintf("%s does not exist on %s: %s", d.exchangeName(), d.sys.display, e.Reason)}
	case amqp.AccessRefused:
		return connector.Result{Error: fmt.Sprintf("publish to %s refused: %s", d.exchangeName(), e.Reason)}
	}
	return connector.Result{Unknown: true, Retryable: true, Error: fmt.Sprintf("the channel closed before the publisher confirm: %s", describeError(e))}
}

func (d *Destination) exchangeName() string {
	if d.exchange == "" {
		return "the default exchange"
	}
	return fmt.Sprintf("exchange %q", d.exchange)
}

// excerptSize bounds the request excerpt kept with a failed record.
const excerptSize = 512

// request is the excerpt of what was published for a record, kept with
// its attempt.
func (d *Destination) request(m message) string {
	return "PUBLISH " + d.target(m.routingKey) + " " + excerpt(m.pub.Body)
}

func requestExcerpt(rec connector.Record) string {
	b, err := jsonx.Marshal(rec)
	if err != nil {
		return ""
	}
	return excerpt(b)
}

func excerpt(b []byte) string {
	if len(b) > excerptSize {
		return string(b[:excerptSize]) + "..."
	}
	return string(b)
}

func allOK(results []connector.Result) bool {
	for _, r := range results {
		if !r.OK {
			return false
		}
	}
	return true
}
