package server

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

// The API's JSON shapes. They are declared here, not taken as they are
// from store and service types, so the API (and its OpenAPI document)
// stays stable and snake_case when those change.

type queueView struct {
	Pending    int `json:"pending"`
	Error      int `json:"error"`
	Leased     int `json:"leased"`
	Dead       int `json:"dead"`
	Outbox     int `json:"outbox"`
	OutboxDead int `json:"outbox_dead"`
}

func viewQueue(c store.Counts) queueView {
	return queueView{Pending: c.Pending, Error: c.Error, Leased: c.Leased, Dead: c.Dead, Outbox: c.Outbox, OutboxDead: c.OutboxDead}
}

type routeView struct {
	Name               string     `json:"name"`
	Description        string     `json:"description,omitempty"`
	State              string     `json:"state"`
	Priority           int        `json:"priority"`
	DependsOn          []string   `json:"depends_on"`
	Concurrent         bool       `json:"concurrent"`
	Schedule           string     `json:"schedule,omitempty"`
	NextRun            *time.Time `json:"next_run,omitempty"`
	SkippedTicks       int64      `json:"skipped_ticks"`
	Webhook            bool       `json:"webhook"`
	Running            *runView   `json:"running,omitempty"`
	LastRun            *runView   `json:"last_run,omitempty"`
	LastSuccess        *time.Time `json:"last_success,omitempty"`
	FreshWithinSeconds float64    `json:"fresh_within_seconds,omitempty"`
	Stale              bool       `json:"stale"`
	Queue              queueView  `json:"queue"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func viewRoute(rs service.RouteState) routeView {
	deps := rs.DependsOn
	if deps == nil {
		deps = []string{}
	}
	return routeView{
		Name: rs.Name, Description: rs.Description, State: rs.State, Priority: rs.Priority,
		DependsOn: deps, Concurrent: rs.Concurrent, Schedule: rs.Schedule, NextRun: timePtr(rs.NextRun),
		SkippedTicks: rs.SkippedTicks, Webhook: rs.Webhook, Running: viewRunPtr(rs.Running), LastRun: viewRunPtr(rs.LastRun),
		LastSuccess: timePtr(rs.LastSuccess), FreshWithinSeconds: rs.FreshWithin.Seconds(), Stale: rs.Stale,
		Queue: viewQueue(rs.Queue),
	}
}

// routeDetail is a route's state with a summary of its config (no
// secrets: kinds and counts, not options).
type routeDetail struct {
	routeView
	Config routeConfigView `json:"config"`
}

type routeConfigView struct {
	// Source is the source's kind ("" for a webhook-only route).
	Source string `json:"source,omitempty"`
	// Destinations maps each destination's name to its kind.
	Destinations map[string]string `json:"destinations"`
	Steps        int               `json:"steps"`
	Schedule     string            `json:"schedule,omitempty"`
	Timezone     string            `json:"timezone,omitempty"`
	Every        string            `json:"every,omitempty"`
	Webhook      *webhookView      `json:"webhook,omitempty"`
}

type webhookView struct {
	// Auth is "token" or "signature".
	Auth           string  `json:"auth"`
	Respond        string  `json:"respond"`
	TimeoutSeconds float64 `json:"timeout_seconds"`
	MaxBody        int64   `json:"max_body"`
}

func viewRouteConfig(rc *config.Route) routeConfigView {
	v := routeConfigView{
		Source:       rc.Source.Kind,
		Destinations: map[string]string{},
		Steps:        len(rc.Steps),
		Schedule:     rc.Schedule,
		Timezone:     rc.Timezone,
	}
	if rc.Every > 0 {
		v.Every = rc.Every.D().String()
	}
	for name, d := range rc.Destinations {
		v.Destinations[name] = d.Kind
	}
	if wh := rc.Webhook; wh != nil {
		p := hookPolicy(wh)
		v.Webhook = &webhookView{Auth: p.auth, Respond: p.respond, TimeoutSeconds: p.timeout.Seconds(), MaxBody: p.maxBody}
	}
	return v
}

// entryView is an entry with its status spelled out.
type entryView struct {
	ID            int64           `json:"id"`
	Route         string          `json:"route"`
	Key           string          `json:"key"`
	Version       int64           `json:"version"`
	Status        string          `json:"status"`
	Priority      int             `json:"priority"`
	Attempts      int             `json:"attempts"`
	LastError     string          `json:"last_error,omitempty"`
	NextAttemptAt time.Time       `json:"next_attempt_at"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	LeaseOwner    string          `json:"lease_owner,omitempty"`
	LeaseUntil    *time.Time      `json:"lease_until,omitempty"`
	Deleted       bool            `json:"deleted,omitempty"`
	Payload       json.RawMessage `json:"payload"`
}

// Entry status names of the API and the store's codes.
var statusNames = map[string]store.Status{
	"pending": store.StatusPending,
	"error":   store.StatusError,
	"leased":  store.StatusLeased,
}

func statusName(st store.Status) string {
	for name, code := range statusNames {
		if code == st {
			return name
		}
	}
	return string(st)
}

func viewEntry(e store.Entry) entryView {
	v := entryView{
		ID: e.ID, Route: e.Route, Key: e.Key, Version: e.Version, Status: statusName(e.Status),
		Priority: e.Priority, Attempts: e.Attempts, LastError: e.LastError, NextAttemptAt: e.NextAttemptAt,
		CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, Deleted: e.Deleted, Payload: rawOrNull(e.Payload),
	}
	if e.Status == store.StatusLeased {
		v.LeaseOwner, v.LeaseUntil = e.LeaseOwner, timePtr(e.LeaseUntil)
	}
	return v
}

func rawOrNull(p json.RawMessage) json.RawMessage {
	if len(p) == 0 || !json.Valid(p) {
		return json.RawMessage("null")
	}
	return p
}

// entryDetail is an entry (while queued) and its whole attempt history;
// an entry that left the queue (delivered, dead, discarded) has no entry
// but keeps its attempts.
type entryDetail struct {
	ID       int64         `json:"id"`
	InQueue  bool          `json:"in_queue"`
	Entry    *entryView    `json:"entry,omitempty"`
	Attempts []attemptView `json:"attempts"`
}

type attemptView struct {
	ID             int64     `json:"id"`
	EntryID        int64     `json:"entry_id"`
	Route          string    `json:"route"`
	Key            string    `json:"key"`
	Version        int64     `json:"version"`
	RunID          int64     `json:"run_id"`
	At             time.Time `json:"at"`
	Outcome        string    `json:"outcome"`
	StatusCode     int       `json:"status_code,omitempty"`
	Error          string    `json:"error,omitempty"`
	Request        string    `json:"request,omitempty"`
	Response       string    `json:"response,omitempty"`
	DurationMillis int64     `json:"duration_millis"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	Op             string    `json:"op,omitempty"`
}

func viewAttempt(a store.Attempt) attemptView {
	return attemptView{
		ID: a.ID, EntryID: a.EntryID, Route: a.Route, Key: a.Key, Version: a.Version, RunID: a.RunID, At: a.At,
		Outcome: string(a.Outcome), StatusCode: a.StatusCode, Error: a.Error, Request: a.Request, Response: a.Response,
		DurationMillis: a.DurationMillis, IdempotencyKey: a.IdempotencyKey, Op: a.Op,
	}
}

type deadView struct {
	ID        int64           `json:"id"`
	EntryID   int64           `json:"entry_id"`
	Route     string          `json:"route"`
	Key       string          `json:"key"`
	Version   int64           `json:"version"`
	Priority  int             `json:"priority"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error"`
	CreatedAt time.Time       `json:"created_at"`
	DiedAt    time.Time       `json:"died_at"`
	Deleted   bool            `json:"deleted,omitempty"`
	Payload   json.RawMessage `json:"payload"`
}

func viewDead(d store.DeadLetter) deadView {
	return deadView{
		ID: d.ID, EntryID: d.EntryID, Route: d.Route, Key: d.Key, Version: d.Version, Priority: d.Priority,
		Attempts: d.Attempts, LastError: d.LastError, CreatedAt: d.CreatedAt, DiedAt: d.DiedAt, Deleted: d.Deleted,
		Payload: rawOrNull(d.Payload),
	}
}

type replayView struct {
	Replayed   int      `json:"replayed"`
	Superseded []string `json:"superseded"`
}

func viewReplay(r store.ReplayResult) replayView {
	sup := slices.Clone(r.Superseded)
	if sup == nil {
		sup = []string{}
	}
	return replayView{Replayed: r.Replayed, Superseded: sup}
}

type discardView struct {
	Discarded int `json:"discarded"`
}

func mapSlice[T, V any](in []T, f func(T) V) []V {
	out := make([]V, len(in))
	for i, x := range in {
		out[i] = f(x)
	}
	return out
}

// runView is a run; EndedAt and DurationSeconds are absent while it runs.
type runView struct {
	ID              int64      `json:"id"`
	Route           string     `json:"route"`
	Trigger         string     `json:"trigger"`
	Mode            string     `json:"mode"`
	Status          string     `json:"status"`
	StartedAt       time.Time  `json:"started_at"`
	EndedAt         *time.Time `json:"ended_at,omitempty"`
	DurationSeconds *float64   `json:"duration_seconds,omitempty"`
	Iterations      int        `json:"iterations"`
	Collected       int        `json:"collected"`
	Sent            int        `json:"sent"`
	Done            int        `json:"done"`
	Failed          int        `json:"failed"`
	Dead            int        `json:"dead"`
	Skipped         int        `json:"skipped"`
	Unchanged       int        `json:"unchanged"`
	Pruned          int        `json:"pruned"`
	Error           string     `json:"error,omitempty"`
	Owner           string     `json:"owner,omitempty"`
}

func viewRun(r store.Run) runView {
	v := runView{
		ID: r.ID, Route: r.Route, Trigger: r.Trigger, Mode: r.Mode, Status: string(r.Status), StartedAt: r.StartedAt,
		EndedAt: timePtr(r.EndedAt), Iterations: r.Iterations, Collected: r.Collected, Sent: r.Sent, Done: r.Done,
		Failed: r.Failed, Dead: r.Dead, Skipped: r.Skipped, Unchanged: r.Unchanged, Pruned: r.Pruned, Error: r.Error,
		Owner: r.Owner,
	}
	if v.EndedAt != nil {
		d := r.EndedAt.Sub(r.StartedAt).Seconds()
		v.DurationSeconds = &d
	}
	return v
}

func viewRunPtr(r *store.Run) *runView {
	if r == nil {
		return nil
	}
	v := viewRun(*r)
	return &v
}
