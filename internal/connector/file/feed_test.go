package fileconn

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
)

// feedOf returns the destination's feed, failing the test on an error.
func feedOf(t *testing.T, d *Destination) connector.Feed {
	t.Helper()
	f, err := d.Feed(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// runIDs lists the run ids of the feed's files, in its order.
func runIDs(f connector.Feed) []int64 {
	var ids []int64
	for _, x := range f.Files {
		ids = append(ids, x.RunID)
	}
	return ids
}

// oneRun writes n records in a run and ends it.
func oneRun(t *testing.T, d *Destination, id int64, n int, completed bool) {
	t.Helper()
	ctx := context.Background()
	info := run(id, t0.Add(time.Duration(id)*time.Second))
	if err := d.StartRun(ctx, info); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		sendOK(t, d, deliveries(1, n))
	}
	if err := d.EndRun(ctx, info, completed); err != nil {
		t.Fatal(err)
	}
}

// TestFeedManifest: the feed lists each run's file newest first with its
// run, size, records and outcome; latest is the last completed run's;
// a new destination value (a restart) reads the same from the manifest.
func TestFeedManifest(t *testing.T) {
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			d := newDest(t, destConfig(dir, format))
			if f := feedOf(t, d); len(f.Files) != 0 || f.Latest != nil {
				t.Fatalf("feed before any run: %+v", f)
			}
			oneRun(t, d, 1, 3, true)
			oneRun(t, d, 2, 5, false) // failed: published, not latest
			oneRun(t, d, 3, 0, true)  // empty: skip, no file
			f := feedOf(t, d)
			if f.Route != "orders" || f.Format != format || !slices.Equal(runIDs(f), []int64{2, 1}) {
				t.Fatalf("feed %+v", f)
			}
			for i, want := range []struct {
				records  int
				complete bool
			}{{5, false}, {3, true}} {
				got := f.Files[i]
				info, err := os.Stat(got.Path)
				if err != nil || got.Size != info.Size() || got.Records != want.records || got.Complete != want.complete || got.Published.IsZero() ||
					got.Path != filepath.Join(dir, got.Name) || strings.HasSuffix(got.Name, partSuffix) {
					t.Fatalf("file %d: %+v (%v)", i, got, err)
				}
			}
			if l := f.Latest; l == nil || l.RunID != 1 || l.Name != "orders-latest."+format || l.Records != 3 || !l.Complete || l.Size != f.Files[1].Size {
				t.Fatalf("latest %+v", f.Latest)
			}

			again := feedOf(t, newDest(t, destConfig(dir, format)))
			if !slices.Equal(runIDs(again), runIDs(f)) || *again.Latest != *f.Latest || again.Files[0] != f.Files[0] {
				t.Fatalf("after a restart %+v, want %+v", again, f)
			}
		})
	}
}

// TestFeedWithoutLatestName: without latest:, Latest is the newest file
// of a completed run.
func TestFeedWithoutLatestName(t *testing.T) {
	dir := t.TempDir()
	cfg := destConfig(dir, "ndjson")
	cfg.Latest = ""
	d := newDest(t, cfg)
	oneRun(t, d, 1, 1, true)
	oneRun(t, d, 2, 1, false)
	f := feedOf(t, d)
	if f.Latest == nil || f.Latest.RunID != 1 || f.Latest.Name != f.Files[1].Name {
		t.Fatalf("latest %+v of %+v", f.Latest, f.Files)
	}
}

// TestFeedNeverListsPart: a run in progress (and one that died) is not
// listed; the next StartRun recovers the dead run's file, which is then
// listed with its run id as not complete.
func TestFeedNeverListsPart(t *testing.T) {
	dir := t.TempDir()
	d := newDest(t, destConfig(dir, "csv"))
	oneRun(t, d, 1, 2, true)
	ctx := context.Background()
	if err := d.StartRun(ctx, run(2, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	sendOK(t, d, deliveries(1, 4))
	if f := feedOf(t, d); !slices.Equal(runIDs(f), []int64{1}) || f.Latest.RunID != 1 {
		t.Fatalf("feed during run 2: %+v", f)
	}
	d.run.f.Close() // killed: no EndRun

	d2 := newDest(t, destConfig(dir, "csv"))
	if f := feedOf(t, d2); !slices.Equal(runIDs(f), []int64{1}) {
		t.Fatalf("feed after the kill: %+v", f)
	}
	if err := d2.StartRun(ctx, run(3, t0.Add(2*time.Hour))); err != nil {
		t.Fatal(err)
	}
	f := feedOf(t, d2)
	if !slices.Equal(runIDs(f), []int64{2, 1}) || f.Files[0].Complete || f.Files[0].Records != 4 || f.Latest.RunID != 1 {
		t.Fatalf("feed after recovery: %+v", f)
	}
}

// TestFeedManifestLags: killed between publishing a run's file and
// recording it, or after removing a listed file: the next load
// reconciles the manifest with the folder.
func TestFeedManifestLags(t *testing.T) {
	dir := t.TempDir()
	d := newDest(t, destConfig(dir, "ndjson"))
	oneRun(t, d, 1, 1, true)
	oneRun(t, d, 2, 2, true)
	ctx := context.Background()
	if err := d.StartRun(ctx, run(3, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	sendOK(t, d, deliveries(1, 3))
	// What finish does up to the manifest, then the kill.
	name := d.run.final
	d.run.w.Flush()
	d.run.f.Close()
	if _, err := d.publish(name, true); err != nil {
		t.Fatal(err)
	}
	if err := d.updateLatest(name); err != nil {
		t.Fatal(err)
	}
	// Run 1's file is removed by hand.
	if err := os.Remove(filepath.Join(dir, "orders-20261130T043840Z.ndjson")); err != nil {
		t.Fatal(err)
	}

	f := feedOf(t, newDest(t, destConfig(dir, "ndjson")))
	if !slices.Equal(runIDs(f), []int64{3, 2}) || f.Files[0].Complete || f.Files[0].Records != 3 {
		t.Fatalf("feed %+v", f)
	}
	if f.Latest == nil || f.Latest.RunID != 3 { // latest is a hard link to run 3's file
		t.Fatalf("latest %+v", f.Latest)
	}
}

// TestFeedKeep: files removed by keep leave the list.
func TestFeedKeep(t *testing.T) {
	dir := t.TempDir()
	cfg := destConfig(dir, "ndjson")
	cfg.Keep, cfg.Name = 2, "{route}-{run_id}.{ext}"
	d := newDest(t, cfg)
	for id := int64(1); id <= 5; id++ {
		oneRun(t, d, id, 1, true)
		at := t0.Add(time.Duration(id) * time.Minute) // distinct on coarse clocks
		os.Chtimes(filepath.Join(dir, fmt.Sprintf("orders-%d.ndjson", id)), at, at)
	}
	f := feedOf(t, d)
	if !slices.Equal(runIDs(f), []int64{5, 4}) || f.Latest.RunID != 5 {
		t.Fatalf("feed %+v", f)
	}
	if f := feedOf(t, newDest(t, cfg)); !slices.Equal(runIDs(f), []int64{5, 4}) {
		t.Fatalf("after a restart %+v", f)
	}
}

// TestFeedConstantName: a name every run replaces lists one file, the
// last run's.
func TestFeedConstantName(t *testing.T) {
	dir := t.TempDir()
	cfg := destConfig(dir, "json")
	cfg.Name, cfg.Latest = "feed.{ext}", ""
	d := newDest(t, cfg)
	oneRun(t, d, 1, 1, true)
	oneRun(t, d, 2, 2, true)
	if f := feedOf(t, d); !slices.Equal(runIDs(f), []int64{2}) || f.Files[0].Records != 2 || f.Latest.RunID != 2 {
		t.Fatalf("feed %+v", f)
	}
}

// TestFeedManifestUnreadable: a damaged manifest is replaced, not fatal;
// a latest file from before manifests existed is still served.
func TestFeedManifestUnreadable(t *testing.T) {
	dir := t.TempDir()
	d := newDest(t, destConfig(dir, "ndjson"))
	writeFile(t, d.manPath, "{not json")
	writeFile(t, filepath.Join(dir, "orders-latest.ndjson"), "{\"a\":1}\n{\"a\":2}\n")
	f := feedOf(t, d)
	if len(f.Files) != 0 || f.Latest == nil || f.Latest.RunID != 0 || f.Latest.Records != 2 {
		t.Fatalf("feed %+v", f)
	}
	oneRun(t, d, 7, 1, true)
	b, err := os.ReadFile(d.manPath)
	var m manifest
	if err != nil || json.Unmarshal(b, &m) != nil || len(m.Files) != 1 || m.Latest.RunID != 7 {
		t.Fatalf("manifest %s (%v)", b, err)
	}
}

// TestPublicTokenNotContent: public_token does not change the config's
// fingerprint (a rotated token must not resend every record), and a
// short one is refused without being quoted.
func TestPublicTokenNotContent(t *testing.T) {
	cfg := destConfig("out", "csv")
	cfg.defaults()
	withToken := cfg
	withToken.PublicToken = "0123456789abcdef0123"
	if a, b := cfg.Fingerprint(), withToken.Fingerprint(); !bytes.Equal(a, b) || bytes.Contains(b, []byte("0123456789")) {
		t.Fatalf("fingerprints %s / %s", a, b)
	}
	short := cfg
	short.PublicToken = "s3cr3t"
	err := short.check().err("destination")
	if err == nil || !strings.Contains(err.Error(), "public_token: is too short") || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("short token: %v", err)
	}
	if err := withToken.check().err("destination"); err != nil {
		t.Fatal(err)
	}
}

// TestFeedManifestOnlyItsFolder: names in the manifest that are not plain
// file names of the folder are dropped, so no download reaches outside.
func TestFeedManifestOnlyItsFolder(t *testing.T) {
	dir := t.TempDir()
	d := newDest(t, destConfig(dir, "ndjson"))
	writeFile(t, filepath.Join(dir, "ok.ndjson"), "{}\n")
	writeFile(t, d.manPath, `{"version": 1, "route": "orders", "files": [
		{"run_id": 3, "name": "../../etc/passwd"}, {"run_id": 2, "name": ".hidden"}, {"run_id": 1, "name": "ok.ndjson", "complete": true}],
		"latest": {"run_id": 9, "name": "/etc/passwd"}}`)
	if f := feedOf(t, d); !slices.Equal(runIDs(f), []int64{1}) || f.Latest != nil {
		t.Fatalf("feed %+v", f)
	}
}

// TestFeedTwoValues: after a config reload the old destination value
// may finish its run while the new one answers Feed: the new one sees
// the file the old one published.
func TestFeedTwoValues(t *testing.T) {
	dir := t.TempDir()
	old := newDest(t, destConfig(dir, "ndjson"))
	oneRun(t, old, 1, 1, true)
	ctx := context.Background()
	if err := old.StartRun(ctx, run(2, t0.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	sendOK(t, old, deliveries(1, 2))
	reloaded := newDest(t, destConfig(dir, "ndjson"))
	if f := feedOf(t, reloaded); !slices.Equal(runIDs(f), []int64{1}) {
		t.Fatalf("feed during run 2: %+v", f)
	}
	if err := old.EndRun(ctx, run(2, t0.Add(time.Hour)), true); err != nil {
		t.Fatal(err)
	}
	if f := feedOf(t, reloaded); !slices.Equal(runIDs(f), []int64{2, 1}) || !f.Files[0].Complete || f.Latest.RunID != 2 {
		t.Fatalf("feed after run 2: %+v", f)
	}
}
