// Package engine runs routes: collect from the source into the durable
// queue, send leased entries through the steps to their destination, settle
// every record on its own, retry errors, and keep run records.
//
// The engine never speaks HTTP: connectors come through the Connectors
// interface, and the queue through store.Store.
package engine

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/expr"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/transform"
)

// Connectors builds the connectors a route uses.
type Connectors interface {
	Source(route *config.Route) (connector.Source, error)
	Destination(route *config.Route, name string, d *config.Destination) (connector.Destination, error)
	Operation(route *config.Route, op *config.Operation) (connector.Operation, error)
}

// Options tune an Engine. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Owner identifies this worker in leases (default: host:pid:nonce).
	Owner string
	// LeaseFor is how long a lease lasts before another worker may take
	// the entry (default 5m).
	LeaseFor time.Duration
	// RetryWait is how long a run waits for error entries that fall due
	// soon before it ends (default 5s; 0 keeps the default, <0 disables).
	RetryWait time.Duration
	// LockFor is how long a run lock lasts unless its run extends it
	// (every third of it); a run that cannot extend it stops (default 1m).
	LockFor time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Events receives run and entry events (nil: none are published).
	Events *events.Bus
	// FlushEvery is how often a running run's counters are written to
	// the store (default 2s).
	FlushEvery time.Duration
	// RetentionByCaller: runs do not apply the retention when they end;
	// the caller calls ApplyRetention on its own clock (ferry serve's
	// leader, so many short webhook runs do not each prune).
	RetentionByCaller bool
}

// Engine runs the routes of one config against one store.
type Engine struct {
	cfg     *config.Config
	store   store.Store
	storeID string // mixed into idempotency keys
	routes  map[string]*route
	opts    Options
	log     *slog.Logger

	pruneMu    sync.Mutex
	lastVacuum time.Time // space is reclaimed at most once an hour
}

// route is a route compiled once: connectors built, steps compiled.
type route struct {
	cfg          *config.Route
	source       connector.Source
	steps        *transform.Pipeline
	destinations map[string]*destination
	after        []connector.Operation
	onError      []connector.Operation
	onStale      []connector.Operation // fresh_within incidents (see Notify)
	// hashSeed is mixed into every content hash: a change of what the
	// route sends (steps, destinations) makes every record count as
	// changed once, so a fixed mapping is delivered without a resend.
	hashSeed   []byte
	deleteSeed []byte // hashSeed for deletes (see deleteSeed)
	// entryPriority computes an entry's priority (nil: the route's).
	entryPriority *expr.Program
}

type destination struct {
	name string
	cfg  *config.Destination
	conn connector.Destination
	body *transform.Mapper // nil: the record as the steps left it
}

// array reports whether the destination sends a batch as one request
// (or transaction), as it declares.
func (d *destination) array() bool {
	b, ok := d.conn.(connector.OneRequestPerBatch)
	return ok && b.OneRequestPerBatch()
}

// New compiles every route of cfg.
func New(cfg *config.Config, st store.Store, conns Connectors, opts Options) (*Engine, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Owner == "" {
		opts.Owner = NewOwner()
	}
	if opts.LeaseFor <= 0 {
		opts.LeaseFor = 5 * time.Minute
	}
	if opts.RetryWait == 0 {
		opts.RetryWait = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.LockFor <= 0 {
		opts.LockFor = time.Minute
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = 2 * time.Second
	}
	e := &Engine{cfg: cfg, store: st, storeID: st.ID(), routes: map[string]*route{}, opts: opts, log: opts.Logger}
	for _, name := range cfg.RouteNames() {
		r, err := compileRoute(cfg.Routes[name], conns)
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", name, err)
		}
		e.routes[name] = r
	}
	return e, nil
}

func compileRoute(rc *config.Route, conns Connectors) (*route, error) {
	seed := sendFingerprint(rc)
	r := &route{cfg: rc, destinations: map[string]*destination{}, hashSeed: seed, deleteSeed: deleteSeed(seed)}
	var err error
	// A route fed only by its webhook has no source to read.
	if rc.Source.Kind != "" {
		if r.source, err = conns.Source(rc); err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
	}
	if rc.EntryPriority != "" {
		if r.entryPriority, err = expr.Compile(rc.EntryPriority); err != nil {
			return nil, fmt.Errorf("entry_priority: %w", err)
		}
	}
	if r.steps, err = transform.Compile(rc.Steps); err != nil {
		return nil, fmt.Errorf("steps: %w", err)
	}
	for name, dc := range rc.Destinations {
		d := &destination{name: name, cfg: dc}
		if d.conn, err = conns.Destination(rc, name, dc); err != nil {
			return nil, fmt.Errorf("destination %q: %w", name, err)
		}
		if m, ok := dc.Config.(connector.RecordMapper); ok && len(m.RecordMap()) > 0 {
			if d.body, err = transform.CompileMap(m.RecordMap()); err != nil {
				return nil, fmt.Errorf("destination %q: map: %w", name, err)
			}
		}
		r.destinations[name] = d
	}
	for i := range rc.After {
		op, err := conns.Operation(rc, &rc.After[i])
		if err != nil {
			return nil, fmt.Errorf("after[%d]: %w", i, err)
		}
		r.after = append(r.after, op)
	}
	for i := range rc.OnError {
		op, err := conns.Operation(rc, &rc.OnError[i])
		if err != nil {
			return nil, fmt.Errorf("on_error[%d]: %w", i, err)
		}
		r.onError = append(r.onError, op)
	}
	for i := range rc.OnStale {
		op, err := conns.Operation(rc, &rc.OnStale[i])
		if err != nil {
			return nil, fmt.Errorf("on_stale[%d]: %w", i, err)
		}
		r.onStale = append(r.onStale, op)
	}
	return r, nil
}

// Store returns the engine's store.
func (e *Engine) Store() store.Store { return e.store }

// Config returns the engine's config.
func (e *Engine) Config() *config.Config { return e.cfg }

func (e *Engine) route(name string) (*route, error) {
	r, ok := e.routes[name]
	if !ok {
		if _, err := e.cfg.Route(name); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("route %q is not compiled", name)
	}
	return r, nil
}

// ApplyRetention applies the config's retention (see prune).
func (e *Engine) ApplyRetention(ctx context.Context) { e.prune(ctx) }

// prune applies the config's retention after a run. Space is reclaimed
// (SQLite incremental vacuum) at most once an hour per engine; failures
// are logged, never fatal: the run's work is done.
func (e *Engine) prune(ctx context.Context) {
	ret := e.cfg.Retention
	now := e.opts.Now()
	cutoff := func(d config.Duration) time.Time {
		if d <= 0 { // 0: not set, Forever: keep
			return time.Time{}
		}
		return now.Add(-d.D())
	}
	req := store.PruneRequest{
		AttemptsBefore:  cutoff(ret.Attempts),
		RunsBefore:      cutoff(ret.Runs),
		DeadBefore:      cutoff(ret.DeadLetters),
		DeliveredBefore: cutoff(ret.Delivered),
	}
	if req == (store.PruneRequest{}) {
		return
	}
	e.pruneMu.Lock()
	if e.lastVacuum.IsZero() || now.Sub(e.lastVacuum) >= time.Hour {
		req.Vacuum, e.lastVacuum = true, now
	}
	e.pruneMu.Unlock()
	res, err := e.store.Prune(ctx, req)
	if err != nil {
		e.log.Warn("apply retention", "err", err)
		return
	}
	if res != (store.PruneResult{}) {
		e.log.Info("retention applied", "attempts", res.Attempts, "runs", res.Runs, "dead_letters", res.DeadLetters, "delivered", res.Delivered)
	}
}
