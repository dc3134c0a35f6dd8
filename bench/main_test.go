package main

import (
	"testing"
	"time"
)

// The harness's own checks (every record exactly once; nothing sent by
// an unchanged second pass; everything sent again with resend_unchanged;
// a pruned store with no rows left) run here on a small source, so a
// change to the engine that breaks them fails the suite, not only a
// benchmark someone runs by hand.
func TestHarnessModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    options
	}{
		{"plain", options{}},
		{"reread unchanged", options{reread: true}},
		{"reread with resend_unchanged", options{reread: true, resend: true}},
		{"scattered keys, reread", options{reread: true, scatter: true}},
		{"retention", options{retention: 100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.o
			o.records, o.page, o.batch, o.dir = 2_345, 100, 50, t.TempDir()
			if err := run(o); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestScatterOrderIsAPermutation(t *testing.T) {
	for _, n := range []int{1, 2, 10, 1000, 1001, 200_000} {
		order := scatterOrder(n)
		seen := make([]bool, n+1)
		ascending := true
		for pos := 1; pos <= n; pos++ {
			id := order(pos)
			if id < 1 || id > n || seen[id] {
				t.Fatalf("n=%d: position %d gives id %d (out of range or repeated)", n, pos, id)
			}
			seen[id] = true
			if id != pos {
				ascending = false
			}
		}
		if n > 2 && ascending {
			t.Errorf("n=%d: the order is not scattered", n)
		}
	}
}
