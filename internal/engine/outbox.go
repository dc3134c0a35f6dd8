package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/jsonx"
	"github.com/ferry-dev/ferry/internal/store"
)

// The final operations of a record (after: for a delivered one, on_error:
// for a new dead letter) are owed from the moment its settlement commits:
// the settlement stores them in the outbox in the same transaction, and
// the run performs them afterwards. A crash between the two loses nothing;
// the next run (or this run's next pass) performs what is owed.
//
// One outbox item holds all operations of one kind for one record, run in
// order and stopped at the first failure: after[1] never runs before
// after[0] succeeded. A retry resumes at the operation that failed (its
// index is in the item's last error); each operation has its own
// idempotency key, stable across retries, derived from the item's key.
const (
	opAfter   = "after"
	opOnError = "on_error"
)

// opConcurrency bounds the outbox items performed at once.
const opConcurrency = 4

// outboxItem is the item owed for one settled record: its after: (kind
// opAfter) or on_error: operations (opOnError, with the error).
func (rs *runState) outboxItem(w *work, kind, reason string) store.OutboxItem {
	// Stored: without the secret values a map: template put in the body
	// (the operations see REDACTED there; they take secrets from
	// ${env:} themselves).
	red := rs.e.cfg.Redactor()
	rec, err := jsonx.Marshal(red.Value(w.delivery.Record))
	if err != nil {
		// The record could not be encoded (that may be why it died):
		// the operations see it as it was read.
		rec = red.Bytes(w.entry.Payload)
	}
	reason = red.String(reason)
	vars := map[string]any{"idempotency_key": w.delivery.IdempotencyKey}
	if kind == opOnError {
		vars["error"] = reason
	}
	vb, _ := json.Marshal(vars)
	return store.OutboxItem{
		Route: rs.r.cfg.Name, EntryID: w.entry.ID, Key: w.entry.Key, Version: w.entry.Version,
		Op: kind, Record: rec, Vars: vb,
		IdempotencyKey: derivedKey(w.delivery.IdempotencyKey, kind),
	}
}

// derivedKey derives a stable key for one part (an operation kind, an
// operation's index) from a parent idempotency key.
func derivedKey(parent, part string) string {
	h := sha256.Sum256([]byte(parent + "\x00" + part))
	return hex.EncodeToString(h[:16])
}

// hasOperations reports whether the route has after: or on_error:
// operations, the only ones a settlement puts in the outbox.
func (r *route) hasOperations() bool { return len(r.after) > 0 || len(r.onError) > 0 }

// outboxPass performs the route's due outbox items until none is left
// (items waiting for their backoff stay for a later pass or run).
func (rs *runState) outboxPass(ctx context.Context) error {
	st, name, owner := rs.e.store, rs.r.cfg.Name, rs.e.opts.Owner
	settledDone := map[int64]bool{}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := rs.e.opts.Now()
		items, err := st.LeaseOutbox(ctx, name, owner, rs.r.cfg.Batch, now, now.Add(rs.e.opts.LeaseFor))
		if err != nil {
			return fmt.Errorf("route %q: lease operations: %w", name, err)
		}
		if len(items) == 0 {
			rs.noteOperationsElsewhere(now)
			return nil
		}
		for _, it := range items {
			if settledDone[it.ID] {
				return fmt.Errorf("route %q: the store leased operation %d again after it was settled done", name, it.ID)
			}
		}
		rs.setPhase("operations")
		out := make([]*store.OutboxSettlement, len(items))
		sem := make(chan struct{}, opConcurrency)
		var wg sync.WaitGroup
		for i := range items {
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer func() { <-sem; wg.Done() }()
				out[i] = rs.perform(ctx, items[i])
			}()
		}
		wg.Wait()
		ss := make([]store.OutboxSettlement, 0, len(out))
		for _, s := range out {
			if s != nil {
				ss = append(ss, *s)
				if s.Outcome == store.OutcomeDone {
					settledDone[s.ID] = true
				}
			}
		}
		if len(ss) > 0 {
			// Settled even when cancelled: what was performed must not be
			// performed again.
			if err := st.SettleOutbox(context.WithoutCancel(ctx), owner, ss); err != nil {
				return fmt.Errorf("route %q: settle %d operations: %w", name, len(ss), err)
			}
			rs.tallyOps(ss)
		}
		if len(ss) < len(items) {
			// Cut short by the cancellation: the rest is released when
			// the run ends, without spending an attempt.
			return ctx.Err()
		}
	}
}

// perform runs the operations of one outbox item in order, from where its
// last try failed. It returns nil when the cancellation cut an operation
// short (the item goes back unsettled).
func (rs *runState) perform(ctx context.Context, it store.OutboxItem) *store.OutboxSettlement {
	now := rs.e.opts.Now()
	var ops []connector.Operation
	switch it.Op {
	case opAfter:
		ops = rs.r.after
	case opOnError:
		ops = rs.r.onError
	default:
		return rs.opSettlement(it, now, it.Op, store.OutcomeDead,
			connector.Result{Error: fmt.Sprintf("unknown operation %q", it.Op)}, "")
	}
	start := resumeAt(it)
	if start >= len(ops) {
		// The route's config no longer has these operations.
		return rs.opSettlement(it, now, it.Op, store.OutcomeDone,
			connector.Result{Error: fmt.Sprintf("route %q has no %s[%d] operation any more: nothing to do", rs.r.cfg.Name, it.Op, start)}, "")
	}
	rec, err := jsonx.DecodeObject(it.Record)
	if err != nil {
		return rs.opSettlement(it, now, it.Op, store.OutcomeDead,
			connector.Result{Error: fmt.Sprintf("stored record is not a JSON object: %v", err)}, "")
	}
	var stored map[string]any
	if len(it.Vars) > 0 {
		if err := json.Unmarshal(it.Vars, &stored); err != nil {
			return rs.opSettlement(it, now, it.Op, store.OutcomeDead,
				connector.Result{Error: fmt.Sprintf("stored variables are not a JSON object: %v", err)}, "")
		}
	}
	vars := map[string]any{
		"key":   it.Key,
		"entry": &EntryInfo{ID: it.EntryID, Key: it.Key, Version: it.Version},
	}
	var opVars map[string]any
	for k, v := range stored {
		if k == "idempotency_key" {
			vars[k] = v // the delivery's key, as the destination saw it
			continue
		}
		if opVars == nil {
			opVars = map[string]any{}
		}
		opVars[k] = v // error, for on_error
	}
	var last connector.Result
	for i := start; i < len(ops); i++ {
		key := derivedKey(it.IdempotencyKey, strconv.Itoa(i))
		d := connector.Delivery{EntryID: it.EntryID, Key: it.Key, IdempotencyKey: key, Record: rec, Vars: vars}
		res := ops[i].Do(ctx, d, opVars)
		name := fmt.Sprintf("%s[%d]", it.Op, i)
		if !res.OK && !res.Skipped {
			if ctx.Err() != nil {
				return nil
			}
			return rs.opFailure(it, now, name, i, res, key)
		}
		last = res
	}
	name := fmt.Sprintf("%s[%d]", it.Op, len(ops)-1)
	if len(ops)-start > 1 {
		name = fmt.Sprintf("%s[%d..%d]", it.Op, start, len(ops)-1)
	}
	return rs.opSettlement(it, now, name, store.OutcomeDone, last, derivedKey(it.IdempotencyKey, strconv.Itoa(len(ops)-1)))
}

// opFailure settles a failed operation as a retry with the route's
// backoff, or dead when retrying cannot help or the attempts are spent.
func (rs *runState) opFailure(it store.OutboxItem, now time.Time, name string, index int, res connector.Result, key string) *store.OutboxSettlement {
	policy := rs.r.cfg.Retry
	attempts := it.Attempts + 1
	res = rs.clean(res) // logged below
	res.Error = fmt.Sprintf("%s[%d] failed: %s", it.Op, index, res.Error)
	if !res.Retryable || attempts >= policy.Attempts {
		if res.Retryable {
			res.Error = fmt.Sprintf("%s (gave up after %d attempts)", res.Error, attempts)
		}
		rs.e.log.Error("operation failed for good", "route", rs.r.cfg.Name, "key", it.Key, "op", name, "err", res.Error)
		return rs.opSettlement(it, now, name, store.OutcomeDead, res, key)
	}
	s := rs.opSettlement(it, now, name, store.OutcomeRetry, res, key)
	s.NextAttemptAt = rs.e.opts.Now().Add(max(Backoff(policy, attempts), res.RetryAfter))
	return s
}

// nextOperation is when the earliest operation this run left waiting for
// a retry falls due; ok is false when none is waiting.
func (rs *runState) nextOperation() (at time.Time, ok bool) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for id, t := range rs.opsUnresolved {
		if !rs.opsElsewhere[id] && (!ok || t.Before(at)) {
			at, ok = t, true
		}
	}
	return at, ok
}

// noteOperationsElsewhere marks the operations waiting for a retry that
// were due at now, yet not leased by a pass that found nothing more:
// another worker has them, and waiting for them would only spin.
func (rs *runState) noteOperationsElsewhere(now time.Time) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for id, t := range rs.opsUnresolved {
		if !t.After(now) {
			rs.opsElsewhere[id] = true
		}
	}
}

func (rs *runState) opSettlement(it store.OutboxItem, now time.Time, name string, outcome store.Outcome, res connector.Result, key string) *store.OutboxSettlement {
	res = rs.clean(res)
	if outcome == store.OutcomeDone {
		res.Request = ""
		if len(res.Response) > doneExcerptLimit {
			res.Response = res.Response[:doneExcerptLimit] + "…"
		}
	}
	s := &store.OutboxSettlement{ID: it.ID, Outcome: outcome, Attempt: store.Attempt{
		EntryID: it.EntryID, Route: it.Route, Key: it.Key, Version: it.Version, RunID: rs.runID,
		At: now, Outcome: outcome, StatusCode: res.StatusCode, Error: res.Error,
		Request: excerpt(res.Request), Response: excerpt(res.Response),
		DurationMillis: res.Duration.Milliseconds(), IdempotencyKey: key, Op: name,
	}}
	if outcome != store.OutcomeDone {
		s.Error = res.Error
	}
	return s
}

// resumeAt is the index of the operation an item's last try failed at
// (the ones before it succeeded then); 0 for a first try.
func resumeAt(it store.OutboxItem) int {
	rest, ok := strings.CutPrefix(it.LastError, it.Op+"[")
	if !ok || it.Attempts == 0 {
		return 0
	}
	n, rest, ok := strings.Cut(rest, "]")
	if !ok || !strings.HasPrefix(rest, " failed: ") {
		return 0
	}
	i, err := strconv.Atoi(n)
	if err != nil || i < 0 {
		return 0
	}
	return i
}

// tallyOps adds settled operations to the run's counters.
func (rs *runState) tallyOps(ss []store.OutboxSettlement) {
	rs.count(func(*store.Run) {
		for _, s := range ss {
			switch s.Outcome {
			case store.OutcomeDone:
				rs.ops.Done++
				delete(rs.opsUnresolved, s.ID)
				delete(rs.opsElsewhere, s.ID)
			case store.OutcomeRetry:
				rs.ops.Failed++
				rs.opsUnresolved[s.ID] = s.NextAttemptAt
				delete(rs.opsElsewhere, s.ID)
			case store.OutcomeDead:
				rs.ops.Failed++
				rs.ops.Dead++
				delete(rs.opsUnresolved, s.ID)
				delete(rs.opsElsewhere, s.ID)
			}
		}
	})
}

// releaseDeadOutbox returns to the outbox the items leased by workers of
// this host that died, and those whose lease expired.
func (rs *runState) releaseDeadOutbox(ctx context.Context, dead []string) error {
	st, name := rs.e.store, rs.r.cfg.Name
	items, err := st.Outbox(ctx, name, outboxScan)
	if err != nil {
		return fmt.Errorf("route %q: list operations: %w", name, err)
	}
	seen := map[string]bool{}
	for _, o := range dead {
		seen[o] = true
	}
	for _, it := range items {
		if o := it.LeaseOwner; o != "" && !seen[o] {
			seen[o] = true
			if ownerDead(o) {
				dead = append(dead, o)
			}
		}
	}
	n, err := st.ReleaseOutbox(ctx, name, rs.e.opts.Now(), dead)
	if err != nil {
		return fmt.Errorf("route %q: release operations: %w", name, err)
	}
	if n > 0 {
		rs.e.log.Warn("released operations of dead or expired workers", "route", name, "operations", n)
	}
	return nil
}

// outboxScan bounds the outbox items looked at for leases of dead workers
// at the start of a run (runs of dead workers release theirs when they
// are closed as abandoned).
const outboxScan = 1000
