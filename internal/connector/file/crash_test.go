//go:build unix

package fileconn_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
	fileconn "github.com/ferry-dev/ferry/internal/connector/file"
	"github.com/ferry-dev/ferry/internal/engine"
)

// childConfig names the config a re-executed test binary runs (see
// TestCrashChild); the parent SIGKILLs it.
const childConfig = "FERRY_FILE_CRASH_CONFIG"

const crashYAML = `
store: ferry.db
routes:
  prices:
    source:
      file: { dir: in, glob: "*.csv", format: csv, key: sku, page_size: 100 }
    batch: 50
    destinations:
      default:
        file: { dir: out, format: %s, name: "{route}-{run_id}.{ext}", latest: latest.%[1]s }
`

// TestFileCrash: a folder of CSV files into a feed, with the process
// SIGKILLed at random moments (reading, queuing, moving files, writing,
// syncing, renaming), then run to completion. Every input record is in a
// published feed file, every file of the feed is complete and parses,
// every input file is consumed, nothing is left queued.
func TestFileCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("kills processes; skipped with -short")
	}
	for _, format := range []string{"ndjson", "json"} {
		t.Run(format, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 1))
			base := t.TempDir()
			in := filepath.Join(base, "in")
			if err := os.MkdirAll(in, 0o755); err != nil {
				t.Fatal(err)
			}
			// Files arrive while ferry runs: each kill round adds two.
			perRound, rows, kills, delay := 2, 400, 15, 10
			if raceEnabled {
				rows, kills, delay = 60, 8, 400
			}
			files := perRound * kills
			want := map[string]bool{}
			addFile := func(f int) {
				var b strings.Builder
				b.WriteString("sku,name\n")
				for r := range rows {
					sku := fmt.Sprintf("F%02d-%03d", f, r)
					want[sku] = true
					fmt.Fprintf(&b, "%s,item %d\n", sku, r)
				}
				// Written under a hidden name and renamed, as producers should.
				tmp := filepath.Join(in, fmt.Sprintf(".p-%02d.csv", f))
				if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, filepath.Join(in, fmt.Sprintf("p-%02d.csv", f))); err != nil {
					t.Fatal(err)
				}
			}
			cfgPath := filepath.Join(base, "ferry.yaml")
			if err := os.WriteFile(cfgPath, fmt.Appendf(nil, crashYAML, format), 0o644); err != nil {
				t.Fatal(err)
			}

			landed := 0
			for round := range kills {
				for f := range perRound {
					addFile(round*perRound + f)
				}
				cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
				cmd.Env = append(os.Environ(), childConfig+"="+cfgPath)
				var out strings.Builder
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("the child failed by itself: %v\n%s", err, out.String())
					}
				case <-time.After(time.Duration(delay+rng.IntN(200)) * time.Millisecond):
					cmd.Process.Signal(syscall.SIGKILL)
					<-done // reaped: no zombie holds the route
					landed++
				}
			}

			// To completion, in this process.
			eng := newEngine(t, cfgPath)
			for i := 0; ; i++ {
				res, err := eng.Run(context.Background(), "prices", engine.RunOptions{})
				if err != nil {
					t.Fatalf("final run %d: %v", i, err)
				}
				left, _ := filepath.Glob(filepath.Join(in, "*.csv"))
				if len(left) == 0 && res.Queue.Pending == 0 && res.Queue.Error == 0 && res.Queue.Leased == 0 {
					if res.Queue.Dead != 0 {
						t.Fatalf("dead letters: %+v", res.Queue)
					}
					break
				}
				if i == 10 {
					t.Fatalf("not done after 10 runs: files %v, queue %+v", left, res.Queue)
				}
			}

			out := filepath.Join(base, "out")
			entries, err := os.ReadDir(out)
			if err != nil {
				t.Fatal(err)
			}
			got, dup := map[string]bool{}, 0
			for _, e := range entries {
				name := e.Name()
				if strings.HasSuffix(name, ".part") {
					t.Fatalf("a .part is left: %s", name)
				}
				if strings.HasPrefix(name, ".") {
					continue
				}
				skus, err := feedKeys(format, filepath.Join(out, name))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if strings.HasPrefix(name, "latest.") {
					continue // a copy of one run's file
				}
				for _, s := range skus {
					if got[s] {
						dup++
					}
					got[s] = true
				}
			}
			for sku := range want {
				if !got[sku] {
					t.Errorf("record %s is in no feed file", sku)
				}
			}
			done, _ := filepath.Glob(filepath.Join(in, "done", "*.csv"))
			if len(done) < files {
				t.Errorf("%d files in done/, want %d", len(done), files)
			}
			checkManifest(t, out, format)
			t.Logf("%d kills landed of %d; %d feed files; %d records written twice (delivered, then killed before settling)", landed, kills, len(entries)-1, dup)
		})
	}
}

// checkManifest: after the kills the feed lists exactly the published
// run files, each with the records it holds, and latest.
func checkManifest(t *testing.T, out, format string) {
	t.Helper()
	d, err := fileconn.NewDestination(connector.Env{Route: "prices"}, fileconn.DestinationConfig{Dir: out, Format: format, Name: "{route}-{run_id}.{ext}", Latest: "latest." + format})
	if err != nil {
		t.Fatal(err)
	}
	feed, err := d.Feed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, f := range feed.Files {
		keys, err := feedKeys(format, f.Path)
		if err != nil || len(keys) != f.Records {
			t.Errorf("listed %s: %d records, the file holds %d (%v)", f.Name, f.Records, len(keys), err)
		}
		listed[f.Name] = true
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		if name := e.Name(); !strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "latest.") && !listed[name] {
			t.Errorf("%s is published but not in the feed %v", name, listed)
		}
	}
	if len(listed) != len(feed.Files) || feed.Latest == nil {
		t.Errorf("feed lists a file twice or has no latest: %+v", feed)
	}
}

// feedKeys reads a published feed file whole; an error means it is not
// complete.
func feedKeys(format, path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var recs []map[string]any
	if format == "json" {
		if err := json.Unmarshal(b, &recs); err != nil {
			return nil, err
		}
	} else {
		if len(b) > 0 && b[len(b)-1] != '\n' {
			return nil, fmt.Errorf("a torn last line")
		}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				return nil, fmt.Errorf("line %q: %v", sc.Text(), err)
			}
			recs = append(recs, m)
		}
	}
	var keys []string
	for _, r := range recs {
		keys = append(keys, fmt.Sprint(r["sku"]))
	}
	return keys, nil
}

// TestCrashChild is the process TestFileCrash kills: it runs the route
// until the input is consumed (or it is killed first).
func TestCrashChild(t *testing.T) {
	cfgPath := os.Getenv(childConfig)
	if cfgPath == "" {
		t.Skip("run by TestFileCrash only")
	}
	eng := newEngine(t, cfgPath)
	for range 20 {
		res, err := eng.Run(context.Background(), "prices", engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		left, _ := filepath.Glob(filepath.Join(filepath.Dir(cfgPath), "in", "*.csv"))
		if len(left) == 0 && res.Queue.Pending == 0 && res.Queue.Error == 0 {
			return
		}
	}
}
