package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/jsonx"
	"github.com/ferry-dev/ferry/internal/liveness"
	"github.com/ferry-dev/ferry/internal/store"
)

// RunOptions tune one run.
type RunOptions struct {
	// Full reads every record and ignores the cursor.
	Full bool
	// Trigger names what started the run (default "manual").
	Trigger string
	// Progress, when set, receives snapshots at most every 100ms and at
	// phase changes. It is called from the run's goroutines one at a time.
	Progress func(Progress)
	// Started, when set, is called once the run is recorded (its ID known).
	Started func(store.Run)
	// Request is carried in the run's events (the service's request
	// number; 0 for none).
	Request int64
	// SendOnly: send what is queued, do not read the source (a run woken
	// by pushed records, or asked to deliver what waits).
	SendOnly bool
	// Wake, when set, says that records were pushed to the route (a
	// webhook): instead of ending when nothing is left, the run waits up
	// to Linger (default 1s) for a wake and goes on with another
	// iteration, so a stream of pushes is sent by one run.
	Wake   <-chan struct{}
	Linger time.Duration
	// Inbox, when set, holds records pushed to the route and queued
	// leased to this run (see Inbox): the main pass sends them before it
	// leases from the store. The run closes it when it ends.
	Inbox *Inbox
	// Coalesce, when set, is how long the main pass waits after sending a
	// batch less than half full before it leases the next: records pushed
	// one by one are sent in fuller batches (webhook routes whose callers
	// do not wait for the delivery).
	Coalesce time.Duration
}

// Progress is a snapshot of a running run.
type Progress struct {
	Route         string
	RunID         int64
	Phase         string // collecting, sending, retrying, operations, waiting, finished
	Iteration     int
	MaxIterations int
	Collected     int
	Sent          int
	Done          int
	Failed        int
	Dead          int
	Skipped       int
	Unchanged     int // read again with the content last delivered: not sent
	Pruned        int // dropped before sending: no longer at the source, or deletes the route ignores
	Operations    int // after/on_error operations done
	Elapsed       time.Duration
}

// Result is what a run did.
type Result struct {
	store.Run
	// Capped is true when the run stopped at max_iterations with work left.
	Capped bool
	// WaitIterations counts the iterations spent waiting for error
	// entries (or operations) that fell due during the run.
	WaitIterations int
	// Queue is the route's queue when the run ended (Leased: entries still
	// leased, by another worker or a run that died; Outbox: operations owed).
	Queue store.Counts
	// NextRetry is when the earliest waiting error entry falls due (zero: none).
	NextRetry time.Time
	// Operations counts the after/on_error operations this run performed.
	Operations OperationCounts
	// SourceError is the source's failure when the read broke off; the
	// run still delivered what was queued (status partially_failed, or
	// failed when nothing was delivered).
	SourceError string
	// StoreError says what could not be recorded or read at the end of
	// the run (its outcome, the queue counts): the run's record or this
	// summary may be incomplete.
	StoreError string
}

// OperationCounts counts outbox items (the after/on_error operations of
// one record) a run settled.
type OperationCounts struct {
	Done   int // all operations of the item succeeded
	Failed int // tries that failed (to be retried, or dead)
	Dead   int // given up: kept in the outbox, visible in the history
}

// Run executes one run of the named route and records it. The returned
// error is the run's failure (store error, lost run lock, cancellation)
// or the source's failure: after a source failure the run still delivers
// what is queued, and its status says whether anything got through
// (partially_failed) or not (failed). Failures of single records are
// counted in the result, not returned.
func (e *Engine) Run(ctx context.Context, name string, opts RunOptions) (Result, error) {
	r, err := e.route(name)
	if err != nil {
		return Result{}, err
	}
	if opts.Trigger == "" {
		opts.Trigger = "manual"
	}
	if opts.Linger <= 0 {
		opts.Linger = time.Second
	}
	mode := "incremental"
	if opts.Full {
		mode = "full"
	}
	// The run's context ends when the caller cancels it or when the run
	// loses its run lock (the cause says which).
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	lock, err := e.lockRoute(ctx, name, stopRun)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w: %v", ctx.Err(), err)
		}
		return Result{}, err
	}
	defer lock.unlock()
	bg := context.WithoutCancel(ctx)
	// Runs whose worker died stay "running" for ever unless someone closes
	// them; every run start does.
	if _, err := CloseAbandonedRuns(bg, e.store, e.opts.Now(), e.log); err != nil {
		e.log.Warn("close runs of dead workers", "err", err)
	}
	rs := &runState{
		e:          e,
		r:          r,
		opts:       opts,
		unresolved: map[int64]bool{},
		started:    e.opts.Now(),

		opsUnresolved: map[int64]time.Time{},
		opsElsewhere:  map[int64]bool{},
	}
	rs.run = store.Run{Route: name, Trigger: opts.Trigger, Mode: mode, Status: store.RunRunning, StartedAt: rs.started, Owner: lock.owner}
	if rs.run.ID, err = e.store.CreateRun(bg, rs.run); err != nil {
		return Result{}, fmt.Errorf("route %q: record run: %w", name, err)
	}
	rs.runID = rs.run.ID
	e.log.Info("run started", "route", name, "run", rs.run.ID, "mode", mode, "trigger", opts.Trigger)
	if opts.Started != nil {
		opts.Started(rs.run)
	}
	rs.publish(events.RunStarted)
	lv := rs.startLive(runCtx)
	opts.Inbox.open() // from here on the run ends by releasing its leases

	info := connector.RunInfo{ID: rs.run.ID, Route: name, Started: rs.started}
	runErr := rs.startRunScoped(runCtx, info)
	if runErr == nil {
		runErr = rs.execute(runCtx)
	}
	var lost *lockLostError
	switch cause := context.Cause(runCtx); {
	case ctx.Err() == nil && errors.As(cause, &lost):
		// Another worker has the route now: this run stopped itself.
		runErr = cause
	case ctx.Err() != nil && runErr != nil && !errors.Is(runErr, ctx.Err()):
		// A store call cut short by the cancellation reports its own
		// error (e.g. "transaction has already been committed or rolled
		// back"): the run was cancelled, and says so.
		runErr = fmt.Errorf("%w: %v", ctx.Err(), runErr)
	}

	// Entries and operations still leased by this run (cancelled
	// mid-batch, or handed in by a push it did not take) go back to the
	// queue at once rather than waiting for the lease to expire. The
	// inbox is closed first: a push committing now must not lease
	// entries to the run after the release.
	if n := opts.Inbox.close(); n > 0 {
		e.log.Info("pushed records handed to the run after it stopped taking them go back to the queue", "route", name, "entries", n)
	}
	if _, err := e.store.ReleaseLeases(bg, name, time.Time{}, []string{e.opts.Owner}); err != nil && runErr == nil {
		runErr = fmt.Errorf("release leases: %w", err)
	}
	if _, err := e.store.ReleaseOutbox(bg, name, time.Time{}, []string{e.opts.Owner}); err != nil && runErr == nil {
		runErr = fmt.Errorf("release operation leases: %w", err)
	}
	if err := rs.endRunScoped(bg, info, runErr == nil); err != nil && runErr == nil {
		runErr = err
	}
	lv.end() // no counter flush may land after the outcome
	res := rs.finish(bg, runErr)
	rs.publish(events.RunFinished)
	e.log.Info("run finished", "route", name, "run", res.ID, "status", res.Status,
		"collected", res.Collected, "unchanged", res.Unchanged, "done", res.Done, "failed", res.Failed, "dead", res.Dead, "skipped", res.Skipped)
	if !e.opts.RetentionByCaller {
		e.prune(bg)
	}
	if runErr == nil && rs.sourceErr != nil {
		runErr = rs.sourceErr
	}
	return res, e.cfg.Redactor().Error(runErr)
}

// startRunScoped tells destinations whose output belongs to one run (a
// file per run) that the run starts.
func (rs *runState) startRunScoped(ctx context.Context, info connector.RunInfo) error {
	for _, name := range slices.Sorted(maps.Keys(rs.r.destinations)) {
		if rsd, ok := rs.r.destinations[name].conn.(connector.RunScoped); ok {
			if err := rsd.StartRun(ctx, info); err != nil {
				return fmt.Errorf("route %q: destination %q: start of run: %w", info.Route, name, err)
			}
		}
	}
	return nil
}

// endRunScoped lets run-scoped destinations finish (publish) the run's
// output; completed tells whether the run ended without error.
func (rs *runState) endRunScoped(ctx context.Context, info connector.RunInfo, completed bool) error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(rs.r.destinations)) {
		if rsd, ok := rs.r.destinations[name].conn.(connector.RunScoped); ok {
			if err := rsd.EndRun(ctx, info, completed); err != nil {
				errs = append(errs, fmt.Errorf("route %q: destination %q: end of run: %w", info.Route, name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ErrRouteBusy is returned by Run when another run of the route holds its
// run lock (in this process or another).
var ErrRouteBusy = errors.New("route is already running")

// lockLostError is why a run stopped when it could not keep its run lock.
type lockLostError struct{ msg string }

func (e *lockLostError) Error() string { return e.msg }

// runLock is a held run lock.
type runLock struct {
	owner  string
	unlock func()
}

// lockRoute takes the route's run lock, so two runs of one route never
// read and send the same records side by side (a cron job overlapping a
// manual run). A lock left by a dead worker on this host is taken over at
// once, others expire. The run extends the lock every third of LockFor;
// when it cannot (another worker took it over, the store failed), lost is
// called with the reason and the lock is not extended again: the run must
// stop, or two runs of the route would send side by side.
func (e *Engine) lockRoute(ctx context.Context, name string, lost func(error)) (*runLock, error) {
	// One lock owner per run, so a second run in this same process is
	// refused too; it keeps the worker's host:pid for ownerDead.
	owner := e.opts.Owner + ":" + nonce()
	lockFor := e.opts.LockFor
	now := e.opts.Now()
	holder, ok, err := e.store.LockRoute(ctx, name, owner, now, now.Add(lockFor), "")
	if err == nil && !ok && ownerDead(holder) {
		holder, ok, err = e.store.LockRoute(ctx, name, owner, now, now.Add(lockFor), holder)
	}
	if err != nil {
		return nil, fmt.Errorf("route %q: take run lock: %w", name, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: route %q is being run by worker %s; wait for it to finish", ErrRouteBusy, name, holder)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(max(lockFor/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				now := e.opts.Now()
				holder, ok, err := e.store.LockRoute(context.WithoutCancel(ctx), name, owner, now, now.Add(lockFor), "")
				var why error
				switch {
				case err != nil:
					why = &lockLostError{fmt.Sprintf("could not extend the run lock of route %q: %v", name, err)}
				case !ok:
					why = &lockLostError{fmt.Sprintf("lost the run lock of route %q to worker %s", name, holder)}
				}
				if why != nil {
					e.log.Error("run lock lost: stopping the run", "route", name, "err", why)
					lost(why)
					return
				}
			}
		}
	}()
	return &runLock{owner: owner, unlock: func() {
		close(stop)
		<-done
		if err := e.store.UnlockRoute(context.WithoutCancel(ctx), name, owner); err != nil {
			e.log.Error("release run lock", "route", name, "err", err)
		}
	}}, nil
}

// CloseAbandonedRuns marks the runs of workers that died (or lost their
// run lock) without recording an outcome as abandoned, and returns to the
// queue the entries and operations that dead workers still held leased.
// Run calls it at its start; commands that open the store may call it
// too. log may be nil.
func CloseAbandonedRuns(ctx context.Context, st store.Store, now time.Time, log *slog.Logger) ([]store.Run, error) {
	return CloseRunsOf(ctx, st, now, log, ownerDead)
}

// CloseRunsOf is CloseAbandonedRuns with the caller's judgement of which
// lease owners (host:pid:nonce) are dead, e.g. from heartbeats that ran
// out on other hosts; owners dead on this host count too.
func CloseRunsOf(ctx context.Context, st store.Store, now time.Time, log *slog.Logger, dead func(leaseOwner string) bool) ([]store.Run, error) {
	runDead := func(runOwner string) bool {
		if liveness.Dead(runOwner) {
			return true
		}
		// A run's owner is its worker's lease owner plus one nonce.
		i := strings.LastIndexByte(runOwner, ':')
		return i > 0 && dead(runOwner[:i])
	}
	runs, err := st.AbandonRuns(ctx, now, runDead)
	if err != nil {
		return nil, fmt.Errorf("close abandoned runs: %w", err)
	}
	for _, r := range runs {
		if log != nil {
			log.Warn("closed the run of a worker that is gone", "route", r.Route, "run", r.ID, "owner", r.Owner)
		}
		// The run lock owner is the lease owner plus one nonce. Only a
		// dead worker's leases are released: one that merely lost its
		// lock may still be sending, and its leases expire on their own.
		if !runDead(r.Owner) {
			continue
		}
		i := strings.LastIndexByte(r.Owner, ':')
		if i <= 0 {
			continue
		}
		leaseOwner := []string{r.Owner[:i]}
		if _, err := st.ReleaseLeases(ctx, r.Route, time.Time{}, leaseOwner); err != nil {
			return runs, fmt.Errorf("route %q: release leases of %s: %w", r.Route, leaseOwner[0], err)
		}
		if _, err := st.ReleaseOutbox(ctx, r.Route, time.Time{}, leaseOwner); err != nil {
			return runs, fmt.Errorf("route %q: release operations of %s: %w", r.Route, leaseOwner[0], err)
		}
		// Its run lock too: a worker on another host is not seen dead by
		// the next run's lock, which would wait for the lock to expire.
		if err := st.UnlockRoute(ctx, r.Route, r.Owner); err != nil {
			return runs, fmt.Errorf("route %q: release the run lock of %s: %w", r.Route, r.Owner, err)
		}
	}
	return runs, nil
}

// runState is the mutable state of one run. mu guards the counters, which
// the collector and the sender update concurrently.
type runState struct {
	e    *Engine
	r    *route
	opts RunOptions
	live *live // set before any goroutine starts
	// passCut: the main pass stopped after passBatches batches with
	// records still coming; the next iteration starts without waiting.
	passCut bool

	mu           sync.Mutex
	run          store.Run
	phase        string
	lastProgress time.Time
	capped       bool
	readPos      string         // where the next read of this run starts (cursor value)
	unresolved   map[int64]bool // entries that failed in this run and were not delivered later
	started      time.Time
	runID        int64     // set once before any goroutine starts
	pauseUntil   time.Time // no delivery before this (Retry-After); sender only
	// sourceErr is the source's failure; the run goes on delivering what
	// is queued but reads no more.
	sourceErr      error
	waitIterations int
	ops            OperationCounts
	opsUnresolved  map[int64]time.Time // outbox items that failed in this run: when they are due again
	opsElsewhere   map[int64]bool      // of those, due but not leased by the last pass (another worker has them)
}

// sourceError marks a failure of the source read (not of the store).
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }
func (e *sourceError) Unwrap() error { return e.err }

func (rs *runState) execute(ctx context.Context) error {
	st, name, cfg := rs.e.store, rs.r.cfg.Name, rs.r.cfg
	if err := rs.releaseDeadLeases(ctx); err != nil {
		return err
	}
	// Operations owed by earlier runs (one that crashed between settling
	// and performing them) come first.
	if err := rs.outboxPass(ctx); err != nil {
		return err
	}
	cursorBased := rs.r.incremental()
	if !rs.opts.Full {
		pos, err := st.Cursor(ctx, name)
		if err != nil {
			return fmt.Errorf("route %q: read cursor: %w", name, err)
		}
		rs.readPos = pos
	}
	// advanced: the last read moved the read position forward, so a
	// cursor-based source may have more; a read that returns only records
	// at the position (an API that filters "at or after") does not count,
	// or such a source would be read again until max_iterations.
	advanced, more := false, false
	for it := 1; it <= cfg.MaxIterations; it++ {
		rs.mu.Lock()
		rs.run.Iterations = it
		rs.mu.Unlock()

		// After a source failure the run reads no more, but still sends
		// what is queued and retries what falls due.
		readSource := rs.r.source != nil && !rs.opts.SendOnly && rs.sourceErr == nil && (it == 1 || (cursorBased && (more || advanced)))
		var err error
		if readSource {
			advanced, more, err = rs.collectAndSend(ctx, it == 1 && rs.opts.Full)
		} else {
			advanced, more = false, false
			err = rs.sendPass(ctx, store.LeasePending)
		}
		if err != nil {
			return err
		}
		if err := rs.sendPass(ctx, store.LeaseErrors); err != nil {
			return err
		}
		// Only a route with final operations owes new ones during the
		// run; what older configs owed was done by the pass at the start.
		if rs.r.hasOperations() {
			if err := rs.outboxPass(ctx); err != nil {
				return err
			}
		}
		if rs.passCut {
			rs.passCut = false
			continue
		}
		if rs.sourceErr == nil && (more || (cursorBased && advanced)) {
			// The source has (more) or may have (advanced) records left.
			if it == cfg.MaxIterations {
				rs.capped = true
			}
			continue
		}
		// Nothing new at the source: wait for errors (and operations)
		// that fall due soon, so short backoffs finish within this run.
		at, ok, err := st.NextDue(ctx, name)
		if err != nil {
			return fmt.Errorf("route %q: next retry: %w", name, err)
		}
		if next, due := rs.nextOperation(); due && (!ok || next.Before(at)) {
			at, ok = next, true
		}
		wait := at.Sub(rs.e.opts.Now())
		retrySoon := ok && rs.e.opts.RetryWait >= 0 && wait <= rs.e.opts.RetryWait
		if !retrySoon && rs.opts.Wake == nil {
			return nil
		}
		if it == cfg.MaxIterations {
			rs.capped = retrySoon
			return nil
		}
		if !retrySoon {
			// Records are pushed to the route (webhooks): wait a little
			// for more instead of ending, so a stream of pushes is one
			// run, not one run per push.
			woken, err := rs.linger(ctx, rs.opts.Linger)
			if err != nil || !woken {
				return err
			}
			continue
		}
		rs.waitIterations++
		rs.setPhase("waiting")
		if _, err := rs.linger(ctx, wait); err != nil {
			return err
		}
	}
	return nil
}

// linger waits up to d, or until records are pushed to the route
// (RunOptions.Wake): woken says which.
func (rs *runState) linger(ctx context.Context, d time.Duration) (woken bool, err error) {
	if rs.opts.Wake == nil {
		return false, sleep(ctx, d)
	}
	rs.setPhase("waiting")
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-rs.opts.Wake:
		return true, nil
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// releaseDeadLeases returns to the queue the entries leased by workers of
// this host that died (kill -9, crash) and those whose lease expired.
func (rs *runState) releaseDeadLeases(ctx context.Context) error {
	st, name := rs.e.store, rs.r.cfg.Name
	owners, err := st.LeaseOwners(ctx, name)
	if err != nil {
		return fmt.Errorf("route %q: list leases: %w", name, err)
	}
	var dead []string
	for _, o := range owners {
		if ownerDead(o) {
			dead = append(dead, o)
		}
	}
	n, err := st.ReleaseLeases(ctx, name, rs.e.opts.Now(), dead)
	if err != nil {
		return fmt.Errorf("route %q: release leases: %w", name, err)
	}
	if n > 0 {
		rs.e.log.Warn("released entries of dead or expired workers", "route", name, "entries", n, "owners", dead)
	}
	return rs.releaseDeadOutbox(ctx, dead)
}

// collectAndSend reads the source while a sender delivers what the
// collector queued, so the HTTP source, the SQLite writer and the
// destination overlap. Each page is queued already leased to this worker
// and handed to the sender in memory (no Lease round trip, no second JSON
// decode); if the worker dies, the leases are released on restart and
// nothing is lost. A small channel bounds what is in flight. Entries left
// pending by earlier runs are sent after the source is read.
func (rs *runState) collectAndSend(ctx context.Context, full bool) (advanced, more bool, err error) {
	req := connector.ReadRequest{Cursor: rs.readPos, Full: full}
	if full {
		req.Cursor = ""
	}
	collectCtx, stopCollector := context.WithCancel(ctx)
	defer stopCollector()
	pages := make(chan []handed, 2)
	var collectErr error
	go func() {
		defer close(pages)
		advanced, more, collectErr = rs.collect(collectCtx, req, pages)
	}()
	sendErr := rs.sendHanded(ctx, pages)
	if sendErr != nil {
		stopCollector()
	}
	for range pages { // let the collector finish; its leases are released at the end of the run
	}
	if sendErr != nil {
		return advanced, more, sendErr
	}
	var srcErr *sourceError
	if errors.As(collectErr, &srcErr) && ctx.Err() == nil {
		// The source broke off (API down, truncated page): what was
		// queued, and what earlier runs left, is still delivered; the
		// cursor stays where the queued records put it.
		collectErr = rs.e.cfg.Redactor().Error(collectErr) // may echo a secret a route sent
		rs.e.log.Error("source failed; delivering what is queued", "route", rs.r.cfg.Name, "err", collectErr)
		rs.sourceErr = collectErr
		collectErr = nil
		advanced, more = false, false
	}
	if collectErr != nil {
		return advanced, more, collectErr
	}
	return advanced, more, rs.sendPass(ctx, store.LeasePending)
}

// handed is an entry the collector queued leased to this worker, with the
// record it decoded.
type handed struct {
	entry  store.Entry
	record map[string]any
}

// sendHanded delivers the collector's pages in batches of the route's size.
func (rs *runState) sendHanded(ctx context.Context, pages <-chan []handed) error {
	batch := rs.r.cfg.Batch
	c := newCommitter(ctx, rs)
	var pending []handed
	flush := func(n int) error {
		if err := rs.waitBackOff(ctx); err != nil {
			return err
		}
		if err := c.failure(); err != nil {
			return err // nothing more is sent that could not be settled
		}
		rs.setPhase("sending")
		s, pause, err := rs.deliver(ctx, pending[:n])
		if err != nil {
			return err
		}
		pending = append(pending[:0:0], pending[n:]...)
		rs.noteBackOff(pause)
		return c.submit(s)
	}
	err := func() error {
		for page := range pages {
			pending = append(pending, page...)
			for len(pending) >= batch {
				if err := flush(batch); err != nil {
					return err
				}
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(pending) > 0 {
			return flush(len(pending))
		}
		return nil
	}()
	if werr := c.wait(); err == nil {
		err = werr
	}
	return err
}

// readPage is one source page encoded for the queue.
type readPage struct {
	number  int
	entries []store.NewEntry
	records map[string]map[string]any // by key, for the sender
	hashes  map[string]string         // by key: content hashes given at enqueue
	marks   cursorMarks               // over everything read so far
	// ack acknowledges the page's input at the source once its records
	// are queued (nil: the source has nothing to acknowledge).
	ack func(context.Context) error
}

// ackIfWhole returns the page's acknowledgement when all of its n
// records are kept.
func ackIfWhole(page connector.Page, n int) func(context.Context) error {
	if n != len(page.Records) {
		return nil
	}
	return page.Ack
}

// cursorMarks follows the cursor values of a read: max is the largest,
// safe the largest strictly below it. Records sharing the value max may
// continue on the next page, so only safe can be stored while reading:
// an interrupted read then starts again at the group of equal values
// (delivering some of them twice) instead of skipping the rest of it.
type cursorMarks struct {
	max, safe string
}

func (m *cursorMarks) see(v string) {
	switch {
	case v == "":
	case cursorLess(m.max, v):
		m.safe, m.max = m.max, v
	case cursorLess(v, m.max) && cursorLess(m.safe, v):
		m.safe = v
	}
}

// laterOf returns the later of two cursor values.
func laterOf(a, b string) string {
	if cursorLess(a, b) {
		return b
	}
	return a
}

// collect reads the source and queues it page by page. Reading (HTTP,
// JSON decoding, encoding the payloads) runs one page ahead of queuing
// (the SQLite writer), so the two overlap; pages are queued in order, and
// the route's cursor advances in each page's transaction, to the safe
// mark; when the read ends at the end of the data it moves to the max.
// It sets rs.readPos, where the next read of this run starts.
func (rs *runState) collect(ctx context.Context, req connector.ReadRequest, pages chan<- []handed) (advanced, more bool, err error) {
	st, cfg, owner := rs.e.store, rs.r.cfg, rs.e.opts.Owner
	rs.setPhase("collecting")
	stored, err := st.Cursor(ctx, cfg.Name)
	if err != nil {
		return false, false, fmt.Errorf("route %q: read cursor: %w", cfg.Name, err)
	}

	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	read := make(chan readPage)
	var readErr error
	var marks cursorMarks
	go func() {
		defer close(read)
		marks, more, readErr = rs.read(readCtx, req, read)
	}()

	var queueErr error
	for p := range read {
		if queueErr != nil {
			continue // drain: the reader stops at its next page
		}
		var cur *string
		if next := laterOf(stored, p.marks.safe); next != stored {
			cur = &next
		}
		now := rs.e.opts.Now()
		qctx := ctx
		if p.ack != nil {
			// The source forgets the page's input once acknowledged: the
			// queue must hold it durably even through a power loss.
			qctx = store.WithSync(ctx)
		}
		leased, res, err := st.EnqueueLeased(qctx, cfg.Name, p.entries, cur, now, owner, now.Add(rs.e.opts.LeaseFor))
		if err != nil {
			queueErr = fmt.Errorf("page %d: queue %d records: %w", p.number, len(p.entries), err)
			stopReading()
			continue
		}
		rs.live.hold(leased)
		if cur != nil {
			stored = *cur
		}
		if p.ack != nil {
			// The records are durable: the source may forget them. A
			// failed acknowledgement only means they are read again
			// (and found unchanged or coalesced by key).
			if err := p.ack(ctx); err != nil {
				rs.e.log.Warn("acknowledge source page", "route", cfg.Name, "page", p.number, "err", rs.e.cfg.Redactor().String(err.Error()))
			}
		}
		rs.count(func(r *store.Run) {
			r.Collected += len(p.entries) - res.Unchanged
			r.Unchanged += res.Unchanged
		})
		out := make([]handed, len(leased))
		for i, en := range leased {
			if en.Hash == "" {
				en.Hash = p.hashes[en.Key]
			}
			out[i] = handed{entry: en, record: p.records[en.Key]}
		}
		if rs.r.entryPriority != nil {
			// A page goes to the sender as read; entry_priority orders it.
			slices.SortStableFunc(out, func(a, b handed) int { return b.entry.Priority - a.entry.Priority })
		}
		select {
		case pages <- out:
		case <-ctx.Done():
			queueErr = ctx.Err()
			stopReading()
		}
	}
	if queueErr != nil {
		return false, more, fmt.Errorf("route %q: collect: %w", cfg.Name, queueErr)
	}
	if readErr != nil {
		err = fmt.Errorf("route %q: collect: %w", cfg.Name, readErr)
		if ctx.Err() == nil {
			err = &sourceError{err}
		}
		return false, more, err
	}
	// The read reached the end of the data, or the collect limit after a
	// complete group of cursor values: everything up to max is queued.
	if final := laterOf(stored, marks.max); final != stored {
		if err := st.SetCursor(ctx, cfg.Name, final); err != nil {
			return false, more, fmt.Errorf("route %q: move cursor: %w", cfg.Name, err)
		}
	}
	from := rs.readPos
	rs.readPos = laterOf(req.Cursor, marks.max)
	return cursorLess(from, rs.readPos) || (req.Full && rs.readPos != ""), more, nil
}

// read reads the source and sends each page, encoded, to out. At the
// route's collect_limit it finishes the group of records sharing the last
// cursor value (reading on, and keeping from the next page only the
// records of that value), then stops with more set: the next read starts
// after that value, so a stop never splits a group (which would lose the
// rest of it) nor reads a record twice.
func (rs *runState) read(ctx context.Context, req connector.ReadRequest, out chan<- readPage) (marks cursorMarks, more bool, err error) {
	cfg := rs.r.cfg
	limit := 0
	if rs.r.incremental() {
		limit = cfg.CollectLimit
	}
	found := 0
	finishing := false // the limit is reached: only the group at marks.max is read on
	err = rs.r.source.Read(ctx, req, func(ctx context.Context, page connector.Page) error {
		records := page.Records
		if finishing {
			n := 0
			for n < len(records) && cursorSame(records[n].Cursor, marks.max) {
				n++
			}
			if n < len(records) {
				more = true
			}
			records = records[:n]
		}
		p := readPage{
			number: page.Number,
			// A page cut short (the rest is read again) is not acknowledged.
			ack:     ackIfWhole(page, len(records)),
			entries: make([]store.NewEntry, 0, len(records)),
			records: make(map[string]map[string]any, len(records)),
			hashes:  make(map[string]string, len(records)),
		}
		ignored := 0
		for _, rec := range records {
			marks.see(rec.Cursor)
			if rec.Deleted && cfg.Deletes != config.DeletesSend {
				// The route does not send deletes: nothing to queue.
				ignored++
				continue
			}
			payload, err := jsonx.Marshal(rec.Data)
			if err != nil {
				return fmt.Errorf("page %d: record %q: encode: %w", page.Number, rec.Key, err)
			}
			hash := rs.r.enqueueHash(payload, rec.Deleted)
			prio, err := rs.r.priorityOf(rec.Data)
			if err != nil {
				// A priority is no reason to hold a record back.
				rs.e.log.Warn("entry priority: using the route's", "route", cfg.Name, "key", rec.Key, "err", err)
			}
			p.entries = append(p.entries, store.NewEntry{Key: rec.Key, Payload: payload, Priority: prio, Hash: hash, Deleted: rec.Deleted})
			p.records[rec.Key] = rec.Data
			p.hashes[rec.Key] = hash
		}
		p.marks = marks
		if ignored > 0 {
			rs.count(func(r *store.Run) { r.Pruned += ignored })
		}
		switch {
		case len(p.entries) > 0:
			select {
			case out <- p:
			case <-ctx.Done():
				return ctx.Err()
			}
		case p.ack != nil:
			// Nothing to queue: the page's input can go at once.
			if err := p.ack(ctx); err != nil {
				rs.e.log.Warn("acknowledge source page", "route", cfg.Name, "page", page.Number, "err", rs.e.cfg.Redactor().String(err.Error()))
			}
		}
		if more {
			return connector.ErrStop
		}
		found += len(records)
		// Stop only past the start: while every record read is still at
		// the cursor (an "at or after" API, or records without a cursor
		// value first), a stop would start the next read at the same place.
		if limit > 0 && found >= limit && cursorLess(req.Cursor, marks.max) {
			finishing = true
		}
		return nil
	})
	if errors.Is(err, connector.ErrStop) {
		err = nil
	}
	if finishing && err == nil && !more {
		// The data ended while finishing the group: nothing is left.
		more = false
	}
	return marks, more, err
}

// sendPass leases and processes batches until none is left: the error
// pass, and in the main pass the entries that earlier runs left pending.
// A run of pushed records ends its main pass after passBatches batches,
// so a steady stream of pushes does not hold up the error pass (retries
// falling due) and the operations: the run goes on with the next
// iteration at once.
func (rs *runState) sendPass(ctx context.Context, mode store.LeaseMode) error {
	st, cfg := rs.e.store, rs.r.cfg
	limit, phase := cfg.Batch, "sending"
	if mode == store.LeaseErrors {
		limit, phase = cfg.ErrorBatch, "retrying"
	}
	inbox := rs.opts.Inbox
	if mode != store.LeasePending {
		inbox = nil
	}
	fromInbox := 0 // batches taken from the inbox since the store's last lease
	for batches := 0; ; batches++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if mode == store.LeasePending && rs.opts.Wake != nil && batches == passBatches {
			rs.passCut = true
			return nil
		}
		var work []handed
		if fromInbox < inboxStreak {
			// Pushed records handed in leased come first: no lease
			// transaction for them.
			work = inbox.take(limit)
		}
		if len(work) > 0 {
			fromInbox++
		} else {
			// Now and then the store's queue too, so what waits there
			// (pushed before the run, to another process, or when the
			// inbox was full) is not held up by a stream of pushes.
			fromInbox = 0
			now := rs.e.opts.Now()
			entries, err := st.Lease(ctx, store.LeaseRequest{
				Route: cfg.Name, Owner: rs.e.opts.Owner, Limit: limit, Mode: mode,
				Now: now, Until: now.Add(rs.e.opts.LeaseFor),
			})
			if err != nil {
				return fmt.Errorf("route %q: lease: %w", cfg.Name, err)
			}
			if len(entries) == 0 {
				if inbox.waiting() {
					continue
				}
				return nil
			}
			keys := make(map[string]bool, len(entries))
			ids := make(map[int64]bool, len(entries))
			for _, en := range entries {
				keys[en.Key], ids[en.ID] = true, true
			}
			// Older versions of these keys waiting in the inbox go in the
			// same batch, where only the newest is sent: the store's
			// entry must not overtake them and be overwritten by them.
			// An entry the store handed out again (its lease lost while
			// it waited) is sent once, as the store's.
			for _, h := range inbox.takeKeys(keys) {
				if !ids[h.entry.ID] {
					work = append(work, h)
				}
			}
			for _, en := range entries {
				work = append(work, handed{entry: en})
			}
		}
		rs.live.holdWork(work)
		if err := rs.waitBackOff(ctx); err != nil {
			return err
		}
		rs.setPhase(phase)
		pause, err := rs.process(ctx, work)
		if err != nil {
			return err
		}
		rs.noteBackOff(pause)
		if rs.opts.Coalesce > 0 && mode == store.LeasePending && len(work) < limit/2 {
			// Pushed records trickle in: let a batch gather instead of
			// paying a lease and a settle for a handful.
			if err := sleep(ctx, rs.opts.Coalesce); err != nil {
				return err
			}
		}
	}
}

// passBatches is how many batches the main pass of a run of pushed
// records sends before the error pass gets its turn.
const passBatches = 20

// inboxStreak is how many batches the main pass takes from the inbox
// before it leases from the store again.
const inboxStreak = 4

// maxBackOff caps how long one Retry-After pauses a run.
const maxBackOff = 30 * time.Second

// noteBackOff remembers that the destination asked to slow down
// (Retry-After on a whole batch). The pause is taken before the next
// batch only, so a run with nothing left to send does not wait.
func (rs *runState) noteBackOff(pause time.Duration) {
	if pause > 0 {
		rs.pauseUntil = rs.e.opts.Now().Add(min(pause, maxBackOff))
	}
}

// waitBackOff waits out a pause the destination asked for: back-pressure
// instead of hammering it.
func (rs *runState) waitBackOff(ctx context.Context) error {
	wait := rs.pauseUntil.Sub(rs.e.opts.Now())
	if wait <= 0 {
		return nil
	}
	rs.setPhase("waiting")
	rs.e.log.Info("destination asked to slow down", "route", rs.r.cfg.Name, "wait", wait.Round(time.Millisecond))
	return sleep(ctx, wait)
}

func (rs *runState) setPhase(p string) {
	rs.mu.Lock()
	changed := rs.phase != p
	rs.phase = p
	rs.mu.Unlock()
	if changed {
		rs.progress(true)
	}
}

// count applies f to the run counters and reports progress.
func (rs *runState) count(f func(*store.Run)) {
	rs.mu.Lock()
	f(&rs.run)
	rs.mu.Unlock()
	rs.progress(false)
}

func (rs *runState) progress(force bool) {
	bus := rs.e.opts.Events
	if rs.opts.Progress == nil && bus == nil {
		return
	}
	rs.mu.Lock()
	now := time.Now()
	if !force && now.Sub(rs.lastProgress) < 100*time.Millisecond {
		rs.mu.Unlock()
		return
	}
	rs.lastProgress = now
	if rs.opts.Progress != nil {
		// Called under mu so snapshots reach the callback in order, one at a time.
		rs.opts.Progress(rs.snapshot(now))
	}
	if bus != nil && rs.run.ID != 0 {
		run := rs.run
		bus.Publish(events.Event{Type: events.RunProgress, At: now, Route: run.Route, RunID: run.ID, Run: &run, Phase: rs.phase, Request: rs.opts.Request})
	}
	rs.mu.Unlock()
}

func (rs *runState) snapshot(now time.Time) Progress {
	r := rs.run
	return Progress{
		Route: r.Route, RunID: r.ID, Phase: rs.phase,
		Iteration: r.Iterations, MaxIterations: rs.r.cfg.MaxIterations,
		Collected: r.Collected, Sent: r.Sent, Done: r.Done, Failed: r.Failed, Dead: r.Dead, Skipped: r.Skipped,
		Unchanged: r.Unchanged, Pruned: r.Pruned, Operations: rs.ops.Done,
		Elapsed: now.Sub(rs.started),
	}
}

// finish records the run's outcome.
func (rs *runState) finish(ctx context.Context, runErr error) Result {
	st := rs.e.store
	rs.mu.Lock()
	run := rs.run
	unresolved := len(rs.unresolved)
	ops, opsUnresolved := rs.ops, len(rs.opsUnresolved)
	rs.phase = "finished"
	rs.mu.Unlock()
	run.EndedAt = rs.e.opts.Now()
	var notes []string
	switch {
	case errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded):
		run.Status = store.RunCancelled
		run.Error = "cancelled"
	case runErr != nil:
		run.Status = store.RunFailed
		run.Error = runErr.Error()
	case rs.sourceErr != nil:
		// The read broke off: what was queued was still delivered.
		run.Status = store.RunPartiallyFailed
		run.Error = rs.sourceErr.Error()
		if run.Done == 0 {
			run.Status = store.RunFailed
		}
	case run.Dead > 0 || unresolved > 0:
		run.Status = store.RunPartiallyFailed
		// Records settled unchanged are where they belong: a run that
		// only re-read delivered content and lost a few did not fail.
		if run.Done == 0 && run.Unchanged == 0 {
			run.Status = store.RunFailed
			run.Error = "no record was delivered"
		}
	case ops.Dead > 0 || opsUnresolved > 0:
		run.Status = store.RunPartiallyFailed
	default:
		run.Status = store.RunSucceeded
	}
	if ops.Dead > 0 || opsUnresolved > 0 {
		notes = append(notes, fmt.Sprintf("%d final operation(s) failed for good, %d wait for a retry (see ferry history)", ops.Dead, opsUnresolved))
	}
	if rs.capped {
		if rs.waitIterations > 0 {
			notes = append(notes, fmt.Sprintf("stopped after max_iterations (%d), %d of them waiting for retries; what is left waits for the next run", rs.r.cfg.MaxIterations, rs.waitIterations))
		} else {
			notes = append(notes, fmt.Sprintf("stopped after max_iterations (%d) while the source was still giving new records; anything left waits for the next run", rs.r.cfg.MaxIterations))
		}
	}
	if len(notes) > 0 {
		all := strings.Join(notes, "; ")
		if run.Error == "" {
			run.Error = all
		} else if run.Status != store.RunCancelled {
			run.Error += "; " + all
		}
	}
	red := rs.e.cfg.Redactor() // a source error may echo a secret a route sent
	run.Error = red.String(run.Error)
	res := Result{Run: run, Capped: rs.capped, WaitIterations: rs.waitIterations, Operations: ops}
	if rs.sourceErr != nil {
		res.SourceError = red.String(rs.sourceErr.Error())
	}
	var storeErrs []string
	if err := st.UpdateRun(ctx, run); err != nil {
		rs.e.log.Error("record run outcome", "route", run.Route, "run", run.ID, "err", err)
		storeErrs = append(storeErrs, fmt.Sprintf("could not record the run's outcome: %v", err))
	}
	var err error
	if res.Queue, err = st.Counts(ctx, run.Route); err != nil {
		rs.e.log.Error("read queue counts", "route", run.Route, "err", err)
		storeErrs = append(storeErrs, fmt.Sprintf("could not read the queue: %v", err))
	}
	if at, ok, err := st.NextDue(ctx, run.Route); err != nil {
		storeErrs = append(storeErrs, fmt.Sprintf("could not read the next retry: %v", err))
	} else if ok {
		res.NextRetry = at
	}
	res.StoreError = strings.Join(storeErrs, "; ")
	rs.mu.Lock()
	rs.run = run
	rs.mu.Unlock()
	rs.progress(true)
	return res
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
