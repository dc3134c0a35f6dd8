package engine_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
)

const inboxRoute = `
store: ferry.db
systems:
  erp: { url: "{{erp}}" }
routes:
  hook:
    webhook: { key: id, token: "${env:HOOK_TOKEN}" }
    batch: 10
    destinations:
      default:
        http: { system: erp, method: POST, path: /erp, body: each }
  synced:
    webhook: { key: id, token: "${env:HOOK_TOKEN}", respond: sync }
    destinations:
      default:
        http: { system: erp, method: POST, path: /erp, body: each }
  ranked:
    webhook: { key: id, token: "${env:HOOK_TOKEN}" }
    entry_priority: 'total > 100 ? 5 : 0'
    destinations:
      default:
        http: { system: erp, method: POST, path: /erp, body: each }
  sourced:
    source:
      http: { system: erp, path: /orders, records: data, key: id }
    webhook: { key: id, token: "${env:HOOK_TOKEN}" }
    destinations:
      default:
        http: { system: erp, method: POST, path: /erp, body: each }
`

// startLingeringRun starts a send-only run of hook with ib and waits
// until it lingers for pushes (its inbox open, nothing left to send); the
// run's error comes on the returned channel when it ends.
func startLingeringRun(t *testing.T, h *harness, ib *engine.Inbox, wake <-chan struct{}, linger time.Duration) <-chan error {
	t.Helper()
	waiting := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		_, err := h.engine.Run(context.Background(), "hook", engine.RunOptions{
			SendOnly: true, Wake: wake, Linger: linger, Inbox: ib,
			Progress: func(p engine.Progress) {
				if p.Phase == "waiting" {
					select {
					case waiting <- struct{}{}:
					default:
					}
				}
			},
		})
		done <- err
	}()
	select {
	case <-waiting:
	case <-time.After(10 * time.Second):
		t.Fatal("the run never waited for pushes")
	}
	return done
}

// pushTo queues records pushed to hook as the webhook's commit does,
// leased by lease (nil: pending), and returns what each became.
func pushTo(t *testing.T, h *harness, lease *store.PushLease, records ...map[string]any) []store.Accepted {
	t.Helper()
	entries, err := h.engine.Push("hook", records)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := h.store.Accept(context.Background(), []store.Push{{Route: "hook", Entries: entries, Lease: lease}}, time.Now())
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	return acc[0]
}

// wantSentByNextRun runs hook once more and checks that it sent n
// records and left nothing in the queue.
func wantSentByNextRun(t *testing.T, h *harness, erp *hookServer, n int) {
	t.Helper()
	if _, err := h.engine.Run(context.Background(), "hook", engine.RunOptions{SendOnly: true}); err != nil {
		t.Fatal(err)
	}
	if calls := erp.of("POST /erp"); len(calls) != n {
		t.Fatalf("the next run sent %d calls; want %d", len(calls), n)
	}
	if c := h.counts("hook"); c.Pending+c.Leased+c.Error != 0 {
		t.Errorf("counts after the next run = %+v; want nothing left", c)
	}
}

// Routes whose pushes must go through the store's queue get no inbox:
// respond: sync (a second push of a key would supersede the first and
// its caller would get "skipped", not the destination's answer),
// entry_priority (the store's order decides what goes first) and a route
// with a source (a newer version read from it would be queued beside a
// pushed one waiting in memory, and sent before it).
func TestRoutesThatNeedTheQueuesOrderGetNoInbox(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "hook-token-for-tests")
	h := newHarness(t, inboxRoute, map[string]string{"erp": "http://127.0.0.1:1"})
	if h.engine.NewInbox("hook") == nil {
		t.Error("the async webhook route got no inbox")
	}
	for _, route := range []string{"synced", "ranked", "sourced", "no-such-route"} {
		if h.engine.NewInbox(route) != nil {
			t.Errorf("route %q got an inbox", route)
		}
	}
}

// A record pushed to a webhook route is queued leased to the route's run
// and handed to it in memory (engine.Inbox). When the run ends without
// taking it (its linger ran out first), the run's end releases it to the
// queue, the inbox says so, and the next run sends it: nothing is lost,
// nothing waits for the lease to expire.
func TestAHandedRecordTheRunDidNotTakeGoesBackToTheQueue(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "hook-token-for-tests")
	erp := newHookServer(t, nil)
	h := newHarness(t, inboxRoute, map[string]string{"erp": erp.srv.URL})
	ctx := context.Background()

	ib := h.engine.NewInbox("hook")
	done := startLingeringRun(t, h, ib, make(chan struct{}), time.Second)
	lease, ok := ib.Reserve(time.Now(), 1)
	if !ok {
		t.Fatal("the inbox of a run under way refused a reservation")
	}
	record := map[string]any{"id": 7, "total": 70}
	acc := pushTo(t, h, lease, record)[0]
	if acc.Leased == nil {
		t.Fatalf("Accept with the run's lease = %+v; want the record leased", acc)
	}
	ib.Deliver(1, []store.Entry{*acc.Leased}, []map[string]any{record}) // no wake: the run's linger runs out

	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if ib.Left() != 1 {
		t.Errorf("inbox Left = %d; want the one record the run did not take", ib.Left())
	}
	e, err := h.store.Entry(ctx, acc.EntryID)
	if err != nil || e.Status != store.StatusPending || e.LeaseOwner != "" {
		t.Fatalf("entry after the run = %+v, %v; want it back in the queue, pending", e, err)
	}
	if n := len(erp.all()); n != 0 {
		t.Fatalf("the ERP got %d calls from the run that did not take the record", n)
	}
	wantSentByNextRun(t, h, erp, 1)
}

// A push committed leased to the run but not yet handed to its inbox
// (the acceptor between Accept and Deliver) while another process queues
// a newer version of the key pending: the run leases the newer one from
// the store, waits for the commit under way, and sends the two in one
// batch, where only the newer goes out. The destination ends with it.
func TestAnOlderPushStillBeingHandedInIsNotSentAfterANewerOne(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "hook-token-for-tests")
	erp := newHookServer(t, nil)
	h := newHarness(t, inboxRoute, map[string]string{"erp": erp.srv.URL})
	ib := h.engine.NewInbox("hook")
	wake := make(chan struct{}, 1)
	done := startLingeringRun(t, h, ib, wake, 2*time.Second)
	lease, ok := ib.Reserve(time.Now(), 1)
	if !ok {
		t.Fatal("the inbox of a run under way refused a reservation")
	}
	v1 := map[string]any{"id": 7, "v": "v1"}
	acc1 := pushTo(t, h, lease, v1)[0]
	pushTo(t, h, nil, map[string]any{"id": 7, "v": "v2"}) // another process: no inbox
	wake <- struct{}{}
	time.Sleep(300 * time.Millisecond) // the run leases v2 and waits for the commit under way
	ib.Deliver(1, []store.Entry{*acc1.Leased}, []map[string]any{v1})
	wake <- struct{}{} // whatever waits in the inbox now is sent
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	calls := erp.of("POST /erp")
	if len(calls) == 0 || !strings.Contains(calls[len(calls)-1].Body, `"v2"`) {
		t.Errorf("the destination got %+v; want it to end with v2", calls)
	}
}

// The process dies after the 202 (the records committed leased to its
// run) and before its run sent them: the next run, in another process,
// finds the leases of a dead worker, puts them back and sends them.
func TestRecordsHandedToARunWhoseProcessDiedAreSentByTheNext(t *testing.T) {
	t.Setenv("HOOK_TOKEN", "hook-token-for-tests")
	erp := newHookServer(t, nil)
	h := newHarness(t, inboxRoute, map[string]string{"erp": erp.srv.URL})
	host, _ := os.Hostname()
	dead := fmt.Sprintf("%s:%d:killed", host, 1<<22+779) // no such process
	pushTo(t, h, &store.PushLease{Owner: dead, Until: time.Now().Add(time.Hour)}, map[string]any{"id": 1}, map[string]any{"id": 2})
	if c := h.counts("hook"); c.Leased != 2 {
		t.Fatalf("counts %+v; want both records leased to the dead worker", c)
	}
	wantSentByNextRun(t, h, erp, 2)
}
