package server_test

import (
	"strconv"
	"strings"
	"testing"
)

// testFeeds downloads a run's file through the /feeds/ mount point with
// an API token and with the feed's public token; the answers must match
// the OpenAPI document too.
func testFeeds(t *testing.T, f *fixture) {
	f.sys.setRecords("catalog", map[string]any{"id": "A", "price": 1}, map[string]any{"id": "B", "price": 2})
	run := f.runRoute(t, "catalog")
	var list struct {
		Route string
		Feeds []struct {
			Format string
			Public bool
			Files  []struct {
				RunID    int64 `json:"run_id"`
				Records  int
				Complete bool
			}
		}
	}
	f.do(t, req{method: "GET", path: "/feeds/catalog", want: 200}).json(t, &list)
	if len(list.Feeds) != 1 || !list.Feeds[0].Public || len(list.Feeds[0].Files) != 1 || list.Feeds[0].Files[0].RunID != run.ID || list.Feeds[0].Files[0].Records != 2 {
		t.Fatalf("feeds: %+v", list)
	}
	latest := f.do(t, req{method: "GET", path: "/feeds/catalog/latest?token=" + feedToken, token: "-", want: 200})
	if lines := strings.Count(string(latest.body), "\n"); lines != 2 || latest.Header.Get("ETag") == "" {
		t.Errorf("latest: %q %v", latest.body, latest.Header)
	}
	f.do(t, req{method: "GET", path: "/feeds/catalog/latest", header: map[string]string{"If-None-Match": latest.Header.Get("ETag")}, want: 304})
	byRun := f.do(t, req{method: "GET", path: "/feeds/catalog/runs/" + strconv.FormatInt(run.ID, 10), want: 200})
	if string(byRun.body) != string(latest.body) {
		t.Errorf("the run's file differs from latest: %q", byRun.body)
	}
	f.do(t, req{method: "GET", path: "/feeds/catalog/latest", token: "-", want: 401})
	f.do(t, req{method: "GET", path: "/feeds/catalog?token=wrong", token: "-", want: 401})
	f.do(t, req{method: "GET", path: "/feeds/nope", want: 404})
	f.do(t, req{method: "GET", path: "/feeds/catalog/runs/999999", want: 404})
	f.do(t, req{method: "GET", path: "/feeds/orders/latest", want: 404})
}
