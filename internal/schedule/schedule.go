// Package schedule says when a scheduled route runs next: a cron
// expression in a time zone, or a fixed interval.
package schedule

import (
	"fmt"
	"time"
)

// Schedule gives the instants a route is due.
type Schedule interface {
	// Next is the first instant strictly after after when the route is
	// due; the zero time when it never is again.
	Next(after time.Time) time.Time
	// String describes the schedule for people (API, logs).
	String() string
}

// Every returns a schedule that is due every d, on multiples of d since
// the Unix epoch: every process computes the same ticks, and a restart
// does not shift them. d must be positive.
func Every(d time.Duration) Schedule {
	if d <= 0 {
		panic(fmt.Sprintf("schedule.Every(%s): the interval must be positive", d))
	}
	return every(d)
}

type every time.Duration

func (e every) Next(after time.Time) time.Time {
	d := int64(e)
	ns := after.UnixNano()
	// Floor division, so times before 1970 land on the same grid.
	q := ns / d
	if ns%d < 0 {
		q--
	}
	return time.Unix(0, (q+1)*d).In(after.Location())
}

func (e every) String() string { return "every " + time.Duration(e).String() }
