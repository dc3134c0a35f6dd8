package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fill writes n transactions of rows blobs of size bytes each.
func fill(t *testing.T, s *Store, n, rows, size int) {
	t.Helper()
	ctx := context.Background()
	blob := make([]byte, size)
	for range n {
		err := s.writeTx(ctx, "fill", func(tx *sql.Tx) error {
			for range rows {
				if _, err := tx.ExecContext(ctx, `INSERT INTO scratch (b) VALUES (?)`, blob); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func openScratch(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.write.Exec(`CREATE TABLE scratch (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	return s, path
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// The writer never checkpoints inside a commit (its fsyncs stalled every
// write); the log still reaches the database file while the store is
// open, copied by the background checkpointer.
func TestCheckpointsRunBesideTheWriter(t *testing.T) {
	s, path := openScratch(t)
	if got := pragmaInt(t, s.write, "wal_autocheckpoint"); got != 0 {
		t.Fatalf("the writer checkpoints every %d pages on commit, want never (0)", got)
	}
	before := fileSize(t, path)
	const total = 8 << 20
	fill(t, s, 32, 64, total/32/64) // 8 MB in 32 commits
	deadline := time.Now().Add(10 * time.Second)
	for fileSize(t, path) < before+total && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := fileSize(t, path); got < before+total {
		t.Fatalf("database file %d bytes after writing %d bytes: the log was not checkpointed in the background", got, total)
	}
}

// setWALBound makes hard the log's bound, as walHardBytes is in a
// store: the size past which the writer restarts the log, and the size
// SQLite cuts the file back to when it does (journal_size_limit).
func setWALBound(t *testing.T, s *Store, hard int64) {
	t.Helper()
	s.walHard = hard
	if _, err := s.write.Exec(fmt.Sprintf(`PRAGMA journal_size_limit = %d`, hard)); err != nil {
		t.Fatal(err)
	}
}

// Under writes that never pause, a checkpoint beside the writer always
// finds new frames behind it; past the hard limit the writer catches up,
// so the log starts again instead of growing for ever. It starts again
// in the same file, kept at its size: the writes after that overwrite it
// in place, and a durable commit's fsync then flushes data only (an
// appended file changes size at every commit, and its fsync commits the
// file system's journal too).
func TestWriteAheadLogStaysBounded(t *testing.T) {
	if s, _ := openScratch(t); pragmaInt(t, s.write, "journal_size_limit") != walHardBytes {
		t.Fatalf("journal_size_limit = %d, want the log's bound %d: the file would not be cut back when the log restarts",
			pragmaInt(t, s.write, "journal_size_limit"), walHardBytes)
	}
	for _, tc := range []struct {
		hard    int64
		bounded bool
	}{{1 << 20, true}, {1 << 40, false}} {
		s, path := openScratch(t)
		setWALBound(t, s, tc.hard)
		const rows, size = 200 * 16, 4096 // one row per 8 KiB page: 26 MB of pages
		var last int64
		for range rows / 16 {
			fill(t, s, 1, 16, size)
			wal := fileSize(t, path+"-wal")
			if wal < last && wal < tc.hard {
				t.Fatalf("log file cut from %d to %d bytes (bound %d): it must be kept and overwritten", last, wal, tc.hard)
			}
			last = wal
		}
		wal, written := fileSize(t, path+"-wal"), int64(rows*8192)
		// The log may pass the 1 MB limit by one transaction (16 pages).
		if bounded := wal < 2<<20; bounded != tc.bounded {
			t.Errorf("hard limit %d bytes: log of %d bytes after writing %d bytes of pages back to back; bounded = %v, want %v",
				tc.hard, wal, written, bounded, tc.bounded)
		}
	}
}

// Close stops the checkpointer and leaves a complete file: the last
// connection checkpoints the rest and removes the log.
func TestCloseCheckpointsTheRest(t *testing.T) {
	s, path := openScratch(t)
	fill(t, s, 4, 64, 4096)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !os.IsNotExist(err) {
		t.Fatalf("log left after Close: %v", err)
	}
	s2, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if n := count(t, s2.write, "scratch"); n != 4*64 {
		t.Fatalf("%d rows after reopening, want %d", n, 4*64)
	}
}

// A reader on an old snapshot (a long export) keeps the log from being
// restarted; the writer's catch-up must not wait for it, commit after
// commit, for the busy timeout: it tries once, and again only when the
// log has grown by another limit.
func TestLongReadDoesNotStallTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.db")
	s, err := OpenWith(context.Background(), path, Options{BusyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.write.Exec(`CREATE TABLE scratch (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	setWALBound(t, s, 1<<20)
	fill(t, s, 4, 16, 4096)
	rtx, err := s.read.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rtx.Rollback()
	var n int
	if err := rtx.QueryRow(`SELECT count(*) FROM scratch`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	fill(t, s, 20, 16, 4096) // 2.6 MB more: past the limit, twice
	// Waiting for the reader even once takes the whole busy timeout.
	if d := time.Since(start); d >= 5*time.Second {
		t.Fatalf("20 commits took %v with a reader open: the writer waited for it", d)
	}
}

// A reader that kept the log from restarting raises the size of the next
// try; once the log has restarted on its own (the file was cut back), the
// bound is the bound again, not that size plus the bound.
func TestLogBoundComesBackAfterALongRead(t *testing.T) {
	s, path := openScratch(t)
	setWALBound(t, s, 1<<20)
	s.walSkip.Store(64 << 20) // as a long export leaves it
	fill(t, s, 20, 16, 4096)  // 2.6 MB of log: kept, as the reader was there
	if wal := fileSize(t, path+"-wal"); wal < 2<<20 {
		t.Fatalf("log of %d bytes; want it past 2 MB while a reader's size is skipped", wal)
	}
	// The background checkpoint catches up while the writer pauses; the
	// next commit then starts the log again and SQLite cuts the file.
	s.ckpt.mu.Lock()
	err := checkpoint(context.Background(), s.ckpt.db)
	s.ckpt.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, 1, 16, 4096)
	if wal := fileSize(t, path+"-wal"); wal > 1<<20 {
		t.Fatalf("log of %d bytes after a commit on a copied log; want it cut back to 1 MB", wal)
	}
	fill(t, s, 20, 16, 4096)
	if wal := fileSize(t, path+"-wal"); wal >= 2<<20 {
		t.Fatalf("log of %d bytes after 2.6 MB more; want it bounded again (under 2 MB)", wal)
	}
}
