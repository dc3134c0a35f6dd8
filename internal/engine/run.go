package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
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
}

// Progress is a snapshot of a running run.
type Progress struct {
	Route         string
	RunID         int64
	Phase         string // collecting, sending, retrying, waiting, finished
	Iteration     int
	MaxIterations int
	Collected     int
	Sent          int
	Done          int
	Failed        int
	Dead          int
	Skipped       int
	Elapsed       time.Duration
}

// Result is what a run did.
type Result struct {
	store.Run
	// Capped is true when the run stopped at max_iterations with work left.
	Capped bool
	// Queue is the route's queue when the run ended.
	Queue store.Counts
	// NextRetry is when the earliest waiting error entry falls due (zero: none).
	NextRetry time.Time
}

// Run executes one run of the named route and records it. The returned
// error is the run's failure (source error, store error, cancellation);
// failures of single records are counted in the result, not returned.
func (e *Engine) Run(ctx context.Context, name string, opts RunOptions) (Result, error) {
	r, err := e.route(name)
	if err != nil {
		return Result{}, err
	}
	if opts.Trigger == "" {
		opts.Trigger = "manual"
	}
	mode := "incremental"
	if opts.Full {
		mode = "full"
	}
	rs := &runState{
		e:          e,
		r:          r,
		opts:       opts,
		unresolved: map[int64]bool{},
		started:    e.opts.Now(),
	}
	rs.run = store.Run{Route: name, Trigger: opts.Trigger, Mode: mode, Status: store.RunRunning, StartedAt: rs.started}
	bg := context.WithoutCancel(ctx)
	if rs.run.ID, err = e.store.CreateRun(bg, rs.run); err != nil {
		return Result{}, fmt.Errorf("route %q: record run: %w", name, err)
	}
	rs.runID = rs.run.ID
	e.log.Info("run started", "route", name, "run", rs.run.ID, "mode", mode, "trigger", opts.Trigger)

	runErr := rs.execute(ctx)

	// Entries still leased by this run (cancelled mid-batch) go back to
	// the queue at once rather than waiting for the lease to expire.
	if _, err := e.store.ReleaseLeases(bg, name, time.Time{}, []string{e.opts.Owner}); err != nil && runErr == nil {
		runErr = fmt.Errorf("release leases: %w", err)
	}
	res := rs.finish(bg, runErr)
	e.log.Info("run finished", "route", name, "run", res.ID, "status", res.Status,
		"collected", res.Collected, "done", res.Done, "failed", res.Failed, "dead", res.Dead, "skipped", res.Skipped)
	return res, runErr
}

// runState is the mutable state of one run. mu guards the counters, which
// the collector and the sender update concurrently.
type runState struct {
	e    *Engine
	r    *route
	opts RunOptions

	mu           sync.Mutex
	run          store.Run
	phase        string
	lastProgress time.Time
	capped       bool
	unresolved   map[int64]bool // entries that failed in this run and were not delivered later
	started      time.Time
	runID        int64 // set once before any goroutine starts
}

func (rs *runState) execute(ctx context.Context) error {
	st, name, cfg := rs.e.store, rs.r.cfg.Name, rs.r.cfg
	if err := rs.releaseDeadLeases(ctx); err != nil {
		return err
	}
	cursorBased := sourceHasCursor(cfg)
	found, more := 0, false
	for it := 1; it <= cfg.MaxIterations; it++ {
		rs.mu.Lock()
		rs.run.Iterations = it
		rs.mu.Unlock()

		readSource := it == 1 || (cursorBased && (more || found > 0))
		var err error
		if readSource {
			found, more, err = rs.collectAndSend(ctx, it == 1 && rs.opts.Full)
		} else {
			found, more = 0, false
			err = rs.sendPass(ctx, store.LeasePending, nil)
		}
		if err != nil {
			return err
		}
		if err := rs.sendPass(ctx, store.LeaseErrors, nil); err != nil {
			return err
		}
		if more || (cursorBased && found > 0) {
			if it == cfg.MaxIterations {
				rs.capped = true
			}
			continue
		}
		// Nothing new at the source: wait for errors that fall due soon,
		// so short backoffs finish within this run.
		at, ok, err := st.NextDue(ctx, name)
		if err != nil {
			return fmt.Errorf("route %q: next retry: %w", name, err)
		}
		wait := at.Sub(rs.e.opts.Now())
		if !ok || rs.e.opts.RetryWait < 0 || wait > rs.e.opts.RetryWait {
			return nil
		}
		if it == cfg.MaxIterations {
			rs.capped = true
			return nil
		}
		rs.setPhase("waiting")
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
	return nil
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
	return nil
}

// collectAndSend reads the source while a sender works through what is
// already queued, so the HTTP source, the SQLite writer and the
// destination overlap. It returns how many records were read and whether
// the source has more than this iteration's collect limit.
func (rs *runState) collectAndSend(ctx context.Context, full bool) (found int, more bool, err error) {
	c, err := rs.e.store.Counts(ctx, rs.r.cfg.Name)
	if err != nil {
		return 0, false, fmt.Errorf("route %q: count queue: %w", rs.r.cfg.Name, err)
	}
	q := &feed{notify: make(chan struct{}, 1), done: make(chan struct{}), available: c.Pending}
	var collectErr error
	go func() {
		defer close(q.done)
		found, more, collectErr = rs.collect(ctx, full, q)
	}()
	sendErr := rs.sendPass(ctx, store.LeasePending, q)
	<-q.done // on a send error the collector ends with the cancelled run or its source
	if sendErr != nil {
		return found, more, sendErr
	}
	return found, more, collectErr
}

// feed connects the collector to the sender of one iteration. available
// estimates the pending entries not yet leased, so the sender waits for a
// full batch while the collector is still queuing pages.
type feed struct {
	notify chan struct{}
	done   chan struct{}

	mu        sync.Mutex
	available int
}

func (f *feed) add(n int) {
	f.mu.Lock()
	f.available += n
	f.mu.Unlock()
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

func (f *feed) take(n int) {
	f.mu.Lock()
	f.available = max(f.available-n, 0)
	f.mu.Unlock()
}

func (f *feed) enough(batch int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.available >= batch
}

func (rs *runState) collect(ctx context.Context, full bool, q *feed) (found int, more bool, err error) {
	st, cfg := rs.e.store, rs.r.cfg
	rs.setPhase("collecting")
	stored, err := st.Cursor(ctx, cfg.Name)
	if err != nil {
		return 0, false, fmt.Errorf("route %q: read cursor: %w", cfg.Name, err)
	}
	req := connector.ReadRequest{Cursor: stored, Full: full}
	if full {
		req.Cursor = ""
	}
	cursorBased := sourceHasCursor(cfg)
	limit := 0
	if cursorBased {
		limit = cfg.CollectLimit
	}
	maxCursor := stored
	err = rs.r.source.Read(ctx, req, func(ctx context.Context, page connector.Page) error {
		entries := make([]store.NewEntry, len(page.Records))
		for i, rec := range page.Records {
			payload, err := json.Marshal(rec.Data)
			if err != nil {
				return fmt.Errorf("page %d: record %q: encode: %w", page.Number, rec.Key, err)
			}
			entries[i] = store.NewEntry{Key: rec.Key, Payload: payload, Priority: cfg.Priority}
			if rec.Cursor != "" && cursorLess(maxCursor, rec.Cursor) {
				maxCursor = rec.Cursor
			}
		}
		var cur *string
		if cursorBased && maxCursor != stored {
			c := maxCursor
			cur = &c
		}
		res, err := st.EnqueuePage(ctx, cfg.Name, entries, cur, rs.e.opts.Now())
		if err != nil {
			return fmt.Errorf("page %d: queue %d records: %w", page.Number, len(entries), err)
		}
		stored = maxCursor
		found += len(entries)
		rs.count(func(r *store.Run) { r.Collected += len(entries) })
		q.add(res.Inserted + res.Replaced)
		if limit > 0 && found >= limit {
			more = true
			return connector.ErrStop
		}
		return nil
	})
	if errors.Is(err, connector.ErrStop) {
		err = nil
	}
	if err != nil {
		return found, more, fmt.Errorf("route %q: collect: %w", cfg.Name, err)
	}
	return found, more, nil
}

// sendPass leases and processes batches until none is left. In the main
// pass, q (when non-nil) keeps it waiting for pages the collector is still
// queuing, so batches stay full.
func (rs *runState) sendPass(ctx context.Context, mode store.LeaseMode, q *feed) error {
	st, cfg := rs.e.store, rs.r.cfg
	limit, phase := cfg.Batch, "sending"
	if mode == store.LeaseErrors {
		limit, phase = cfg.ErrorBatch, "retrying"
	}
	collecting := q != nil
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if collecting && !q.enough(limit) {
			select {
			case <-q.done:
				collecting = false
			case <-q.notify:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		now := rs.e.opts.Now()
		entries, err := st.Lease(ctx, store.LeaseRequest{
			Route: cfg.Name, Owner: rs.e.opts.Owner, Limit: limit, Mode: mode,
			Now: now, Until: now.Add(rs.e.opts.LeaseFor),
		})
		if err != nil {
			return fmt.Errorf("route %q: lease: %w", cfg.Name, err)
		}
		if q != nil {
			q.take(len(entries))
		}
		if len(entries) == 0 {
			if !collecting {
				return nil
			}
			// The estimate was high (coalesced records): wait for more.
			q.take(limit)
			continue
		}
		rs.setPhase(phase)
		pause, err := rs.process(ctx, entries)
		if err != nil {
			return err
		}
		if pause > 0 {
			// The destination asked us to slow down (Retry-After on a whole
			// batch): back-pressure instead of hammering it.
			if err := sleep(ctx, min(pause, 30*time.Second)); err != nil {
				return err
			}
		}
	}
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
	if rs.opts.Progress == nil {
		return
	}
	rs.mu.Lock()
	now := time.Now()
	if !force && now.Sub(rs.lastProgress) < 100*time.Millisecond {
		rs.mu.Unlock()
		return
	}
	rs.lastProgress = now
	p := rs.snapshot(now)
	// Called under mu so snapshots reach the callback in order, one at a time.
	rs.opts.Progress(p)
	rs.mu.Unlock()
}

func (rs *runState) snapshot(now time.Time) Progress {
	r := rs.run
	return Progress{
		Route: r.Route, RunID: r.ID, Phase: rs.phase,
		Iteration: r.Iterations, MaxIterations: rs.r.cfg.MaxIterations,
		Collected: r.Collected, Sent: r.Sent, Done: r.Done, Failed: r.Failed, Dead: r.Dead, Skipped: r.Skipped,
		Elapsed: now.Sub(rs.started),
	}
}

// finish records the run's outcome.
func (rs *runState) finish(ctx context.Context, runErr error) Result {
	st := rs.e.store
	rs.mu.Lock()
	run := rs.run
	unresolved := len(rs.unresolved)
	rs.phase = "finished"
	rs.mu.Unlock()
	run.EndedAt = rs.e.opts.Now()
	switch {
	case errors.Is(runErr, context.Canceled) || errors.Is(runErr, context.DeadlineExceeded):
		run.Status = store.RunCancelled
		run.Error = "cancelled"
	case runErr != nil:
		run.Status = store.RunFailed
		run.Error = runErr.Error()
	case run.Dead > 0 || unresolved > 0:
		run.Status = store.RunPartiallyFailed
		if run.Done == 0 {
			run.Status = store.RunFailed
			run.Error = "no record was delivered"
		}
	default:
		run.Status = store.RunSucceeded
	}
	if rs.capped && run.Error == "" {
		run.Error = fmt.Sprintf("stopped after max_iterations (%d); the rest waits for the next run", rs.r.cfg.MaxIterations)
	}
	if err := st.UpdateRun(ctx, run); err != nil {
		rs.e.log.Error("record run outcome", "route", run.Route, "run", run.ID, "err", err)
	}
	res := Result{Run: run, Capped: rs.capped}
	res.Queue, _ = st.Counts(ctx, run.Route)
	if at, ok, err := st.NextDue(ctx, run.Route); err == nil && ok {
		res.NextRetry = at
	}
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
