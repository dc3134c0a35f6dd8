package gctune

import (
	"runtime/debug"
	"testing"
)

func TestApply(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	Apply()
	if got := debug.SetGCPercent(100); got != DefaultPercent {
		t.Fatalf("GOGC = %d after Apply, want %d", got, DefaultPercent)
	}
	t.Setenv("GOGC", "50")
	Apply()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("Apply overrode an operator's GOGC: %d", got)
	}
}
