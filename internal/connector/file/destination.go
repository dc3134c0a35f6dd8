package fileconn

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Destination writes each run's records to one file: <name>.part while
// the run goes on, renamed to <name> when it ends. Send makes every
// record durable (fsync) before it reports it OK.
type Destination struct {
	cfg    DestinationConfig
	dir    string
	name   *nameTemplate
	enc    encoder
	route  string
	logger *slog.Logger

	mu      sync.Mutex
	run     *runFile // nil between runs
	scratch []byte

	// mmu guards the feed manifest (taken after mu, or alone by Feed, so
	// listing the feed does not wait for a batch's fsync).
	mmu     sync.Mutex
	man     *manifest // as last read (loadManifest)
	manPath string
}

// runFile is the file of the run in progress.
type runFile struct {
	info    connector.RunInfo
	f       *os.File
	w       *bufio.Writer
	final   string // the name it gets when the run ends
	size    int64  // bytes written and synced
	records int
	broken  error // a failed write could not be undone: the run's file is left for recovery
}

// The interfaces the destination implements.
var (
	_ connector.Destination        = (*Destination)(nil)
	_ connector.RunScoped          = (*Destination)(nil)
	_ connector.Previewer          = (*Destination)(nil)
	_ connector.OneRequestPerBatch = (*Destination)(nil)
	_ connector.FeedPublisher      = (*Destination)(nil)
)

// NewDestination builds a destination from a config (defaults are applied
// to a copy); a relative folder is relative to env.Dir.
func NewDestination(env connector.Env, cfg DestinationConfig) (*Destination, error) {
	cfg.defaults()
	if err := cfg.check().err("destination"); err != nil {
		return nil, err
	}
	name, err := parseName(cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("file destination: name: %w", err)
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &Destination{
		cfg: cfg, dir: resolve(env.Dir, cfg.Dir), name: name, enc: newEncoder(&cfg),
		route: env.Route, logger: logger,
	}
	d.manPath = filepath.Join(d.dir, d.manifestFileName())
	return d, nil
}

// OneRequestPerBatch is false: every record is written on its own, and
// a failed write fails only what was not made durable.
func (d *Destination) OneRequestPerBatch() bool { return false }

// StartRun finishes the files of earlier runs of this route that died
// (their records were settled done), then opens this run's <name>.part.
func (d *Destination) StartRun(ctx context.Context, run connector.RunInfo) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if run.Route == "" {
		run.Route = d.route
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.run != nil { // an EndRun that never came: treat it as a run that died
		if err := d.finish(d.run, false); err != nil {
			d.logger.Warn("file destination: the previous run's file was not finished; the next start recovers it", "error", err)
		}
		d.run = nil
	}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		return fmt.Errorf("file destination: create %s: %w", d.dir, err)
	}
	d.mmu.Lock()
	err := d.loadManifest()
	d.mmu.Unlock()
	if err != nil {
		return err
	}
	if err := d.recoverParts(run.Route); err != nil {
		return err
	}
	final := d.name.render(run, d.enc.ext())
	if d.name.perRun() {
		// Two runs within one second (or the same date) make the same
		// name: number the later one rather than replace a file.
		base := final
		for n := 2; exists(filepath.Join(d.dir, final)) || exists(filepath.Join(d.dir, final+partSuffix)); n++ {
			final = numbered(base, n)
		}
	}
	path := filepath.Join(d.dir, final+partSuffix)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("file destination: start %s: %w", path, err)
	}
	rf := &runFile{info: run, f: f, w: bufio.NewWriterSize(f, 256<<10), final: final}
	if h := d.enc.header(); len(h) > 0 {
		if _, err := f.Write(h); err != nil {
			f.Close()
			return fmt.Errorf("file destination: write the header of %s: %w", path, err)
		}
		rf.size = int64(len(h))
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("file destination: sync %s: %w", path, err)
	}
	if err := syncDir(d.dir); err != nil {
		f.Close()
		return err
	}
	// Recorded so that a recovered .part keeps its run id.
	err = d.updateManifest(func(m *manifest) {
		m.part(final) // a stale entry of a .part that is gone
		m.Parts = append(m.Parts, manifestFile{RunID: run.ID, Name: final, Started: run.Started.UTC()})
	})
	if err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	d.run = rf
	return nil
}

// Send appends the batch's records to the run's file and syncs it; a
// record is OK only once its bytes are durable.
func (d *Destination) Send(ctx context.Context, batch []connector.Delivery) ([]connector.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	start := time.Now()
	results := make([]connector.Result, len(batch))
	rf := d.run
	if rf == nil || rf.broken != nil {
		msg := "no run's file is open (the engine did not call StartRun)"
		if rf != nil {
			msg = rf.broken.Error()
		}
		for i := range results {
			results[i] = connector.Result{Retryable: true, Error: "file destination: " + msg}
		}
		return results, nil
	}
	var (
		written []int
		n       int64
	)
	for i, dl := range batch {
		if dl.Deleted {
			results[i] = connector.Result{Error: fmt.Sprintf("file destination: cannot delete record %s: a file has no delete (send deletes to another destination)", dl.Key)}
			continue
		}
		b, err := d.enc.append(d.scratch[:0], dl.Record)
		d.scratch = b[:0]
		if err != nil {
			results[i] = connector.Result{Error: fmt.Sprintf("file destination: record %s cannot be written as %s: %v", dl.Key, d.cfg.Format, err)}
			continue
		}
		rf.w.Write(b) // a write error sticks; Flush reports it
		n += int64(len(b))
		results[i].Request = excerpt(b)
		written = append(written, i)
	}
	err := rf.w.Flush()
	if err == nil && len(written) > 0 {
		err = rf.f.Sync()
	}
	took := time.Since(start)
	if err != nil {
		err = fmt.Errorf("file destination: write %s: %w", filepath.Join(d.dir, rf.final+partSuffix), err)
		d.undo(rf, err)
		for _, i := range written {
			results[i] = connector.Result{Retryable: true, Error: err.Error(), Duration: took}
		}
		return results, nil
	}
	rf.size += n
	rf.records += len(written)
	response := "written to " + rf.final
	for _, i := range written {
		results[i].OK = true
		results[i].Response = response
		results[i].Duration = took
	}
	return results, nil
}

// undo cuts the file back to its last durable size after a failed write
// (a full disk), so the records that failed are not half in the file.
func (d *Destination) undo(rf *runFile, cause error) {
	err := rf.f.Truncate(rf.size)
	if err == nil {
		_, err = rf.f.Seek(rf.size, io.SeekStart)
	}
	if err == nil {
		err = rf.f.Sync()
	}
	rf.w.Reset(rf.f)
	if err != nil {
		rf.broken = fmt.Errorf("%w; undoing it failed too (%v): the run's file is left for the next run to recover", cause, err)
		d.logger.Error("file destination: cannot undo a failed write", "file", rf.final+partSuffix, "error", err)
	}
}

// EndRun closes the run's file and publishes it under its final name;
// a completed run's file also replaces latest. A run that did not
// complete is published too (its records were settled done), but latest
// keeps the last completed run's file.
func (d *Destination) EndRun(ctx context.Context, run connector.RunInfo, completed bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	rf := d.run
	if rf == nil {
		return nil
	}
	d.run = nil
	return d.finish(rf, completed)
}

func (d *Destination) finish(rf *runFile, completed bool) error {
	part := filepath.Join(d.dir, rf.final+partSuffix)
	if rf.broken != nil {
		rf.f.Close()
		return fmt.Errorf("file destination: %s not published: %w", part, rf.broken)
	}
	err := rf.w.Flush()
	if err == nil && d.cfg.Format == FormatJSON {
		err = closeJSON(rf.f, rf.size, rf.records > 0)
	}
	if err == nil {
		err = rf.f.Sync()
	}
	if cerr := rf.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("file destination: close %s (left for the next run to recover): %w", part, err)
	}
	final, err := d.publish(rf.final, rf.records > 0)
	if err != nil {
		return err
	}
	if final == "" { // no records, empty: skip
		return d.updateManifest(func(m *manifest) { m.part(rf.final) })
	}
	entry := manifestFile{
		RunID: rf.info.ID, Name: final, Records: rf.records, Complete: completed,
		Started: rf.info.Started.UTC(), Published: time.Now().UTC(),
	}
	if info, err := os.Stat(filepath.Join(d.dir, final)); err == nil {
		entry.Size = info.Size()
	}
	var latestErr, pruneErr error
	latest := false
	if completed && d.cfg.Latest != "" {
		latestErr = d.updateLatest(final)
		latest = latestErr == nil
	}
	var removed []string
	if latestErr == nil {
		removed, pruneErr = d.prune(rf.info.Route, final)
	}
	err = d.updateManifest(func(m *manifest) {
		m.part(rf.final)
		m.add(entry)
		if latest {
			l := entry
			m.Latest = &l
		}
		m.remove(removed...)
	})
	return errors.Join(latestErr, pruneErr, err)
}

// prune removes the oldest run files of the route beyond keep (never
// the one just published, nor latest, nor a .part) and returns their
// names.
func (d *Destination) prune(route, current string) ([]string, error) {
	if d.cfg.Keep <= 0 || !d.name.perRun() {
		return nil, nil
	}
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, fmt.Errorf("file destination: keep: %w", err)
	}
	match := d.name.matcher(route, d.enc.ext())
	type published struct {
		name string
		mod  time.Time
	}
	var files []published
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || name == d.cfg.Latest || name == current || strings.HasSuffix(name, partSuffix) || strings.HasPrefix(name, ".") {
			continue
		}
		if !match.MatchString(name) {
			if plain, ok := unnumbered(name); !ok || !match.MatchString(plain) {
				continue
			}
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile
		}
		files = append(files, published{name, info.ModTime()})
	}
	// Newest first: by time written, then by name ({run} sorts by time).
	slices.SortFunc(files, func(a, b published) int {
		if c := b.mod.Compare(a.mod); c != 0 {
			return c
		}
		return strings.Compare(b.name, a.name)
	})
	var removed []string
	for _, f := range files[min(len(files), d.cfg.Keep-1):] {
		if err := os.Remove(filepath.Join(d.dir, f.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("file destination: keep: remove %s: %w", f.name, err)
		}
		removed = append(removed, f.name)
	}
	return removed, nil
}

// publish renames a closed <name>.part to its final name (or removes it
// when it holds no record and empty: skip) and returns the name used.
func (d *Destination) publish(name string, hasRecords bool) (string, error) {
	part := filepath.Join(d.dir, name+partSuffix)
	if !hasRecords && d.cfg.Empty == "skip" {
		if err := os.Remove(part); err != nil {
			return "", fmt.Errorf("file destination: remove %s (no records): %w", part, err)
		}
		return "", syncDir(d.dir)
	}
	final := name
	if d.name.perRun() {
		var err error
		if final, err = freeName(d.dir, name); err != nil {
			return "", fmt.Errorf("file destination: publish %s: %w", part, err)
		}
	}
	if err := os.Rename(part, filepath.Join(d.dir, final)); err != nil {
		return "", fmt.Errorf("file destination: publish %s: %w", part, err)
	}
	return final, syncDir(d.dir)
}

// updateLatest replaces the latest file atomically by the run's file: a
// hard link (or a copy where links are not possible) under a temporary
// name, then a rename over latest.
func (d *Destination) updateLatest(final string) error {
	src := filepath.Join(d.dir, final)
	tmp := filepath.Join(d.dir, "."+d.cfg.Latest+".tmp")
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("file destination: latest: %w", err)
	}
	if err := os.Link(src, tmp); err != nil {
		if err := copyFile(src, tmp); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("file destination: latest: copy %s: %w", final, err)
		}
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, d.cfg.Latest)); err != nil {
		return fmt.Errorf("file destination: latest: %w", err)
	}
	return syncDir(d.dir)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

// closeJSON ends the array: the last record's ",\n" becomes "\n]\n".
func closeJSON(f *os.File, size int64, hasRecords bool) error {
	end := size
	tail := "]\n"
	if hasRecords {
		end = size - int64(len(jsonSep))
		tail = jsonClose
	}
	if err := f.Truncate(end); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(tail), end)
	return err
}

// recoverParts finishes the <name>.part files this route's runs left
// when they died: a torn last record is cut off (it was never reported
// OK), a JSON array is closed, and the file is published under its name
// (latest is not touched: the run did not complete).
func (d *Destination) recoverParts(route string) error {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return fmt.Errorf("file destination: list %s: %w", d.dir, err)
	}
	match := d.name.matcher(route, d.enc.ext())
	type recovered struct{ part, published string }
	var done []recovered
	defer func() {
		if len(done) == 0 {
			return
		}
		// Recorded as not complete: the run did not end.
		err := d.updateManifest(func(m *manifest) {
			for _, r := range done {
				f, ok := m.part(r.part)
				if r.published == "" {
					continue
				}
				if e := m.entry(r.published); !ok && e != nil {
					f = *e // loading the manifest took it in already
				}
				f.Name, f.Recovered, f.Complete = r.published, true, false
				f.Size, f.Records, _ = d.describe(filepath.Join(d.dir, r.published))
				f.Published = time.Now().UTC()
				m.add(f)
			}
		})
		if err != nil {
			d.logger.Warn("file destination: recovered files are not in the feed manifest", "error", err)
		}
	}()
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), partSuffix)
		if !ok || e.IsDir() {
			continue
		}
		if !match.MatchString(base) {
			if plain, ok := unnumbered(base); !ok || !match.MatchString(plain) {
				continue
			}
		}
		published, err := d.recoverPart(base)
		if err != nil {
			return err
		}
		done = append(done, recovered{base, published})
		d.logger.Warn("file destination: finished the file of a run that did not end", "file", base+partSuffix, "published", published)
	}
	return nil
}

// recoverPart repairs and publishes one <name>.part; it returns the name
// published ("" when it held no record and empty: skip).
func (d *Destination) recoverPart(name string) (string, error) {
	path := filepath.Join(d.dir, name+partSuffix)
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("file destination: recover %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	size := info.Size()
	var hasRecords bool
	switch d.cfg.Format {
	case FormatNDJSON:
		cut, err := lastLineEnd(f, size)
		if err != nil {
			return fail(err)
		}
		err = f.Truncate(cut)
		if err != nil {
			return fail(err)
		}
		hasRecords = cut > 0
	case FormatJSON:
		closed, empty, err := jsonClosed(f, size)
		if err != nil {
			return fail(err)
		}
		if closed { // died between closing and renaming
			hasRecords = !empty
			break
		}
		if hasRecords, err = repairJSON(f, size); err != nil {
			return fail(err)
		}
	case FormatCSV:
		cut, lines, err := csvLinesEnd(f)
		if err != nil {
			return fail(err)
		}
		if lines == 0 { // the header is torn: no record was written after it
			if err := rewrite(f, string(d.enc.header())); err != nil {
				return fail(err)
			}
		} else if err := f.Truncate(cut); err != nil {
			return fail(err)
		}
		hasRecords = lines > 1
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	return d.publish(name, hasRecords)
}

func rewrite(f *os.File, content string) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(content), 0)
	return err
}

// lastLineEnd returns the size of the file up to and including its last
// line break (0 when it has none), reading backwards.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// repairJSON closes the array of a JSON run file cut anywhere that is
// not closed yet: within a record's line (the partial line is cut off),
// or within the close, which replaces the last ",\n" by "\n]\n". It
// reports whether the array holds records.
func repairJSON(f *os.File, size int64) (bool, error) {
	cut, err := lastLineEnd(f, size)
	if err != nil {
		return false, err
	}
	if cut < int64(len(jsonOpen)) { // not even the opening line
		return false, rewrite(f, jsonOpen+"]\n")
	}
	tail := make([]byte, size-cut) // a partial line: at most one record
	if _, err := f.ReadAt(tail, cut); err != nil {
		return false, err
	}
	start, err := lastLineEnd(f, cut-1)
	if err != nil {
		return false, err
	}
	last := make([]byte, cut-1-start) // the last whole line, without its \n
	if _, err := f.ReadAt(last, start); err != nil {
		return false, err
	}
	hasRecords := string(last) != "["
	switch {
	case string(tail) == "]": // the close's "]" came, its "\n" not
		_, err = f.WriteAt([]byte("]\n"), cut)
		return hasRecords, err
	case len(tail) > 0 && json.Valid(bytes.TrimSuffix(tail, []byte(","))):
		// A whole record without its "\n" or ",\n": the close removed
		// them, or the write stopped right before. Kept (a record written
		// twice is better than one lost).
		end := cut + int64(len(bytes.TrimSuffix(tail, []byte(","))))
		if err := f.Truncate(end); err != nil {
			return false, err
		}
		_, err = f.WriteAt([]byte(jsonClose), end)
		return true, err
	}
	if err := f.Truncate(cut); err != nil { // the partial line goes
		return false, err
	}
	if bytes.HasSuffix(last, []byte(",")) {
		return true, closeJSON(f, cut, true)
	}
	// "[" (no record), or the last record after the close had removed
	// its comma and written the "\n".
	_, err = f.WriteAt([]byte("]\n"), cut)
	return hasRecords, err
}

// jsonClosed reports whether a JSON run file already ends with its "]"
// (record lines end with ",\n", so only a closed file ends with "]\n"),
// and whether it is the empty array.
func jsonClosed(f *os.File, size int64) (closed, empty bool, err error) {
	if size < 2 {
		return false, false, nil
	}
	tail := make([]byte, 2)
	if _, err := f.ReadAt(tail, size-2); err != nil {
		return false, false, err
	}
	return string(tail) == "]\n", size == int64(len(jsonOpen)+2), nil
}

// csvLinesEnd finds the end of the last complete CSV record: a line
// break outside quotes (the writer doubles quotes inside quoted values,
// so counting quotes tells inside from outside, whatever the
// delimiter). It returns that size and the records before it.
func csvLinesEnd(f *os.File) (int64, int, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return 0, 0, err
	}
	r := bufio.NewReaderSize(f, 64<<10)
	var (
		off, cut int64
		lines    int
		quoted   bool
	)
	for {
		b, err := r.ReadByte()
		if err == io.EOF {
			return cut, lines, nil
		}
		if err != nil {
			return 0, 0, err
		}
		off++
		switch {
		case b == '"':
			quoted = !quoted
		case b == '\n' && !quoted:
			cut = off
			lines++
		}
	}
}

// Preview renders a record as the run's file would hold it.
func (d *Destination) Preview(ctx context.Context, dl connector.Delivery) (connector.Preview, error) {
	if dl.Deleted {
		return connector.Preview{}, fmt.Errorf("file destination: cannot delete record %s: a file has no delete", dl.Key)
	}
	d.mu.Lock() // the encoder has buffers
	defer d.mu.Unlock()
	b, err := d.enc.append(nil, dl.Record)
	if err != nil {
		return connector.Preview{}, fmt.Errorf("record %s cannot be written as %s: %w", dl.Key, d.cfg.Format, err)
	}
	if d.cfg.Format == FormatJSON {
		b = bytes.TrimSuffix(b, []byte(jsonSep))
	}
	name := ""
	if d.run != nil {
		name = d.run.final
	}
	if name == "" {
		name = d.name.render(connector.RunInfo{Route: d.route, Started: time.Now()}, d.enc.ext())
	}
	return connector.Preview{Method: "WRITE", URL: filepath.Join(d.dir, name), Body: b}, nil
}

// excerpt is the start of what was written for a record, for its attempt.
func excerpt(b []byte) string {
	const limit = 512
	b = bytes.TrimRight(b, ",\n")
	if len(b) > limit {
		return string(b[:limit]) + "…"
	}
	return string(b)
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
