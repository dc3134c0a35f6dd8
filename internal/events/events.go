// Package events carries what happens in the engine (runs starting,
// progressing and ending; entries queued and settled) to whoever listens:
// the REST API, the dashboard's server-sent events, metrics and webhook
// callers waiting for their delivery (respond: sync). Publishing never
// blocks the engine: a subscriber too slow to keep up loses events and
// is told so (Dropped), it never slows a delivery.
package events

import (
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// Type names what an event reports.
type Type string

const (
	RunStarted  Type = "run.started"
	RunProgress Type = "run.progress" // counters changed (at most a few times a second per run)
	RunFinished Type = "run.finished"
	// EntriesQueued: records were queued by a webhook (EntryIDs set).
	EntriesQueued Type = "entries.queued"
	// EntrySettled: one entry's attempt ended (Attempt set; Attempt.Outcome
	// says how). Settlements of one batch arrive one event per entry.
	EntrySettled Type = "entry.settled"
	// TickSkipped: a scheduled tick came while the route was still running.
	TickSkipped Type = "tick.skipped"
	// RouteStale / RouteFresh: a route's freshness changed (fresh_within).
	RouteStale Type = "route.stale"
	RouteFresh Type = "route.fresh"
)

// Event is one thing that happened. Which fields are set depends on Type.
type Event struct {
	Type  Type      `json:"type"`
	At    time.Time `json:"at"`
	Route string    `json:"route"`
	RunID int64     `json:"run_id,omitempty"`
	// Run is the run's state (counters, status) for run events.
	Run *store.Run `json:"run,omitempty"`
	// Phase is the run's phase for run.progress (collecting, sending, ...).
	Phase string `json:"phase,omitempty"`
	// Attempt is the settled attempt for entry.settled.
	Attempt *store.Attempt `json:"attempt,omitempty"`
	// Destination names the destination an entry was sent to (entry.settled).
	Destination string `json:"destination,omitempty"`
	// EntryIDs lists the entries queued (entries.queued).
	EntryIDs []int64 `json:"entry_ids,omitempty"`
	// Message is a human-readable note (tick.skipped, route.stale).
	Message string `json:"message,omitempty"`
	// Request is the service's request a run answers (run events of
	// ferry serve; 0 otherwise), so a client that asked for a run knows
	// it from another client's run of the same route.
	Request int64 `json:"request,omitempty"`
	// Origin names the process the event came from when another process
	// sharing the store published it ("" for this process's own events).
	Origin string `json:"origin,omitempty"`
}

// Shared reports whether an event of type t is passed to the other
// processes sharing the store (runs and routes; entry events are many
// and only of use where they happen).
func Shared(t Type) bool {
	switch t {
	case RunStarted, RunProgress, RunFinished, TickSkipped, RouteStale, RouteFresh:
		return true
	}
	return false
}

// Bus fans events out to subscribers. The zero value is not usable; use
// NewBus. A nil *Bus drops every event (engines without listeners).
type Bus struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: map[*Subscription]struct{}{}} }

// Subscription receives events on C until Close.
type Subscription struct {
	C      <-chan Event
	c      chan Event
	filter func(Event) bool
	bus    *Bus

	mu      sync.Mutex
	dropped int
	closed  bool
}

// Subscribe returns a subscription with a buffer of size events (at least
// 1) that receives the events for which filter returns true (all when
// filter is nil). Close it when done.
func (b *Bus) Subscribe(size int, filter func(Event) bool) *Subscription {
	c := make(chan Event, max(size, 1))
	s := &Subscription{C: c, c: c, filter: filter, bus: b}
	if b == nil {
		return s
	}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Dropped returns how many events this subscription lost because its
// buffer was full, and resets the count.
func (s *Subscription) Dropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.dropped
	s.dropped = 0
	return n
}

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	if s.bus != nil {
		s.bus.mu.Lock()
		delete(s.bus.subs, s)
		s.bus.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.c)
	}
}

// Publish hands ev to every subscriber whose filter takes it, without
// blocking: a full subscriber loses it (counted in Dropped). At is set
// when zero.
func (b *Bus) Publish(ev Event) {
	if b == nil {
		return
	}
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		if s.filter != nil && !s.filter(ev) {
			continue
		}
		s.mu.Lock()
		if !s.closed {
			select {
			case s.c <- ev:
			default:
				s.dropped++
			}
		}
		s.mu.Unlock()
	}
}
