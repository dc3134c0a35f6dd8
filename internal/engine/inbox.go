package engine

import (
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/store"
)

// Inbox hands records pushed to a webhook route to the route's run going
// on in this process. The push's commit queues them already leased to
// the run's worker (store.Push.Lease), so the run sends them from memory
// without a lease transaction and without decoding them again. If the
// process dies first, the leases are released like any others: nothing
// is lost.
//
// Each Reserve is ended by one Deliver. The run closes the inbox when it
// ends: later pushes are queued pending for the next run, and the close
// waits for the commits under way, so no entry is leased to a run that
// has stopped taking them.
type Inbox struct {
	owner    string
	leaseFor time.Duration
	capacity int // entries waiting at most; pushes beyond are queued pending

	mu       sync.Mutex
	idle     sync.Cond // signalled when a reservation ends
	opened   bool      // the run is recorded and holds the route
	closed   bool
	reserved int    // records the reservations under way may hand in
	begun    uint64 // reservations made, ever
	ended    uint64 // reservations ended by Deliver, ever: begun-ended are under way
	items    []handed
	left     int // entries not taken when the run ended
}

// inboxBatches is how many of the route's batches an inbox holds at most:
// beyond, pushes are queued pending in the store (memory stays bounded
// however slow the destination).
const inboxBatches = 2

// NewInbox returns an inbox for a run of route on this engine, or nil
// when the route takes none: with respond: sync a push of a key still
// waiting would supersede the earlier one, and its caller would get
// "skipped" instead of the destination's answer; with entry_priority
// the store's order, not arrival, decides what goes first; a route with
// a source reads records beside the pushes, and a newer version read
// from the source would be queued beside a pushed one waiting in memory
// and sent before it. It takes
// nothing until the run has started (holds the route's lock, is
// recorded), and nothing after the run ends.
func (e *Engine) NewInbox(route string) *Inbox {
	r, err := e.route(route)
	if err != nil || r.cfg.Webhook == nil || r.cfg.Webhook.Respond == config.RespondSync || r.entryPriority != nil || r.source != nil {
		return nil
	}
	ib := &Inbox{owner: e.opts.Owner, leaseFor: e.opts.LeaseFor, capacity: inboxBatches * max(r.cfg.Batch, 1)}
	ib.idle.L = &ib.mu
	return ib
}

// Reserve asks to queue n records of a commit about to be made leased to
// the run: the lease to ask the store for, or false when the run no
// longer takes them or has no room for them (queue them pending). A nil
// inbox takes nothing.
func (ib *Inbox) Reserve(now time.Time, n int) (*store.PushLease, bool) {
	if ib == nil {
		return nil, false
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	if !ib.opened || ib.closed || len(ib.items)+ib.reserved+n > ib.capacity {
		return nil, false
	}
	ib.begun++
	ib.reserved += n
	return &store.PushLease{Owner: ib.owner, Until: now.Add(ib.leaseFor)}, true
}

// Deliver ends a reservation of n records with the entries its commit
// leased (none when the commit failed) and the records they were made
// from, in the same order. It must follow a Reserve of n that returned
// true.
func (ib *Inbox) Deliver(n int, entries []store.Entry, records []map[string]any) {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	for i := range entries {
		ib.items = append(ib.items, handed{entry: entries[i], record: records[i]})
	}
	ib.ended++
	ib.reserved -= n
	ib.idle.Broadcast()
}

// takeKeys returns the entries waiting whose keys are in keys: older
// versions of records the run leased from the store, to go in the same
// batch (only the newest version of a key in a batch is sent). It first
// waits for the commits under way when it is called: one of them may
// hold an older version of a key whose newer one (queued since, by
// another process) the run has just leased. Later commits hold newer
// versions than what the run leased; it does not wait for them, or a
// stream of pushes would hold it until the inbox is full.
func (ib *Inbox) takeKeys(keys map[string]bool) []handed {
	if ib == nil {
		return nil
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	// The acceptor reserves and delivers one commit after another, so
	// reservations end in the order they began.
	for upTo := ib.begun; ib.ended < upTo; {
		ib.idle.Wait()
	}
	var out []handed
	kept := ib.items[:0]
	for _, h := range ib.items {
		if keys[h.entry.Key] {
			out = append(out, h)
			continue
		}
		kept = append(kept, h)
	}
	clear(ib.items[len(kept):])
	ib.items = kept
	return out
}

// waiting reports whether entries wait to be taken.
func (ib *Inbox) waiting() bool {
	if ib == nil {
		return false
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return len(ib.items) > 0
}

// ids returns the IDs of the entries waiting: their leases are extended
// with those of the batches in flight.
func (ib *Inbox) ids() []int64 {
	if ib == nil {
		return nil
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	out := make([]int64, len(ib.items))
	for i := range ib.items {
		out[i] = ib.items[i].entry.ID
	}
	return out
}

// open starts taking reservations: the run is under way, and what is
// leased to it is released when it ends.
func (ib *Inbox) open() {
	if ib == nil {
		return
	}
	ib.mu.Lock()
	ib.opened = true
	ib.mu.Unlock()
}

// take returns up to n of the entries handed in, oldest first.
func (ib *Inbox) take(n int) []handed {
	if ib == nil {
		return nil
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	n = min(n, len(ib.items))
	if n == 0 {
		return nil
	}
	out := ib.items[:n:n]
	ib.items = ib.items[n:]
	if len(ib.items) == 0 {
		ib.items = nil
	}
	return out
}

// close stops taking reservations, waits for the commits under way, and
// forgets what was not taken: those entries stay leased to the worker
// and the run's end releases them to the queue. It returns how many
// there were.
func (ib *Inbox) close() int {
	if ib == nil {
		return 0
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	ib.closed = true
	for ib.ended < ib.begun {
		ib.idle.Wait()
	}
	left := len(ib.items)
	ib.items = nil
	ib.left += left
	return left
}

// Left reports how many handed entries the run did not take before it
// ended (released to the queue: another run must send them).
func (ib *Inbox) Left() int {
	if ib == nil {
		return 0
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return ib.left
}
