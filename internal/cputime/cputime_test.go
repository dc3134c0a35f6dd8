package cputime

import (
	"runtime"
	"testing"
)

func TestProcessCountsWork(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("not measured on this platform")
	}
	start := Process()
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	if Process() <= start {
		t.Errorf("no CPU time counted for a busy loop (%d)", x)
	}
}
