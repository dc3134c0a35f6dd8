// Package registry builds the connectors a config names. It is the one
// place that knows every connector kind, so the engine needs none.
package registry

import (
	"fmt"
	"log/slog"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	httpconn "github.com/ferry-dev/ferry/internal/connector/http"
)

// Registry builds connectors for one config; systems (clients, rate
// limits) are shared by every route that uses them.
type Registry struct {
	http *httpconn.Systems
}

// Option adjusts New.
type Option func(*options)

type options struct {
	http []httpconn.Option
}

// WithLogger logs every request the connectors make at debug level
// (method, URL with secrets redacted, status, duration, records).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.http = append(o.http, httpconn.WithLogger(l)) }
}

// New prepares the systems of cfg.
func New(cfg *config.Config, opts ...Option) (*Registry, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	// Every system redacts every secret of the config, not only its own:
	// a route's header or body template may send one to it, and an answer
	// may echo it.
	httpOpts := append([]httpconn.Option{httpconn.WithSecrets(cfg.SecretValues()...)}, o.http...)
	systems, err := httpconn.NewSystems(cfg.Systems, httpOpts...)
	if err != nil {
		return nil, fmt.Errorf("systems: %w", err)
	}
	return &Registry{http: systems}, nil
}

// Source builds the route's source.
func (r *Registry) Source(route *config.Route) (connector.Source, error) {
	switch {
	case route.Source.HTTP != nil:
		return httpconn.NewSource(r.http, route.Source.HTTP)
	}
	return nil, fmt.Errorf("route %q: no source kind set", route.Name)
}

// Destination builds one of the route's destinations.
func (r *Registry) Destination(route *config.Route, name string, d *config.Destination) (connector.Destination, error) {
	switch {
	case d.HTTP != nil:
		return httpconn.NewDestination(r.http, d.HTTP)
	}
	return nil, fmt.Errorf("route %q: destination %q: no kind set", route.Name, name)
}

// Operation builds one follow-up operation.
func (r *Registry) Operation(route *config.Route, op *config.Operation) (connector.Operation, error) {
	switch {
	case op.HTTP != nil:
		return httpconn.NewOperation(r.http, op.HTTP)
	}
	return nil, fmt.Errorf("route %q: operation has no kind set", route.Name)
}
