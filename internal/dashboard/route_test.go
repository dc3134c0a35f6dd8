package dashboard_test

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/dashboard/dashboardtest"
)

func TestRoutePageShowsConfigRunsAndLastRun(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.SetRecords("orders", map[string]any{"id": 1, "total": 5}, map[string]any{"id": 2, "total": 7})
	f.Sys.Fail("2", 422)
	f.Run("orders")

	p := f.Get("/routes/orders")
	if p.Status != http.StatusOK {
		t.Fatalf("GET /routes/orders = %d", p.Status)
	}
	for _, want := range []string{
		"Web shop orders to the ERP",
		"http · system sys · path /src/orders",
		"method POST · path /dst/orders",
		`id="run-now"`, `id="run-full"`, `id="queue-link"`,
		`data-run-status="partially_failed"`,
		`id="live-done">1<`,
		`sse-connect="/live?route=orders"`,
		"Iteration 1 of at most 20 · sent 2 of 2 collected",
		`<svg class="chart"`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("route page lacks %s", want)
		}
	}
	if runs := f.Get("/routes/orders/live?part=runs"); !strings.Contains(runs.Body, "partially_failed") || strings.Contains(runs.Body, "<html") {
		t.Errorf("runs fragment: %.300s", runs.Body)
	}
}

func TestRoutePageOfAnUnknownAndARemovedRoute(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	if p := f.Get("/routes/nope"); p.Status != http.StatusNotFound || !strings.Contains(p.Body, "No such route") {
		t.Errorf("unknown route: %d %.200s", p.Status, p.Body)
	}
	f.Sys.SetRecords("customers", map[string]any{"id": 1})
	f.Run("customers")
	f.SetYAML("systems:\n  sys: { url: %[1]q }\nroutes:\n  orders:\n    source: { http: { system: sys, path: /src/orders, records: data, key: id } }\n    destinations: { default: { http: { system: sys, method: POST, path: /dst/orders, body: each } } }\n")
	if err := f.Svc.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := f.Get("/routes/customers")
	if p.Status != http.StatusOK || !strings.Contains(p.Body, "no longer in the config") || strings.Contains(p.Body, `id="run-now"`) {
		t.Errorf("removed route: %d %.400s", p.Status, p.Body)
	}
	if p := f.Post("/routes/customers/run", nil); p.Status != http.StatusNotFound {
		t.Errorf("run of a removed route = %d", p.Status)
	}
}

// TestRunNowStreamsProgressToTheEnd presses Run now and reads the route's
// event stream as the page does: live blocks, then the run's end.
func TestRunNowStreamsProgressToTheEnd(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	recs := make([]map[string]any, 40)
	for i := range recs {
		recs[i] = map[string]any{"id": i + 1, "total": i}
	}
	f.Sys.SetRecords("orders", recs...)
	f.Sys.Delay(150 * time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.TS.URL+"/live?route=orders", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}

	if p := f.Post("/routes/orders/run", url.Values{"mode": {"incremental"}}); p.Status != http.StatusSeeOther {
		t.Fatalf("run now = %d: %.300s", p.Status, p.Body)
	}
	var sawRunning, sawEnd, sawFinished bool
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event := ""
	for sc.Scan() && !(sawEnd && sawFinished) {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case event == "live" && strings.Contains(line, `data-run-status="running"`):
			sawRunning = true
		case event == "live" && strings.Contains(line, `data-run-status="succeeded"`):
			sawEnd = true
		case event == "runs" && strings.Contains(line, "<table"):
			sawFinished = true
		}
	}
	if !sawEnd || !sawFinished {
		t.Fatalf("the stream did not report the run's end (running seen %v, end %v, runs table %v; err %v)", sawRunning, sawEnd, sawFinished, sc.Err())
	}
	if !sawRunning {
		t.Error("no progress while running was streamed")
	}
	if got := f.Sys.Received("orders"); got != 40 {
		t.Errorf("delivered %d records, want 40", got)
	}
}

func TestRunNowByHTMXAnswersInTheFlashArea(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	token := f.Get("/routes/orders").CSRF()
	p := f.Do(http.MethodPost, "/routes/orders/run", url.Values{"mode": {"full"}}, http.Header{"Hx-Request": {"true"}, "X-Csrf-Token": {token}})
	if p.Status != http.StatusOK || p.Header.Get("HX-Retarget") != "#flash" || !strings.Contains(p.Body, "A full run of orders was asked for") {
		t.Fatalf("htmx run now: %d %v %.300s", p.Status, p.Header, p.Body)
	}
}

func TestCancelUnknownRun(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	if p := f.Post("/runs/999/cancel", nil); p.Status != http.StatusNotFound {
		t.Errorf("cancel of an unknown run = %d", p.Status)
	}
}

// TestOverviewStreamSendsTheTable: the overview's stream sends its routes
// table, rendered, when a run changes a route.
func TestOverviewStreamSendsTheTable(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.SetRecords("orders", map[string]any{"id": 1, "total": 5})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.TS.URL+"/live", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	f.Run("orders")
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	event, data := "", ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event, data = strings.TrimPrefix(line, "event: "), ""
		case strings.HasPrefix(line, "data: "):
			data += strings.TrimPrefix(line, "data: ") + "\n"
		case line == "" && event == "overview":
			if strings.Contains(data, `<tr data-route="orders"`) && strings.Contains(data, "s-succeeded") {
				return
			}
		}
	}
	t.Fatalf("no overview table with the finished run was streamed: %v", sc.Err())
}

// TestIdleRunsFold: runs that had nothing to do fold into one row, so a
// failed run of the night stays in sight among a morning of idle ticks.
func TestIdleRunsFold(t *testing.T) {
	f := dashboardtest.New(t, dashboardtest.Options{})
	f.Sys.SetRecords("orders", map[string]any{"id": 1, "total": 5})
	f.Sys.Fail("1", 422)
	f.Run("orders") // partially failed: the one record died
	for range 25 {
		f.Run("orders") // nothing new: idle
	}
	p := f.Get("/routes/orders/live?part=runs")
	if !strings.Contains(p.Body, "25 runs with nothing to do") {
		t.Errorf("the idle runs are not folded:\n%s", p.Body)
	}
	if !strings.Contains(p.Body, `<span class="badge s-failed">failed</span>`) {
		t.Errorf("the failed run is out of sight:\n%s", p.Body)
	}
}
