package fileconn

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
)

var t0 = time.Date(2026, 11, 30, 4, 38, 39, 0, time.UTC)

func newDest(t *testing.T, cfg DestinationConfig) *Destination {
	t.Helper()
	d, err := NewDestination(connector.Env{Route: "orders"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func run(id int64, started time.Time) connector.RunInfo {
	return connector.RunInfo{ID: id, Route: "orders", Started: started}
}

func deliveries(from, n int) []connector.Delivery {
	out := make([]connector.Delivery, n)
	for i := range out {
		k := from + i
		out[i] = connector.Delivery{
			EntryID: int64(k), Key: fmt.Sprint(k),
			Record: connector.Record{"sku": fmt.Sprintf("S-%d", k), "name": fmt.Sprintf("item %d, \"big\"", k), "price": float64(k) + 0.5},
		}
	}
	return out
}

func send(t *testing.T, d *Destination, batch []connector.Delivery) []connector.Result {
	t.Helper()
	res, err := d.Send(context.Background(), batch)
	if err != nil || len(res) != len(batch) {
		t.Fatalf("send: %v, %d results for %d", err, len(res), len(batch))
	}
	return res
}

func sendOK(t *testing.T, d *Destination, batch []connector.Delivery) {
	t.Helper()
	for i, r := range send(t, d, batch) {
		if !r.OK {
			t.Fatalf("record %s: %+v", batch[i].Key, r)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expected is what a run file holds for records from..from+n-1.
func expected(format string, from, n int) string {
	var b strings.Builder
	switch format {
	case "csv":
		b.WriteString("sku,name,price\n")
	case "json":
		b.WriteString("[\n")
	}
	for k := from; k < from+n; k++ {
		switch format {
		case "csv":
			fmt.Fprintf(&b, "S-%d,\"item %d, \"\"big\"\"\",%g\n", k, k, float64(k)+0.5)
		case "ndjson":
			fmt.Fprintf(&b, "{\"name\":\"item %d, \\\"big\\\"\",\"price\":%g,\"sku\":\"S-%d\"}\n", k, float64(k)+0.5, k)
		case "json":
			fmt.Fprintf(&b, "{\"name\":\"item %d, \\\"big\\\"\",\"price\":%g,\"sku\":\"S-%d\"}", k, float64(k)+0.5, k)
			if k < from+n-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
	}
	if format == "json" {
		b.WriteString("]\n")
	}
	return b.String()
}

// outNames lists a destination's folder without dot files (its feed
// manifest).
func outNames(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, n := range names(t, dir) {
		if !strings.HasPrefix(n, ".") {
			out = append(out, n)
		}
	}
	return out
}

func destConfig(dir, format string) DestinationConfig {
	cfg := DestinationConfig{Dir: dir, Format: format, Latest: "orders-latest." + format}
	if format == "csv" {
		cfg.Columns = []string{"sku", "name", "price"}
	}
	return cfg
}

// TestDestinationFormats: a run's file in each format, from two batches,
// published under its name and as latest.
func TestDestinationFormats(t *testing.T) {
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			d := newDest(t, destConfig(dir, format))
			ctx := context.Background()
			if err := d.StartRun(ctx, run(7, t0)); err != nil {
				t.Fatal(err)
			}
			part := filepath.Join(dir, "orders-20261130T043839Z."+format+".part")
			if !exists(part) {
				t.Fatalf("no %s: %v", part, outNames(t, dir))
			}
			sendOK(t, d, deliveries(1, 2))
			sendOK(t, d, deliveries(3, 3))
			if err := d.EndRun(ctx, run(7, t0), true); err != nil {
				t.Fatal(err)
			}
			want := expected(format, 1, 5)
			if got := readFile(t, filepath.Join(dir, "orders-20261130T043839Z."+format)); got != want {
				t.Fatalf("file:\n%s\nwant:\n%s", got, want)
			}
			if got := readFile(t, filepath.Join(dir, "orders-latest."+format)); got != want {
				t.Fatalf("latest:\n%s", got)
			}
			if format == "json" {
				var v []map[string]any
				if err := json.Unmarshal([]byte(want), &v); err != nil || len(v) != 5 {
					t.Fatalf("not a JSON array of 5: %v", err)
				}
			}
			if got := outNames(t, dir); len(got) != 2 {
				t.Fatalf("files left: %v", got)
			}
		})
	}
}

// TestDestinationReaderNeverSeesPartial: a reader polling the folder
// during runs finds every published file complete (and latest too);
// what is being written is only ever a .part.
func TestDestinationReaderNeverSeesPartial(t *testing.T) {
	const runs, batches, per = 6, 20, 25
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			d := newDest(t, destConfig(dir, format))
			var stop atomic.Bool
			var seen atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, 1)
			wg.Go(func() {
				for !stop.Load() {
					entries, err := os.ReadDir(dir)
					if err != nil {
						errs <- err
						return
					}
					for _, e := range entries {
						name := e.Name()
						if strings.HasSuffix(name, ".part") || strings.HasPrefix(name, ".") {
							continue
						}
						b, err := os.ReadFile(filepath.Join(dir, name))
						if os.IsNotExist(err) {
							continue
						}
						if err != nil {
							errs <- err
							return
						}
						if n, err := countRecords(format, b); err != nil || n != batches*per {
							errs <- fmt.Errorf("%s: %d records (%v), want %d", name, n, err, batches*per)
							return
						}
						seen.Add(1)
					}
				}
			})
			ctx := context.Background()
			for r := range runs {
				info := run(int64(r+1), t0.Add(time.Duration(r)*time.Second))
				if err := d.StartRun(ctx, info); err != nil {
					t.Fatal(err)
				}
				for b := range batches {
					sendOK(t, d, deliveries(b*per, per))
				}
				if err := d.EndRun(ctx, info, true); err != nil {
					t.Fatal(err)
				}
			}
			stop.Store(true)
			wg.Wait()
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
			if got := len(outNames(t, dir)); got != runs+1 {
				t.Fatalf("%d files, want %d runs and latest: %v", got, runs, outNames(t, dir))
			}
			if seen.Load() == 0 {
				t.Fatal("the reader checked no file")
			}
		})
	}
}

// countRecords parses a whole run file; an error means it is incomplete.
func countRecords(format string, b []byte) (int, error) {
	switch format {
	case "csv":
		rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
		return len(rows) - 1, err
	case "ndjson":
		if len(b) > 0 && b[len(b)-1] != '\n' {
			return 0, fmt.Errorf("torn last line")
		}
		n := 0
		for line := range bytes.Lines(b) {
			if !json.Valid(line) {
				return 0, fmt.Errorf("invalid line %q", line)
			}
			n++
		}
		return n, nil
	}
	var v []json.RawMessage
	err := json.Unmarshal(b, &v)
	return len(v), err
}

// TestDestinationRecovery: a run that died (StartRun and Sends, no
// EndRun, a torn record at the end) leaves a .part; a new destination
// value's StartRun finishes and publishes it with every OK record, and
// latest is left to completed runs.
func TestDestinationRecovery(t *testing.T) {
	torn := map[string]string{
		"csv":    "S-99,\"item 99\nhalf", // cut inside a quoted value
		"ndjson": `{"name":"item 99","pri`,
		"json":   `{"name":"item 99","pri`,
	}
	for _, format := range formats {
		for _, died := range []string{"torn", "clean", "header only", "closed"} {
			t.Run(format+" "+died, func(t *testing.T) {
				dir := t.TempDir()
				d := newDest(t, destConfig(dir, format))
				ctx := context.Background()
				if err := d.StartRun(ctx, run(1, t0)); err != nil {
					t.Fatal(err)
				}
				n := 0
				if died != "header only" {
					sendOK(t, d, deliveries(1, 3))
					sendOK(t, d, deliveries(4, 2))
					n = 5
				}
				part := filepath.Join(dir, d.run.final+partSuffix)
				switch died {
				case "torn":
					if _, err := d.run.f.WriteString(torn[format]); err != nil {
						t.Fatal(err)
					}
				case "closed": // died after closing, before the rename
					if format != "json" {
						t.Skip("only JSON writes at close")
					}
					if err := closeJSON(d.run.f, d.run.size, true); err != nil {
						t.Fatal(err)
					}
				}
				d.run.f.Close() // the process died: no EndRun

				d2 := newDest(t, destConfig(dir, format))
				if err := d2.StartRun(ctx, run(2, t0.Add(time.Minute))); err != nil {
					t.Fatal(err)
				}
				final := filepath.Join(dir, "orders-20261130T043839Z."+format)
				if exists(part) {
					t.Fatalf("%s not finished", part)
				}
				if n == 0 {
					if exists(final) {
						t.Fatal("a run without records published a file (empty: skip)")
					}
				} else if got, want := readFile(t, final), expected(format, 1, n); got != want {
					t.Fatalf("recovered:\n%q\nwant:\n%q", got, want)
				}
				if exists(filepath.Join(dir, "orders-latest."+format)) {
					t.Fatal("latest must come from a completed run only")
				}
				sendOK(t, d2, deliveries(10, 1))
				if err := d2.EndRun(ctx, run(2, t0.Add(time.Minute)), true); err != nil {
					t.Fatal(err)
				}
				if got := readFile(t, filepath.Join(dir, "orders-latest."+format)); got != expected(format, 10, 1) {
					t.Fatalf("latest %q", got)
				}
			})
		}
	}
}

// TestDestinationRecoveryOtherRoutes: StartRun finishes only its own
// route's .part files.
func TestDestinationRecoveryOtherRoutes(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "stock-20261130T043839Z.ndjson.part")
	writeFile(t, other, "{\"a\":1}\n")
	numberedPart := filepath.Join(dir, "orders-20261130T043839Z-2.ndjson.part")
	writeFile(t, numberedPart, "{\"a\":2}\n")
	d := newDest(t, DestinationConfig{Dir: dir, Format: "ndjson"})
	if err := d.StartRun(context.Background(), run(3, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	if !exists(other) {
		t.Fatal("another route's .part was taken")
	}
	if exists(numberedPart) || readFile(t, filepath.Join(dir, "orders-20261130T043839Z-2.ndjson")) != "{\"a\":2}\n" {
		t.Fatalf("this route's numbered .part not recovered: %v", outNames(t, dir))
	}
}

// TestDestinationRunOutcomes: empty runs (skip and write), a run that
// did not complete, two runs with one start second, a constant name.
func TestDestinationRunOutcomes(t *testing.T) {
	ctx := context.Background()
	t.Run("empty skip", func(t *testing.T) {
		dir := t.TempDir()
		d := newDest(t, destConfig(dir, "csv"))
		writeFile(t, filepath.Join(dir, "orders-latest.csv"), "old\n")
		d.StartRun(ctx, run(1, t0))
		if err := d.EndRun(ctx, run(1, t0), true); err != nil {
			t.Fatal(err)
		}
		if got := outNames(t, dir); !slices.Equal(got, []string{"orders-latest.csv"}) || readFile(t, filepath.Join(dir, "orders-latest.csv")) != "old\n" {
			t.Fatalf("files %v", got)
		}
	})
	for format, want := range map[string]string{"csv": "sku,name,price\n", "ndjson": "", "json": "[\n]\n"} {
		t.Run("empty write "+format, func(t *testing.T) {
			dir := t.TempDir()
			cfg := destConfig(dir, format)
			cfg.Empty = "write"
			d := newDest(t, cfg)
			d.StartRun(ctx, run(1, t0))
			if err := d.EndRun(ctx, run(1, t0), true); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(dir, "orders-20261130T043839Z."+format)); got != want {
				t.Fatalf("empty file %q, want %q", got, want)
			}
			if got := readFile(t, filepath.Join(dir, "orders-latest."+format)); got != want {
				t.Fatalf("latest %q", got)
			}
		})
	}
	t.Run("not completed", func(t *testing.T) {
		dir := t.TempDir()
		d := newDest(t, destConfig(dir, "ndjson"))
		d.StartRun(ctx, run(1, t0))
		sendOK(t, d, deliveries(1, 2))
		if err := d.EndRun(ctx, run(1, t0), false); err != nil {
			t.Fatal(err)
		}
		if got := outNames(t, dir); !slices.Equal(got, []string{"orders-20261130T043839Z.ndjson"}) {
			t.Fatalf("files %v (latest must not change)", got)
		}
	})
	t.Run("same second", func(t *testing.T) {
		dir := t.TempDir()
		d := newDest(t, DestinationConfig{Dir: dir, Format: "ndjson"})
		for id := int64(1); id <= 3; id++ {
			d.StartRun(ctx, run(id, t0))
			sendOK(t, d, deliveries(int(id), 1))
			if err := d.EndRun(ctx, run(id, t0), true); err != nil {
				t.Fatal(err)
			}
		}
		want := []string{"orders-20261130T043839Z-2.ndjson", "orders-20261130T043839Z-3.ndjson", "orders-20261130T043839Z.ndjson"}
		if got := outNames(t, dir); !slices.Equal(got, want) {
			t.Fatalf("files %v, want %v", got, want)
		}
	})
	t.Run("constant name and placeholders", func(t *testing.T) {
		dir := t.TempDir()
		d := newDest(t, DestinationConfig{Dir: filepath.Join(dir, "new"), Format: "json", Name: "feed-{route}.{ext}"})
		for id := int64(1); id <= 2; id++ {
			d.StartRun(ctx, run(id, t0))
			sendOK(t, d, deliveries(int(id), 1))
			if err := d.EndRun(ctx, run(id, t0), true); err != nil {
				t.Fatal(err)
			}
		}
		if got := readFile(t, filepath.Join(dir, "new", "feed-orders.json")); got != expected("json", 2, 1) {
			t.Fatalf("feed %q", got)
		}
		tmpl, _ := parseName("{route}_{date}_{run_id}_{run}.{ext}")
		if got := tmpl.render(run(42, t0), "csv"); got != "orders_2026-11-30_42_20261130T043839Z.csv" {
			t.Fatalf("placeholders rendered %q", got)
		}
	})
}

// TestDestinationPerRecordResults: deletes and values a format cannot
// hold fail alone, not retried; without a run the batch is retried.
func TestDestinationPerRecordResults(t *testing.T) {
	dir := t.TempDir()
	d := newDest(t, destConfig(dir, "ndjson"))
	ctx := context.Background()
	res := send(t, d, deliveries(1, 1))
	if res[0].OK || !res[0].Retryable || !strings.Contains(res[0].Error, "StartRun") {
		t.Fatalf("send without a run: %+v", res[0])
	}
	d.StartRun(ctx, run(1, t0))
	batch := deliveries(1, 3)
	batch[1].Deleted = true
	batch[2].Record = connector.Record{"price": math.NaN()}
	res = send(t, d, batch)
	if !res[0].OK || res[0].Request == "" {
		t.Fatalf("record 1: %+v", res[0])
	}
	if res[1].OK || res[1].Retryable || !strings.Contains(res[1].Error, "cannot delete record 2") {
		t.Fatalf("delete: %+v", res[1])
	}
	if res[2].OK || res[2].Retryable || !strings.Contains(res[2].Error, "record 3 cannot be written as ndjson") {
		t.Fatalf("NaN: %+v", res[2])
	}
	if err := d.EndRun(ctx, run(1, t0), true); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(dir, "orders-20261130T043839Z.ndjson")); got != expected("ndjson", 1, 1) {
		t.Fatalf("file %q", got)
	}
	if _, err := d.Send(canceled(), deliveries(1, 1)); err == nil {
		t.Fatal("a canceled context must end Send")
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestDestinationPreview renders what the file would hold.
func TestDestinationPreview(t *testing.T) {
	dir := t.TempDir()
	for format, body := range map[string]string{
		"csv":    "S-1,\"item 1, \"\"big\"\"\",1.5\n",
		"ndjson": "{\"name\":\"item 1, \\\"big\\\"\",\"price\":1.5,\"sku\":\"S-1\"}\n",
		"json":   "{\"name\":\"item 1, \\\"big\\\"\",\"price\":1.5,\"sku\":\"S-1\"}",
	} {
		d := newDest(t, destConfig(dir, format))
		p, err := d.Preview(context.Background(), deliveries(1, 1)[0])
		if err != nil || p.Method != "WRITE" || string(p.Body) != body || !strings.HasPrefix(p.URL, filepath.Join(dir, "orders-")) || !strings.HasSuffix(p.URL, "."+format) {
			t.Fatalf("%s preview %+v (%q), %v", format, p, p.Body, err)
		}
	}
	d := newDest(t, destConfig(dir, "csv"))
	if _, err := d.Preview(context.Background(), connector.Delivery{Key: "9", Deleted: true}); err == nil {
		t.Fatal("a delete must not preview")
	}
}

// TestRecoverTornStart: a run that died while writing its first bytes
// (a torn CSV header, half the JSON opening) is repaired into a valid
// empty file (empty: write) or removed (empty: skip).
func TestRecoverTornStart(t *testing.T) {
	cases := []struct{ format, part, want string }{
		{"csv", "sku,na", "sku,name,price\n"},
		{"csv", "", "sku,name,price\n"},
		{"json", "[", "[\n]\n"},
		{"json", "", "[\n]\n"},
		{"ndjson", "{\"a\":", ""},
	}
	for _, tc := range cases {
		for _, empty := range []string{"write", "skip"} {
			t.Run(tc.format+" "+strconvQuote(tc.part)+" "+empty, func(t *testing.T) {
				dir := t.TempDir()
				writeFile(t, filepath.Join(dir, "orders-20261130T043839Z."+tc.format+".part"), tc.part)
				cfg := destConfig(dir, tc.format)
				cfg.Empty = empty
				d := newDest(t, cfg)
				if err := d.StartRun(context.Background(), run(2, t0.Add(time.Hour))); err != nil {
					t.Fatal(err)
				}
				final := filepath.Join(dir, "orders-20261130T043839Z."+tc.format)
				if empty == "skip" {
					if exists(final) {
						t.Fatalf("an empty recovered file was published: %v", outNames(t, dir))
					}
					return
				}
				if got := readFile(t, final); got != tc.want {
					t.Fatalf("recovered %q, want %q", got, tc.want)
				}
			})
		}
	}
}

func strconvQuote(s string) string {
	if s == "" {
		return "empty"
	}
	return fmt.Sprintf("%q", s)
}

// TestDestinationKeep: keep: 3 leaves the three newest run files (the
// one just written among them) and latest.
func TestDestinationKeep(t *testing.T) {
	dir := t.TempDir()
	cfg := destConfig(dir, "ndjson")
	cfg.Keep = 3
	cfg.Name = "{route}-{run_id}.{ext}"
	writeFile(t, filepath.Join(dir, "stock-1.ndjson"), "{}\n") // another route's
	d := newDest(t, cfg)
	ctx := context.Background()
	for id := int64(1); id <= 12; id++ {
		d.StartRun(ctx, run(id, t0))
		sendOK(t, d, deliveries(int(id), 1))
		if err := d.EndRun(ctx, run(id, t0), true); err != nil {
			t.Fatal(err)
		}
		// Distinct times even on coarse file system clocks.
		at := t0.Add(time.Duration(id) * time.Minute)
		os.Chtimes(filepath.Join(dir, fmt.Sprintf("orders-%d.ndjson", id)), at, at)
	}
	want := []string{"orders-10.ndjson", "orders-11.ndjson", "orders-12.ndjson", "orders-latest.ndjson", "stock-1.ndjson"}
	if got := outNames(t, dir); !slices.Equal(got, want) {
		t.Fatalf("files %v, want %v", got, want)
	}
}
