package rules

import (
	"fmt"

	"github.com/ferry-dev/ferry/internal/store"
)

// TickColumns checks a tick claim and says what it writes besides next:
// fired is the time of a fired tick (0 otherwise: last_fired stays) and
// skipped is 1 for a skipped one.
func TickColumns(c store.TickClaim) (fired, skipped int64, err error) {
	if c.Route == "" {
		return 0, 0, fmt.Errorf("claim tick: empty route")
	}
	if c.Next.IsZero() {
		return 0, 0, fmt.Errorf("claim tick of route %q: zero next", c.Route)
	}
	switch c.Outcome {
	case store.TickFired:
		fired = MS(c.At)
	case store.TickSkipped:
		skipped = 1
	case store.TickReset:
	default:
		return 0, 0, fmt.Errorf("claim tick of route %q: unknown outcome %q: expected fired, skipped or reset", c.Route, c.Outcome)
	}
	return fired, skipped, nil
}

// ScanTick reads a row of route, spec, next, last_fired, skipped.
func ScanTick(r Scanner) (store.Tick, error) {
	var (
		t           store.Tick
		next, fired int64
	)
	err := r.Scan(&t.Route, &t.Spec, &next, &fired, &t.Skipped)
	t.Next, t.LastFired = FromMS(next), FromMS(fired)
	return t, err
}
