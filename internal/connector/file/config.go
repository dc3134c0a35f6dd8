package fileconn

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// The formats both parts read and write.
const (
	FormatCSV    = "csv"
	FormatNDJSON = "ndjson"
	FormatJSON   = "json"
)

var formats = []string{FormatCSV, FormatNDJSON, FormatJSON}

// Defaults.
const (
	DefaultPageSize = 1000
	DefaultName     = "{route}-{run}.{ext}"
	// maxPageSize keeps a page (held in memory, queued in one
	// transaction) bounded.
	maxPageSize = 100_000
	// minPublicToken is the shortest public_token accepted.
	minPublicToken = 16
)

// SourceConfig is the `file:` source of a route.
type SourceConfig struct {
	Dir       string            `yaml:"dir" json:"dir" jsonschema:"description=Folder the files are read from (relative to the config file)"`
	Glob      string            `yaml:"glob,omitempty" json:"glob,omitempty" jsonschema:"description=Which files of the folder to read\\, e.g. orders-*.csv (default *.<format>); files whose name starts with a dot are never read; a name ending in .gz is decompressed"`
	Format    string            `yaml:"format" json:"format" jsonschema:"enum=csv,enum=ndjson,enum=json,description=csv: a header line then one record per line; ndjson: one JSON object per line; json: one array of objects per file"`
	Records   string            `yaml:"records,omitempty" json:"records,omitempty" jsonschema:"description=JSON: dotted path to the array of records when the file is an object around it\\, e.g. data for {\"data\": [...]}; default: the file is the array"`
	Key       string            `yaml:"key" json:"key" jsonschema:"description=The field (CSV column) holding each record's business key; a dotted path reaches into JSON objects"`
	Delimiter string            `yaml:"delimiter,omitempty" json:"delimiter,omitempty" jsonschema:"description=CSV: the field separator\\, one character: a comma by default; \";\" and a tab (\"\\t\") are common"`
	Header    *bool             `yaml:"header,omitempty" json:"header,omitempty" jsonschema:"description=CSV: the first line names the columns (default true); with false\\, columns names them"`
	Columns   []string          `yaml:"columns,omitempty" json:"columns,omitempty" jsonschema:"description=CSV without a header line: the field names\\, in file order"`
	Types     map[string]string `yaml:"types,omitempty" json:"types,omitempty" jsonschema:"description=CSV: convert a column's values (all are strings otherwise): string\\, number\\, int or bool; an empty cell becomes null"`
	FileField string            `yaml:"file_field,omitempty" json:"file_field,omitempty" jsonschema:"description=Set this field of each record to the name of the file it came from (e.g. _file)\\, for steps that need it; default: not set"`
	AfterRead string            `yaml:"after_read,omitempty" json:"after_read,omitempty" jsonschema:"enum=move,enum=delete,description=What happens to a file once all its records are queued: move (into done/ under dir\\, the default) or delete"`
	Invalid   string            `yaml:"invalid,omitempty" json:"invalid,omitempty" jsonschema:"enum=fail,enum=move,description=A file with a malformed line or record: fail (the default) fails the read naming the file and line and leaves the file\\, so later files wait and the order of files is kept; move puts it into failed/ under dir with the reason in <name>.error and reads on"`
	PageSize  int               `yaml:"page_size,omitempty" json:"page_size,omitempty" jsonschema:"description=Records per page (one queue transaction); default 1000"`
	Settle    Duration          `yaml:"settle,omitempty" json:"settle,omitempty" jsonschema:"type=string,description=Skip files modified less than this long ago (they may still be being written)\\, e.g. 30s; default 0"`
}

// DestinationConfig is a route's `file:` destination: one file per run.
type DestinationConfig struct {
	Dir       string   `yaml:"dir" json:"dir" jsonschema:"description=Folder the files are written to (relative to the config file; created if missing)"`
	Name      string   `yaml:"name,omitempty" json:"name,omitempty" jsonschema:"description=File name of each run's file; placeholders {route}\\, {run} (start time\\, 20060102T150405Z)\\, {run_id}\\, {date} (2006-01-02) and {ext}; default {route}-{run}.{ext}"`
	Format    string   `yaml:"format" json:"format" jsonschema:"enum=csv,enum=ndjson,enum=json,description=csv: a header line from columns then one line per record; ndjson: one JSON object per line; json: one array of objects"`
	Columns   []string `yaml:"columns,omitempty" json:"columns,omitempty" jsonschema:"description=CSV (required): the header and the fields written\\, in order; a missing field is an empty cell"`
	Delimiter string   `yaml:"delimiter,omitempty" json:"delimiter,omitempty" jsonschema:"description=CSV: the field separator\\, one character: a comma by default"`
	Latest    string   `yaml:"latest,omitempty" json:"latest,omitempty" jsonschema:"description=A constant file name (e.g. orders-latest.csv) replaced atomically by each completed run's file"`
	Keep      int      `yaml:"keep,omitempty" json:"keep,omitempty" jsonschema:"description=How many run files to keep: after each run the oldest beyond this number are removed (latest is not counted); default 0 keeps all. Only for names with {run}\\, {run_id} or {date}"`
	Empty     string   `yaml:"empty,omitempty" json:"empty,omitempty" jsonschema:"enum=skip,enum=write,description=A run that wrote no record: skip (no file\\, latest unchanged; the default) or write (a CSV header only\\, an empty NDJSON file\\, [] for JSON)"`
	// PublicToken is a secret: write it as ${env:NAME} or ${file:PATH}.
	PublicToken string `yaml:"public_token,omitempty" json:"public_token,omitempty" jsonschema:"description=Makes the feed downloadable without an API token by whoever knows this token: /feeds/<route>/latest?token=<it> (ferry serve); at least 16 characters; write it as ${env:NAME} or ${file:PATH}"`
}

// Duration is a time.Duration written as "30s", "5m", "1h".
type Duration time.Duration

// UnmarshalText parses "30s" style durations.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (expected e.g. 500ms, 30s, 5m)", string(b))
	}
	if v < 0 {
		return fmt.Errorf("invalid duration %q: must not be negative", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration back as text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// The CSV column types of SourceConfig.Types.
var columnTypes = []string{"string", "number", "int", "bool"}

// problem is one finding of a check, at a dotted field path.
type problem struct {
	field, msg string
}

// problems collects findings; join turns them into one error for Build.
type problems []problem

func (ps *problems) add(field, format string, args ...any) {
	*ps = append(*ps, problem{field, fmt.Sprintf(format, args...)})
}

func (ps problems) err(part string) error {
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, len(ps))
	for i, p := range ps {
		if p.field == "" {
			errs[i] = fmt.Errorf("file %s: %s", part, p.msg)
		} else {
			errs[i] = fmt.Errorf("file %s: %s: %s", part, p.field, p.msg)
		}
	}
	return errors.Join(errs...)
}

func (c *SourceConfig) defaults() {
	if c.Glob == "" && slices.Contains(formats, c.Format) {
		c.Glob = "*." + c.Format
	}
	if c.Format == FormatCSV && c.Delimiter == "" {
		c.Delimiter = ","
	}
	if c.Format == FormatCSV && c.Header == nil {
		t := true
		c.Header = &t
	}
	if c.AfterRead == "" {
		c.AfterRead = "move"
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.Invalid == "" {
		c.Invalid = "fail"
	}
}

// check reports every problem of a defaulted config.
func (c *SourceConfig) check() problems {
	var ps problems
	if strings.TrimSpace(c.Dir) == "" {
		ps.add("dir", "the folder to read is required")
	}
	if !slices.Contains(formats, c.Format) {
		ps.add("format", "%q is not a format (expected csv, ndjson or json)", c.Format)
	}
	if c.Key == "" {
		ps.add("key", "the field holding each record's key is required")
	}
	if strings.ContainsAny(c.Glob, `/\`) {
		ps.add("glob", "%q names a file of dir, without a folder (set dir to the folder)", c.Glob)
	} else if _, err := filepath.Match(c.Glob, ""); err != nil {
		ps.add("glob", "%q is not a valid pattern: %v", c.Glob, err)
	}
	csvOnly := func(field string, set bool) {
		if set && c.Format != FormatCSV {
			ps.add(field, "is only for format: csv")
		}
	}
	if c.Records != "" && c.Format != FormatJSON {
		ps.add("records", "is only for format: json")
	}
	if c.Records != "" && slices.Contains(strings.Split(c.Records, "."), "") {
		ps.add("records", "%q is not a dotted path (an empty part)", c.Records)
	}
	csvOnly("delimiter", c.Delimiter != "")
	csvOnly("header", c.Header != nil)
	csvOnly("columns", len(c.Columns) > 0)
	csvOnly("types", len(c.Types) > 0)
	if c.Format == FormatCSV {
		checkDelimiter(&ps, c.Delimiter)
		if c.Header != nil && !*c.Header && len(c.Columns) == 0 {
			ps.add("columns", "a CSV file without a header line (header: false) needs columns: the field names in file order")
		}
		if c.Header != nil && *c.Header && len(c.Columns) > 0 {
			ps.add("columns", "is only for files without a header line (header: false); the header names the columns")
		}
		checkColumns(&ps, c.Columns)
		for _, col := range slices.Sorted(maps.Keys(c.Types)) {
			if !slices.Contains(columnTypes, c.Types[col]) {
				ps.add("types."+col, "%q is not a type (expected string, number, int or bool)", c.Types[col])
			}
			if len(c.Columns) > 0 && !slices.Contains(c.Columns, col) {
				ps.add("types."+col, "%q is not one of columns", col)
			}
		}
	}
	if c.FileField != "" && c.FileField == c.Key {
		ps.add("file_field", "%q is the key field", c.FileField)
	}
	if c.AfterRead != "move" && c.AfterRead != "delete" {
		ps.add("after_read", "%q is not an action (expected move or delete)", c.AfterRead)
	}
	if c.Invalid != "fail" && c.Invalid != "move" {
		ps.add("invalid", "%q is not a choice (expected fail or move)", c.Invalid)
	}
	if c.PageSize < 1 || c.PageSize > maxPageSize {
		ps.add("page_size", "%d is out of range (1 to %d)", c.PageSize, maxPageSize)
	}
	return ps
}

func (c *DestinationConfig) defaults() {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Format == FormatCSV && c.Delimiter == "" {
		c.Delimiter = ","
	}
	if c.Empty == "" {
		c.Empty = "skip"
	}
}

func (c *DestinationConfig) check() problems {
	var ps problems
	if strings.TrimSpace(c.Dir) == "" {
		ps.add("dir", "the folder to write to is required")
	}
	if !slices.Contains(formats, c.Format) {
		ps.add("format", "%q is not a format (expected csv, ndjson or json)", c.Format)
	}
	if _, err := parseName(c.Name); err != nil {
		ps.add("name", "%v", err)
	}
	if c.Format == FormatCSV {
		if len(c.Columns) == 0 {
			ps.add("columns", "a CSV file needs columns: the header and the fields written, in order")
		}
		checkColumns(&ps, c.Columns)
		checkDelimiter(&ps, c.Delimiter)
	} else {
		if len(c.Columns) > 0 {
			ps.add("columns", "is only for format: csv (shape records with a map step)")
		}
		if c.Delimiter != "" {
			ps.add("delimiter", "is only for format: csv")
		}
	}
	if c.Latest != "" {
		if err := plainName(c.Latest); err != nil {
			ps.add("latest", "%v", err)
		}
	}
	if c.Keep < 0 {
		ps.add("keep", "%d is negative (0 keeps every run's file)", c.Keep)
	}
	if t, err := parseName(c.Name); err == nil && c.Keep > 0 && !t.perRun() {
		ps.add("keep", "needs a name that differs per run ({run}, {run_id} or {date}); this name is replaced by each run")
	}
	if c.Empty != "skip" && c.Empty != "write" {
		ps.add("empty", "%q is not a choice (expected skip or write)", c.Empty)
	}
	// Never quoted: it is a secret.
	if c.PublicToken != "" && len(c.PublicToken) < minPublicToken {
		ps.add("public_token", "is too short: a token anyone may try in a URL needs at least %d characters (e.g. openssl rand -hex 24)", minPublicToken)
	}
	return ps
}

func checkDelimiter(ps *problems, d string) {
	r, size := utf8.DecodeRuneInString(d)
	switch {
	case size != len(d) || r == utf8.RuneError:
		ps.add("delimiter", "%q is not one character", d)
	case r == '"' || r == '\r' || r == '\n':
		ps.add("delimiter", "%q cannot separate fields (it is a quote or a line end)", d)
	}
}

func checkColumns(ps *problems, cols []string) {
	seen := map[string]bool{}
	for i, c := range cols {
		field := fmt.Sprintf("columns.%d", i)
		switch {
		case strings.TrimSpace(c) == "":
			ps.add(field, "a column needs a name")
		case seen[c]:
			ps.add(field, "%q is named twice", c)
		}
		seen[c] = true
	}
}

// plainName accepts a file name without a folder.
func plainName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return fmt.Errorf("%q is not a file name", name)
	case strings.ContainsAny(name, `/\`):
		return fmt.Errorf("%q names a file of dir, without a folder (set dir to the folder)", name)
	case strings.HasSuffix(name, partSuffix):
		return fmt.Errorf("%q must not end in %s (the suffix of files being written)", name, partSuffix)
	}
	return nil
}
