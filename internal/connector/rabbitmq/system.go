package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/redact"
)

// System is a named RabbitMQ connection. It connects on first use and
// again after the connection broke; channels are opened per read and per
// batch on the one connection.
type System struct {
	name      string
	url       string // secret: holds the password
	display   string // the URL with its password redacted
	timeout   time.Duration
	heartbeat time.Duration
	secrets   *redact.Redactor
	log       *slog.Logger

	done chan struct{} // closed by Close: reads stop waiting for acks

	mu     sync.Mutex
	conn   *amqp.Connection
	closed bool
}

var (
	_ connector.HealthChecker = (*System)(nil)
	_ io.Closer               = (*System)(nil)
)

// NewSystem prepares a system without touching the network.
func NewSystem(env connector.Env, name string, cfg *SystemConfig) (*System, error) {
	if cfg == nil {
		return nil, fmt.Errorf("rabbitmq system %q: no settings", name)
	}
	c := *cfg
	systemDefaults(&c)
	secrets := append([]string{c.URL}, env.Secrets...)
	uri, err := parseURL(c.URL)
	if err != nil {
		return nil, fmt.Errorf("rabbitmq system %q: url: %w", name, err)
	}
	if uri.Password != "" {
		secrets = append(secrets, uri.Password)
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &System{
		name:      name,
		url:       c.URL,
		display:   displayURL(c.URL),
		timeout:   time.Duration(c.Timeout),
		heartbeat: time.Duration(c.Heartbeat),
		secrets:   redact.New(secrets...),
		log:       log,
		done:      make(chan struct{}),
	}, nil
}

// displayURL is the URL as it may be shown: the password replaced.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an AMQP URL that does not parse)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redact.Mark)
	}
	return u.String()
}

// String names the system with its redacted URL.
func (s *System) String() string { return fmt.Sprintf("rabbitmq system %q (%s)", s.name, s.display) }

// redactf builds an error with every secret of the system removed.
func (s *System) redactf(format string, args ...any) error {
	return errors.New(s.secrets.String(fmt.Sprintf(format, args...)))
}

// connection returns the open connection, dialling when there is none or
// the last one broke.
func (s *System) connection(ctx context.Context) (*amqp.Connection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, fmt.Errorf("rabbitmq system %q is closed", s.name)
	}
	if s.conn != nil && !s.conn.IsClosed() {
		return s.conn, nil
	}
	if s.conn != nil {
		s.log.Info("rabbitmq: reconnecting", "system", s.name, "url", s.display)
	}
	conn, err := s.dial(ctx)
	if err != nil {
		return nil, err
	}
	s.conn = conn
	return conn, nil
}

// dial connects within the timeout and ctx: the TCP connect takes ctx,
// and the AMQP handshake is cut off when ctx ends by expiring the
// connection's deadline (the library clears it once connected).
func (s *System) dial(ctx context.Context) (*amqp.Connection, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("ferry " + s.name)
	var stops []func() bool
	cfg := amqp.Config{
		Heartbeat:  s.heartbeat,
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Timeout: s.timeout}
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if err := c.SetDeadline(time.Now().Add(s.timeout)); err != nil {
				c.Close()
				return nil, err
			}
			stops = append(stops, context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) }))
			return c, nil
		},
	}
	conn, err := amqp.DialConfig(s.url, cfg)
	for _, stop := range stops {
		stop()
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, s.redactf("rabbitmq system %q: connect to %s: %s", s.name, s.display, describeError(err))
	}
	return conn, nil
}

// describeError words an AMQP error for people.
func describeError(err error) string {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		switch ae.Code {
		case amqp.AccessRefused:
			return fmt.Sprintf("access refused (check the user and password): %s", ae.Reason)
		}
		return fmt.Sprintf("%s (AMQP %d)", ae.Reason, ae.Code)
	}
	return err.Error()
}

// channel opens a channel, connecting again once when the connection
// turns out to be gone.
func (s *System) channel(ctx context.Context) (*amqp.Channel, error) {
	for try := 0; ; try++ {
		conn, err := s.connection(ctx)
		if err != nil {
			return nil, err
		}
		ch, err := conn.Channel()
		if err == nil {
			return ch, nil
		}
		if try > 0 || !conn.IsClosed() {
			return nil, s.redactf("rabbitmq system %q: open a channel: %s", s.name, describeError(err))
		}
	}
}

// Check connects if needed and opens and closes a channel.
func (s *System) Check(ctx context.Context) error {
	ch, err := s.channel(ctx)
	if err != nil {
		return err
	}
	if err := ch.Close(); err != nil {
		return s.redactf("rabbitmq system %q: close a channel: %s", s.name, describeError(err))
	}
	return nil
}

// Close closes the connection, if one was opened; the system cannot be
// used afterwards.
func (s *System) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		close(s.done)
	}
	s.closed = true
	if s.conn == nil || s.conn.IsClosed() {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	if err != nil && !errors.Is(err, amqp.ErrClosed) {
		return s.redactf("rabbitmq system %q: close: %s", s.name, describeError(err))
	}
	return nil
}
