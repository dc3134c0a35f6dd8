package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// storeBytes is the size on disk of the SQLite store: the file and its
// write-ahead log (the shared-memory index is not data).
func storeBytes(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

func mb(n int64) float64 { return float64(n) / (1 << 20) }

// sizeWatch samples the store's size while a run goes on.
type sizeWatch struct {
	done chan struct{}
	wg   sync.WaitGroup
	peak int64
}

// watchSize samples the store's size every 50 ms until stop, which
// returns the largest size seen.
func watchSize(path string) *sizeWatch {
	w := &sizeWatch{done: make(chan struct{})}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			w.peak = max(w.peak, storeBytes(path))
			select {
			case <-w.done:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *sizeWatch) stop() int64 {
	close(w.done)
	w.wg.Wait()
	return w.peak
}

// pruneAfter reports the store's size during the run and after the
// run's own end-of-run retention, then waits until the retention has
// passed for every record of the run, prunes with vacuum (what `ferry
// prune --vacuum` does) and reports the size and the rows left.
func pruneAfter(ctx context.Context, st *sqlite.Store, path string, retention time.Duration, peak int64) error {
	fmt.Printf("retention      %s for attempts, runs and delivered content (applied at the end of the run)\n", retention)
	fmt.Printf("store_peak_mb  %.1f (file + WAL, largest during the run)\n", mb(peak))
	fmt.Printf("store_run_mb   %.1f (after the run and its end-of-run retention)\n", mb(storeBytes(path)))
	time.Sleep(retention)
	now := time.Now()
	start := now
	res, err := st.Prune(ctx, store.PruneRequest{
		AttemptsBefore:  now.Add(-retention),
		RunsBefore:      now.Add(-retention),
		DeliveredBefore: now.Add(-retention),
		Vacuum:          true,
	})
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	fmt.Printf("prune          %s: %d attempts, %d runs, %d delivered contents removed, then vacuum\n",
		time.Since(start).Round(time.Millisecond), res.Attempts, res.Runs, res.Delivered)
	fmt.Printf("store_pruned_mb %.2f (after the prune with vacuum)\n", mb(storeBytes(path)))
	left, err := rowsLeft(ctx, path)
	if err != nil {
		return err
	}
	fmt.Printf("rows_left      %s\n", left)
	return nil
}

// rowsLeft counts the rows of the store's history tables, read through a
// connection of its own.
func rowsLeft(ctx context.Context, path string) (string, error) {
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		return "", fmt.Errorf("count rows: %w", err)
	}
	defer db.Close()
	var out string
	for _, table := range []string{"entries", "attempts", "delivered", "runs", "dead_letters", "outbox"} {
		var n int64
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			return "", fmt.Errorf("count rows of %s: %w", table, err)
		}
		out += fmt.Sprintf("%s %d  ", table, n)
	}
	return out, nil
}
