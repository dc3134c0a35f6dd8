package demo

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"
)

type batchAnswer struct {
	Results []struct {
		ExternalID string `json:"external_id"`
		Status     string `json:"status"`
		Message    string `json:"message"`
	} `json:"results"`
}

func batch(orders ...map[string]any) map[string]any {
	list := make([]any, len(orders))
	for i, o := range orders {
		list[i] = o
	}
	return map[string]any{"orders": list}
}

func erpOrder(id, country string) map[string]any {
	return map[string]any{"external_id": id, "customer": "Ada Lovelace", "country": country, "total_cents": 12345}
}

func TestERPAuth(t *testing.T) {
	c := erpClient(t, NewERP(1))
	for name, auth := range map[string]func(*http.Request){
		"none":           func(*http.Request) {},
		"wrong password": func(r *http.Request) { r.SetBasicAuth(ERPUser, "nope") },
		"bearer":         func(r *http.Request) { r.Header.Set("Authorization", "Bearer demo") },
	} {
		c.auth = auth
		if resp := c.do("GET", "/erp/stock", nil, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
		}
	}
}

func TestERPBatchRejectsPerOrder(t *testing.T) {
	e := NewERP(1)
	c := erpClient(t, e)
	var ans batchAnswer
	c.do("POST", "/erp/orders/batch", batch(erpOrder("1", "DE"), erpOrder("2", RareCountry), map[string]any{"external_id": 3.0, "customer": map[string]any{"country": "FR"}}, map[string]any{"country": "DE"}), &ans)
	want := []struct{ id, status, msg string }{
		{"1", "ok", ""}, {"2", "error", "unknown country " + RareCountry}, {"3", "ok", ""}, {"", "error", "missing external_id"},
	}
	if len(ans.Results) != len(want) {
		t.Fatalf("results %+v, want %d", ans.Results, len(want))
	}
	for i, w := range want {
		r := ans.Results[i]
		if r.ExternalID != w.id || r.Status != w.status || r.Message != w.msg {
			t.Errorf("result %d = %+v, want %+v", i, r, w)
		}
	}
	if got := e.Orders(); len(got) != 2 || got["1"].Count != 1 || got["3"].Count != 1 {
		t.Errorf("Orders = %v, want 1 and 3 once each", got)
	}
	if got := e.Rejections(); got["2"] != 1 {
		t.Errorf("Rejections = %v, want 2 once", got)
	}

	e.SetReject("DE", "FR")
	c.do("POST", "/erp/orders/batch", batch(erpOrder("4", RareCountry), erpOrder("5", "FR")), &ans)
	if ans.Results[0].Status != "ok" || ans.Results[1].Message != "unknown country FR" {
		t.Errorf("after SetReject(DE, FR): %+v", ans.Results)
	}
	e.SetReject()
	c.do("POST", "/erp/orders/batch", batch(erpOrder("5", "FR")), &ans)
	if ans.Results[0].Status != "ok" {
		t.Errorf("after SetReject(): %+v", ans.Results)
	}

	for _, body := range []any{map[string]any{"x": 1}, []int{1}} {
		if resp := c.do("POST", "/erp/orders/batch", body, nil); resp.StatusCode != 400 {
			t.Errorf("body %v: status %d, want 400", body, resp.StatusCode)
		}
	}
}

func TestERPRecordsIdempotencyKeys(t *testing.T) {
	e := NewERP(1)
	c := erpClient(t, e)
	send := func(key string) {
		if resp := c.do("POST", "/erp/orders/batch", batch(erpOrder("7", "DE")), nil, "Idempotency-Key", key); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	send("k1")
	send("k1") // a retry of the same delivery
	send("k2") // a newer version
	got := e.Orders()["7"]
	if got.Count != 3 || jsonString(got.IdempotencyKeys) != `["k1","k2"]` || got.Review {
		t.Fatalf("order 7 = %+v, want count 3, keys [k1 k2]", got)
	}
	if got.Order["country"] != "DE" {
		t.Errorf("recorded order = %v", got.Order)
	}
}

func TestERPReview(t *testing.T) {
	e := NewERP(1)
	c := erpClient(t, e)
	if resp := c.do("POST", "/erp/orders/9/review", map[string]any{"total_cents": 250000, "country": "DE"}, nil, "Idempotency-Key", "r1"); resp.StatusCode != 201 {
		t.Fatalf("review: status %d, want 201", resp.StatusCode)
	}
	if got := e.Orders()["9"]; !got.Review || got.Count != 1 || jsonString(got.IdempotencyKeys) != `["r1"]` {
		t.Fatalf("order 9 = %+v", got)
	}
	if resp := c.do("POST", "/erp/orders/10/review", erpOrder("10", RareCountry), nil); resp.StatusCode != 422 {
		t.Fatalf("rare country review: status %d, want 422", resp.StatusCode)
	}
}

func TestERPFailNext(t *testing.T) {
	e := NewERP(1)
	c := erpClient(t, e)
	e.FailNext(2, 503, 1500*time.Millisecond)
	for i := range 2 {
		resp := c.do("POST", "/erp/orders/batch", batch(erpOrder("1", "DE")), nil)
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "2" {
			t.Fatalf("request %d: status %d Retry-After %q, want 503 and 2", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if len(e.Orders()) != 0 {
		t.Fatal("a failed request recorded an order")
	}
	if resp := c.do("POST", "/erp/orders/batch", batch(erpOrder("1", "DE")), nil); resp.StatusCode != 200 {
		t.Fatalf("third request: status %d, want 200", resp.StatusCode)
	}
	e.FailNext(1, 429, 0)
	if resp := c.do("GET", "/erp/stock", nil, nil); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "" {
		t.Fatalf("429 without Retry-After: got %d %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if e.Requests() != 4 {
		t.Errorf("Requests = %d, want 4", e.Requests())
	}
}

type stockPage struct {
	Items []StockItem `json:"items"`
	Total int         `json:"total"`
}

func TestERPStock(t *testing.T) {
	e := NewERP(1)
	c := erpClient(t, e)
	var all []StockItem
	for offset := 0; ; offset += 50 {
		var p stockPage
		c.do("GET", "/erp/stock?limit=50&offset="+jsonString(offset), nil, &p)
		if p.Total != 60 {
			t.Fatalf("total = %d, want 60", p.Total)
		}
		all = append(all, p.Items...)
		if len(p.Items) < 50 {
			break
		}
	}
	if len(all) != 60 {
		t.Fatalf("read %d items, want 60", len(all))
	}
	seen := map[string]bool{}
	for i, it := range all {
		if seen[it.SKU] || i > 0 && it.UpdatedAt < all[i-1].UpdatedAt {
			t.Fatalf("item %d %+v: duplicate or out of order", i, it)
		}
		seen[it.SKU] = true
	}
	if jsonString(NewERP(1).stock) != jsonString(e.stock) {
		t.Error("two ERPs of the same seed differ")
	}

	newest := all[59].UpdatedAt
	e.SetStock("MUG-002", 3)
	var p stockPage
	c.do("GET", "/erp/stock?updated_since="+url.QueryEscape(newest), nil, &p)
	if len(p.Items) != 1 || p.Items[0].SKU != "MUG-002" || p.Items[0].Qty != 3 {
		t.Fatalf("changed since %s: %+v, want MUG-002 with 3", newest, p.Items)
	}
	for _, q := range []string{"offset=-1", "limit=0", "updated_since=x"} {
		if resp := c.do("GET", "/erp/stock?"+q, nil, nil); resp.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
		}
	}
}

func TestStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	u, stop, err := Start(ctx, NewShop(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, base: u, auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+ShopToken) }}
	if p := c.orders(""); len(p.Data) != 1 {
		t.Fatalf("orders: %d", len(p.Data))
	}
	stop()
	stop() // twice is fine
	if _, err := http.Get(u + "/api/orders"); err == nil {
		t.Fatal("server still answers after stop")
	}

	// Ending ctx stops the server too.
	u, stop, err = Start(ctx, NewERP(1))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(u + "/erp/stock")
		if err != nil {
			break
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still answers after ctx ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
