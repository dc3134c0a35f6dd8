package store

import (
	"context"
	"time"
)

// Optional interfaces for `ferry store status` and `ferry store copy`.
// Both stores implement them; a store that does not cannot be inspected
// or copied, and the command says so.

// The tables ferry store copy moves, in the order they are exported and
// imported. Route locks, leaders and processes are live state of the
// processes using a store and are not copied.
const (
	TableEntries     = "entries"
	TableDeadLetters = "dead_letters"
	TableAttempts    = "attempts"
	TableRuns        = "runs"
	TableCursors     = "cursors"
	TableDelivered   = "delivered"
	TableOutbox      = "outbox"
	TableTicks       = "ticks"
)

// CopyTables lists the copied tables in copy order.
func CopyTables() []string {
	return []string{TableEntries, TableDeadLetters, TableAttempts, TableRuns, TableCursors, TableDelivered, TableOutbox, TableTicks}
}

// Cursor is one route's stored cursor.
type Cursor struct {
	Route     string    `json:"route"`
	Value     string    `json:"value"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Rows is a chunk of rows of one table in a form neither store owns;
// exactly one slice is set. Times keep whole milliseconds, as both
// stores do.
type Rows struct {
	Entries     []Entry
	DeadLetters []DeadLetter
	Attempts    []Attempt
	Runs        []Run
	Cursors     []Cursor
	Delivered   []Delivered
	Outbox      []OutboxItem
	Ticks       []Tick
}

// Table names the table r holds rows of ("" when r is empty).
func (r Rows) Table() string {
	switch {
	case len(r.Entries) > 0:
		return TableEntries
	case len(r.DeadLetters) > 0:
		return TableDeadLetters
	case len(r.Attempts) > 0:
		return TableAttempts
	case len(r.Runs) > 0:
		return TableRuns
	case len(r.Cursors) > 0:
		return TableCursors
	case len(r.Delivered) > 0:
		return TableDelivered
	case len(r.Outbox) > 0:
		return TableOutbox
	case len(r.Ticks) > 0:
		return TableTicks
	}
	return ""
}

// Len is the number of rows in r.
func (r Rows) Len() int {
	return len(r.Entries) + len(r.DeadLetters) + len(r.Attempts) + len(r.Runs) +
		len(r.Cursors) + len(r.Delivered) + len(r.Outbox) + len(r.Ticks)
}

// ExportInfo is what a copy needs besides the rows, read from the same
// snapshot.
type ExportInfo struct {
	// ID is the store's identity: the copy keeps it, so idempotency keys
	// of entries already sent stay the same.
	ID string
	// Sequences holds, per table with generated IDs, the highest ID ever
	// handed out (also of rows deleted since: a delivered entry leaves
	// the queue, but its ID must never be handed out again, or a new
	// record would repeat its idempotency key).
	Sequences map[string]int64
	// Counts is the number of rows exported per table.
	Counts map[string]int64
}

// Exporter reads a store's whole content for ferry store copy.
type Exporter interface {
	// Export calls sink with the rows of every table of CopyTables, in
	// that order, in chunks of at most chunk rows, all from one
	// consistent snapshot, streaming (memory bounded by the chunk).
	Export(ctx context.Context, chunk int, sink func(Rows) error) (ExportInfo, error)
}

// Importer fills an empty store with another store's content.
type Importer interface {
	// BeginImport starts one transaction that receives the rows. It
	// fails when the store holds anything of CopyTables, saying what.
	BeginImport(ctx context.Context) (Import, error)
}

// Import is an import in progress: all of it lands, or nothing.
type Import interface {
	// Add inserts rows as they are, IDs included.
	Add(ctx context.Context, r Rows) error
	// Commit takes over the identity and the sequences of info, checks
	// that the tables hold info.Counts rows, and commits. The open store
	// keeps reporting its old ID() until it is opened again.
	Commit(ctx context.Context, info ExportInfo) error
	// Rollback abandons the import (no-op after Commit).
	Rollback(ctx context.Context) error
}

// Leader is who holds a role of ferry serve (see Store.Lead).
type Leader struct {
	Role  string    `json:"role"`
	Owner string    `json:"owner"`
	Until time.Time `json:"until"`
}

// LeaseCount counts the entries one owner holds leased in one route.
type LeaseCount struct {
	Route   string    `json:"route"`
	Owner   string    `json:"owner"`
	Entries int64     `json:"entries"`
	Until   time.Time `json:"until"` // the latest lease expiry among them
}

// Inspector tells what ferry store status shows.
type Inspector interface {
	// Kind is "sqlite" or "postgres".
	Kind() string
	// SchemaVersion is the highest migration applied, and the highest
	// this build knows.
	SchemaVersion(ctx context.Context) (applied, known int, err error)
	// Leaders lists the roles held (expired ones too, with their Until).
	Leaders(ctx context.Context) ([]Leader, error)
	// LeaseCounts counts leased entries per route and owner.
	LeaseCounts(ctx context.Context) ([]LeaseCount, error)
	// TableCounts counts the rows of every table of CopyTables.
	TableCounts(ctx context.Context) (map[string]int64, error)
}
