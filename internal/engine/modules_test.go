package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/connector/registry"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/engine/enginetest"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

// The engine sees connectors only through the module contract: a kind
// declared here, outside the engine, gets its pages acknowledged after
// they are queued, its run-scoped destination told of the run, and is
// closed with the registry; none of it is HTTP.

type memSourceConfig struct {
	Records int `yaml:"records" json:"records" jsonschema:"description=Records to serve"`
	Page    int `yaml:"page" json:"page" jsonschema:"description=Records per page"`
}

type memDestConfig struct {
	Name string `yaml:"name" json:"name" jsonschema:"description=What the test calls it"`
}

// memLog records what the engine did with the test kind, in order.
type memLog struct {
	mu     sync.Mutex
	events []string
	sent   map[string]int
	acked  []int
	closed int
}

func (l *memLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, fmt.Sprintf(format, args...))
}

type memSource struct {
	cfg *memSourceConfig
	log *memLog
	// queued tells, in Ack, whether the page's keys are in the store.
	queued func(keys []string) bool
}

func (s *memSource) Read(ctx context.Context, _ connector.ReadRequest, fn func(context.Context, connector.Page) error) error {
	for start, page := 0, 1; start < s.cfg.Records; start, page = start+s.cfg.Page, page+1 {
		var recs []connector.SourceRecord
		var keys []string
		for i := start; i < min(start+s.cfg.Page, s.cfg.Records); i++ {
			k := fmt.Sprintf("k%03d", i)
			keys = append(keys, k)
			recs = append(recs, connector.SourceRecord{Key: k, Data: map[string]any{"id": i}})
		}
		n := page
		p := connector.Page{Number: n, Records: recs, Ack: func(context.Context) error {
			if !s.queued(keys) {
				return fmt.Errorf("page %d acknowledged before its records were queued", n)
			}
			s.log.mu.Lock()
			s.log.acked = append(s.log.acked, n)
			s.log.mu.Unlock()
			return nil
		}}
		if err := fn(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

type memDest struct{ log *memLog }

func (d *memDest) Send(_ context.Context, batch []connector.Delivery) ([]connector.Result, error) {
	out := make([]connector.Result, len(batch))
	d.log.mu.Lock()
	defer d.log.mu.Unlock()
	d.log.events = append(d.log.events, "send")
	for i, del := range batch {
		d.log.sent[del.Key]++
		out[i] = connector.Result{OK: true}
	}
	return out, nil
}

func (d *memDest) StartRun(_ context.Context, run connector.RunInfo) error {
	d.log.add("start %s", run.Route)
	return nil
}

func (d *memDest) EndRun(_ context.Context, run connector.RunInfo, completed bool) error {
	d.log.add("end %s %v", run.Route, completed)
	return nil
}

func (d *memDest) Close() error {
	d.log.mu.Lock()
	d.log.closed++
	d.log.mu.Unlock()
	return nil
}

func memKind(log *memLog, queued func([]string) bool) connector.Kind {
	return connector.Kind{
		Name:    "mem",
		Summary: "records in memory, for engine tests",
		Source: &connector.SourcePart{
			Spec: connector.Spec{Config: func() any { return &memSourceConfig{} }, Caps: []connector.Capability{connector.CapAck}},
			Build: func(_ context.Context, _ connector.Env, cfg any) (connector.Source, error) {
				return &memSource{cfg: cfg.(*memSourceConfig), log: log, queued: queued}, nil
			},
		},
		Destination: &connector.DestinationPart{
			Spec: connector.Spec{Config: func() any { return &memDestConfig{} }, Caps: []connector.Capability{connector.CapRunFile}},
			Build: func(context.Context, connector.Env, any) (connector.Destination, error) {
				return &memDest{log: log}, nil
			},
		},
	}
}

func TestEngineUsesTheModuleContract(t *testing.T) {
	log := &memLog{sent: map[string]int{}}
	dir := t.TempDir()
	var st *sqlite.Store
	// At the acknowledgement the page's records are queued and leased to
	// this run (they are handed to the sender only after it).
	queued := func(keys []string) bool {
		c, err := st.Counts(context.Background(), "mem")
		return err == nil && c.Leased >= len(keys)
	}
	kinds, err := connector.NewSet(append(all.Kinds(), memKind(log, queued))...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(`
routes:
  mem:
    source: {mem: {records: 25, page: 10}}
    batch: 7
    destinations:
      default: {mem: {name: out}}
`), filepath.Join(dir, "ferry.yaml"), kinds)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if st, err = sqlite.Open(ctx, cfg.Store); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg, err := registry.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spy := &syncSpy{Store: st}
	eng, err := engine.New(cfg, spy, reg, engine.Options{RetryWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Run(ctx, "mem", engine.RunOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if spy.synced != 3 || spy.plain != 0 {
		t.Errorf("pages queued durably %d, plainly %d: want all 3 durably (their input is acknowledged)", spy.synced, spy.plain)
	}
	if res.Done != 25 {
		t.Errorf("done = %d, want 25", res.Done)
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	log.mu.Lock()
	defer log.mu.Unlock()
	sort.Ints(log.acked)
	if fmt.Sprint(log.acked) != "[1 2 3]" {
		t.Errorf("acknowledged pages %v, want [1 2 3] (each once, after queuing)", log.acked)
	}
	if len(log.sent) != 25 {
		t.Errorf("sent %d keys, want 25", len(log.sent))
	}
	if len(log.events) < 3 || log.events[0] != "start mem" || log.events[len(log.events)-1] != "end mem true" {
		t.Errorf("run-scoped calls %v: want start first, end (completed) last", log.events)
	}
	if log.closed != 1 {
		t.Errorf("destination closed %d times, want 1 (by the registry)", log.closed)
	}
}

// The HTTP destination's fingerprint, now declared by the connector,
// gives the same hash seed as ferry before connector modules: an upgrade
// must not make every record count as changed (and sent again).
func TestFingerprintUnchangedByModules(t *testing.T) {
	cfg, err := config.Parse([]byte(`
systems:
  erp: {url: "http://127.0.0.1:9"}
routes:
  orders:
    source: {http: {system: erp, key: id}}
    steps: [{filter: "total > 0"}]
    destinations:
      default: {http: {system: erp, path: "/o/${key}", method: PUT, map: {id: id, sum: total}}}
      big: {http: {system: erp, path: /bulk, body: array, wrap: orders}}
`), "ferry.yaml", all.Set())
	if err != nil {
		t.Fatal(err)
	}
	// The fingerprint as ferry computed it before issue 7.
	type dest struct {
		Name, System, Method, Path, Body, Wrap string
		Map                                    map[string]any
	}
	b, err := json.Marshal(struct {
		Steps        []config.Step
		Destinations []dest
	}{cfg.Routes["orders"].Steps, []dest{
		{"big", "erp", "POST", "/bulk", "array", "orders", nil},
		{"default", "erp", "PUT", "/o/${key}", "each", "", map[string]any{"id": "id", "sum": "total"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(b)
	if got := engine.SendFingerprint(cfg.Routes["orders"]); string(got) != string(want[:8]) {
		t.Errorf("fingerprint %x, want %x (the pre-module bytes)", got, want[:8])
	}
}

// delSource reports some keys deleted and tells which keys still exist.
type delSource struct {
	deleted, missing map[string]bool
}

func (s *delSource) Read(ctx context.Context, _ connector.ReadRequest, fn func(context.Context, connector.Page) error) error {
	var recs []connector.SourceRecord
	for i := range 6 {
		k := fmt.Sprintf("k%d", i)
		recs = append(recs, connector.SourceRecord{Key: k, Data: map[string]any{"id": k, "keep": false}, Deleted: s.deleted[k]})
	}
	return fn(ctx, connector.Page{Number: 1, Records: recs})
}

func (s *delSource) Prunes() bool { return true }

func (s *delSource) Existing(_ context.Context, keys []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, k := range keys {
		out[k] = !s.missing[k]
	}
	return out, nil
}

func delKind(src *delSource, log *memLog) connector.Kind {
	k := memKind(log, func([]string) bool { return true })
	k.Name = "del"
	k.Source = &connector.SourcePart{
		Spec: connector.Spec{Config: func() any { return &memSourceConfig{} }, Caps: []connector.Capability{connector.CapDeletes, connector.CapPrune}},
		Build: func(context.Context, connector.Env, any) (connector.Source, error) {
			return src, nil
		},
	}
	k.Destination.Caps = append(k.Destination.Caps, connector.CapDeletes)
	k.Destination.Build = func(context.Context, connector.Env, any) (connector.Destination, error) {
		return &delDest{log: log}, nil
	}
	return k
}

// delDest records what it got, deletes apart.
type delDest struct{ log *memLog }

func (d *delDest) Send(_ context.Context, batch []connector.Delivery) ([]connector.Result, error) {
	d.log.mu.Lock()
	defer d.log.mu.Unlock()
	out := make([]connector.Result, len(batch))
	for i, del := range batch {
		what := "upsert"
		if del.Deleted {
			what = "delete"
		}
		d.log.sent[del.Key+" "+what]++
		out[i] = connector.Result{OK: true}
	}
	return out, nil
}

// Deletes reported by a source are pruned (deletes: ignore) or delivered
// as deletes, past the steps (deletes: send); records whose key is gone
// from the source by the time they are sent are pruned, not sent.
func TestDeletesAndPrune(t *testing.T) {
	for _, tc := range []struct {
		deletes    string
		want       string
		wantPruned int
	}{
		{"ignore", "[k0 upsert k2 upsert k4 upsert]", 3},                   // k1, k3 deleted: ignored; k5 gone: pruned
		{"send", "[k0 upsert k1 delete k2 upsert k3 delete k4 upsert]", 1}, // k5 gone: pruned
	} {
		t.Run(tc.deletes, func(t *testing.T) {
			log := &memLog{sent: map[string]int{}}
			src := &delSource{deleted: map[string]bool{"k1": true, "k3": true}, missing: map[string]bool{"k5": true, "k1": true, "k3": true}}
			kinds, err := connector.NewSet(append(all.Kinds(), delKind(src, log))...)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			// The filter drops k1 and k3: their deletes are still sent
			// (deletes do not pass through steps).
			cfg, err := config.Parse([]byte(`
routes:
  del:
    source: {del: {records: 6, page: 6}}
    deletes: `+tc.deletes+`
    steps: [{filter: "id != 'k1' && id != 'k3'"}]
    destinations:
      default: {del: {name: out}}
`), filepath.Join(dir, "ferry.yaml"), kinds)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			eng, st := enginetest.New(t, cfg, "", engine.Options{RetryWait: -1})
			res, err := eng.Run(ctx, "del", engine.RunOptions{})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			var got []string
			for k := range log.sent {
				got = append(got, k)
			}
			sort.Strings(got)
			if fmt.Sprint(got) != tc.want {
				t.Errorf("sent %v, want %v", got, tc.want)
			}
			if res.Pruned != tc.wantPruned {
				t.Errorf("pruned %d, want %d", res.Pruned, tc.wantPruned)
			}
			at, err := st.KeyAttempts(ctx, "del", "k5", 10)
			if err != nil || len(at) != 1 || at[0].Outcome != "skipped" || !strings.Contains(at[0].Error, "pruned") {
				t.Errorf("attempts of k5 %+v (%v), want one skipped attempt saying pruned", at, err)
			}
		})
	}
}

// deletes: send needs a source that reports deletes and destinations
// that apply them, as their kinds declare.
func TestDeletesSendNeedsCapableKinds(t *testing.T) {
	_, err := config.Parse([]byte(`
systems:
  api: {url: "http://127.0.0.1:9"}
routes:
  orders:
    source: {http: {system: api, key: id}}
    deletes: send
    destinations:
      default: {http: {system: api}}
`), "ferry.yaml", all.Set())
	if err == nil {
		t.Fatal("deletes: send with an HTTP source and destination loaded")
	}
	for _, want := range []string{"ferry.yaml:7:14: routes.orders.deletes: deletes: send, but a http source never reports deletes", `destination "default" (http) cannot apply deletes`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// syncSpy records whether pages were queued with durable commits.
type syncSpy struct {
	store.Store
	synced, plain int
}

func (s *syncSpy) EnqueueLeased(ctx context.Context, route string, entries []store.NewEntry, cursor *string, now time.Time, owner string, until time.Time) ([]store.Entry, store.EnqueueResult, error) {
	if store.SyncRequested(ctx) {
		s.synced++
	} else {
		s.plain++
	}
	return s.Store.EnqueueLeased(ctx, route, entries, cursor, now, owner, until)
}
