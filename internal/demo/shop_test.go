package demo

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
)

// client calls a mock system with its credentials.
type client struct {
	t    testing.TB
	base string
	auth func(*http.Request)
}

func shopClient(t testing.TB, s *Shop) *client {
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &client{t: t, base: srv.URL, auth: func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+ShopToken) }}
}

func erpClient(t testing.TB, e *ERP) *client {
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return &client{t: t, base: srv.URL, auth: func(r *http.Request) { r.SetBasicAuth(ERPUser, ERPPassword) }}
}

// do sends body (JSON-encoded unless nil) and decodes the answer into out
// (when non-nil); it returns the response with its body read.
func (c *client) do(method, path string, body any, out any, headers ...string) *http.Response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.auth != nil {
		c.auth(req)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, raw, err)
		}
	}
	return resp
}

type ordersPage struct {
	Data []Order `json:"data"`
	Meta struct {
		Page, Pages, Total int
	} `json:"meta"`
}

func (c *client) orders(query string) ordersPage {
	c.t.Helper()
	var p ordersPage
	if resp := c.do("GET", "/api/orders?"+query, nil, &p); resp.StatusCode != 200 {
		c.t.Fatalf("GET /api/orders?%s: status %d", query, resp.StatusCode)
	}
	return p
}

func ids(orders []Order) []int {
	out := make([]int, len(orders))
	for i, o := range orders {
		out[i] = o.ID
	}
	return out
}

func TestShopAuth(t *testing.T) {
	c := shopClient(t, NewShop(3, 1))
	for name, auth := range map[string]func(*http.Request){
		"none":         func(*http.Request) {},
		"wrong token":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") },
		"basic scheme": func(r *http.Request) { r.SetBasicAuth("ferry", ShopToken) },
	} {
		c.auth = auth
		if resp := c.do("GET", "/api/orders", nil, nil); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: status %d, want 401 with WWW-Authenticate", name, resp.StatusCode)
		}
	}
}

func TestShopPagination(t *testing.T) {
	c := shopClient(t, NewShop(120, 1))
	var all []Order
	for page, want := range []int{50, 50, 20, 0} {
		p := c.orders("size=50&page=" + strconv.Itoa(page+1))
		if len(p.Data) != want || p.Meta.Page != page+1 || p.Meta.Pages != 3 || p.Meta.Total != 120 {
			t.Fatalf("page %d: %d orders, meta %+v; want %d orders, pages 3, total 120", page+1, len(p.Data), p.Meta, want)
		}
		all = append(all, p.Data...)
	}
	for i, o := range all {
		if o.ID != i+1 || o.Number != "SO-"+strconv.Itoa(1001+i) {
			t.Fatalf("order %d is %d %s; want sorted by updated_at then id", i, o.ID, o.Number)
		}
		if i > 0 && o.UpdatedAt <= all[i-1].UpdatedAt {
			t.Fatalf("updated_at not increasing at %d: %s after %s", i, o.UpdatedAt, all[i-1].UpdatedAt)
		}
	}
	// Default size is 50; an empty page is [] not null.
	if p := c.orders(""); len(p.Data) != 50 {
		t.Errorf("default page: %d orders, want 50", len(p.Data))
	}
	var raw map[string]json.RawMessage
	c.do("GET", "/api/orders?page=9", nil, &raw)
	if string(raw["data"]) != "[]" {
		t.Errorf("empty page data = %s, want []", raw["data"])
	}
	for _, q := range []string{"page=0", "size=x", "size=501", "updated_since=yesterday"} {
		if resp := c.do("GET", "/api/orders?"+q, nil, nil); resp.StatusCode != 400 {
			t.Errorf("%s: status %d, want 400", q, resp.StatusCode)
		}
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestShopUpdatedSince(t *testing.T) {
	s := NewShop(120, 1)
	c := shopClient(t, s)
	o100, _ := s.Order(100)
	p := c.orders("size=500&updated_since=" + url.QueryEscape(o100.UpdatedAt))
	if got := ids(p.Data); len(got) != 20 || got[0] != 101 || got[19] != 120 {
		t.Fatalf("since order 100: %v, want 101..120", got)
	}
	last := p.Data[19].UpdatedAt
	if p := c.orders("updated_since=" + url.QueryEscape(last)); len(p.Data) != 0 || p.Meta.Total != 0 {
		t.Fatalf("since the newest: %v, want none", ids(p.Data))
	}

	s.Touch(8, 3, 999)
	s.AddOrders(2)
	p = c.orders("updated_since=" + url.QueryEscape(last))
	if got := jsonString(ids(p.Data)); got != "[8,3,121,122]" {
		t.Fatalf("after Touch(8, 3) and AddOrders(2): %s, want [8,3,121,122]", got)
	}
	if s.Len() != 122 {
		t.Errorf("Len = %d, want 122", s.Len())
	}
	if p := c.orders("status=cancelled&size=500"); len(p.Data) == 0 {
		t.Error("status=cancelled found nothing")
	}
}

func TestShopDeterministicAndVaried(t *testing.T) {
	a, b, other := NewShop(200, 7), NewShop(200, 7), NewShop(200, 8)
	pa, pb, po := shopClient(t, a).orders("size=500"), shopClient(t, b).orders("size=500"), shopClient(t, other).orders("size=500")
	if jsonString(pa) != jsonString(pb) {
		t.Fatal("two shops of the same seed differ")
	}
	if jsonString(pa) == jsonString(po) {
		t.Fatal("shops of different seeds are equal")
	}
	var cancelled, noEmail, rare, large int
	for _, o := range pa.Data {
		sum := 0.0
		for _, l := range o.Lines {
			sum += float64(l.Qty) * l.Price
		}
		if d := sum - o.Total; d > 0.005 || d < -0.005 {
			t.Errorf("order %d: total %v, lines sum to %v", o.ID, o.Total, sum)
		}
		switch {
		case o.Status == "cancelled":
			cancelled++
		case o.Email == "":
			noEmail++
		case o.Customer.Country == RareCountry:
			rare++
		}
		if o.Total > 1000 {
			large++
		}
		if o.Status != "paid" && o.Status != "cancelled" || o.Currency != "EUR" || len(o.Lines) == 0 {
			t.Errorf("order %d: odd order %+v", o.ID, o)
		}
	}
	// A few of each, never most.
	for name, n := range map[string]int{"cancelled": cancelled, "without e-mail": noEmail, "to " + RareCountry: rare, "over 1000": large} {
		if n < 3 || n > 40 {
			t.Errorf("%d of 200 orders are %s; want a few", n, name)
		}
	}
}

func TestShopStatusAndStock(t *testing.T) {
	s := NewShop(10, 1)
	c := shopClient(t, s)
	if got := s.OrderStatus(4); got != "paid" {
		t.Fatalf("OrderStatus before PUT = %q, want paid", got)
	}
	if resp := c.do("PUT", "/api/orders/4/status", map[string]any{"status": "Delivered"}, nil); resp.StatusCode != 200 {
		t.Fatalf("PUT status: %d", resp.StatusCode)
	}
	if got := s.OrderStatus(4); got != "Delivered" {
		t.Fatalf("OrderStatus = %q, want Delivered", got)
	}
	if _, ok := s.Stock("TEE-001"); ok {
		t.Fatal("stock known before any PUT")
	}
	if resp := c.do("PUT", "/api/products/TEE-001/stock", map[string]any{"qty": 17}, nil); resp.StatusCode != 200 {
		t.Fatalf("PUT stock: %d", resp.StatusCode)
	}
	if q, ok := s.Stock("TEE-001"); !ok || q != 17 {
		t.Fatalf("Stock = %d %v, want 17", q, ok)
	}
	for _, tc := range []struct {
		path string
		body any
		want int
	}{
		{"/api/orders/99/status", map[string]any{"status": "Delivered"}, 404},
		{"/api/orders/x/status", map[string]any{"status": "Delivered"}, 400},
		{"/api/orders/4/status", map[string]any{}, 400},
		{"/api/products/NOPE-1/stock", map[string]any{"qty": 1}, 404},
		{"/api/products/TEE-001/stock", map[string]any{"qty": 1.5}, 422},
		{"/api/products/TEE-001/stock", map[string]any{"qty": -1}, 422},
		{"/api/products/TEE-001/stock", map[string]any{}, 422},
	} {
		if resp := c.do("PUT", tc.path, tc.body, nil); resp.StatusCode != tc.want {
			t.Errorf("PUT %s %v: status %d, want %d", tc.path, tc.body, resp.StatusCode, tc.want)
		}
	}
}

// TestShopConcurrent is for -race: reads, writes and Touch at once.
func TestShopConcurrent(t *testing.T) {
	s := NewShop(60, 1)
	c := shopClient(t, s)
	var wg sync.WaitGroup
	for g := range 6 {
		wg.Go(func() {
			for i := range 10 {
				c.orders("size=20&page=2")
				c.do("PUT", "/api/orders/"+strconv.Itoa(1+(g*10+i)%60)+"/status", map[string]any{"status": "Delivered"}, nil)
				s.Touch(g + 1)
				s.OrderStatus(i + 1)
			}
		})
	}
	wg.Wait()
	delivered := 0
	for id := 1; id <= 60; id++ {
		if s.OrderStatus(id) == "Delivered" {
			delivered++
		}
	}
	if delivered != 60 {
		t.Fatalf("%d of 60 orders delivered", delivered)
	}
}
