package demo

import (
	"crypto/subtle"
	"math"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/ferry-dev/ferry/internal/expr"
)

// ERPUser and ERPPassword are the basic-auth credentials the mock ERP
// accepts.
const (
	ERPUser     = "ferry"
	ERPPassword = "demo"
)

// ReceivedOrder is what the ERP holds for one external_id.
type ReceivedOrder struct {
	Order  map[string]any // the last body accepted for it
	Count  int            // how many times it was accepted (a retry counts again)
	Review bool           // came in through /erp/orders/{id}/review
	// IdempotencyKeys are the distinct Idempotency-Key headers of the
	// requests that carried it, in the order first seen.
	IdempotencyKeys []string
}

// StockItem is one stock level as the ERP's API returns it.
type StockItem struct {
	SKU       string `json:"sku"`
	Qty       int    `json:"qty"`
	UpdatedAt string `json:"updated_at"`
}

// ERP is the mock ERP: it takes orders in batches (answering per order),
// large orders one by one for review, and serves stock levels.
type ERP struct {
	mux *http.ServeMux

	mu         sync.Mutex
	reject     map[string]bool
	orders     map[string]*ReceivedOrder
	rejections map[string]int
	stock      []StockItem
	failN      int
	failStatus int
	failAfter  time.Duration
	requests   int
}

// NewERP returns an ERP whose stock levels are generated from seed and
// which rejects orders to RareCountry.
func NewERP(seed int64) *ERP {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xe4b))
	e := &ERP{
		reject:     map[string]bool{RareCountry: true},
		orders:     map[string]*ReceivedOrder{},
		rejections: map[string]int{},
	}
	at := time.Date(2025, 3, 1, 6, 0, 0, 0, time.UTC)
	for _, p := range catalog() {
		at = at.Add(time.Duration(1+rng.IntN(30)) * time.Minute)
		e.stock = append(e.stock, StockItem{SKU: p.SKU, Qty: rng.IntN(200), UpdatedAt: at.Format(time.RFC3339)})
	}
	e.mux = http.NewServeMux()
	e.mux.HandleFunc("POST /erp/orders/batch", e.postBatch)
	e.mux.HandleFunc("POST /erp/orders/{id}/review", e.postReview)
	e.mux.HandleFunc("GET /erp/stock", e.getStock)
	return e
}

// ServeHTTP checks basic auth, answers injected failures, then serves.
func (e *ERP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(ERPUser)) != 1 || subtle.ConstantTimeCompare([]byte(pass), []byte(ERPPassword)) != 1 {
		w.Header().Set("WWW-Authenticate", `Basic realm="erp"`)
		writeError(w, http.StatusUnauthorized, "missing or wrong basic-auth credentials")
		return
	}
	e.mu.Lock()
	e.requests++
	fail, status, after := e.failN > 0, e.failStatus, e.failAfter
	if fail {
		e.failN--
	}
	e.mu.Unlock()
	if fail {
		if after > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(after.Seconds()))))
		}
		writeError(w, status, "the ERP is busy (injected failure), try again later")
		return
	}
	e.mux.ServeHTTP(w, r)
}

// FailNext makes the next n authenticated requests answer status, with a
// Retry-After header of retryAfter (rounded up to seconds) when positive.
func (e *ERP) FailNext(n int, status int, retryAfter time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failN, e.failStatus, e.failAfter = n, status, retryAfter
}

// SetReject replaces the set of countries whose orders are rejected; with
// none, every order is accepted.
func (e *ERP) SetReject(countries ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reject = map[string]bool{}
	for _, c := range countries {
		e.reject[c] = true
	}
}

// Orders returns a copy of the orders the ERP accepted, by external_id.
func (e *ERP) Orders() map[string]ReceivedOrder {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]ReceivedOrder, len(e.orders))
	for id, o := range e.orders {
		c := *o
		c.IdempotencyKeys = append([]string(nil), o.IdempotencyKeys...)
		out[id] = c
	}
	return out
}

// Rejections returns how often each external_id was rejected.
func (e *ERP) Rejections() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make(map[string]int, len(e.rejections))
	for id, n := range e.rejections {
		out[id] = n
	}
	return out
}

// Requests returns how many authenticated requests the ERP answered.
func (e *ERP) Requests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

// SetStock sets a stock level and marks it changed after all others.
func (e *ERP) SetStock(sku string, qty int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	latest := ""
	idx := -1
	for i, it := range e.stock {
		latest = max(latest, it.UpdatedAt)
		if it.SKU == sku {
			idx = i
		}
	}
	t, _ := time.Parse(time.RFC3339, latest)
	item := StockItem{SKU: sku, Qty: qty, UpdatedAt: t.Add(time.Minute).Format(time.RFC3339)}
	if idx < 0 {
		e.stock = append(e.stock, item)
	} else {
		e.stock[idx] = item
	}
}

// result is one order's outcome in a batch answer.
type result struct {
	ExternalID string `json:"external_id"`
	Status     string `json:"status"`
	Message    string `json:"message,omitempty"`
}

// postBatch serves POST /erp/orders/batch with {"orders": [...]}: 200 with
// one result per order, in request order.
func (e *ERP) postBatch(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Orders []map[string]any `json:"orders"`
	}
	if err := readJSON(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if body.Orders == nil {
		writeError(w, http.StatusBadRequest, `expected {"orders": [...]}`)
		return
	}
	key := r.Header.Get("Idempotency-Key")
	results := make([]result, len(body.Orders))
	e.mu.Lock()
	for i, o := range body.Orders {
		id, problem := e.check(o)
		results[i] = result{ExternalID: id, Status: "ok"}
		if problem != "" {
			results[i].Status, results[i].Message = "error", problem
			continue
		}
		e.accept(id, o, key, false)
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"results": results})
}

// postReview serves POST /erp/orders/{id}/review with one order: 201, or
// 422 when the ERP refuses it.
func (e *ERP) postReview(w http.ResponseWriter, r *http.Request) {
	var o map[string]any
	if err := readJSON(r, &o); err != nil {
		writeError(w, http.StatusBadRequest, "%v", err)
		return
	}
	if o == nil {
		writeError(w, http.StatusBadRequest, "expected an order object")
		return
	}
	if _, ok := o["external_id"]; !ok {
		o["external_id"] = r.PathValue("id")
	}
	e.mu.Lock()
	id, problem := e.check(o)
	if problem == "" {
		e.accept(id, o, r.Header.Get("Idempotency-Key"), true)
	}
	e.mu.Unlock()
	if problem != "" {
		writeError(w, http.StatusUnprocessableEntity, "%s", problem)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"external_id": id, "status": "in_review"})
}

// check returns the order's external_id and why it is refused ("" when
// it is fine). The caller holds e.mu.
func (e *ERP) check(o map[string]any) (id, problem string) {
	id = expr.Stringify(o["external_id"])
	if id == "" {
		return "", "missing external_id"
	}
	country := expr.Stringify(o["country"])
	if c, ok := o["customer"].(map[string]any); ok && country == "" {
		country = expr.Stringify(c["country"])
	}
	if e.reject[country] {
		e.rejections[id]++
		return id, "unknown country " + country
	}
	return id, ""
}

// accept records an order. The caller holds e.mu.
func (e *ERP) accept(id string, o map[string]any, idemKey string, review bool) {
	rec := e.orders[id]
	if rec == nil {
		rec = &ReceivedOrder{}
		e.orders[id] = rec
	}
	rec.Order, rec.Review = o, review
	rec.Count++
	if idemKey != "" && !containsString(rec.IdempotencyKeys, idemKey) {
		rec.IdempotencyKeys = append(rec.IdempotencyKeys, idemKey)
	}
}

// getStock serves GET /erp/stock?offset=&limit=&updated_since=, sorted by
// (updated_at, sku).
func (e *ERP) getStock(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	offset, err := intParam(q.Get("offset"), 0, 0, math.MaxInt32)
	if err != nil {
		writeError(w, http.StatusBadRequest, "offset: %v", err)
		return
	}
	limit, err := intParam(q.Get("limit"), 50, 1, 500)
	if err != nil {
		writeError(w, http.StatusBadRequest, "limit: %v", err)
		return
	}
	var since time.Time
	if v := q.Get("updated_since"); v != "" {
		if since, err = time.Parse(time.RFC3339Nano, v); err != nil {
			writeError(w, http.StatusBadRequest, "updated_since: %q is not an RFC 3339 time (expected e.g. 2025-03-01T06:00:00Z)", v)
			return
		}
	}
	e.mu.Lock()
	var items []StockItem
	for _, it := range e.stock {
		if t, _ := time.Parse(time.RFC3339, it.UpdatedAt); since.IsZero() || t.After(since) {
			items = append(items, it)
		}
	}
	e.mu.Unlock()
	sort.Slice(items, func(i, j int) bool {
		if items[i].UpdatedAt != items[j].UpdatedAt {
			return items[i].UpdatedAt < items[j].UpdatedAt
		}
		return items[i].SKU < items[j].SKU
	})
	total := len(items)
	from := min(offset, total)
	to := min(from+limit, total)
	page := items[from:to]
	if page == nil {
		page = []StockItem{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": page, "total": total})
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
