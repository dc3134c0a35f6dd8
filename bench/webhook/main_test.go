package main

import (
	"os"
	"strings"
	"testing"
)

// TestMain lets the test binary stand in for the bench binary in the load
// process that run starts (it runs os.Args[0] -load URL).
func TestMain(m *testing.M) {
	if os.Getenv("FERRY_BENCH_WEBHOOK_LOAD") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// The harness's own check (the sink gets every record that got a 202,
// warm-up included) runs here on a few posts with each load client and
// mode, so a change that breaks the webhook path or the harness fails the
// suite, not only a benchmark someone runs by hand.
func TestHarnessModes(t *testing.T) {
	t.Setenv("FERRY_BENCH_WEBHOOK_LOAD", "1")
	for _, tc := range []struct {
		name string
		spec loadSpec
	}{
		{"raw client", loadSpec{requests: 1_500, conns: 8, client: "raw"}},
		{"Go's client", loadSpec{requests: 1_500, conns: 8, client: "nethttp"}},
		{"open loop after a warm-up", loadSpec{requests: 1_000, warmup: 500, conns: 16, client: "raw", rate: 2_000}},
		{"Go's client after a warm-up", loadSpec{requests: 300, warmup: 300, conns: 4, client: "nethttp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := run(tc.spec); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A run whose posts are refused fails, whatever the sink got.
func TestHarnessFailsWhenPostsFail(t *testing.T) {
	t.Setenv("FERRY_BENCH_WEBHOOK_LOAD", "1")
	for _, warmup := range []int{0, 20} {
		err := run(loadSpec{requests: 50, warmup: warmup, conns: 2, client: "raw", token: "not-the-route-token"})
		if err == nil || !strings.Contains(err.Error(), "were not answered 202") {
			t.Fatalf("posts answered 401 (warm-up %d): %v, want the run to fail", warmup, err)
		}
	}
}
