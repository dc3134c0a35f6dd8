package sqlconn

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/ferry-dev/ferry/internal/connector"
)

// Source reads a query page by page with keyset pagination: each page is
// one query, the user's SELECT wrapped as a subquery, ordered by cursor
// and key and started strictly after the last (cursor, key) read, so rows
// sharing one cursor value are neither skipped nor repeated, and only one
// page of rows is ever in memory.
type Source struct {
	db       *DB
	cfg      SourceConfig
	query    string
	jsonCols map[string]bool

	mu   sync.Mutex
	cols []column // learnt from the query's result at the first read
	key  int      // index of the key column in cols
	cur  int      // index of the cursor column, -1 without a cursor
}

var (
	_ connector.Source      = (*Source)(nil)
	_ connector.Incremental = (*Source)(nil)
	_ connector.KeyChecker  = (*Source)(nil)
)

func buildSource(_ context.Context, env connector.Env, cfg any) (connector.Source, error) {
	c := *cfg.(*SourceConfig)
	defaultSource(&c)
	c.Capture = c.Capture.forRoute(env.Route, c.Key).withLogger(env.Logger)
	db, err := system(env, c.System)
	if err != nil {
		return nil, fmt.Errorf("sql source: %w", err)
	}
	return NewSource(db, c)
}

// NewSource builds a source on db (no query runs before the first Read).
func NewSource(db *DB, c SourceConfig) (*Source, error) {
	defaultSource(&c)
	if trimQuery(c.Query) == "" || c.Key == "" {
		return nil, fmt.Errorf("sql source on %s: query and key are required", db.where)
	}
	// The query ends with a newline: wrapped as a subquery, a trailing
	// -- comment must not swallow the closing parenthesis.
	s := &Source{db: db, cfg: c, query: trimQuery(c.Query) + "\n", jsonCols: map[string]bool{}, cur: -1}
	for _, j := range c.JSON {
		s.jsonCols[j] = true
	}
	return s, nil
}

// Incremental reports whether the source has a cursor column.
func (s *Source) Incremental() bool { return s.cfg.Cursor != "" }

// describe learns the query's columns once and finds the key and cursor
// among them (case-insensitively when the exact name is not there, as
// PostgreSQL folds unquoted names to lower case).
func (s *Source) describe(ctx context.Context) ([]column, int, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cols != nil {
		return s.cols, s.key, s.cur, nil
	}
	rows, err := s.db.query(ctx, "SELECT * FROM ("+s.query+") q WHERE 1=0")
	if err != nil {
		return nil, 0, 0, s.db.errorf(err, "%s: query", s.db.where)
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, 0, 0, s.db.errorf(err, "%s: query columns", s.db.where)
	}
	cols := columnsOf(s.db.dialect, cts, s.jsonCols)
	key, err := findColumn(cols, s.cfg.Key, "key")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", s.db.where, err)
	}
	cur := -1
	if s.cfg.Cursor != "" {
		if cur, err = findColumn(cols, s.cfg.Cursor, "cursor"); err != nil {
			return nil, 0, 0, fmt.Errorf("%s: %w", s.db.where, err)
		}
		// The engine keeps the cursor's safe mark by comparing values
		// (numbers as numbers, times as instants); text ordered by a
		// collation ("10" < "9", case-insensitive) may disagree, and a
		// read cut short would then skip the rest of a group (found by
		// review). SQLite compares text byte by byte, as ferry does for
		// text that is not a number or a time.
		switch cols[cur].kind {
		case kInt, kDecimal, kFloat, kDate, kTime:
		default:
			if s.db.dialect.name != "sqlite" {
				return nil, 0, 0, fmt.Errorf("%s: cursor column %q is %s: the database orders it by its own rules (text by a collation), which ferry cannot follow; use a timestamp, date or number column (or cast it in the query, e.g. CAST(code AS INTEGER) AS code_n)", s.db.where, cols[cur].name, strings.ToLower(cols[cur].dbType))
			}
		}
	}
	for j := range s.cfg.JSON {
		if _, err := findColumn(cols, s.cfg.JSON[j], "json"); err != nil {
			return nil, 0, 0, fmt.Errorf("%s: %w", s.db.where, err)
		}
	}
	s.cols, s.key, s.cur = cols, key, cur
	return cols, key, cur, nil
}

func findColumn(cols []column, name, field string) (int, error) {
	found := -1
	for i, c := range cols {
		if c.name == name {
			return i, nil
		}
		if strings.EqualFold(c.name, name) {
			found = i
		}
	}
	if found >= 0 {
		return found, nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = c.name
	}
	return 0, fmt.Errorf("%s: the query returns no column %q (its columns: %s)", field, name, strings.Join(names, ", "))
}

// position is where the next page starts.
type position struct {
	nullPhase bool // reading the rows whose cursor is NULL (by key)
	cursor    any  // last cursor value (nil: from the start)
	key       any  // last key value (nil: strictly after cursor)
	started   bool // a row was read in this phase
}

// pageQuery builds the SQL and arguments of the next page.
func (s *Source) pageQuery(cols []column, keyI, curI int, pos position) (string, []any) {
	d := s.db.dialect
	k := "q." + d.quote(cols[keyI].name)
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return d.ph(len(args))
	}
	where = append(where, k+" IS NOT NULL")
	var order string
	switch {
	case curI < 0:
		if pos.key != nil {
			where = append(where, k+" > "+arg(pos.key))
		}
		order = k
	case pos.nullPhase:
		c := "q." + d.quote(cols[curI].name)
		where = append(where, c+" IS NULL")
		if pos.key != nil {
			where = append(where, k+" > "+arg(pos.key))
		}
		order = k
	default:
		c := "q." + d.quote(cols[curI].name)
		switch {
		case pos.cursor == nil:
			where = append(where, c+" IS NOT NULL")
		case pos.key == nil:
			where = append(where, c+" > "+arg(pos.cursor))
		case d.name == "mysql":
			// MariaDB plans row-value comparisons poorly; this form gives
			// it the range on the cursor.
			p := arg(pos.cursor)
			where = append(where, c+" >= "+p+" AND ("+c+" > "+arg(pos.cursor)+" OR "+k+" > "+arg(pos.key)+")")
		default:
			where = append(where, "("+c+", "+k+") > ("+arg(pos.cursor)+", "+arg(pos.key)+")")
		}
		order = c + ", " + k
	}
	sel := "*"
	if s.rawCursor(cols, curI) {
		sel = "q.*, CAST(q." + d.quote(cols[curI].name) + " AS TEXT)"
	}
	q := "SELECT " + sel + " FROM (" + s.query + ") q WHERE " + strings.Join(where, " AND ") +
		" ORDER BY " + order + " LIMIT " + strconv.Itoa(s.cfg.PageSize)
	return q, args
}

// rawCursor: the cursor is a SQLite date or time column. The driver
// parses such text into a time, but SQLite compares the stored text, so
// the page query also selects the cursor as text and pages continue from
// (and SourceRecord.Cursor holds) the text exactly as stored.
func (s *Source) rawCursor(cols []column, curI int) bool {
	return curI >= 0 && s.db.dialect.name == "sqlite" && (cols[curI].kind == kTime || cols[curI].kind == kDate)
}

// Read reads every page after req.Cursor (strictly after: the engine
// never stops in the middle of a group of rows sharing one cursor value),
// or everything in full mode.
func (s *Source) Read(ctx context.Context, req connector.ReadRequest, fn func(context.Context, connector.Page) error) error {
	// Learn the columns afresh at each read: a column added or changed
	// while ferry runs must not break the scan of every later page (nor
	// every capture read: found by review).
	s.mu.Lock()
	s.cols = nil
	s.mu.Unlock()
	if s.cfg.Capture != nil && !req.Full {
		return s.readChanges(ctx, fn) // capture_read.go; a full read is the initial load of the whole view
	}
	cols, keyI, curI, err := s.describe(ctx)
	if err != nil {
		return err
	}
	var pos position
	if curI >= 0 {
		if req.Cursor != "" && !req.Full {
			pos.cursor = fromText(s.db.dialect, &cols[curI], req.Cursor)
		} else {
			pos.nullPhase = true
		}
	}
	numbers := s.cfg.Decimals == "number"
	readPage := s.scanPage(cols, keyI, curI, numbers)
	if s.db.dialect.name == "postgres" {
		readPage = newPGReader(s, cols, keyI, curI, numbers).page // pgrows.go
	}
	page := 0 // pages handed to fn (an empty query of the NULL phase is none)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		q, args := s.pageQuery(cols, keyI, curI, pos)
		where := fmt.Sprintf("%s: query page %d", s.db.where, page+1)
		records, lastKey, lastCur, err := readPage(ctx, q, args, where)
		if err != nil {
			return err
		}
		if len(records) > 0 {
			page++
			err := fn(ctx, connector.Page{Number: page, URL: s.describePage(cols, curI, pos), Records: records})
			if errors.Is(err, connector.ErrStop) {
				return nil
			}
			if err != nil {
				return err
			}
		}
		if len(records) < s.cfg.PageSize {
			if pos.nullPhase { // on to the rows with a cursor, from the start
				pos = position{}
				continue
			}
			return nil
		}
		pos.key = lastKey
		if !pos.nullPhase && curI >= 0 {
			pos.cursor = lastCur
		}
	}
}

// pageReader runs one page query and returns its records with the last
// row's key and cursor as driver values (the next page's parameters).
type pageReader func(ctx context.Context, q string, args []any, where string) (records []connector.SourceRecord, lastKey, lastCur any, err error)

// scanPage reads pages through database/sql (MariaDB, SQLite): each row
// scanned into driver values, then decoded.
func (s *Source) scanPage(cols []column, keyI, curI int, numbers bool) pageReader {
	n := len(cols)
	if s.rawCursor(cols, curI) {
		n++ // the cursor as stored text, after the query's columns
	}
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return func(ctx context.Context, q string, args []any, where string) ([]connector.SourceRecord, any, any, error) {
		rows, err := s.db.query(ctx, q, args...)
		if err != nil {
			return nil, nil, nil, s.db.errorf(err, "%s", where)
		}
		defer rows.Close()
		records := make([]connector.SourceRecord, 0, min(s.cfg.PageSize, 1024))
		var lastKey, lastCur any
		for rows.Next() {
			for i := range vals {
				vals[i] = nil
			}
			if err := rows.Scan(ptrs...); err != nil {
				return nil, nil, nil, s.db.errorf(err, "%s: row %d", where, len(records)+1)
			}
			data := make(map[string]any, len(cols))
			for i := range cols {
				v, err := decode(&cols[i], vals[i], numbers)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("%s: row of key %s: %w", where, rawText(vals[keyI]), err)
				}
				data[cols[i].name] = v
			}
			rec := connector.SourceRecord{Key: rawText(vals[keyI]), Data: data}
			if rec.Key == "" {
				// A queue entry needs a key: a NULL or empty one would be
				// one entry for every such row, each replacing the last.
				return nil, nil, nil, fmt.Errorf("%s: a row has an empty key in column %q (the key must identify the row)", where, s.cfg.Key)
			}
			lastKey = vals[keyI]
			if curI >= 0 {
				lastCur = vals[curI]
				if len(vals) > len(cols) {
					lastCur = vals[len(cols)]
				}
				rec.Cursor = cursorText(&cols[curI], lastCur)
			}
			records = append(records, rec)
		}
		if err := rows.Err(); err != nil {
			return nil, nil, nil, s.db.errorf(err, "%s", where)
		}
		return records, lastKey, lastCur, nil
	}
}

// describePage says where a page started, for messages.
func (s *Source) describePage(cols []column, curI int, pos position) string {
	w := s.db.where + " query"
	switch {
	case pos.nullPhase && pos.key == nil:
		return w + ", rows with a NULL " + cols[curI].name
	case pos.nullPhase:
		return fmt.Sprintf("%s, rows with a NULL %s after key %s", w, cols[curI].name, rawText(pos.key))
	case pos.cursor != nil && pos.key != nil:
		return fmt.Sprintf("%s, after (%s, key) = (%s, %s)", w, cols[curI].name, rawText(pos.cursor), rawText(pos.key))
	case pos.cursor != nil:
		return fmt.Sprintf("%s, after %s %s", w, cols[curI].name, rawText(pos.cursor))
	case pos.key != nil:
		return fmt.Sprintf("%s, after key %s", w, rawText(pos.key))
	}
	return w + ", from the start"
}

// Prunes reports whether records are checked against the query before
// sending: prune: as set, else on for capture sources only.
func (s *Source) Prunes() bool {
	if s.cfg.Prune != nil {
		return *s.cfg.Prune
	}
	return s.cfg.Capture != nil
}

// existingChunk is how many keys one Existing query asks about.
const existingChunk = 500

// Existing reports which of keys the query still returns.
func (s *Source) Existing(ctx context.Context, keys []string) (map[string]bool, error) {
	cols, keyI, _, err := s.describe(ctx)
	if err != nil {
		return nil, err
	}
	d := s.db.dialect
	out := make(map[string]bool, len(keys))
	for start := 0; start < len(keys); start += existingChunk {
		chunk := keys[start:min(start+existingChunk, len(keys))]
		var args []any
		var ph []string
		for _, k := range chunk {
			v := fromText(d, &cols[keyI], k)
			if cols[keyI].kind == kInt {
				if _, isInt := v.(int64); !isInt {
					if !allDigits(k) {
						continue // no integer column holds it
					}
					v = k // beyond int64 (BIGINT UNSIGNED): the database compares the text
				}
			}
			args = append(args, v)
			ph = append(ph, d.ph(len(args)))
		}
		if len(args) == 0 {
			continue
		}
		kc := "q." + d.quote(cols[keyI].name)
		// Both spellings of each key found: as the driver reads it (keys
		// of plain reads) and cast to text as the capture trigger writes
		// it (keys of capture reads: char(n), dates, floats differ).
		q := "SELECT " + kc + ", " + keyTextCast(d, kc) + " FROM (" + s.query + ") q WHERE " + kc + " IN (" + strings.Join(ph, ", ") + ")"
		if err := s.collectKeys(ctx, q, args, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Source) collectKeys(ctx context.Context, q string, args []any, out map[string]bool) error {
	rows, err := s.db.query(ctx, q, args...)
	if err != nil {
		return s.db.errorf(err, "%s: look up existing keys", s.db.where)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v    any
			text sql.NullString
		)
		if err := rows.Scan(&v, &text); err != nil {
			return s.db.errorf(err, "%s: look up existing keys", s.db.where)
		}
		out[rawText(v)] = true
		out[text.String] = true
	}
	if err := rows.Err(); err != nil {
		return s.db.errorf(err, "%s: look up existing keys", s.db.where)
	}
	return nil
}

// keyTextCast is expr cast to text the way the capture triggers cast
// keys into the integration table.
func keyTextCast(d dialect, expr string) string {
	switch d.name {
	case "postgres":
		return "(" + expr + ")::text"
	case "sqlite":
		return "CAST(" + expr + " AS TEXT)"
	}
	return "CAST(" + expr + " AS CHAR)"
}

// allDigits reports whether s is a non-empty run of decimal digits.
func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}
