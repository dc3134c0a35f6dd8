package dashboard_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/ferry-dev/ferry/internal/dashboard/dashboardtest"
)

func TestFeedsPage(t *testing.T) {
	t.Parallel()
	f := dashboardtest.New(t, dashboardtest.Options{})
	p := feedsGet(t, f)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "none yet") {
		t.Fatalf("before a run: %d\n%s", p.Status, p.Body)
	}
	f.Sys.SetRecords("catalog",
		map[string]any{"id": 1, "name": "chair"}, map[string]any{"id": 2, "name": "table"}, map[string]any{"id": 3, "name": "<b>lamp</b>"})
	f.Run("catalog")
	f.Run("catalog") // resend_unchanged: a second file

	p = feedsGet(t, f)
	if p.Status != http.StatusOK {
		t.Fatalf("GET /feeds: %d\n%s", p.Status, p.Body)
	}
	for _, want := range []string{
		`<a href="/routes/catalog">catalog</a>`, "→ default", "ndjson",
		`href="/feeds/catalog/latest"`, "<dt>Records</dt><dd>3</dd>", "<dt>Published</dt><dd><span title=",
		`<a href="/feeds" aria-current="page">`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the feeds page lacks %q", want)
		}
	}
	runLinks := regexp.MustCompile(`<a href="/feeds/catalog/runs/(\d+)" download>catalog-(\d+)\.ndjson</a>`).FindAllStringSubmatch(p.Body, -1)
	if len(runLinks) != 2 {
		t.Fatalf("%d run file links, want 2:\n%s", len(runLinks), p.Body)
	}
	for _, l := range runLinks {
		if l[1] != l[2] {
			t.Errorf("link to run %s names the file of run %s", l[1], l[2])
		}
	}
	if strings.Contains(p.Body, f.Dir) {
		t.Errorf("the page shows where the files are on the server")
	}
	// The links download in the browser that sees the page, without an
	// API token: the feeds handler takes the dashboard's access too.
	for _, link := range []string{"/feeds/catalog/latest", "/feeds/catalog/runs/" + runLinks[0][1]} {
		if got := f.Get(link); got.Status != http.StatusOK || !strings.Contains(got.Body, "chair") {
			t.Errorf("download %s: %d %.200s", link, got.Status, got.Body)
		}
	}
	// Routes without a file destination are not listed.
	if strings.Contains(p.Body, "/routes/orders") {
		t.Errorf("orders has no feed but is listed")
	}
}

func TestFeedsPageSeveralFeeds(t *testing.T) {
	t.Setenv("FERRY_DASHBOARD_TEST_FEED_TOKEN", "s3cret-token-xyz-0123")
	f := dashboardtest.New(t, dashboardtest.Options{YAML: "systems:\n  sys: { url: %[1]q }\nroutes:\n" + `
  catalog:
    source: { http: { system: sys, path: /src/catalog, records: data, key: id } }
    destinations:
      default: { file: { dir: "%[2]s/a", name: "c-{run_id}.{ext}", format: csv, columns: [id, name], public_token: "${env:FERRY_DASHBOARD_TEST_FEED_TOKEN}" } }
      json: { file: { dir: "%[2]s/b", name: "c-{run_id}.{ext}", format: ndjson } }
`})
	f.Sys.SetRecords("catalog", map[string]any{"id": 1, "name": "chair"})
	f.Run("catalog")
	p := feedsGet(t, f)
	for _, want := range []string{
		`href="/feeds/catalog/latest?destination=default"`, `href="/feeds/catalog/latest?destination=json"`,
		`/runs/1?destination=default"`, "public link enabled",
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("the feeds page lacks %q:\n%s", want, p.Body)
		}
	}
	if strings.Contains(p.Body, "s3cret-token-xyz") {
		t.Errorf("the public token is shown")
	}
	// The links are the feeds handler's: the latest URL (with the public
	// token a partner adds) downloads the file. (The fixture's feeds
	// handler lets no caller in without a token.)
	latest := f.Get("/feeds/catalog/latest?destination=default&token=s3cret-token-xyz-0123")
	if latest.Status != http.StatusOK || !strings.Contains(latest.Body, "chair") {
		t.Errorf("latest: %d %q", latest.Status, latest.Body)
	}
}

func TestFeedsPageEmpty(t *testing.T) {
	t.Parallel()
	f := dashboardtest.New(t, dashboardtest.Options{YAML: "systems:\n  sys: { url: %[1]q }\nroutes:\n" + `
  orders:
    source: { http: { system: sys, path: /src/orders, records: data, key: id } }
    destinations: { default: { http: { system: sys, method: POST, path: /dst/orders, body: each } } }
`})
	p := feedsGet(t, f)
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "No route writes a file feed.") || !strings.Contains(p.Body, "docs/feeds.md") {
		t.Fatalf("empty: %d\n%s", p.Status, p.Body)
	}
}

// feedsGet fetches the feeds page through the real server.
func feedsGet(t *testing.T, f *dashboardtest.Fixture) dashboardtest.Page {
	t.Helper()
	return f.Get("/feeds")
}

func TestFeedsPageThroughServer(t *testing.T) {
	t.Parallel()
	f := dashboardtest.New(t, dashboardtest.Options{})
	p := f.Get("/feeds")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "<h1>Feeds</h1>") {
		t.Fatalf("GET /feeds through the server: %d\n%s", p.Status, p.Body)
	}
}
