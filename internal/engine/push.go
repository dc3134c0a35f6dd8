package engine

import (
	"errors"
	"fmt"
	"math"

	"github.com/ferry-dev/ferry/internal/expr"
	"github.com/ferry-dev/ferry/internal/jsonx"
	"github.com/ferry-dev/ferry/internal/store"
)

// ErrNoWebhook is returned by Push for a route without a webhook.
var ErrNoWebhook = errors.New("route has no webhook")

// Push turns records pushed to a route (a webhook call) into entries to
// queue, as a read of the source would: the key from the webhook's key
// path, the payload encoded, its content hash, its priority. It fails on
// the first record it cannot queue, naming it by position (1-based), so
// a caller queues all of a call or nothing.
func (e *Engine) Push(name string, records []map[string]any) ([]store.NewEntry, error) {
	r, err := e.route(name)
	if err != nil {
		return nil, err
	}
	wh := r.cfg.Webhook
	if wh == nil {
		return nil, fmt.Errorf("%w: route %q", ErrNoWebhook, name)
	}
	out := make([]store.NewEntry, len(records))
	for i, rec := range records {
		key, err := recordKey(rec, wh.Key)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", i+1, err)
		}
		payload, err := jsonx.Marshal(rec)
		if err != nil {
			return nil, fmt.Errorf("record %d (key %q): encode: %w", i+1, key, err)
		}
		prio, err := r.priorityOf(rec)
		if err != nil {
			// A priority is no reason to refuse a record.
			e.log.Warn("entry priority: using the route's", "route", name, "key", key, "err", err)
		}
		out[i] = store.NewEntry{Key: key, Payload: payload, Priority: prio, Hash: r.enqueueHash(payload, false)}
	}
	return out, nil
}

// recordKey reads the business key at path: a string, number or boolean.
func recordKey(rec map[string]any, path string) (string, error) {
	v, ok, _ := jsonx.Lookup(rec, path)
	switch v.(type) {
	case nil:
		if !ok {
			return "", fmt.Errorf("no key field %q", path)
		}
		return "", fmt.Errorf("key field %q is null", path)
	case map[string]any, []any:
		return "", fmt.Errorf("key field %q is an object or array, not a string or number", path)
	}
	key := expr.Stringify(v)
	if key == "" {
		return "", fmt.Errorf("key field %q is empty", path)
	}
	return key, nil
}

// priorityOf is an entry's priority: the route's entry_priority
// expression over the record (with the route's priority in scope as
// `priority` unless the record has a field of that name), else the
// route's priority. When the expression fails it returns the route's
// priority with the error.
func (r *route) priorityOf(rec map[string]any) (int, error) {
	if r.entryPriority == nil {
		return r.cfg.Priority, nil
	}
	env := rec
	if _, ok := rec["priority"]; !ok {
		env = make(map[string]any, len(rec)+1)
		for k, v := range rec {
			env[k] = v
		}
		env["priority"] = r.cfg.Priority
	}
	v, err := r.entryPriority.Eval(env)
	if err != nil {
		return r.cfg.Priority, fmt.Errorf("entry_priority: %w", err)
	}
	switch n := v.(type) {
	case int:
		return n, nil
	case int64:
		return int(n), nil
	case float64:
		if n == math.Trunc(n) && math.Abs(n) <= 1e9 {
			return int(n), nil
		}
	}
	return r.cfg.Priority, fmt.Errorf("entry_priority gave %s, not a whole number", expr.Stringify(v))
}
