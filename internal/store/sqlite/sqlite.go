// Package sqlite is the embedded store.Store: one SQLite file in WAL mode,
// cgo-free (modernc.org/sqlite). Several processes may open the same file;
// SQLite's locks and a busy timeout serialize their writes.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/rules"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store backed by one SQLite file.
//
// Writes go through a pool of one connection whose transactions begin
// IMMEDIATE: the write lock is taken up front, so two writers never
// deadlock upgrading a read lock, and the busy timeout makes other
// processes wait their turn. Reads use their own pool, which in WAL mode
// never waits for the writer.
type Store struct {
	write *sql.DB
	read  *sql.DB
	id    string // the store's identity, read once at Open

	// stmts caches prepared write statements by SQL text: parsing the
	// multi-row statements costs more than running them.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt
	wanted []string // met inside a transaction, to prepare after it
	// reads caches prepared read statements (database/sql prepares each
	// once per reader connection): the dashboard counts every route's
	// queue each time its overview is read.
	reads map[string]*sql.Stmt

	// texts caches generated multi-row statement texts (tens of KB each)
	// by shape, so the hot path neither rebuilds nor reallocates them.
	textMu sync.Mutex
	texts  map[textKey]string

	// wal is the write-ahead log file; full tells that every commit
	// waits for fsync already (synchronous=FULL). syncMu guards walFile,
	// the log's descriptor syncWAL keeps, and walInfo, the file it is
	// (its folder is synced when it changes). syncErr is a failed sync's
	// error (see Fault).
	wal     string
	full    bool
	syncMu  sync.Mutex
	walFile *os.File
	walInfo os.FileInfo
	syncErr atomic.Pointer[error]
	// syncFile and syncFolder are dataSync and syncDir; tests replace
	// them to fail.
	syncFile   func(*os.File) error
	syncFolder func(string) error
	// ckpt copies the log into the file in the background; walSize is
	// the log file's size after the last commit, walHard its bound
	// (walHardBytes; tests lower it), walSkip how far past it the log
	// may grow before the next try after a busy one; busyMS is the
	// writer's busy timeout.
	ckpt    *checkpointer
	walSize atomic.Int64
	walSkip atomic.Int64
	walHard int64
	busyMS  int64
}

// textKey names the shape of a generated statement.
type textKey struct {
	kind string
	cols uint32 // kind-specific, e.g. which columns are shared
	rows int
}

// text returns the statement of shape k, built by build once.
func (s *Store) text(k textKey, build func() string) string {
	s.textMu.Lock()
	defer s.textMu.Unlock()
	if q, ok := s.texts[k]; ok {
		return q
	}
	q := build()
	if len(s.texts) < maxStmts {
		s.texts[k] = q
	}
	return q
}

// Page cache sizes. The writer's cache holds the pages the hot path
// touches (the right edges of the entries and attempts B-trees, the
// freelist, index leaves); beyond that SQLite reads pages back from the OS
// page cache cheaply. Readers serve the dashboard and the CLI.
const (
	writerCacheKiB = 8 << 10
	readerCacheKiB = 2 << 10
)

// maxStmts bounds the statement cache; chunked statements come in few sizes.
const maxStmts = 128

// Options tune Open. The zero value is the default.
type Options struct {
	// SynchronousFull makes every commit wait for fsync (PRAGMA
	// synchronous=FULL). The default, NORMAL, is durable across a crash or
	// kill -9 of the process in WAL mode, but a power loss or OS crash may
	// lose the last commits. In the path: "ferry.db?synchronous=full".
	SynchronousFull bool
	// BusyTimeout is how long a write waits for another process holding
	// the write lock; default 10s. In the path: "?busy_timeout=30s".
	BusyTimeout time.Duration
	// Readers is the size of the read pool; default 2. Each reader keeps
	// its own 2 MB page cache.
	Readers int
}

// Open opens (creating when missing) the SQLite file at path and applies
// pending migrations. path may carry options as a query:
// "ferry.db?synchronous=full&busy_timeout=30s".
func Open(ctx context.Context, path string) (*Store, error) {
	file, opts, err := parsePath(path)
	if err != nil {
		return nil, err
	}
	return OpenWith(ctx, file, opts)
}

// OpenWith is Open with explicit options; path is a plain file name.
func OpenWith(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite store: empty path")
	}
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	if opts.Readers <= 0 {
		opts.Readers = 2
	}
	sync := "NORMAL"
	if opts.SynchronousFull {
		sync = "FULL"
	}
	q := url.Values{}
	q.Set("_busy_timeout", strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10))
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", sync)
	// 8 KiB pages: 32 KiB pages made the store benchmarks ~5% faster, but
	// the engine's end-to-end benchmark showed the memory of the SQLite
	// allocator growing with the size of the database (peak RSS 113 MB at
	// 200k records, 162 MB at 1M), while with 8 KiB it stays flat (108 vs
	// 115 MB) at the same throughput (go run ./bench -flat). Takes effect
	// only when the file is created.
	q.Add("_pragma", "page_size(8192)")
	q.Add("_pragma", "temp_store(MEMORY)") // sorts for ORDER BY without temp files
	// No connection checkpoints on commit: a goroutine does, beside the
	// writer (see checkpoint.go). Entries are inserted and deleted within
	// seconds, so their pages are rewritten several times before a
	// checkpoint copies them to the file once.
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Add("_pragma", fmt.Sprintf("journal_size_limit(%d)", walHardBytes)) // cut the log back to its bound when it starts again
	// No foreign keys: attempts and dead letters deliberately outlive their
	// entries, so there is nothing for SQLite to enforce.

	wq := cloneValues(q)
	wq.Set("_txlock", "immediate")
	wq.Add("_pragma", fmt.Sprintf("cache_size(-%d)", writerCacheKiB))
	write, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxIdleTime(0)
	write.SetConnMaxLifetime(0)

	s := &Store{write: write, stmts: map[string]*sql.Stmt{}, texts: map[textKey]string{}, wal: path + "-wal", full: opts.SynchronousFull, syncFile: dataSync, syncFolder: syncDir, walHard: walHardBytes, busyMS: opts.BusyTimeout.Milliseconds()}
	// Migrate before the read pool opens, so the file is in WAL mode and
	// has its schema before any reader sees it.
	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}

	if err := s.ensureIncrementalVacuum(ctx); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	if err := write.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'store_id'`).Scan(&s.id); err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite store %q: read store identity: %w", path, err)
	}

	rq := cloneValues(q)
	rq.Set("_query_only", "1")
	rq.Add("_pragma", fmt.Sprintf("cache_size(-%d)", readerCacheKiB))
	read, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	read.SetMaxOpenConns(opts.Readers)
	read.SetMaxIdleConns(opts.Readers)
	read.SetConnMaxIdleTime(time.Minute) // give an idle reader's cache back
	if err := read.PingContext(ctx); err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	s.read = read

	cq := cloneValues(q)
	cq.Add("_pragma", "cache_size(-256)") // it reads the log and writes the file; no cache to speak of
	ckpt, err := sql.Open("sqlite", path+"?"+cq.Encode())
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("open sqlite store %q: %w", path, err)
	}
	ckpt.SetMaxOpenConns(1)
	ckpt.SetMaxIdleConns(1)
	ckpt.SetConnMaxIdleTime(time.Minute)
	if err := ckpt.PingContext(ctx); err != nil {
		write.Close()
		read.Close()
		ckpt.Close()
		return nil, fmt.Errorf("open sqlite store %q: checkpoint connection: %w", path, err)
	}
	s.ckpt = newCheckpointer(ckpt)
	return s, nil
}

// ID is the store's identity (32 hex digits), created once with the store.
func (s *Store) ID() string { return s.id }

// Close closes both pools.
func (s *Store) Close() error {
	s.stmtMu.Lock()
	var errs []error
	for _, st := range s.stmts {
		errs = append(errs, st.Close())
	}
	for _, st := range s.reads {
		errs = append(errs, st.Close())
	}
	s.reads = nil
	s.stmts = nil
	s.stmtMu.Unlock()
	s.syncMu.Lock()
	s.closeWALFile()
	s.syncMu.Unlock()
	// The writer closes last: the last connection to the file checkpoints
	// what is left of the log and removes it.
	return errors.Join(append(errs, s.ckpt.close(), s.read.Close(), s.write.Close())...)
}

// stmt returns q prepared on the writer and bound to tx. A statement
// not cached yet is prepared on tx this once and cached on the DB after tx
// ends (the single writer connection is busy until then); the cached one
// is prepared on that connection and reused without parsing.
func (s *Store) stmt(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	st, ok := s.stmts[q]
	if !ok && len(s.stmts)+len(s.wanted) < maxStmts && !slices.Contains(s.wanted, q) {
		s.wanted = append(s.wanted, q)
	}
	s.stmtMu.Unlock()
	if ok {
		return tx.StmtContext(ctx, st), nil
	}
	return tx.PrepareContext(ctx, q)
}

// readStmt returns q prepared on the read pool, preparing it the first
// time.
func (s *Store) readStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	st, ok := s.reads[q]
	closed := s.stmts == nil
	s.stmtMu.Unlock()
	if ok {
		return st, nil
	}
	if closed {
		return nil, errors.New("the store is closed")
	}
	// Prepared without the lock: it may wait for a reader connection,
	// and writers take the lock for their own statements.
	st, err := s.read.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if prev, dup := s.reads[q]; dup || s.stmts == nil {
		_ = st.Close()
		if dup {
			return prev, nil
		}
		return nil, errors.New("the store is closed")
	}
	if s.reads == nil {
		s.reads = map[string]*sql.Stmt{}
	}
	s.reads[q] = st
	return st, nil
}

// prepareWanted caches the statements stmt met for the first time. The
// lock is not held while preparing: that waits for the writer connection,
// which another transaction may hold while it asks for a statement.
func (s *Store) prepareWanted(ctx context.Context) {
	s.stmtMu.Lock()
	wanted := s.wanted
	s.wanted = nil
	s.stmtMu.Unlock()
	for _, q := range wanted {
		st, err := s.write.PrepareContext(ctx, q)
		if err != nil {
			continue // it runs unprepared next time and is tried again
		}
		s.stmtMu.Lock()
		if _, dup := s.stmts[q]; dup || s.stmts == nil {
			_ = st.Close()
		} else {
			s.stmts[q] = st
		}
		s.stmtMu.Unlock()
	}
}

// exec runs q in tx as a cached prepared statement.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	st, err := s.stmt(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// query runs q in tx as a cached prepared statement.
func (s *Store) query(ctx context.Context, tx *sql.Tx, q string, args ...any) (*sql.Rows, error) {
	st, err := s.stmt(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (s *Store) hasWanted() bool {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	return len(s.wanted) > 0
}

// parsePath splits "file?synchronous=full&busy_timeout=5s" into the file
// and its options, refusing keys it does not know.
func parsePath(path string) (string, Options, error) {
	var opts Options
	file, query, ok := strings.Cut(path, "?")
	if !ok {
		return path, opts, nil
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return "", opts, fmt.Errorf("store %q: bad options after '?': %w", path, err)
	}
	for k, vs := range q {
		v := vs[len(vs)-1]
		switch k {
		case "synchronous":
			switch strings.ToLower(v) {
			case "full":
				opts.SynchronousFull = true
			case "normal":
			default:
				return "", opts, fmt.Errorf("store %q: synchronous=%q: expected normal or full", path, v)
			}
		case "busy_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return "", opts, fmt.Errorf("store %q: busy_timeout=%q: expected a positive duration like 10s", path, v)
			}
			opts.BusyTimeout = d
		default:
			return "", opts, fmt.Errorf("store %q: unknown option %q: expected synchronous or busy_timeout", path, k)
		}
	}
	return file, opts, nil
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// ms and fromMS keep times as rules.MS and rules.FromMS do.
func ms(t time.Time) int64 { return rules.MS(t) }

func fromMS(v int64) time.Time { return rules.FromMS(v) }

// writeTx runs f in one write transaction (BEGIN IMMEDIATE).
func (s *Store) writeTx(ctx context.Context, what string, f func(tx *sql.Tx) error) error {
	durable := store.SyncRequested(ctx) && !s.full
	if durable {
		if err := s.Fault(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%s: begin: %w", what, err)
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: commit: %w", what, err)
	}
	s.walGrew(ctx)
	s.ckpt.committed()
	if durable {
		if err := s.syncWAL(); err != nil {
			return fmt.Errorf("%s: make the commit durable: %w", what, err)
		}
	}
	if s.hasWanted() {
		s.prepareWanted(ctx)
	}
	return nil
}

// checkPath names the usual reasons a store file cannot be opened, which
// SQLite reports only as "unable to open database file (14)".
func checkPath(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("store %s is a folder, not a file", path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("store %s: the folder %s does not exist", path, dir)
	case err != nil:
		return fmt.Errorf("store %s: %w", path, err)
	case !fi.IsDir():
		return fmt.Errorf("store %s: %s is not a folder", path, dir)
	}
	return nil
}

// syncWAL makes the commits so far durable against power loss: with
// synchronous=NORMAL SQLite syncs the write-ahead log only at
// checkpoints, so a commit survives a crash of ferry but not of the
// machine. fdatasync (dataSync) of the log flushes it all.
//
// The descriptor is kept open while the log file is the same: since
// Linux 4.13 a write-back error is reported to every descriptor open
// when it happened, but to at most one opened later, so a descriptor
// opened anew for each commit could get a clean answer after SQLite's
// own descriptor took the error. The first time a log file is synced,
// its folder is synced too (SQLite creates the file, and syncs the
// folder only when it syncs that log itself).
//
// A failed sync is not tried again: the kernel may have dropped the
// pages it could not write and report the next sync of the file as
// clean. From then on every durable commit fails (store.ErrSyncFailed)
// until ferry is restarted and SQLite's recovery reads the log from the
// disk, as PostgreSQL stops on a failed fsync.
func (s *Store) syncWAL() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if err := s.Fault(); err != nil {
		return err
	}
	fi, err := os.Stat(s.wal)
	if errors.Is(err, os.ErrNotExist) {
		// Checkpointed and removed: the database file is synced.
		s.closeWALFile()
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up %s: %w", s.wal, err)
	}
	newFile := s.walFile == nil || !os.SameFile(fi, s.walInfo)
	if newFile {
		s.closeWALFile()
		f, err := os.OpenFile(s.wal, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", s.wal, err)
		}
		s.walFile, s.walInfo = f, fi
	}
	if err := s.syncFile(s.walFile); err != nil {
		return s.fail(err)
	}
	if newFile {
		if err := s.syncFolder(filepath.Dir(s.wal)); err != nil {
			return s.fail(fmt.Errorf("sync the folder of %s: %w", s.wal, err))
		}
	}
	return nil
}

// closeWALFile closes the descriptor syncWAL keeps (with syncMu held).
func (s *Store) closeWALFile() {
	if s.walFile != nil {
		s.walFile.Close()
		s.walFile, s.walInfo = nil, nil
	}
}

// fail records a failed sync: the store refuses durable commits from now
// on (see syncWAL). It returns the error of the commit that met it.
func (s *Store) fail(err error) error {
	fault := fmt.Errorf("%w: %w", store.ErrSyncFailed, err)
	s.syncErr.CompareAndSwap(nil, &fault)
	return fmt.Errorf("sync the write-ahead log: %w", fault)
}

// Fault returns why the store refuses durable commits (a failed sync,
// see syncWAL), nil while it takes them (store.Faulter).
func (s *Store) Fault() error {
	if p := s.syncErr.Load(); p != nil {
		return *p
	}
	return nil
}
