package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/store"
)

// DryRecord is what a dry run would do with one source record.
type DryRecord struct {
	Key         string
	Destination string // "" when skipped or failed
	Method      string
	Path        string // the destination's path template
	Body        map[string]any
	Skipped     string // reason, when a filter skipped it
	Error       string // when a step failed
}

// DryRun reads the source as a run would (from the cursor, or everything
// with full) and passes every record through the steps, reporting what
// would be sent. It writes nothing: no queue, no cursor, no delivery.
// limit caps the records read (0: the route's collect_limit).
func (e *Engine) DryRun(ctx context.Context, name string, full bool, limit int, fn func(DryRecord) error) error {
	r, err := e.route(name)
	if err != nil {
		return err
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
			if err := fn(r.dryRecord(rec)); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, connector.ErrStop) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("route %q: dry run: %w", name, err)
	}
	return nil
}

func (r *route) dryRecord(rec connector.SourceRecord) DryRecord {
	dr := DryRecord{Key: rec.Key}
	vars := entryVars(store.Entry{Key: rec.Key})
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
		dr.Error = fmt.Sprintf("no destination %q", dr.Destination)
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
	if h := d.cfg.HTTP; h != nil {
		dr.Method, dr.Path = h.Method, h.Path
	}
	return dr
}
