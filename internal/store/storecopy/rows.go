package storecopy

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
)

// The column layout both stores share (their schemas mirror each other),
// and the conversion between a table's columns and store.Rows, so each
// store's export and import only run SQL. Values are int64, string,
// []byte and bool; times are unix milliseconds, 0 for the zero time, as
// both stores keep them.

// Columns lists the columns of table in the order of Values and Scanner.
func Columns(table string) []string {
	switch table {
	case store.TableEntries:
		return []string{"id", "route", "key", "version", "payload", "status", "priority", "attempts", "last_error",
			"next_attempt_at", "created_at", "updated_at", "lease_owner", "lease_until", "hash", "batch", "deleted"}
	case store.TableDeadLetters:
		return []string{"id", "entry_id", "route", "key", "version", "payload", "priority", "attempts", "last_error",
			"created_at", "died_at", "hash", "deleted"}
	case store.TableAttempts:
		return []string{"id", "entry_id", "route", "key", "version", "run_id", "at", "outcome", "status_code", "error",
			"request", "response", "duration_ms", "idempotency_key", "op"}
	case store.TableRuns:
		return []string{"id", "route", "trigger", "mode", "status", "started_at", "ended_at", "iterations", "collected",
			"sent", "done", "failed", "dead", "skipped", "unchanged", "pruned", "error", "owner"}
	case store.TableCursors:
		return []string{"route", "value", "updated_at"}
	case store.TableDelivered:
		return []string{"route", "key", "entry_id", "version", "hash", "payload", "delivered_at", "deleted"}
	case store.TableOutbox:
		return []string{"id", "route", "entry_id", "key", "version", "op", "record", "vars", "idempotency_key",
			"attempts", "last_error", "next_attempt_at", "created_at", "dead", "lease_owner", "lease_until"}
	case store.TableTicks:
		return []string{"route", "spec", "next", "last_fired", "skipped"}
	}
	return nil
}

// HasID tells the tables whose rows get generated IDs (a sequence).
func HasID(table string) bool {
	switch table {
	case store.TableEntries, store.TableDeadLetters, store.TableAttempts, store.TableRuns, store.TableOutbox:
		return true
	}
	return false
}

// OrderBy is the order rows of table are exported in.
func OrderBy(table string) string {
	if HasID(table) {
		return "id"
	}
	if table == store.TableDelivered {
		return "route, key"
	}
	return "route"
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// blob never returns nil: the payload columns are NOT NULL, and a nil
// []byte is sent as NULL.
func blob(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// Values returns the column values of row i of r, in Columns(r.Table())
// order.
func Values(r store.Rows, i int) []any {
	switch r.Table() {
	case store.TableEntries:
		e := r.Entries[i]
		return []any{e.ID, e.Route, e.Key, e.Version, blob(e.Payload), string(e.Status), int64(e.Priority), int64(e.Attempts),
			e.LastError, ms(e.NextAttemptAt), ms(e.CreatedAt), ms(e.UpdatedAt), e.LeaseOwner, ms(e.LeaseUntil), e.Hash, e.Batch, e.Deleted}
	case store.TableDeadLetters:
		d := r.DeadLetters[i]
		return []any{d.ID, d.EntryID, d.Route, d.Key, d.Version, blob(d.Payload), int64(d.Priority), int64(d.Attempts),
			d.LastError, ms(d.CreatedAt), ms(d.DiedAt), d.Hash, d.Deleted}
	case store.TableAttempts:
		a := r.Attempts[i]
		return []any{a.ID, a.EntryID, a.Route, a.Key, a.Version, a.RunID, ms(a.At), string(a.Outcome), int64(a.StatusCode),
			a.Error, a.Request, a.Response, a.DurationMillis, a.IdempotencyKey, a.Op}
	case store.TableRuns:
		u := r.Runs[i]
		return []any{u.ID, u.Route, u.Trigger, u.Mode, string(u.Status), ms(u.StartedAt), ms(u.EndedAt), int64(u.Iterations),
			int64(u.Collected), int64(u.Sent), int64(u.Done), int64(u.Failed), int64(u.Dead), int64(u.Skipped),
			int64(u.Unchanged), int64(u.Pruned), u.Error, u.Owner}
	case store.TableCursors:
		c := r.Cursors[i]
		return []any{c.Route, c.Value, ms(c.UpdatedAt)}
	case store.TableDelivered:
		d := r.Delivered[i]
		return []any{d.Route, d.Key, d.EntryID, d.Version, d.Hash, blob(d.Payload), ms(d.DeliveredAt), d.Deleted}
	case store.TableOutbox:
		o := r.Outbox[i]
		return []any{o.ID, o.Route, o.EntryID, o.Key, o.Version, o.Op, blob(o.Record), blob(o.Vars), o.IdempotencyKey,
			int64(o.Attempts), o.LastError, ms(o.NextAttemptAt), ms(o.CreatedAt), o.Dead, o.LeaseOwner, ms(o.LeaseUntil)}
	case store.TableTicks:
		t := r.Ticks[i]
		return []any{t.Route, t.Spec, ms(t.Next), ms(t.LastFired), t.Skipped}
	}
	return nil
}

// Scanner returns scan targets for one row of table (in Columns order)
// and add, which appends the row last scanned into them to r.
func Scanner(table string) (dest []any, add func(r *store.Rows), err error) {
	cols := Columns(table)
	if cols == nil {
		return nil, nil, fmt.Errorf("no table %q to copy", table)
	}
	// One typed cell per column, chosen by the type Values gives it.
	var (
		ints  = map[int]*int64{}
		strs  = map[int]*string{}
		blobs = map[int]*[]byte{}
		bools = map[int]*bool{}
	)
	sample := Values(sampleRows(table), 0)
	dest = make([]any, len(cols))
	for i, v := range sample {
		switch v.(type) {
		case int64:
			p := new(int64)
			ints[i], dest[i] = p, p
		case string:
			p := new(string)
			strs[i], dest[i] = p, p
		case []byte:
			p := new([]byte)
			blobs[i], dest[i] = p, p
		case bool:
			p := new(bool)
			bools[i], dest[i] = p, p
		}
	}
	I := func(i int) int64 { return *ints[i] }
	S := func(i int) string { return *strs[i] }
	// Copy the bytes: drivers may reuse their buffers between rows.
	B := func(i int) json.RawMessage { return append(json.RawMessage{}, *blobs[i]...) }
	T := func(i int) time.Time { return fromMS(*ints[i]) }
	Z := func(i int) bool { return *bools[i] }
	switch table {
	case store.TableEntries:
		add = func(r *store.Rows) {
			r.Entries = append(r.Entries, store.Entry{ID: I(0), Route: S(1), Key: S(2), Version: I(3), Payload: B(4),
				Status: store.Status(S(5)), Priority: int(I(6)), Attempts: int(I(7)), LastError: S(8), NextAttemptAt: T(9),
				CreatedAt: T(10), UpdatedAt: T(11), LeaseOwner: S(12), LeaseUntil: T(13), Hash: S(14), Batch: S(15), Deleted: Z(16)})
		}
	case store.TableDeadLetters:
		add = func(r *store.Rows) {
			r.DeadLetters = append(r.DeadLetters, store.DeadLetter{ID: I(0), EntryID: I(1), Route: S(2), Key: S(3), Version: I(4),
				Payload: B(5), Priority: int(I(6)), Attempts: int(I(7)), LastError: S(8), CreatedAt: T(9), DiedAt: T(10),
				Hash: S(11), Deleted: Z(12)})
		}
	case store.TableAttempts:
		add = func(r *store.Rows) {
			r.Attempts = append(r.Attempts, store.Attempt{ID: I(0), EntryID: I(1), Route: S(2), Key: S(3), Version: I(4),
				RunID: I(5), At: T(6), Outcome: store.Outcome(S(7)), StatusCode: int(I(8)), Error: S(9), Request: S(10),
				Response: S(11), DurationMillis: I(12), IdempotencyKey: S(13), Op: S(14)})
		}
	case store.TableRuns:
		add = func(r *store.Rows) {
			r.Runs = append(r.Runs, store.Run{ID: I(0), Route: S(1), Trigger: S(2), Mode: S(3), Status: store.RunStatus(S(4)),
				StartedAt: T(5), EndedAt: T(6), Iterations: int(I(7)), Collected: int(I(8)), Sent: int(I(9)), Done: int(I(10)),
				Failed: int(I(11)), Dead: int(I(12)), Skipped: int(I(13)), Unchanged: int(I(14)), Pruned: int(I(15)),
				Error: S(16), Owner: S(17)})
		}
	case store.TableCursors:
		add = func(r *store.Rows) {
			r.Cursors = append(r.Cursors, store.Cursor{Route: S(0), Value: S(1), UpdatedAt: T(2)})
		}
	case store.TableDelivered:
		add = func(r *store.Rows) {
			r.Delivered = append(r.Delivered, store.Delivered{Route: S(0), Key: S(1), EntryID: I(2), Version: I(3), Hash: S(4),
				Payload: B(5), DeliveredAt: T(6), Deleted: Z(7)})
		}
	case store.TableOutbox:
		add = func(r *store.Rows) {
			r.Outbox = append(r.Outbox, store.OutboxItem{ID: I(0), Route: S(1), EntryID: I(2), Key: S(3), Version: I(4), Op: S(5),
				Record: B(6), Vars: B(7), IdempotencyKey: S(8), Attempts: int(I(9)), LastError: S(10), NextAttemptAt: T(11),
				CreatedAt: T(12), Dead: Z(13), LeaseOwner: S(14), LeaseUntil: T(15)})
		}
	case store.TableTicks:
		add = func(r *store.Rows) {
			r.Ticks = append(r.Ticks, store.Tick{Route: S(0), Spec: S(1), Next: T(2), LastFired: T(3), Skipped: I(4)})
		}
	}
	return dest, add, nil
}

// sampleRows holds one zero row of table, to learn its column types.
func sampleRows(table string) store.Rows {
	switch table {
	case store.TableEntries:
		return store.Rows{Entries: make([]store.Entry, 1)}
	case store.TableDeadLetters:
		return store.Rows{DeadLetters: make([]store.DeadLetter, 1)}
	case store.TableAttempts:
		return store.Rows{Attempts: make([]store.Attempt, 1)}
	case store.TableRuns:
		return store.Rows{Runs: make([]store.Run, 1)}
	case store.TableCursors:
		return store.Rows{Cursors: make([]store.Cursor, 1)}
	case store.TableDelivered:
		return store.Rows{Delivered: make([]store.Delivered, 1)}
	case store.TableOutbox:
		return store.Rows{Outbox: make([]store.OutboxItem, 1)}
	case store.TableTicks:
		return store.Rows{Ticks: make([]store.Tick, 1)}
	}
	return store.Rows{}
}
