package fileconn

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Two destination values of one folder (the old config's finishing its run
// after a reload, and the new one the feed list is served from): Feed()
// of one used to save a reconciled manifest through the same ".tmp" path
// while the other's run published, losing files from the list. Readers
// no longer write, and each save has a temporary name of its own.
func TestTwoDestinationValuesShareOneFeedFolder(t *testing.T) {
	dir := t.TempDir()
	cfg := destConfig(dir, "ndjson")
	writer := newDest(t, cfg)
	reader := newDest(t, cfg)
	if testing.Short() {
		reader = writer
	}
	ctx := context.Background()
	var stop atomic.Bool
	var wg sync.WaitGroup
	var feedErrs atomic.Int64
	var firstFeedErr atomic.Value
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if _, err := reader.Feed(ctx); err != nil {
				if feedErrs.Add(1) == 1 {
					firstFeedErr.Store(err.Error())
				}
			}
		}
	}()
	const runs = 150
	runErrs := 0
	for id := int64(1); id <= runs; id++ {
		info := run(id, t0.Add(time.Duration(id)*time.Second))
		if err := writer.StartRun(ctx, info); err != nil {
			runErrs++
			t.Logf("run %d start: %v", id, err)
			continue
		}
		sendOK(t, writer, deliveries(1, 2))
		if err := writer.EndRun(ctx, info, true); err != nil {
			runErrs++
			t.Logf("run %d end: %v", id, err)
		}
	}
	stop.Store(true)
	wg.Wait()
	f := feedOf(t, writer)
	incomplete := 0
	for _, x := range f.Files {
		if !x.Complete {
			incomplete++
		}
	}
	t.Logf("feed errors %d (first: %v), run errors %d, files listed %d, listed as not complete %d", feedErrs.Load(), firstFeedErr.Load(), runErrs, len(f.Files), incomplete)
	if runErrs > 0 || feedErrs.Load() > 0 || len(f.Files) != runs || incomplete > 0 {
		t.Fatalf("the manifest lost or garbled runs")
	}
}
