package jsonx

import (
	"strconv"
	"strings"
)

// Lookup follows a dotted path ("meta.next_url", "data.0.id") through
// decoded JSON. "" is v itself. When the path does not exist, ok is false
// and at is the last value reached, for messages.
func Lookup(v any, path string) (found any, ok bool, at any) {
	if path == "" {
		return v, true, v
	}
	cur := v
	for _, seg := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			next, exists := c[seg]
			if !exists {
				return nil, false, cur
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false, cur
			}
			cur = c[i]
		default:
			return nil, false, cur
		}
	}
	return cur, true, cur
}
