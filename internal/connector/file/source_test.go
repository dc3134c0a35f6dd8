package fileconn

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func newSource(t *testing.T, base string, cfg SourceConfig) *Source {
	t.Helper()
	s, err := NewSource(connector.Env{Route: "orders", Dir: base}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// read collects a read's pages; with ack, it acknowledges each page as
// the engine does once the page is queued.
func read(t *testing.T, s *Source, ack bool) ([]connector.Page, error) {
	t.Helper()
	var pages []connector.Page
	err := s.Read(context.Background(), connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error {
		pages = append(pages, p)
		if p.Ack == nil {
			t.Errorf("page %d (%s) has no Ack", p.Number, p.URL)
			return nil
		}
		if ack {
			return p.Ack(ctx)
		}
		return nil
	})
	return pages, err
}

func keys(pages []connector.Page) []string {
	var out []string
	for _, p := range pages {
		for _, r := range p.Records {
			out = append(out, r.Key)
		}
	}
	return out
}

func urls(pages []connector.Page) []string {
	var out []string
	for _, p := range pages {
		out = append(out, p.URL)
	}
	return out
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

// TestSourceCSVFolder: three CSV files become pages in name order, typed
// as configured, and each is moved to done/ by its last page's Ack; the
// files the glob does not match, hidden ones and done/ stay untouched.
func TestSourceCSVFolder(t *testing.T) {
	base := t.TempDir()
	in := filepath.Join(base, "in")
	writeFile(t, filepath.Join(in, "orders-1.csv"), "id, total, qty ,paid,note\n1,12.50,2,true,first\n2,7,1,no,\"two, quoted\"\n3,,3,1,\n")
	writeFile(t, filepath.Join(in, "orders-2.csv"), "id,total,qty,paid,note\n4,1e3,9007199254740993,false,x\n")
	writeFile(t, filepath.Join(in, "orders-3.csv"), "id,total,qty,paid,note\n5,0.1,5,yes,\"multi\nline\"\n6,2,6,0,y\n")
	writeFile(t, filepath.Join(in, "notes.txt"), "not a csv")
	writeFile(t, filepath.Join(in, ".orders-4.csv"), "id\n99\n") // being written by a producer
	writeFile(t, filepath.Join(in, "done", "orders-0.csv"), "id\n0\n")

	s := newSource(t, base, SourceConfig{
		Dir: "in", Glob: "orders-*.csv", Format: "csv", Key: "id", PageSize: 2,
		Types: map[string]string{"total": "number", "qty": "int", "paid": "bool"},
	})
	pages, err := read(t, s, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keys(pages), []string{"1", "2", "3", "4", "5", "6"}; !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	wantURLs := []string{"file orders-1.csv lines 2-3", "file orders-1.csv line 4", "file orders-2.csv line 2", "file orders-3.csv lines 2-4"}
	if got := urls(pages); !slices.Equal(got, wantURLs) {
		t.Fatalf("URLs %q, want %q", got, wantURLs)
	}
	for i, p := range pages {
		if p.Number != i+1 {
			t.Fatalf("page %d has number %d", i+1, p.Number)
		}
	}
	r1 := pages[0].Records[0].Data
	want1 := connector.Record{"id": "1", "total": 12.5, "qty": float64(2), "paid": true, "note": "first"}
	if fmt.Sprint(r1) != fmt.Sprint(want1) {
		t.Fatalf("record 1 %#v, want %#v", r1, want1)
	}
	if got := pages[0].Records[1].Data["note"]; got != "two, quoted" {
		t.Fatalf("quoted note %q", got)
	}
	if got := pages[1].Records[0].Data; got["total"] != nil || got["paid"] != true {
		t.Fatalf("record 3: empty typed cell must be null, 1 true: %#v", got)
	}
	if got := pages[2].Records[0].Data["qty"]; got != json.Number("9007199254740993") {
		t.Fatalf("an int beyond 2^53 must stay exact: %#v", got)
	}
	if got := pages[3].Records[0].Data["note"]; got != "multi\nline" {
		t.Fatalf("multi-line note %q", got)
	}
	if got, want := names(t, in), []string{".orders-4.csv", "notes.txt"}; !slices.Equal(got, want) {
		t.Fatalf("left in the folder: %v, want %v", got, want)
	}
	if got, want := names(t, filepath.Join(in, "done")), []string{"orders-0.csv", "orders-1.csv", "orders-2.csv", "orders-3.csv"}; !slices.Equal(got, want) {
		t.Fatalf("done/ holds %v, want %v", got, want)
	}
	pages, err = read(t, s, true)
	if err != nil || len(pages) != 0 {
		t.Fatalf("second read: %d pages, %v; want none", len(pages), err)
	}
}

// TestSourceNotAckedReadAgain: a file whose pages were never acknowledged
// (or only its earlier pages were) stays and is read again in full.
func TestSourceNotAckedReadAgain(t *testing.T) {
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "a.csv"), "id\n1\n2\n3\n")
	s := newSource(t, base, SourceConfig{Dir: ".", Format: "csv", Key: "id", PageSize: 2})
	for range 2 {
		pages, err := read(t, s, false)
		if err != nil || !slices.Equal(keys(pages), []string{"1", "2", "3"}) {
			t.Fatalf("read: %v %v", keys(pages), err)
		}
	}
	// Ack of the first page only: nothing happens.
	err := s.Read(context.Background(), connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error {
		if p.Number == 1 {
			return p.Ack(ctx)
		}
		return nil
	})
	if err != nil || !slices.Equal(names(t, base), []string{"a.csv"}) {
		t.Fatalf("after acking an earlier page: %v, files %v", err, names(t, base))
	}
	// A read stopped by the engine (ErrStop) ends without error, unacked.
	calls := 0
	err = s.Read(context.Background(), connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error {
		calls++
		return connector.ErrStop
	})
	if err != nil || calls != 1 || !exists(filepath.Join(base, "a.csv")) {
		t.Fatalf("ErrStop: %v after %d calls; file kept: %v", err, calls, exists(filepath.Join(base, "a.csv")))
	}
	// Another error of the callback comes back unchanged.
	boom := errors.New("queue full")
	err = s.Read(context.Background(), connector.ReadRequest{}, func(context.Context, connector.Page) error { return boom })
	if err != boom {
		t.Fatalf("callback error came back as %v", err)
	}
}

// TestSourceMalformed: bad input fails the read with file and line, and
// the file stays where it was even when the pages before are acked.
func TestSourceMalformed(t *testing.T) {
	var many strings.Builder
	many.WriteString("id,name\n")
	for i := 2; i < 57; i++ {
		fmt.Fprintf(&many, "%d,n%d\n", i, i)
	}
	many.WriteString("57,a,b\n58,c\n")
	cases := []struct {
		name, file, content string
		cfg                 SourceConfig
		want                string
	}{
		{"csv field count", "orders-1.csv", many.String(), SourceConfig{Format: "csv", Key: "id", PageSize: 10},
			"orders-1.csv line 57: 3 fields, expected 2"},
		{"csv quote", "q.csv", "id,name\n1,\"open\n2,x\n", SourceConfig{Format: "csv", Key: "id"},
			`q.csv line 2: extraneous or missing " in quoted-field (the record runs on to line 3`},
		{"csv type", "t.csv", "id,total\n1,3\n2,abc\n", SourceConfig{Format: "csv", Key: "id", Types: map[string]string{"total": "number"}},
			`t.csv line 3: column "total": "abc" is not a number`},
		{"csv int", "i.csv", "id,qty\n1,2.5\n", SourceConfig{Format: "csv", Key: "id", Types: map[string]string{"qty": "int"}},
			`i.csv line 2: column "qty": "2.5" is not an integer`},
		{"csv no key column", "k.csv", "order,name\n1,x\n", SourceConfig{Format: "csv", Key: "id"},
			`k.csv line 1: no column "id" (the key); the columns are order, name`},
		{"csv types column missing", "m.csv", "id\n1\n", SourceConfig{Format: "csv", Key: "id", Types: map[string]string{"price": "number"}},
			`m.csv line 1: types names column "price", which the file lacks`},
		{"csv duplicate header", "d.csv", "id,id\n1,2\n", SourceConfig{Format: "csv", Key: "id"},
			`d.csv line 1: the header names column "id" twice`},
		{"csv empty key", "e.csv", "id,name\n1,a\n,b\n", SourceConfig{Format: "csv", Key: "id"},
			`e.csv line 3: key field "id" is empty`},
		{"ndjson syntax", "a.ndjson", "{\"id\":1}\n\n{\"id\":2,}\n", SourceConfig{Format: "ndjson", Key: "id"},
			"a.ndjson line 3: invalid character '}'"},
		{"ndjson not object", "b.ndjson", "{\"id\":1}\n[1]\n", SourceConfig{Format: "ndjson", Key: "id"},
			"b.ndjson line 2: the line is an array (expected a JSON object)"},
		{"ndjson no key", "c.ndjson", "{\"id\":1}\n{\"name\":\"x\"}\n", SourceConfig{Format: "ndjson", Key: "id"},
			`c.ndjson line 2: the record has no key field "id"`},
		{"ndjson object key", "o.ndjson", "{\"id\":{\"a\":1}}\n", SourceConfig{Format: "ndjson", Key: "id"},
			`o.ndjson line 1: key field "id" is an object`},
		{"json syntax inside a record", "a.json", "[\n  {\"id\": 1},\n  {\"id\": 2,\n   \"x\": tru}\n]\n", SourceConfig{Format: "json", Key: "id"},
			"a.json line 4: invalid character '}' in literal true"},
		{"json missing comma", "b.json", "[\n{\"id\": 1}\n{\"id\": 2}\n]", SourceConfig{Format: "json", Key: "id"},
			"b.json line 3: expected comma after array element"},
		{"json truncated", "c.json", "[\n{\"id\": 1},\n{\"id\": 2", SourceConfig{Format: "json", Key: "id"},
			"c.json line 3: the file ends before the JSON array is closed"},
		{"json not an array", "d.json", "\n{\"id\": 1}", SourceConfig{Format: "json", Key: "id"},
			"d.json line 2: the file holds an object (expected a JSON array of objects)"},
		{"json empty", "e.json", "", SourceConfig{Format: "json", Key: "id"},
			"e.json line 1: the file is empty"},
		{"json element", "f.json", "[{\"id\": 1},\n 7]", SourceConfig{Format: "json", Key: "id"},
			"f.json line 2: the array holds a number (expected objects)"},
		{"json trailing data", "g.json", "[{\"id\": 1}]\n\n[]", SourceConfig{Format: "json", Key: "id"},
			"g.json line 3: data after the JSON array"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			writeFile(t, filepath.Join(base, tc.file), tc.content)
			tc.cfg.Dir = base
			s := newSource(t, "", tc.cfg)
			_, err := read(t, s, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if !exists(filepath.Join(base, tc.file)) || exists(filepath.Join(base, "done")) {
				t.Fatalf("the file must stay in place: %v", names(t, base))
			}
		})
	}
}

// TestSourceNDJSONAndJSON: both JSON formats, with exact big integers,
// a dotted key path, blank lines and line ranges in page URLs.
func TestSourceNDJSONAndJSON(t *testing.T) {
	cases := []struct {
		format, content string
		urls            []string
	}{
		{"ndjson", "{\"order\":{\"id\":1},\"n\":9007199254740993}\n\n{\"order\":{\"id\":\"b\"},\"n\":1.5}\r\n{\"order\":{\"id\":3},\"n\":null}",
			[]string{"file in.ndjson lines 1-4"}},
		{"json", "[\n  {\"order\": {\"id\": 1}, \"n\": 9007199254740993},\n  {\"order\": {\"id\": \"b\"},\n   \"n\": 1.5},\n  {\"order\": {\"id\": 3}, \"n\": null}\n]\n",
			[]string{"file in.json lines 2-5"}},
	}
	for _, tc := range cases {
		t.Run(tc.format, func(t *testing.T) {
			base := t.TempDir()
			writeFile(t, filepath.Join(base, "in."+tc.format), tc.content)
			s := newSource(t, base, SourceConfig{Dir: ".", Format: tc.format, Key: "order.id"})
			pages, err := read(t, s, true)
			if err != nil {
				t.Fatal(err)
			}
			if got := keys(pages); !slices.Equal(got, []string{"1", "b", "3"}) {
				t.Fatalf("keys %v", got)
			}
			if got := urls(pages); !slices.Equal(got, tc.urls) {
				t.Fatalf("URLs %q, want %q", got, tc.urls)
			}
			recs := pages[0].Records
			if recs[0].Data["n"] != json.Number("9007199254740993") || recs[1].Data["n"] != 1.5 || recs[2].Data["n"] != nil {
				t.Fatalf("numbers: %#v %#v %#v", recs[0].Data["n"], recs[1].Data["n"], recs[2].Data["n"])
			}
			if !exists(filepath.Join(base, "done", "in."+tc.format)) {
				t.Fatalf("not moved to done/: %v", names(t, base))
			}
		})
	}
}

// TestSourceOptions: header: false with columns and a delimiter, a byte
// order mark, after_read: delete, an empty file, and done/ keeping a
// file of the same name read earlier.
func TestSourceOptions(t *testing.T) {
	base := t.TempDir()
	writeFile(t, filepath.Join(base, "a.txt"), "\uFEFF1;x\n2;y\n")
	writeFile(t, filepath.Join(base, "b.txt"), "")
	f := false
	s := newSource(t, base, SourceConfig{Dir: ".", Glob: "*.txt", Format: "csv", Key: "id", Header: &f,
		Columns: []string{"id", "name"}, Delimiter: ";", AfterRead: "delete", FileField: "_file"})
	pages, err := read(t, s, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := urls(pages); !slices.Equal(got, []string{"file a.txt lines 1-2", "file b.txt (no records)"}) {
		t.Fatalf("URLs %q", got)
	}
	if got := pages[0].Records[1].Data; got["id"] != "2" || got["name"] != "y" || got["_file"] != "a.txt" {
		t.Fatalf("record %v", got)
	}
	if got := names(t, base); len(got) != 0 || exists(filepath.Join(base, "done")) {
		t.Fatalf("after_read: delete left %v", got)
	}

	writeFile(t, filepath.Join(base, "c.csv"), "id\n1\n")
	s = newSource(t, base, SourceConfig{Dir: ".", Format: "csv", Key: "id"})
	for round := 1; round <= 3; round++ {
		if _, err := read(t, s, true); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(base, "c.csv"), fmt.Sprintf("id\n%d\n", round+1))
	}
	if got, want := names(t, filepath.Join(base, "done")), []string{"c-2.csv", "c-3.csv", "c.csv"}; !slices.Equal(got, want) {
		t.Fatalf("done/ holds %v, want %v", got, want)
	}
}

// TestSourceSettle: a file modified within settle is left for later.
func TestSourceSettle(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "a.csv")
	writeFile(t, path, "id\n1\n")
	s := newSource(t, base, SourceConfig{Dir: ".", Format: "csv", Key: "id", Settle: Duration(time.Hour)})
	if pages, err := read(t, s, true); err != nil || len(pages) != 0 {
		t.Fatalf("fresh file read: %d pages, %v", len(pages), err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	if pages, err := read(t, s, true); err != nil || !slices.Equal(keys(pages), []string{"1"}) {
		t.Fatalf("settled file: %v, %v", keys(pages), err)
	}
}

// TestSourceFileReplacedBeforeAck: a producer replacing the file (same
// name, new content) between the read and the Ack: the new file is not
// consumed unread.
func TestSourceFileReplacedBeforeAck(t *testing.T) {
	base := t.TempDir()
	path := filepath.Join(base, "a.csv")
	writeFile(t, path, "id\n1\n")
	s := newSource(t, base, SourceConfig{Dir: ".", Format: "csv", Key: "id"})
	err := s.Read(context.Background(), connector.ReadRequest{}, func(ctx context.Context, p connector.Page) error {
		writeFile(t, path+".tmp", "id\n2\n3\n")
		if err := os.Rename(path+".tmp", path); err != nil {
			return err
		}
		return p.Ack(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	pages, err := read(t, s, true)
	if err != nil || !slices.Equal(keys(pages), []string{"2", "3"}) {
		t.Fatalf("the replacing file: %v, %v", keys(pages), err)
	}
}

// TestSourceMissingFolder names the folder.
func TestSourceMissingFolder(t *testing.T) {
	base := t.TempDir()
	s := newSource(t, base, SourceConfig{Dir: "nowhere", Format: "ndjson", Key: "id"})
	_, err := read(t, s, true)
	if err == nil || !strings.Contains(err.Error(), "folder "+filepath.Join(base, "nowhere")+" does not exist") {
		t.Fatalf("error %v", err)
	}
}

// TestSourceRecordLimit: a quote or bracket left open, or a file without
// line breaks, fails at the record limit with its line instead of
// reading the rest of the file into memory.
func TestSourceRecordLimit(t *testing.T) {
	long := strings.Repeat("x", 5000)
	cases := []struct {
		format, content, want string
	}{
		{"csv", "id,name\n1,a\n2,\"open\n" + strings.Repeat("3,"+long+"\n", 10), "a.csv line 3: a record runs on for more than 4096 bytes"},
		{"ndjson", "{\"id\":1}\n{\"id\":2,\"x\":\"" + long + "\"}\n", "a.ndjson line 2: the line is longer than 4096 bytes"},
		{"json", "[\n{\"id\":1},\n{\"id\":2,\"x\":[" + strings.Repeat("1,", 30000) + "1]}\n]", "a.json line 3: a record runs on for more than 4096 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.format, func(t *testing.T) {
			base := t.TempDir()
			writeFile(t, filepath.Join(base, "a."+tc.format), tc.content)
			s := newSource(t, base, SourceConfig{Dir: ".", Format: tc.format, Key: "id"})
			s.maxRecord = 4096
			_, err := read(t, s, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSourceInvalidMove: with invalid: move a malformed file goes to
// failed/ with its reason beside it and the files after it are read;
// with the default (fail) the read stops there, keeping the file order.
func TestSourceInvalidMove(t *testing.T) {
	for _, invalid := range []string{"fail", "move"} {
		t.Run(invalid, func(t *testing.T) {
			base := t.TempDir()
			writeFile(t, filepath.Join(base, "1.ndjson"), "{\"id\":1}\n")
			writeFile(t, filepath.Join(base, "2.ndjson"), "{\"id\":2}\n{\"id\":\n")
			writeFile(t, filepath.Join(base, "3.ndjson"), "{\"id\":3}\n")
			s := newSource(t, base, SourceConfig{Dir: ".", Format: "ndjson", Key: "id", Invalid: invalid})
			pages, err := read(t, s, true)
			if invalid == "fail" {
				if err == nil || !strings.Contains(err.Error(), "2.ndjson line 2: the line ends inside a JSON value") {
					t.Fatalf("error %v", err)
				}
				if got := names(t, base); !slices.Equal(got, []string{"2.ndjson", "3.ndjson"}) {
					t.Fatalf("left %v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// Records of a bad file's pages before the bad line are handed
			// over (and delivered); none of them is acknowledged.
			if got := keys(pages); !slices.Equal(got, []string{"1", "3"}) {
				t.Fatalf("keys %v", got)
			}
			if got := names(t, base); len(got) != 0 {
				t.Fatalf("left %v", got)
			}
			if got := names(t, filepath.Join(base, "failed")); !slices.Equal(got, []string{"2.ndjson", "2.ndjson.error"}) {
				t.Fatalf("failed/ holds %v", got)
			}
			if note := readFile(t, filepath.Join(base, "failed", "2.ndjson.error")); !strings.Contains(note, "2.ndjson line 2: the line ends inside a JSON value") {
				t.Fatalf("note %q", note)
			}
		})
	}
}

// TestSourceJSONRecordsPath: records: reaches an array inside objects,
// skipping the fields around it, and names what is wrong otherwise.
func TestSourceJSONRecordsPath(t *testing.T) {
	good := `{"meta": {"count": 2, "list": [1, {"x": "]"}]},
 "result": {"note": "}", "orders": [
  {"id": 1},
  {"id": 2}
 ], "after": [3]},
 "tail": null}
`
	cases := []struct{ name, content, records, want string }{
		{"good", good, "result.orders", ""},
		{"missing field", `{"result": {"items": []}}`, "result.orders", `a.json line 1: field "result" has no field "orders" (expected a JSON object with the array of records at "result.orders")`},
		{"not an object", `[{"id": 1}]`, "result.orders", `a.json line 1: the file holds [ (expected a JSON object`},
		{"not an array", `{"result": {"orders": {"id": 1}}}`, "result.orders", `a.json line 1: field "result.orders" holds an object`},
		{"truncated after", "{\"result\": {\"orders\": [{\"id\": 1}],\n \"x\": ", "result.orders", "a.json line 2: the file ends before the JSON object is closed"},
		{"data after", "{\"result\": {\"orders\": []}}\n{}", "result.orders", "a.json line 2: data after the JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			writeFile(t, filepath.Join(base, "a.json"), tc.content)
			s := newSource(t, base, SourceConfig{Dir: ".", Format: "json", Key: "id", Records: tc.records})
			pages, err := read(t, s, true)
			if tc.want == "" {
				if err != nil || !slices.Equal(keys(pages), []string{"1", "2"}) || !slices.Equal(urls(pages), []string{"file a.json lines 3-4"}) {
					t.Fatalf("read %v %v: %v", keys(pages), urls(pages), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSourceGzip: .gz files are decompressed as they are read; a broken
// one fails naming the file.
func TestSourceGzip(t *testing.T) {
	gz := func(s string) string {
		var b strings.Builder
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.String()
	}
	csvGz := gz("id,name\n1,a\n2,b\n")
	cases := []struct{ name, format, content, want string }{
		{"a.csv.gz", "csv", csvGz, ""},
		{"a.ndjson.gz", "ndjson", gz("{\"id\":1}\n{\"id\":2}\n"), ""},
		{"a.json.gz", "json", gz(`[{"id":1},{"id":2}]`), ""},
		{"b.csv.gz", "csv", "id,name\n1,a\n", "b.csv.gz line 1: not a gzip file"},
		{"c.csv.gz", "csv", csvGz[:len(csvGz)-6], "c.csv.gz line 4: read: unexpected EOF"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			writeFile(t, filepath.Join(base, tc.name), tc.content)
			s := newSource(t, base, SourceConfig{Dir: ".", Format: tc.format, Key: "id", Glob: "*.gz"})
			pages, err := read(t, s, true)
			if tc.want == "" {
				if err != nil || !slices.Equal(keys(pages), []string{"1", "2"}) || !exists(filepath.Join(base, "done", tc.name)) {
					t.Fatalf("read %v: %v", keys(pages), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
