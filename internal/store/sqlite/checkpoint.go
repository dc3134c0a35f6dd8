package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"time"
)

// Checkpoints copy the write-ahead log into the database file. SQLite's
// automatic checkpoint runs inside the commit that crosses its threshold,
// and ends with two fsyncs: on these machines the writer then stood still
// for 10–80 ms every 8 MB of log (1.4 s of a 5 s benchmark run), while the
// engine's sender and reader waited for it. The writer connection
// therefore never checkpoints; a goroutine with its own connection does,
// beside the writer (a PASSIVE checkpoint takes no write lock), and the
// fsyncs wait there. Commits stay exactly as durable: in WAL mode a commit
// is in the log, whether or not it has been copied yet.
const (
	// checkpointEvery paces the background checkpoints under a steady
	// stream of commits.
	checkpointEvery = 100 * time.Millisecond
	// walHardBytes bounds the log (the journal_size_limit it is cut back
	// to). A checkpoint beside a writer that never pauses always finds
	// new frames behind it, and the log starts again from its beginning
	// only when a write finds it wholly copied: it would grow for ever.
	// The log file grows only while the log is at its end, so a commit
	// that grew the file past this size knows the log is that long; it
	// then runs a RESTART checkpoint on the writer's connection, with the
	// next writes waiting: it waits for the background checkpoint (not
	// for readers: see restartWAL) and copies the rest, so the next
	// commit starts the log again at the file's beginning and SQLite cuts
	// the file back to this size (journal_size_limit).
	//
	// The file is kept, not truncated (a TRUNCATE checkpoint did that
	// until 2026-11-30): the writes after a restart overwrite it in
	// place, so the fdatasync of a durable commit (syncWAL) flushes data
	// only, where an appended log changed the file's size at every
	// commit and made each sync commit the file system's journal too.
	// With the webhook benchmark the TRUNCATE stopped the writer for
	// 100–135 ms every 64 MB of log (the slowest 202s); RESTART for 30–60.
	walHardBytes = 64 << 20
)

// checkpointer runs the background checkpoints of one store.
type checkpointer struct {
	db *sql.DB // its own connection to the file
	// mu is held by every checkpoint of this process: SQLite does not
	// wait for another connection's checkpoint, it fails at once.
	mu   sync.Mutex
	wake chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

func newCheckpointer(db *sql.DB) *checkpointer {
	ctx, stop := context.WithCancel(context.Background())
	c := &checkpointer{db: db, wake: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	go c.loop(ctx)
	return c
}

// committed tells the checkpointer that the log grew; it never blocks.
func (c *checkpointer) committed() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// close stops the loop (interrupting a checkpoint under way, which is
// safe) and closes the
// connection. The writer's connection, closed last, checkpoints what is
// left and removes the log.
func (c *checkpointer) close() error {
	c.stop()
	<-c.done
	return c.db.Close()
}

func (c *checkpointer) loop(ctx context.Context) {
	defer close(c.done)
	pace := time.NewTimer(0)
	defer pace.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		select { // at most one checkpoint per checkpointEvery
		case <-ctx.Done():
			return
		case <-pace.C:
		}
		// A failed checkpoint is tried again after the next commit: the
		// log only stays longer meanwhile, nothing is lost.
		c.mu.Lock()
		_ = checkpoint(ctx, c.db)
		c.mu.Unlock()
		pace.Reset(checkpointEvery)
	}
}

// checkpoint runs a PASSIVE checkpoint on db: it copies what it can
// without waiting for anyone.
func checkpoint(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
	return err
}

// walGrew is called after each commit of the writer. Past the limit
// (walHard), a commit that made the log file longer catches the
// checkpoint up on the writer's connection (see walHardBytes).
func (s *Store) walGrew(ctx context.Context) {
	fi, err := os.Stat(s.wal)
	if err != nil {
		return
	}
	size := fi.Size()
	last := s.walSize.Swap(size)
	if size < last {
		// SQLite cut the file back: the log started again on its own (the
		// background checkpoint had caught up), so a reader that made
		// the last try fail holds it no more.
		s.walSkip.Store(0)
	}
	if size <= last || size <= s.walHard+s.walSkip.Load() {
		return
	}
	s.ckpt.mu.Lock()
	defer s.ckpt.mu.Unlock()
	busy, err := s.restartWAL(context.WithoutCancel(ctx))
	switch {
	case err == nil && !busy:
		s.walSkip.Store(0)
	default:
		// A reader still on an old snapshot (a long export, ferry store
		// copy --live) keeps the log: the commit does not wait for it,
		// and the next try comes when the log has grown by another
		// walHard, not at every commit.
		s.walSkip.Store(size)
	}
}

// restartWAL runs a RESTART checkpoint on the writer's connection
// without waiting: RESTART holds the write lock while it waits for
// readers, so a busy timeout would stop every writer behind one long read.
// busy tells that a reader (or another process) kept it from finishing.
func (s *Store) restartWAL(ctx context.Context) (busy bool, err error) {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		return false, err
	}
	defer conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, s.busyMS)) //nolint:errcheck // restored as it was set at Open
	var blocked, frames, copied int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(RESTART)`).Scan(&blocked, &frames, &copied); err != nil {
		return false, err
	}
	return blocked != 0, nil
}
