package examples_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ferry-dev/ferry/internal/config"
	"github.com/ferry-dev/ferry/internal/connector/registry"
	"github.com/ferry-dev/ferry/internal/engine"
	"github.com/ferry-dev/ferry/internal/store/sqlite"
)

func TestScratchCursorGE(t *testing.T) {
	var posts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			posts.Add(1)
			w.WriteHeader(201)
			return
		}
		since := r.URL.Query().Get("since")
		recs := []map[string]any{}
		for _, u := range []string{"2025-01-01", "2025-01-02", "2025-01-03"} {
			if since == "" || u >= since { // "at or after"
				recs = append(recs, map[string]any{"id": u, "updated_at": u})
			}
		}
		json.NewEncoder(w).Encode(recs)
	}))
	defer srv.Close()
	y := strings.ReplaceAll(`
systems: { s: { url: URL } }
routes:
  r:
    source: { http: { system: s, path: /x, query: { since: "${cursor}" }, key: id, cursor: updated_at } }
    destinations: { default: { http: { system: s, path: /y } } }
`, "URL", srv.URL)
	dir := t.TempDir()
	cfg, err := config.Parse([]byte(y), filepath.Join(dir, "ferry.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := sqlite.Open(context.Background(), cfg.Store)
	defer st.Close()
	reg, _ := registry.New(cfg)
	eng, err := engine.New(cfg, st, reg, engine.Options{RetryWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Run(context.Background(), "r", engine.RunOptions{})
	t.Logf("run: %+v err=%v posts=%d", res, err, posts.Load())
}
