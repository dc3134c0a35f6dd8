// Package demo holds the mock systems behind `ferry demo`, the engine's
// integration tests and the benchmark: a web shop that sells orders and
// takes stock levels, and an ERP that takes orders and holds stock. Both
// are deterministic for a seed, safe for concurrent use and check their
// credentials like the real thing.
package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

// ShopToken is the bearer token the mock shop accepts.
const ShopToken = "demo-shop-token"

// Order is an order as the shop's API returns it.
type Order struct {
	ID        int      `json:"id"`
	Number    string   `json:"number"`
	Email     string   `json:"email"`
	Customer  Customer `json:"customer"`
	Lines     []Line   `json:"lines"`
	Total     float64  `json:"total"`
	Currency  string   `json:"currency"`
	Status    string   `json:"status"`
	UpdatedAt string   `json:"updated_at"`
}

// Customer is the buyer of an order.
type Customer struct {
	Name    string `json:"name"`
	Country string `json:"country"`
}

// Line is one article of an order.
type Line struct {
	SKU   string  `json:"sku"`
	Qty   int     `json:"qty"`
	Price float64 `json:"price"`
}

// RareCountry is the country a few orders ship to and the ERP rejects by
// default, so every demo run shows some per-record errors.
const RareCountry = "LI"

// Shop is the mock web shop. Orders get distinct, increasing updated_at
// values from a logical clock, so incremental reads are exact.
type Shop struct {
	mux *http.ServeMux

	mu       sync.Mutex
	rng      *rand.Rand
	products []product
	orders   []*Order // orders[i].ID == i+1
	clock    time.Time
	statuses map[int]string // set by PUT /api/orders/{id}/status
	stock    map[string]int // set by PUT /api/products/{sku}/stock
}

// NewShop returns a shop with orders orders generated from seed.
func NewShop(orders int, seed int64) *Shop {
	s := &Shop{
		rng:      rand.New(rand.NewPCG(uint64(seed), 0x5eed5409)),
		products: catalog(),
		clock:    time.Date(2025, 3, 3, 8, 0, 0, 0, time.UTC), // the first order is a minute later
		statuses: map[int]string{},
		stock:    map[string]int{},
	}
	s.addOrders(orders)
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /api/orders", s.listOrders)
	s.mux.HandleFunc("PUT /api/orders/{id}/status", s.putStatus)
	s.mux.HandleFunc("PUT /api/products/{sku}/stock", s.putStock)
	return s
}

// ServeHTTP checks the bearer token and serves the API.
func (s *Shop) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+ShopToken {
		w.Header().Set("WWW-Authenticate", `Bearer realm="shop"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// AddOrders adds n new paid orders, updated after every existing one.
func (s *Shop) AddOrders(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addOrders(n)
}

// Touch marks orders as changed now (after every other order), as an
// edit in the shop would; unknown ids are ignored.
func (s *Shop) Touch(ids ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if id >= 1 && id <= len(s.orders) {
			s.orders[id-1].UpdatedAt = s.tick()
		}
	}
}

// Order returns a copy of order id.
func (s *Shop) Order(id int) (Order, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || id > len(s.orders) {
		return Order{}, false
	}
	o := *s.orders[id-1]
	o.Lines = append([]Line(nil), o.Lines...)
	return o, true
}

// Len returns how many orders the shop has.
func (s *Shop) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.orders)
}

// OrderStatus returns the status last PUT for order id, else the order's
// own status; "" for an unknown order.
func (s *Shop) OrderStatus(id int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.statuses[id]; ok {
		return st
	}
	if id < 1 || id > len(s.orders) {
		return ""
	}
	return s.orders[id-1].Status
}

// Stock returns the stock level last PUT for sku.
func (s *Shop) Stock(sku string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.stock[sku]
	return q, ok
}

// tick advances the logical clock by a minute and returns it as RFC 3339.
func (s *Shop) tick() string {
	s.clock = s.clock.Add(time.Minute)
	return s.clock.Format(time.RFC3339)
}

// addOrders appends n orders. A few are made special on purpose, by id,
// so every demo shows them: cancelled (filtered out), without e-mail
// (fails validation), shipped to RareCountry (rejected by the ERP) and
// large (over 1000, sent to review).
func (s *Shop) addOrders(n int) {
	firstNames := []string{"Ada", "Grace", "Linus", "Margaret", "Alan", "Barbara", "Ken", "Frances", "Dennis", "Hedy", "Tim", "Radia"}
	lastNames := []string{"Lovelace", "Hopper", "Torvalds", "Hamilton", "Turing", "Liskov", "Thompson", "Allen", "Ritchie", "Lamarr", "Berners-Lee", "Perlman"}
	countries := []string{"DE", "DE", "DE", "FR", "FR", "NL", "AT", "BE", "IT", "ES", "PL", "SE", "DK", "CH"}
	for range n {
		id := len(s.orders) + 1
		first, last := firstNames[s.rng.IntN(len(firstNames))], lastNames[s.rng.IntN(len(lastNames))]
		o := &Order{
			ID:       id,
			Number:   fmt.Sprintf("SO-%d", 1000+id),
			Email:    fmt.Sprintf("%s.%s%d@example.com", lower(first), lower(last), id),
			Customer: Customer{Name: first + " " + last, Country: countries[s.rng.IntN(len(countries))]},
			Currency: "EUR",
			Status:   "paid",
		}
		for range 1 + s.rng.IntN(3) {
			p := s.products[s.rng.IntN(len(s.products)-10)] // the cheaper ones
			o.Lines = append(o.Lines, Line{SKU: p.SKU, Qty: 1 + s.rng.IntN(3), Price: p.Price})
		}
		switch {
		case id%23 == 7:
			o.Status = "cancelled"
		case id%37 == 11:
			o.Email = ""
		case id%31 == 5:
			o.Customer.Country = RareCountry
		}
		if id%13 == 4 {
			p := s.products[len(s.products)-1-s.rng.IntN(5)] // an e-bike, over 1000
			o.Lines = append(o.Lines, Line{SKU: p.SKU, Qty: 1 + s.rng.IntN(2), Price: p.Price})
		}
		for _, l := range o.Lines {
			o.Total += float64(l.Qty) * l.Price
		}
		o.Total = math.Round(o.Total*100) / 100
		o.UpdatedAt = s.tick()
		s.orders = append(s.orders, o)
	}
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// listOrders serves GET /api/orders?updated_since=&status=&page=&size=,
// sorted by (updated_at, id).
func (s *Shop) listOrders(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("updated_since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "updated_since: %q is not an RFC 3339 time (expected e.g. 2025-03-03T08:00:00Z)", v)
			return
		}
		since = t
	}
	page, err := intParam(q.Get("page"), 1, 1, math.MaxInt32)
	if err != nil {
		writeError(w, http.StatusBadRequest, "page: %v", err)
		return
	}
	size, err := intParam(q.Get("size"), 50, 1, 500)
	if err != nil {
		writeError(w, http.StatusBadRequest, "size: %v", err)
		return
	}
	status := q.Get("status")

	s.mu.Lock()
	match := []Order{}
	for _, o := range s.orders {
		if status != "" && o.Status != status {
			continue
		}
		if !since.IsZero() {
			// updated_at values are all RFC 3339 in UTC, written by tick.
			t, _ := time.Parse(time.RFC3339, o.UpdatedAt)
			if !t.After(since) {
				continue
			}
		}
		c := *o
		c.Lines = append([]Line(nil), o.Lines...)
		match = append(match, c)
	}
	s.mu.Unlock()

	sort.Slice(match, func(i, j int) bool {
		if match[i].UpdatedAt != match[j].UpdatedAt {
			return match[i].UpdatedAt < match[j].UpdatedAt
		}
		return match[i].ID < match[j].ID
	})
	total := len(match)
	from := min((page-1)*size, total)
	to := min(from+size, total)
	writeJSON(w, http.StatusOK, map[string]any{
		"data": match[from:to],
		"meta": map[string]int{"page": page, "pages": (total + size - 1) / size, "total": total},
	})
}

// putStatus serves PUT /api/orders/{id}/status with {"status": "..."}.
func (s *Shop) putStatus(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, "order id %q is not a number", r.PathValue("id"))
		return
	}
	var body struct {
		Status string `json:"status"`
	}
	if err := readJSON(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if body.Status == "" {
		writeError(w, http.StatusBadRequest, `expected {"status": "..."} with a non-empty status`)
		return
	}
	s.mu.Lock()
	known := id >= 1 && id <= len(s.orders)
	if known {
		s.statuses[id] = body.Status
	}
	s.mu.Unlock()
	if !known {
		writeError(w, http.StatusNotFound, "order %d not found", id)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "status": body.Status})
}

// putStock serves PUT /api/products/{sku}/stock with {"qty": n}.
func (s *Shop) putStock(w http.ResponseWriter, r *http.Request) {
	sku := r.PathValue("sku")
	var body struct {
		Qty *float64 `json:"qty"`
	}
	if err := readJSON(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if body.Qty == nil || *body.Qty < 0 || *body.Qty != math.Trunc(*body.Qty) {
		writeError(w, http.StatusUnprocessableEntity, `expected {"qty": n} with a whole number n >= 0`)
		return
	}
	s.mu.Lock()
	known := false
	for _, p := range s.products {
		if p.SKU == sku {
			known = true
			s.stock[sku] = int(*body.Qty)
			break
		}
	}
	s.mu.Unlock()
	if !known {
		writeError(w, http.StatusNotFound, "product %q not found", sku)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sku": sku, "qty": int(*body.Qty)})
}

// intParam parses a query parameter, def when empty, within [lo, hi].
func intParam(v string, def, lo, hi int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%q is not a whole number from %d to %d", v, lo, hi)
	}
	return n, nil
}
