package connector

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"
)

// A Kind is one connector module: a folder under internal/connector that
// describes itself (its config types with field docs, their validation,
// constructors and what it can do). Kinds are plain values collected into
// a Set (see internal/connector/all); there is no global registry.
//
// The name is the key a user writes in ferry.yaml: a route's source
// `sql: {...}`, a destination `http: {...}`, a system `postgres: {...}`.
// A kind has a part for each role it can play; nil parts are roles it
// does not play.
type Kind struct {
	Name    string // YAML key: lower case, e.g. "http", "sql", "postgres", "file", "rabbitmq"
	Summary string // one line for `ferry connectors` and the docs index
	// Doc is the markdown introduction of docs/connectors/<Name>.md
	// (what it is for, a short example); the option tables are generated
	// from the config types.
	Doc string

	System      *SystemPart
	Source      *SourcePart
	Destination *DestinationPart
	Operation   *OperationPart
}

// Spec is what every part declares about its config.
type Spec struct {
	// Config returns a new zero config value: a pointer to a struct whose
	// fields carry `yaml` tags (omitempty = optional) and `jsonschema`
	// tags with a description. The loader checks the file's shape against
	// it (unknown fields, types, with file:line:column), decodes into it,
	// applies ${env:}/${file:} and compiles fields tagged ferry:"expr" or
	// ferry:"template"; the schema and the docs are generated from it.
	Config func() any
	// Defaults fills unset fields of a decoded config (optional).
	Defaults func(cfg any)
	// Validate checks a decoded, defaulted config beyond its shape and
	// reports each problem through c (optional).
	Validate func(c Checker, cfg any)
	// Caps says what this part can do, for `ferry connectors` and the docs.
	Caps []Capability
}

// SystemPart builds a named, shared connection (an HTTP client with its
// rate limit, a database pool, a broker connection).
type SystemPart struct {
	Spec
	// Shorthand: a system written without a kind key (its options right
	// under its name) is of this kind. At most one kind of a Set has it
	// (HTTP, so that `erp: {url: ...}` keeps working).
	Shorthand bool
	Build     func(ctx context.Context, env Env, name string, cfg any) (System, error)
}

// SourcePart builds a route's source.
type SourcePart struct {
	Spec
	Build func(ctx context.Context, env Env, cfg any) (Source, error)
}

// DestinationPart builds one of a route's destinations.
type DestinationPart struct {
	Spec
	Build func(ctx context.Context, env Env, cfg any) (Destination, error)
}

// OperationPart builds a follow-up operation (after:, on_error:).
type OperationPart struct {
	Spec
	Build func(ctx context.Context, env Env, cfg any) (Operation, error)
}

// System is a built system. Connectors type-assert the systems they
// accept (a sql source takes a *sql.System). It may implement io.Closer
// and HealthChecker.
type System any

// Env is what a constructor gets from the engine.
type Env struct {
	Route  string // the route being built ("" for systems)
	Logger *slog.Logger
	// Secrets are every value the config took from ${env:} or ${file:}:
	// none of them may appear in a message, log line or stored excerpt.
	Secrets []string
	// System returns the built system of that name, or an error naming
	// the systems that exist.
	System func(name string) (System, error)
	// Dir is the folder of the config file: relative paths (files,
	// SQLite databases) are relative to it.
	Dir string
}

// Checker is how a part reports problems in its config. Field paths are
// dotted, relative to the part's config ("paginate.page.size"; "" is the
// part itself); the loader turns them into file:line:column.
type Checker interface {
	// Errorf reports a problem at field.
	Errorf(field, format string, args ...any)
	// Has reports whether field is written in the file.
	Has(field string) bool
	// System checks that name (written at field) is a system of one of
	// kinds and reports it otherwise; it returns the system's config.
	System(field, name string, kinds ...string) (cfg any, ok bool)
	// Secret reports whether field's value came (partly) from ${env:} or
	// ${file:}: a message about it must not quote the value.
	Secret(field string) bool
}

// Capability is something a part can do, declared by the connector (the
// engine never guesses it from config fields).
type Capability string

// The capabilities the engine and `ferry connectors` know.
const (
	// CapCursor: the source can read incrementally from a stored position
	// (the built source implements Incremental).
	CapCursor Capability = "cursor"
	// CapAck: the source acknowledges what it read only after the records
	// are durably queued (Page.Ack); unacknowledged input is read again.
	CapAck Capability = "ack"
	// CapBatch: the destination sends a batch in one request or
	// transaction (per-record results still settle each record).
	CapBatch Capability = "batch"
	// CapPreview: the destination describes a send for dry runs (Previewer).
	CapPreview Capability = "preview"
	// CapHealth: the system answers a health check (HealthChecker).
	CapHealth Capability = "health"
	// CapUpsert: the destination writes keyed records idempotently, so a
	// replay has no double effect.
	CapUpsert Capability = "upsert"
	// CapDeletes: the source reports deleted keys / the destination
	// applies deletes (Delivery.Deleted).
	CapDeletes Capability = "deletes"
	// CapPrune: the source can tell which keys still exist (KeyChecker),
	// so records deleted after capture are pruned before sending.
	CapPrune Capability = "prune"
	// CapRunFile: the destination writes one complete file per run
	// (RunScoped), published atomically.
	CapRunFile Capability = "run-file"
	// CapWake: the source can wake its route when new data arrives
	// (Waker), e.g. PostgreSQL LISTEN/NOTIFY or a broker consumer.
	CapWake Capability = "wake"
)

// Incremental is implemented by sources that keep a cursor; Incremental
// reports whether this configured source does (a cursor field is set).
type Incremental interface {
	Incremental() bool
}

// HealthChecker is implemented by systems (and may be by sources or
// destinations) that can tell whether the outside system answers.
type HealthChecker interface {
	Check(ctx context.Context) error
}

// OneRequestPerBatch is implemented by destinations that send a whole
// batch as one request or transaction (HTTP body: array, SQL upsert): an
// answer lost for it leaves every record of the batch unknown, and the
// engine retries the batch with the same composition first.
type OneRequestPerBatch interface {
	OneRequestPerBatch() bool
}

// RecordMapper is implemented by destination configs that shape each
// record before sending (HTTP map:); the engine applies the map, so dry
// runs and previews show the shaped record.
type RecordMapper interface {
	RecordMap() map[string]any
}

// Fingerprinter is implemented by destination configs: the bytes change
// when what is sent for the same record changes (a new path, method,
// table or mapping), so records count as changed once and are delivered
// again. Without it the loader uses the config's JSON encoding.
type Fingerprinter interface {
	Fingerprint() []byte
}

// RunScoped is implemented by destinations whose output belongs to one
// run (a file per run). StartRun is called before the run's first Send,
// EndRun after its last settle with whether the run completed; EndRun of
// a completed run publishes the output (atomically: a reader never sees
// half of it). A run that died leaves output StartRun of the next run
// must finish or recover: records settled done are never lost.
type RunScoped interface {
	StartRun(ctx context.Context, run RunInfo) error
	EndRun(ctx context.Context, run RunInfo, completed bool) error
}

// RunInfo names a run for run-scoped output.
type RunInfo struct {
	ID      int64
	Route   string
	Started time.Time
}

// KeyChecker is implemented by sources that can tell which keys still
// exist in the route's source view: records of keys that no longer exist
// are pruned before sending (counted as pruned, not sent). Prunes says
// whether this configured source asks for it: a change-capture source
// does; a query whose WHERE lets rows go over time (status = 'paid', the
// last 7 days) must not silently prune a record waiting for a retry.
type KeyChecker interface {
	Prunes() bool
	Existing(ctx context.Context, keys []string) (map[string]bool, error)
}

// Waker is implemented by sources that learn of new data by themselves
// (LISTEN/NOTIFY, a broker): Wake returns a channel that receives when
// the route should run; it closes when ctx ends.
type Waker interface {
	Wake(ctx context.Context) <-chan struct{}
}

// Set is the kinds one ferry build knows, by name. It is built once (see
// internal/connector/all) and read only afterwards.
type Set struct {
	kinds map[string]*Kind
	names []string // sorted
}

// NewSet checks and collects kinds: names unique, lower case, and every
// part with a config and a constructor.
func NewSet(kinds ...Kind) (*Set, error) {
	s := &Set{kinds: map[string]*Kind{}}
	for i := range kinds {
		k := &kinds[i]
		if k.Name == "" || strings.ToLower(k.Name) != k.Name || strings.ContainsAny(k.Name, " .") {
			return nil, fmt.Errorf("connector kind %q: the name must be lower case, without spaces or dots", k.Name)
		}
		if _, dup := s.kinds[k.Name]; dup {
			return nil, fmt.Errorf("connector kind %q is registered twice", k.Name)
		}
		for _, p := range k.parts() {
			if p.spec.Config == nil || !p.built {
				return nil, fmt.Errorf("connector kind %q: its %s part needs Config and Build", k.Name, p.role)
			}
		}
		if len(k.parts()) == 0 {
			return nil, fmt.Errorf("connector kind %q has no part (system, source, destination or operation)", k.Name)
		}
		s.kinds[k.Name] = k
		s.names = append(s.names, k.Name)
	}
	sort.Strings(s.names)
	return s, nil
}

// Role is a part a kind can play in ferry.yaml.
type Role string

// The roles.
const (
	RoleSystem      Role = "system"
	RoleSource      Role = "source"
	RoleDestination Role = "destination"
	RoleOperation   Role = "operation"
)

// Roles lists the roles in the order the docs present them.
var Roles = [...]Role{RoleSystem, RoleSource, RoleDestination, RoleOperation}

type partInfo struct {
	role  Role
	spec  *Spec
	built bool
}

func (k *Kind) parts() []partInfo {
	var out []partInfo
	if k.System != nil {
		out = append(out, partInfo{RoleSystem, &k.System.Spec, k.System.Build != nil})
	}
	if k.Source != nil {
		out = append(out, partInfo{RoleSource, &k.Source.Spec, k.Source.Build != nil})
	}
	if k.Destination != nil {
		out = append(out, partInfo{RoleDestination, &k.Destination.Spec, k.Destination.Build != nil})
	}
	if k.Operation != nil {
		out = append(out, partInfo{RoleOperation, &k.Operation.Spec, k.Operation.Build != nil})
	}
	return out
}

// Spec returns the kind's part for role, or nil when it does not play it.
func (k *Kind) Spec(role Role) *Spec {
	for _, p := range k.parts() {
		if p.role == role {
			return p.spec
		}
	}
	return nil
}

// Kind returns the kind of that name.
func (s *Set) Kind(name string) (*Kind, bool) {
	k, ok := s.kinds[name]
	return k, ok
}

// Names lists every kind, sorted.
func (s *Set) Names() []string { return append([]string(nil), s.names...) }

// For lists the kinds that play role, sorted by name.
func (s *Set) For(role Role) []*Kind {
	var out []*Kind
	for _, n := range s.names {
		if k := s.kinds[n]; k.Spec(role) != nil {
			out = append(out, k)
		}
	}
	return out
}

// SystemAs returns the built system of that name as the type T a kind
// builds, or an error naming what it needed (kinds, e.g. "an HTTP").
func SystemAs[T any](env Env, name, kinds string) (T, error) {
	var zero T
	if env.System == nil {
		return zero, fmt.Errorf("system %q: no systems are defined", name)
	}
	s, err := env.System(name)
	if err != nil {
		return zero, err
	}
	t, ok := s.(T)
	if !ok {
		return zero, fmt.Errorf("system %q is not %s system", name, kinds)
	}
	return t, nil
}
