package server_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/events"
	"github.com/ferry-dev/ferry/internal/store"
)

// reset zeroes *v before a decode into it (absent fields stay absent).
func reset[T any](v *T) *T {
	var zero T
	*v = zero
	return v
}

// entryOfKey returns the ID of the newest entry that carried key.
func (f *fixture) entryOfKey(t *testing.T, route, key string) int64 {
	t.Helper()
	atts, err := f.store.KeyAttempts(context.Background(), route, key, 100)
	if err != nil || len(atts) == 0 {
		t.Fatalf("attempts of %s/%s: %v (%d)", route, key, err, len(atts))
	}
	return atts[len(atts)-1].EntryID
}

// TestAPIMatchesOpenAPI calls every endpoint, successes and errors, and
// validates each answer against the OpenAPI document; at the end every
// operation of the document must have been called.
func TestAPIMatchesOpenAPI(t *testing.T) {
	f := newFixture(t)
	f.sys.setRecords("orders",
		map[string]any{"id": 1, "want": 200}, map[string]any{"id": 2, "want": 500}, map[string]any{"id": 3, "want": 422})
	f.sys.setRecords("clean", map[string]any{"id": 1})

	t.Run("health", func(t *testing.T) {
		f.do(t, req{method: "GET", path: "/healthz", token: "-", want: 200})
		f.do(t, req{method: "GET", path: "/readyz", token: "-", want: 200})
		r := f.do(t, req{method: "GET", path: "/api/v1/openapi.json", want: 200})
		if !strings.Contains(string(r.body), `"openapi"`) {
			t.Errorf("openapi.json: %s", r.body[:min(len(r.body), 200)])
		}
	})

	t.Run("unauthenticated calls are refused", func(t *testing.T) {
		for path, item := range f.doc.Paths.Map() {
			if !strings.HasPrefix(path, "/api/") && path != "/metrics" {
				continue
			}
			p := strings.NewReplacer("{route}", "orders", "{id}", "1").Replace(path)
			for method := range item.Operations() {
				for _, tok := range []string{"-", "wrong-token"} {
					r := f.do(t, req{method: method, path: p, token: tok, want: 401})
					r.problem(t)
					if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
						t.Errorf("%s %s: WWW-Authenticate %q", method, p, r.Header.Get("WWW-Authenticate"))
					}
				}
			}
		}
	})

	// First run of orders: 1 done, 2 in error (500), 3 dead (422).
	run1 := f.runRoute(t, "orders")
	if run1.Status != store.RunPartiallyFailed || run1.Done != 1 || run1.Dead != 1 {
		t.Fatalf("first run of orders: %+v", run1)
	}
	f.runRoute(t, "clean")

	t.Run("routes", func(t *testing.T) {
		var list struct {
			Items []struct {
				Name  string
				Queue struct{ Pending, Error, Dead int }
			}
		}
		f.do(t, req{method: "GET", path: "/api/v1/routes", want: 200}).json(t, reset(&list))
		if len(list.Items) != 8 || list.Items[0].Name != "orders" || list.Items[0].Queue.Error != 1 || list.Items[0].Queue.Dead != 1 {
			t.Errorf("routes: %+v", list.Items)
		}
		var detail struct {
			Name   string
			Config struct {
				Source       string
				Destinations map[string]string
			}
			LastRun *struct{ ID int64 } `json:"last_run"`
		}
		f.do(t, req{method: "GET", path: "/api/v1/routes/orders", want: 200}).json(t, &detail)
		if detail.Config.Source != "http" || detail.Config.Destinations["default"] != "http" || detail.LastRun == nil || detail.LastRun.ID != run1.ID {
			t.Errorf("route detail: %+v", detail)
		}
		f.do(t, req{method: "GET", path: "/api/v1/routes/hook", want: 200})
		p := f.do(t, req{method: "GET", path: "/api/v1/routes/nope", want: 404}).problem(t)
		if p.Parameter != "route" || !strings.Contains(p.Detail, "nope") {
			t.Errorf("problem: %+v", p)
		}
	})

	t.Run("start runs", func(t *testing.T) {
		for _, c := range []req{
			{method: "POST", path: "/api/v1/routes/orders/runs", body: map[string]string{"mode": "sideways"}, want: 400},
			{method: "POST", path: "/api/v1/routes/orders/runs", body: `{"mode":`, want: 400},
			{method: "POST", path: "/api/v1/routes/orders/runs", body: `{"modus":"full"}`, want: 400},
			{method: "POST", path: "/api/v1/routes/orders/runs", body: `{"mode":"full"} {"mode":"full"}`, want: 400},
			{method: "POST", path: "/api/v1/routes/nope/runs", want: 404},
			{method: "POST", path: "/api/v1/routes/orders/runs", body: strings.Repeat(" ", 70<<10), want: 413},
		} {
			f.do(t, c).problem(t)
		}
	})

	t.Run("runs", func(t *testing.T) {
		var list struct {
			Items []struct {
				ID     int64
				Route  string
				Status string
			}
			Next string
		}
		f.do(t, req{method: "GET", path: "/api/v1/runs", want: 200}).json(t, reset(&list))
		if len(list.Items) < 2 || list.Next != "" {
			t.Fatalf("runs: %+v", list)
		}
		f.do(t, req{method: "GET", path: "/api/v1/runs?limit=1", want: 200}).json(t, reset(&list))
		if len(list.Items) != 1 || list.Next == "" {
			t.Fatalf("first page: %+v", list)
		}
		first := list.Items[0].ID
		f.do(t, req{method: "GET", path: "/api/v1/runs?limit=1&before=" + list.Next, want: 200}).json(t, reset(&list))
		if len(list.Items) != 1 || list.Items[0].ID >= first {
			t.Fatalf("second page: %+v", list)
		}
		f.do(t, req{method: "GET", path: "/api/v1/runs?route=orders&status=partially_failed", want: 200}).json(t, reset(&list))
		if len(list.Items) != 1 || list.Items[0].ID != run1.ID {
			t.Fatalf("filtered: %+v", list)
		}
		for _, c := range []struct{ query, param string }{
			{"status=bogus", "status"}, {"limit=0", "limit"}, {"limit=5000", "limit"}, {"limit=x", "limit"}, {"before=-3", "before"},
		} {
			p := f.do(t, req{method: "GET", path: "/api/v1/runs?" + c.query, want: 400}).problem(t)
			if p.Parameter != c.param {
				t.Errorf("%s: parameter %q, want %q", c.query, p.Parameter, c.param)
			}
		}
		var run struct {
			ID     int64
			Status string
			Done   int
		}
		f.do(t, req{method: "GET", path: "/api/v1/runs/" + strconv.FormatInt(run1.ID, 10), want: 200}).json(t, &run)
		if run.ID != run1.ID || run.Status != "partially_failed" || run.Done != 1 {
			t.Errorf("run: %+v", run)
		}
		f.do(t, req{method: "GET", path: "/api/v1/runs/999999", want: 404}).problem(t)
		f.do(t, req{method: "GET", path: "/api/v1/runs/abc", want: 400}).problem(t)
		f.do(t, req{method: "POST", path: "/api/v1/runs/999999/cancel", want: 404}).problem(t)
		f.do(t, req{method: "POST", path: "/api/v1/runs/" + strconv.FormatInt(run1.ID, 10) + "/cancel", want: 409}).problem(t)
	})

	t.Run("cancel a running run", func(t *testing.T) {
		f.sys.setRecords("slow", map[string]any{"id": 1})
		release := f.sys.hold("slow")
		defer release()
		started := f.subscribe(t, events.RunStarted)
		finished := f.subscribe(t, events.RunFinished)
		f.do(t, req{method: "POST", path: "/api/v1/routes/slow/runs", want: 202})
		ev := next(t, started, "slow")
		var live struct {
			ID     int64
			Status string
		}
		f.do(t, req{method: "GET", path: "/api/v1/runs/" + strconv.FormatInt(ev.RunID, 10), want: 200}).json(t, &live)
		if live.Status != "running" {
			t.Errorf("live run: %+v", live)
		}
		f.do(t, req{method: "POST", path: "/api/v1/runs/" + strconv.FormatInt(ev.RunID, 10) + "/cancel", want: 202})
		release()
		if run := next(t, finished, "slow").Run; run.Status != store.RunCancelled {
			t.Logf("the cancelled run ended %s", run.Status) // it may have finished its only batch first
		}
	})

	// Second run of orders with a new version of key 3 (it fails with
	// 500 this time): key 3 has a dead letter and a newer entry in error.
	f.sys.setRecords("orders",
		map[string]any{"id": 1, "want": 200}, map[string]any{"id": 2, "want": 500}, map[string]any{"id": 3, "want": 500})
	f.runRoute(t, "orders")
	if n := f.counts(t, "orders"); n.Error != 2 || n.Dead != 1 {
		t.Fatalf("orders after the second run: %+v", n)
	}
	e2, e3, done1 := f.entryOfKey(t, "orders", "2"), f.entryOfKey(t, "orders", "3"), f.entryOfKey(t, "orders", "1")

	t.Run("entries", func(t *testing.T) {
		var list struct {
			Items []struct {
				ID     int64
				Key    string
				Status string
			}
			Next string
		}
		f.do(t, req{method: "GET", path: "/api/v1/routes/orders/entries?status=error", want: 200}).json(t, reset(&list))
		if len(list.Items) != 2 || list.Items[0].Status != "error" || list.Next != "" {
			t.Fatalf("entries: %+v", list)
		}
		f.do(t, req{method: "GET", path: "/api/v1/routes/orders/entries?limit=1", want: 200}).json(t, reset(&list))
		if len(list.Items) != 1 || list.Next == "" {
			t.Fatalf("first page: %+v", list)
		}
		f.do(t, req{method: "GET", path: "/api/v1/routes/orders/entries?after=" + list.Next, want: 200}).json(t, reset(&list))
		if len(list.Items) != 1 || list.Next != "" {
			t.Fatalf("second page: %+v", list)
		}
		f.do(t, req{method: "GET", path: "/api/v1/routes/orders/entries?key=3", want: 200}).json(t, reset(&list))
		if len(list.Items) != 1 || list.Items[0].ID != e3 {
			t.Fatalf("key 3: %+v", list)
		}
		f.do(t, req{method: "GET", path: "/api/v1/routes/orders/entries?status=done", want: 400}).problem(t)
		f.do(t, req{method: "GET", path: "/api/v1/routes/orders/entries?after=x", want: 400}).problem(t)
		f.do(t, req{method: "GET", path: "/api/v1/routes/nope/entries", want: 404}).problem(t)

		var d struct {
			InQueue  bool `json:"in_queue"`
			Entry    *struct{ Status string }
			Attempts []struct{ Outcome string }
		}
		f.do(t, req{method: "GET", path: "/api/v1/entries/" + strconv.FormatInt(e2, 10), want: 200}).json(t, &d)
		if !d.InQueue || d.Entry == nil || d.Entry.Status != "error" || len(d.Attempts) != 1 || d.Attempts[0].Outcome != "error" {
			t.Errorf("entry in error: %+v", d)
		}
		d.Entry = nil
		f.do(t, req{method: "GET", path: "/api/v1/entries/" + strconv.FormatInt(done1, 10), want: 200}).json(t, &d)
		if d.InQueue || d.Entry != nil || len(d.Attempts) == 0 || d.Attempts[0].Outcome != "done" {
			t.Errorf("delivered entry: %+v", d)
		}
		f.do(t, req{method: "GET", path: "/api/v1/entries/999999", want: 404}).problem(t)
		f.do(t, req{method: "GET", path: "/api/v1/entries/0", want: 400}).problem(t)
	})

	t.Run("dead letters", func(t *testing.T) {
		var list struct {
			Items []struct {
				ID  int64
				Key string
			}
			Next string
		}
		f.do(t, req{method: "GET", path: "/api/v1/routes/orders/dead", want: 200}).json(t, reset(&list))
		if len(list.Items) != 1 || list.Items[0].Key != "3" {
			t.Fatalf("dead letters: %+v", list)
		}
		f.do(t, req{method: "GET", path: "/api/v1/routes/orders/dead?key=2&limit=10", want: 200}).json(t, reset(&list))
		if len(list.Items) != 0 {
			t.Fatalf("dead letters of key 2: %+v", list)
		}
		f.do(t, req{method: "GET", path: "/api/v1/routes/orders/dead?limit=-1", want: 400}).problem(t)
		f.do(t, req{method: "GET", path: "/api/v1/routes/nope/dead", want: 404}).problem(t)

		p := f.do(t, req{method: "POST", path: "/api/v1/routes/orders/dead/replay", body: map[string]string{"key": "3"}, want: 409}).problem(t)
		if len(p.Superseded) != 1 || p.Superseded[0] != "3" {
			t.Errorf("superseded: %+v", p)
		}
		f.do(t, req{method: "POST", path: "/api/v1/routes/orders/dead/replay", body: map[string]string{"key": "nope"}, want: 404}).problem(t)
		f.do(t, req{method: "POST", path: "/api/v1/routes/orders/dead/replay", body: map[string]string{"kee": "3"}, want: 400}).problem(t)
		f.do(t, req{method: "POST", path: "/api/v1/routes/nope/dead/replay", want: 404}).problem(t)
		var rep struct {
			Replayed   int
			Superseded []string
		}
		f.do(t, req{method: "POST", path: "/api/v1/routes/orders/dead/replay", want: 200}).json(t, &rep)
		if rep.Replayed != 0 || len(rep.Superseded) != 1 {
			t.Errorf("replay all: %+v", rep)
		}

		f.do(t, req{method: "POST", path: "/api/v1/routes/orders/dead/discard", body: map[string]string{"key": "nope"}, want: 404}).problem(t)
		f.do(t, req{method: "POST", path: "/api/v1/routes/nope/dead/discard", want: 404}).problem(t)
		var dis struct{ Discarded int }
		f.do(t, req{method: "POST", path: "/api/v1/routes/orders/dead/discard", body: map[string]string{"key": "3", "reason": "fixed by hand"}, want: 200}).json(t, &dis)
		if dis.Discarded != 1 || f.counts(t, "orders").Dead != 0 {
			t.Errorf("discard: %+v, counts %+v", dis, f.counts(t, "orders"))
		}
	})

	t.Run("retry and discard entries", func(t *testing.T) {
		id2, id3 := strconv.FormatInt(e2, 10), strconv.FormatInt(e3, 10)
		var rep struct{ Replayed int }
		f.do(t, req{method: "POST", path: "/api/v1/entries/" + id2 + "/retry", want: 200}).json(t, &rep)
		if rep.Replayed != 1 {
			t.Errorf("retry: %+v", rep)
		}
		f.do(t, req{method: "POST", path: "/api/v1/entries/" + id2 + "/retry", want: 409}).problem(t)
		f.do(t, req{method: "POST", path: "/api/v1/entries/" + id2 + "/discard", want: 409}).problem(t)
		f.do(t, req{method: "POST", path: "/api/v1/entries/999999/retry", want: 404}).problem(t)
		f.do(t, req{method: "POST", path: "/api/v1/entries/x/retry", want: 400}).problem(t)
		f.do(t, req{method: "POST", path: "/api/v1/entries/999999/discard", want: 404}).problem(t)
		f.do(t, req{method: "POST", path: "/api/v1/entries/" + id3 + "/discard", body: `{"reason": 5}`, want: 400}).problem(t)
		var dis struct{ Discarded int }
		f.do(t, req{method: "POST", path: "/api/v1/entries/" + id3 + "/discard", body: map[string]string{"reason": "cancelled in the shop"}, want: 200}).json(t, &dis)
		if dis.Discarded != 1 {
			t.Errorf("discard: %+v", dis)
		}
		atts, err := f.store.Attempts(context.Background(), e3)
		if err != nil || atts[len(atts)-1].Outcome != store.OutcomeDiscarded || !strings.Contains(atts[len(atts)-1].Error, "cancelled in the shop") {
			t.Errorf("discard history: %+v %v", atts, err)
		}
		f.do(t, req{method: "POST", path: "/api/v1/routes/orders/entries/retry", want: 200}).json(t, &rep)
		f.do(t, req{method: "POST", path: "/api/v1/routes/nope/entries/retry", want: 404}).problem(t)
	})

	t.Run("reload", func(t *testing.T) {
		f.do(t, req{method: "POST", path: "/api/v1/reload", want: 200})
		good := f.yaml
		f.setYAML(strings.Replace(good, "retry: { attempts: 5,", "retry: { attempts: five,", 1))
		p := f.do(t, req{method: "POST", path: "/api/v1/reload", want: 422}).problem(t)
		if len(p.Errors) == 0 || !strings.Contains(p.Errors[0], "ferry.yaml:") {
			t.Errorf("reload problem: %+v", p)
		}
		f.setYAML(good)
		f.do(t, req{method: "GET", path: "/api/v1/routes/orders", want: 200})
	})

	t.Run("feeds", func(t *testing.T) { testFeeds(t, f) })
	t.Run("events", func(t *testing.T) { testEvents(t, f) })
	t.Run("webhooks", func(t *testing.T) { testWebhookStatuses(t, f) })
	t.Run("metrics", func(t *testing.T) { testMetrics(t, f) })
	t.Run("unknown endpoints", func(t *testing.T) {
		r, err := http.Get(f.ts.URL + "/api/v1/nothing")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 401 {
			t.Errorf("unknown API path without token: %d", r.StatusCode)
		}
		for _, c := range []struct {
			method, path string
			code         int
			allow        string
		}{
			{"GET", "/api/v1/nothing", 404, ""},
			{"DELETE", "/api/v1/routes/orders", 405, "GET"},
			{"POST", "/api/v1/routes", 405, "GET"},
			{"GET", "/api/v1/reload", 405, "POST"},
			{"GET", "/hooks/hook", 405, "POST"},
			{"GET", "/nothing", 404, ""},
		} {
			hr, _ := http.NewRequest(c.method, f.ts.URL+c.path, nil)
			hr.Header.Set("Authorization", "Bearer "+apiToken)
			r, err := http.DefaultClient.Do(hr)
			if err != nil {
				t.Fatal(err)
			}
			r.Body.Close()
			if r.StatusCode != c.code || r.Header.Get("Allow") != c.allow || r.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s %s: %d, Allow %q, %s", c.method, c.path, r.StatusCode, r.Header.Get("Allow"), r.Header.Get("Content-Type"))
			}
		}
	})

	t.Run("stopping", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := f.svc.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		f.do(t, req{method: "POST", path: "/api/v1/routes/orders/runs", want: 503}).problem(t)
		f.do(t, req{method: "POST", path: "/hooks/hook", token: hookToken, body: `{"id":9}`, want: 503}).problem(t)
		f.do(t, req{method: "GET", path: "/readyz", token: "-", want: 503}).problem(t)
	})

	f.checkCovered(t)
}
