package sqlite

import (
	"context"
	"database/sql"
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
	// then runs a TRUNCATE checkpoint on the writer's connection, with
	// the next writes waiting: it waits for the background checkpoint and
	// for readers of the log, copies the rest and empties the file, so the
	// next commit that grows it past this size is again one whose log is
	// that long. (RESTART keeps the file: the log would pass its old end
	// by one more transaction each round.)
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

// walGrew is called after each commit of the writer. Past walHardBytes,
// a commit that made the log file longer catches the checkpoint up on
// the writer's connection (see walHardBytes).
func (s *Store) walGrew(ctx context.Context) {
	fi, err := os.Stat(s.wal)
	if err != nil {
		return
	}
	size := fi.Size()
	if grew := size > s.walSize.Swap(size); grew && size > s.walHard {
		// A failure (a reader held the log for the whole busy timeout)
		// leaves the log longer for now; the next commit that grows it
		// tries again.
		s.ckpt.mu.Lock()
		defer s.ckpt.mu.Unlock()
		_, _ = s.write.ExecContext(context.WithoutCancel(ctx), `PRAGMA wal_checkpoint(TRUNCATE)`)
	}
}
