// Package registry builds the connectors a config names, through the
// kinds the config was loaded with: the engine needs to know none.
package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
)

// Registry builds connectors for one config; systems (clients, pools,
// rate limits) are built once and shared by every route that uses them.
type Registry struct {
	cfg     *config.Config
	env     connector.Env
	systems map[string]connector.System
	// built are the sources, destinations and operations built, closed
	// with the systems.
	built []any
}

// Option adjusts New.
type Option func(*connector.Env)

// WithLogger gives the connectors a logger: HTTP logs every request at
// debug level (method, URL with secrets redacted, status, duration,
// records).
func WithLogger(l *slog.Logger) Option {
	return func(e *connector.Env) { e.Logger = l }
}

// New builds the systems of cfg. Building never connects: a system
// connects on first use, so a config builds without its services.
func New(cfg *config.Config, opts ...Option) (*Registry, error) {
	dir := "."
	if cfg.File != "" {
		dir = filepath.Dir(cfg.File)
	}
	r := &Registry{cfg: cfg, systems: map[string]connector.System{}}
	// Every connector redacts every secret of the config, not only its
	// own: a route's header or body template may send one anywhere, and
	// an answer may echo it.
	r.env = connector.Env{Logger: slog.New(slog.DiscardHandler), Secrets: cfg.SecretValues(), Dir: dir, System: r.system}
	for _, opt := range opts {
		opt(&r.env)
	}
	names := make([]string, 0, len(cfg.Systems))
	for name := range cfg.Systems {
		names = append(names, name)
	}
	sort.Strings(names) // the first error reported is deterministic
	for _, name := range names {
		s := cfg.Systems[name]
		k, ok := cfg.Kinds().Kind(s.Kind)
		if !ok || k.System == nil {
			return nil, fmt.Errorf("system %q: unknown kind %q", name, s.Kind)
		}
		sys, err := k.System.Build(context.Background(), r.env, name, s.Config)
		if err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("system %q: %w", name, err)
		}
		r.systems[name] = sys
	}
	return r, nil
}

// system looks up a built system for a connector.
func (r *Registry) system(name string) (connector.System, error) {
	if s, ok := r.systems[name]; ok {
		return s, nil
	}
	if len(r.systems) == 0 {
		return nil, fmt.Errorf("system: unknown system %q (no systems are configured)", name)
	}
	known := make([]string, 0, len(r.systems))
	for n := range r.systems {
		known = append(known, n)
	}
	sort.Strings(known)
	return nil, fmt.Errorf("system: unknown system %q (expected one of: %s)", name, strings.Join(known, ", "))
}

// Systems lists the built systems by name (for health checks).
func (r *Registry) Systems() map[string]connector.System {
	out := make(map[string]connector.System, len(r.systems))
	for k, v := range r.systems {
		out[k] = v
	}
	return out
}

func (r *Registry) routeEnv(route *config.Route) connector.Env {
	env := r.env
	env.Route = route.Name
	return env
}

// Source builds the route's source.
func (r *Registry) Source(route *config.Route) (connector.Source, error) {
	k, ok := r.cfg.Kinds().Kind(route.Source.Kind)
	if !ok || k.Source == nil {
		return nil, fmt.Errorf("route %q: source kind %q is not known", route.Name, route.Source.Kind)
	}
	s, err := k.Source.Build(context.Background(), r.routeEnv(route), route.Source.Config)
	if err != nil {
		return nil, err
	}
	r.built = append(r.built, s)
	return s, nil
}

// Destination builds one of the route's destinations.
func (r *Registry) Destination(route *config.Route, name string, d *config.Destination) (connector.Destination, error) {
	k, ok := r.cfg.Kinds().Kind(d.Kind)
	if !ok || k.Destination == nil {
		return nil, fmt.Errorf("route %q: destination %q: kind %q is not known", route.Name, name, d.Kind)
	}
	dst, err := k.Destination.Build(context.Background(), r.routeEnv(route), d.Config)
	if err != nil {
		return nil, err
	}
	r.built = append(r.built, dst)
	return dst, nil
}

// Operation builds one follow-up operation.
func (r *Registry) Operation(route *config.Route, op *config.Operation) (connector.Operation, error) {
	k, ok := r.cfg.Kinds().Kind(op.Kind)
	if !ok || k.Operation == nil {
		return nil, fmt.Errorf("route %q: operation kind %q is not known", route.Name, op.Kind)
	}
	o, err := k.Operation.Build(context.Background(), r.routeEnv(route), op.Config)
	if err != nil {
		return nil, err
	}
	r.built = append(r.built, o)
	return o, nil
}

// Close closes what was built (sources, destinations, operations), then
// the systems, and returns every error.
func (r *Registry) Close() error {
	var errs []error
	for i := len(r.built) - 1; i >= 0; i-- {
		if c, ok := r.built[i].(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	r.built = nil
	for name, s := range r.systems {
		if c, ok := s.(io.Closer); ok {
			if err := c.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close system %q: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}
