// Package service runs ferry as a long-lived engine: a scheduler decides
// what runs (schedules, manual starts, webhooks, depends_on, priorities),
// a bounded pool of workers executes runs, a rescuer puts back what dead
// workers left, and events tell the API, the dashboard and waiting
// webhook callers what happens. What must happen once among several
// processes sharing a store (schedule ticks, the rescuer) is taken
// through the store (Store.Lead, Store.ClaimTick), never assumed.
package service

import (
	"context"
	"errors"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// Errors the service returns; the API maps them to problem documents.
var (
	// ErrUnknownRoute: no route of that name in the loaded config.
	ErrUnknownRoute = errors.New("unknown route")
	// ErrNotWebhook: the route takes no webhook calls (no webhook: block).
	ErrNotWebhook = errors.New("route has no webhook")
	// ErrNotRunning: the run named is not running in this process.
	ErrNotRunning = errors.New("run is not running")
	// ErrStopping: the service is shutting down and takes no new work.
	ErrStopping = errors.New("ferry is stopping")
	// ErrBadRecord wraps why a pushed record cannot be queued (no key).
	ErrBadRecord = errors.New("bad record")
)

// Route states in RouteState.State.
const (
	StateIdle    = "idle"    // nothing running or waiting
	StateQueued  = "queued"  // a run waits for a worker or a dependency
	StateRunning = "running" // a run is going on
	StateFailing = "failing" // idle, but the last run failed or entries wait in error
)

// RouteState is what the service knows of one route now.
type RouteState struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	State       string   `json:"state"`
	Priority    int      `json:"priority"`
	DependsOn   []string `json:"depends_on,omitempty"`
	Concurrent  bool     `json:"concurrent"`
	// Schedule is the route's schedule as written ("*/5 * * * *",
	// "every 30s"), "" when it has none.
	Schedule     string    `json:"schedule,omitempty"`
	NextRun      time.Time `json:"next_run,omitzero"`
	SkippedTicks int64     `json:"skipped_ticks"`
	Webhook      bool      `json:"webhook"`
	// Running is the live run (counters flushed every few seconds, and
	// in this process updated as they change), nil when none.
	Running *store.Run `json:"running,omitempty"`
	LastRun *store.Run `json:"last_run,omitempty"`
	// LastSuccess is when the last run that ended succeeded (zero: never).
	LastSuccess time.Time     `json:"last_success,omitzero"`
	FreshWithin time.Duration `json:"-"`
	// Stale: the route has fresh_within and its last success is older.
	Stale bool         `json:"stale"`
	Queue store.Counts `json:"queue"`
}

// StartRequest asks for runs (API, CLI against a server, dashboard).
type StartRequest struct {
	Routes  []string // run together as one cycle: depends_on orders them
	Full    bool
	Trigger string // "api" when empty
}

// Ticket says what became of one route of a StartRequest.
type Ticket struct {
	Route string `json:"route"`
	// State is "queued" (waits for a worker, a dependency or the route's
	// running run) or "merged" (a request for the route already waits:
	// this one joins it).
	State string `json:"state"`
	// Request identifies the queued request; the run ID is known once it
	// starts (see events run.started with the same route).
	Request int64 `json:"request"`
}

// Delivery is the first attempt of an entry pushed by a webhook, for
// callers that wait (respond: sync).
type Delivery struct {
	EntryID    int64         `json:"entry_id"`
	Outcome    store.Outcome `json:"outcome"`
	StatusCode int           `json:"status_code,omitempty"`
	// Response is the destination's answer (an excerpt, as kept in the
	// attempt history).
	Response string `json:"response,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Accepted is what Accept queued for one webhook call.
type Accepted struct {
	Entries []store.Accepted
	// Wait waits until every accepted entry had its first attempt (or
	// was unchanged) and returns them in order; nil unless Accept was
	// asked to wait (respond: sync). Give it a context with the route's
	// timeout: when it ends first, Wait returns what settled and the
	// context's error.
	Wait func(ctx context.Context) ([]Delivery, error)
}
