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
	"github.com/ferry-dev/ferry/internal/feeds"
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

// TestFeedProducts runs feed-products.yaml: two runs of a fake shop's
// catalogue each write the whole catalogue (resend_unchanged), and a
// puller with the feed token downloads the last one at the latest URL.
func TestFeedProducts(t *testing.T) {
	const products, size = 600, 250
	price := func(i int) float64 { return float64(i % 50) } // every 50th is 0: filtered
	changed := atomic.Bool{}
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/products" || r.URL.Query().Get("status") != "active" || r.Header.Get("Authorization") != "Bearer test-shop-token" {
			http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
			return
		}
		page, _ := strconv.Atoi(r.URL.Query().Get("page"))
		data := []map[string]any{}
		for i := (page-1)*size + 1; i <= min(page*size, products); i++ {
			p := map[string]any{"sku": fmt.Sprintf("SKU-%d", i), "name": fmt.Sprintf(" Product %d ", i), "price": price(i), "stock": i % 3}
			if i == 7 && changed.Load() {
				p["price"] = 8.5
			}
			data = append(data, p)
		}
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	}))
	t.Cleanup(shop.Close)
	t.Setenv("SHOP_URL", shop.URL)
	t.Setenv("FEED_DIR", t.TempDir())
	want := products - products/50

	eng := newEngine(t, load(t, "feed-products.yaml"))
	ctx := context.Background()
	for run := 1; run <= 2; run++ {
		res, err := eng.Run(ctx, "products-feed", engine.RunOptions{})
		if err != nil || res.Done != want {
			t.Fatalf("run %d: done %d, %v; want %d", run, res.Done, err, want)
		}
		changed.Store(true)
	}
	fs, err := eng.Feeds(ctx, "products-feed")
	if err != nil || len(fs) != 1 || len(fs[0].Files) != 2 || fs[0].Latest == nil || fs[0].Latest.Name != "products.csv" || fs[0].Latest.RunID != fs[0].Files[0].RunID {
		t.Fatalf("feeds %+v, %v", fs, err)
	}

	token, err := os.ReadFile(filepath.Join("secrets", "feed-token"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(feeds.Handler(eng, feeds.Options{Authorized: func(*http.Request) bool { return false }}))
	t.Cleanup(srv.Close)
	res, err := http.Get(srv.URL + "/feeds/products-feed/latest?token=" + strings.TrimSpace(string(token)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/csv; charset=utf-8" || res.Header.Get("ETag") == "" {
		t.Fatalf("latest: %d %v", res.StatusCode, res.Header)
	}
	lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
	if len(lines) != want+1 || lines[0] != "id,title,link,price,availability,gtin" {
		t.Fatalf("feed: %d lines, header %q; want %d products", len(lines), lines[0], want)
	}
	if !slices.Contains(lines, "SKU-7,Product 7,https://shop.example.com/p/SKU-7,8.5 EUR,in stock,") {
		t.Fatalf("SKU-7 not in the feed with its new price: %v", lines[:8])
	}
	if res, err := http.Get(srv.URL + "/feeds/products-feed/latest"); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without a token: %v %v", res.StatusCode, err)
	}
}
