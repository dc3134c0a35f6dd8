package service

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/store"
)

// MaxSyncRecords caps the records of one call that waits for its
// deliveries (respond: sync): the caller's wait holds a slot for each.
const MaxSyncRecords = 1000

// maxGroup caps the pushes committed in one transaction.
const maxGroup = 256

// gatherYields is how often the committer, its channel empty, lets the
// other goroutines run before it commits: handlers that are runnable
// (their request read, their push about to be handed in) join this
// group instead of waiting a whole commit and fsync for the next. On 2
// cores with 64 callers it took groups from ~15 to ~27 calls and cut
// CPU per request ~8% (a commit and an fsync cost the same for any
// number of calls; with PostgreSQL, a round trip); more yields gathered
// no more. A yield returns at once on an idle processor; in that
// benchmark it took 0.1 ms at the median, 3 ms at p99.
const gatherYields = 2

// A yield lasts until the committer gets a processor back: when other
// goroutines keep both busy (a sync decoding JSON in the same process),
// until one of them is preempted, 10 ms (Go's time slice) or more a
// yield. After a yield slower than slowYield the committer does not
// yield for yieldPause, so such a neighbour costs one slow group a
// second, not every group. (On the shared benchmark VM, 5 ms was
// crossed every few seconds by a yield that only waited for the host.)
const (
	slowYield  = 10 * time.Millisecond
	yieldPause = time.Second
)

// acceptor queues webhook pushes with group commits: while one commit is
// being made durable, the pushes that arrive wait and go together in the
// next one, so many callers share one fsync.
type acceptor struct {
	st  store.Store
	now func() time.Time
	// inboxFor returns the inbox of the route's run going on in this
	// process (nil: none): its pushes are queued leased to that run.
	inboxFor func(route string) *engine.Inbox
	in       chan *pushCall
	done     chan struct{}
	// yield lets the other goroutines run (runtime.Gosched) and clock
	// tells how long that took (time.Now, not the service's clock,
	// which tests set); tests replace both. noYieldsUntil is when the
	// committer may yield again after a slow yield. All three belong to
	// the committer goroutine.
	yield         func()
	clock         func() time.Time
	noYieldsUntil time.Time
}

type pushCall struct {
	ctx     context.Context
	push    store.Push
	records []map[string]any // push.Entries were made from them, in order
	result  chan pushResult
}

type pushResult struct {
	accepted []store.Accepted
	err      error
}

func newAcceptor(st store.Store, now func() time.Time, inboxFor func(route string) *engine.Inbox) *acceptor {
	return &acceptor{st: st, now: now, inboxFor: inboxFor, in: make(chan *pushCall, maxGroup), done: make(chan struct{}),
		yield: runtime.Gosched, clock: time.Now}
}

// start runs the committer until ctx ends; pushes already handed in are
// still committed.
func (a *acceptor) start(ctx context.Context) {
	go func() {
		defer close(a.done)
		for {
			select {
			case <-ctx.Done():
				a.drain()
				return
			case c := <-a.in:
				a.commit(c)
			}
		}
	}()
}

// wait returns once the committer has stopped.
func (a *acceptor) wait() { <-a.done }

func (a *acceptor) drain() {
	for {
		select {
		case c := <-a.in:
			a.commit(c)
		default:
			return
		}
	}
}

// gather returns first and the calls waiting behind it, up to maxGroup,
// yielding up to gatherYields times when none wait (see gatherYields).
func (a *acceptor) gather(first *pushCall) []*pushCall {
	calls := []*pushCall{first}
	yields := 0
	for len(calls) < maxGroup {
		select {
		case c := <-a.in:
			calls = append(calls, c)
			continue
		default:
		}
		if yields == gatherYields || a.clock().Before(a.noYieldsUntil) {
			break
		}
		yields++
		start := a.clock()
		a.yield()
		if end := a.clock(); end.Sub(start) > slowYield {
			a.noYieldsUntil = end.Add(yieldPause)
		}
	}
	return calls
}

// commit commits first and whatever else waits, up to maxGroup, in one
// durable transaction.
func (a *acceptor) commit(first *pushCall) {
	calls := a.gather(first)
	// Callers that gave up before their turn are left out.
	live := calls[:0]
	for _, c := range calls {
		if c.ctx.Err() != nil {
			c.result <- pushResult{err: c.ctx.Err()}
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	now := a.now()
	pushes := make([]store.Push, len(live))
	records := map[string]int{} // route -> records pushed to it in this commit
	for _, c := range live {
		records[c.push.Route] += len(c.push.Entries)
	}
	inboxes := map[string]*engine.Inbox{} // route -> the run's inbox that reserved this commit
	leases := map[string]*store.PushLease{}
	for route, n := range records {
		ib := a.inboxFor(route)
		if lease, ok := ib.Reserve(now, n); ok {
			inboxes[route], leases[route] = ib, lease
		}
	}
	for i, c := range live {
		pushes[i] = c.push
		pushes[i].Lease = leases[c.push.Route]
	}
	// The caller forgets the records once it has its 202: they must
	// survive a power loss, not only a crash.
	res, err := a.st.Accept(store.WithSync(context.Background()), pushes, now)
	for route, ib := range inboxes {
		entries, recs := leasedOf(route, live, res, err)
		ib.Deliver(records[route], entries, recs)
	}
	for i, c := range live {
		if err != nil {
			c.result <- pushResult{err: err}
			continue
		}
		c.result <- pushResult{accepted: res[i]}
	}
}

// leasedOf collects the entries a commit leased to route's run, each
// with the record it was made from (of duplicate keys in a push, the
// last: its content is the entry's). None when the commit failed.
func leasedOf(route string, calls []*pushCall, res [][]store.Accepted, err error) ([]store.Entry, []map[string]any) {
	if err != nil {
		return nil, nil
	}
	var (
		entries []store.Entry
		records []map[string]any
		at      = map[int64]int{} // entry ID -> index in entries
	)
	for i, c := range calls {
		if c.push.Route != route {
			continue
		}
		for j, acc := range res[i] {
			if acc.Leased == nil {
				continue
			}
			if k, dup := at[acc.EntryID]; dup {
				records[k] = c.records[j]
				continue
			}
			at[acc.EntryID] = len(entries)
			entries = append(entries, *acc.Leased)
			records = append(records, c.records[j])
		}
	}
	return entries, records
}

// add hands a push to the committer and waits for its commit. records
// are what p's entries were made from.
func (a *acceptor) add(ctx context.Context, p store.Push, records []map[string]any) ([]store.Accepted, error) {
	c := &pushCall{ctx: ctx, push: p, records: records, result: make(chan pushResult, 1)}
	select {
	case a.in <- c:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Once handed in, the push is committed or refused: wait for which,
	// even if the caller gives up, so a 202 never misses a record.
	r := <-c.result
	return r.accepted, r.err
}

// Accept queues records pushed to a webhook route durably and asks for a
// run of the route to send them. All records are checked first: one that
// cannot be queued (no key) refuses the whole call (ErrBadRecord), and
// nothing is queued. With wait, the result's Wait waits for the first
// attempt of each record.
func (s *Service) Accept(ctx context.Context, route string, records []map[string]any, wait bool) (Accepted, error) {
	s.mu.Lock()
	if s.stopping || !s.started {
		s.mu.Unlock()
		return Accepted{}, ErrStopping // before Start too: nothing would commit
	}
	gen := s.gen
	// Stop waits for the calls that got this far before it stops the
	// committer, so no push is left behind in its queue.
	s.accepting.Add(1)
	s.mu.Unlock()
	defer s.accepting.Done()
	rc := gen.cfg.Routes[route]
	switch {
	case rc == nil:
		return Accepted{}, fmt.Errorf("%w: %q", ErrUnknownRoute, route)
	case rc.Webhook == nil:
		return Accepted{}, fmt.Errorf("%w: %q", ErrNotWebhook, route)
	}
	if wait && len(records) > MaxSyncRecords {
		return Accepted{}, fmt.Errorf("%w: respond: sync takes at most %d records a call (this one has %d): split it, or use respond: async", ErrBadRecord, MaxSyncRecords, len(records))
	}
	entries, err := gen.eng.Push(route, records)
	if err != nil {
		return Accepted{}, fmt.Errorf("%w: %v", ErrBadRecord, err)
	}
	var sub *events.Subscription
	var mine atomic.Pointer[map[int64]bool] // the accepted entries, once known
	if wait {
		// Subscribe before queuing, so no settlement is missed; until the
		// entry IDs are known every settlement of the route is taken,
		// then only the caller's (other entries of a busy route would
		// fill the buffer and push the caller's out).
		sub = s.bus.Subscribe(2*len(records)+64, func(ev events.Event) bool {
			if ev.Type != events.EntrySettled || ev.Route != route {
				return false
			}
			ids := mine.Load()
			return ids == nil || (*ids)[ev.Attempt.EntryID]
		})
	}
	accepted, err := s.acceptor.add(ctx, store.Push{Route: route, Entries: entries}, records)
	if err != nil {
		if sub != nil {
			sub.Close()
		}
		return Accepted{}, fmt.Errorf("route %q: queue %d records: %w", route, len(records), err)
	}
	ids := make([]int64, len(accepted))
	for i, a := range accepted {
		ids[i] = a.EntryID
	}
	if wait {
		// Only a waiting caller's filter reads the set.
		set := make(map[int64]bool, len(accepted))
		for _, id := range ids {
			set[id] = true
		}
		mine.Store(&set)
	}
	s.bus.Publish(events.Event{Type: events.EntriesQueued, At: s.now(), Route: route, EntryIDs: ids})
	s.wakeRoute(route, "webhook")
	out := Accepted{Entries: accepted}
	if wait {
		w := &waiter{s: s, sub: sub, accepted: accepted, since: s.now()}
		out.Wait = w.wait
	}
	return out, nil
}

// waiter collects the first attempts of accepted entries.
type waiter struct {
	s        *Service
	sub      *events.Subscription
	accepted []store.Accepted
	since    time.Time
	once     sync.Once
	dropped  bool // the subscription lost events: poll the history
}

// wait returns one Delivery per accepted record, in order. Records whose
// content was delivered already are answered at once (unchanged). When
// ctx ends first, it looks the missing ones up in the attempt history
// (an event may have been dropped) and returns what it has with ctx's
// error.
func (w *waiter) wait(ctx context.Context) ([]Delivery, error) {
	defer w.once.Do(w.sub.Close)
	out := make([]Delivery, len(w.accepted))
	missing := map[int64][]int{} // entry ID -> indexes in out
	for i, a := range w.accepted {
		out[i].EntryID = a.EntryID
		if a.Unchanged && !w.queued(ctx, a.EntryID) {
			out[i].Outcome = store.OutcomeUnchanged
			continue
		}
		missing[a.EntryID] = append(missing[a.EntryID], i)
	}
	// Events lost to a full buffer are looked up in the history.
	poll := time.NewTicker(250 * time.Millisecond)
	defer poll.Stop()
	for len(missing) > 0 {
		select {
		case <-poll.C:
			if w.sub.Dropped() > 0 {
				w.dropped = true
			}
			if w.dropped {
				w.fromHistory(out, missing)
			}
		case ev, ok := <-w.sub.C:
			if !ok {
				return out, ErrStopping
			}
			if idx, want := missing[ev.Attempt.EntryID]; want {
				for _, i := range idx {
					out[i] = deliveryOf(*ev.Attempt)
				}
				delete(missing, ev.Attempt.EntryID)
			}
		case <-ctx.Done():
			w.fromHistory(out, missing)
			if len(missing) == 0 {
				return out, nil
			}
			return out, ctx.Err()
		}
	}
	return out, nil
}

// queued reports whether the entry waits in the queue (its delivery is
// still to come).
func (w *waiter) queued(ctx context.Context, id int64) bool {
	_, err := w.s.opts.Store.Entry(ctx, id)
	return err == nil
}

// fromHistory fills deliveries whose events were missed from the store.
func (w *waiter) fromHistory(out []Delivery, missing map[int64][]int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for id, idx := range missing {
		atts, err := w.s.opts.Store.Attempts(ctx, id)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				w.s.log.Warn("webhook: read attempts", "entry", id, "err", err)
			}
			continue
		}
		for _, a := range atts {
			if a.Op == "" && !a.At.Before(w.since) && a.Outcome != store.OutcomeUnchanged {
				for _, i := range idx {
					out[i] = deliveryOf(a)
				}
				delete(missing, id)
				break
			}
		}
	}
}

func deliveryOf(a store.Attempt) Delivery {
	return Delivery{EntryID: a.EntryID, Outcome: a.Outcome, StatusCode: a.StatusCode, Response: a.Response, Error: a.Error}
}
