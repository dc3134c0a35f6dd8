package schedule_test

import (
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ferry-dev/ferry/internal/schedule"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

// ticks returns the next n instants after from, in UTC RFC 3339.
func ticks(s schedule.Schedule, from time.Time, n int) []string {
	var out []string
	t := from
	for range n {
		t = s.Next(t)
		out = append(out, t.UTC().Format(time.RFC3339))
	}
	return out
}

func TestCronNext(t *testing.T) {
	cases := []struct {
		name, spec, zone, from string
		want                   []string
	}{
		{"every 5 minutes", "*/5 * * * *", "", "2026-11-30T06:41:10Z",
			[]string{"2026-11-30T06:45:00Z", "2026-11-30T06:50:00Z", "2026-11-30T06:55:00Z"}},
		{"strictly after", "*/5 * * * *", "", "2026-11-30T06:45:00Z",
			[]string{"2026-11-30T06:50:00Z"}},
		{"weekdays at 02:00", "0 2 * * 1-5", "", "2026-11-27T03:00:00Z", // a Friday
			[]string{"2026-11-30T02:00:00Z", "2026-12-01T02:00:00Z"}},
		{"@hourly", "@hourly", "", "2026-11-30T06:41:00Z",
			[]string{"2026-11-30T07:00:00Z", "2026-11-30T08:00:00Z"}},
		{"@daily in Berlin", "@daily", "Europe/Berlin", "2026-11-30T06:41:00Z",
			[]string{"2026-11-30T23:00:00Z", "2026-12-01T23:00:00Z"}},
		{"@weekly", "@weekly", "", "2026-11-30T06:41:00Z", // Sunday midnight
			[]string{"2026-12-06T00:00:00Z", "2026-12-13T00:00:00Z"}},
		{"@monthly", "@monthly", "", "2026-11-30T06:41:00Z",
			[]string{"2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"}},
		{"@yearly", "@yearly", "", "2026-11-30T06:41:00Z",
			[]string{"2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"}},
		{"29 February", "0 0 29 2 *", "", "2026-11-30T06:41:00Z",
			[]string{"2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"}},
		{"day of month or day of week", "0 12 1 * 0", "", "2026-11-30T06:41:00Z", // 1st or Sundays
			[]string{"2026-12-01T12:00:00Z", "2026-12-06T12:00:00Z"}},
		{"Kolkata half-hour offset", "0 9 * * *", "Asia/Kolkata", "2026-11-30T00:00:00Z",
			[]string{"2026-11-30T03:30:00Z", "2026-12-01T03:30:00Z"}},

		// Europe/Berlin: clocks go 02:00 -> 03:00 on 29 March 2026
		// (01:00 UTC) and 03:00 -> 02:00 on 25 October 2026 (01:00 UTC).
		{"spring 02:00 runs at the end of the gap", "0 2 * * *", "Europe/Berlin", "2026-03-28T11:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z"}},
		{"spring 02:30 runs at the end of the gap", "30 2 * * *", "Europe/Berlin", "2026-03-28T11:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z"}},
		{"spring from inside the gap's tick", "30 2 * * *", "Europe/Berlin", "2026-03-29T01:00:00Z",
			[]string{"2026-03-30T00:30:00Z"}},
		{"spring half-hourly skips the missing hour", "*/30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00Z",
			[]string{"2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"}},
		{"spring 03:00 is an ordinary time", "0 3 * * *", "Europe/Berlin", "2026-03-28T11:00:00Z",
			[]string{"2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z"}},
		{"autumn 02:00 runs once", "0 2 * * *", "Europe/Berlin", "2026-10-24T10:00:00Z",
			[]string{"2026-10-25T00:00:00Z", "2026-10-26T01:00:00Z", "2026-10-27T01:00:00Z"}},
		{"autumn 02:30 runs once", "30 2 * * *", "Europe/Berlin", "2026-10-24T10:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		{"autumn 02:30 from between its two occurrences", "30 2 * * *", "Europe/Berlin", "2026-10-25T00:45:00Z",
			[]string{"2026-10-26T01:30:00Z"}},
		{"autumn hourly runs in both 02:00 hours", "0 * * * *", "Europe/Berlin", "2026-10-24T23:30:00Z",
			[]string{"2026-10-25T00:00:00Z", "2026-10-25T01:00:00Z", "2026-10-25T02:00:00Z"}},
		{"autumn every 30 minutes through the repeated hour", "*/30 * * * *", "Europe/Berlin", "2026-10-25T00:00:00Z",
			[]string{"2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z"}},

		// New York: 02:00 -> 03:00 on 8 March 2026 (07:00 UTC).
		{"New York spring 02:30", "30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
			[]string{"2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		// Lord Howe moves 30 minutes: 02:00 -> 02:30 on 4 October 2026 (15:30 UTC on the 3rd).
		{"Lord Howe half-hour gap", "15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z",
			[]string{"2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.want
			s, err := schedule.ParseCron(tc.spec, tc.zone)
			if err != nil {
				t.Fatal(err)
			}
			got := ticks(s, utc(tc.from), len(want))
			if strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("%s in %q after %s\n got %v\nwant %v", tc.spec, tc.zone, tc.from, got, want)
			}
		})
	}
}

// Away from daylight saving changes the schedule agrees with robfig/cron's
// own Next, whose parser it uses.
func TestCronAgreesWithRobfigAwayFromDST(t *testing.T) {
	specs := []string{"*/5 * * * *", "0 2 * * *", "30 2 * * *", "15 */3 * * 1-5", "0 0 1 * *", "0 12 1,15 * 0", "@hourly", "@daily", "@weekly", "@monthly", "5 4 * jan,jul *"}
	zones := []string{"UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"}
	for _, zone := range zones {
		loc, err := time.LoadLocation(zone)
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range specs {
			ours, err := schedule.ParseCron(spec, zone)
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := cron.ParseStandard(spec)
			if err != nil {
				t.Fatal(err)
			}
			theirs.(*cron.SpecSchedule).Location = loc
			for from := utc("2026-01-01T00:00:00Z"); from.Year() == 2026; from = from.Add(7*time.Hour + 13*time.Minute + 17*time.Second) {
				got, want := ours.Next(from), theirs.Next(from)
				if got.Equal(want) {
					continue
				}
				_, offFrom := from.In(loc).Zone()
				_, offWant := want.In(loc).Zone()
				if offFrom == offWant {
					t.Fatalf("%s in %s after %s: got %s, robfig/cron %s, with no offset change between", spec, zone, from, got, want)
				}
			}
		}
	}
}

func TestParseCronErrors(t *testing.T) {
	cases := []struct{ spec, zone, want string }{
		{"", "", "empty cron schedule"},
		{"* * * *", "", `invalid cron schedule "* * * *": expected exactly 5 fields, found 4: [* * * *] (expected 5 fields`},
		{"* * * * * *", "", "expected exactly 5 fields, found 6"},
		{"61 * * * *", "", "end of range (61) above maximum (59)"},
		{"0 2 * * 8", "", "end of range (8) above maximum (6)"},
		{"@fortnightly", "", `invalid cron schedule "@fortnightly": unrecognized descriptor`},
		{"CRON_TZ=Europe/Berlin 0 2 * * *", "", "write the zone in timezone: (e.g. timezone: Europe/Berlin)"},
		{"TZ=UTC 0 2 * * *", "", "write the zone in timezone:"},
		{"@every 5m", "", "write intervals as every: (e.g. every: 30s) instead of schedule: @every"},
		{"0 0 31 2 *", "", `cron schedule "0 0 31 2 *" never fires`},
		{"0 0 31 2,4,6 *", "", "never fires"},
		{"0 2 * * *", "Europe/Berln", `unknown time zone "Europe/Berln" (expected an IANA name such as Europe/Berlin`},
		{"0 2 * * *", "Local", "time zone Local depends on the machine ferry runs on: name the zone"},
	}
	for _, tc := range cases {
		t.Run(tc.spec, func(t *testing.T) {
			_, err := schedule.ParseCron(tc.spec, tc.zone)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseCron(%q, %q) = %v, want an error containing %q", tc.spec, tc.zone, err, tc.want)
			}
		})
	}
	// 31 in a month that has it is fine, and so is 29 February.
	for _, spec := range []string{"0 0 31 1-3 *", "0 0 29 2 *", "0 0 31 2 1"} {
		if _, err := schedule.ParseCron(spec, ""); err != nil {
			t.Errorf("ParseCron(%q): %v", spec, err)
		}
	}
}

func TestString(t *testing.T) {
	for _, tc := range []struct {
		s    func() (schedule.Schedule, error)
		want string
	}{
		{func() (schedule.Schedule, error) { return schedule.ParseCron(" */5 * * * * ", "") }, "*/5 * * * *"},
		{func() (schedule.Schedule, error) { return schedule.ParseCron("0 2 * * *", "Europe/Berlin") }, "0 2 * * * (Europe/Berlin)"},
		{func() (schedule.Schedule, error) { return schedule.Every(90 * time.Second), nil }, "every 1m30s"},
	} {
		s, err := tc.s()
		if err != nil {
			t.Fatal(err)
		}
		if s.String() != tc.want {
			t.Errorf("String() = %q, want %q", s.String(), tc.want)
		}
	}
}

func TestEvery(t *testing.T) {
	cases := []struct {
		name  string
		every time.Duration
		from  time.Time
		want  []string
	}{
		{"30s", 30 * time.Second, utc("2026-11-30T06:41:10Z"), []string{"2026-11-30T06:41:30Z", "2026-11-30T06:42:00Z", "2026-11-30T06:42:30Z"}},
		{"strictly after a tick", 30 * time.Second, utc("2026-11-30T06:41:30Z"), []string{"2026-11-30T06:42:00Z"}},
		{"7m on the epoch's grid", 7 * time.Minute, time.Unix(1, 0), []string{"1970-01-01T00:07:00Z", "1970-01-01T00:14:00Z"}},
		{"before 1970", time.Hour, time.Unix(-1, 0), []string{"1970-01-01T00:00:00Z", "1970-01-01T01:00:00Z"}},
		{"a day is UTC days", 24 * time.Hour, utc("2026-03-29T00:30:00Z"), []string{"2026-03-30T00:00:00Z"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ticks(schedule.Every(tc.every), tc.from, len(tc.want))
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	// Two processes started at different times agree on the ticks.
	a, b := schedule.Every(45*time.Second), schedule.Every(45*time.Second)
	if x, y := a.Next(utc("2026-11-30T06:00:01Z")), b.Next(utc("2026-11-30T06:00:44Z")); !x.Equal(y) {
		t.Errorf("ticks differ by start: %s vs %s", x, y)
	}
	loc, _ := time.LoadLocation("Europe/Berlin")
	if got := schedule.Every(time.Minute).Next(time.Date(2026, 11, 30, 7, 0, 10, 0, loc)); got.Location() != loc {
		t.Errorf("Next changed the location to %s", got.Location())
	}
}
