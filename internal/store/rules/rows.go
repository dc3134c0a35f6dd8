package rules

import "github.com/ferry-dev/ferry/internal/store"

// Collect reads every row of rows with scan; the caller closes rows.
func Collect[R Rows, T any](rows R, scan func(R) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// ScanRun reads a row of the stores' run columns (id, route, trigger,
// mode, status, started_at, ended_at, iterations, collected, sent, done,
// failed, dead, skipped, unchanged, error, owner, pruned). Counts go
// through int64, which both drivers fill from any integer column.
func ScanRun(row Scanner) (store.Run, error) {
	var (
		r                                                        store.Run
		status                                                   string
		started, ended                                           int64
		iterations, collected, sent, done, failed, dead, skipped int64
		unchanged, pruned                                        int64
	)
	err := row.Scan(&r.ID, &r.Route, &r.Trigger, &r.Mode, &status, &started, &ended, &iterations,
		&collected, &sent, &done, &failed, &dead, &skipped, &unchanged, &r.Error, &r.Owner, &pruned)
	r.Status, r.StartedAt, r.EndedAt = store.RunStatus(status), FromMS(started), FromMS(ended)
	r.Iterations, r.Collected, r.Sent, r.Done, r.Failed = int(iterations), int(collected), int(sent), int(done), int(failed)
	r.Dead, r.Skipped, r.Unchanged, r.Pruned = int(dead), int(skipped), int(unchanged), int(pruned)
	return r, err
}

// ScanAttempt reads a row of the stores' attempt columns (id, entry_id,
// route, key, version, run_id, at, outcome, status_code, error, request,
// response, duration_ms, idempotency_key, op).
func ScanAttempt(row Scanner) (store.Attempt, error) {
	var (
		a       store.Attempt
		at      int64
		outcome string
		code    int64
	)
	if err := row.Scan(&a.ID, &a.EntryID, &a.Route, &a.Key, &a.Version, &a.RunID, &at, &outcome,
		&code, &a.Error, &a.Request, &a.Response, &a.DurationMillis, &a.IdempotencyKey, &a.Op); err != nil {
		return a, err
	}
	a.At, a.Outcome, a.StatusCode = FromMS(at), store.Outcome(outcome), int(code)
	return a, nil
}

// ScanProcess reads a row of id, host, pid, version, listen, started_at,
// seen_at, until.
func ScanProcess(row Scanner) (store.Process, error) {
	var (
		p                         store.Process
		pid, started, seen, until int64
	)
	err := row.Scan(&p.ID, &p.Host, &pid, &p.Version, &p.Listen, &started, &seen, &until)
	p.PID, p.StartedAt, p.SeenAt, p.Until = int(pid), FromMS(started), FromMS(seen), FromMS(until)
	return p, err
}

// ScanDelivered reads a key's delivered content from a row of entry_id,
// version, hash, payload, delivered_at, deleted.
func ScanDelivered(row Scanner, route, key string) (store.Delivered, error) {
	d := store.Delivered{Route: route, Key: key}
	var (
		payload []byte
		at      int64
	)
	if err := row.Scan(&d.EntryID, &d.Version, &d.Hash, &payload, &at, &d.Deleted); err != nil {
		return d, err
	}
	d.Payload, d.DeliveredAt = payload, FromMS(at)
	return d, nil
}
