package main

import (
	"os"
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

// The harness's own check (the sink gets every record that got a 202)
// runs here on a few posts with each load client, so a change that breaks
// the webhook path or the harness fails the suite, not only a benchmark
// someone runs by hand.
func TestHarnessClients(t *testing.T) {
	t.Setenv("FERRY_BENCH_WEBHOOK_LOAD", "1")
	for _, client := range []string{"raw", "nethttp"} {
		t.Run(client, func(t *testing.T) {
			if err := run(1_500, 8, client); err != nil {
				t.Fatal(err)
			}
		})
	}
}
