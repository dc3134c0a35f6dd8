package service

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/store"
)

// Options configure a Service.
type Options struct {
	// Config is the loaded config; Load reloads it (SIGHUP, the API).
	Config *config.Config
	Load   func(ctx context.Context) (*config.Config, error)
	Store  store.Store
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests inject a fake one.
	Now func() time.Time
	// Version is recorded with the process's heartbeat.
	Version string
	// Listen is the API address, recorded with the heartbeat.
	Listen string
}

// Service is the long-running engine.
type Service struct {
	opts Options
	bus  *events.Bus
}

var errNotYet = errors.New("not implemented yet")

// New builds a service; Start starts it.
func New(opts Options) (*Service, error) { return &Service{opts: opts, bus: events.NewBus()}, nil }

// Start starts the scheduler, the workers and the rescuer.
func (s *Service) Start(ctx context.Context) error { return errNotYet }

// Stop stops taking new work, lets runs finish or releases their leases
// within ctx's deadline, and stops.
func (s *Service) Stop(ctx context.Context) error { return errNotYet }

// Config returns the config in force.
func (s *Service) Config() *config.Config { return s.opts.Config }

// Store returns the store.
func (s *Service) Store() store.Store { return s.opts.Store }

// Events returns the event bus.
func (s *Service) Events() *events.Bus { return s.bus }

// Routes returns the state of every route, in config order.
func (s *Service) Routes(ctx context.Context) ([]RouteState, error) { return nil, errNotYet }

// Route returns one route's state (ErrUnknownRoute).
func (s *Service) Route(ctx context.Context, name string) (RouteState, error) {
	return RouteState{}, errNotYet
}

// Trigger asks for runs of the routes (one cycle).
func (s *Service) Trigger(ctx context.Context, req StartRequest) ([]Ticket, error) {
	return nil, errNotYet
}

// Cancel cancels a run going on in this process (ErrNotRunning).
func (s *Service) Cancel(ctx context.Context, runID int64) error { return errNotYet }

// Accept queues records pushed to a webhook route durably and wakes the
// route; with wait, the result's Wait waits for their first attempts.
func (s *Service) Accept(ctx context.Context, route string, records []map[string]any, wait bool) (Accepted, error) {
	return Accepted{}, errNotYet
}

// Reload loads the config again and applies it when valid; an invalid
// one is refused with its errors and the old one stays.
func (s *Service) Reload(ctx context.Context) error { return errNotYet }

// Ready reports whether the service can take work (store reachable,
// config loaded).
func (s *Service) Ready(ctx context.Context) error { return errNotYet }
