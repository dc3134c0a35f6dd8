package feeds_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/engine/enginetest"
	"github.com/ferry-dev/ferry/internal/feeds"
)

const publicToken = "public-feed-token-0123456789"

const feedConfig = `
store: ferry.db
routes:
  products:
    source:
      file: { dir: in, format: csv, key: sku, types: { price: number } }
    steps:
      - switch:
          - when: price < 1
            to: archive
    destinations:
      default:
        file:
          dir: out/csv
          name: "{route}-{run_id}.{ext}"
          format: csv
          columns: [sku, price]
          latest: products-latest.csv
          keep: 2
          public_token: "${env:FEED_TOKEN}"
      archive:
        file: { dir: out/ndjson, name: "{route}-{run_id}.{ext}", format: ndjson }
  other:
    source:
      file: { dir: in-other, format: csv, key: sku }
    destinations:
      default:
        http: { system: erp, path: /x }
systems:
  erp: { url: "http://127.0.0.1:1" }
`

// feedEngine builds the engine of feedConfig in base (a restart is
// another call on the same base).
func feedEngine(t *testing.T, base string) *engine.Engine {
	t.Helper()
	t.Setenv("FEED_TOKEN", publicToken)
	cfgPath := filepath.Join(base, "ferry.yaml")
	if err := os.WriteFile(cfgPath, []byte(feedConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath, all.Set())
	if err != nil {
		t.Fatal(err)
	}
	eng, _ := enginetest.New(t, cfg, filepath.Join(base, "ferry.db"), engine.Options{RetryWait: -1})
	return eng
}

// runWith drops a CSV of n products into the inbox and runs the route.
func runWith(t *testing.T, eng *engine.Engine, base string, batch, n int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("sku,price\n")
	for i := range n {
		fmt.Fprintf(&b, "P-%d-%d,%d.5\n", batch, i, i)
	}
	in := filepath.Join(base, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(in, fmt.Sprintf("batch-%d.csv", batch)), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := eng.Run(context.Background(), "products", engine.RunOptions{})
	if err != nil || res.Done != n {
		t.Fatalf("run %d: done %d, %v; want %d", batch, res.Done, err, n)
	}
}

// TestEngineFeeds: three real runs of a route with two file
// destinations (the product priced below 1 of each run goes to archive); the engine lists both feeds, the handler serves them to
// API callers and the public-token feed to token holders, keep shows in
// the list, and a restarted engine lists the same from the manifests.
func TestEngineFeeds(t *testing.T) {
	base := t.TempDir()
	eng := feedEngine(t, base)
	for batch := 1; batch <= 3; batch++ {
		runWith(t, eng, base, batch, 10*batch)
	}
	ctx := context.Background()

	fs, err := eng.Feeds(ctx, "products")
	if err != nil || len(fs) != 2 || fs[0].Destination != "archive" || fs[1].Destination != "default" || fs[1].Route != "products" {
		t.Fatalf("feeds %+v, %v", fs, err)
	}
	csvFeed := fs[1]
	if csvFeed.PublicToken != publicToken || csvFeed.Format != "csv" || len(csvFeed.Files) != 2 || csvFeed.Files[0].Records != 29 || csvFeed.Latest == nil || csvFeed.Latest.Records != 29 {
		t.Fatalf("csv feed %+v", csvFeed)
	}
	if len(fs[0].Files) != 3 || fs[0].PublicToken != "" {
		t.Fatalf("archive feed %+v", fs[0])
	}
	if f, err := eng.Feeds(ctx, "other"); err != nil || len(f) != 0 {
		t.Fatalf("a route without feeds: %+v, %v", f, err)
	}
	if _, err := eng.Feeds(ctx, "nope"); err == nil || !strings.Contains(err.Error(), `unknown route "nope"`) {
		t.Fatalf("unknown route: %v", err)
	}

	url := serve(t, engineSource{eng})
	list := get(t, "GET", url+"/feeds/products", api)
	var got feeds.List
	if list.status != 200 || json.Unmarshal([]byte(list.body), &got) != nil || len(got.Feeds) != 2 {
		t.Fatalf("list: %d %s", list.status, list.body)
	}
	if strings.Contains(list.body, publicToken) || strings.Contains(list.body, base) {
		t.Fatalf("the list shows the token or the server's folders: %s", list.body)
	}
	def := got.Feeds[1]
	if def.Destination != "default" || !def.Public || def.LatestURL != "/feeds/products/latest?destination=default" || len(def.Files) != 2 ||
		def.Files[0].RunID != csvFeed.Files[0].RunID || def.Files[1].RunID != csvFeed.Files[1].RunID || def.Files[0].URL != fmt.Sprintf("/feeds/products/runs/%d?destination=default", def.Files[0].RunID) {
		t.Fatalf("default feed %+v", def)
	}
	newest, err := os.ReadFile(csvFeed.Files[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	oldest := csvFeed.Files[1].RunID - 1 // removed by keep: 2

	latest := get(t, "GET", url+def.LatestURL, api)
	if latest.status != 200 || latest.body != string(newest) || latest.header.Get("Content-Type") != "text/csv; charset=utf-8" ||
		latest.header.Get("Content-Disposition") != `attachment; filename=products-latest.csv` || latest.header.Get("ETag") == "" || latest.header.Get("Last-Modified") == "" {
		t.Fatalf("latest: %d %v\n%s", latest.status, latest.header, latest.body)
	}
	if r := get(t, "GET", url+def.Files[0].URL, api); r.status != 200 || r.body != string(newest) || r.header.Get("Content-Disposition") != "attachment; filename="+csvFeed.Files[0].Name {
		t.Fatalf("run file: %d %v", r.status, r.header)
	}
	problem(t, get(t, "GET", url+"/feeds/products/latest", api), 400) // two feeds: which?
	problem(t, get(t, "GET", fmt.Sprintf("%s/feeds/products/runs/%d?destination=default", url, oldest), api), 404)
	if r := get(t, "GET", fmt.Sprintf("%s/feeds/products/runs/%d?destination=archive", url, oldest), api); r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("archive run %d: %d %v", oldest, r.status, r.header)
	}
	problem(t, get(t, "GET", url+"/feeds/nope", api), 404)
	problem(t, get(t, "GET", url+"/feeds/products/runs/x", api), 400)

	// The public token opens its feed only, without naming it; to its
	// holder the other feeds do not exist.
	pub := get(t, "GET", url+"/feeds/products?token="+publicToken, nil)
	if pub.status != 200 || json.Unmarshal([]byte(pub.body), &got) != nil || len(got.Feeds) != 1 || got.Feeds[0].Destination != "default" {
		t.Fatalf("public list: %d %s", pub.status, pub.body)
	}
	if r := get(t, "GET", url+"/feeds/products/latest?token="+publicToken, nil); r.status != 200 || r.body != string(newest) {
		t.Fatalf("public latest: %d %s", r.status, r.body)
	}
	problem(t, get(t, "GET", url+"/feeds/products/latest?destination=archive&token="+publicToken, nil), 404)
	for _, path := range []string{
		"/feeds/products", "/feeds/products/latest", "/feeds/products?token=wrong", "/feeds/products/latest?token=" + publicToken + "x",
		"/feeds/nope?token=" + publicToken, // unknown routes are not revealed
	} {
		r := get(t, "GET", url+path, nil)
		problem(t, r, 401)
		if r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: no WWW-Authenticate", path)
		}
	}

	// A restart lists the same from the manifests.
	again, err := feedEngine(t, base).Feeds(ctx, "products")
	if err != nil || len(again) != 2 || len(again[1].Files) != 2 || again[1].Files[0] != csvFeed.Files[0] || *again[1].Latest != *csvFeed.Latest || len(again[0].Files) != 3 {
		t.Fatalf("after a restart %+v, %v", again, err)
	}
}

// TestUnknownRouteDefault: without NotFound, errors wrapping
// ErrUnknownRoute are 404; other errors are 500 and say nothing more.
func TestUnknownRouteDefault(t *testing.T) {
	url := serve(t, errSource{errors.New("disk on fire /secret/path")})
	r := get(t, "GET", url+"/feeds/x", api)
	if p := problem(t, r, 500); strings.Contains(p.Detail, "/secret/path") {
		t.Fatalf("the detail leaks the error: %s", p.Detail)
	}
	url = serve(t, errSource{fmt.Errorf("service: %w", feeds.ErrUnknownRoute)})
	problem(t, get(t, "GET", url+"/feeds/x/latest", api), 404)
}

type errSource struct{ err error }

func (s errSource) Feeds(context.Context, string) ([]connector.Feed, error) { return nil, s.err }

// Feeds answer with the REST API's problem documents (docs/api.md): its
// problem types and the request path as instance; a feed URL asked with
// another method than GET or HEAD is 405 with Allow.
func TestProblemsAreTheAPIs(t *testing.T) {
	url := serve(t, errSource{fmt.Errorf("service: %w", feeds.ErrUnknownRoute)})
	cases := []struct {
		method, path string
		status       int
		typ          string
	}{
		{"GET", "/feeds/x/latest", 404, "urn:ferry:problem:not-found"},
		{"GET", "/feeds/x/runs/abc", 400, "urn:ferry:problem:bad-parameter"},
		{"POST", "/feeds/x/latest", 405, "urn:ferry:problem:method-not-allowed"},
		{"DELETE", "/feeds/x/runs/3", 405, "urn:ferry:problem:method-not-allowed"},
		{"POST", "/feeds/x/nothing/here", 404, "urn:ferry:problem:not-found"},
	}
	for _, c := range cases {
		r := get(t, c.method, url+c.path, api)
		p := problem(t, r, c.status)
		if p.Type != c.typ || p.Instance != c.path {
			t.Errorf("%s %s: type %q instance %q, want %q and the path", c.method, c.path, p.Type, p.Instance, c.typ)
		}
		if c.status == 405 && r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", c.method, c.path, r.header.Get("Allow"))
		}
	}
}
