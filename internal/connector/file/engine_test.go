package fileconn_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/engine/enginetest"
)

// TestEngineFolderToFeed runs the engine on a real SQLite store with a
// folder of CSV files as the source and an NDJSON feed as the
// destination. The first run cannot move its files to done/ (as if
// ferry died between queuing and moving): the files stay and the next
// run reads them again, which the key makes harmless: nothing is
// delivered twice, and the files are consumed then.
func TestEngineFolderToFeed(t *testing.T) {
	base := t.TempDir()
	in, out := filepath.Join(base, "in"), filepath.Join(base, "out")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	const files, rows = 3, 450 // two pages per file
	for f := range files {
		var b strings.Builder
		b.WriteString("sku,name,price\n")
		for r := range rows {
			fmt.Fprintf(&b, "S-%d-%d,item %d,%d.5\n", f, r, r, r)
		}
		if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("prices-%d.csv", f)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A plain file where done/ should be: moving fails, like a crash
	// right after the records were queued.
	if err := os.WriteFile(filepath.Join(in, "done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(base, "ferry.yaml")
	err := os.WriteFile(cfgPath, []byte(`
store: ferry.db
routes:
  prices:
    source:
      file: { dir: in, glob: "prices-*.csv", format: csv, key: sku, types: { price: number }, page_size: 300 }
    batch: 200
    destinations:
      default:
        file: { dir: out, format: ndjson, name: "{route}-{run_id}.{ext}", latest: prices-latest.ndjson }
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	eng := newEngine(t, cfgPath)
	ctx := context.Background()

	res, err := eng.Run(ctx, "prices", engine.RunOptions{})
	if err != nil || res.Done != files*rows {
		t.Fatalf("run 1: done %d, %v; want %d", res.Done, err, files*rows)
	}
	left, _ := filepath.Glob(filepath.Join(in, "prices-*.csv"))
	if len(left) != files {
		t.Fatalf("run 1 consumed files though it could not move them: %v", left)
	}
	if err := os.Remove(filepath.Join(in, "done")); err != nil {
		t.Fatal(err)
	}

	res, err = eng.Run(ctx, "prices", engine.RunOptions{})
	if err != nil || res.Done != 0 || res.Unchanged != files*rows {
		t.Fatalf("run 2: done %d, unchanged %d, %v; want 0 and %d", res.Done, res.Unchanged, err, files*rows)
	}
	left, _ = filepath.Glob(filepath.Join(in, "prices-*.csv"))
	done, _ := filepath.Glob(filepath.Join(in, "done", "prices-*.csv"))
	if len(left) != 0 || len(done) != files {
		t.Fatalf("after run 2: left %v, done %v", left, done)
	}

	// One feed file (run 2 delivered nothing: no file) plus latest.
	feed, err := os.ReadFile(filepath.Join(out, "prices-1.ndjson"))
	if err != nil {
		t.Fatalf("%v; the folder holds %v", err, ls(out))
	}
	if n := bytes.Count(feed, []byte("\n")); n != files*rows {
		t.Fatalf("feed has %d lines, want %d", n, files*rows)
	}
	if !bytes.Contains(feed, []byte(`{"name":"item 449","price":449.5,"sku":"S-2-449"}`+"\n")) {
		t.Fatal("feed lacks the last record, typed")
	}
	if got := ls(out); strings.Join(got, " ") != "prices-1.ndjson prices-latest.ndjson" {
		t.Fatalf("feed folder %v", got)
	}
}

func ls(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".") { // the feed manifest
			out = append(out, e.Name())
		}
	}
	return out
}

// TestEngineMalformedFile: a malformed file among good ones fails the
// run naming the file and line; the files before it are delivered and
// consumed, it and the files after it stay for the next run.
func TestEngineMalformedFile(t *testing.T) {
	base := t.TempDir()
	in := filepath.Join(base, "in")
	os.MkdirAll(in, 0o755)
	for name, content := range map[string]string{
		"p-1.csv": "sku,price\nA,1\n",
		"p-2.csv": "sku,price\nB,2\nC,oops\n",
		"p-3.csv": "sku,price\nD,4\n",
	} {
		if err := os.WriteFile(filepath.Join(in, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfgPath := filepath.Join(base, "ferry.yaml")
	err := os.WriteFile(cfgPath, []byte(`
store: ferry.db
routes:
  prices:
    source:
      file: { dir: in, format: csv, key: sku, types: { price: number } }
    destinations:
      default:
        file: { dir: out, format: ndjson, name: "{route}.{ext}" }
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	eng := newEngine(t, cfgPath)
	res, err := eng.Run(context.Background(), "prices", engine.RunOptions{})
	if err == nil || !strings.Contains(err.Error(), `p-2.csv line 3: column "price": "oops" is not a number`) {
		t.Fatalf("run error %v", err)
	}
	if res.Done != 1 {
		t.Fatalf("done %d, want 1 (the file before the bad one)", res.Done)
	}
	if got := strings.Join(ls(in), " "); got != "done p-2.csv p-3.csv" {
		t.Fatalf("inbox %s", got)
	}
	if b, _ := os.ReadFile(filepath.Join(base, "out", "prices.ndjson")); string(b) != `{"price":1,"sku":"A"}`+"\n" {
		t.Fatalf("feed %q", b)
	}
}

// newEngine builds the engine of a config file on its SQLite store.
func newEngine(t *testing.T, cfgPath string) *engine.Engine {
	t.Helper()
	cfg, err := config.Load(cfgPath, all.Set())
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := enginetest.New(t, cfg, filepath.Join(filepath.Dir(cfgPath), "ferry.db"), engine.Options{RetryWait: -1})
	return eng
}
