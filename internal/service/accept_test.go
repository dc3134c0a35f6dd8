package service_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/service"
	"github.com/ferry-dev/ferry/internal/store"
)

const hookRoute = `
  hook:
    webhook: { key: order.id, token: "${env:HOOK_TOKEN}", respond: sync }
    batch: 50
    destinations:
      default:
        http: { system: sys, method: POST, path: /dst/hook, body: each }
    retry: { attempts: 2, backoff: 10ms, max_backoff: 10ms }
`

func TestAcceptQueuesDurablyAndSyncCallersGetTheDestinationsAnswer(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "hook-token-for-tests")
	h := newHarness(t, "", hookRoute)
	h.start()
	ctx := context.Background()

	acc, err := h.svc.Accept(ctx, "hook", []map[string]any{
		{"order": map[string]any{"id": 1}, "total": 10},
		{"order": map[string]any{"id": 2}, "total": 20},
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(acc.Entries) != 2 || acc.Entries[0].EntryID == 0 || acc.Entries[0].EntryID == acc.Entries[1].EntryID {
		t.Fatalf("accepted %+v", acc.Entries)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	got, err := acc.Wait(wctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range got {
		if d.EntryID != acc.Entries[i].EntryID || d.Outcome != store.OutcomeDone || d.StatusCode != http.StatusOK || d.Response != `{"ok":true,"route":"hook"}` {
			t.Fatalf("delivery %d: %+v", i, d)
		}
	}

	// The same record again: its content was delivered; the caller is
	// answered at once.
	acc, err = h.svc.Accept(ctx, "hook", []map[string]any{{"order": map[string]any{"id": 1}, "total": 10}}, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err = acc.Wait(wctx)
	if err != nil || !acc.Entries[0].Unchanged || got[0].Outcome != store.OutcomeUnchanged {
		t.Fatalf("unchanged record: %+v %+v %v", acc.Entries, got, err)
	}

	// A failing destination: the caller gets its status; the entry waits
	// for its retry.
	h.sys.mu.Lock()
	h.sys.status["hook"] = http.StatusConflict
	h.sys.mu.Unlock()
	acc, err = h.svc.Accept(ctx, "hook", []map[string]any{{"order": map[string]any{"id": 3}}}, true)
	if err != nil {
		t.Fatal(err)
	}
	got, err = acc.Wait(wctx)
	if err != nil || got[0].StatusCode != http.StatusConflict || got[0].Outcome == store.OutcomeDone {
		t.Fatalf("failed delivery: %+v %v", got, err)
	}
}

func TestAcceptRefusesBadRecordsAndQueuesNothing(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "hook-token-for-tests")
	h := newHarness(t, "", hookRoute+routeYAML("pulled", ""))
	h.start()
	ctx := context.Background()
	cases := []struct {
		name    string
		route   string
		records []map[string]any
		want    error
	}{
		{"second record has no key", "hook", []map[string]any{{"order": map[string]any{"id": 1}}, {"order": map[string]any{}}}, service.ErrBadRecord},
		{"key is an object", "hook", []map[string]any{{"order": map[string]any{"id": map[string]any{}}}}, service.ErrBadRecord},
		{"unknown route", "nope", []map[string]any{{"order": map[string]any{"id": 1}}}, service.ErrUnknownRoute},
		{"route without webhook", "pulled", []map[string]any{{"id": 1}}, service.ErrNotWebhook},
	}
	// A caller that waits holds a slot for each record: capped.
	many := make([]map[string]any, service.MaxSyncRecords+1)
	for i := range many {
		many[i] = map[string]any{"order": map[string]any{"id": i}}
	}
	if _, err := h.svc.Accept(ctx, "hook", many, true); !errors.Is(err, service.ErrBadRecord) {
		t.Fatalf("a sync call of %d records: %v", len(many), err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := h.svc.Accept(ctx, c.route, c.records, false); !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
		})
	}
	counts, err := h.store.Counts(ctx, "hook")
	if err != nil || counts != (store.Counts{}) {
		t.Fatalf("queue after refused calls: %+v %v", counts, err)
	}
}

func TestManyConcurrentPushesAreAllQueuedAndDelivered(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "hook-token-for-tests")
	h := newHarness(t, "", hookRoute)
	h.start()
	ctx := context.Background()
	const n = 300
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := h.svc.Accept(ctx, "hook", []map[string]any{{"order": map[string]any{"id": i}}}, false)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "all pushes delivered", func() bool { return len(h.sys.arrived("hook")) >= n })
	h.idle("hook")
	counts, err := h.store.Counts(ctx, "hook")
	if err != nil || counts != (store.Counts{}) {
		t.Fatalf("queue after delivery: %+v %v", counts, err)
	}
}
