// Package rabbitmq is the RabbitMQ (AMQP 0.9.1) connector: a system (one
// lazily opened broker connection), a source that consumes a queue and
// acknowledges each page of messages only when the engine has queued its
// records durably, and a destination that publishes each record with
// publisher confirms and settles it from its own confirm.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/expr"
	"github.com/ferry-dev/ferry/internal/redact"
)

// Name is the kind's YAML key.
const Name = "rabbitmq"

// Defaults.
const (
	DefaultTimeout        = 10 * time.Second
	DefaultHeartbeat      = 10 * time.Second
	DefaultPrefetch       = 1000
	DefaultPageSize       = 500
	DefaultWait           = time.Second
	DefaultConfirmTimeout = 30 * time.Second
	DefaultWakeInterval   = time.Second
	DefaultAckWait        = 30 * time.Second
)

// What the source does with a message it cannot turn into a record (not
// JSON, not an object, no key).
const (
	InvalidFail       = "fail"        // fail the read; the message stays in the queue
	InvalidDeadLetter = "dead_letter" // reject it to the queue's dead-letter exchange
	InvalidDrop       = "drop"        // reject it without requeue: it is gone
)

// Where the source finds a record's key.
const (
	KeyFromBody      = "body"       // key: a dotted path in the JSON body
	KeyFromMessageID = "message_id" // the message_id property
	KeyFromHeader    = "header"     // key: the name of a header
)

// SystemConfig is a RabbitMQ system: one broker connection shared by the
// routes that name it.
type SystemConfig struct {
	URL       string          `yaml:"url" json:"url" jsonschema:"description=AMQP URL amqp://user:password@host:5672/vhost (amqps:// for TLS); write it as ${env:AMQP_URL}: the password never appears in messages or logs"`
	Timeout   config.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty" jsonschema:"type=string,description=How long connecting (TCP and AMQP handshake) may take (default 10s)"`
	Heartbeat config.Duration `yaml:"heartbeat,omitempty" json:"heartbeat,omitempty" jsonschema:"type=string,description=AMQP heartbeat interval: a dead connection is noticed after about twice this (default 10s)"`
}

// SourceConfig consumes one queue.
type SourceConfig struct {
	System             string          `yaml:"system" json:"system" jsonschema:"description=The rabbitmq system to consume from"`
	Queue              string          `yaml:"queue" json:"queue" jsonschema:"description=The queue to consume"`
	Declare            bool            `yaml:"declare,omitempty" json:"declare,omitempty" jsonschema:"description=Declare the queue (durable) if it does not exist; without it a missing queue fails the read"`
	DeadLetterExchange string          `yaml:"dead_letter_exchange,omitempty" json:"dead_letter_exchange,omitempty" jsonschema:"description=With declare: the queue's dead-letter exchange (its x-dead-letter-exchange argument)"`
	Key                string          `yaml:"key,omitempty" json:"key,omitempty" jsonschema:"description=With key_from: body (the default) the dotted path of the business key in the JSON body (e.g. id or order.number); with key_from: header the header's name"`
	KeyFrom            string          `yaml:"key_from,omitempty" json:"key_from,omitempty" jsonschema:"enum=body,enum=message_id,enum=header,description=Where the business key is: body (a field of the JSON body\\, the default)\\, message_id (the AMQP message_id property) or header (a message header named by key)"`
	Prefetch           int             `yaml:"prefetch,omitempty" json:"prefetch,omitempty" jsonschema:"minimum=0,description=How many unacknowledged messages the broker hands out at once (basic.qos; default 1000; at least page_size)"`
	PageSize           int             `yaml:"page_size,omitempty" json:"page_size,omitempty" jsonschema:"minimum=0,description=Messages per page: the engine queues and acknowledges a page at a time (default 500)"`
	Wait               config.Duration `yaml:"wait,omitempty" json:"wait,omitempty" jsonschema:"type=string,description=How long a read waits for another message before it ends (default 1s: a run reads what is in the queue and ends)"`
	Invalid            string          `yaml:"invalid,omitempty" json:"invalid,omitempty" jsonschema:"enum=fail,enum=dead_letter,enum=drop,description=A message that is not a JSON object or has no key: fail (the default) fails the read naming the message and leaves it in the queue; dead_letter rejects it to the queue's dead-letter exchange; drop rejects it without requeue (it is lost)"`
}

// DestinationConfig publishes records to an exchange.
type DestinationConfig struct {
	System         string          `yaml:"system" json:"system" jsonschema:"description=The rabbitmq system to publish to"`
	Exchange       string          `yaml:"exchange,omitempty" json:"exchange,omitempty" jsonschema:"description=The exchange to publish to; empty is the default exchange (the routing key is then a queue name)"`
	RoutingKey     string          `yaml:"routing_key" json:"routing_key" jsonschema:"description=Routing key of each message: a template over the record's fields and key\\, e.g. order.${key}" ferry:"template"`
	Persistent     *bool           `yaml:"persistent,omitempty" json:"persistent,omitempty" jsonschema:"description=Publish messages as persistent (delivery mode 2) so they survive a broker restart (default true)"`
	Mandatory      *bool           `yaml:"mandatory,omitempty" json:"mandatory,omitempty" jsonschema:"description=Publish as mandatory: a message no queue is bound for comes back and its record fails naming the routing key (default true; false lets the broker drop it)"`
	ConfirmTimeout config.Duration `yaml:"confirm_timeout,omitempty" json:"confirm_timeout,omitempty" jsonschema:"type=string,description=How long to wait for the broker's publisher confirms of a batch; a record without one is retried as unknown (default 30s)"`
}

const kindDoc = "RabbitMQ (AMQP 0.9.1): consume a queue as a route's source, " +
	"publish records to an exchange as a destination.\n\n" +
	"```yaml\n" +
	"systems:\n" +
	"  broker:\n" +
	"    rabbitmq: { url: \"${env:AMQP_URL}\" }   # amqp://user:password@host:5672/vhost\n" +
	"\n" +
	"routes:\n" +
	"  orders:\n" +
	"    source:\n" +
	"      rabbitmq: { system: broker, queue: orders, key: id }\n" +
	"    destinations:\n" +
	"      default:\n" +
	"        rabbitmq: { system: broker, exchange: erp, routing_key: \"order.${key}\" }\n" +
	"```\n\n" +
	"**Connection.** The system connects on first use (never while the config loads) and " +
	"connects again after the connection broke. The password in the URL never appears in a " +
	"message or log line.\n\n" +
	"**Source: acknowledged after queuing.** A read consumes the queue with manual " +
	"acknowledgements, `page_size` messages a page. A page's messages are acknowledged only " +
	"after the engine has queued its records durably. When the read ends, messages it " +
	"received but did not page go back to the queue at once; a page that could not be " +
	"queued goes back when its channel closes (at the latest 30s later). If ferry dies between " +
	"queuing and acknowledging, RabbitMQ delivers those messages again and the record's key " +
	"makes the repeat harmless (it replaces the pending entry or is found unchanged). A read " +
	"ends when no message arrived for `wait` (1s): a run takes what is in the queue. While " +
	"no read runs, the source polls the queue's message count and wakes its route when " +
	"messages wait.\n\n" +
	"Each message body must be a JSON object; it becomes the record. The key is a field of " +
	"the body (`key: id`), the `message_id` property (`key_from: message_id`) or a header " +
	"(`key_from: header`, `key: X-Order-Id`).\n\n" +
	"**A message that is not a record** (not JSON, not an object, no key) is never lost " +
	"silently. By default (`invalid: fail`) the messages before it are queued, then the read " +
	"fails with `queue orders: message 17: not JSON: ...` and the message stays in the queue, " +
	"so the route stops there until it is removed or fixed. `invalid: dead_letter` rejects it to the queue's dead-letter exchange " +
	"(the queue must have one: its `x-dead-letter-exchange` argument or a policy; with " +
	"`declare: true` set `dead_letter_exchange`); `invalid: drop` rejects it without requeue " +
	"and logs it. Both let the read go on.\n\n" +
	"**Destination: publisher confirms.** Each record is published as JSON " +
	"(`content_type: application/json`) with `message_id` set to the record's idempotency " +
	"key, so consumers can drop repeats, and `type` `upsert` or `delete` (a route with " +
	"`deletes: send`). Each record settles from its own confirm: an ack delivers it, a nack " +
	"retries it; a message returned as unroutable (`mandatory`, the default) fails without " +
	"retry naming the routing key, as does a batch to an exchange that does not exist; no " +
	"confirm within `confirm_timeout` retries the record as unknown (it may have arrived).\n"

// Kind is the rabbitmq connector kind.
func Kind() connector.Kind {
	return connector.Kind{
		Name:    Name,
		Summary: "RabbitMQ (AMQP 0.9.1): consume a queue with acks after queuing; publish with publisher confirms",
		Doc:     kindDoc,
		System: &connector.SystemPart{
			Spec: connector.Spec{
				Config:   func() any { return &SystemConfig{} },
				Defaults: func(cfg any) { systemDefaults(cfg.(*SystemConfig)) },
				Validate: func(c connector.Checker, cfg any) { validateSystem(c, cfg.(*SystemConfig)) },
				Caps:     []connector.Capability{connector.CapHealth},
			},
			Build: func(_ context.Context, env connector.Env, name string, cfg any) (connector.System, error) {
				return NewSystem(env, name, cfg.(*SystemConfig))
			},
		},
		Source: &connector.SourcePart{
			Spec: connector.Spec{
				Config:   func() any { return &SourceConfig{} },
				Defaults: func(cfg any) { sourceDefaults(cfg.(*SourceConfig)) },
				Validate: func(c connector.Checker, cfg any) { validateSource(c, cfg.(*SourceConfig)) },
				Caps:     []connector.Capability{connector.CapAck, connector.CapWake},
			},
			Build: func(_ context.Context, env connector.Env, cfg any) (connector.Source, error) {
				c := cfg.(*SourceConfig)
				sys, err := system(env, c.System)
				if err != nil {
					return nil, err
				}
				return NewSource(sys, env, c)
			},
		},
		Destination: &connector.DestinationPart{
			Spec: connector.Spec{
				Config:   func() any { return &DestinationConfig{} },
				Defaults: func(cfg any) { destinationDefaults(cfg.(*DestinationConfig)) },
				Validate: func(c connector.Checker, cfg any) { validateDestination(c, cfg.(*DestinationConfig)) },
				Caps:     []connector.Capability{connector.CapPreview, connector.CapDeletes},
			},
			Build: func(_ context.Context, env connector.Env, cfg any) (connector.Destination, error) {
				c := cfg.(*DestinationConfig)
				sys, err := system(env, c.System)
				if err != nil {
					return nil, err
				}
				return NewDestination(sys, c)
			},
		},
	}
}

// system finds the named system and checks that it is a rabbitmq one.
func system(env connector.Env, name string) (*System, error) {
	return connector.SystemAs[*System](env, name, "a rabbitmq")
}

func systemDefaults(c *SystemConfig) {
	if c.Timeout == 0 {
		c.Timeout = config.Duration(DefaultTimeout)
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = config.Duration(DefaultHeartbeat)
	}
}

func sourceDefaults(c *SourceConfig) {
	if c.KeyFrom == "" {
		c.KeyFrom = KeyFromBody
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.Prefetch == 0 {
		c.Prefetch = max(DefaultPrefetch, c.PageSize)
	}
	if c.Wait == 0 {
		c.Wait = config.Duration(DefaultWait)
	}
	if c.Invalid == "" {
		c.Invalid = InvalidFail
	}
}

func destinationDefaults(c *DestinationConfig) {
	yes := true
	if c.Persistent == nil {
		c.Persistent = &yes
	}
	if c.Mandatory == nil {
		c.Mandatory = &yes
	}
	if c.ConfirmTimeout == 0 {
		c.ConfirmTimeout = config.Duration(DefaultConfirmTimeout)
	}
}

func validateSystem(c connector.Checker, cfg *SystemConfig) {
	if cfg.URL == "" {
		c.Errorf("url", "required (an AMQP URL such as amqp://user:password@host:5672/vhost, best written as ${env:AMQP_URL})")
	} else if _, err := parseURL(cfg.URL); err != nil {
		c.Errorf("url", "%v", err)
	}
	if cfg.Timeout < 0 {
		c.Errorf("timeout", "must not be negative")
	}
	if cfg.Heartbeat < 0 {
		c.Errorf("heartbeat", "must not be negative")
	}
}

// sourceProblems lists what is wrong with a source config, by field; the
// constructor refuses the same problems, so a source built without the
// loader (tests, tools) cannot be misconfigured either.
func sourceProblems(cfg *SourceConfig) [][2]string {
	var out [][2]string
	add := func(field, msg string) { out = append(out, [2]string{field, msg}) }
	if cfg.System == "" {
		add("system", "required (the name of a rabbitmq system)")
	}
	if cfg.Queue == "" {
		add("queue", "required (the queue to consume)")
	}
	switch cfg.KeyFrom {
	case "", KeyFromBody:
		if cfg.Key == "" {
			add("key", "required (the dotted path of the business key in the JSON body, e.g. id; or set key_from: message_id)")
		}
	case KeyFromHeader:
		if cfg.Key == "" {
			add("key", "required with key_from: header (the header's name)")
		}
	case KeyFromMessageID:
		if cfg.Key != "" {
			add("key", "not used with key_from: message_id (remove it)")
		}
	default:
		add("key_from", fmt.Sprintf("%q is not a key source (expected body, message_id or header)", cfg.KeyFrom))
	}
	switch cfg.Invalid {
	case "", InvalidFail, InvalidDrop:
	case InvalidDeadLetter:
		if cfg.Declare && cfg.DeadLetterExchange == "" {
			add("dead_letter_exchange", "required with declare: true and invalid: dead_letter (the queue is declared with it, so rejected messages go there)")
		}
	default:
		add("invalid", fmt.Sprintf("%q is not a choice (expected fail, dead_letter or drop)", cfg.Invalid))
	}
	if cfg.DeadLetterExchange != "" && !cfg.Declare {
		add("dead_letter_exchange", "only applies with declare: true (an existing queue keeps its own arguments)")
	}
	if cfg.PageSize < 0 {
		add("page_size", "must not be negative")
	}
	if cfg.Prefetch < 0 || cfg.Prefetch > 65535 {
		add("prefetch", "must be between 0 and 65535")
	} else if cfg.Prefetch > 0 && cfg.PageSize > 0 && cfg.Prefetch < cfg.PageSize {
		add("prefetch", fmt.Sprintf("%d is less than page_size %d: a page could never fill (the broker stops at prefetch unacknowledged messages)", cfg.Prefetch, cfg.PageSize))
	}
	if cfg.Wait < 0 {
		add("wait", "must not be negative")
	}
	return out
}

func validateSource(c connector.Checker, cfg *SourceConfig) {
	if cfg.System != "" {
		c.System("system", cfg.System, Name)
	}
	for _, p := range sourceProblems(cfg) {
		if p[0] == "system" && cfg.System != "" {
			continue
		}
		c.Errorf(p[0], "%s", p[1])
	}
}

func destinationProblems(cfg *DestinationConfig) [][2]string {
	var out [][2]string
	if cfg.System == "" {
		out = append(out, [2]string{"system", "required (the name of a rabbitmq system)"})
	}
	if cfg.RoutingKey == "" && cfg.Exchange == "" {
		out = append(out, [2]string{"routing_key", "required with the default exchange (it names the queue)"})
	}
	if _, err := expr.CompileTemplate(cfg.RoutingKey); err != nil {
		out = append(out, [2]string{"routing_key", err.Error()})
	}
	if cfg.ConfirmTimeout < 0 {
		out = append(out, [2]string{"confirm_timeout", "must not be negative"})
	}
	return out
}

func validateDestination(c connector.Checker, cfg *DestinationConfig) {
	if cfg.System != "" {
		c.System("system", cfg.System, Name)
	}
	for _, p := range destinationProblems(cfg) {
		c.Errorf(p[0], "%s", p[1])
	}
}

// joinProblems turns problems into one error for a constructor.
func joinProblems(what string, problems [][2]string) error {
	if len(problems) == 0 {
		return nil
	}
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = fmt.Errorf("%s %s: %s", what, p[0], p[1])
	}
	return errors.Join(errs...)
}

// parseURL checks an AMQP URL without ever repeating it: url.Parse puts
// the whole URL, password included, into its errors.
func parseURL(raw string) (amqp.URI, error) {
	u, err := amqp.ParseURI(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return u, fmt.Errorf("not a valid AMQP URL (expected amqp://user:password@host:5672/vhost): %s", stripURL(err.Error(), raw))
	}
	return u, nil
}

// stripURL removes raw and what looks like its password from msg, in
// case an error quotes part of a URL that did not parse.
func stripURL(msg, raw string) string {
	if raw == "" {
		return msg
	}
	vals := []string{raw, url.QueryEscape(raw)}
	if rest, ok := strings.CutPrefix(raw[strings.Index(raw, "://")+1:], "//"); ok {
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok && pw != "" {
				vals = append(vals, pw)
			}
		}
	}
	for _, v := range vals {
		msg = strings.ReplaceAll(msg, v, redact.Mark)
	}
	return msg
}
