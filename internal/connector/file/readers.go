package fileconn

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/jsonx"
)

// maxRecord bounds what one record may hold in memory: an NDJSON line,
// a CSV record, a JSON array element. Without it a file without line
// breaks, or a quote left open, would read the rest of a file into one
// value.
const maxRecord = 64 << 20

// recordGuard fails a read that runs on more than max bytes past the
// end of the last complete record (pos tells where that is).
type recordGuard struct {
	r    io.Reader
	read int64
	pos  func() int64
	max  int64
}

// recordTooLong is the guard's error.
type recordTooLong struct{ max int64 }

func (e recordTooLong) Error() string {
	return fmt.Sprintf("a record runs on for more than %s (a quote or bracket left open?)", byteSize(e.max))
}

func byteSize(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

func (g *recordGuard) Read(p []byte) (int, error) {
	if g.pos != nil && g.read-g.pos() > g.max {
		return 0, recordTooLong{g.max}
	}
	n, err := g.r.Read(p)
	g.read += int64(n)
	return n, err
}

// csvReader reads CSV records into maps of column name to value.
type csvReader struct {
	r     *csv.Reader
	cols  []string
	types []string // per column; "" is string
	line  int      // where the last record read starts
	end   int64    // input offset of the end of the last record read
}

func newCSVReader(br *bufio.Reader, cfg *SourceConfig, limit int64) (*csvReader, error) {
	g := &recordGuard{r: br, max: limit}
	r := csv.NewReader(g)
	r.Comma = []rune(cfg.Delimiter)[0]
	r.ReuseRecord = true // the slice only: each record's strings are new
	c := &csvReader{r: r}
	g.pos = func() int64 { return c.end } // InputOffset moves by lines, within a record too
	if *cfg.Header {
		head, err := r.Read()
		if err == io.EOF {
			return c, nil // an empty file: no records
		}
		if err != nil {
			return nil, csvError(err, nil, 0)
		}
		c.line, c.end = 1, r.InputOffset()
		c.cols = make([]string, len(head))
		seen := map[string]bool{}
		for i, name := range head {
			name = strings.TrimSpace(name) // "id, name": spaces after the commas
			c.cols[i] = name
			switch {
			case name == "":
				return nil, lineError{1, fmt.Errorf("column %d of the header has no name", i+1)}
			case seen[name]:
				return nil, lineError{1, fmt.Errorf("the header names column %q twice", name)}
			}
			seen[name] = true
		}
	} else {
		c.cols = cfg.Columns
	}
	r.FieldsPerRecord = len(c.cols)
	if !slices.Contains(c.cols, cfg.Key) {
		return nil, lineError{1, fmt.Errorf("no column %q (the key); the columns are %s", cfg.Key, strings.Join(c.cols, ", "))}
	}
	c.types = make([]string, len(c.cols))
	for _, col := range slices.Sorted(maps.Keys(cfg.Types)) {
		i := slices.Index(c.cols, col)
		if i < 0 {
			return nil, lineError{1, fmt.Errorf("types names column %q, which the file lacks; the columns are %s", col, strings.Join(c.cols, ", "))}
		}
		c.types[i] = cfg.Types[col]
	}
	return c, nil
}

func (c *csvReader) next() (connector.Record, int, error) {
	if c.cols == nil {
		return nil, 0, io.EOF
	}
	fields, err := c.r.Read()
	if err == io.EOF {
		return nil, 0, io.EOF
	}
	var (
		tooLong recordTooLong
		pe      *csv.ParseError
	)
	switch {
	case errors.As(err, &tooLong):
		return nil, 0, lineError{c.line + 1, tooLong}
	case err != nil && !errors.As(err, &pe): // the file's reader failed (a broken gzip stream)
		return nil, 0, lineError{c.line + 1, fmt.Errorf("read: %w", err)}
	}
	if err != nil {
		return nil, 0, csvError(err, fields, len(c.cols))
	}
	line, _ := c.r.FieldPos(0)
	c.line, c.end = line, c.r.InputOffset()
	rec := make(connector.Record, len(fields))
	for i, v := range fields {
		val, err := convert(v, c.types[i])
		if err != nil {
			return nil, 0, lineError{line, fmt.Errorf("column %q: %w", c.cols[i], err)}
		}
		rec[c.cols[i]] = val
	}
	return rec, line, nil
}

// csvError turns encoding/csv's errors into lineErrors.
func csvError(err error, fields []string, want int) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("read: %w", err)
	}
	if errors.Is(pe.Err, csv.ErrFieldCount) {
		return lineError{pe.StartLine, fmt.Errorf("%d fields, expected %d (as many as columns)", len(fields), want)}
	}
	if pe.StartLine != pe.Line { // an unclosed quote runs on: name where the record starts
		return lineError{pe.StartLine, fmt.Errorf("%w (the record runs on to line %d, column %d)", pe.Err, pe.Line, pe.Column)}
	}
	return lineError{pe.Line, fmt.Errorf("column %d: %w", pe.Column, pe.Err)}
}

// maxExact is 2^53: every integer up to it is exact in a float64.
const maxExact = 1 << 53

// convert turns a CSV cell into the configured type. Numbers become what
// ferry's JSON decoding makes of them: float64, or json.Number for an
// integer a float64 cannot hold exactly.
func convert(v, typ string) (any, error) {
	if typ == "" || typ == "string" {
		return v, nil
	}
	s := strings.TrimSpace(v)
	if s == "" {
		return nil, nil
	}
	switch typ {
	case "int", "number":
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			if i > maxExact || i < -maxExact {
				return json.Number(strconv.FormatInt(i, 10)), nil
			}
			return float64(i), nil
		}
		if typ == "int" {
			return nil, fmt.Errorf("%q is not an integer", v)
		}
		if strings.Trim(s, "0123456789+-.eE") != "" { // no NaN, Inf, hex
			return nil, fmt.Errorf("%q is not a number", v)
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, fmt.Errorf("%q is not a number", v)
		}
		return f, nil
	case "bool":
		switch strings.ToLower(s) {
		case "true", "t", "yes", "y", "1":
			return true, nil
		case "false", "f", "no", "n", "0":
			return false, nil
		}
		return nil, fmt.Errorf("%q is not a boolean (true/false, yes/no, 1/0)", v)
	}
	return v, nil
}

// ndjsonReader reads one JSON object per line; blank lines are skipped.
type ndjsonReader struct {
	br    *bufio.Reader
	line  int
	buf   []byte
	limit int64
}

func (n *ndjsonReader) next() (connector.Record, int, error) {
	for {
		data, err := n.readLine()
		if err != nil {
			return nil, 0, err
		}
		data = bytes.TrimSpace(data)
		if len(data) == 0 {
			continue
		}
		v, err := jsonx.Decode(data)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			err = errors.New("the line ends inside a JSON value")
		}
		if err != nil {
			return nil, 0, lineError{n.line, err}
		}
		rec, ok := v.(map[string]any)
		if !ok {
			return nil, 0, lineError{n.line, fmt.Errorf("the line is %s (expected a JSON object)", describe(v))}
		}
		return rec, n.line, nil
	}
}

// readLine returns the next line without its end; io.EOF after the last.
func (n *ndjsonReader) readLine() ([]byte, error) {
	n.buf = n.buf[:0]
	for {
		chunk, err := n.br.ReadSlice('\n')
		if int64(len(n.buf)+len(chunk)) > n.limit {
			return nil, lineError{n.line + 1, fmt.Errorf("the line is longer than %s", byteSize(n.limit))}
		}
		n.buf = append(n.buf, chunk...)
		switch {
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF && len(n.buf) == 0:
			return nil, io.EOF
		case err != nil && err != io.EOF:
			return nil, lineError{n.line + 1, fmt.Errorf("read: %w", err)}
		}
		n.line++
		return n.buf, nil
	}
}

// jsonReader streams the objects of one JSON array with json.Decoder's
// tokens, so a file larger than memory is read in bounded memory.
type jsonReader struct {
	lc    *lineCounter
	dec   *json.Decoder
	depth int    // objects around the array (records: a.b is 2)
	outer string // what the file holds, for messages
	done  bool
}

func newJSONReader(r io.Reader, limit int64, records string) (*jsonReader, error) {
	g := &recordGuard{r: r, max: limit}
	j := &jsonReader{lc: &lineCounter{r: g}, outer: "JSON array"}
	j.dec = json.NewDecoder(j.lc)
	g.pos = j.dec.InputOffset
	expected := "a JSON array of objects"
	if records != "" {
		expected = fmt.Sprintf("a JSON object with the array of records at %q", records)
		j.outer = "JSON object"
	}
	tok, err := j.dec.Token()
	switch {
	case err == io.EOF:
		return nil, lineError{1, fmt.Errorf("the file is empty (expected %s)", expected)}
	case err != nil:
		return nil, lineError{j.errLine(err), err}
	}
	// Down the path to the array: {"data": [...]} with records: data.
	var path []string
	if records != "" {
		path = strings.Split(records, ".")
	}
	for i, field := range path {
		if tok != json.Delim('{') {
			return nil, j.tokenError(fmt.Sprintf("%s holds %s (expected %s)", at(path[:i]), tokenName(tok), expected))
		}
		j.depth++
		for {
			key, err := j.dec.Token()
			if err != nil {
				return nil, j.endError(err)
			}
			if key == json.Delim('}') {
				return nil, j.tokenError(fmt.Sprintf("%s has no field %q (expected %s)", at(path[:i]), field, expected))
			}
			if key == field {
				break
			}
			var skip json.RawMessage
			if err := j.dec.Decode(&skip); err != nil {
				return nil, j.endError(err)
			}
		}
		if tok, err = j.dec.Token(); err != nil {
			return nil, j.endError(err)
		}
	}
	if tok != json.Delim('[') {
		return nil, j.tokenError(fmt.Sprintf("%s holds %s (expected %s)", at(path), tokenName(tok), expected))
	}
	return j, nil
}

// at names a place in the file for messages.
func at(path []string) string {
	if len(path) == 0 {
		return "the file"
	}
	return fmt.Sprintf("field %q", strings.Join(path, "."))
}

func (j *jsonReader) tokenError(msg string) error {
	return lineError{j.lc.lineAt(j.dec.InputOffset()), errors.New(msg)}
}

// finish reads what follows the array: the rest of the objects around
// it (other fields are skipped), then nothing.
func (j *jsonReader) finish() error {
	for j.depth > 0 {
		tok, err := j.dec.Token()
		if err != nil {
			return j.endError(err)
		}
		if tok == json.Delim('}') {
			j.depth--
			continue
		}
		var skip json.RawMessage
		if err := j.dec.Decode(&skip); err != nil {
			return j.endError(err)
		}
	}
	if _, err := j.dec.Token(); err != io.EOF {
		return lineError{j.errLine(err), errors.New("data after the " + j.outer)}
	}
	return nil
}

func (j *jsonReader) next() (connector.Record, int, error) {
	if j.done {
		return nil, 0, io.EOF
	}
	if !j.dec.More() {
		if _, err := j.dec.Token(); err != nil { // the closing ]
			return nil, 0, j.endError(err)
		}
		if err := j.finish(); err != nil {
			return nil, 0, err
		}
		j.done = true
		return nil, 0, io.EOF
	}
	var raw json.RawMessage
	if err := j.dec.Decode(&raw); err != nil {
		return nil, 0, j.endError(err)
	}
	line := j.lc.lineAt(j.dec.InputOffset() - int64(len(raw)))
	v, err := jsonx.Decode(raw)
	if err != nil {
		return nil, 0, lineError{line, err}
	}
	rec, ok := v.(map[string]any)
	if !ok {
		return nil, 0, lineError{line, fmt.Errorf("the array holds %s (expected objects)", describe(v))}
	}
	return rec, line, nil
}

func (j *jsonReader) endError(err error) error {
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return lineError{j.lc.lines(), errors.New("the file ends before the " + j.outer + " is closed (is it still being written?)")}
	}
	return lineError{j.errLine(err), err}
}

// errLine finds the line of a decoding error: past the position the
// decoder stopped at (before a comma and white space), and for a syntax
// error inside a value, at the offending character.
func (j *jsonReader) errLine(err error) int {
	base := j.dec.InputOffset()
	rest, _ := io.ReadAll(j.dec.Buffered())
	i, nl := 0, 0
	for i < len(rest) && strings.IndexByte(" \t\r\n,", rest[i]) >= 0 {
		if rest[i] == '\n' {
			nl++
		}
		i++
	}
	line := j.lc.lineAt(base) + nl
	var se *json.SyntaxError
	if errors.As(err, &se) {
		// Decoder offsets count from its first value; decode the value
		// alone for an offset within it.
		var raw json.RawMessage
		if e := json.NewDecoder(bytes.NewReader(rest[i:])).Decode(&raw); errors.As(e, &se) {
			off := min(int(se.Offset), len(rest)-i)
			line += bytes.Count(rest[i:i+off], []byte{'\n'})
		}
	}
	return line
}

func tokenName(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		if t == '{' {
			return "an object"
		}
		return string(t)
	case string:
		return "a string"
	case nil:
		return "null"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// lineCounter notes where the lines of what it reads end, so the line of
// a position (asked for in increasing order) is known without keeping
// the data.
type lineCounter struct {
	r    io.Reader
	off  int64   // bytes read so far
	nls  []int64 // offsets of line ends not yet passed by lineAt
	head int
	line int // line ends before the last position asked for
}

func (l *lineCounter) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i := 0; i < n; {
		j := bytes.IndexByte(p[i:n], '\n')
		if j < 0 {
			break
		}
		l.nls = append(l.nls, l.off+int64(i+j))
		i += j + 1
	}
	l.off += int64(n)
	return n, err
}

// lineAt returns the 1-based line of offset pos.
func (l *lineCounter) lineAt(pos int64) int {
	for l.head < len(l.nls) && l.nls[l.head] < pos {
		l.head++
		l.line++
	}
	if l.head > 1024 && l.head*2 > len(l.nls) {
		l.nls = append(l.nls[:0], l.nls[l.head:]...)
		l.head = 0
	}
	return l.line + 1
}

// lines is the line of the end of what was read.
func (l *lineCounter) lines() int { return l.lineAt(l.off) }
