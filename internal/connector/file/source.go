package fileconn

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/expr"
)

// doneDir is where after_read: move puts a file whose records are
// queued; failedDir where invalid: move puts a file that cannot be read.
const (
	doneDir   = "done"
	failedDir = "failed"
)

// Source reads the files of a folder that match a glob, in name order,
// each streamed page by page. A file is moved to done/ (or deleted) by
// the Ack of its last page, that is once all its records are queued.
type Source struct {
	cfg       SourceConfig
	dir       string
	logger    *slog.Logger
	maxRecord int64 // bytes one record may take; tests lower it
}

// NewSource builds a source from a config (defaults are applied to a
// copy); relative folders are relative to env.Dir.
func NewSource(env connector.Env, cfg SourceConfig) (*Source, error) {
	cfg.defaults()
	if err := cfg.check().err("source"); err != nil {
		return nil, err
	}
	logger := env.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Source{cfg: cfg, dir: resolve(env.Dir, cfg.Dir), logger: logger, maxRecord: maxRecord}, nil
}

func resolve(base, dir string) string {
	if filepath.IsAbs(dir) || base == "" {
		return filepath.Clean(dir)
	}
	return filepath.Join(base, dir)
}

// Read reads every matching file. Files are consumed, not cursored, so
// req is not used: a full read and an incremental one are the same.
func (s *Source) Read(ctx context.Context, _ connector.ReadRequest, fn func(context.Context, connector.Page) error) error {
	names, err := s.files()
	if err != nil {
		return err
	}
	pageNo := 0
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := s.readFile(ctx, name, &pageNo, fn)
		var bad *invalidFile
		switch {
		case err == nil:
		case errors.Is(err, connector.ErrStop):
			return nil
		case errors.As(err, &bad) && s.cfg.Invalid == "move":
			if err := s.moveInvalid(bad); err != nil {
				return err
			}
		default:
			return err
		}
	}
	return nil
}

// invalidFile is a file whose content cannot be read as records: the
// file and the line are named.
type invalidFile struct {
	name string
	err  error
}

func (e *invalidFile) Error() string { return e.name + " " + e.err.Error() }
func (e *invalidFile) Unwrap() error { return e.err }

// moveInvalid puts a file that cannot be read into failed/ (invalid:
// move), with the reason beside it in <name>.error, so the files after
// it are read.
func (s *Source) moveInvalid(bad *invalidFile) error {
	failed := filepath.Join(s.dir, failedDir)
	if err := os.MkdirAll(failed, 0o755); err != nil {
		return fmt.Errorf("file source: %v; create %s: %w", bad, failed, err)
	}
	target, err := freeName(failed, bad.name)
	if err != nil {
		return fmt.Errorf("file source: %v; move it to %s: %w", bad, failedDir, err)
	}
	note := filepath.Join(failed, target+".error")
	if err := os.WriteFile(note, []byte(bad.Error()+"\n"), 0o644); err != nil {
		return fmt.Errorf("file source: %v; write %s: %w", bad, note, err)
	}
	if err := os.Rename(filepath.Join(s.dir, bad.name), filepath.Join(failed, target)); err != nil {
		return fmt.Errorf("file source: %v; move it to %s: %w", bad, failedDir, err)
	}
	s.logger.Warn("file source: a file that cannot be read was moved to "+failedDir+"/", "file", bad.name, "to", filepath.Join(failedDir, target), "error", bad.err)
	if err := syncDir(failed); err != nil {
		return err
	}
	return syncDir(s.dir)
}

// files lists the names to read, sorted: regular files matching the glob,
// not hidden, and (with settle) not modified too recently.
func (s *Source) files() ([]string, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("file source: folder %s does not exist", s.dir)
		}
		return nil, fmt.Errorf("file source: list %s: %w", s.dir, err)
	}
	settled := time.Now().Add(-time.Duration(s.cfg.Settle))
	var names []string
	for _, e := range entries { // ReadDir sorts by name
		name := e.Name()
		if strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		if ok, _ := filepath.Match(s.cfg.Glob, name); !ok {
			continue
		}
		info, err := os.Stat(filepath.Join(s.dir, name)) // follows a symbolic link
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // gone since the listing
			}
			return nil, fmt.Errorf("file source: %w", err)
		}
		if !info.Mode().IsRegular() {
			continue
		}
		if s.cfg.Settle > 0 && info.ModTime().After(settled) {
			s.logger.Debug("file not settled yet, skipped", "file", name, "modified", info.ModTime(), "settle", time.Duration(s.cfg.Settle))
			continue
		}
		names = append(names, name)
	}
	return names, nil
}

// readFile hands one file's records to fn page by page. It reads one
// record ahead so that the last page is known: its Ack consumes the file.
func (s *Source) readFile(ctx context.Context, name string, pageNo *int, fn func(context.Context, connector.Page) error) error {
	path := filepath.Join(s.dir, name)
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // moved away since the listing
		}
		return fmt.Errorf("file source: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("file source: %w", err)
	}
	var in io.Reader = f
	if strings.HasSuffix(name, ".gz") { // decompressed as it is read
		zr, err := gzip.NewReader(bufio.NewReaderSize(f, 64<<10))
		if err != nil {
			return &invalidFile{name, lineError{1, fmt.Errorf("not a gzip file: %w", err)}}
		}
		defer zr.Close()
		in = zr
	}
	rr, err := s.newReader(in)
	if err != nil {
		return &invalidFile{name, err}
	}
	var (
		peeked  connector.Record
		peekLn  int
		hasPeek bool
	)
	next := func() (connector.Record, int, error) {
		if hasPeek {
			hasPeek = false
			return peeked, peekLn, nil
		}
		return rr.next()
	}
	for eof := false; !eof; {
		if err := ctx.Err(); err != nil {
			return err
		}
		records := make([]connector.SourceRecord, 0, min(s.cfg.PageSize, 1024))
		first, last := 0, 0
		for len(records) < s.cfg.PageSize {
			rec, line, err := next()
			if err == io.EOF {
				eof = true
				break
			}
			if err != nil {
				return &invalidFile{name, err}
			}
			if s.cfg.FileField != "" {
				rec[s.cfg.FileField] = name
			}
			sr, err := s.sourceRecord(rec)
			if err != nil {
				return &invalidFile{name, lineError{line, err}}
			}
			records = append(records, sr)
			if first == 0 {
				first = line
			}
			last = line
		}
		if !eof {
			rec, line, err := rr.next()
			switch {
			case err == io.EOF:
				eof = true
			case err != nil:
				return &invalidFile{name, err}
			default:
				peeked, peekLn, hasPeek = rec, line, true
			}
		}
		*pageNo++
		page := connector.Page{Number: *pageNo, Records: records, Ack: noAck}
		switch {
		case len(records) == 0:
			page.URL = "file " + name + " (no records)"
		case first == last:
			page.URL = fmt.Sprintf("file %s line %d", name, first)
		default:
			page.URL = fmt.Sprintf("file %s lines %d-%d", name, first, last)
		}
		if eof {
			// Closed before the last page is handed over: the Ack may
			// move the file, which Windows refuses for an open file.
			f.Close()
			page.Ack = s.acker(name, info)
		}
		if err := fn(ctx, page); err != nil {
			return err
		}
	}
	return nil
}

func noAck(context.Context) error { return nil }

// sourceRecord extracts the key.
func (s *Source) sourceRecord(rec connector.Record) (connector.SourceRecord, error) {
	v, ok := lookup(rec, s.cfg.Key)
	if !ok || v == nil {
		return connector.SourceRecord{}, fmt.Errorf("the record has no key field %q", s.cfg.Key)
	}
	switch v.(type) {
	case map[string]any, []any:
		return connector.SourceRecord{}, fmt.Errorf("key field %q is %s (expected a string or number)", s.cfg.Key, describe(v))
	}
	key := expr.Stringify(v)
	if key == "" {
		return connector.SourceRecord{}, fmt.Errorf("key field %q is empty", s.cfg.Key)
	}
	return connector.SourceRecord{Key: key, Data: rec}, nil
}

// lookup finds a field by its exact name, else by a dotted path into
// nested objects.
func lookup(rec map[string]any, path string) (any, bool) {
	if v, ok := rec[path]; ok {
		return v, true
	}
	var cur any = rec
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func describe(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return "a number"
}

// acker returns the Ack of a file's last page: move it to done/ or
// delete it. The file read is identified by info: if a producer has
// replaced it since (same name, new content), the new file is left for
// the next read instead of being consumed unread.
func (s *Source) acker(name string, info os.FileInfo) func(context.Context) error {
	return func(ctx context.Context) error {
		path := filepath.Join(s.dir, name)
		now, err := os.Stat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // already consumed (an Ack called twice)
		}
		if err != nil {
			return fmt.Errorf("file source: acknowledge %s: %w", name, err)
		}
		if !os.SameFile(info, now) || now.Size() != info.Size() || !now.ModTime().Equal(info.ModTime()) {
			s.logger.Warn("file changed while it was read; left in place to be read again", "file", name)
			return nil
		}
		if s.cfg.AfterRead == "delete" {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("file source: delete %s after reading it: %w", name, err)
			}
			return syncDir(s.dir)
		}
		done := filepath.Join(s.dir, doneDir)
		if err := os.MkdirAll(done, 0o755); err != nil {
			return fmt.Errorf("file source: create %s: %w", done, err)
		}
		target, err := freeName(done, name)
		if err != nil {
			return fmt.Errorf("file source: move %s to %s: %w", name, doneDir, err)
		}
		if err := os.Rename(path, filepath.Join(done, target)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("file source: move %s to %s: %w", name, doneDir, err)
		}
		if err := syncDir(done); err != nil {
			return err
		}
		return syncDir(s.dir)
	}
}

// freeName returns name, or name-2, name-3... (before the extension),
// whichever does not exist in dir yet: a file of the same name read
// earlier is kept, not replaced.
func freeName(dir, name string) (string, error) {
	for n := 1; ; n++ {
		candidate := name
		if n > 1 {
			candidate = numbered(name, n)
		}
		_, err := os.Lstat(filepath.Join(dir, candidate))
		if errors.Is(err, fs.ErrNotExist) {
			return candidate, nil
		}
		if err != nil {
			return "", err
		}
	}
}

// newReader starts reading a file in the configured format.
func (s *Source) newReader(f io.Reader) (recordReader, error) {
	br := bufio.NewReaderSize(f, 64<<10)
	if b, err := br.Peek(3); err == nil && string(b) == "\uFEFF" {
		br.Discard(3) // a UTF-8 byte order mark, as spreadsheet programs write
	}
	switch s.cfg.Format {
	case FormatCSV:
		return newCSVReader(br, &s.cfg, s.maxRecord)
	case FormatNDJSON:
		return &ndjsonReader{br: br, limit: s.maxRecord}, nil
	default:
		return newJSONReader(br, s.maxRecord, s.cfg.Records)
	}
}

// recordReader yields a file's records with the line each starts on;
// io.EOF at the end. Errors are lineErrors.
type recordReader interface {
	next() (connector.Record, int, error)
}

// lineError places a problem in a file: "line 57: ...".
type lineError struct {
	line int
	err  error
}

func (e lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e lineError) Unwrap() error { return e.err }
