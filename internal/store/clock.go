package store

import (
	"context"
	"time"
)

// Clock is a store that tells the time of its own clock (PostgreSQL's
// now()). Processes on several hosts sharing the store take their time
// from it, so leases, locks and schedule ticks do not depend on how well
// each host's clock is set. A store without it (SQLite, one machine) is
// on the host's clock.
type Clock interface {
	Now(ctx context.Context) (time.Time, error)
}
