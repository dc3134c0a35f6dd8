package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// standard is the 5-field crontab syntax with @hourly, @daily, @weekly,
// @monthly and @yearly.
var standard = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronHelp ends every syntax error.
const cronHelp = "expected 5 fields (minute hour day-of-month month day-of-week, e.g. \"*/5 * * * *\" or \"0 2 * * 1-5\") or one of @hourly, @daily, @weekly, @monthly, @yearly"

// ParseCron parses a 5-field cron expression (or @hourly, @daily, @weekly,
// @monthly, @yearly) whose times are wall-clock times in timezone, an IANA
// zone name ("" is UTC).
//
// Across daylight saving changes the schedule keeps to the wall clock: a
// time that does not exist (the hour skipped in spring) is due once at
// the end of the gap, so a nightly run at 02:30 still runs that night; a
// time that happens twice (the hour repeated in autumn) is due once, at
// its first occurrence, unless the schedule names every hour (then each
// occurrence is an hour of its own).
func ParseCron(spec, timezone string) (Schedule, error) {
	spec = strings.TrimSpace(spec)
	switch {
	case spec == "":
		return nil, errors.New("empty cron schedule (" + cronHelp + ")")
	case strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ="):
		return nil, fmt.Errorf("cron schedule %q names a time zone: write the zone in timezone: (e.g. timezone: Europe/Berlin) and leave it out of the schedule", spec)
	case strings.HasPrefix(spec, "@every"):
		return nil, fmt.Errorf("cron schedule %q: write intervals as every: (e.g. every: 30s) instead of schedule: @every", spec)
	}
	loc := time.UTC
	if timezone == "Local" {
		// Machines sharing a store may not agree on their local zone.
		return nil, errors.New("time zone Local depends on the machine ferry runs on: name the zone (e.g. Europe/Berlin)")
	}
	if timezone != "" {
		var err error
		if loc, err = time.LoadLocation(timezone); err != nil {
			return nil, fmt.Errorf("unknown time zone %q (expected an IANA name such as Europe/Berlin, America/New_York or UTC)", timezone)
		}
	}
	parsed, err := standard.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("invalid cron schedule %q: %v (%s)", spec, err, cronHelp)
	}
	s, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("invalid cron schedule %q (%s)", spec, cronHelp)
	}
	c := &cronSchedule{spec: spec, loc: loc, bits: s, allHours: s.Hour&allHourBits == allHourBits}
	if !c.possible() {
		return nil, fmt.Errorf("cron schedule %q never fires: no month it names has that day", spec)
	}
	return c, nil
}

const (
	allHourBits = 1<<24 - 1
	starBit     = 1 << 63 // robfig/cron marks a field written as * with it
	// searchDays bounds the search for the next instant: enough for a
	// schedule of 29 February across a century year without leap day.
	searchDays = 9 * 366
)

type cronSchedule struct {
	spec     string
	loc      *time.Location
	bits     *cron.SpecSchedule
	allHours bool
}

func (c *cronSchedule) String() string {
	if c.loc == time.UTC {
		return c.spec
	}
	return c.spec + " (" + c.loc.String() + ")"
}

// daysIn is the most days each month can have (February in leap years).
var daysIn = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// possible reports whether some day can match: "0 0 31 2 *" parses but
// never fires.
func (c *cronSchedule) possible() bool {
	s := c.bits
	if s.Dom&starBit != 0 || s.Dow&starBit == 0 {
		return true // any day of the month, or days of the week as well
	}
	for m := 1; m <= 12; m++ {
		if s.Month&(1<<m) == 0 {
			continue
		}
		for d := 1; d <= daysIn[m]; d++ {
			if s.Dom&(1<<d) != 0 {
				return true
			}
		}
	}
	return false
}

// dayMatches follows robfig/cron: day of month and day of week both
// restrict unless one is *, then either may match.
func (c *cronSchedule) dayMatches(day time.Time) bool {
	s := c.bits
	if s.Month&(1<<uint(day.Month())) == 0 {
		return false
	}
	dom := s.Dom&(1<<uint(day.Day())) != 0
	dow := s.Dow&(1<<uint(day.Weekday())) != 0
	if s.Dom&starBit != 0 || s.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// Next walks the matching wall-clock times day by day and maps each to
// the instants it denotes in the zone (see ParseCron for the DST rules).
// Wall times are handled as UTC times whose fields are the wall clock.
func (c *cronSchedule) Next(after time.Time) time.Time {
	y, m, d := after.In(c.loc).Date()
	// Start a day early: offsets make a wall time of the day before late
	// enough to come after after (zones up to UTC+14).
	day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	var best time.Time
	for range searchDays {
		if !best.IsZero() && day.Add(-15*time.Hour).After(best) {
			break // no wall time of this day or later can come earlier
		}
		// UTC-12 is the lowest offset: a day whose wall times all lie 12h
		// before after cannot hold the next instant.
		if c.dayMatches(day) && day.Add(36*time.Hour).After(after) {
			z := zoneAround(c.loc, day)
			for h := range 24 {
				if c.bits.Hour&(1<<h) == 0 {
					continue
				}
				if !day.Add(time.Duration(h+1) * time.Hour).Add(-z.minOff).After(after) {
					continue // the whole hour maps to instants not after after
				}
				for mi := range 60 {
					if c.bits.Minute&(1<<mi) == 0 {
						continue
					}
					wall := day.Add(time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute)
					if !best.IsZero() && wall.Add(-z.maxOff).After(best) {
						// Every later wall time maps to a later instant.
						return best.In(c.loc)
					}
					if !wall.Add(-z.minOff).After(after) {
						continue // every instant it can map to is not after after
					}
					if u, ok := c.instant(z, wall, after); ok && (best.IsZero() || u.Before(best)) {
						best = u
					}
				}
			}
		}
		day = day.AddDate(0, 0, 1)
	}
	if best.IsZero() {
		return time.Time{}
	}
	return best.In(c.loc)
}

// instant is the instant wall denotes that is due and after after: the
// first occurrence (or the second too when every hour is named), or the
// end of the gap wall falls in.
func (c *cronSchedule) instant(z zone, wall, after time.Time) (time.Time, bool) {
	found := 0
	for _, p := range z.periods {
		u := wall.Add(-p.off)
		if !p.contains(u) {
			continue
		}
		found++
		if found > 1 && !c.allHours {
			break // a repeated fixed time runs at its first occurrence only
		}
		if u.After(after) {
			return u, true
		}
	}
	if found > 0 {
		return time.Time{}, false
	}
	for i := 1; i < len(z.periods); i++ {
		prev, p := z.periods[i-1], z.periods[i]
		// Clocks jumped forward at p.start: wall times in
		// [p.start+prev.off, p.start+p.off) never happened.
		if p.off > prev.off && !wall.Before(p.start.Add(prev.off)) && wall.Before(p.start.Add(p.off)) {
			return p.start, p.start.After(after)
		}
	}
	return time.Time{}, false
}

// zone is the zone's offsets around one day: the periods of constant
// offset that cover the instants its wall times can denote.
type zone struct {
	periods        []period
	minOff, maxOff time.Duration
}

type period struct {
	start, end time.Time // zero: unbounded
	off        time.Duration
}

func (p period) contains(u time.Time) bool {
	return (p.start.IsZero() || !u.Before(p.start)) && (p.end.IsZero() || u.Before(p.end))
}

// zoneAround lists the periods from 15 hours before the day's wall
// midnight to 15 hours after its end (offsets lie within -12h..+14h).
func zoneAround(loc *time.Location, day time.Time) zone {
	from, to := day.Add(-15*time.Hour), day.Add(39*time.Hour)
	var z zone
	t := from.In(loc)
	for {
		_, off := t.Zone()
		start, end := t.ZoneBounds()
		p := period{start: start, end: end, off: time.Duration(off) * time.Second}
		if len(z.periods) == 0 || p.off < z.minOff {
			z.minOff = p.off
		}
		if len(z.periods) == 0 || p.off > z.maxOff {
			z.maxOff = p.off
		}
		z.periods = append(z.periods, p)
		if end.IsZero() || end.After(to) {
			return z
		}
		t = end.In(loc)
	}
}
