//go:build !unix

package sqlconn

import "time"

// processCPU is not measured here: the benchmarks' cpu-us metrics read 0.
func processCPU() time.Duration { return 0 }
