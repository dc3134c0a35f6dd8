package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Notify performs the route's on_stale operations with record as the
// record in scope (route, state, since, ...), one after another. It
// returns the failures joined; an operation that fails does not stop the
// next. key names the incident, so a repeated notification carries the
// same idempotency key.
func (e *Engine) Notify(ctx context.Context, name, key string, record map[string]any) error {
	r, err := e.route(name)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(e.storeID + "\x00" + name + "\x00" + key))
	idem := hex.EncodeToString(sum[:16])
	vars := map[string]any{"key": key, "route": name}
	var errs []error
	for i, op := range r.onStale {
		d := connector.Delivery{Key: key, IdempotencyKey: derivedKey(idem, fmt.Sprint(i)), Record: record, Vars: vars}
		if res := op.Do(ctx, d, nil); !res.OK && !res.Skipped {
			errs = append(errs, fmt.Errorf("on_stale[%d]: %s", i, e.cfg.Redactor().String(res.Error)))
		}
	}
	return errors.Join(errs...)
}
