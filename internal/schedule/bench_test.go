package schedule_test

import (
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/schedule"
)

// The scheduler asks Next once per tick of every route; for 1,000 routes
// a minute this is its cost.
func BenchmarkCronNext(b *testing.B) {
	for _, spec := range []string{"*/5 * * * *", "* * * * *", "30 2 * * *", "0 0 29 2 *"} {
		s, err := schedule.ParseCron(spec, "Europe/Berlin")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(spec, func(b *testing.B) {
			t := time.Date(2026, 11, 30, 6, 41, 10, 0, time.UTC)
			for b.Loop() {
				s.Next(t)
			}
		})
	}
}
