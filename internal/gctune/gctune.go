// Package gctune sets ferry's garbage collector defaults. A sync decodes
// and encodes every record as short-lived maps; with Go's default GOGC=100
// the collector runs so often that it costs about a fifth of a sync's CPU
// (measured with go run ./bench). The live heap stays small and flat (one
// page and one batch at a time), so letting it grow 4x before collecting
// buys ~25% throughput for a few tens of MB.
package gctune

import (
	"os"
	"runtime/debug"
)

// DefaultPercent is the GOGC ferry uses when the environment sets none.
const DefaultPercent = 300

// Apply sets GOGC to DefaultPercent unless GOGC or GOMEMLIMIT is set in
// the environment: an operator's own choice always wins.
func Apply() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(DefaultPercent)
}
