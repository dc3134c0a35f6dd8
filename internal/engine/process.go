package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/jsonx"
	"github.com/ferry-dev/ferry/internal/store"
)

// excerptLimit bounds the request/response text kept per attempt.
const excerptLimit = 1024

// doneExcerptLimit bounds the response excerpt kept for a delivered record.
const doneExcerptLimit = 256

// work is one leased entry on its way through the steps.
type work struct {
	entry    store.Entry
	vars     map[string]any
	delivery connector.Delivery
}

// settled is a delivered batch's outcome, ready to be committed.
type settled struct {
	settlements []store.Settlement
	// sent tells, by entry ID, where a sent entry went and (for routes
	// whose webhook callers wait for the answer) the destination's whole
	// answer, longer than the attempt's excerpt.
	sent map[int64]sentInfo
}

// sentInfo is what the events of a sent entry carry beyond its attempt.
type sentInfo struct {
	dest     string
	response string
}

// process sends one leased batch and settles every entry on its own. It
// returns how long to pause when the destination asked to slow down.
func (rs *runState) process(ctx context.Context, batch []handed) (time.Duration, error) {
	s, pause, err := rs.deliver(ctx, batch)
	if err != nil {
		return 0, err
	}
	return pause, rs.commit(ctx, s)
}

// sendGroup is the part of a batch that goes to one destination in one
// Send: entries of an earlier request whose outcome was unknown (one
// Entry.Batch tag) are sent as that same group again.
type sendGroup struct {
	dest  string
	batch string
	works []*work
}

// deliver passes a batch through the steps, sends it and reads every
// record's result, without touching the store.
func (rs *runState) deliver(ctx context.Context, batch []handed) (settled, time.Duration, error) {
	r := rs.r
	var pause time.Duration
	var err error
	settlements := make([]store.Settlement, 0, len(batch))
	groups := map[[2]string]*sendGroup{}
	var sent map[int64]sentInfo
	if rs.e.opts.Events != nil {
		sent = make(map[int64]sentInfo, len(batch))
	}
	now := rs.e.opts.Now()
	// fail settles a record that failed before or during delivery; a new
	// dead letter carries its on_error operations.
	fail := func(w *work, res connector.Result, counted bool) {
		settlements = append(settlements, rs.failure(w, now, res, counted))
	}
	// Two versions of one record in a batch (it changed while the source
	// was being read): only the newest is sent, or they could arrive in
	// either order and leave the old data at the destination.
	newest := newestVersions(batch)
	// Keys deleted at the source after they were captured are pruned, not
	// sent (sources that can tell: connector.KeyChecker).
	missing, checkErr := rs.missing(ctx, batch, newest)
	for _, h := range batch {
		en, rec := h.entry, h.record
		if v := newest[en.Key]; v != versionOf(en) {
			settlements = append(settlements, store.Settlement{
				EntryID: en.ID, Outcome: store.OutcomeSkipped,
				Attempt: rs.attempt(&work{entry: en}, now, store.OutcomeSkipped, connector.Result{Error: fmt.Sprintf("superseded by a newer version (entry %d, version %d)", v.id, v.version)}),
			})
			continue
		}
		idem := IdempotencyKey(rs.e.storeID, r.cfg.Name, en)
		vars := deliveryVars(en, idem)
		// One work per record; until delivery its Record is the record as
		// read, which on_error sees when the record fails before delivery.
		w := &work{entry: en, vars: vars, delivery: connector.Delivery{
			EntryID: en.ID, Key: en.Key, IdempotencyKey: idem, Record: rec, Vars: vars,
		}}
		if rec == nil {
			var err error
			if rec, err = jsonx.DecodeObject(en.Payload); err != nil {
				fail(w, connector.Result{Error: fmt.Sprintf("payload is not a JSON object: %v", err)}, false)
				continue
			}
			w.delivery.Record = rec
		}
		switch {
		case en.Deleted && r.cfg.Deletes != config.DeletesSend:
			// Queued while the route sent deletes; it no longer does.
			settlements = append(settlements, rs.prune(w, now, "a delete, and the route ignores deletes (deletes: ignore)"))
			continue
		case en.Deleted:
			// A delete goes to the default destination as it is: steps
			// shape records, and a delete carries only its key.
			w.delivery.Deleted = true
			gk := [2]string{"default", en.Batch}
			if groups[gk] == nil {
				groups[gk] = &sendGroup{dest: "default", batch: en.Batch}
			}
			groups[gk].works = append(groups[gk].works, w)
			continue
		case checkErr != nil:
			fail(w, connector.Result{Retryable: true, Error: fmt.Sprintf("check that the key still exists at the source: %v", checkErr)}, true)
			continue
		case missing[en.Key]:
			settlements = append(settlements, rs.prune(w, now, "pruned: the key no longer exists at the source (deleted after it was read)"))
			continue
		}
		out := r.steps.Apply(rec, vars)
		switch {
		case out.Skipped:
			settlements = append(settlements, store.Settlement{
				EntryID: en.ID, Outcome: store.OutcomeSkipped,
				Attempt: rs.attempt(w, now, store.OutcomeSkipped, connector.Result{Error: out.SkipReason}),
			})
			continue
		case out.Err != nil:
			// Steps are deterministic: the same payload fails the same way,
			// so retrying cannot help. The record waits in the error
			// history for a fix (of the data, then a new version arrives,
			// or of the route, then ferry retry --dead).
			fail(w, connector.Result{Error: out.Err.Error()}, true)
			continue
		}
		destName := out.Destination
		if destName == "" {
			destName = "default"
		}
		d, ok := r.destinations[destName]
		if !ok {
			fail(w, connector.Result{Error: fmt.Sprintf("no destination %q in route %q", destName, r.cfg.Name)}, true)
			continue
		}
		body := out.Record
		if d.body != nil {
			if body, err = d.body.Apply(mergeEnv(out.Record, vars)); err != nil {
				fail(w, connector.Result{Error: fmt.Sprintf("destination %q: map: %v", destName, err)}, true)
				continue
			}
		}
		w.delivery.Record = body
		gk := [2]string{destName, en.Batch}
		g := groups[gk]
		if g == nil {
			g = &sendGroup{dest: destName, batch: en.Batch}
			groups[gk] = g
		}
		g.works = append(g.works, w)
	}

	ordered := make([]*sendGroup, 0, len(groups))
	for _, g := range groups {
		ordered = append(ordered, g)
	}
	// Groups of an earlier unknown outcome first, in a stable order.
	sort.Slice(ordered, func(i, j int) bool {
		a, b := ordered[i], ordered[j]
		if (a.batch != "") != (b.batch != "") {
			return a.batch != ""
		}
		if a.dest != b.dest {
			return a.dest < b.dest
		}
		return a.batch < b.batch
	})
	for _, g := range ordered {
		d := r.destinations[g.dest]
		works := g.works
		deliveries := make([]connector.Delivery, len(works))
		for i, w := range works {
			deliveries[i] = w.delivery
		}
		results, sendErr := d.conn.Send(ctx, deliveries)
		if len(results) != len(works) {
			if sendErr != nil {
				break // cancelled before any answer: the entries stay leased and are released
			}
			return settled{}, 0, fmt.Errorf("route %q: destination %q answered %d results for %d records", r.cfg.Name, g.dest, len(results), len(works))
		}
		// A batch request whose outcome is unknown (it may have been
		// applied) is retried as the same batch: one tag, one due time.
		var shared *batchRetry
		if sendErr == nil && d.array() && allUnknown(results) {
			shared = rs.newBatchRetry(works, results)
		}
		allRetryAfter := time.Duration(0)
		for i, w := range works {
			res := results[i]
			if sent != nil {
				info := sentInfo{dest: g.dest}
				if r.answersCaller() {
					info.response = rs.e.cfg.Redactor().String(truncate(res.Response, callerAnswerLimit))
				}
				sent[w.entry.ID] = info
			}
			switch {
			case sendErr != nil && !res.OK && !res.Skipped:
				// Cancelled mid-send: settle what was delivered; the rest
				// stays leased and is released when the run ends.
				continue
			case res.OK:
				settlements = append(settlements, rs.delivered(w, now, res))
				continue
			case res.Skipped:
				// An answer rule said the destination needs nothing more
				// for this record (e.g. it exists already).
				settlements = append(settlements, store.Settlement{
					EntryID: w.entry.ID, Outcome: store.OutcomeSkipped, CountAttempt: true,
					Attempt: rs.attempt(w, now, store.OutcomeSkipped, res),
				})
				continue
			}
			s := rs.failure(w, now, res, true)
			if shared != nil && s.Outcome == store.OutcomeRetry {
				s.Batch, s.NextAttemptAt = shared.tag, shared.at
			}
			settlements = append(settlements, s)
			if res.RetryAfter > allRetryAfter {
				allRetryAfter = res.RetryAfter
			}
		}
		if allRetryAfter > pause && allFailed(results) {
			pause = allRetryAfter
		}
		if sendErr != nil {
			break
		}
	}
	return settled{settlements: settlements, sent: sent}, pause, nil
}

// missing asks the source, when it can tell (connector.KeyChecker),
// which keys of the batch no longer exist. Deletes and superseded
// versions are not asked about.
func (rs *runState) missing(ctx context.Context, batch []handed, newest map[string]entryVersion) (map[string]bool, error) {
	kc, ok := rs.r.source.(connector.KeyChecker)
	if !ok || !kc.Prunes() {
		return nil, nil
	}
	var keys []string
	for _, h := range batch {
		if versionOf(h.entry) == newest[h.entry.Key] && !h.entry.Deleted {
			keys = append(keys, h.entry.Key)
		}
	}
	if len(keys) == 0 {
		return nil, nil
	}
	exist, err := kc.Existing(ctx, keys)
	if err != nil {
		return nil, err
	}
	missing := map[string]bool{}
	for _, k := range keys {
		if !exist[k] {
			missing[k] = true
		}
	}
	return missing, nil
}

// prune settles a record that is not sent because it no longer exists
// (or is a delete the route ignores): skipped, with the reason, counted
// as pruned.
func (rs *runState) prune(w *work, now time.Time, why string) store.Settlement {
	rs.count(func(r *store.Run) { r.Pruned++ })
	return store.Settlement{
		EntryID: w.entry.ID, Outcome: store.OutcomeSkipped,
		Attempt: rs.attempt(w, now, store.OutcomeSkipped, connector.Result{Error: why}),
	}
}

// delivered settles a delivered record: it leaves the queue, its content
// hash becomes the key's last delivered content, and its after:
// operations are owed (stored with the settlement, run afterwards).
func (rs *runState) delivered(w *work, now time.Time, res connector.Result) store.Settlement {
	s := store.Settlement{
		EntryID: w.entry.ID, Outcome: store.OutcomeDone, CountAttempt: true,
		Attempt: rs.attempt(w, now, store.OutcomeDone, res),
		Hash:    rs.r.entryHash(w.entry),
	}
	if len(rs.r.after) > 0 {
		s.Outbox = []store.OutboxItem{rs.outboxItem(w, opAfter, "")}
	}
	return s
}

// batchRetry is the shared retry of one request with an unknown outcome.
type batchRetry struct {
	tag string
	at  time.Time
}

// newBatchRetry gives the records of one failed request one tag (stable
// for the same entry versions) and one due time: per-record jitter would
// let the error pass lease them apart and re-compose the batch under a
// new batch key.
func (rs *runState) newBatchRetry(works []*work, results []connector.Result) *batchRetry {
	h := sha256.New()
	attempts := 0
	var retryAfter time.Duration
	for i, w := range works {
		h.Write([]byte(w.delivery.IdempotencyKey))
		h.Write([]byte{0})
		attempts = max(attempts, w.entry.Attempts+1)
		retryAfter = max(retryAfter, results[i].RetryAfter)
	}
	delay := max(Backoff(rs.r.cfg.Retry, attempts), retryAfter)
	return &batchRetry{tag: hex.EncodeToString(h.Sum(nil)[:16]), at: rs.e.opts.Now().Add(delay)}
}

// commit settles a delivered batch in one transaction (with the
// operations owed for it) and counts it. It settles even when ctx was
// cancelled: what was delivered must not be delivered again.
func (rs *runState) commit(ctx context.Context, s settled) error {
	if len(s.settlements) == 0 {
		return nil
	}
	if err := rs.e.store.Settle(context.WithoutCancel(ctx), rs.e.opts.Owner, s.settlements); err != nil {
		return fmt.Errorf("route %q: settle %d entries: %w", rs.r.cfg.Name, len(s.settlements), err)
	}
	rs.tally(s.settlements)
	rs.live.release(s.settlements)
	rs.publishSettled(s)
	return nil
}

// committer commits settled batches in the background, so the store
// writes while the next batches are being delivered. Batches that arrive
// while a commit is running wait (at most committerQueue of them; then
// submit waits too) and are committed together in the next transaction:
// when the store is the slower side, its transactions grow instead of the
// sender standing still.
type committer struct {
	rs    *runState
	queue chan settled
	done  chan struct{}
	// failed is closed when a commit failed; err (set before) is why.
	// Batches queued behind it are not settled: they stay leased and are
	// released at the end of the run, and a newer version of a key is
	// not settled while an older one goes back to the queue.
	failed chan struct{}
	err    error
}

// committerQueue bounds the delivered batches waiting for their commit.
const committerQueue = 2

func newCommitter(ctx context.Context, rs *runState) *committer {
	c := &committer{rs: rs, queue: make(chan settled, committerQueue), done: make(chan struct{}), failed: make(chan struct{})}
	go c.loop(ctx)
	return c
}

func (c *committer) loop(ctx context.Context) {
	defer close(c.done)
	for s := range c.queue {
	more:
		for {
			select {
			case next, ok := <-c.queue:
				if !ok {
					break more
				}
				s = mergeSettled(s, next)
			default:
				break more
			}
		}
		if c.failure() != nil {
			continue
		}
		if err := c.rs.commit(ctx, s); err != nil {
			c.err = err
			close(c.failed)
		}
	}
}

// failure returns the error of a failed commit, nil while none failed.
func (c *committer) failure() error {
	select {
	case <-c.failed:
		return c.err
	default:
		return nil
	}
}

// submit queues s for commit; it waits only while committerQueue batches
// are waiting already, and returns at once when a commit failed.
func (c *committer) submit(s settled) error {
	if err := c.failure(); err != nil {
		return err
	}
	select {
	case c.queue <- s:
		return nil
	case <-c.failed:
		return c.err
	}
}

// wait commits what is queued and returns the first error.
func (c *committer) wait() error {
	close(c.queue)
	<-c.done
	return c.failure()
}

// mergeSettled returns a's settlements followed by b's, in order.
func mergeSettled(a, b settled) settled {
	m := settled{settlements: slices.Concat(a.settlements, b.settlements)}
	if len(a.sent)+len(b.sent) > 0 {
		m.sent = make(map[int64]sentInfo, len(a.sent)+len(b.sent))
		maps.Copy(m.sent, a.sent)
		maps.Copy(m.sent, b.sent)
	}
	return m
}

// failure settles a failed entry as retry or dead letter. counted says
// whether a delivery attempt was made (a broken payload counts too: it
// must not be retried forever).
func (rs *runState) failure(w *work, now time.Time, res connector.Result, counted bool) store.Settlement {
	res = rs.clean(res) // the error goes to the dead letter and to on_error
	en := w.entry
	policy := rs.r.cfg.Retry
	attempts := en.Attempts + 1
	s := store.Settlement{EntryID: en.ID, Error: res.Error, CountAttempt: counted}
	if !res.Retryable || attempts >= policy.Attempts {
		s.Outcome = store.OutcomeDead
		if res.Retryable {
			s.Error = fmt.Sprintf("%s (gave up after %d attempts)", res.Error, attempts)
		}
	} else {
		s.Outcome = store.OutcomeRetry
		delay := Backoff(policy, attempts)
		if res.RetryAfter > delay {
			delay = res.RetryAfter
		}
		// From when the failure was known, not when the batch started: a
		// timeout that took longer than the backoff must not be retried at
		// once.
		s.NextAttemptAt = rs.e.opts.Now().Add(delay)
	}
	s.Attempt = rs.attempt(w, now, s.Outcome, res)
	s.Attempt.Error = s.Error
	if s.Outcome == store.OutcomeDead && len(rs.r.onError) > 0 {
		s.Outbox = []store.OutboxItem{rs.outboxItem(w, opOnError, s.Error)}
	}
	return s
}

func (rs *runState) attempt(w *work, now time.Time, outcome store.Outcome, res connector.Result) store.Attempt {
	res = rs.clean(res) // before excerpts cut a secret in two
	en := w.entry
	if outcome == store.OutcomeDone || outcome == store.OutcomeSkipped {
		// The request of a delivered record is not kept and its response
		// is cut short: the history of a large sync would otherwise
		// double the store's writes. Failures keep both in full.
		res.Request = ""
		if len(res.Response) > doneExcerptLimit {
			res.Response = res.Response[:doneExcerptLimit] + "…"
		}
	}
	return store.Attempt{
		EntryID: en.ID, Route: en.Route, Key: en.Key, Version: en.Version, RunID: rs.runID,
		At: now, Outcome: outcome, StatusCode: res.StatusCode, Error: res.Error,
		Request: excerpt(res.Request), Response: excerpt(res.Response),
		DurationMillis: res.Duration.Milliseconds(), IdempotencyKey: w.delivery.IdempotencyKey,
	}
}

// clean removes the config's secret values (from ${env:} and ${file:})
// from a result's texts before they are stored, logged or handed to
// on_error: a route may put them in a header or body that the
// destination echoes.
func (rs *runState) clean(res connector.Result) connector.Result {
	red := rs.e.cfg.Redactor()
	res.Error, res.Request, res.Response = red.String(res.Error), red.String(res.Request), red.String(res.Response)
	return res
}

// tally adds settled outcomes to the run counters.
func (rs *runState) tally(settlements []store.Settlement) {
	rs.count(func(run *store.Run) {
		for _, s := range settlements {
			if s.CountAttempt {
				run.Sent++
			}
			switch s.Outcome {
			case store.OutcomeDone:
				run.Done++
				delete(rs.unresolved, s.EntryID)
			case store.OutcomeSkipped:
				run.Skipped++
				delete(rs.unresolved, s.EntryID)
			case store.OutcomeRetry:
				run.Failed++
				rs.unresolved[s.EntryID] = true
			case store.OutcomeDead:
				run.Failed++
				run.Dead++
				delete(rs.unresolved, s.EntryID)
			}
		}
	})
}

// Backoff is the delay before retry number attempts (1-based): backoff
// doubled per attempt with ±20% jitter, so retries of a failed batch do
// not arrive together, and never above max_backoff.
func Backoff(p config.Retry, attempts int) time.Duration {
	base := p.Backoff.D()
	if base <= 0 {
		return 0
	}
	d := base
	for i := 1; i < attempts && d < p.MaxBackoff.D(); i++ {
		d *= 2
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	if max := p.MaxBackoff.D(); max > 0 && d > max {
		d = max
	}
	return d
}

// IdempotencyKey is stable across retries of one entry version and
// different for every new version of a record. The store's identity is
// mixed in: a fresh store hands out the same entry IDs again, and its
// keys must not collide with those an earlier store sent.
func IdempotencyKey(storeID, route string, en store.Entry) string {
	h := sha256.New()
	h.Write([]byte(storeID))
	h.Write([]byte{0})
	h.Write([]byte(route))
	h.Write([]byte{0})
	h.Write([]byte(en.Key))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(en.ID, 10)))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(en.Version, 10)))
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// EntryInfo is the `entry` variable of expressions and templates: the
// queue entry a record belongs to. A struct, not a map: it is built for
// every record sent.
type EntryInfo struct {
	ID        int64  `expr:"id" json:"id"`
	Key       string `expr:"key" json:"key"`
	Version   int64  `expr:"version" json:"version"`
	Attempts  int    `expr:"attempts" json:"attempts"`
	CreatedAt string `expr:"created_at" json:"created_at"`
}

func entryVars(en store.Entry) map[string]any {
	created := ""
	if !en.CreatedAt.IsZero() {
		created = en.CreatedAt.UTC().Format(time.RFC3339)
	}
	return map[string]any{
		"key":   en.Key,
		"entry": &EntryInfo{ID: en.ID, Key: en.Key, Version: en.Version, Attempts: en.Attempts, CreatedAt: created},
	}
}

// deliveryVars are the variables of one delivery: entryVars and the
// record's own idempotency key (for batch APIs that deduplicate per
// record inside the body).
func deliveryVars(en store.Entry, idem string) map[string]any {
	vars := entryVars(en)
	vars["idempotency_key"] = idem
	return vars
}

// mergeEnv returns the record's fields with vars on top.
func mergeEnv(rec, vars map[string]any) map[string]any {
	env := make(map[string]any, len(rec)+len(vars))
	for k, v := range rec {
		env[k] = v
	}
	for k, v := range vars {
		env[k] = v
	}
	return env
}

// allUnknown reports whether every record failed without a usable
// answer (the request may have been applied).
func allUnknown(results []connector.Result) bool {
	for _, r := range results {
		if r.OK || r.Skipped || !r.Unknown {
			return false
		}
	}
	return len(results) > 0
}

func allFailed(results []connector.Result) bool {
	for _, r := range results {
		if r.OK || r.Skipped {
			return false
		}
	}
	return true
}

func excerpt(s string) string {
	if len(s) <= excerptLimit {
		return s
	}
	return s[:excerptLimit] + "…"
}

// incremental reports whether the route's source keeps a cursor, as
// the source itself declares.
func (r *route) incremental() bool {
	inc, ok := r.source.(connector.Incremental)
	return ok && inc.Incremental()
}

// cursorLess compares cursor values: integers exactly (IDs beyond 2^53
// included), other numbers as numbers, RFC 3339 timestamps as instants
// (so "...:00.5Z" is after "...:00Z" though it sorts before it as text),
// anything else as text. "" is before everything.
func cursorLess(a, b string) bool {
	if a == "" || b == "" {
		return a == "" && b != ""
	}
	if c, ok := compareIntegers(a, b); ok {
		return c < 0
	}
	if fa, err := strconv.ParseFloat(a, 64); err == nil {
		if fb, err := strconv.ParseFloat(b, 64); err == nil {
			return fa < fb
		}
	}
	if ta, err := time.Parse(time.RFC3339Nano, a); err == nil {
		if tb, err := time.Parse(time.RFC3339Nano, b); err == nil {
			return ta.Before(tb)
		}
	}
	return a < b
}

// cursorSame reports whether two cursor values are the same point.
func cursorSame(a, b string) bool { return !cursorLess(a, b) && !cursorLess(b, a) }

// compareIntegers compares two decimal integers of any length exactly;
// ok is false unless both are plain integers.
func compareIntegers(a, b string) (int, bool) {
	na, da, okA := splitInteger(a)
	nb, db, okB := splitInteger(b)
	if !okA || !okB {
		return 0, false
	}
	if na != nb {
		if na {
			return -1, true
		}
		return 1, true
	}
	c := len(da) - len(db)
	if c == 0 {
		c = strings.Compare(da, db)
	}
	if na {
		c = -c
	}
	return c, true
}

// splitInteger splits "-0042" into negative=true, digits="42".
func splitInteger(s string) (negative bool, digits string, ok bool) {
	if s != "" && (s[0] == '-' || s[0] == '+') {
		negative, s = s[0] == '-', s[1:]
	}
	if s == "" {
		return false, "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false, "", false
		}
	}
	s = strings.TrimLeft(s, "0")
	if s == "" {
		return false, "0", true // -0 is 0
	}
	return negative, s, true
}

// newestVersions gives the newest version of each key of batch. Two
// versions of one entry count too: an entry whose lease ran out and was
// replaced in the queue by a newer push, then handed to the run again,
// has one ID and two versions.
func newestVersions(batch []handed) map[string]entryVersion {
	newest := make(map[string]entryVersion, len(batch))
	for _, h := range batch {
		if v := versionOf(h.entry); newest[h.entry.Key].before(v) {
			newest[h.entry.Key] = v
		}
	}
	return newest
}

// entryVersion is one version of one entry: newer entries have higher
// IDs, and an entry replaced in the queue keeps its ID with a higher
// version.
type entryVersion struct{ id, version int64 }

func versionOf(en store.Entry) entryVersion { return entryVersion{en.ID, en.Version} }

// before reports whether v is older than w.
func (v entryVersion) before(w entryVersion) bool {
	return v.id < w.id || (v.id == w.id && v.version < w.version)
}
