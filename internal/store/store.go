// Package store defines the durable queue behind ferry: entries, runs,
// attempts, dead letters and cursors. Implementations (sqlite/, later
// postgres/) must pass the conformance suite in storetest/.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrNotFound is returned when an entry, run or dead letter does not exist.
var ErrNotFound = errors.New("not found")

// ErrSyncFailed marks the error of a commit that asked for durability
// (WithSync) when the store failed to make its writes durable, and of
// every such commit after that: a store that failed a sync once cannot
// tell what reached the disk, so it refuses them until the process
// restarts.
var ErrSyncFailed = errors.New("the store failed to make its writes durable (a failed sync); durable commits are refused until ferry restarts")

// Faulter is a store that can fail for good while the process runs
// (SQLite after a failed sync): Fault returns why, nil while it is sound.
// Readiness checks report it.
type Faulter interface {
	Fault() error
}

// ErrNewerQueued is returned by Resend when the key already has an entry
// queued, in error or in flight: that newer data goes first.
var ErrNewerQueued = errors.New("a newer version of the key is queued")

// Status is the state of an entry in the queue.
type Status string

const (
	StatusPending Status = "P" // waiting to be sent
	StatusError   Status = "E" // failed, waiting for its next attempt
	StatusLeased  Status = "L" // taken by a worker, being sent
)

// Entry is one record in a route's queue.
type Entry struct {
	ID            int64           `json:"id"`
	Route         string          `json:"route"`
	Key           string          `json:"key"`
	Version       int64           `json:"version"` // bumped each time a newer payload replaces the old one; (ID, Version) names one payload
	Payload       json.RawMessage `json:"payload"`
	Status        Status          `json:"status"`
	Priority      int             `json:"priority"`
	Attempts      int             `json:"attempts"` // delivery attempts made so far
	LastError     string          `json:"last_error"`
	NextAttemptAt time.Time       `json:"next_attempt_at"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
	LeaseOwner    string          `json:"lease_owner"`
	LeaseUntil    time.Time       `json:"lease_until"`
	// Hash is the content hash given at enqueue ("" when none was given).
	Hash string `json:"hash,omitempty"`
	// Batch groups entries whose last delivery was one request with an
	// unknown outcome (timeout, dropped connection, 5xx): the error pass
	// leases such a group together first, so the retry repeats the same
	// composition under the same batch idempotency key. "" when none.
	Batch string `json:"batch,omitempty"`
	// Deleted: the entry is a delete of Key (change capture saw the row
	// deleted); it is delivered as a delete, and Payload holds what is
	// known of the record (at least its key).
	Deleted bool `json:"deleted,omitempty"`
}

// NewEntry is a record to enqueue.
type NewEntry struct {
	Key      string
	Payload  json.RawMessage
	Priority int
	// Hash is the content hash of Payload (the engine computes it). When
	// set, a record read again is compared with what the store holds of
	// its key, in this order (the first that applies decides):
	//   - a queued (P/E) entry: the same payload or Hash changes nothing
	//     (Unchanged); another replaces it (a new version, attempts reset)
	//     and is sent, even when it equals the last delivered content: the
	//     queued content may have reached the destination (an unknown
	//     outcome, a crash mid-send), so the destination is not known to
	//     have the delivered content any more;
	//   - leased entries: the same Hash as the newest one is Unchanged
	//     (it is being sent); another is queued beside it;
	//   - no entry at all: the same Hash as the newest of the key's last
	//     delivered content and its newest dead letter is Unchanged (and
	//     recorded as an "unchanged" attempt under that entry, with the
	//     RunID of the route's running run, 0 when none runs): the
	//     destination has it, or it died and waits for ferry retry --dead;
	//     another is queued.
	// "" turns the comparisons off (resend_unchanged), but an identical
	// payload (byte for byte) of a queued P/E entry still changes nothing.
	Hash string
	// Deleted: a delete of Key (see Entry.Deleted). A delete and an
	// upsert are never the same content, whatever their payloads (the
	// engine folds the flag into Hash; without a hash the store compares
	// the flag with the payload).
	Deleted bool
}

// EnqueueResult counts what one EnqueuePage did.
type EnqueueResult struct {
	Inserted int // new entries
	Replaced int // pending/error entries whose payload was replaced (coalesced)
	// Unchanged counts records not queued because their content is
	// already queued, in flight, delivered or dead (see NewEntry.Hash). A
	// queued P/E entry is never removed by a record read again.
	Unchanged int
}

// LeaseMode selects the pass a lease serves.
type LeaseMode int

const (
	LeasePending LeaseMode = iota // the main pass: status P
	LeaseErrors                   // the error pass: status E whose NextAttemptAt is due
)

// LeaseRequest asks for up to Limit entries of Route.
type LeaseRequest struct {
	Route string
	Owner string // worker identity, e.g. "host:pid:nonce"
	Limit int
	Mode  LeaseMode
	Now   time.Time
	Until time.Time // lease expiry
}

// Outcome is how an attempt ended.
type Outcome string

const (
	OutcomeDone    Outcome = "done"    // delivered; the entry leaves the queue
	OutcomeSkipped Outcome = "skipped" // filtered out by a step; leaves the queue
	OutcomeRetry   Outcome = "error"   // failed; back to E with NextAttemptAt
	OutcomeDead    Outcome = "dead"    // failed for good; moved to dead letters
	// The outcomes below are recorded in the history, never settled.
	OutcomeUnchanged Outcome = "unchanged" // read again with the content last delivered (or that died): not sent
	OutcomeDiscarded Outcome = "discarded" // ended on purpose by a user (ferry discard)
	OutcomeReplayed  Outcome = "replayed"  // put back by a user (ferry retry / resend)
)

// Attempt is one try to deliver one entry.
type Attempt struct {
	ID             int64     `json:"id"`
	EntryID        int64     `json:"entry_id"`
	Route          string    `json:"route"`
	Key            string    `json:"key"`
	Version        int64     `json:"version"`
	RunID          int64     `json:"run_id"`
	At             time.Time `json:"at"`
	Outcome        Outcome   `json:"outcome"`
	StatusCode     int       `json:"status_code"`
	Error          string    `json:"error"`
	Request        string    `json:"request"`  // excerpt
	Response       string    `json:"response"` // excerpt
	DurationMillis int64     `json:"duration_millis"`
	IdempotencyKey string    `json:"idempotency_key"`
	// Op names what the attempt was: "" for a delivery, "after[0]",
	// "on_error[1]" for an outbox operation, "discard", "resend", "retry"
	// for a user's command.
	Op string `json:"op,omitempty"`
}

// Settlement settles one leased entry.
type Settlement struct {
	EntryID int64
	Outcome Outcome
	// Attempt is recorded for every settlement. Its Version, when not 0,
	// is the version that was sent: the settlement takes effect only if
	// the entry is still in that version. (An entry whose lease ran out
	// goes back to the queue, where a newer push of its key replaces it
	// in place; the same owner may lease it again before the late
	// settlement of the old version comes, which must not settle the new
	// one.)
	Attempt       Attempt
	Error         string    // for OutcomeRetry and OutcomeDead
	NextAttemptAt time.Time // for OutcomeRetry
	// CountAttempt is false for settlements that did not try a delivery
	// (e.g. skipped by a filter), so Attempts is not incremented.
	CountAttempt bool
	// Hash is the content hash of the delivered payload, for OutcomeDone:
	// stored as the key's last delivered content (with the payload, for
	// ferry resend) unless a newer entry of the key was delivered already.
	Hash string
	// Batch, for OutcomeRetry, tags the entries of one request whose
	// outcome is unknown (see Entry.Batch). "" for none.
	Batch string
	// Outbox holds the operations owed for this settlement (after: for a
	// delivered entry, on_error: for a new dead letter). They are stored
	// in the same transaction, and only when the settlement takes effect
	// (the entry was still leased by owner).
	Outbox []OutboxItem
}

// OutboxItem is one operation owed after a settlement (a final operation
// of a delivered record, or the alternate process of a dead letter). It is
// stored with the settlement, so a crash never loses it, and runs until it
// succeeds or its attempts are spent.
type OutboxItem struct {
	ID             int64           `json:"id"`
	Route          string          `json:"route"`
	EntryID        int64           `json:"entry_id"`
	Key            string          `json:"key"`
	Version        int64           `json:"version"`
	Op             string          `json:"op"`     // "after" or "on_error": one item holds all the operations of that kind
	Record         json.RawMessage `json:"record"` // the record as delivered (or as read, for on_error)
	Vars           json.RawMessage `json:"vars"`   // extra template variables, e.g. {"error": "..."}
	IdempotencyKey string          `json:"idempotency_key"`
	Attempts       int             `json:"attempts"`
	LastError      string          `json:"last_error"`
	NextAttemptAt  time.Time       `json:"next_attempt_at"`
	CreatedAt      time.Time       `json:"created_at"`
	Dead           bool            `json:"dead"` // attempts spent; kept for the history and ferry retry
	LeaseOwner     string          `json:"lease_owner"`
	LeaseUntil     time.Time       `json:"lease_until"`
}

// OutboxSettlement settles one leased outbox item.
type OutboxSettlement struct {
	ID            int64
	Outcome       Outcome   // OutcomeDone (removed), OutcomeRetry (due again at NextAttemptAt), OutcomeDead (kept, marked dead)
	Error         string    // for retry and dead
	NextAttemptAt time.Time // for retry
	Attempt       Attempt   // recorded in the key's history (Op set)
}

// DiscardSelector picks what Discard ends on purpose.
type DiscardSelector struct {
	Route  string
	Key    string // only this key ("" = any)
	Dead   bool   // dead letters
	Errors bool   // entries in E
	// Operations selects outbox items given up (dead after/on_error
	// operations); live ones are never discarded.
	Operations bool
	Who        string // recorded in the history, e.g. "root@host"
	Why        string // recorded in the history
	Now        time.Time
}

// ReplayResult says what Replay did.
type ReplayResult struct {
	Replayed int
	// Superseded lists the keys of selected dead letters that were not
	// replayed because a newer version of the key was queued, leased or
	// delivered after them (replaying would overwrite newer data); their
	// dead letters stay.
	Superseded []string
}

// PruneRequest is a retention pass. A zero cutoff keeps everything of
// that kind.
type PruneRequest struct {
	// AttemptsBefore removes attempts older than this of entries that
	// left the queue delivered, skipped or discarded (not of queued
	// entries nor of dead letters), and "unchanged" attempts older than
	// this of any entry (a dead letter read again every run).
	AttemptsBefore time.Time
	// RunsBefore removes finished runs that ended before this.
	RunsBefore time.Time
	// DeadBefore removes dead letters (and their attempts) that died
	// before this; zero keeps them until discarded. A record whose dead
	// letter is gone is sent again when read again (see NewEntry.Hash).
	DeadBefore time.Time
	// DeliveredBefore forgets the last delivered content of keys
	// delivered before this (they are sent again if read again).
	DeliveredBefore time.Time
	// Vacuum reclaims the freed space (SQLite: incremental vacuum).
	Vacuum bool
}

// PruneResult counts what Prune removed.
type PruneResult struct {
	Attempts, Runs, DeadLetters, Delivered int
}

// Delivered is the last delivered content of one key of a route.
type Delivered struct {
	Route       string          `json:"route"`
	Key         string          `json:"key"`
	EntryID     int64           `json:"entry_id"`
	Version     int64           `json:"version"`
	Hash        string          `json:"hash"`
	Payload     json.RawMessage `json:"payload"`
	DeliveredAt time.Time       `json:"delivered_at"`
	Deleted     bool            `json:"deleted,omitempty"` // the last delivery was a delete; ferry resend sends it again as one
}

// DeadLetter is an entry whose retries are spent.
type DeadLetter struct {
	ID        int64           `json:"id"`
	EntryID   int64           `json:"entry_id"`
	Route     string          `json:"route"`
	Key       string          `json:"key"`
	Version   int64           `json:"version"`
	Payload   json.RawMessage `json:"payload"`
	Priority  int             `json:"priority"`
	Attempts  int             `json:"attempts"`
	LastError string          `json:"last_error"`
	CreatedAt time.Time       `json:"created_at"` // when the entry was first queued
	DiedAt    time.Time       `json:"died_at"`
	// Hash is the content hash of the entry that died ("" when none): a
	// record read again with it is not queued again (see NewEntry.Hash).
	Hash string `json:"hash,omitempty"`
	// Deleted: the entry that died was a delete; a replay delivers a delete.
	Deleted bool `json:"deleted,omitempty"`
}

// EntryFilter selects entries to list.
type EntryFilter struct {
	Route   string
	Status  Status // "" = all
	Key     string // "" = all
	Limit   int    // 0 = 100
	AfterID int64  // paging: entries with ID > AfterID
}

// DeadFilter selects dead letters to list.
type DeadFilter struct {
	Route   string
	Key     string
	Limit   int
	AfterID int64
}

// ReplaySelector picks what Replay puts back into the queue as pending.
type ReplaySelector struct {
	Route  string
	Key    string // only this key ("" = any)
	Dead   bool   // dead letters
	Errors bool   // entries in E (made due now, attempts reset)
	Now    time.Time
}

// Counts summarizes a route's queue.
type Counts struct {
	Pending int
	Error   int
	Leased  int
	Dead    int
	Outbox  int // operations owed (after/on_error), not yet done and not dead
	// OutboxDead counts operations given up (attempts spent or a
	// template error): ferry retry --operations runs them again.
	OutboxDead int
}

// RunStatus is the outcome of a run.
type RunStatus string

const (
	RunRunning         RunStatus = "running"
	RunSucceeded       RunStatus = "succeeded"
	RunPartiallyFailed RunStatus = "partially_failed"
	RunFailed          RunStatus = "failed"
	RunCancelled       RunStatus = "cancelled"
	// RunAbandoned is a run whose worker died (or lost its run lock)
	// before it could record its outcome.
	RunAbandoned RunStatus = "abandoned"
)

// Run is one execution of a route.
type Run struct {
	ID         int64     `json:"id"`
	Route      string    `json:"route"`
	Trigger    string    `json:"trigger"` // manual, schedule, webhook, ...
	Mode       string    `json:"mode"`    // incremental or full
	Status     RunStatus `json:"status"`
	StartedAt  time.Time `json:"started_at"`
	EndedAt    time.Time `json:"ended_at"` // zero while running
	Iterations int       `json:"iterations"`
	Collected  int       `json:"collected"` // records read from the source and queued
	Sent       int       `json:"sent"`      // delivery attempts made
	Done       int       `json:"done"`
	Failed     int       `json:"failed"` // attempts that failed (retry or dead)
	Dead       int       `json:"dead"`
	Skipped    int       `json:"skipped"`
	Unchanged  int       `json:"unchanged"` // records read again with the content last delivered: not sent
	// Pruned counts records dropped before sending because they no longer
	// exist at the source: a key deleted after capture, or a delete of a
	// route that ignores deletes.
	Pruned int    `json:"pruned"`
	Error  string `json:"error"`
	// Owner is the run lock owner of the worker executing the run
	// (host:pid:nonce:nonce), so a run of a dead worker can be closed.
	Owner string `json:"owner,omitempty"`
}

// Store is the durable queue. All methods are safe for concurrent use.
type Store interface {
	// EnqueuePage queues one page of records and, when cursor is non-nil,
	// sets the route's cursor to *cursor, all in one transaction. An entry
	// of the same route and key in P or E is replaced (payload, priority,
	// hash, Version+1, status P, due now, attempts, last error and batch
	// reset: a new version gets its full retries) unless its payload is
	// the same (byte for byte, or the same non-empty Hash): then nothing
	// changes and the record counts Unchanged. A leased one is left alone
	// and a new entry is queued beside it. Of duplicate keys within the
	// page only the last is queued, the earlier ones counting as Replaced.
	// See NewEntry.Hash for records whose content was delivered already.
	EnqueuePage(ctx context.Context, route string, entries []NewEntry, cursor *string, now time.Time) (EnqueueResult, error)
	// EnqueueLeased queues a page like EnqueuePage (same coalescing and
	// cursor rules, one transaction) but hands the entries straight to
	// owner: they are stored leased by owner until until, so the
	// collector's own sender delivers them without a Lease round trip. A
	// P or E entry with the same key is replaced (as in EnqueuePage) and
	// leased too; one with the same payload is left as it is (P/E, for
	// the normal passes) and not returned. It returns the leased entries
	// in page order (ID, Version, Attempts, CreatedAt set; Payload as
	// given); records counted Unchanged are not returned. Of duplicate
	// keys within the page only the last is returned and stored, the
	// earlier ones counting as Replaced, so Inserted+Replaced+Unchanged is
	// len(entries) as in EnqueuePage. If owner dies, ReleaseLeases puts
	// them back as pending.
	EnqueueLeased(ctx context.Context, route string, entries []NewEntry, cursor *string, now time.Time, owner string, until time.Time) ([]Entry, EnqueueResult, error)
	// Cursor returns the route's cursor ("" when none).
	Cursor(ctx context.Context, route string) (string, error)
	// SetCursor sets the route's cursor.
	SetCursor(ctx context.Context, route, value string) error

	// Lease marks up to req.Limit entries leased by req.Owner until
	// req.Until and returns them, highest priority first, then oldest.
	// In LeaseErrors mode, when the first due entry is in a batch, that
	// batch's due entries are leased alone and all together (even beyond
	// Limit), in ID order; otherwise only entries in no batch are leased.
	Lease(ctx context.Context, req LeaseRequest) ([]Entry, error)
	// Settle settles leased entries in one transaction. Entries no longer
	// leased by owner are ignored (their lease expired and was taken), but
	// their attempts are still recorded: the delivery did happen.
	// A retry of an entry whose key has a newer entry (pending, in error,
	// leased or delivered with a higher ID) is dropped as superseded (the
	// attempt is still recorded): an old version is never retried over a
	// newer one. A retry's Batch is kept on the entry (see Lease). A done
	// settlement stores the entry's payload as its key's last delivered
	// content (see Settlement.Hash). An attempt left
	// without Route, Key or Version is filled from its entry, which costs
	// a lookup; the hot path should set them.
	Settle(ctx context.Context, owner string, s []Settlement) error
	// ReleaseLeases returns leased entries of route to their previous
	// status when their lease expired before now or when their owner is in
	// owners (dead workers). A released entry whose key got a newer entry
	// meanwhile (queued, or leased or delivered with a higher ID) is
	// dropped as superseded. It returns how many
	// were released or dropped. A zero now releases by owner only. Route
	// "" covers every route (the rescuer).
	ReleaseLeases(ctx context.Context, route string, now time.Time, owners []string) (int, error)
	// LeaseOwners lists the distinct owners of leased entries of route
	// ("" = of every route).
	LeaseOwners(ctx context.Context, route string) ([]string, error)

	// Entries lists entries by filter, ordered by ID (all routes when
	// f.Route is "").
	Entries(ctx context.Context, f EntryFilter) ([]Entry, error)
	// Entry returns one entry (ErrNotFound if gone).
	Entry(ctx context.Context, id int64) (Entry, error)
	// Attempts lists the attempts of an entry ID, oldest first (also for
	// entries that left the queue or became dead letters).
	Attempts(ctx context.Context, entryID int64) ([]Attempt, error)
	// RecentAttempts lists the newest attempts of a route, newest first.
	RecentAttempts(ctx context.Context, route string, limit int) ([]Attempt, error)
	// KeyAttempts lists the attempts of every entry that carried key in
	// route (all versions, delivered, dead or queued), oldest first, at
	// most limit (0: 100).
	KeyAttempts(ctx context.Context, route, key string, limit int) ([]Attempt, error)
	// Counts returns the queue sizes of route.
	Counts(ctx context.Context, route string) (Counts, error)
	// NextDue returns the earliest NextAttemptAt among the route's E
	// entries; ok is false when the route has none.
	NextDue(ctx context.Context, route string) (at time.Time, ok bool, err error)

	// DeadLetters lists dead letters by filter, ordered by ID (all routes
	// when f.Route is "").
	DeadLetters(ctx context.Context, f DeadFilter) ([]DeadLetter, error)
	// Replay puts selected dead letters and/or error entries back as
	// pending, due at sel.Now with attempts reset to 0; a dead letter keeps
	// its entry ID so its attempt history stays in one piece. When a key has
	// several dead letters the newest is replayed. A dead letter is never
	// replayed over newer data: when its key has an entry with a higher ID
	// (queued, in error or leased) or a delivered entry with a higher ID,
	// it stays a dead letter and its key is reported in Superseded. Each
	// replayed entry gets an attempt with OutcomeReplayed (Op "retry").
	// sel.Route "" selects all routes. It is safe during a run of the
	// route (one transaction).
	Replay(ctx context.Context, sel ReplaySelector) (ReplayResult, error)
	// Discard ends selected error entries and/or dead letters on purpose:
	// they leave the queue or the error history, and each gets an attempt
	// with OutcomeDiscarded (Op "discard", Error "discarded by WHO: WHY").
	// Discarding means the destination was dealt with by hand: the
	// discarded content (payload and hash) becomes its key's last
	// delivered content, unless a newer entry of the key (a higher ID) was
	// delivered, so the same content read again is unchanged and a changed
	// record is sent. sel.Operations discards dead outbox items too (their
	// attempt has the item's Op). Leased entries are never touched. It
	// returns how many were discarded.
	Discard(ctx context.Context, sel DiscardSelector) (int, error)
	// Resend queues the last delivered payload of key again as a new
	// pending entry (a new ID, so a new idempotency key; no hash, so it is
	// sent even though unchanged). It fails with ErrNotFound when the key
	// has no delivered payload, and with ErrNewerQueued when an entry of
	// the key is queued, in error or leased.
	Resend(ctx context.Context, route, key, who string, now time.Time) (Entry, error)
	// LastDelivered returns the last delivered content of key
	// (ErrNotFound when none is kept).
	LastDelivered(ctx context.Context, route, key string) (Delivered, error)

	// LeaseOutbox leases up to limit outbox items of route that are due
	// (not dead, NextAttemptAt <= now, not leased or lease expired before
	// now), oldest first.
	LeaseOutbox(ctx context.Context, route, owner string, limit int, now, until time.Time) ([]OutboxItem, error)
	// SettleOutbox settles leased outbox items in one transaction and
	// records their attempts; items no longer leased by owner are ignored
	// but their attempts are recorded.
	SettleOutbox(ctx context.Context, owner string, s []OutboxSettlement) error
	// Outbox lists outbox items of route (all routes when ""), oldest
	// first; dead ones too.
	Outbox(ctx context.Context, route string, limit int) ([]OutboxItem, error)
	// ReleaseOutbox releases outbox leases held by owners (dead workers),
	// or all expired ones when now is not zero. It returns how many.
	// Route "" covers every route.
	ReleaseOutbox(ctx context.Context, route string, now time.Time, owners []string) (int, error)
	// ReplayOutbox makes the dead (given up) outbox items of route (of key
	// only, when not "") due at now with their attempts reset to 0, and
	// records for each an attempt with OutcomeReplayed and the item's Op
	// ("after", "on_error": one item holds the operations of one kind).
	// It returns how many.
	ReplayOutbox(ctx context.Context, route, key string, now time.Time) (int, error)

	// Prune applies a retention pass (see PruneRequest).
	Prune(ctx context.Context, req PruneRequest) (PruneResult, error)
	// ID is the store's identity: random, created once with the store,
	// mixed into every idempotency key so two stores never hand out the
	// same key.
	ID() string

	// LockRoute takes the run lock of route for owner until until, so two
	// runs of one route never collect and send side by side. It succeeds
	// when the lock is free, expired (until before now), already owner's
	// (it is extended), or held by takeOver, a holder the caller knows is
	// dead ("" for none). Otherwise ok is false and holder names who has it.
	LockRoute(ctx context.Context, route, owner string, now, until time.Time, takeOver string) (holder string, ok bool, err error)
	// UnlockRoute releases owner's run lock of route; it is no error when
	// owner does not hold it.
	UnlockRoute(ctx context.Context, route, owner string) error

	// CreateRun stores a new run and returns its ID.
	CreateRun(ctx context.Context, r Run) (int64, error)
	// UpdateRun overwrites the run's status, counters, end and error.
	UpdateRun(ctx context.Context, r Run) error
	// AbandonRuns marks running runs as RunAbandoned (with an end time and
	// an error saying why) when their owner is dead (dead returns true for
	// it) or no longer holds an unexpired run lock of the run's route at
	// now. It returns the runs it closed.
	AbandonRuns(ctx context.Context, now time.Time, dead func(owner string) bool) ([]Run, error)
	// Runs lists the newest runs of route (all routes when ""), newest first.
	Runs(ctx context.Context, route string, limit int) ([]Run, error)
	// GetRun returns one run.
	GetRun(ctx context.Context, id int64) (Run, error)

	// ListRuns lists runs by filter, newest first (paging with BeforeID).
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)

	// Accept queues the records pushed to routes (webhooks): each push
	// like EnqueuePage (same coalescing and hash rules, no cursor), all
	// pushes in one transaction (a group commit: many webhook calls, one
	// commit; durable before it returns when ctx asks WithSync). It
	// returns, per push and per record in order, the entry the record is
	// queued as. Duplicate keys within one push map to the one entry
	// that holds the last of them. Pushes to one route apply in order: a
	// key pushed again in a later push replaces the earlier content as a
	// second EnqueuePage would. With Push.Lease, records to send are
	// queued leased (EnqueueLeased's rules: a queued entry of the key is
	// replaced and leased in place) and Accepted.Leased holds each.
	Accept(ctx context.Context, pushes []Push, now time.Time) ([][]Accepted, error)

	// ExtendLeases moves the lease expiry of the given entries to until,
	// for those still leased by owner, and returns how many those are.
	// A worker calls it while a batch is in flight so a slow destination
	// does not make its lease expire under it.
	ExtendLeases(ctx context.Context, owner string, ids []int64, until time.Time) (int, error)

	// Lead takes or extends the leadership of role (e.g. "scheduler")
	// for owner until until. It succeeds when nobody holds role, the
	// holder's term ended before now, owner holds it already, or the
	// holder is takeOver (known dead; "" for none). Otherwise ok is false
	// and holder names who leads. Whatever must happen once among several
	// processes (schedules, the rescuer) runs only in the leader. Roles
	// and the run locks of LockRoute are apart, even under one name.
	Lead(ctx context.Context, role, owner string, now, until time.Time, takeOver string) (holder string, ok bool, err error)
	// Resign gives up owner's leadership of role (no error when it holds none).
	Resign(ctx context.Context, role, owner string) error

	// Beat records that a ferry process is alive (insert or update by
	// ID); a process whose Until passed is dead for the rescuer.
	Beat(ctx context.Context, p Process) error
	// Processes lists the processes that beat, the last started first
	// (dead ones too, until forgotten).
	Processes(ctx context.Context) ([]Process, error)
	// ForgetProcess removes a process's row (it stopped cleanly, or the
	// rescuer closed what it left).
	ForgetProcess(ctx context.Context, id string) error

	// Ticks lists the scheduler's stored state of every scheduled route.
	Ticks(ctx context.Context) ([]Tick, error)
	// ClaimTick moves a route's next tick from c.Prev to c.Next if it is
	// still at c.Prev (a zero Prev: the route has no tick stored yet),
	// and records the outcome; false when another scheduler moved it
	// first (then the caller does nothing for that tick). It always
	// stores c.Spec; TickFired sets LastFired to c.At, TickSkipped adds
	// one to Skipped, TickReset changes nothing else. Times are kept to
	// the millisecond, so Prev is best the Next that Ticks returned.
	ClaimTick(ctx context.Context, c TickClaim) (bool, error)

	// Close releases the store.
	Close() error
}

// RunFilter selects runs to list.
type RunFilter struct {
	Route    string    // "" = all routes
	Status   RunStatus // "" = any
	BeforeID int64     // paging: runs with ID < BeforeID (0 = from the newest)
	Limit    int       // 0 = 50
}

// Push is the records pushed to one route in one call (a webhook body).
type Push struct {
	Route   string
	Entries []NewEntry
	// Lease, when set, queues the records that are to be sent already
	// leased to a run of the route going on in this process, which takes
	// them from memory: no lease transaction, no second decode. Records
	// judged unchanged are not leased. If the run dies first, its leases
	// are released like any others, so nothing is lost.
	Lease *PushLease
}

// PushLease is whom the records of a Push are leased to, and until when.
type PushLease struct {
	Owner string
	Until time.Time
}

// Same reports whether two pushes ask for the same lease (both none, or
// one owner and expiry).
func (l *PushLease) Same(o *PushLease) bool {
	if l == nil || o == nil {
		return l == o
	}
	return l.Owner == o.Owner && l.Until.Equal(o.Until)
}

// Accepted is the entry a pushed record is queued as.
type Accepted struct {
	EntryID int64 `json:"entry_id"`
	Version int64 `json:"version"`
	// Unchanged: the record's content is already queued, in flight,
	// delivered or dead (see NewEntry.Hash); EntryID names that entry.
	Unchanged bool `json:"unchanged,omitempty"`
	// Leased is the entry as stored when the record was queued leased
	// (Push.Lease): the run it is leased to sends it. Nil otherwise.
	Leased *Entry `json:"-"`
}

// Process is one ferry process that shares the store.
type Process struct {
	ID        string    `json:"id"` // the owner string of its leases: host:pid:nonce
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Version   string    `json:"version"`
	Listen    string    `json:"listen,omitempty"` // its API address, "" for ferry run
	StartedAt time.Time `json:"started_at"`
	SeenAt    time.Time `json:"seen_at"`
	Until     time.Time `json:"until"` // dead when this passes without a new beat
}

// TickOutcome is what became of a scheduled tick.
type TickOutcome string

const (
	TickFired   TickOutcome = "fired"   // a run was started for it
	TickSkipped TickOutcome = "skipped" // the route was still running: counted, not run
	TickReset   TickOutcome = "reset"   // the schedule changed (or was first seen): only Next moves
)

// Tick is the scheduler's stored state of one route.
type Tick struct {
	Route     string    `json:"route"`
	Spec      string    `json:"spec"` // the schedule Next was computed from
	Next      time.Time `json:"next"`
	LastFired time.Time `json:"last_fired"` // zero: never
	Skipped   int64     `json:"skipped"`    // ticks skipped because a run was still going
}

// TickClaim moves one route's tick (see Store.ClaimTick).
type TickClaim struct {
	Route   string
	Spec    string
	Prev    time.Time // the Next the caller read (zero: none stored)
	Next    time.Time
	Outcome TickOutcome
	At      time.Time // when it was claimed (LastFired for TickFired)
}

// syncKey marks a context whose write transactions must be durable
// against power loss before they return.
type syncKey struct{}

// WithSync asks the store to make the write transactions made with ctx
// durable against power loss (not only a crash of ferry) before they
// return, whatever its usual setting. The engine uses it to queue a
// page whose input the source forgets once acknowledged (a broker
// message, a moved file, a cleared integration row).
func WithSync(ctx context.Context) context.Context { return context.WithValue(ctx, syncKey{}, true) }

// SyncRequested reports whether ctx asks for durable commits (WithSync).
func SyncRequested(ctx context.Context) bool {
	v, _ := ctx.Value(syncKey{}).(bool)
	return v
}
