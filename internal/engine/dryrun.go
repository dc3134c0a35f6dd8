package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/jsonx"
	"github.com/ferry-dev/ferry/internal/store"
)

// DryRecord is what a dry run would do with one source record. A record
// fails here exactly where the real run would fail it: a step, the
// destination's map, or the destination's rendering (a path or header
// template that fails, a value JSON cannot encode such as NaN or ±Inf).
type DryRecord struct {
	Key         string
	Destination string // "" when skipped or failed before a destination was chosen
	Method      string // as the destination would send it
	Path        string // the destination's path template
	URL         string // the rendered URL (secrets redacted); "" when the destination cannot preview
	Body        map[string]any
	Skipped     string // reason, when a filter skipped it
	Error       string // when the real run would fail the record
}

// dryRunKey stands in for the idempotency key in a dry run: a real key
// needs a queue entry, which a dry run does not make.
const dryRunKey = "dry-run"

// DryRun reads the source as a run would (from the cursor, or everything
// with full) and passes every record through the steps, reporting what
// would be sent. It writes nothing: no queue, no cursor, no delivery.
// limit caps the records read (0: the route's collect_limit).
func (e *Engine) DryRun(ctx context.Context, name string, full bool, limit int, fn func(DryRecord) error) error {
	r, err := e.route(name)
	if err != nil {
		return err
	}
	if r.source == nil {
		return fmt.Errorf("route %q has no source to read: its records come from its webhook", name)
	}
	req := connector.ReadRequest{Full: full}
	if !full {
		if req.Cursor, err = e.store.Cursor(ctx, name); err != nil {
			return fmt.Errorf("route %q: read cursor: %w", name, err)
		}
	}
	if limit <= 0 {
		limit = r.cfg.CollectLimit
	}
	seen := 0
	err = r.source.Read(ctx, req, func(ctx context.Context, page connector.Page) error {
		for _, rec := range page.Records {
			if seen >= limit {
				return connector.ErrStop
			}
			seen++
			if err := fn(e.cleanDry(r.dryRecord(ctx, rec))); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, connector.ErrStop) {
		return nil
	}
	if err != nil {
		return e.cfg.Redactor().Error(fmt.Errorf("route %q: dry run: %w", name, err))
	}
	return nil
}

// cleanDry removes the config's secret values from what a dry run
// shows: a map: template or a header may hold one.
func (e *Engine) cleanDry(dr DryRecord) DryRecord {
	red := e.cfg.Redactor()
	if red.Empty() {
		return dr
	}
	dr.Key, dr.Method, dr.Path, dr.URL = red.String(dr.Key), red.String(dr.Method), red.String(dr.Path), red.String(dr.URL)
	dr.Skipped, dr.Error = red.String(dr.Skipped), red.String(dr.Error)
	if body, ok := red.Value(dr.Body).(map[string]any); ok {
		dr.Body = body
	}
	return dr
}

func (r *route) dryRecord(ctx context.Context, rec connector.SourceRecord) DryRecord {
	dr := DryRecord{Key: rec.Key}
	// The real run encodes every record before queuing it.
	if _, err := jsonx.Marshal(rec.Data); err != nil {
		dr.Error = fmt.Sprintf("encode: %v", err)
		return dr
	}
	vars := deliveryVars(store.Entry{Key: rec.Key}, dryRunKey)
	if rec.Deleted {
		return r.dryDelete(ctx, rec, vars)
	}
	out := r.steps.Apply(rec.Data, vars)
	switch {
	case out.Skipped:
		dr.Skipped = out.SkipReason
		return dr
	case out.Err != nil:
		dr.Error = out.Err.Error()
		return dr
	}
	dr.Destination = out.Destination
	if dr.Destination == "" {
		dr.Destination = "default"
	}
	d, ok := r.destinations[dr.Destination]
	if !ok {
		dr.Error = fmt.Sprintf("no destination %q in route %q", dr.Destination, r.cfg.Name)
		return dr
	}
	dr.Body = out.Record
	if d.body != nil {
		body, err := d.body.Apply(mergeEnv(out.Record, vars))
		if err != nil {
			dr.Error = fmt.Sprintf("destination %q: map: %v", dr.Destination, err)
			return dr
		}
		dr.Body = body
	}
	del := connector.Delivery{Key: rec.Key, IdempotencyKey: dryRunKey, Record: dr.Body, Vars: vars}
	if p, ok := d.conn.(connector.Previewer); ok {
		pv, err := p.Preview(ctx, del)
		if err != nil {
			dr.Error = fmt.Sprintf("destination %q: %v", dr.Destination, err)
			return dr
		}
		dr.Method, dr.URL = pv.Method, pv.URL
		return dr
	}
	// Without a preview, at least the body must encode as the real
	// send would encode it.
	if _, err := jsonx.Marshal(dr.Body); err != nil {
		dr.Error = fmt.Sprintf("destination %q: encode record as JSON: %v", dr.Destination, err)
	}
	return dr
}

// dryDelete is what the run would do with a delete the source reported:
// prune it (deletes: ignore) or send it to the default destination as it
// is, without steps.
func (r *route) dryDelete(ctx context.Context, rec connector.SourceRecord, vars map[string]any) DryRecord {
	dr := DryRecord{Key: rec.Key, Body: rec.Data}
	if r.cfg.Deletes != config.DeletesSend {
		dr.Skipped = "a delete, and the route ignores deletes (deletes: ignore): pruned"
		return dr
	}
	dr.Destination, dr.Method = "default", "DELETE"
	d := r.destinations["default"]
	if p, ok := d.conn.(connector.Previewer); ok {
		pv, err := p.Preview(ctx, connector.Delivery{Key: rec.Key, IdempotencyKey: dryRunKey, Record: rec.Data, Vars: vars, Deleted: true})
		if err != nil {
			dr.Error = fmt.Sprintf("destination %q: %v", dr.Destination, err)
			return dr
		}
		dr.Method, dr.URL = pv.Method, pv.URL
	}
	return dr
}

// Preview is what the route's steps and destination would make of one
// queued record now: the dashboard shows it as the record "as
// transformed". It sends nothing and writes nothing.
func (e *Engine) Preview(ctx context.Context, name string, en store.Entry) (DryRecord, error) {
	r, err := e.route(name)
	if err != nil {
		return DryRecord{}, err
	}
	data, err := jsonx.DecodeObject(en.Payload)
	if err != nil {
		return DryRecord{Key: en.Key, Error: fmt.Sprintf("decode the queued record: %v", err)}, nil
	}
	return e.cleanDry(r.dryRecord(ctx, connector.SourceRecord{Key: en.Key, Data: data, Deleted: en.Deleted})), nil
}
