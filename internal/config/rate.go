package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ParseRate reads a rate limit such as "10/s", "600/m" or "5000/h" and
// returns it in requests per second.
func ParseRate(s string) (float64, error) {
	num, unit, ok := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	per := map[string]float64{"s": 1, "m": 60, "h": 3600}[strings.TrimSpace(unit)]
	if !ok || err != nil || per == 0 || !(n > 0) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("invalid rate %q (expected requests per s, m or h, e.g. 10/s, 600/m, 5000/h)", s)
	}
	return n / per, nil
}
