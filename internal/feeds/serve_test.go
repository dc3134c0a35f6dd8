package feeds_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/connector"
	fileconn "github.com/ferry-dev/ferry/internal/connector/file"
	"github.com/ferry-dev/ferry/internal/feeds"
)

// destSource serves the feed of file destinations built in the test
// (driven by StartRun/Send/EndRun, as the engine drives them).
type destSource map[string]*fileconn.Destination

func (s destSource) Feeds(ctx context.Context, route string) ([]connector.Feed, error) {
	var out []connector.Feed
	for name, d := range s {
		f, err := d.Feed(ctx)
		if err != nil {
			return nil, err
		}
		f.Destination = name
		out = append(out, f)
	}
	return out, nil
}

func newDestination(t *testing.T, cfg fileconn.DestinationConfig) *fileconn.Destination {
	t.Helper()
	d, err := fileconn.NewDestination(connector.Env{Route: "products"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func records(run int64, n int) []connector.Delivery {
	out := make([]connector.Delivery, n)
	for i := range out {
		out[i] = connector.Delivery{EntryID: int64(i + 1), Key: fmt.Sprint(i), Record: connector.Record{"sku": fmt.Sprintf("R%d-%d", run, i), "name": strings.Repeat("product ", 20)}}
	}
	return out
}

func sendAll(t *testing.T, d *fileconn.Destination, batch []connector.Delivery) {
	t.Helper()
	res, err := d.Send(context.Background(), batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.OK {
			t.Fatalf("send: %+v", r)
		}
	}
}

func info(id int64) connector.RunInfo {
	return connector.RunInfo{ID: id, Route: "products", Started: time.Date(2026, 11, 30, 6, 0, int(id), 0, time.UTC)}
}

// TestLatestNeverHalfWritten: while run 2 writes its file, latest still
// serves run 1's complete file and run 2 has no file to download; once
// run 2 ends, latest is run 2's. With and without a latest: name.
func TestLatestNeverHalfWritten(t *testing.T) {
	for _, latestName := range []string{"products-latest.ndjson", ""} {
		t.Run("latest "+latestName, func(t *testing.T) {
			dir := t.TempDir()
			d := newDestination(t, fileconn.DestinationConfig{Dir: dir, Format: "ndjson", Name: "{route}-{run_id}.{ext}", Latest: latestName})
			url := serve(t, destSource{"default": d})
			ctx := context.Background()

			if err := d.StartRun(ctx, info(1)); err != nil {
				t.Fatal(err)
			}
			sendAll(t, d, records(1, 50))
			if err := d.EndRun(ctx, info(1), true); err != nil {
				t.Fatal(err)
			}
			run1, err := os.ReadFile(filepath.Join(dir, "products-1.ndjson"))
			if err != nil {
				t.Fatal(err)
			}

			if err := d.StartRun(ctx, info(2)); err != nil {
				t.Fatal(err)
			}
			sendAll(t, d, records(2, 30)) // half of run 2, on disk as .part
			if !exists(filepath.Join(dir, "products-2.ndjson.part")) {
				t.Fatal("run 2 writes no .part")
			}
			r := get(t, "GET", url+"/feeds/products/latest", api)
			if r.status != 200 || r.body != string(run1) || r.header.Get("X-Ferry-Run-Id") != "1" {
				t.Fatalf("latest during run 2: %d run %s, %d bytes (want run 1's %d)", r.status, r.header.Get("X-Ferry-Run-Id"), len(r.body), len(run1))
			}
			problem(t, get(t, "GET", url+"/feeds/products/runs/2", api), 404)
			if list := get(t, "GET", url+"/feeds/products", api); strings.Contains(list.body, ".part") || strings.Contains(list.body, `"run_id": 2`) {
				t.Fatalf("the list shows the run being written: %s", list.body)
			}

			sendAll(t, d, records(2, 60)[30:])
			if err := d.EndRun(ctx, info(2), true); err != nil {
				t.Fatal(err)
			}
			run2, _ := os.ReadFile(filepath.Join(dir, "products-2.ndjson"))
			if r := get(t, "GET", url+"/feeds/products/latest", api); r.status != 200 || r.body != string(run2) || r.header.Get("X-Ferry-Run-Id") != "2" {
				t.Fatalf("latest after run 2: %d run %s", r.status, r.header.Get("X-Ferry-Run-Id"))
			}
			if r := get(t, "GET", url+"/feeds/products/runs/1", api); r.body != string(run1) {
				t.Fatal("run 1's file changed")
			}
		})
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestCaching: ETag and Last-Modified answer conditional requests with
// 304; a new run changes latest's ETag; ranges; gzip (its own ETag,
// Vary); HEAD.
func TestCaching(t *testing.T) {
	dir := t.TempDir()
	d := newDestination(t, fileconn.DestinationConfig{Dir: dir, Format: "csv", Columns: []string{"sku", "name"}, Name: "{route}-{run_id}.{ext}", Latest: "products.csv"})
	url := serve(t, destSource{"default": d})
	ctx := context.Background()
	publish := func(id int64, n int) {
		t.Helper()
		if err := d.StartRun(ctx, info(id)); err != nil {
			t.Fatal(err)
		}
		sendAll(t, d, records(id, n))
		if err := d.EndRun(ctx, info(id), true); err != nil {
			t.Fatal(err)
		}
	}
	publish(1, 40)
	latest := url + "/feeds/products/latest"
	first := get(t, "GET", latest, api)
	etag, modified := first.header.Get("ETag"), first.header.Get("Last-Modified")
	if first.status != 200 || !strings.HasPrefix(etag, `"`) || strings.HasPrefix(etag, `W/`) || modified == "" || first.header.Get("Vary") != "Accept-Encoding" ||
		first.header.Get("Content-Encoding") != "" || first.header.Get("Content-Length") != fmt.Sprint(len(first.body)) {
		t.Fatalf("first: %d %v", first.status, first.header)
	}

	cases := []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"if-none-match", map[string]string{"If-None-Match": etag}, 304},
		{"if-none-match among others", map[string]string{"If-None-Match": `"x", ` + etag}, 304},
		{"if-none-match other", map[string]string{"If-None-Match": `"other"`}, 200},
		{"if-modified-since", map[string]string{"If-Modified-Since": modified}, 304},
		{"if-modified-since earlier", map[string]string{"If-Modified-Since": "Mon, 30 Nov 2020 00:00:00 GMT"}, 200},
	}
	for _, tc := range cases {
		tc.headers["Authorization"] = "api"
		if r := get(t, "GET", latest, tc.headers); r.status != tc.status || (tc.status == 304 && r.body != "") {
			t.Errorf("%s: %d (%d bytes), want %d", tc.name, r.status, len(r.body), tc.status)
		}
	}

	// Range: identity bytes, never gzip.
	r := get(t, "GET", latest, map[string]string{"Authorization": "api", "Range": "bytes=0-9", "Accept-Encoding": "gzip"})
	if r.status != 206 || r.body != first.body[:10] || r.header.Get("Content-Encoding") != "" {
		t.Fatalf("range: %d %q %v", r.status, r.body, r.header)
	}

	// gzip: the same bytes compressed, under another strong ETag.
	gz := get(t, "GET", latest, map[string]string{"Authorization": "api", "Accept-Encoding": "br;q=1, gzip;q=0.8"})
	if gz.status != 200 || gz.header.Get("Content-Encoding") != "gzip" || (gz.header.Get("Content-Length") != "" && gz.header.Get("Content-Length") != fmt.Sprint(len(gz.body))) || gz.header.Get("Vary") != "Accept-Encoding" {
		t.Fatalf("gzip: %d %v", gz.status, gz.header)
	}
	if plain := gunzip(t, gz.body); plain != first.body || len(gz.body) >= len(first.body) {
		t.Fatalf("gzip body: %d bytes decode to %d, want %d", len(gz.body), len(plain), len(first.body))
	}
	gzTag := gz.header.Get("ETag")
	if gzTag == etag || strings.HasPrefix(gzTag, "W/") {
		t.Fatalf("gzip ETag %s (identity %s)", gzTag, etag)
	}
	if r := get(t, "GET", latest, map[string]string{"Authorization": "api", "Accept-Encoding": "gzip", "If-None-Match": gzTag}); r.status != 304 {
		t.Fatalf("gzip revalidation: %d", r.status)
	}
	if r := get(t, "GET", latest, map[string]string{"Authorization": "api", "Accept-Encoding": "gzip;q=0"}); r.header.Get("Content-Encoding") != "" {
		t.Fatal("gzip;q=0 got gzip")
	}
	if r := get(t, "HEAD", latest, map[string]string{"Authorization": "api", "Accept-Encoding": "gzip"}); r.status != 200 || r.body != "" || r.header.Get("ETag") != gzTag {
		t.Fatalf("HEAD: %d %q %v", r.status, r.body, r.header)
	}

	// A new run: latest's validators change, the old ETag gets the new file.
	publish(2, 41)
	r = get(t, "GET", latest, map[string]string{"Authorization": "api", "If-None-Match": etag})
	if r.status != 200 || r.header.Get("ETag") == etag || r.header.Get("X-Ferry-Run-Id") != "2" {
		t.Fatalf("after run 2: %d %v", r.status, r.header)
	}
	// A run's file keeps its validators.
	run1 := get(t, "GET", url+"/feeds/products/runs/1", api)
	if r := get(t, "GET", url+"/feeds/products/runs/1", map[string]string{"Authorization": "api", "If-None-Match": run1.header.Get("ETag")}); r.status != 304 {
		t.Fatalf("run 1 revalidation: %d", r.status)
	}
	if run1.body != first.body {
		t.Fatal("run 1's file differs from what latest served")
	}
}

// TestEmptyFileGzip: a run file without records (empty: write) is a
// valid empty gzip stream.
func TestEmptyFileGzip(t *testing.T) {
	dir := t.TempDir()
	d := newDestination(t, fileconn.DestinationConfig{Dir: dir, Format: "ndjson", Empty: "write"})
	ctx := context.Background()
	if err := d.StartRun(ctx, info(1)); err != nil {
		t.Fatal(err)
	}
	if err := d.EndRun(ctx, info(1), true); err != nil {
		t.Fatal(err)
	}
	url := serve(t, destSource{"default": d})
	r := get(t, "GET", url+"/feeds/products/latest", map[string]string{"Authorization": "api", "Accept-Encoding": "gzip"})
	if r.status != 200 || r.header.Get("Content-Encoding") != "gzip" || gunzip(t, r.body) != "" {
		t.Fatalf("%d %v %q", r.status, r.header, r.body)
	}
}

func gunzip(t *testing.T, body string) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReplacedDuringDownload: a run that replaces latest while a caller
// is downloading it does not change what that caller gets: the answer
// comes from the file opened at the start (the body is larger than the
// loopback socket buffers, so the server is mid-way when run 2 ends).
func TestReplacedDuringDownload(t *testing.T) {
	dir := t.TempDir()
	d := newDestination(t, fileconn.DestinationConfig{Dir: dir, Format: "ndjson", Name: "{route}-{run_id}.{ext}", Latest: "latest.ndjson"})
	ctx := context.Background()
	publish := func(id int64) {
		t.Helper()
		if err := d.StartRun(ctx, info(id)); err != nil {
			t.Fatal(err)
		}
		sendAll(t, d, records(id, 100_000)) // ~19 MB
		if err := d.EndRun(ctx, info(id), true); err != nil {
			t.Fatal(err)
		}
	}
	publish(1)
	want, err := os.ReadFile(filepath.Join(dir, "products-1.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, destSource{"default": d})
	req, _ := http.NewRequest("GET", url+"/feeds/products/latest", nil)
	req.Header.Set("Authorization", "Bearer "+apiToken)
	res, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	head := make([]byte, 4096)
	if _, err := io.ReadFull(res.Body, head); err != nil {
		t.Fatal(err)
	}
	publish(2) // replaces latest.ndjson meanwhile
	rest, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes mixing files? want run 1's %d bytes", len(got), len(want))
	}
	if r := get(t, "GET", url+"/feeds/products/latest", api); r.header.Get("X-Ferry-Run-Id") != "2" {
		t.Fatalf("latest after run 2: run %s", r.header.Get("X-Ferry-Run-Id"))
	}
}

// TestPrefix: mounted elsewhere, the handler answers there and its links
// say so; a custom NotFound decides what an unknown route is.
func TestPrefix(t *testing.T) {
	dir := t.TempDir()
	d := newDestination(t, fileconn.DestinationConfig{Dir: dir, Format: "json", Name: "{route}-{run_id}.{ext}"})
	ctx := context.Background()
	if err := d.StartRun(ctx, info(5)); err != nil {
		t.Fatal(err)
	}
	sendAll(t, d, records(5, 3))
	if err := d.EndRun(ctx, info(5), true); err != nil {
		t.Fatal(err)
	}
	errMissing := fmt.Errorf("no such route")
	src := sourceFunc(func(ctx context.Context, route string) ([]connector.Feed, error) {
		if route != "products" {
			return nil, errMissing
		}
		return destSource{"default": d}.Feeds(ctx, route)
	})
	srv := httptest.NewServer(feeds.Handler(src, feeds.Options{
		Prefix:     "/api/v1/feeds/",
		Authorized: func(*http.Request) bool { return true },
		NotFound:   func(err error) bool { return err == errMissing },
	}))
	t.Cleanup(srv.Close)
	r := get(t, "GET", srv.URL+"/api/v1/feeds/products", nil)
	if r.status != 200 || !strings.Contains(r.body, `"latest_url": "/api/v1/feeds/products/latest"`) || !strings.Contains(r.body, `"url": "/api/v1/feeds/products/runs/5"`) {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	if r := get(t, "GET", srv.URL+"/api/v1/feeds/products/runs/5", nil); r.status != 200 || r.header.Get("Content-Type") != "application/json" || r.header.Get("Content-Disposition") != "attachment; filename=products-5.json" {
		t.Fatalf("run 5: %d %v", r.status, r.header)
	}
	problem(t, get(t, "GET", srv.URL+"/api/v1/feeds/other", nil), 404)
	problem(t, get(t, "GET", srv.URL+"/api/v1/feeds/products/runs/5/x", nil), 404)
}

type sourceFunc func(ctx context.Context, route string) ([]connector.Feed, error)

func (f sourceFunc) Feeds(ctx context.Context, route string) ([]connector.Feed, error) {
	return f(ctx, route)
}
