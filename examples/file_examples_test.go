package examples_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-dev/ferry/internal/engine"
)

// TestFileCSVToHTTP runs file-csv-to-http.yaml end to end: a folder of
// CSV files into a fake shop; every file's rows are delivered, the files
// move to done/, and the next run finds nothing.
func TestFileCSVToHTTP(t *testing.T) {
	inbox := t.TempDir()
	files := map[string]string{
		"prices-2026-11-28.csv": "sku;name;price;stock;active\nA-1;Mug ;12.90;140;yes\nA-2;Cup;3;;yes\n",
		"prices-2026-11-29.csv": "sku;name;price;stock;active\nA-1;Mug;13.50;120;yes\nB-1;Plate;0;5;yes\nB-2;Old;1;1;no\n",
		"prices-2026-11-30.csv": "sku;name;price;stock;active\nC-1;\"Bowl; large\";7.25;9;1\n",
		"notes.txt":             "not a price list",
	}
	old := time.Now().Add(-time.Hour) // past the example's settle: 30s
	for name, content := range files {
		path := filepath.Join(inbox, name)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, old, old); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	got := map[string]string{}
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		sku, ok := strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/products/"), "/price")
		if r.Method != http.MethodPatch || !ok || r.Header.Get("Authorization") != "Bearer test-shop-token" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		mu.Lock()
		got[sku] = string(b)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(shop.Close)
	t.Setenv("SHOP_URL", shop.URL)
	t.Setenv("PRICES_INBOX", inbox)

	eng := newEngine(t, load(t, "file-csv-to-http.yaml"))
	res, err := eng.Run(context.Background(), "prices", engine.RunOptions{})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	// Six rows: B-1 has no price, B-2 is inactive (skipped), A-1 comes
	// twice: the later file's row replaces the earlier one if that is
	// still pending (skipped as superseded), else both are delivered.
	if res.Collected != 6 || res.Done+res.Skipped != 5 || res.Dead+res.Queue.Error != 1 {
		t.Fatalf("run: collected %d, done %d, skipped %d, failed %d; want 6, 5 done or skipped, 1 (%+v)", res.Collected, res.Done, res.Skipped, res.Dead+res.Queue.Error, res)
	}
	want := map[string]string{
		"A-1": `{"name":"Mug","price_cents":1350,"stock":120}`,
		"A-2": `{"name":"Cup","price_cents":300,"stock":0}`,
		"C-1": `{"name":"Bowl; large","price_cents":725,"stock":9}`,
	}
	mu.Lock()
	for sku, body := range want {
		if got[sku] != body {
			t.Errorf("PATCH /products/%s/price body %s, want %s", sku, got[sku], body)
		}
	}
	if len(got) != len(want) {
		t.Errorf("the shop got %v", got)
	}
	mu.Unlock()
	left, _ := filepath.Glob(filepath.Join(inbox, "*"))
	done, _ := filepath.Glob(filepath.Join(inbox, "done", "*"))
	if len(left) != 2 || len(done) != 3 { // notes.txt and done/ stay
		t.Fatalf("inbox %v, done %v", left, done)
	}
	res, err = eng.Run(context.Background(), "prices", engine.RunOptions{})
	if err != nil || res.Collected != 0 {
		t.Fatalf("second run collected %d (%v), want 0", res.Collected, err)
	}
}

// TestFileHTTPToNDJSON runs file-http-to-ndjson.yaml end to end: orders
// from a fake shop into one NDJSON file per run, while a reader polling
// the folder never sees a partial file.
func TestFileHTTPToNDJSON(t *testing.T) {
	const orders, size = 2400, 100
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/orders" || r.Header.Get("Authorization") != "Bearer test-shop-token" {
			http.Error(w, "unexpected "+r.URL.Path, http.StatusBadRequest)
			return
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		var data []map[string]any
		if r.URL.Query().Get("updated_since") == "" { // later runs: nothing new
			for i := (page-1)*size + 1; i <= min(page*size, orders); i++ {
				data = append(data, map[string]any{"id": i, "number": fmt.Sprintf("SO-%d", i), "email": fmt.Sprintf(" U%d@Example.com", i),
					"total": float64(i) / 4, "updated_at": fmt.Sprintf("2026-11-30T04:%02d:%02dZ", i/60%60, i%60)})
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
	t.Cleanup(shop.Close)
	out := t.TempDir()
	t.Setenv("SHOP_URL", shop.URL)
	t.Setenv("EXPORT_DIR", out)

	var stop atomic.Bool
	var checked atomic.Int64
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			entries, _ := os.ReadDir(out)
			for _, e := range entries {
				if strings.HasSuffix(e.Name(), ".part") || strings.HasPrefix(e.Name(), ".") { // .part, the feed manifest
					continue
				}
				b, err := os.ReadFile(filepath.Join(out, e.Name()))
				if err != nil {
					continue // renamed over meanwhile
				}
				if n := bytes.Count(b, []byte("\n")); n != orders || !bytes.HasSuffix(b, []byte("\n")) {
					select {
					case errs <- fmt.Errorf("%s holds %d lines, want %d", e.Name(), n, orders):
					default:
					}
					return
				}
				checked.Add(1)
			}
		}
	})
	eng := newEngine(t, load(t, "file-http-to-ndjson.yaml"))
	res, err := eng.Run(context.Background(), "orders-export", engine.RunOptions{})
	stop.Store(true)
	wg.Wait()
	if err != nil || res.Done != orders {
		t.Fatalf("run: done %d, %v; want %d", res.Done, err, orders)
	}
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	files, _ := filepath.Glob(filepath.Join(out, "[^.]*")) // not the feed manifest
	slices.Sort(files)
	if len(files) != 2 || !strings.HasSuffix(files[1], "orders-latest.ndjson") || !strings.HasPrefix(filepath.Base(files[0]), "orders-2") {
		t.Fatalf("files %v, want the run's file and latest", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	if len(lines) != orders {
		t.Fatalf("%d lines, want %d", len(lines), orders)
	}
	seen := map[float64]bool{}
	for _, line := range lines {
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		seen[rec["order_id"].(float64)] = true
		if rec["order_id"] == 7.0 && (rec["email"] != "u7@example.com" || rec["currency"] != "EUR" || rec["total"] != 1.75) {
			t.Fatalf("order 7 written as %s", line)
		}
	}
	if len(seen) != orders {
		t.Fatalf("%d distinct orders, want %d", len(seen), orders)
	}
	latest, _ := os.ReadFile(filepath.Join(out, "orders-latest.ndjson"))
	if !bytes.Equal(latest, b) {
		t.Fatal("latest differs from the run's file")
	}
	t.Logf("the reader checked %d published files during the run", checked.Load())

	// A run with nothing new writes no file and keeps latest.
	if res, err := eng.Run(context.Background(), "orders-export", engine.RunOptions{}); err != nil || res.Done != 0 {
		t.Fatalf("second run: done %d, %v", res.Done, err)
	}
	if again, _ := filepath.Glob(filepath.Join(out, "[^.]*")); len(again) != 2 {
		t.Fatalf("files after an empty run: %v", again)
	}
}
