package engine_test

// The engine redacts the config's ${env:} values itself, whatever a
// connector hands back: these connectors echo the secret unredacted.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector"
	"github.com/ferry-dev/ferry/internal/connector/all"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

const engineSecret = "eng-Secret-8472"

// echoConnectors build connectors that repeat everything they were given,
// secrets included, in every text they return.
type echoConnectors struct {
	mu       sync.Mutex
	received []string // what the on_error operation got: its error var and record
}

func (c *echoConnectors) Source(*config.Route) (connector.Source, error) { return echoSource{}, nil }
func (c *echoConnectors) Destination(*config.Route, string, *config.Destination) (connector.Destination, error) {
	return echoDestination{}, nil
}
func (c *echoConnectors) Operation(*config.Route, *config.Operation) (connector.Operation, error) {
	return c, nil
}

// Do is the on_error operation: it keeps what it got and echoes it.
func (c *echoConnectors) Do(_ context.Context, d connector.Delivery, vars map[string]any) connector.Result {
	rec, _ := json.Marshal(d.Record)
	got := fmt.Sprintf("error=%v record=%s", vars["error"], rec)
	c.mu.Lock()
	c.received = append(c.received, got)
	c.mu.Unlock()
	return connector.Result{StatusCode: 500, Retryable: true, Error: "echo " + engineSecret, Response: got}
}

type echoSource struct{}

// Read hands on one record, then fails with an error that echoes the
// secret (a page whose error page repeats the request's header).
func (echoSource) Read(ctx context.Context, _ connector.ReadRequest, fn func(context.Context, connector.Page) error) error {
	page := connector.Page{Number: 1, Records: []connector.SourceRecord{{Key: "1", Data: map[string]any{"id": 1.0}}}}
	if err := fn(ctx, page); err != nil {
		return err
	}
	return errors.New("page 2: HTTP 400: X-Tok=" + engineSecret)
}

type echoDestination struct{}

func (echoDestination) Send(_ context.Context, batch []connector.Delivery) ([]connector.Result, error) {
	out := make([]connector.Result, len(batch))
	for i, d := range batch {
		body, _ := json.Marshal(d.Record)
		out[i] = connector.Result{StatusCode: 400, Error: "HTTP 400: X-Tok=" + engineSecret + " body=" + string(body),
			Request: string(body), Response: "refused X-Tok=" + engineSecret}
	}
	return out, nil
}

func TestEngineRedactsConfigSecrets(t *testing.T) {
	t.Setenv("FERRY_ENGINE_TOK", engineSecret)
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(`
store: ferry.db
systems:
  api: { url: "http://127.0.0.1:9" }
routes:
  orders:
    source: { http: { system: api, path: /orders, key: id } }
    destinations:
      default:
        http:
          system: api
          path: "/orders/${key}"
          headers: { X-Tok: "${env:FERRY_ENGINE_TOK}" }
          map: { id: id, tok: '"${env:FERRY_ENGINE_TOK}"' }
    retry: { attempts: 1 }
    on_error:
      - http: { system: api, path: /dead }
`), filepath.Join(dir, "ferry.yaml"), all.Set())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	conns := &echoConnectors{}
	logs := &lockedBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	eng, err := engine.New(cfg, st, conns, engine.Options{RetryWait: -1, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	res, runErr := eng.Run(ctx, "orders", engine.RunOptions{})
	if runErr == nil {
		t.Fatal("the run did not report the source's failure")
	}

	texts := map[string]string{"run error": res.Error, "source error": res.SourceError, "Run's error": runErr.Error()}
	attempts, err := st.KeyAttempts(ctx, "orders", "1", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(attempts) < 2 {
		t.Fatalf("%d attempts, want the delivery's and the operation's: %+v", len(attempts), attempts)
	}
	for i, a := range attempts {
		texts[fmt.Sprintf("attempt %d (%s) error", i, a.Op)] = a.Error
		texts[fmt.Sprintf("attempt %d (%s) request", i, a.Op)] = a.Request
		texts[fmt.Sprintf("attempt %d (%s) response", i, a.Op)] = a.Response
	}
	dead, err := st.DeadLetters(ctx, store.DeadFilter{Route: "orders"})
	if err != nil || len(dead) != 1 {
		t.Fatalf("dead letters %+v, %v; want 1", dead, err)
	}
	texts["dead letter"] = dead[0].LastError
	items, err := st.Outbox(ctx, "orders", 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, it := range items {
		texts[fmt.Sprintf("outbox %d", i)] = string(it.Record) + string(it.Vars) + it.LastError
	}
	conns.mu.Lock()
	texts["on_error got"] = strings.Join(conns.received, "\n")
	conns.mu.Unlock()
	err = eng.DryRun(ctx, "orders", true, 0, func(r engine.DryRecord) error {
		body, _ := json.Marshal(r.Body)
		texts["dry run"] = fmt.Sprintf("%+v %s", r, body)
		return nil
	})
	texts["dry run error"] = fmt.Sprint(err)
	texts["log"] = logs.String()

	if !strings.Contains(texts["on_error got"], "error=HTTP 400: X-Tok=REDACTED") || !strings.Contains(texts["dry run"], `"tok":"REDACTED"`) {
		t.Fatalf("the operation or dry run saw no redacted text; the test sees nothing: %q", texts)
	}
	for what, text := range texts {
		if strings.Contains(text, engineSecret) {
			t.Errorf("%s shows the secret: %s", what, text)
		}
	}
}

// lockedBuffer is a log sink that goroutines of a run may write at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
