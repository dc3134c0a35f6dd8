//go:build !unix

package cputime

import "time"

// Process is not measured on this platform: 0, so CPU figures read 0.
func Process() time.Duration { return 0 }
