package engine

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/store"
)

// live keeps a run visible and its work owned while it goes on: it
// flushes the run's counters to the store every FlushEvery (so other
// processes, the API and the dashboard see progress, and a crash loses
// at most that much of the counters) and extends the leases of the
// entries the run holds, so a slow destination never lets a lease
// expire under a batch in flight (another worker would send it too).
type live struct {
	rs   *runState
	mu   sync.Mutex
	held map[int64]int64 // entries leased to this run, not yet settled: ID -> version
	stop chan struct{}
	done chan struct{}
}

func (rs *runState) startLive(ctx context.Context) *live {
	l := &live{rs: rs, held: map[int64]int64{}, stop: make(chan struct{}), done: make(chan struct{})}
	rs.live = l
	go l.loop(context.WithoutCancel(ctx))
	return l
}

// hold records entries leased to the run.
func (l *live) hold(entries []store.Entry) {
	if l == nil {
		return
	}
	l.mu.Lock()
	for _, en := range entries {
		l.held[en.ID] = en.Version
	}
	l.mu.Unlock()
}

// holdWork records the entries of a batch leased to the run.
func (l *live) holdWork(work []handed) {
	if l == nil {
		return
	}
	l.mu.Lock()
	for i := range work {
		l.held[work[i].entry.ID] = work[i].entry.Version
	}
	l.mu.Unlock()
}

// release forgets settled entries. A settlement of an older version
// than the one held (the entry was replaced and handed to the run again)
// settled nothing: the newer version's lease is still extended.
func (l *live) release(ss []store.Settlement) {
	if l == nil {
		return
	}
	l.mu.Lock()
	for _, s := range ss {
		if v, ok := l.held[s.EntryID]; ok && (s.Attempt.Version == 0 || s.Attempt.Version >= v) {
			delete(l.held, s.EntryID)
		}
	}
	l.mu.Unlock()
}

func (l *live) heldIDs() []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]int64, 0, len(l.held))
	for id := range l.held {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// end stops flushing and extending; the run records its outcome after.
func (l *live) end() {
	close(l.stop)
	<-l.done
}

func (l *live) loop(ctx context.Context) {
	defer close(l.done)
	e := l.rs.e
	flush := time.NewTicker(e.opts.FlushEvery)
	defer flush.Stop()
	extend := time.NewTicker(max(e.opts.LeaseFor/3, time.Millisecond))
	defer extend.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-flush.C:
			l.rs.mu.Lock()
			run := l.rs.run
			l.rs.mu.Unlock()
			if err := e.store.UpdateRun(ctx, run); err != nil {
				e.log.Warn("flush run counters", "route", run.Route, "run", run.ID, "err", err)
			}
		case <-extend.C:
			// Entries handed in by pushes and not taken yet are leased
			// to the run too.
			ids := append(l.heldIDs(), l.rs.opts.Inbox.ids()...)
			if len(ids) == 0 {
				continue
			}
			if _, err := e.store.ExtendLeases(ctx, e.opts.Owner, ids, e.opts.Now().Add(e.opts.LeaseFor)); err != nil {
				e.log.Warn("extend leases", "route", l.rs.r.cfg.Name, "entries", len(ids), "err", err)
			}
		}
	}
}

// publish sends a run event carrying the run's current state.
func (rs *runState) publish(t events.Type) {
	if rs.e.opts.Events == nil {
		return
	}
	rs.mu.Lock()
	run := rs.run
	phase := rs.phase
	rs.mu.Unlock()
	rs.e.opts.Events.Publish(events.Event{Type: t, At: rs.e.opts.Now(), Route: run.Route, RunID: run.ID, Run: &run, Phase: phase, Request: rs.opts.Request})
}

// publishSettled tells listeners (metrics, webhook callers waiting for
// their delivery) how each entry of a committed batch ended.
func (rs *runState) publishSettled(s settled) {
	bus := rs.e.opts.Events
	if bus == nil {
		return
	}
	for i := range s.settlements {
		a := s.settlements[i].Attempt
		a.EntryID = s.settlements[i].EntryID
		a.Route = rs.r.cfg.Name
		info := s.sent[a.EntryID]
		if info.response != "" {
			a.Response = info.response
		}
		bus.Publish(events.Event{Type: events.EntrySettled, At: a.At, Route: a.Route, RunID: rs.runID, Attempt: &a, Destination: info.dest})
	}
}

// callerAnswerLimit bounds the destination's answer handed to a webhook
// caller that waits for it (respond: sync).
const callerAnswerLimit = 64 << 10

// answersCaller reports whether webhook callers of the route wait for
// the destination's answer.
func (r *route) answersCaller() bool {
	return r.cfg.Webhook != nil && r.cfg.Webhook.Respond == "sync"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
