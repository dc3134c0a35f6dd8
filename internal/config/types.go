// Package config loads and validates ferry.yaml: systems, routes and the store.
//
// The struct tag ferry:"expr" marks an expression (free-form values: every
// string leaf is one); ferry:"template" marks a string with ${...} parts
// (free-form values: every string leaf is one). Validation compiles both.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/redact"
	"github.com/ferry-dev/ferry/internal/schedule"
)

// Config is one loaded ferry.yaml.
type Config struct {
	// Store is the embedded SQLite file (default "ferry.db", relative to the
	// config file) or, in a later release, a postgres:// URL.
	Store   string             `yaml:"store,omitempty" json:"store,omitempty" jsonschema:"description=SQLite file path (relative to this file) holding the queue; default ferry.db"`
	Systems map[string]*System `yaml:"systems,omitempty" json:"systems,omitempty" jsonschema:"description=Named connections to outside systems\\, shared by routes"`
	Routes  map[string]*Route  `yaml:"routes" json:"routes" jsonschema:"description=The pipelines\\, one per entity or workflow"`
	// Retention bounds the history kept in the store (see docs/configuration.md).
	Retention Retention `yaml:"retention,omitempty" json:"retention,omitempty"`
	// Workers bounds the runs ferry serve executes side by side (default 4).
	Workers int `yaml:"workers,omitempty" json:"workers,omitempty" jsonschema:"minimum=1,maximum=256,description=Runs ferry serve executes side by side (default 4\\, at most 256)"`
	// Server configures ferry serve's listener.
	Server Server `yaml:"server,omitempty" json:"server,omitempty"`

	// File is the path the config was loaded from ("" when loaded from bytes).
	File string `yaml:"-" json:"-"`
	// RouteOrder lists route names in the order they appear in the file.
	RouteOrder []string `yaml:"-" json:"-"`

	// secretValues are the values taken from ${env:} and ${file:} (see
	// SecretValues); redactor removes them from text.
	secretValues []string
	redactor     *redact.Redactor
	// kinds are the connector kinds the config was loaded with.
	kinds *connector.Set
}

// SecretValues lists every value the config took from ${env:...} or
// ${file:...}, wherever it went (auth, a header, a query, a path, a body
// template), and the values of options that are secrets by nature (API
// and webhook tokens, signature keys) even when written in the file: none
// of them may appear in output, logs or the store. Not
// listed: defaults written in the file (${env:X:-default}), values shorter
// than 4 characters, and a value that is a system's whole url (an
// address; the connector redacts a password in it).
func (c *Config) SecretValues() []string { return append([]string(nil), c.secretValues...) }

// Redactor removes the SecretValues from text and values. A config not
// loaded by Load or Parse has none; its redactor (nil) leaves text as is.
func (c *Config) Redactor() *redact.Redactor { return c.redactor }

// Route is one pipeline: source, steps, destinations, final operations.
type Route struct {
	Description string   `yaml:"description,omitempty" json:"description,omitempty"`
	Priority    int      `yaml:"priority,omitempty" json:"priority,omitempty" jsonschema:"description=Higher is served first (default 0)"`
	DependsOn   []string `yaml:"depends_on,omitempty" json:"depends_on,omitempty" jsonschema:"description=Routes that must run before this one"`

	// Schedule, Timezone and Every say when ferry serve runs the route on
	// its own (see Trigger).
	Schedule string   `yaml:"schedule,omitempty" json:"schedule,omitempty" jsonschema:"description=Cron expression (5 fields\\, or @hourly @daily @weekly @monthly @yearly) in timezone; ferry serve runs the route then"`
	Timezone string   `yaml:"timezone,omitempty" json:"timezone,omitempty" jsonschema:"description=IANA time zone of schedule (default UTC)\\, e.g. Europe/Berlin"`
	Every    Duration `yaml:"every,omitempty" json:"every,omitempty" jsonschema:"description=Run every this long (at least 1s; not together with schedule)"`
	// Concurrent: nil means the default (see IsConcurrent).
	Concurrent *bool `yaml:"concurrent,omitempty" json:"concurrent,omitempty" jsonschema:"description=May run beside other routes (default false; true for webhook routes)"`
	// EntryPriority orders the entries within the route's queue (an int
	// per record; default the route's priority).
	EntryPriority string      `yaml:"entry_priority,omitempty" json:"entry_priority,omitempty" jsonschema:"description=Expression giving each record's priority (an integer; default the route's priority)" ferry:"expr"`
	FreshWithin   Duration    `yaml:"fresh_within,omitempty" json:"fresh_within,omitempty" jsonschema:"description=The route is stale when its last successful run is older than this (at least 1m)"`
	OnStale       []Operation `yaml:"on_stale,omitempty" json:"on_stale,omitempty" jsonschema:"description=Calls made once when the route goes stale and once when it is fresh again"`
	Webhook       *Webhook    `yaml:"webhook,omitempty" json:"webhook,omitempty" jsonschema:"description=Accept records posted to /hooks/{route}"`

	Source       Source                  `yaml:"source,omitempty" json:"source,omitempty" jsonschema:"description=Where records are read from (a route needs a source\\, a webhook\\, or both)"`
	Steps        []Step                  `yaml:"steps,omitempty" json:"steps,omitempty"`
	Batch        int                     `yaml:"batch,omitempty" json:"batch,omitempty" jsonschema:"description=Entries per delivery batch (default 100)"`
	ErrorBatch   int                     `yaml:"error_batch,omitempty" json:"error_batch,omitempty" jsonschema:"description=Entries per batch in the error pass (default batch/10\\, at least 1)"`
	Destinations map[string]*Destination `yaml:"destinations" json:"destinations" jsonschema:"description=Named destinations; 'default' receives records no switch sent elsewhere"`
	Retry        Retry                   `yaml:"retry,omitempty" json:"retry,omitempty"`
	// MaxIterations caps collect+send rounds per run (default 20).
	MaxIterations int `yaml:"max_iterations,omitempty" json:"max_iterations,omitempty" jsonschema:"description=Cap of collect+send iterations per run (default 20)"`
	// CollectLimit caps records read from the source per iteration (default 10000).
	CollectLimit int         `yaml:"collect_limit,omitempty" json:"collect_limit,omitempty" jsonschema:"description=Records read from the source per iteration (default 10000)"`
	After        []Operation `yaml:"after,omitempty" json:"after,omitempty" jsonschema:"description=Calls made for each delivered record"`
	OnError      []Operation `yaml:"on_error,omitempty" json:"on_error,omitempty" jsonschema:"description=Calls made for each record that became a dead letter"`
	// ResendUnchanged sends a record again even when its content equals
	// what was last delivered for its key (pushes that must repeat).
	ResendUnchanged bool `yaml:"resend_unchanged,omitempty" json:"resend_unchanged,omitempty" jsonschema:"description=Send records again even when their content equals the last delivered one (default false: unchanged records are settled without sending)"`
	// Deletes says what becomes of records the source reports deleted
	// (change capture): ignore (default: counted as pruned, not sent) or
	// send (delivered as deletes to the default destination).
	Deletes string `yaml:"deletes,omitempty" json:"deletes,omitempty" jsonschema:"enum=ignore,enum=send,description=Records the source reports deleted: ignore (default; counted as pruned) or send (delivered as deletes)"`

	Name string `yaml:"-" json:"-"`
	// trigger is the schedule parsed by Load (see Trigger).
	trigger schedule.Schedule
}

// Forever is the Retention value that keeps a kind of history for ever.
const Forever = Duration(-1)

// Retention is how long the store keeps history. Load fills the defaults;
// Forever keeps a kind for ever.
type Retention struct {
	// Attempts of records that left the queue delivered, skipped or
	// discarded (default 30 days).
	Attempts Duration `yaml:"attempts,omitempty" json:"attempts,omitempty" jsonschema:"type=string,description=How long attempts of delivered records are kept (default 720h = 30 days; forever keeps them)"`
	// Runs that ended (default 90 days).
	Runs Duration `yaml:"runs,omitempty" json:"runs,omitempty" jsonschema:"type=string,description=How long finished runs are kept (default 2160h = 90 days; forever keeps them)"`
	// DeadLetters (default forever: until discarded or replayed).
	DeadLetters Duration `yaml:"dead_letters,omitempty" json:"dead_letters,omitempty" jsonschema:"type=string,description=How long dead letters are kept (default forever: until discarded or replayed)"`
	// Delivered is the last delivered content per key, which unchanged
	// detection and ferry resend use (default forever).
	Delivered Duration `yaml:"delivered,omitempty" json:"delivered,omitempty" jsonschema:"type=string,description=How long the last delivered content of each key is kept for unchanged detection and resend (default forever)"`
}

// Retry is the retry policy of a route.
type Retry struct {
	Attempts   int      `yaml:"attempts,omitempty" json:"attempts,omitempty" jsonschema:"description=Delivery attempts before an entry becomes a dead letter (default 5)"`
	Backoff    Duration `yaml:"backoff,omitempty" json:"backoff,omitempty" jsonschema:"type=string,description=First retry delay\\, doubled each attempt (default 10s)"`
	MaxBackoff Duration `yaml:"max_backoff,omitempty" json:"max_backoff,omitempty" jsonschema:"type=string,description=Longest retry delay (default 1h)"`
}

// Step is one transformation; exactly one field is set.
type Step struct {
	Filter   string         `yaml:"filter,omitempty" json:"filter,omitempty" jsonschema:"description=Keep the record only when this expression is true; others settle as skipped" ferry:"expr"`
	Map      map[string]any `yaml:"map,omitempty" json:"map,omitempty" jsonschema:"description=Build a new record: field -> expression (nested objects allowed)" ferry:"expr"`
	Set      map[string]any `yaml:"set,omitempty" json:"set,omitempty" jsonschema:"description=Change or add fields: field -> expression" ferry:"expr"`
	Drop     []string       `yaml:"drop,omitempty" json:"drop,omitempty" jsonschema:"description=Remove these fields"`
	Validate *Validate      `yaml:"validate,omitempty" json:"validate,omitempty"`
	Switch   []SwitchCase   `yaml:"switch,omitempty" json:"switch,omitempty"`
}

// Validate fails the record with Message unless If is true.
type Validate struct {
	If      string `yaml:"if" json:"if" ferry:"expr"`
	Message string `yaml:"message,omitempty" json:"message,omitempty" jsonschema:"description=Error message; may hold ${...} templates" ferry:"template"`
}

// SwitchCase is one branch of a switch: the first case whose When is true
// applies its Steps and, with To, sends the record to another destination.
type SwitchCase struct {
	When  string `yaml:"when,omitempty" json:"when,omitempty" jsonschema:"description=Condition; omit for the default case" ferry:"expr"`
	To    string `yaml:"to,omitempty" json:"to,omitempty" jsonschema:"description=Destination name"`
	Steps []Step `yaml:"steps,omitempty" json:"steps,omitempty"`
}

// Duration is a time.Duration written as "30s", "5m", "1h".
type Duration time.Duration

// UnmarshalText parses "30s" style durations, "7d" for days, and
// "forever" (Forever, for retention).
func (d *Duration) UnmarshalText(b []byte) error {
	text := string(b)
	if text == "forever" {
		*d = Forever
		return nil
	}
	v, err := parseDuration(text)
	if err != nil {
		return fmt.Errorf("invalid duration %q (expected e.g. 500ms, 30s, 5m, 1h, 7d)", text)
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", text)
	}
	*d = Duration(v)
	return nil
}

// parseDuration is time.ParseDuration that also takes whole days ("30d").
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" {
		n, err := strconv.Atoi(days)
		if err != nil {
			return 0, err
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// MarshalText writes the duration back as text.
func (d Duration) MarshalText() ([]byte, error) {
	if d == Forever {
		return []byte("forever"), nil
	}
	return []byte(time.Duration(d).String()), nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }
